//! SFTP v3 (draft-ietf-secsh-filexfer-02, as OpenSSH speaks it) packets, framed and bounded,
//! decoded into what policy decides and what the gateway must follow: each client request's
//! operation and paths ([`SftpRequest`]), and each server response's id, handle and byte
//! count ([`SftpResponse`]), so that requests on a handle can be tied to the decided open
//! that returned it. Refusals are answered with [`status_packet`].
//!
//! Every length is checked against the bytes that remain before anything is read or
//! allocated, so a hostile packet gives an [`SshError`], never a panic or a large allocation.
//! Fields after the ones gatehouse needs (attributes, an OPEN's attrs) are not read, as
//! OpenSSH's server ignores bytes after the fields it reads. Paths must be UTF-8 and free of
//! NUL bytes (the server would stop reading at a NUL, past the part policy decided on).

use crate::error::SshError;

/// The largest packet accepted, length prefix excluded: OpenSSH's sftp-server limit
/// (256 KiB) with room to spare.
pub const MAX_PACKET: usize = 256 * 1024 + 1024;

/// `SSH_FX_PERMISSION_DENIED`: the status a refused request is answered with.
pub const SSH_FX_PERMISSION_DENIED: u32 = 3;
/// `SSH_FX_FAILURE`.
pub const SSH_FX_FAILURE: u32 = 4;
/// `SSH_FX_OP_UNSUPPORTED`: the status an unknown request is answered with.
pub const SSH_FX_OP_UNSUPPORTED: u32 = 8;

// Packet types (draft-ietf-secsh-filexfer-02, section 3).
const SSH_FXP_INIT: u8 = 1;
const SSH_FXP_VERSION: u8 = 2;
const SSH_FXP_OPEN: u8 = 3;
const SSH_FXP_CLOSE: u8 = 4;
const SSH_FXP_READ: u8 = 5;
const SSH_FXP_WRITE: u8 = 6;
const SSH_FXP_LSTAT: u8 = 7;
const SSH_FXP_FSTAT: u8 = 8;
const SSH_FXP_SETSTAT: u8 = 9;
const SSH_FXP_FSETSTAT: u8 = 10;
const SSH_FXP_OPENDIR: u8 = 11;
const SSH_FXP_READDIR: u8 = 12;
const SSH_FXP_REMOVE: u8 = 13;
const SSH_FXP_MKDIR: u8 = 14;
const SSH_FXP_RMDIR: u8 = 15;
const SSH_FXP_REALPATH: u8 = 16;
const SSH_FXP_STAT: u8 = 17;
const SSH_FXP_RENAME: u8 = 18;
const SSH_FXP_READLINK: u8 = 19;
const SSH_FXP_SYMLINK: u8 = 20;
const SSH_FXP_STATUS: u8 = 101;
const SSH_FXP_HANDLE: u8 = 102;
const SSH_FXP_DATA: u8 = 103;
const SSH_FXP_NAME: u8 = 104;
const SSH_FXP_ATTRS: u8 = 105;
const SSH_FXP_EXTENDED: u8 = 200;
const SSH_FXP_EXTENDED_REPLY: u8 = 201;

/// OPEN's pflags that make it a write.
const SSH_FXF_WRITE: u32 = 0x02;
const SSH_FXF_APPEND: u32 = 0x04;
const SSH_FXF_CREAT: u32 = 0x08;
const SSH_FXF_TRUNC: u32 = 0x10;

/// Splits a byte stream into whole packets (u32 length prefix + body). Bounded: a length
/// over [`MAX_PACKET`] is an error, after which the stream cannot be read on (the error comes
/// again). It holds what was pushed and not yet taken; take packets after each push.
#[derive(Debug, Default)]
pub struct PacketReader {
    buffer: Vec<u8>,
}

impl PacketReader {
    /// An empty reader.
    pub fn new() -> PacketReader {
        PacketReader::default()
    }

    /// Bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole packet, length prefix included (so it can be forwarded as is); None
    /// until one has arrived whole.
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, SshError> {
        let Some(prefix) = self.buffer.first_chunk::<4>() else {
            return Ok(None);
        };
        let length = u32::from_be_bytes(*prefix);
        let length = usize::try_from(length)
            .ok()
            .filter(|length| *length <= MAX_PACKET)
            .ok_or(SshError::PacketTooLong(u64::from(length)))?;
        let total = length + 4;
        if self.buffer.len() < total {
            return Ok(None);
        }
        let rest = self.buffer.split_off(total);
        Ok(Some(std::mem::replace(&mut self.buffer, rest)))
    }

    /// How many bytes are held that are not a whole packet yet.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

/// What an SFTP request does to the path it names, as policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SftpOperation {
    Read,
    Write,
    Remove,
    Rename,
    Mkdir,
    List,
}

impl SftpOperation {
    /// `"read"`, `"write"`, `"remove"`, `"rename"`, `"mkdir"` or `"list"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SftpOperation::Read => "read",
            SftpOperation::Write => "write",
            SftpOperation::Remove => "remove",
            SftpOperation::Rename => "rename",
            SftpOperation::Mkdir => "mkdir",
            SftpOperation::List => "list",
        }
    }
}

/// One client request, decoded from a whole packet (with its length prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpRequest {
    /// The request id (None for INIT, which has none); what the answer carries.
    pub id: Option<u32>,
    pub kind: SftpRequestKind,
}

/// What a request asks, for deciding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SftpRequestKind {
    /// The session's first packet.
    Init { version: u32 },
    /// Decided on its path. OPEN is a read or a write by its pflags (any of WRITE, APPEND,
    /// CREAT, TRUNC makes it a write); OPENDIR, STAT, LSTAT, REALPATH, READLINK, statvfs and
    /// expand-path are lists; SETSTAT, lsetstat, SYMLINK and hardlink writes; REMOVE and
    /// RMDIR removes; RENAME and posix-rename renames; MKDIR a mkdir. `destination` is the
    /// second path of a RENAME, SYMLINK, posix-rename or hardlink, in the order sent (a
    /// SYMLINK from OpenSSH carries the link's target first and the new link second, the
    /// reverse of the draft). `name` is the request's name (`"open"`,
    /// `"posix-rename@openssh.com"`).
    Path {
        operation: SftpOperation,
        path: String,
        destination: Option<String>,
        name: &'static str,
    },
    /// Works on a handle an earlier decided OPEN or OPENDIR returned: READ, WRITE, CLOSE,
    /// READDIR, FSTAT, FSETSTAT, fstatvfs and fsync. `bytes` is a WRITE's data length or a
    /// READ's requested length, else 0.
    Handle {
        handle: Vec<u8>,
        name: &'static str,
        bytes: u64,
    },
    /// An extension or packet type gatehouse does not know: refused.
    Unknown { name: String },
}

impl SftpRequest {
    /// The request `packet` (length prefix included) carries.
    pub fn decode(packet: &[u8]) -> Result<SftpRequest, SshError> {
        let (kind_byte, mut body) = open_packet(packet)?;
        if kind_byte == SSH_FXP_INIT {
            let version = body.u32("version")?;
            return Ok(SftpRequest {
                id: None,
                kind: SftpRequestKind::Init { version },
            });
        }
        let known = matches!(kind_byte, SSH_FXP_OPEN..=SSH_FXP_SYMLINK | SSH_FXP_EXTENDED);
        if !known {
            // Its id, when it has one, so that the refusal can answer it.
            let id = body.u32("id").ok();
            return Ok(SftpRequest {
                id,
                kind: SftpRequestKind::Unknown {
                    name: format!("packet type {kind_byte}"),
                },
            });
        }
        let id = body.u32("id")?;
        let kind = match kind_byte {
            SSH_FXP_OPEN => {
                let path = body.path("filename")?;
                let pflags = body.u32("pflags")?;
                let writes = SSH_FXF_WRITE | SSH_FXF_APPEND | SSH_FXF_CREAT | SSH_FXF_TRUNC;
                let operation = if pflags & writes != 0 {
                    SftpOperation::Write
                } else {
                    SftpOperation::Read
                };
                on_path(operation, path, "open")
            }
            SSH_FXP_CLOSE => on_handle(&mut body, "close")?,
            SSH_FXP_READ => {
                let handle = body.string("handle")?.to_vec();
                body.u64("offset")?;
                let bytes = u64::from(body.u32("length")?);
                SftpRequestKind::Handle {
                    handle,
                    name: "read",
                    bytes,
                }
            }
            SSH_FXP_WRITE => {
                let handle = body.string("handle")?.to_vec();
                body.u64("offset")?;
                let bytes = u64::try_from(body.string("data")?.len()).unwrap_or(u64::MAX);
                SftpRequestKind::Handle {
                    handle,
                    name: "write",
                    bytes,
                }
            }
            SSH_FXP_LSTAT => on_path(SftpOperation::List, body.path("path")?, "lstat"),
            SSH_FXP_FSTAT => on_handle(&mut body, "fstat")?,
            SSH_FXP_SETSTAT => on_path(SftpOperation::Write, body.path("path")?, "setstat"),
            SSH_FXP_FSETSTAT => on_handle(&mut body, "fsetstat")?,
            SSH_FXP_OPENDIR => on_path(SftpOperation::List, body.path("path")?, "opendir"),
            SSH_FXP_READDIR => on_handle(&mut body, "readdir")?,
            SSH_FXP_REMOVE => on_path(SftpOperation::Remove, body.path("filename")?, "remove"),
            SSH_FXP_MKDIR => on_path(SftpOperation::Mkdir, body.path("path")?, "mkdir"),
            SSH_FXP_RMDIR => on_path(SftpOperation::Remove, body.path("path")?, "rmdir"),
            SSH_FXP_REALPATH => on_path(SftpOperation::List, body.path("path")?, "realpath"),
            SSH_FXP_STAT => on_path(SftpOperation::List, body.path("path")?, "stat"),
            SSH_FXP_RENAME => two_paths(&mut body, SftpOperation::Rename, "rename")?,
            SSH_FXP_READLINK => on_path(SftpOperation::List, body.path("path")?, "readlink"),
            SSH_FXP_SYMLINK => two_paths(&mut body, SftpOperation::Write, "symlink")?,
            _ => extended(&mut body)?,
        };
        Ok(SftpRequest { id: Some(id), kind })
    }
}

fn on_path(operation: SftpOperation, path: String, name: &'static str) -> SftpRequestKind {
    SftpRequestKind::Path {
        operation,
        path,
        destination: None,
        name,
    }
}

fn on_handle(body: &mut Reader<'_>, name: &'static str) -> Result<SftpRequestKind, SshError> {
    Ok(SftpRequestKind::Handle {
        handle: body.string("handle")?.to_vec(),
        name,
        bytes: 0,
    })
}

fn two_paths(
    body: &mut Reader<'_>,
    operation: SftpOperation,
    name: &'static str,
) -> Result<SftpRequestKind, SshError> {
    let path = body.path("first path")?;
    let destination = body.path("second path")?;
    Ok(SftpRequestKind::Path {
        operation,
        path,
        destination: Some(destination),
        name,
    })
}

/// An EXTENDED request's kind, after its id.
fn extended(body: &mut Reader<'_>) -> Result<SftpRequestKind, SshError> {
    let name = body.string("extension name")?;
    let kind = match name {
        b"posix-rename@openssh.com" => {
            two_paths(body, SftpOperation::Rename, "posix-rename@openssh.com")?
        }
        b"hardlink@openssh.com" => two_paths(body, SftpOperation::Write, "hardlink@openssh.com")?,
        b"statvfs@openssh.com" => on_path(
            SftpOperation::List,
            body.path("path")?,
            "statvfs@openssh.com",
        ),
        b"lsetstat@openssh.com" => on_path(
            SftpOperation::Write,
            body.path("path")?,
            "lsetstat@openssh.com",
        ),
        b"expand-path@openssh.com" => on_path(
            SftpOperation::List,
            body.path("path")?,
            "expand-path@openssh.com",
        ),
        b"fstatvfs@openssh.com" => on_handle(body, "fstatvfs@openssh.com")?,
        b"fsync@openssh.com" => on_handle(body, "fsync@openssh.com")?,
        // The server's limits: names no path.
        b"limits@openssh.com" => on_path(SftpOperation::List, String::new(), "limits@openssh.com"),
        // A user's home directory (by user name): names no path of its own.
        b"home-directory" => on_path(SftpOperation::List, String::new(), "home-directory"),
        // copy-data copies between two handles, one of which may have been opened for
        // reading only: refused with everything else gatehouse does not know.
        other => SftpRequestKind::Unknown {
            name: String::from_utf8_lossy(other).into_owned(),
        },
    };
    Ok(kind)
}

/// What a server response carries that the gateway follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SftpResponseKind {
    Version,
    Status {
        code: u32,
    },
    /// The handle an OPEN or OPENDIR returned.
    Handle(Vec<u8>),
    /// The length of the data a READ returned.
    Data {
        bytes: u64,
    },
    Name,
    Attrs,
    ExtendedReply,
}

/// A server response's id (None for VERSION) and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpResponse {
    pub id: Option<u32>,
    pub kind: SftpResponseKind,
}

impl SftpResponse {
    /// The response `packet` (length prefix included) carries.
    pub fn decode(packet: &[u8]) -> Result<SftpResponse, SshError> {
        let (kind_byte, mut body) = open_packet(packet)?;
        if kind_byte == SSH_FXP_VERSION {
            body.u32("version")?;
            return Ok(SftpResponse {
                id: None,
                kind: SftpResponseKind::Version,
            });
        }
        if !matches!(
            kind_byte,
            SSH_FXP_STATUS..=SSH_FXP_ATTRS | SSH_FXP_EXTENDED_REPLY
        ) {
            return Err(SshError::UnknownResponse(kind_byte));
        }
        let id = body.u32("id")?;
        let kind = match kind_byte {
            SSH_FXP_STATUS => SftpResponseKind::Status {
                code: body.u32("status code")?,
            },
            SSH_FXP_HANDLE => SftpResponseKind::Handle(body.string("handle")?.to_vec()),
            SSH_FXP_DATA => SftpResponseKind::Data {
                bytes: u64::try_from(body.string("data")?.len()).unwrap_or(u64::MAX),
            },
            SSH_FXP_NAME => SftpResponseKind::Name,
            SSH_FXP_ATTRS => SftpResponseKind::Attrs,
            _ => SftpResponseKind::ExtendedReply,
        };
        Ok(SftpResponse { id: Some(id), kind })
    }
}

/// A whole SSH_FXP_STATUS packet (length prefix included) answering `id` with `code` (e.g.
/// [`SSH_FX_PERMISSION_DENIED`]) and `message` (language tag "en").
pub fn status_packet(id: u32, code: u32, message: &str) -> Vec<u8> {
    // A message too long for a packet is cut (at a character boundary).
    let mut end = message.len().min(MAX_PACKET / 2);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let message = message.get(..end).unwrap_or_default();
    let mut body = vec![SSH_FXP_STATUS];
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&code.to_be_bytes());
    for text in [message, "en"] {
        let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
        body.extend_from_slice(&length.to_be_bytes());
        body.extend_from_slice(text.as_bytes());
    }
    let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut packet = length.to_be_bytes().to_vec();
    packet.append(&mut body);
    packet
}

/// `packet`'s type byte and the rest of its body, once its length prefix is checked.
fn open_packet(packet: &[u8]) -> Result<(u8, Reader<'_>), SshError> {
    let (prefix, body) = packet
        .split_first_chunk::<4>()
        .ok_or(SshError::Truncated("length prefix"))?;
    let declared = u64::from(u32::from_be_bytes(*prefix));
    let actual = u64::try_from(body.len()).unwrap_or(u64::MAX);
    if declared > MAX_PACKET as u64 {
        return Err(SshError::PacketTooLong(declared));
    }
    if declared != actual {
        return Err(SshError::LengthMismatch { declared, actual });
    }
    let (kind, rest) = body.split_first().ok_or(SshError::EmptyPacket)?;
    Ok((*kind, Reader { bytes: rest }))
}

/// Reads a packet's fields in order; every read checks what remains.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], SshError> {
        let (value, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or(SshError::Truncated(what))?;
        self.bytes = rest;
        Ok(*value)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, SshError> {
        self.take::<4>(what).map(u32::from_be_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, SshError> {
        self.take::<8>(what).map(u64::from_be_bytes)
    }

    /// A u32-length-prefixed string's bytes.
    fn string(&mut self, what: &'static str) -> Result<&'a [u8], SshError> {
        let length = usize::try_from(self.u32(what)?).map_err(|_| SshError::Truncated(what))?;
        let (value, rest) = self
            .bytes
            .split_at_checked(length)
            .ok_or(SshError::Truncated(what))?;
        self.bytes = rest;
        Ok(value)
    }

    /// A string that names a path: UTF-8 without NUL.
    fn path(&mut self, what: &'static str) -> Result<String, SshError> {
        let bytes = self.string(what)?;
        let text = std::str::from_utf8(bytes).map_err(|_| SshError::NotUtf8(what))?;
        if text.contains('\0') {
            return Err(SshError::NulInPath(what));
        }
        Ok(text.to_owned())
    }
}
