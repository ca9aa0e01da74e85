//! The SSL request: the 32-byte head of a login that a client sends in clear before starting
//! TLS, telling the server to switch.

use super::CLIENT_FILLER;
use crate::capabilities::Capabilities;
use crate::{WireError, cursor};

/// The length of an SSL request, and of the fixed head of every login.
const SSL_REQUEST_LEN: usize = 32;

/// A client's request to continue in TLS (a login cut after its fixed head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslRequest {
    pub capabilities: Capabilities,
    pub max_packet: u32,
    pub collation: u8,
}

impl SslRequest {
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        let mut input = payload;
        let request = read_client_head(&mut input, "SSL request")?;
        cursor::finish(input, "SSL request")?;
        Ok(request)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SSL_REQUEST_LEN);
        write_client_head(&mut out, self);
        out
    }
}

/// Whether a client's first message is an SSL request rather than a login.
pub fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == SSL_REQUEST_LEN
        && SslRequest::parse(payload).is_ok_and(|r| r.capabilities.contains(Capabilities::SSL))
}

/// The fixed head that SSL requests and logins share.
pub(super) fn read_client_head(
    input: &mut &[u8],
    what: &'static str,
) -> Result<SslRequest, WireError> {
    let lower = cursor::u32(input, what)?;
    let max_packet = cursor::u32(input, what)?;
    let collation = cursor::u8(input, what)?;
    cursor::take(input, CLIENT_FILLER, what)?;
    let extended = cursor::u32(input, what)?;
    let mut capabilities = Capabilities(u64::from(lower));
    if capabilities.carries_mariadb_extensions() {
        capabilities.0 |= u64::from(extended) << 32;
    }
    Ok(SslRequest {
        capabilities,
        max_packet,
        collation,
    })
}

pub(super) fn write_client_head(out: &mut Vec<u8>, head: &SslRequest) {
    out.extend_from_slice(&head.capabilities.lower().to_le_bytes());
    out.extend_from_slice(&head.max_packet.to_le_bytes());
    out.push(head.collation);
    out.extend_from_slice(&[0; CLIENT_FILLER]);
    let extended = if head.capabilities.carries_mariadb_extensions() {
        head.capabilities.upper()
    } else {
        0
    };
    out.extend_from_slice(&extended.to_le_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn round_trip_and_detection() {
        let request = SslRequest {
            capabilities: Capabilities::PROTOCOL_41
                | Capabilities::SSL
                | Capabilities::MARIADB_CACHE_METADATA,
            max_packet: 1 << 24,
            collation: 45,
        };
        let bytes = request.encode();
        assert_eq!(bytes.len(), 32);
        assert_eq!(SslRequest::parse(&bytes), Ok(request));
        assert!(is_ssl_request(&bytes));
        assert!(!is_ssl_request(&bytes[..31]));
        assert!(matches!(
            SslRequest::parse(&bytes[..20]),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn mysql_clients_keep_the_reserved_bytes_reserved() {
        let mut bytes = SslRequest {
            capabilities: Capabilities::LONG_PASSWORD | Capabilities::SSL,
            max_packet: 0,
            collation: 8,
        }
        .encode();
        bytes[28] = 0xFF;
        let parsed = SslRequest::parse(&bytes).unwrap();
        assert_eq!(parsed.capabilities.upper(), 0);
    }
}
