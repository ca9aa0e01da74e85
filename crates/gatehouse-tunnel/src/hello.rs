//! The two messages of a tunnel's opening: the agent's [`Hello`] and the gateway's
//! [`HelloAnswer`]. Both are JSON bodies of ordinary HTTP/2 requests; secrets in them are
//! [`SecretString`]s, so they never print.

use gatehouse_core::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Whether an agent announcing `login_levels` has a login of `level` for `connection`.
pub(crate) fn serves_level(
    login_levels: &BTreeMap<String, Vec<String>>,
    connection: &str,
    level: &str,
) -> bool {
    match login_levels.get(connection) {
        Some(levels) => levels.iter().any(|l| l == level),
        None => level == gatehouse_core::ADMIN_LOGIN_LEVEL,
    }
}

/// Whether an agent announcing `kinds` opens targets of `kind`; one announcing none is from
/// before kinds and opens PostgreSQL targets only.
pub(crate) fn serves_kind(kinds: &[String], kind: &str) -> bool {
    if kinds.is_empty() {
        kind == "postgres"
    } else {
        kinds.iter().any(|k| k == kind)
    }
}

/// Largest hello or verdict body accepted.
pub(crate) const MAX_HELLO_BYTES: usize = 64 * 1024;

/// What an agent says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// The agent's name (`gatehouse agents create NAME`).
    pub agent: String,
    /// The agent's gatehouse version.
    pub version: String,
    /// The connections it serves (names as in the gateway's config).
    pub connections: Vec<String>,
    /// The server login levels it has credentials for, per connection. A connection missing
    /// here is served with its own login only (level `admin`), as agents from before login
    /// levels did: the gateway never sends such an agent a session of another level.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub login_levels: BTreeMap<String, Vec<String>>,
    /// The connection kinds it opens (`postgres`); none: an agent from before kinds, which
    /// opens PostgreSQL targets only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// The credential it was given at enrolment.
    #[serde(default, with = "secret", skip_serializing_if = "Option::is_none")]
    pub credential: Option<SecretString>,
    /// A one-time enrolment token, on first contact.
    #[serde(default, with = "secret", skip_serializing_if = "Option::is_none")]
    pub enrolment_token: Option<SecretString>,
    /// A workload identity token (a JWT from a configured workload identity provider, e.g. a
    /// Kubernetes service account token), for agents bound to a workload subject.
    #[serde(default, with = "secret", skip_serializing_if = "Option::is_none")]
    pub workload_token: Option<SecretString>,
}

/// The gateway's answer to a hello.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum HelloAnswer {
    Welcome {
        /// A new credential, when the agent enrolled with an enrolment token: keep it, and
        /// present it from now on (the enrolment token is spent).
        #[serde(default, with = "secret", skip_serializing_if = "Option::is_none")]
        credential: Option<SecretString>,
    },
    Refused {
        reason: String,
    },
}

mod secret {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<SecretString>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value
            .as_ref()
            .map(SecretString::expose)
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.map(SecretString::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_is_sent_only_the_kinds_it_announces_and_one_from_before_kinds_only_postgres() {
        assert!(serves_kind(&[], "postgres"));
        assert!(!serves_kind(&[], "kubernetes"));
        let both = ["postgres".to_owned(), "kubernetes".to_owned()];
        assert!(serves_kind(&both, "kubernetes"));
        assert!(!serves_kind(&["kubernetes".to_owned()], "postgres"));
    }
}
