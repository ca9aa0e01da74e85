//! What a request path names: a discovery document, a collection, one object or one of its
//! subresources, in the URL layout of the Kubernetes API (`/api/v1/namespaces/NS/pods/NAME/log`,
//! `/apis/apps/v1/namespaces/NS/deployments`, …).

use crate::catalogue::{self, GROUPS, Resource};

/// Where in a collection a request points.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub resource: &'static Resource,
    /// The namespace in the path; `None` for cluster-scoped resources and for lists across all
    /// namespaces.
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(&'static str),
    OpenApiV2,
    OpenApiIndex,
    OpenApi {
        group: &'static str,
        version: &'static str,
    },
    ResourceList {
        group: &'static str,
        version: &'static str,
    },
    Collection(Target),
    Object(Target, String),
    Subresource(Target, String, String),
}

pub fn parse(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        ["version"] => Some(Route::Version),
        ["healthz" | "livez" | "readyz"] => Some(Route::Health),
        ["api"] => Some(Route::CoreVersions),
        ["apis"] => Some(Route::Groups),
        ["openapi", "v2"] => Some(Route::OpenApiV2),
        ["openapi", "v3"] => Some(Route::OpenApiIndex),
        ["openapi", "v3", "api", "v1"] => Some(Route::OpenApi {
            group: "",
            version: "v1",
        }),
        ["openapi", "v3", "apis", name, version] => GROUPS
            .iter()
            .find(|(n, v)| n == name && v == version)
            .map(|(group, version)| Route::OpenApi { group, version }),
        ["api", "v1", rest @ ..] => in_group_version("", "v1", rest),
        ["apis", name] => GROUPS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(n, _)| Route::Group(n)),
        ["apis", name, version, rest @ ..] => {
            let (group, version) = GROUPS.iter().find(|(n, v)| n == name && v == version)?;
            in_group_version(group, version, rest)
        }
        _ => None,
    }
}

fn in_group_version(group: &'static str, version: &'static str, rest: &[&str]) -> Option<Route> {
    let resource = |plural: &str| catalogue::by_plural(group, version, plural);
    let namespaced = |plural: &str| resource(plural).filter(|r| r.namespaced);
    let at = |resource: &'static Resource, namespace: Option<&str>| Target {
        resource,
        namespace: namespace.map(str::to_owned),
    };
    match rest {
        [] => Some(Route::ResourceList { group, version }),
        ["namespaces", ns, plural, tail @ ..] if namespaced(plural).is_some() => {
            let target = at(namespaced(plural)?, Some(ns));
            member(target, tail)
        }
        [plural, tail @ ..] => {
            let resource = resource(plural)?;
            if tail.is_empty() {
                Some(Route::Collection(at(resource, None)))
            } else if resource.namespaced {
                None
            } else {
                member(at(resource, None), tail)
            }
        }
    }
}

fn member(target: Target, tail: &[&str]) -> Option<Route> {
    match tail {
        [] => Some(Route::Collection(target)),
        [name] => Some(Route::Object(target, (*name).to_owned())),
        [name, sub] if target.resource.has_subresource(sub) => Some(Route::Subresource(
            target,
            (*name).to_owned(),
            (*sub).to_owned(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn target(route: Option<Route>) -> (String, Option<String>, Option<String>, Option<String>) {
        match route.unwrap() {
            Route::Collection(t) => (t.resource.plural.into(), t.namespace, None, None),
            Route::Object(t, name) => (t.resource.plural.into(), t.namespace, Some(name), None),
            Route::Subresource(t, name, sub) => {
                (t.resource.plural.into(), t.namespace, Some(name), Some(sub))
            }
            other => panic!("not a resource route: {other:?}"),
        }
    }

    fn owned(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(parse("/version"), Some(Route::Version));
        assert_eq!(parse("/api"), Some(Route::CoreVersions));
        assert_eq!(parse("/apis/"), Some(Route::Groups));
        assert_eq!(parse("/apis/apps"), Some(Route::Group("apps")));
        assert_eq!(
            parse("/api/v1"),
            Some(Route::ResourceList {
                group: "",
                version: "v1"
            })
        );
        assert_eq!(
            parse("/apis/apps/v1"),
            Some(Route::ResourceList {
                group: "apps",
                version: "v1"
            })
        );
        assert_eq!(parse("/apis/batch/v1"), None);
        assert_eq!(parse("/openapi/v3"), Some(Route::OpenApiIndex));
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Some(Route::OpenApi {
                group: "apps",
                version: "v1"
            })
        );
        assert_eq!(parse("/openapi/v2"), Some(Route::OpenApiV2));
    }

    #[test]
    fn resource_paths() {
        assert_eq!(
            target(parse("/api/v1/pods")),
            ("pods".into(), None, None, None)
        );
        assert_eq!(
            target(parse("/api/v1/namespaces/default/pods/web-0/log")),
            (
                "pods".into(),
                owned("default"),
                owned("web-0"),
                owned("log")
            )
        );
        assert_eq!(
            target(parse("/api/v1/namespaces")),
            ("namespaces".into(), None, None, None)
        );
        assert_eq!(
            target(parse("/api/v1/namespaces/default")),
            ("namespaces".into(), None, owned("default"), None)
        );
        assert_eq!(
            target(parse(
                "/apis/apps/v1/namespaces/default/deployments/web/scale"
            )),
            (
                "deployments".into(),
                owned("default"),
                owned("web"),
                owned("scale")
            )
        );
    }

    #[test]
    fn paths_that_name_nothing() {
        assert_eq!(parse("/api/v1/pods/web-0"), None);
        assert_eq!(parse("/api/v1/namespaces/default/pods/web-0/nope"), None);
        assert_eq!(parse("/api/v1/namespaces/default/widgets"), None);
        assert_eq!(parse("/apis/apps/v1/pods"), None);
        assert_eq!(parse("/nothing"), None);
    }
}
