//! How a client names its connection: a path prefix, `/c/CONNECTION/...`, because clients keep
//! a server URL's path (kubectl, every HTTP SDK) while few can add a header. The rest of the
//! path is what the adapter decides on and forwards.

/// `(connection, rest)` for a path `/c/CONNECTION` or `/c/CONNECTION/REST`; `rest` keeps its
/// leading `/` (and is `/` for the bare prefix). `None` when the path has no such prefix or
/// the name has characters a connection name never has.
pub fn connection_prefix(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/c/")?;
    let (name, rest) = match after.find('/') {
        Some(slash) => after.split_at(slash),
        None => (after, "/"),
    };
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then_some((name, rest))
}

#[cfg(test)]
mod tests {
    use super::connection_prefix;

    #[test]
    fn the_prefix_names_the_connection_and_leaves_the_rest_of_the_path() {
        assert_eq!(
            connection_prefix("/c/prod/api/v1/pods"),
            Some(("prod", "/api/v1/pods"))
        );
        assert_eq!(connection_prefix("/c/prod"), Some(("prod", "/")));
        assert_eq!(connection_prefix("/c/prod/"), Some(("prod", "/")));
        assert_eq!(connection_prefix("/api/v1/pods"), None);
        assert_eq!(connection_prefix("/c//api"), None);
        assert_eq!(connection_prefix("/c/pr%6fd/api"), None);
        assert_eq!(connection_prefix("/c/a b/api"), None);
    }
}
