//! One Kubernetes API request in the pipeline's terms: its `k8s:*` action, effect, canonical
//! text (method, path and query as the API server receives them), and the Cedar context the
//! fragment declares. The body's digest is part of what an approval binds to, so an approved
//! `kubectl delete` or patch runs once and only as it was approved.

use gatehouse_core::{Attribute, Effect, ProtocolRequest, StatementContext};
use gatehouse_k8s::{ExecRequest, PatchSummary, RequestAttributes};

/// A decoded Kubernetes API request.
#[derive(Debug, Clone)]
pub struct KubeRequest {
    attributes: RequestAttributes,
    /// `METHOD path?query`.
    text: String,
    /// `verb group/resource[/subresource]`: stable across names and namespaces.
    fingerprint: String,
    context: StatementContext,
    patch: Option<PatchSummary>,
    exec: Option<ExecRequest>,
    /// The one port of a port-forward decided on its own.
    port: Option<u16>,
}

impl KubeRequest {
    /// The request `method` `path_and_query` (the normalised path the upstream receives and
    /// the query as sent) with a body whose SHA-256 is `body_digest`.
    pub fn new(
        method: &str,
        attributes: RequestAttributes,
        forwarded_target: &str,
        body_digest: String,
        patch: Option<PatchSummary>,
    ) -> KubeRequest {
        let exec = matches!(attributes.subresource.as_str(), "exec" | "attach")
            .then(|| gatehouse_k8s::exec_request(&attributes.query));
        let mut kind = attributes.resource.clone();
        if !attributes.api_group.is_empty() {
            kind = format!("{}/{kind}", attributes.api_group);
        }
        if !attributes.subresource.is_empty() {
            kind = format!("{kind}/{}", attributes.subresource);
        }
        let fingerprint = if attributes.is_resource_request {
            format!("{} {kind}", attributes.verb)
        } else {
            format!("{} {}", attributes.verb, attributes.path)
        };
        KubeRequest {
            text: format!("{method} {forwarded_target}"),
            fingerprint,
            context: StatementContext {
                parameters: Vec::new(),
                resolved: Vec::new(),
                digest: body_digest,
            },
            attributes,
            patch,
            exec,
            port: None,
        }
    }

    /// The same port-forward request, decided for its stream to `port` alone: audited as
    /// `METHOD target port N`.
    pub fn for_port(&self, port: u16) -> KubeRequest {
        KubeRequest {
            text: format!("{} port {port}", self.text),
            port: Some(port),
            ..self.clone()
        }
    }

    /// What the request was attributed as.
    pub fn attributes(&self) -> &RequestAttributes {
        &self.attributes
    }
}

impl ProtocolRequest for KubeRequest {
    fn action(&self) -> &'static str {
        self.attributes.action()
    }

    fn effect(&self) -> Effect {
        match self.action() {
            "k8s:get" | "k8s:list" | "k8s:watch" | "k8s:discovery" => Effect::Read,
            "k8s:create" | "k8s:update" | "k8s:patch" | "k8s:delete" | "k8s:deletecollection" => {
                Effect::Write
            }
            "k8s:exec" | "k8s:attach" | "k8s:portforward" | "k8s:proxy" => Effect::Admin,
            _ => Effect::Unknown,
        }
    }

    fn text(&self) -> &str {
        &self.text
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn context(&self) -> Option<&StatementContext> {
        Some(&self.context)
    }

    fn attributes(&self) -> Vec<(&'static str, Attribute)> {
        let request = &self.attributes;
        let text = |value: &str| Attribute::String(value.to_owned());
        let (patch_type, patch_paths) = match &self.patch {
            Some(patch) => (
                patch.patch_type.as_str().to_owned(),
                patch.paths.iter().cloned().collect(),
            ),
            None => (String::new(), Vec::new()),
        };
        let (container, tty, command, program, args) = match &self.exec {
            Some(exec) => (
                exec.container.clone(),
                exec.tty,
                exec.command.clone(),
                exec.program.clone(),
                exec.args.iter().cloned().collect(),
            ),
            None => Default::default(),
        };
        let mut attributes = vec![
            ("path", text(&request.path)),
            ("verb", text(&request.verb)),
            ("group", text(&request.api_group)),
            ("version", text(&request.api_version)),
            ("resource", text(&request.resource)),
            ("subresource", text(&request.subresource)),
            ("namespace", text(&request.namespace)),
            ("name", text(&request.name)),
            ("dry_run", Attribute::Bool(request.dry_run)),
            ("patch_type", Attribute::String(patch_type)),
            ("patch_paths", Attribute::Set(patch_paths)),
            ("container", Attribute::String(container)),
            ("tty", Attribute::Bool(tty)),
            ("command", Attribute::String(command)),
            ("program", Attribute::String(program)),
            ("args", Attribute::Set(args)),
        ];
        if let Some(port) = self.port {
            attributes.push(("port", Attribute::Long(i64::from(port))));
        }
        attributes
    }
}
