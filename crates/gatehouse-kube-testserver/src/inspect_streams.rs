//! What a test reads and sets for exec, attach and port-forward beside the HTTP API: the record
//! of their sessions, where each pod's ports lead, each pod's directory, and what the pods'
//! main processes print to attached clients.

use crate::server::TestApiServer;
use crate::sessions::StreamSession;
use bytes::Bytes;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

impl TestApiServer {
    /// Every exec, attach and port-forward session so far, in arrival order, as they stand
    /// now (a running session is recorded as it goes).
    pub fn sessions(&self) -> Vec<StreamSession> {
        self.shared.sessions().clone()
    }

    /// Forward port `port` of pod `namespace/pod` to `to`: what port-forward connects to.
    /// A port with no address fails to forward, as a port nothing listens on does.
    pub fn set_pod_port(&self, namespace: &str, pod: &str, port: u16, to: SocketAddr) {
        self.shared.pods().set_port(namespace, pod, port, to);
    }

    /// The pod's filesystem: the directory (created on first use, removed with the server)
    /// where exec runs commands.
    pub fn pod_dir(&self, namespace: &str, pod: &str) -> io::Result<PathBuf> {
        self.shared.pods().dir(namespace, pod)
    }

    /// Make the pod's main process print `output` to every client attached now; how many
    /// that was.
    pub fn print_to_attached(&self, namespace: &str, pod: &str, output: &[u8]) -> usize {
        let main = self.shared.pods().main(namespace, pod);
        main.send(Bytes::copy_from_slice(output)).unwrap_or(0)
    }
}
