//! Redirects through the gateway. A `Location` on the target's own origin becomes the same
//! place through gatehouse (under the client's `/c/CONNECTION` prefix when it used one), so
//! the client follows it with its gatehouse token; a relative one gets the prefix too. A
//! redirect to another host passes only when the connection lists that host: otherwise the
//! client would carry on to it without gatehouse (and a target could send it anywhere). Any
//! credential in the URL's user-info is refused outright.

use hyper::Uri;

/// What a `Location` becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// Send this instead.
    To(String),
    /// Refuse the answer: the sentence says why.
    Refused(String),
}

/// `location` as the client must see it. `origin` is the target's `scheme://authority`,
/// `base_path` the target URL's own path (no trailing `/`), `prefix` the client's routing
/// prefix (`/c/NAME` or empty), `allowed` the hosts a redirect may leave for.
pub fn rewrite(
    location: &str,
    origin: &str,
    base_path: &str,
    prefix: &str,
    allowed: &[String],
) -> Redirect {
    if location.contains('\\') {
        return Redirect::Refused(format!(
            "the target redirected to `{location}`, whose backslash clients read differently"
        ));
    }
    if location.starts_with('/') && !location.starts_with("//") {
        let own = location.strip_prefix(base_path).unwrap_or(location);
        return Redirect::To(format!("{prefix}{own}"));
    }
    if !location.starts_with("//") && !has_scheme(location) {
        // A relative reference without a leading slash (`next`), resolved by the client
        // against its own URL: it stays within the prefix.
        return Redirect::To(location.to_owned());
    }
    // A network-path reference (`//host/path`) names a host with the client's scheme.
    let absolute = match location.strip_prefix("//") {
        Some(rest) => format!("https://{rest}"),
        None => location.to_owned(),
    };
    let Ok(uri) = absolute.parse::<Uri>() else {
        return Redirect::Refused(format!(
            "the target redirected to `{location}`, which is not a URL gatehouse can check"
        ));
    };
    let Some(authority) = uri.authority() else {
        return Redirect::Refused(format!(
            "the target redirected to `{location}`, which names no host gatehouse can check"
        ));
    };
    if authority.as_str().contains('@') {
        return Redirect::Refused(
            "the target redirected to a URL carrying a user name or password".to_owned(),
        );
    }
    let scheme_and_authority = format!("{}://{}", uri.scheme_str().unwrap_or_default(), authority);
    if scheme_and_authority.eq_ignore_ascii_case(origin) {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let own = path.strip_prefix(base_path).unwrap_or(path);
        return Redirect::To(format!("{prefix}{own}"));
    }
    let host = authority.as_str().to_ascii_lowercase();
    let host_only = authority.host().to_ascii_lowercase();
    if allowed
        .iter()
        .any(|listed| listed.eq_ignore_ascii_case(&host) || listed.eq_ignore_ascii_case(&host_only))
    {
        return Redirect::To(location.to_owned());
    }
    Redirect::Refused(format!(
        "the target redirected to `{host}`, which the connection does not list in `redirect_hosts`"
    ))
}

/// Whether `reference` starts with a URI scheme (`https:`, `mailto:`): RFC 3986's
/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"` before any `/`, `?` or `#`.
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "http://127.0.0.1:15672";

    #[test]
    fn the_targets_own_redirects_stay_on_the_gateway() {
        let to = |location| rewrite(location, ORIGIN, "", "/c/rabbit", &[]);
        assert_eq!(
            to("/api/overview"),
            Redirect::To("/c/rabbit/api/overview".into())
        );
        assert_eq!(
            to("http://127.0.0.1:15672/api/queues?x=1"),
            Redirect::To("/c/rabbit/api/queues?x=1".into())
        );
        assert_eq!(to("next"), Redirect::To("next".into()));
        assert_eq!(
            rewrite("/base/api", ORIGIN, "/base", "", &[]),
            Redirect::To("/api".into())
        );
    }

    #[test]
    fn other_hosts_pass_only_when_listed() {
        let allowed = ["sso.example".to_owned()];
        assert_eq!(
            rewrite("https://sso.example/login", ORIGIN, "", "", &allowed),
            Redirect::To("https://sso.example/login".into())
        );
        assert!(matches!(
            rewrite("https://evil.example/x", ORIGIN, "", "", &allowed),
            Redirect::Refused(_)
        ));
        assert!(matches!(
            rewrite("//evil.example/x", ORIGIN, "", "", &allowed),
            Redirect::Refused(_)
        ));
        assert!(matches!(
            rewrite("javascript:alert(1)", ORIGIN, "", "", &allowed),
            Redirect::Refused(_)
        ));
        assert!(matches!(
            rewrite("/\\evil.example", ORIGIN, "", "", &allowed),
            Redirect::Refused(_)
        ));
        assert!(matches!(
            rewrite("http://user:pw@127.0.0.1:15672/", ORIGIN, "", "", &allowed),
            Redirect::Refused(_)
        ));
    }
}
