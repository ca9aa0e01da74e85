//! attach, to the pod's main process ([`crate::pods`]): its output goes to the client's
//! stdout, the client's stdin goes to it (and so, it being an echo, back out to every attached
//! client). Closing stdin ends the attach with success, as when a `stdinOnce` container's
//! process sees its stdin end.

use super::{Ending, Input, Inputs, Output, Outputs};
use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

pub async fn run(main: broadcast::Sender<Bytes>, mut inputs: Inputs, outputs: Outputs) {
    let mut printed = main.subscribe();
    loop {
        tokio::select! {
            line = printed.recv() => match line {
                Ok(bytes) => {
                    if !outputs.send(Output::Stdout(bytes)).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            input = inputs.recv() => match input {
                Some(Input::Stdin(data)) => {
                    let _ = main.send(data);
                }
                Some(Input::StdinEnd) => {
                    // What was echoed before stdin closed still goes out.
                    while let Ok(bytes) = printed.try_recv() {
                        outputs.send(Output::Stdout(bytes)).await;
                    }
                    outputs.send(Output::End(Ending::Success)).await;
                    return;
                }
                Some(Input::Resize(_)) => {}
                None => return,
            },
        }
    }
}
