//! SSH through gatehouse with OpenSSH's own clients against Debian's sshd on a loopback port
//! (`ssh/mod.rs`), under the quickstart policy: readers run an allowlist of read-only
//! programs on command lines without shell syntax, writers a few more (sudo after approval),
//! admins anything, and shells only after another admin approves them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sshhost;
mod support;

use sshhost::{SshHost, shown};

#[test]
fn a_reader_runs_allowed_programs_and_every_evasion_of_the_allowlist_is_refused() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let victim = tempfile::tempdir().unwrap();
    let marker = victim.path().join("keep-me");
    std::fs::write(&marker, "still here").unwrap();

    let listed = host.ssh(&reader, &format!("ls {}", victim.path().display()));
    assert!(listed.status.success(), "{}", shown(&listed));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "keep-me");
    let outcome = host
        .gateway
        .outcome_of("ssh:exec", &format!("ls {}", victim.path().display()));
    assert_eq!(outcome["command_tag"], "exit 0", "{outcome:#}");

    let dir = victim.path().display();
    for command in [
        format!("rm -rf {dir}"),
        format!("r\"\"m -rf {dir}"),
        format!("env rm -rf {dir}"),
        format!("sh -c 'rm -rf {dir}'"),
        format!("\\rm -rf {dir}"),
        format!("ls {dir}; rm -rf {dir}"),
        format!("ls $(rm -rf {dir})"),
        format!("find {dir} -delete"),
    ] {
        let refused = host.ssh(&reader, &command);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(
            refused.status.code(),
            Some(126),
            "{command}: {}",
            shown(&refused)
        );
        assert!(
            stderr.contains("gatehouse: permission denied") && stderr.contains("ssh:exec"),
            "{command}: {}",
            shown(&refused)
        );
        assert!(marker.exists(), "{command} reached the target");
    }

    // The audit log has the allowed command and every refusal.
    let events = host.gateway.audit_events();
    let execs: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["action"] == "ssh:exec")
        .collect();
    assert_eq!(execs.len(), 9, "{execs:#?}");
    assert_eq!(
        execs.iter().filter(|e| e["decision"] == "allow").count(),
        1,
        "{execs:#?}"
    );
}
