//! Fuzz target: the bytes of an SFTP channel as a client (or a server) could send them,
//! through the framing and decoding the gateway decides on (`gatehouse_ssh::sftp`: the
//! bounded `PacketReader`, `SftpRequest::decode`, `SftpResponse::decode`), the pipeline
//! request built from a request on a path, and the status packet a refusal answers with.
//!
//! Input: one byte `s`, then the stream; the stream is pushed in two parts, split after
//! `s` × len / 256 bytes, so packets straddle the pushes.
//!
//! Checked: nothing panics or hangs; the packets the reader gives are whole (their length
//! prefix matches), at most `MAX_PACKET` long after the prefix, and together exactly the
//! stream's start, in order; once the reader refuses a length it keeps refusing; a decoded
//! request's paths are valid text without NUL and its pipeline request's Cedar attributes are
//! exactly `SshSftpContext`'s keys; a status packet answering a request's id decodes back to
//! that id and code.

use gatehouse_core::ProtocolRequest;
use gatehouse_ssh::SshRequest;
use gatehouse_ssh::sftp::{
    MAX_PACKET, PacketReader, SSH_FX_PERMISSION_DENIED, SftpRequest, SftpRequestKind, SftpResponse,
    SftpResponseKind, status_packet,
};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&split, stream)) = data.split_first() else {
            return;
        };
        let at = stream.len() * usize::from(split) / 256;
        let (first, second) = stream.split_at(at);

        let mut reader = PacketReader::new();
        let mut taken = Vec::new();
        let mut refused = false;
        for part in [first, second] {
            reader.push(part);
            loop {
                match reader.next_packet() {
                    Ok(Some(packet)) => {
                        check(&packet);
                        taken.extend_from_slice(&packet);
                    }
                    Ok(None) => break,
                    Err(_) => {
                        refused = true;
                        assert!(reader.next_packet().is_err());
                        break;
                    }
                }
            }
            if refused {
                break;
            }
        }
        assert!(stream.starts_with(&taken));
        if !refused {
            assert_eq!(taken.len() + reader.buffered(), stream.len());
        }
    });
}

fn check(packet: &[u8]) {
    let (prefix, body) = packet.split_first_chunk::<4>().expect("a length prefix");
    let length = u32::from_be_bytes(*prefix) as usize;
    assert_eq!(length, body.len());
    assert!(length <= MAX_PACKET);

    let _ = SftpResponse::decode(packet);
    let Ok(request) = SftpRequest::decode(packet) else {
        return;
    };
    if let Some(id) = request.id {
        let answer = status_packet(id, SSH_FX_PERMISSION_DENIED, "refused");
        let decoded = SftpResponse::decode(&answer).expect("a status packet decodes");
        assert_eq!(decoded.id, Some(id));
        assert_eq!(
            decoded.kind,
            SftpResponseKind::Status {
                code: SSH_FX_PERMISSION_DENIED
            }
        );
    }
    if let SftpRequestKind::Path {
        operation,
        path,
        destination,
        ..
    } = request.kind
    {
        assert!(!path.contains('\0'));
        assert!(
            destination
                .as_deref()
                .is_none_or(|path| !path.contains('\0'))
        );
        let request = SshRequest::sftp(operation, path, destination.unwrap_or_default());
        assert_eq!(request.action(), "ssh:sftp");
        assert!(request.text().starts_with("sftp "));
        let mut keys: Vec<&str> = request
            .attributes()
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["destination", "operation", "path"]);
    }
}
