//! exec for real: the command runs on this machine in the pod's directory, its stdin, stdout
//! and stderr piped to the client's streams (with a TTY, stderr joins stdout; there is no
//! terminal, only pipes), and its exit code becomes the final status. A client that goes away
//! kills it.

use super::{Ending, Input, Inputs, Output, Outputs};
use bytes::Bytes;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, Command};

pub async fn run(
    options: &super::Options,
    dir: &Path,
    pod: &str,
    mut inputs: Inputs,
    outputs: Outputs,
) {
    let Some((program, args)) = options.command.split_first() else {
        return;
    };
    let piped = |wanted: bool| {
        if wanted {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    let spawned = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("HOSTNAME", pod)
        .stdin(piped(options.stdin))
        .stdout(piped(options.stdout))
        .stderr(piped(options.stderr || (options.tty && options.stdout)))
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let message = format!(
                "Internal error occurred: error executing command in container: failed to exec in container: exec: {program:?}: {e}"
            );
            outputs.send(Output::End(Ending::Failure(message))).await;
            return;
        }
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let tty = options.tty;
    let finished = async {
        tokio::join!(
            copy(stdout, &outputs, Output::Stdout),
            copy(
                stderr,
                &outputs,
                if tty { Output::Stdout } else { Output::Stderr }
            ),
        );
        child.wait().await
    };
    tokio::select! {
        status = finished => {
            let ending = match status {
                Ok(status) => ending(status),
                Err(e) => Ending::Failure(format!("waiting for the command failed: {e}")),
            };
            outputs.send(Output::End(ending)).await;
        }
        // The client has gone; dropping the child kills it.
        () = feed(&mut inputs, stdin) => {}
    }
}

fn ending(status: ExitStatus) -> Ending {
    match status.code() {
        Some(0) => Ending::Success,
        Some(code) => Ending::ExitCode(code),
        // Killed by a signal: shells and container runtimes report 128 + the signal.
        None => Ending::ExitCode(128 + status.signal().unwrap_or_default()),
    }
}

/// Copy one of the command's outputs to the client until it ends.
async fn copy<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    outputs: &Outputs,
    wrap: impl Fn(Bytes) -> Output,
) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut buffer = vec![0; 32 * 1024];
    while let Ok(n @ 1..) = pipe.read(&mut buffer).await {
        let chunk = Bytes::copy_from_slice(buffer.get(..n).unwrap_or_default());
        if !outputs.send(wrap(chunk)).await {
            return;
        }
    }
}

/// Feed the client's stdin to the command until the client goes.
async fn feed(inputs: &mut Inputs, mut stdin: Option<ChildStdin>) {
    while let Some(input) = inputs.recv().await {
        match input {
            Input::Stdin(data) => {
                if let Some(pipe) = stdin.as_mut()
                    && pipe.write_all(&data).await.is_err()
                {
                    stdin = None;
                }
            }
            // Dropping the pipe closes the command's stdin.
            Input::StdinEnd => stdin = None,
            Input::Resize(_) => {}
        }
    }
}
