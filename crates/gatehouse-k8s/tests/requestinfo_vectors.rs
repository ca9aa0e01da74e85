//! kube-apiserver's own attribution cases (`requestinfo_test.go` in `k8s.io/apiserver`:
//! `TestGetAPIRequestInfo`, its non-resource cases, `TestGetNonAPIRequestInfo` and
//! `TestSelectorParsing`), taken as facts into one table: the crate must attribute every one
//! of them exactly as kube-apiserver does.
//!
//! Two differences from the Go table, both on purpose: the API prefix of `/apis/...` paths is
//! `apis` (the Go table writes `api` there but never compares it), and the empty request target
//! `""`, which Go calls a non-resource request, is refused (a target must start with `/`).
//! `PATCH /api/v1/namespaces/new-namespace` has the namespace `new-namespace`: the special case
//! an older kube-apiserver had for it was reverted, and the current code has none.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_k8s::attribute;

/// method, target, verb, prefix, group, version, namespace, resource, subresource, name, parts
type Vector = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

#[rustfmt::skip]
const RESOURCE_REQUESTS: &[Vector] = &[
    // resource paths
    ("GET", "/api/v1/namespaces", "list", "api", "", "v1", "", "namespaces", "", "", &["namespaces"]),
    ("GET", "/api/v1/namespaces/other", "get", "api", "", "v1", "other", "namespaces", "", "other", &["namespaces", "other"]),
    ("GET", "/api/v1/namespaces/other/pods", "list", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("HEAD", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("GET", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
    ("HEAD", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
    ("PATCH", "/api/v1/namespaces/new-namespace", "patch", "api", "", "v1", "new-namespace", "namespaces", "", "new-namespace", &["namespaces", "new-namespace"]),
    // special verbs
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo", "proxy", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo", "subpath", "not", "a", "subresource"]),
    ("GET", "/api/v1/watch/pods", "watch", "api", "", "v1", "", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/pods?watch=true", "watch", "api", "", "v1", "", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/pods?watch=false", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/watch/namespaces/other/pods", "watch", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/namespaces/other/pods?watch=0", "list", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    // subresource identification
    ("GET", "/api/v1/namespaces/other/pods/foo/status", "get", "api", "", "v1", "other", "pods", "status", "foo", &["pods", "foo", "status"]),
    ("GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "get", "api", "", "v1", "other", "pods", "proxy", "foo", &["pods", "foo", "proxy", "subpath"]),
    ("PUT", "/api/v1/namespaces/other/finalize", "update", "api", "", "v1", "other", "namespaces", "finalize", "other", &["namespaces", "other", "finalize"]),
    ("PUT", "/api/v1/namespaces/other/status", "update", "api", "", "v1", "other", "namespaces", "status", "other", &["namespaces", "other", "status"]),
    // verb identification
    ("PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("POST", "/api/v1/namespaces/other/pods", "create", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    // deletecollection verb identification
    ("DELETE", "/api/v1/nodes", "deletecollection", "api", "", "v1", "", "nodes", "", "", &["nodes"]),
    ("DELETE", "/api/v1/namespaces", "deletecollection", "api", "", "v1", "", "namespaces", "", "", &["namespaces"]),
    ("DELETE", "/api/v1/namespaces/other/pods", "deletecollection", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    ("DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "apis", "extensions", "v1", "other", "pods", "", "", &["pods"]),
    // api group and version identification
    ("POST", "/apis/extensions/v1/namespaces/other/pods", "create", "apis", "extensions", "v1", "other", "pods", "", "", &["pods"]),
    ("POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "apis", "extensions", "v1beta3", "other", "pods", "", "", &["pods"]),
];

/// GET targets and whether kube-apiserver calls them resource requests.
#[rustfmt::skip]
const RESOURCE_OR_NOT: &[(&str, bool)] = &[
    // TestGetAPIRequestInfo's non-resource cases
    ("/", false),
    ("/api/version/", false),
    ("/apis/group/version/", false),
    ("/badprefix/version/resource", false),
    ("/apis/version/resource", false),
    // TestGetNonAPIRequestInfo
    ("/api/version/resource", true),
    ("/apis/group/version/resource/name/subresource", true),
    ("/api/version/resource/name/subresource", true),
    ("/apis/batch/v1/job", true),
    ("/apis/batch/v1/job/foo", true),
    ("/apis/batch/v1/job/foo/scale", true),
    ("/not-api/version/resource", false),
    ("/apis/extensions/v1beta1", false),
    ("/apis/extensions/v1beta1/", false),
    ("/api/version", false),
    ("/api", false),
];

/// TestSelectorParsing: method, target, verb, name.
#[rustfmt::skip]
const SELECTORS: &[(&str, &str, &str, &str)] = &[
    ("GET", "/apis/group/version/resource", "list", ""),
    ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1", "list", "name1"),
    ("GET", "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", "watch", "name1"),
    ("GET", "/apis/group/version/resource?fieldSelector=foo=bar&labelSelector=baz=qux", "list", ""),
    ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo", "list", ""),
    ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true", "watch", ""),
    ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false", "list", ""),
    ("DELETE", "/apis/group/version/resource?fieldSelector=foo=bar&labelSelector=baz=qux", "deletecollection", ""),
    ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=foo&fieldSelector=metadata.name=bar&labelSelector=foo=bar&labelSelector=foo=baz", "list", "foo"),
    ("GET", "/apis/group/version/resource/name?fieldSelector=foo=bar&labelSelector=foo=bar", "get", "name"),
    ("GET", "/apis/group/version/watch/resource?fieldSelector=metadata.name=foo&labelSelector=foo=bar", "watch", ""),
    ("GET", "/apis/group/version/watch/resource/name?fieldSelector=metadata.name=foo&labelSelector=foo=bar", "watch", "name"),
];

#[test]
fn resource_requests_are_attributed_as_kube_apiserver_does() {
    for &(method, target, verb, prefix, group, version, namespace, resource, sub, name, parts) in
        RESOURCE_REQUESTS
    {
        let a = attribute(method, target).unwrap_or_else(|e| panic!("{method} {target}: {e}"));
        let got = (
            a.is_resource_request,
            a.verb.as_str(),
            a.api_prefix.as_str(),
            a.api_group.as_str(),
            a.api_version.as_str(),
            a.namespace.as_str(),
            a.resource.as_str(),
            a.subresource.as_str(),
            a.name.as_str(),
        );
        let want = (
            true, verb, prefix, group, version, namespace, resource, sub, name,
        );
        assert_eq!(got, want, "{method} {target}");
        assert_eq!(a.parts, parts, "{method} {target}");
    }
}

#[test]
fn resource_and_non_resource_requests_are_told_apart() {
    for &(target, resource) in RESOURCE_OR_NOT {
        let a = attribute("GET", target).unwrap();
        assert_eq!(a.is_resource_request, resource, "GET {target}");
        if !resource {
            assert_eq!(a.verb, "get", "a non-resource verb is the method: {target}");
            assert_eq!(
                (
                    a.api_prefix.as_str(),
                    a.api_group.as_str(),
                    a.resource.as_str()
                ),
                ("", "", "")
            );
        }
    }
    assert!(attribute("GET", "").is_err(), "an empty target is refused");
}

#[test]
fn field_selectors_name_the_object_as_kube_apiserver_does() {
    for &(method, target, verb, name) in SELECTORS {
        let a = attribute(method, target).unwrap();
        assert_eq!(
            (a.verb.as_str(), a.name.as_str()),
            (verb, name),
            "{method} {target}"
        );
    }
}
