//! The test API server as a process, for benchmarks that drive real clients against it
//! directly and through gatehouse (`bench/kube.sh`): `serve TOKEN CA_FILE` writes the CA it
//! serves with to CA_FILE, prints `{"url":..,"ca_file":..}` on one line and serves until
//! killed.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(token), Some(ca_file)) = (args.next(), args.next()) else {
        eprintln!("usage: serve TOKEN CA_FILE");
        std::process::exit(2);
    };
    let server = gatehouse_kube_testserver::TestApiServer::start(
        gatehouse_kube_testserver::Options::new(token),
    )?;
    std::fs::write(&ca_file, server.ca_pem().unwrap_or_default())?;
    let line = serde_json::json!({ "url": server.url(), "ca_file": ca_file });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    loop {
        std::thread::park();
    }
}
