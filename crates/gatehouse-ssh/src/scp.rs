//! Legacy scp (the protocol `scp -O` speaks): the client runs `scp -t PATH` (upload: the far
//! end writes into PATH) or `scp -f PATH` (download: the far end reads PATH) as an exec
//! request and the two ends talk scp's own protocol over the channel. Recognising that exact
//! command lets policy decide a transfer's direction and paths instead of an opaque exec.
//!
//! Only the form OpenSSH's client sends is recognised, and only without shell syntax: the
//! program word must be exactly `scp` (a path such as `/tmp/x/scp` could be any program),
//! options are separate words among `-r -p -d -v -q` plus exactly one of `-t`/`-f`, then
//! optionally `--`, then at least one path. Anything else stays an exec request.

use crate::command::ExecCommand;

/// Which way a transfer goes, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScpDirection {
    /// `scp -t`: the client writes files on the target.
    Upload,
    /// `scp -f`: the client reads files from the target.
    Download,
}

impl ScpDirection {
    /// `"upload"` or `"download"`, as policy sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScpDirection::Upload => "upload",
            ScpDirection::Download => "download",
        }
    }
}

/// One legacy scp transfer, read from the command the client asked the target to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScpTransfer {
    pub direction: ScpDirection,
    /// The paths named, as sent (the upload's target, or the download's sources).
    pub paths: Vec<String>,
    /// `-r`: directories are copied recursively.
    pub recursive: bool,
}

impl ScpTransfer {
    /// Legacy scp's server side: `scp [-r] [-p] [-d] [-v] [-q] -t|-f [--] PATH...` (what
    /// `scp -O` runs on the far end). None for anything else, or when the command has shell
    /// syntax.
    pub fn from_exec(command: &ExecCommand) -> Option<ScpTransfer> {
        if command.has_shell_syntax() {
            return None;
        }
        let (first, rest) = command.words().split_first()?;
        if first != "scp" {
            return None;
        }
        let mut direction = None;
        let mut recursive = false;
        let mut words = rest.iter().peekable();
        while let Some(word) = words.next_if(|word| word.starts_with('-')) {
            match word.as_str() {
                "--" => break,
                "-t" | "-f" => {
                    let this = if word == "-t" {
                        ScpDirection::Upload
                    } else {
                        ScpDirection::Download
                    };
                    if direction.replace(this).is_some_and(|before| before != this) {
                        return None;
                    }
                }
                "-r" => recursive = true,
                "-p" | "-d" | "-v" | "-q" => {}
                _ => return None,
            }
        }
        let paths: Vec<String> = words.cloned().collect();
        if paths.is_empty() {
            return None;
        }
        Some(ScpTransfer {
            direction: direction?,
            paths,
            recursive,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn transfer(line: &str) -> Option<ScpTransfer> {
        ScpTransfer::from_exec(&ExecCommand::parse(line))
    }

    #[test]
    fn what_scp_dash_o_sends() {
        let cases = [
            ("scp -t /tmp/", ScpDirection::Upload, &["/tmp/"][..], false),
            (
                "scp -r -t -- /tmp/d",
                ScpDirection::Upload,
                &["/tmp/d"],
                true,
            ),
            (
                "scp -f /etc/hostname",
                ScpDirection::Download,
                &["/etc/hostname"],
                false,
            ),
            (
                "scp -v -p -f a b",
                ScpDirection::Download,
                &["a", "b"],
                false,
            ),
            (
                "scp -v -r -p -d -t -- -dash",
                ScpDirection::Upload,
                &["-dash"],
                true,
            ),
            ("scp -q -t .", ScpDirection::Upload, &["."], false),
            ("scp -f -r dir", ScpDirection::Download, &["dir"], true),
            ("scp -t -t x", ScpDirection::Upload, &["x"], false),
            ("scp -f -- --", ScpDirection::Download, &["--"], false),
        ];
        for (line, direction, paths, recursive) in cases {
            let transfer = transfer(line).expect(line);
            assert_eq!(transfer.direction, direction, "{line:?}");
            assert_eq!(transfer.paths, paths, "{line:?}");
            assert_eq!(transfer.recursive, recursive, "{line:?}");
        }
        assert_eq!(ScpDirection::Upload.as_str(), "upload");
        assert_eq!(ScpDirection::Download.as_str(), "download");
    }

    #[test]
    fn anything_else_is_not_scp() {
        for line in [
            "",
            "scp",
            "scp -t",
            "scp -r /tmp/x",
            "scp -t -- ",
            "scp -t -f x",
            "scp -f -t x",
            "scp -rt /tmp",
            "scp -t -x /tmp",
            "scp -t -S prog /tmp",
            "scp -t -dash",
            "/usr/bin/scp -t /tmp",
            "/tmp/evil/scp -t /tmp",
            "sudo scp -t /tmp",
            "scp -t '/tmp/a b'",
            "scp -f *.txt",
            "scp -t /tmp; rm x",
            "scp -f $HOME/x",
            "FOO=1 scp -t /tmp",
            "sftp -t /tmp",
            "ls -la",
        ] {
            assert_eq!(transfer(line), None, "{line:?}");
        }
    }
}
