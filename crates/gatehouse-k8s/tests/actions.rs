//! The Cedar action every kind of request maps to: the interactive subresources of pods, proxies,
//! discovery documents, every verb, and what is left as `k8s:unknown`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_k8s::attribute;

fn action(method: &str, target: &str) -> &'static str {
    attribute(method, target).unwrap().action()
}

#[test]
fn interactive_subresources_of_pods_have_actions_of_their_own() {
    let cases = [
        (
            "POST",
            "/api/v1/namespaces/a/pods/web/exec?command=ls",
            "k8s:exec",
        ),
        (
            "GET",
            "/api/v1/namespaces/a/pods/web/exec?command=ls",
            "k8s:exec",
        ),
        (
            "POST",
            "/api/v1/namespaces/a/pods/web/attach?stdin=1",
            "k8s:attach",
        ),
        (
            "POST",
            "/api/v1/namespaces/a/pods/web/portforward",
            "k8s:portforward",
        ),
        (
            "GET",
            "/api/v1/namespaces/a/pods/web/proxy/metrics",
            "k8s:proxy",
        ),
        (
            "GET",
            "/api/v1/namespaces/a/services/web:80/proxy/",
            "k8s:proxy",
        ),
        ("GET", "/api/v1/nodes/n1/proxy/stats/summary", "k8s:proxy"),
        ("GET", "/api/v1/proxy/namespaces/a/pods/web", "k8s:proxy"),
    ];
    for (method, target, want) in cases {
        assert_eq!(action(method, target), want, "{method} {target}");
    }
}

#[test]
fn the_same_names_elsewhere_are_ordinary_verbs() {
    let cases = [
        // A custom resource's `exec` subresource is not a pod's.
        (
            "POST",
            "/apis/example.com/v1/namespaces/a/pods/web/exec",
            "k8s:create",
        ),
        // `exec` as a pod's name, not a subresource.
        ("GET", "/api/v1/namespaces/a/pods/exec", "k8s:get"),
        (
            "GET",
            "/api/v1/namespaces/a/configmaps/web/proxy",
            "k8s:get",
        ),
        ("GET", "/api/v1/namespaces/a/pods/web/log", "k8s:get"),
        (
            "PATCH",
            "/api/v1/namespaces/a/pods/web/ephemeralcontainers",
            "k8s:patch",
        ),
    ];
    for (method, target, want) in cases {
        assert_eq!(action(method, target), want, "{method} {target}");
    }
}

#[test]
fn every_verb_has_its_action() {
    let cases = [
        ("GET", "/api/v1/namespaces/a/pods/web", "k8s:get"),
        ("GET", "/api/v1/namespaces/a/pods", "k8s:list"),
        ("GET", "/api/v1/namespaces/a/pods?watch=1", "k8s:watch"),
        ("GET", "/api/v1/watch/namespaces/a/pods", "k8s:watch"),
        ("POST", "/api/v1/namespaces/a/pods", "k8s:create"),
        ("PUT", "/api/v1/namespaces/a/pods/web", "k8s:update"),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/a/deployments/web/scale",
            "k8s:patch",
        ),
        ("DELETE", "/api/v1/namespaces/a/pods/web", "k8s:delete"),
        (
            "DELETE",
            "/api/v1/namespaces/a/pods",
            "k8s:deletecollection",
        ),
        ("TRACE", "/api/v1/namespaces/a/pods", "k8s:unknown"),
    ];
    for (method, target, want) in cases {
        assert_eq!(action(method, target), want, "{method} {target}");
    }
}

#[test]
fn discovery_documents_are_read_with_get_or_head() {
    let documents = [
        "/api",
        "/api/",
        "/api/v1",
        "/apis",
        "/apis/apps",
        "/apis/apps/v1",
        "/version",
        "/openapi/v2",
        "/openapi/v3",
        "/openapi/v3/apis/apps/v1?hash=ABC",
        "/healthz",
        "/livez",
        "/readyz",
        "/readyz/etcd",
    ];
    for target in documents {
        assert_eq!(action("GET", target), "k8s:discovery", "GET {target}");
        assert_eq!(action("HEAD", target), "k8s:discovery", "HEAD {target}");
        assert_eq!(action("POST", target), "k8s:unknown", "POST {target}");
    }
}

#[test]
fn other_non_resource_requests_are_unknown() {
    for target in [
        "/",
        "/metrics",
        "/logs/kube-apiserver.log",
        "/openapi",
        "/openapi/v4",
        "/debug/pprof/",
    ] {
        let a = attribute("GET", target).unwrap();
        assert!(!a.is_resource_request);
        assert_eq!(a.action(), "k8s:unknown", "GET {target}");
    }
}
