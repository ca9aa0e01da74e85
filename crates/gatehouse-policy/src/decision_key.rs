//! The key of a memoised decision: an exact, unambiguous byte encoding of every input of
//! `decide` that can change a verdict, so that two requests share a memo entry only when
//! Cedar would be asked exactly the same question.
//!
//! Every string and list is length-prefixed and every optional or variant part is tagged, so
//! the encoding is prefix-free and equal keys mean equal inputs (no hashing, no collisions).
//! `Identity` and `ConnectionInfo` are destructured field by field: a field added to them
//! fails to compile here until it is encoded. Of the context, the key holds the names of all
//! request attributes (which attributes exist decides `has` tests and duplicate-key errors),
//! but the values only of those the policy set can read ([`ContextReads`]).

use crate::context::{HOUR, NOW, SOURCE_ADDRESS, Surroundings};
use crate::context_reads::ContextReads;
use gatehouse_core::{Attribute, ConnectionInfo, Identity};
use std::net::IpAddr;

/// Longest key kept, in bytes: a request whose read attributes are larger (a huge statement
/// text read by policy) is decided without the memo, so the memo's memory stays bounded.
pub(crate) const MAX_KEY_LEN: usize = 4 * 1024;

/// Everything of one request that a decision key is made from.
pub(crate) struct KeyInputs<'a> {
    pub(crate) identity: &'a Identity,
    pub(crate) connection: &'a ConnectionInfo,
    pub(crate) action: &'a str,
    pub(crate) surroundings: &'a Surroundings,
    /// The protocol request's attributes; `None` for a session-level action.
    pub(crate) attributes: Option<&'a [(&'static str, Attribute)]>,
}

/// The key of `inputs` under a policy set reading `reads`, or `None` when it would be longer
/// than [`MAX_KEY_LEN`].
pub(crate) fn encode(inputs: &KeyInputs<'_>, reads: &ContextReads) -> Option<Vec<u8>> {
    let mut key = Key {
        bytes: Vec::with_capacity(256),
        too_long: false,
    };
    key.text(inputs.action);

    let Identity {
        subject,
        kind,
        groups,
        acting_for,
    } = inputs.identity;
    key.text(subject);
    key.text(kind.as_str());
    key.texts(groups);
    key.texts(acting_for);

    let ConnectionInfo {
        name,
        kind,
        environment,
        tags,
        description,
    } = inputs.connection;
    key.text(name);
    key.text(kind.as_str());
    key.text(environment);
    key.texts(tags);
    key.text(description);

    let surroundings = inputs.surroundings;
    if key.read(reads, SOURCE_ADDRESS) {
        match surroundings.address() {
            IpAddr::V4(address) => {
                key.tag(4);
                key.raw(&address.octets());
            }
            IpAddr::V6(address) => {
                key.tag(6);
                key.raw(&address.octets());
            }
        }
    }
    if key.read(reads, NOW) {
        key.raw(&surroundings.now_unix_seconds.to_le_bytes());
    }
    if key.read(reads, HOUR) {
        key.raw(&surroundings.hour().to_le_bytes());
    }

    match inputs.attributes {
        None => key.tag(0),
        Some(attributes) => {
            key.tag(1);
            key.length(attributes.len());
            for (name, value) in attributes {
                key.text(name);
                if key.read(reads, name) {
                    key.attribute(value);
                }
            }
        }
    }
    (!key.too_long).then_some(key.bytes)
}

/// A key being written.
struct Key {
    bytes: Vec<u8>,
    /// Set once the key would exceed [`MAX_KEY_LEN`]; nothing more is written.
    too_long: bool,
}

impl Key {
    fn raw(&mut self, bytes: &[u8]) {
        if self.too_long || self.bytes.len() + bytes.len() > MAX_KEY_LEN {
            self.too_long = true;
        } else {
            self.bytes.extend_from_slice(bytes);
        }
    }

    fn tag(&mut self, tag: u8) {
        self.raw(&[tag]);
    }

    fn length(&mut self, length: usize) {
        self.raw(&(length as u64).to_le_bytes());
    }

    fn text(&mut self, text: &str) {
        self.length(text.len());
        self.raw(text.as_bytes());
    }

    fn texts(&mut self, texts: &[String]) {
        self.length(texts.len());
        for text in texts {
            self.text(text);
        }
    }

    /// Write whether the context attribute `name` is read, and return it.
    fn read(&mut self, reads: &ContextReads, name: &str) -> bool {
        let read = reads.includes(name);
        self.tag(u8::from(read));
        read
    }

    fn attribute(&mut self, value: &Attribute) {
        match value {
            Attribute::String(text) => {
                self.tag(0);
                self.text(text);
            }
            Attribute::Long(number) => {
                self.tag(1);
                self.raw(&number.to_le_bytes());
            }
            Attribute::Bool(flag) => {
                self.tag(2);
                self.tag(u8::from(*flag));
            }
            Attribute::Set(values) => {
                self.tag(3);
                self.texts(values);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use gatehouse_core::{ConnectionKind, IdentityKind};

    fn connection() -> ConnectionInfo {
        ConnectionInfo {
            name: "db".into(),
            kind: ConnectionKind::POSTGRES,
            environment: "dev".into(),
            tags: Vec::new(),
            description: String::new(),
        }
    }

    fn key(
        identity: &Identity,
        attributes: &[(&'static str, Attribute)],
        reads: &ContextReads,
    ) -> Option<Vec<u8>> {
        encode(
            &KeyInputs {
                identity,
                connection: &connection(),
                action: "sql:select",
                surroundings: &Surroundings {
                    source_address: None,
                    now_unix_seconds: 0,
                },
                attributes: Some(attributes),
            },
            reads,
        )
    }

    /// Moving a boundary between strings or list items changes the key.
    #[test]
    fn boundaries_are_part_of_the_key() {
        let groups = |groups: &[&str]| {
            Identity::new(
                "a",
                IdentityKind::Human,
                groups.iter().map(|g| (*g).to_owned()).collect(),
            )
        };
        let reads = ContextReads::All;
        assert_ne!(
            key(&groups(&["ab"]), &[], &reads),
            key(&groups(&["a", "b"]), &[], &reads)
        );
        assert_ne!(
            key(&groups(&["", ""]), &[], &reads),
            key(&groups(&[""]), &[], &reads)
        );
        let set = |values: &[&str]| {
            [(
                "tables",
                Attribute::Set(values.iter().map(|v| (*v).to_owned()).collect()),
            )]
        };
        assert_ne!(
            key(&groups(&[]), &set(&["x,y"]), &reads),
            key(&groups(&[]), &set(&["x", "y"]), &reads)
        );
        assert_ne!(
            key(&groups(&[]), &[("n", Attribute::Long(1))], &reads),
            key(&groups(&[]), &[("n", Attribute::Bool(true))], &reads)
        );
    }

    #[test]
    fn unread_values_are_left_out_and_long_keys_refused() {
        let identity = Identity::new("a", IdentityKind::Human, Vec::new());
        let text = |text: &str| [("statement", Attribute::String(text.to_owned()))];
        let none = ContextReads::nothing();
        assert_eq!(
            key(&identity, &text("select 1"), &none),
            key(&identity, &text("select 2"), &none)
        );
        assert_ne!(
            key(&identity, &text("select 1"), &ContextReads::All),
            key(&identity, &text("select 2"), &ContextReads::All)
        );
        let huge = "x".repeat(MAX_KEY_LEN);
        assert!(key(&identity, &text(&huge), &none).is_some());
        assert_eq!(key(&identity, &text(&huge), &ContextReads::All), None);
    }
}
