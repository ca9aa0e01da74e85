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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    /// A test-only encoder of SFTP packets.
    #[derive(Default)]
    struct Packet(Vec<u8>);

    impl Packet {
        fn new(kind: u8) -> Packet {
            Packet(vec![kind])
        }
        fn u32(mut self, value: u32) -> Packet {
            self.0.extend_from_slice(&value.to_be_bytes());
            self
        }
        fn u64(mut self, value: u64) -> Packet {
            self.0.extend_from_slice(&value.to_be_bytes());
            self
        }
        fn bytes(self, value: &[u8]) -> Packet {
            let mut packet = self.u32(u32::try_from(value.len()).unwrap());
            packet.0.extend_from_slice(value);
            packet
        }
        fn str(self, value: &str) -> Packet {
            self.bytes(value.as_bytes())
        }
        /// Empty attrs (flags 0).
        fn attrs(self) -> Packet {
            self.u32(0)
        }
        fn build(self) -> Vec<u8> {
            let mut out = u32::try_from(self.0.len()).unwrap().to_be_bytes().to_vec();
            out.extend_from_slice(&self.0);
            out
        }
    }

    fn request(packet: Packet) -> SftpRequest {
        SftpRequest::decode(&packet.build()).unwrap()
    }

    fn path(id: u32, operation: SftpOperation, path: &str, name: &'static str) -> SftpRequest {
        SftpRequest {
            id: Some(id),
            kind: SftpRequestKind::Path {
                operation,
                path: path.to_owned(),
                destination: None,
                name,
            },
        }
    }

    fn two(
        id: u32,
        operation: SftpOperation,
        from: &str,
        to: &str,
        name: &'static str,
    ) -> SftpRequest {
        SftpRequest {
            id: Some(id),
            kind: SftpRequestKind::Path {
                operation,
                path: from.to_owned(),
                destination: Some(to.to_owned()),
                name,
            },
        }
    }

    fn handle(id: u32, name: &'static str, bytes: u64) -> SftpRequest {
        SftpRequest {
            id: Some(id),
            kind: SftpRequestKind::Handle {
                handle: b"h1".to_vec(),
                name,
                bytes,
            },
        }
    }

    #[test]
    fn init() {
        assert_eq!(
            request(Packet::new(1).u32(3)),
            SftpRequest {
                id: None,
                kind: SftpRequestKind::Init { version: 3 }
            }
        );
        // With extension pairs after the version, as some clients send.
        let init = Packet::new(1).u32(3).str("x@example.com").str("1");
        assert!(matches!(
            request(init).kind,
            SftpRequestKind::Init { version: 3 }
        ));
    }

    #[test]
    fn open_is_a_read_or_a_write_by_its_pflags() {
        let open = |pflags: u32| request(Packet::new(3).u32(7).str("/tmp/x").u32(pflags).attrs());
        assert_eq!(open(0x01), path(7, SftpOperation::Read, "/tmp/x", "open"));
        assert_eq!(open(0x00), path(7, SftpOperation::Read, "/tmp/x", "open"));
        assert_eq!(
            open(0x20 | 0x01),
            path(7, SftpOperation::Read, "/tmp/x", "open")
        );
        for writes in [
            0x02,
            0x04,
            0x08,
            0x10,
            0x01 | 0x08,
            0x02 | 0x08 | 0x10,
            0x3f,
        ] {
            assert_eq!(
                open(writes),
                path(7, SftpOperation::Write, "/tmp/x", "open"),
                "{writes:#x}"
            );
        }
    }

    #[test]
    fn requests_on_a_path() {
        use SftpOperation::*;
        let one = |kind: u8, name: &'static str, operation| {
            assert_eq!(
                request(Packet::new(kind).u32(9).str("/srv/a b").attrs()),
                path(9, operation, "/srv/a b", name),
                "{name}"
            );
        };
        one(7, "lstat", List);
        one(9, "setstat", Write);
        one(11, "opendir", List);
        one(13, "remove", Remove);
        one(14, "mkdir", Mkdir);
        one(15, "rmdir", Remove);
        one(16, "realpath", List);
        one(17, "stat", List);
        one(19, "readlink", List);
        assert_eq!(
            request(Packet::new(18).u32(2).str("old").str("/new")),
            two(2, Rename, "old", "/new", "rename")
        );
        // OpenSSH sends the link's target first and the new link second.
        assert_eq!(
            request(Packet::new(20).u32(3).str("/etc/passwd").str("/tmp/link")),
            two(3, Write, "/etc/passwd", "/tmp/link", "symlink")
        );
        // Relative and empty paths are reported as sent.
        assert_eq!(
            request(Packet::new(16).u32(1).str("")),
            path(1, List, "", "realpath")
        );
        assert_eq!(
            request(Packet::new(16).u32(1).str("..")),
            path(1, List, "..", "realpath")
        );
    }

    #[test]
    fn requests_on_a_handle() {
        let on = |kind: u8| Packet::new(kind).u32(4).str("h1");
        assert_eq!(request(on(4)), handle(4, "close", 0));
        assert_eq!(
            request(on(5).u64(1 << 40).u32(32768)),
            handle(4, "read", 32768)
        );
        assert_eq!(
            request(on(6).u64(0).bytes(&[7; 1000])),
            handle(4, "write", 1000)
        );
        assert_eq!(request(on(8)), handle(4, "fstat", 0));
        assert_eq!(request(on(10).attrs()), handle(4, "fsetstat", 0));
        assert_eq!(request(on(12)), handle(4, "readdir", 0));
    }

    #[test]
    fn extensions() {
        use SftpOperation::*;
        let ext = |name: &str| Packet::new(200).u32(5).str(name);
        assert_eq!(
            request(ext("posix-rename@openssh.com").str("a").str("b")),
            two(5, Rename, "a", "b", "posix-rename@openssh.com")
        );
        assert_eq!(
            request(ext("hardlink@openssh.com").str("/etc/shadow").str("/tmp/s")),
            two(5, Write, "/etc/shadow", "/tmp/s", "hardlink@openssh.com")
        );
        assert_eq!(
            request(ext("statvfs@openssh.com").str("/")),
            path(5, List, "/", "statvfs@openssh.com")
        );
        assert_eq!(
            request(ext("lsetstat@openssh.com").str("/tmp/l").attrs()),
            path(5, Write, "/tmp/l", "lsetstat@openssh.com")
        );
        assert_eq!(
            request(ext("expand-path@openssh.com").str("~/x")),
            path(5, List, "~/x", "expand-path@openssh.com")
        );
        assert_eq!(
            request(ext("limits@openssh.com")),
            path(5, List, "", "limits@openssh.com")
        );
        assert_eq!(
            request(ext("home-directory").str("root")),
            path(5, List, "", "home-directory")
        );
        assert_eq!(
            request(ext("fstatvfs@openssh.com").str("h1")),
            handle(5, "fstatvfs@openssh.com", 0)
        );
        assert_eq!(
            request(ext("fsync@openssh.com").str("h1")),
            handle(5, "fsync@openssh.com", 0)
        );
        for unknown in ["copy-data", "users-groups-by-id@openssh.com", "x", ""] {
            assert_eq!(
                request(ext(unknown).str("h1").u64(0).u64(0).str("h2").u64(0)),
                SftpRequest {
                    id: Some(5),
                    kind: SftpRequestKind::Unknown {
                        name: unknown.to_owned()
                    }
                }
            );
        }
    }

    #[test]
    fn unknown_packet_types_keep_their_id() {
        for kind in [0, 2, 21, 101, 102, 199, 201, 255] {
            assert_eq!(
                request(Packet::new(kind).u32(77).str("x")),
                SftpRequest {
                    id: Some(77),
                    kind: SftpRequestKind::Unknown {
                        name: format!("packet type {kind}")
                    }
                }
            );
            assert_eq!(request(Packet::new(kind)).id, None);
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        let stat = |path: &[u8]| SftpRequest::decode(&Packet::new(17).u32(1).bytes(path).build());
        assert_eq!(stat(b"/tmp/\xff"), Err(SshError::NotUtf8("path")));
        assert_eq!(
            stat(b"/tmp/ok\0/../../etc/shadow"),
            Err(SshError::NulInPath("path"))
        );
        let rename = Packet::new(18).u32(1).str("/a").bytes(b"\xc3").build();
        assert_eq!(
            SftpRequest::decode(&rename),
            Err(SshError::NotUtf8("second path"))
        );
    }

    #[test]
    fn truncated_and_malformed_packets_are_errors() {
        assert_eq!(
            SftpRequest::decode(&[]),
            Err(SshError::Truncated("length prefix"))
        );
        assert_eq!(
            SftpRequest::decode(&[0, 0]),
            Err(SshError::Truncated("length prefix"))
        );
        assert_eq!(
            SftpRequest::decode(&[0, 0, 0, 0]),
            Err(SshError::EmptyPacket)
        );
        assert_eq!(
            SftpRequest::decode(&[0, 0, 0, 9, 1]),
            Err(SshError::LengthMismatch {
                declared: 9,
                actual: 1
            })
        );
        assert_eq!(
            SftpRequest::decode(&[0xff, 0xff, 0xff, 0xff, 1]),
            Err(SshError::PacketTooLong(0xffff_ffff))
        );
        // A string claiming more than the packet holds.
        let long = Packet::new(17).u32(1).u32(0xffff_fff0).build();
        assert_eq!(SftpRequest::decode(&long), Err(SshError::Truncated("path")));
        // Every prefix of a packet cut inside a field gatehouse reads, with its length prefix
        // fixed up, is an error (fields after those, such as an OPEN's attrs, are not read).
        let packets = [
            Packet::new(3).u32(1).str("/tmp/x").u32(2).build(),
            Packet::new(5).u32(1).str("h").u64(0).u32(10).build(),
            Packet::new(6).u32(1).str("h").u64(0).str("data").build(),
            Packet::new(18).u32(1).str("a").str("b").build(),
            Packet::new(200)
                .u32(1)
                .str("posix-rename@openssh.com")
                .str("a")
                .str("b")
                .build(),
            Packet::new(1).u32(3).build(),
        ];
        for packet in packets {
            assert!(SftpRequest::decode(&packet).is_ok());
            for cut in 4..packet.len() {
                let mut short = packet[..cut].to_vec();
                let length = u32::try_from(cut - 4).unwrap().to_be_bytes();
                short[..4].copy_from_slice(&length);
                let decoded = SftpRequest::decode(&short);
                assert!(decoded.is_err(), "{short:?} decoded as {decoded:?}");
                // Not fixed up: the declared length is wrong.
                assert!(SftpRequest::decode(&packet[..cut]).is_err());
                let _ = SftpResponse::decode(&short);
            }
        }
        // Garbage.
        let mut seed = 0x2545_f491_u32;
        for _ in 0..2000 {
            let length = (seed % 40) as usize;
            let mut garbage = Vec::new();
            for _ in 0..length {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                garbage.push(seed as u8);
            }
            let _ = SftpRequest::decode(&garbage);
            let _ = SftpResponse::decode(&garbage);
            let mut framed = Packet(garbage).build();
            if let Some(kind) = framed.get_mut(4) {
                *kind = [3, 5, 6, 17, 18, 200, 101, 102, 103][(seed % 9) as usize];
            }
            let _ = SftpRequest::decode(&framed);
            let _ = SftpResponse::decode(&framed);
        }
    }

    #[test]
    fn the_reader_splits_a_stream_into_packets() {
        let first = Packet::new(1).u32(3).build();
        let second = Packet::new(17).u32(1).str("/etc/hostname").build();
        let third = Packet::new(6)
            .u32(2)
            .str("h")
            .u64(0)
            .bytes(&[1; 300])
            .build();
        let stream: Vec<u8> = [first.clone(), second.clone(), third.clone()].concat();
        for split in 0..=stream.len() {
            let mut reader = PacketReader::new();
            let mut packets = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                reader.push(part);
                while let Some(packet) = reader.next_packet().unwrap() {
                    packets.push(packet);
                }
            }
            assert_eq!(packets, [first.clone(), second.clone(), third.clone()]);
            assert_eq!(reader.buffered(), 0);
        }
        // Byte by byte.
        let mut reader = PacketReader::new();
        let mut count = 0;
        for byte in &stream {
            reader.push(std::slice::from_ref(byte));
            while let Some(packet) = reader.next_packet().unwrap() {
                SftpRequest::decode(&packet).unwrap();
                count += 1;
            }
        }
        assert_eq!(count, 3);
    }

    #[test]
    fn the_reader_is_bounded() {
        let mut reader = PacketReader::new();
        let at_limit = u32::try_from(MAX_PACKET).unwrap();
        reader.push(&at_limit.to_be_bytes());
        assert_eq!(reader.next_packet(), Ok(None));
        let mut reader = PacketReader::new();
        reader.push(&(at_limit + 1).to_be_bytes());
        assert_eq!(
            reader.next_packet(),
            Err(SshError::PacketTooLong(u64::from(at_limit) + 1))
        );
        // The error stays: the stream cannot be read on.
        reader.push(&[0; 16]);
        assert!(reader.next_packet().is_err());
        // An empty packet is framed (decoding refuses it).
        let mut reader = PacketReader::new();
        reader.push(&[0, 0, 0, 0]);
        let packet = reader.next_packet().unwrap().unwrap();
        assert_eq!(SftpRequest::decode(&packet), Err(SshError::EmptyPacket));
    }

    #[test]
    fn responses() {
        let response = |packet: Packet| SftpResponse::decode(&packet.build()).unwrap();
        assert_eq!(
            response(
                Packet::new(2)
                    .u32(3)
                    .str("posix-rename@openssh.com")
                    .str("1")
            ),
            SftpResponse {
                id: None,
                kind: SftpResponseKind::Version
            }
        );
        assert_eq!(
            response(Packet::new(101).u32(4).u32(2).str("No such file").str("en")).kind,
            SftpResponseKind::Status { code: 2 }
        );
        assert_eq!(
            response(Packet::new(102).u32(4).str("\0\0\0\x01")),
            SftpResponse {
                id: Some(4),
                kind: SftpResponseKind::Handle(vec![0, 0, 0, 1])
            }
        );
        assert_eq!(
            response(Packet::new(103).u32(4).bytes(&[0; 4096])).kind,
            SftpResponseKind::Data { bytes: 4096 }
        );
        assert_eq!(
            response(Packet::new(104).u32(4).u32(1).str("a").str("a").attrs()).kind,
            SftpResponseKind::Name
        );
        assert_eq!(
            response(Packet::new(105).u32(4).attrs()).kind,
            SftpResponseKind::Attrs
        );
        assert_eq!(
            response(Packet::new(201).u32(4).u64(1)).kind,
            SftpResponseKind::ExtendedReply
        );
        for kind in [0, 1, 3, 17, 100, 106, 200, 202, 255] {
            assert_eq!(
                SftpResponse::decode(&Packet::new(kind).u32(1).build()),
                Err(SshError::UnknownResponse(kind))
            );
        }
        assert_eq!(
            SftpResponse::decode(&Packet::new(102).u32(1).u32(9).build()),
            Err(SshError::Truncated("handle"))
        );
        assert_eq!(
            SftpResponse::decode(&Packet::new(101).u32(1).build()),
            Err(SshError::Truncated("status code"))
        );
    }

    #[test]
    fn status_packets_decode_back() {
        let packet = status_packet(42, SSH_FX_PERMISSION_DENIED, "denied by policy: ssh:sftp");
        assert_eq!(
            SftpResponse::decode(&packet),
            Ok(SftpResponse {
                id: Some(42),
                kind: SftpResponseKind::Status {
                    code: SSH_FX_PERMISSION_DENIED
                }
            })
        );
        let expected = Packet::new(101)
            .u32(42)
            .u32(3)
            .str("denied by policy: ssh:sftp")
            .str("en")
            .build();
        assert_eq!(packet, expected);
        let mut reader = PacketReader::new();
        reader.push(&status_packet(1, SSH_FX_OP_UNSUPPORTED, ""));
        let framed = reader.next_packet().unwrap().unwrap();
        assert_eq!(
            SftpResponse::decode(&framed).unwrap().kind,
            SftpResponseKind::Status { code: 8 }
        );
        // A message too long for a packet is cut to fit, at a character boundary.
        let long = "é".repeat(MAX_PACKET);
        let packet = status_packet(1, SSH_FX_FAILURE, &long);
        assert!(packet.len() <= MAX_PACKET + 4);
        assert_eq!(
            SftpResponse::decode(&packet).unwrap().kind,
            SftpResponseKind::Status { code: 4 }
        );
    }

    #[test]
    fn operation_names() {
        use SftpOperation::*;
        let names: Vec<&str> = [Read, Write, Remove, Rename, Mkdir, List]
            .into_iter()
            .map(SftpOperation::as_str)
            .collect();
        assert_eq!(
            names,
            ["read", "write", "remove", "rename", "mkdir", "list"]
        );
    }
}
