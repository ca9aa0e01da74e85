//! A TCP server on 127.0.0.1 that echoes every connection back, for as long as the test
//! process runs: what a pod's port forwards to in port-forward tests (`set_pod_port`).

use std::io;
use std::net::{SocketAddr, TcpListener};

/// Start an echo server; its address.
pub fn echo_server() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                if let Ok(mut reader) = stream.try_clone() {
                    let _ = io::copy(&mut reader, &mut stream);
                }
            });
        }
    });
    Ok(address)
}
