//! Capability flags: what a client and a server each support, negotiated in the handshake and
//! deciding the shape of most later packets. The lower 32 bits are MySQL's; MariaDB puts its own
//! extensions in the upper 32 bits (sent in otherwise reserved bytes when the
//! `LONG_PASSWORD` flag, which MariaDB calls `CLIENT_MYSQL`, is not set).

use std::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// A set of capability flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(pub u64);

impl Capabilities {
    pub const LONG_PASSWORD: Self = Self(1);
    pub const FOUND_ROWS: Self = Self(1 << 1);
    pub const LONG_FLAG: Self = Self(1 << 2);
    pub const CONNECT_WITH_DB: Self = Self(1 << 3);
    pub const NO_SCHEMA: Self = Self(1 << 4);
    pub const COMPRESS: Self = Self(1 << 5);
    pub const ODBC: Self = Self(1 << 6);
    pub const LOCAL_FILES: Self = Self(1 << 7);
    pub const IGNORE_SPACE: Self = Self(1 << 8);
    pub const PROTOCOL_41: Self = Self(1 << 9);
    pub const INTERACTIVE: Self = Self(1 << 10);
    pub const SSL: Self = Self(1 << 11);
    pub const IGNORE_SIGPIPE: Self = Self(1 << 12);
    pub const TRANSACTIONS: Self = Self(1 << 13);
    pub const RESERVED: Self = Self(1 << 14);
    pub const SECURE_CONNECTION: Self = Self(1 << 15);
    pub const MULTI_STATEMENTS: Self = Self(1 << 16);
    pub const MULTI_RESULTS: Self = Self(1 << 17);
    pub const PS_MULTI_RESULTS: Self = Self(1 << 18);
    pub const PLUGIN_AUTH: Self = Self(1 << 19);
    pub const CONNECT_ATTRS: Self = Self(1 << 20);
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: Self = Self(1 << 21);
    pub const CAN_HANDLE_EXPIRED_PASSWORDS: Self = Self(1 << 22);
    pub const SESSION_TRACK: Self = Self(1 << 23);
    pub const DEPRECATE_EOF: Self = Self(1 << 24);
    pub const OPTIONAL_RESULTSET_METADATA: Self = Self(1 << 25);
    pub const QUERY_ATTRIBUTES: Self = Self(1 << 27);
    pub const SSL_VERIFY_SERVER_CERT: Self = Self(1 << 30);
    pub const REMEMBER_OPTIONS: Self = Self(1 << 31);
    pub const MARIADB_PROGRESS: Self = Self(1 << 32);
    pub const MARIADB_COM_MULTI: Self = Self(1 << 33);
    pub const MARIADB_STMT_BULK_OPERATIONS: Self = Self(1 << 34);
    pub const MARIADB_EXTENDED_TYPE_INFO: Self = Self(1 << 35);
    pub const MARIADB_CACHE_METADATA: Self = Self(1 << 36);

    /// Whether every flag of `flags` is set.
    pub fn contains(self, flags: Capabilities) -> bool {
        self.0 & flags.0 == flags.0
    }

    /// These flags with those of `flags` cleared.
    pub fn without(self, flags: Capabilities) -> Self {
        Self(self.0 & !flags.0)
    }

    /// The MySQL flags (lower 32 bits).
    pub fn lower(self) -> u32 {
        self.0 as u32
    }

    /// MariaDB's extended flags (upper 32 bits).
    pub fn upper(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Whether MariaDB's extended flags travel in the reserved bytes of a handshake: only
    /// between MariaDB peers, which leave `LONG_PASSWORD` (`CLIENT_MYSQL`) unset.
    pub(crate) fn carries_mariadb_extensions(self) -> bool {
        !self.contains(Self::LONG_PASSWORD)
    }
}

impl BitOr for Capabilities {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Capabilities {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl Not for Capabilities {
    type Output = Self;
    fn not(self) -> Self {
        Self(!self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn set_operations() {
        let both = Capabilities::PROTOCOL_41 | Capabilities::SSL;
        assert!(both.contains(Capabilities::SSL));
        assert!(!both.contains(Capabilities::SSL | Capabilities::COMPRESS));
        assert_eq!(both.without(Capabilities::SSL), Capabilities::PROTOCOL_41);
        assert_eq!(both & !Capabilities::SSL, Capabilities::PROTOCOL_41);
        let mariadb = Capabilities::MARIADB_PROGRESS | Capabilities::PROTOCOL_41;
        assert_eq!((mariadb.lower(), mariadb.upper()), (512, 1));
        assert!(mariadb.carries_mariadb_extensions());
    }
}
