//! What makes a pod of this server more than an object: a directory that is its filesystem
//! (exec runs commands there), the local addresses its ports forward to, and a main process
//! that `attach` reaches, an echo: what any attached client types comes back to every attached
//! client, and the test can make it print.

use bytes::Bytes;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use tempfile::TempDir;
use tokio::sync::broadcast;

/// How far an attached client may fall behind the main process's output.
const BACKLOG: usize = 1024;

#[derive(Debug)]
pub struct Pods {
    root: TempDir,
    ports: HashMap<(String, String, u16), SocketAddr>,
    mains: HashMap<(String, String), broadcast::Sender<Bytes>>,
}

impl Pods {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            root: tempfile::Builder::new()
                .prefix("kube-testserver-")
                .tempdir()?,
            ports: HashMap::new(),
            mains: HashMap::new(),
        })
    }

    /// The pod's directory, created on first use.
    pub fn dir(&self, namespace: &str, pod: &str) -> io::Result<PathBuf> {
        let dir = self.root.path().join(namespace).join(pod);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    pub fn set_port(&mut self, namespace: &str, pod: &str, port: u16, to: SocketAddr) {
        self.ports
            .insert((namespace.to_owned(), pod.to_owned(), port), to);
    }

    pub fn port(&self, namespace: &str, pod: &str, port: u16) -> Option<SocketAddr> {
        self.ports
            .get(&(namespace.to_owned(), pod.to_owned(), port))
            .copied()
    }

    /// The pod's main process's output, to print to or to follow.
    pub fn main(&mut self, namespace: &str, pod: &str) -> broadcast::Sender<Bytes> {
        self.mains
            .entry((namespace.to_owned(), pod.to_owned()))
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .clone()
    }
}
