//! The client's login (HandshakeResponse41): who it is, its answer to the scramble, the
//! database to start in, the plugin it answered with and its connection attributes.

use super::ssl_request::{read_client_head, write_client_head};
use crate::capabilities::Capabilities;
use crate::lenenc::{read_lenenc_int, read_lenenc_required, write_lenenc_bytes};
use crate::{WireError, cursor};

const WHAT: &str = "handshake response";

/// A client's login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub capabilities: Capabilities,
    pub max_packet: u32,
    pub collation: u8,
    pub user: Vec<u8>,
    pub auth_response: Vec<u8>,
    /// Present when `CONNECT_WITH_DB` is set.
    pub database: Option<Vec<u8>>,
    /// Present when `PLUGIN_AUTH` is set and a name was sent.
    pub auth_plugin: Option<String>,
    /// Connection attributes (`CONNECT_ATTRS`), in the order sent.
    pub attributes: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HandshakeResponse {
    /// Parses a 4.1 login; a pre-4.1 one (no `PROTOCOL_41`) is `Malformed`.
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        let mut input = payload;
        // PROTOCOL_41 is bit 1 of the second byte.
        if payload.get(1).is_some_and(|byte| byte & 0x02 == 0) {
            return Err(WireError::malformed(WHAT, "pre-4.1 handshake response"));
        }
        let head = read_client_head(&mut input, WHAT)?;
        let capabilities = head.capabilities;
        let user = cursor::nul_terminated(&mut input, WHAT)?.to_vec();
        let auth_response =
            if capabilities.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
                read_lenenc_required(&mut input, WHAT)?
            } else if capabilities.contains(Capabilities::SECURE_CONNECTION) {
                let len = usize::from(cursor::u8(&mut input, WHAT)?);
                cursor::take(&mut input, len, WHAT)?
            } else {
                cursor::nul_terminated(&mut input, WHAT)?
            }
            .to_vec();
        let database = if capabilities.contains(Capabilities::CONNECT_WITH_DB) {
            Some(cursor::nul_terminated_or_rest(&mut input).to_vec())
        } else {
            None
        };
        let auth_plugin = if capabilities.contains(Capabilities::PLUGIN_AUTH) {
            Some(cursor::nul_terminated_or_rest(&mut input))
                .filter(|name| !name.is_empty())
                .map(|name| String::from_utf8_lossy(name).into_owned())
        } else {
            None
        };
        let attributes = if capabilities.contains(Capabilities::CONNECT_ATTRS) && !input.is_empty()
        {
            read_attributes(&mut input)?
        } else {
            Vec::new()
        };
        Ok(Self {
            capabilities,
            max_packet: head.max_packet,
            collation: head.collation,
            user,
            auth_response,
            database,
            auth_plugin,
            attributes,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.user.len() + self.auth_response.len());
        let head = super::SslRequest {
            capabilities: self.capabilities,
            max_packet: self.max_packet,
            collation: self.collation,
        };
        write_client_head(&mut out, &head);
        out.extend_from_slice(&self.user);
        out.push(0);
        if self
            .capabilities
            .contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA)
        {
            write_lenenc_bytes(&mut out, &self.auth_response);
        } else if self.capabilities.contains(Capabilities::SECURE_CONNECTION) {
            let len = self.auth_response.len().min(usize::from(u8::MAX));
            out.push(len as u8);
            out.extend_from_slice(self.auth_response.get(..len).unwrap_or_default());
        } else {
            out.extend_from_slice(&self.auth_response);
            out.push(0);
        }
        if self.capabilities.contains(Capabilities::CONNECT_WITH_DB) {
            out.extend_from_slice(self.database.as_deref().unwrap_or_default());
            out.push(0);
        }
        if self.capabilities.contains(Capabilities::PLUGIN_AUTH) {
            out.extend_from_slice(self.auth_plugin.as_deref().unwrap_or_default().as_bytes());
            out.push(0);
        }
        if self.capabilities.contains(Capabilities::CONNECT_ATTRS) {
            let mut attributes = Vec::new();
            for (key, value) in &self.attributes {
                write_lenenc_bytes(&mut attributes, key);
                write_lenenc_bytes(&mut attributes, value);
            }
            write_lenenc_bytes(&mut out, &attributes);
        }
        out
    }
}

/// Connection attributes: (key, value) pairs.
type Attributes = Vec<(Vec<u8>, Vec<u8>)>;

fn read_attributes(input: &mut &[u8]) -> Result<Attributes, WireError> {
    const WHAT: &str = "connection attributes";
    let len = read_lenenc_int(input)?.ok_or_else(|| WireError::malformed(WHAT, "NULL"))?;
    let len = usize::try_from(len).map_err(|_| WireError::Truncated { what: WHAT })?;
    let mut block = cursor::take(input, len, WHAT)?;
    let mut attributes = Vec::new();
    while !block.is_empty() {
        let key = read_lenenc_required(&mut block, WHAT)?.to_vec();
        let value = read_lenenc_required(&mut block, WHAT)?.to_vec();
        attributes.push((key, value));
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn login() -> HandshakeResponse {
        HandshakeResponse {
            capabilities: Capabilities::LONG_PASSWORD
                | Capabilities::PROTOCOL_41
                | Capabilities::SECURE_CONNECTION
                | Capabilities::PLUGIN_AUTH
                | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA
                | Capabilities::CONNECT_WITH_DB
                | Capabilities::CONNECT_ATTRS,
            max_packet: 16 << 20,
            collation: 45,
            user: b"root".to_vec(),
            auth_response: vec![1; 20],
            database: Some(b"test".to_vec()),
            auth_plugin: Some("mysql_native_password".into()),
            attributes: vec![(b"_client_name".to_vec(), b"libmariadb".to_vec())],
        }
    }

    #[test]
    fn round_trips_in_each_auth_response_form() {
        let full = login();
        assert_eq!(HandshakeResponse::parse(&full.encode()), Ok(full.clone()));
        let mut one_byte_length = full.clone();
        one_byte_length.capabilities = full
            .capabilities
            .without(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA);
        assert_eq!(
            HandshakeResponse::parse(&one_byte_length.encode()),
            Ok(one_byte_length)
        );
        let mut minimal = full.clone();
        minimal.capabilities = Capabilities::PROTOCOL_41;
        minimal.auth_response = b"plain".to_vec();
        minimal.database = None;
        minimal.auth_plugin = None;
        minimal.attributes.clear();
        assert_eq!(HandshakeResponse::parse(&minimal.encode()), Ok(minimal));
    }

    #[test]
    fn pre_41_is_malformed_and_truncation_is_truncated() {
        assert!(matches!(
            HandshakeResponse::parse(&[0x05, 0x00, 0, 0, 0, b'r', 0]),
            Err(WireError::Malformed { .. })
        ));
        let bytes = login().encode();
        for cut in [0, 1, 20, 33, 36] {
            assert!(matches!(
                HandshakeResponse::parse(&bytes[..cut]),
                Err(WireError::Truncated { .. })
            ));
        }
    }
}
