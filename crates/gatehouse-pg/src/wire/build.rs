//! Encoding the messages gatehouse writes itself: errors and handshake messages to clients,
//! startup and authentication messages to servers, and renamed extended-protocol messages.

use super::tags::{backend, error_field, frontend};
use bytes::{BufMut, Bytes, BytesMut};

/// Start a tagged message; returns the buffer and the offset of its length field.
fn begin(out: &mut BytesMut, tag: u8) -> usize {
    out.put_u8(tag);
    let at = out.len();
    out.put_i32(0);
    at
}

/// Patch the length field written by [`begin`].
fn end(out: &mut BytesMut, at: usize) {
    let len = i32::try_from(out.len() - at).unwrap_or(i32::MAX);
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

fn put_cstr(out: &mut BytesMut, text: &str) {
    // A NUL inside would end the string early on the other side; the wire cannot carry it.
    out.extend(text.bytes().filter(|b| *b != 0));
    out.put_u8(0);
}

/// Severity of an error we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The statement failed; the session continues.
    Error,
    /// The session is about to end.
    Fatal,
    /// Not an error: sent as a `NoticeResponse`, the client carries on.
    Notice,
}

/// An `ErrorResponse` (a `NoticeResponse` for [`Severity::Notice`]) with SQLSTATE, message,
/// optional detail and hint.
pub fn error_response(
    severity: Severity,
    sqlstate: &str,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
) -> Bytes {
    let mut out = BytesMut::with_capacity(128 + message.len());
    let at = begin(
        &mut out,
        if severity == Severity::Notice {
            backend::NOTICE_RESPONSE
        } else {
            backend::ERROR_RESPONSE
        },
    );
    let severity = match severity {
        Severity::Error => "ERROR",
        Severity::Fatal => "FATAL",
        Severity::Notice => "NOTICE",
    };
    for (code, value) in [
        (error_field::SEVERITY, severity),
        (error_field::SEVERITY_NONLOCALIZED, severity),
        (error_field::CODE, sqlstate),
        (error_field::MESSAGE, message),
    ] {
        out.put_u8(code);
        put_cstr(&mut out, value);
    }
    if let Some(detail) = detail {
        out.put_u8(error_field::DETAIL);
        put_cstr(&mut out, detail);
    }
    if let Some(hint) = hint {
        out.put_u8(error_field::HINT);
        put_cstr(&mut out, hint);
    }
    out.put_u8(0);
    end(&mut out, at);
    out.freeze()
}

/// An `ErrorResponse` for text that does not parse: SQLSTATE 42601 with the 1-based character
/// position of the failing token, as PostgreSQL's own syntax errors carry it.
pub fn syntax_error(message: &str, position: Option<usize>, detail: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(128 + message.len() + detail.len());
    let at = begin(&mut out, backend::ERROR_RESPONSE);
    for (code, value) in [
        (error_field::SEVERITY, "ERROR"),
        (error_field::SEVERITY_NONLOCALIZED, "ERROR"),
        (error_field::CODE, "42601"),
        (error_field::MESSAGE, message),
        (error_field::DETAIL, detail),
    ] {
        out.put_u8(code);
        put_cstr(&mut out, value);
    }
    if let Some(position) = position {
        out.put_u8(error_field::POSITION);
        put_cstr(&mut out, &position.to_string());
    }
    out.put_u8(0);
    end(&mut out, at);
    out.freeze()
}

/// `CommandComplete` with a command tag (`DEALLOCATE`).
pub fn command_complete(tag: &str) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, backend::COMMAND_COMPLETE);
    put_cstr(&mut out, tag);
    end(&mut out, at);
    out.freeze()
}

/// An `ErrorResponse` or `NoticeResponse` (`tag`) from its fields, values as bytes (already
/// in the client's encoding).
pub fn fields_message(tag: u8, fields: &[(u8, std::borrow::Cow<'_, [u8]>)]) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, tag);
    for (code, value) in fields {
        out.put_u8(*code);
        out.extend(value.iter().filter(|b| **b != 0));
        out.put_u8(0);
    }
    out.put_u8(0);
    end(&mut out, at);
    out.freeze()
}

/// `Authentication*` request with a code and optional data.
pub fn authentication(code: i32, data: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, backend::AUTHENTICATION);
    out.put_i32(code);
    out.put_slice(data);
    end(&mut out, at);
    out.freeze()
}

pub fn parameter_status(name: &str, value: &str) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, backend::PARAMETER_STATUS);
    put_cstr(&mut out, name);
    put_cstr(&mut out, value);
    end(&mut out, at);
    out.freeze()
}

pub fn backend_key_data(process_id: i32, secret: i32) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, backend::BACKEND_KEY_DATA);
    out.put_i32(process_id);
    out.put_i32(secret);
    end(&mut out, at);
    out.freeze()
}

pub fn ready_for_query(status: u8) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, backend::READY_FOR_QUERY);
    out.put_u8(status);
    end(&mut out, at);
    out.freeze()
}

/// `NegotiateProtocolVersion`: we speak 3.0 and do not know these `_pq_` options.
pub fn negotiate_protocol_version(newest_minor: i32, unknown_options: &[String]) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, backend::NEGOTIATE_PROTOCOL_VERSION);
    out.put_i32(newest_minor);
    out.put_i32(i32::try_from(unknown_options.len()).unwrap_or(0));
    for option in unknown_options {
        put_cstr(&mut out, option);
    }
    end(&mut out, at);
    out.freeze()
}

/// A startup message (protocol 3.0) with the given parameters.
pub fn startup_message(params: &[(&str, &str)]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i32(0);
    out.put_i32(super::PROTOCOL_3_0);
    for (name, value) in params {
        put_cstr(&mut out, name);
        put_cstr(&mut out, value);
    }
    out.put_u8(0);
    let len = i32::try_from(out.len()).unwrap_or(i32::MAX);
    if let Some(slot) = out.get_mut(..4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
    out.freeze()
}

/// An 8-byte request-code message: `SSLRequest`, or `CancelRequest` with its key.
pub fn request_code(code: i32, key: Option<(i32, i32)>) -> Bytes {
    let mut out = BytesMut::new();
    let len = if key.is_some() { 16 } else { 8 };
    out.put_i32(len);
    out.put_i32(code);
    if let Some((pid, secret)) = key {
        out.put_i32(pid);
        out.put_i32(secret);
    }
    out.freeze()
}

/// A message whose body is raw bytes (`PasswordMessage`, `SASLResponse`, ...).
pub fn raw_message(tag: u8, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 5);
    let at = begin(&mut out, tag);
    out.put_slice(body);
    end(&mut out, at);
    out.freeze()
}

/// `SASLInitialResponse` for a mechanism.
pub fn sasl_initial_response(mechanism: &str, data: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, frontend::SASL_INITIAL_RESPONSE);
    put_cstr(&mut out, mechanism);
    out.put_i32(i32::try_from(data.len()).unwrap_or(i32::MAX));
    out.put_slice(data);
    end(&mut out, at);
    out.freeze()
}

/// `PasswordMessage` carrying a NUL-terminated string.
pub fn password_message(password: &str) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, frontend::PASSWORD_MESSAGE);
    put_cstr(&mut out, password);
    end(&mut out, at);
    out.freeze()
}

/// `Query` with the given text.
pub fn query(text: &str) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, frontend::QUERY);
    put_cstr(&mut out, text);
    end(&mut out, at);
    out.freeze()
}

/// `Parse` with a (possibly renamed) statement name; `query` is the client's text, in its
/// encoding, exactly as it sent it.
pub fn parse(out: &mut BytesMut, statement: &str, query: &[u8], parameter_types: &[u8]) {
    let at = begin(out, frontend::PARSE);
    put_cstr(out, statement);
    out.extend(query.iter().filter(|b| **b != 0));
    out.put_u8(0);
    out.put_slice(parameter_types);
    end(out, at);
}

/// `Bind` with (possibly renamed) portal and statement names.
pub fn bind(out: &mut BytesMut, portal: &str, statement: &str, rest: &[u8]) {
    let at = begin(out, frontend::BIND);
    put_cstr(out, portal);
    put_cstr(out, statement);
    out.put_slice(rest);
    end(out, at);
}

/// `Execute` of a (possibly renamed) portal.
pub fn execute(out: &mut BytesMut, portal: &str, max_rows: i32) {
    let at = begin(out, frontend::EXECUTE);
    put_cstr(out, portal);
    out.put_i32(max_rows);
    end(out, at);
}

/// `Describe` or `Close` (`tag` [`frontend::DESCRIBE`] or [`frontend::CLOSE`]) of a (possibly
/// renamed) target of a [`kind`](super::tags::target_kind).
pub fn target(out: &mut BytesMut, tag: u8, kind: u8, name: &str) {
    let at = begin(out, tag);
    out.put_u8(kind);
    put_cstr(out, name);
    end(out, at);
}
