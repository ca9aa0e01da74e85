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
//! What it does not do: read protobuf bodies (kubectl's generators, `kubectl create configmap
//! NAME`, send protobuf and get 415), server-side apply, exec, attach and port-forward (400).
//! kubectl sends no bearer token over plain `http://`, so kubectl needs the HTTPS mode;
//! plaintext is for clients such as a proxy under test.

mod body;
mod catalogue;
mod clock;
mod controllers;
mod discovery;
mod dispatch;
mod inspect;
mod listen;
mod logs;
mod openapi;
mod parts;
mod patch;
mod query;
mod record;
mod respond;
mod route;
mod scale;
mod seed;
mod selector;
mod server;
mod shared;
mod status;
mod store;
mod table;
mod tls;
mod verbs;
mod watch;

pub use discovery::KUBERNETES_VERSION;
pub use record::SeenRequest;
pub use seed::{DB_PASSWORD, DB_USERNAME};
pub use server::{Options, TestApiServer};
pub use status::ApiError;
