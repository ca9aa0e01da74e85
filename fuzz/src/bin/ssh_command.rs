//! Fuzz target: an SSH exec request's command line as a client could send it, through the
//! reading policy decides on (`gatehouse_ssh::command::ExecCommand`: POSIX word splitting and
//! quote removal, the shell-syntax test), the legacy scp recogniser
//! (`gatehouse_ssh::scp::ScpTransfer::from_exec`) and the pipeline request built from both.
//!
//! Input: the command line (invalid UTF-8 replaced, as the adapter would have to).
//!
//! Checked: nothing panics or hangs; the line is kept as sent; a line without shell syntax is
//! only printable ASCII, spaces and tabs, its words are exactly its space- and tab-separated
//! parts (what policy decides is what the shell runs) and its first word has no `=`;
//! `program` is the first word's base name and `args` the other words; a recognised scp
//! transfer has no shell syntax, its program word is exactly `scp` and it names paths; the
//! pipeline request's action is one the fragment lists and its Cedar attributes are exactly
//! the keys its context type declares, each once.

use gatehouse_core::ProtocolRequest;
use gatehouse_ssh::command::ExecCommand;
use gatehouse_ssh::scp::ScpTransfer;
use gatehouse_ssh::{SSH_PROTOCOL, SshRequest};

/// The keys of the context type `name` the protocol adds (the connect context's are the
/// pipeline's).
fn declared_keys(name: &str) -> Vec<&'static str> {
    let fragment = SSH_PROTOCOL.fragment;
    let start = fragment
        .find(&format!("type {name} = {{"))
        .unwrap_or_default();
    let body = &fragment[start..];
    let body = &body[..body.find("};").unwrap_or(body.len())];
    let mut keys: Vec<&str> = body
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.starts_with("//"))
        .filter_map(|line| line.split_once(':').map(|(name, _)| name))
        .filter(|name| !["source_address", "now", "hour"].contains(name))
        .collect();
    keys.sort_unstable();
    keys
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let line = String::from_utf8_lossy(data);
        let command = ExecCommand::parse(&line);
        assert_eq!(command.line(), line);

        let words = command.words();
        assert_eq!(command.args(), words.get(1..).unwrap_or_default());
        match words.first() {
            Some(first) => assert!(first.ends_with(command.program()) || first.ends_with('/')),
            None => assert_eq!(command.program(), ""),
        }
        assert!(!command.program().contains('/') || command.program() == "/");

        if !command.has_shell_syntax() {
            assert!(
                line.bytes()
                    .all(|byte| byte == b' ' || byte == b'\t' || (0x20..0x7f).contains(&byte)),
                "{line:?}"
            );
            let plain: Vec<&str> = line
                .split([' ', '\t'])
                .filter(|word| !word.is_empty())
                .collect();
            assert_eq!(words, plain, "{line:?}");
            assert!(
                words.first().is_none_or(|first| !first.contains('=')),
                "{line:?}"
            );
        }

        if let Some(transfer) = ScpTransfer::from_exec(&command) {
            assert!(!command.has_shell_syntax(), "{line:?}");
            assert_eq!(words.first().map(String::as_str), Some("scp"), "{line:?}");
            assert!(!transfer.paths.is_empty(), "{line:?}");
            assert!(
                transfer.paths.iter().all(|path| words.contains(path)),
                "{line:?}"
            );
        }

        let request = SshRequest::from_exec(command.clone());
        assert!(SSH_PROTOCOL.request_actions.contains(&request.action()));
        let context = match request.action() {
            "ssh:exec" => {
                assert_eq!(request.text(), line);
                assert_eq!(request.fingerprint(), command.program());
                "SshExecContext"
            }
            "ssh:scp" => {
                assert_eq!(request.text(), line);
                "SshScpContext"
            }
            other => panic!("an exec line became {other}"),
        };
        let mut keys: Vec<&str> = request
            .attributes()
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            declared_keys(context),
            "attributes and {context} differ"
        );
    });
}
