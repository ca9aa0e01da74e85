//! The resource types this server knows, in one table: discovery, the URL router, the Rust API
//! and the Table printer all read it, so a resource kubectl can discover is one it can use.

/// One resource type (a collection such as `pods`), as discovery describes it.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the legacy core group served under `/api`.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural name, the URL segment: `pods`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
}

/// A subresource such as `pods/log` or `deployments/scale`.
#[derive(Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    /// Group, version and kind of the subresource's own object when they differ from the
    /// parent's (`deployments/scale` is `autoscaling/v1` `Scale`).
    pub group: Option<&'static str>,
    pub version: Option<&'static str>,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// The verbs every collection here serves.
pub const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

const CONNECT_VERBS: &[&str] = &["create", "get"];

pub static RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        subresources: &[
            Subresource {
                name: "log",
                group: None,
                version: None,
                kind: "Pod",
                verbs: &["get"],
            },
            Subresource {
                name: "exec",
                group: None,
                version: None,
                kind: "PodExecOptions",
                verbs: CONNECT_VERBS,
            },
            Subresource {
                name: "attach",
                group: None,
                version: None,
                kind: "PodAttachOptions",
                verbs: CONNECT_VERBS,
            },
            Subresource {
                name: "portforward",
                group: None,
                version: None,
                kind: "PodPortForwardOptions",
                verbs: CONNECT_VERBS,
            },
        ],
    },
    Resource {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[],
    },
    Resource {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[Subresource {
            name: "scale",
            group: Some("autoscaling"),
            version: Some("v1"),
            kind: "Scale",
            verbs: &["get", "patch", "update"],
        }],
    },
    Resource {
        group: "apps",
        version: "v1",
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[],
    },
    Resource {
        group: "certificates.k8s.io",
        version: "v1",
        plural: "certificatesigningrequests",
        singular: "certificatesigningrequest",
        kind: "CertificateSigningRequest",
        namespaced: false,
        short_names: &["csr"],
        categories: &[],
        subresources: &[],
    },
];

/// The API groups served under `/apis`, each with its one version.
pub const GROUPS: &[(&str, &str)] = &[("apps", "v1"), ("certificates.k8s.io", "v1")];

impl Resource {
    /// `v1` or `apps/v1`, as written in an object's `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`, as Kubernetes names a resource in its error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }
}

/// The resource a URL names: its group, version and plural.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource an object's `apiVersion` and `kind` belong to.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The resource a Rust caller names by plural alone (`"deployments"`); plurals are unique here.
pub fn by_plural_only(plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.plural == plural)
}

/// The resources of one group version, in discovery order.
pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static Resource> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}
