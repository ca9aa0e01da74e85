//! Test support, never shipped: a Kubernetes API server that real `kubectl` talks to, for the
//! tests of gatehouse's Kubernetes proxying, since no kube-apiserver can run where they do.
//!
//! [`TestApiServer::start`] listens on `127.0.0.1` (HTTPS with its own CA, or plain HTTP),
//! requires a bearer token, and serves discovery, a seeded cluster (namespaces `default` and
//! `kube-system`, deployment `web`, pods `web-0` and `web-1`, secret `db-credentials`, configmap
//! `settings`) with get, list, Tables, watch, create, update, the three patch formats,
//! delete, `deployments/scale`, pod logs and the OpenAPI `kubectl apply` needs. It records
//! every request that reached it ([`TestApiServer::requests`]) so a test can assert what the
//! cluster saw.
//!
//! exec, attach and port-forward work over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`,
//! and SPDY tunnelled in WebSocket for port-forward) and over SPDY/3.1, as kubectl of every
//! version since 1.27 speaks them: exec runs the command for real on this machine, in a
//! directory per pod ([`TestApiServer::pod_dir`]); attach reaches a main process that echoes
//! ([`TestApiServer::print_to_attached`]); port-forward connects to the local address the test
//! maps the pod's port to ([`TestApiServer::set_pod_port`]). Each session is recorded as it
//! runs ([`TestApiServer::sessions`]): command, stdin, stdout, exit code, terminal sizes, ports
//! and the bytes forwarded. [`Options::without_websockets`] refuses WebSocket upgrades as API
//! servers before 1.30 did, so kubectl falls back to SPDY.
//!
//! What it does not do: read protobuf bodies (kubectl's generators, `kubectl create configmap
//! NAME`, send protobuf and get 415), server-side apply, and terminals (with `tty=true` the
//! command still gets pipes; terminal sizes are recorded, not applied).
//! kubectl sends no bearer token over plain `http://`, so kubectl needs the HTTPS mode;
//! plaintext is for clients such as a proxy under test.

mod body;
mod catalogue;
mod clock;
mod connect;
mod controllers;
mod discovery;
mod dispatch;
mod echo;
mod inspect;
mod inspect_streams;
mod listen;
mod logs;
mod openapi;
mod parts;
mod patch;
mod pods;
mod portforward;
mod query;
mod record;
mod remotecommand;
mod respond;
mod route;
mod scale;
mod seed;
mod selector;
mod server;
mod sessions;
mod shared;
mod spdy;
mod status;
mod store;
mod table;
mod tls;
mod verbs;
mod watch;
mod websocket;

pub use discovery::KUBERNETES_VERSION;
pub use echo::echo_server;
pub use record::SeenRequest;
pub use seed::{DB_PASSWORD, DB_USERNAME};
pub use server::{Options, TestApiServer};
pub use sessions::{Forward, StreamKind, StreamSession, TerminalSize, Transport};
pub use status::ApiError;
