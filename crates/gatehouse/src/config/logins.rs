//! The `[[connections.logins]]` of a connection's config: least-privileged server logins by
//! level and which groups get each, checked for where the config is read (a gateway dialling
//! the target itself holds the logins' credentials; for an agent-served connection it names
//! levels only; an agent holds credentials but leaves who gets which level to the gateway).

use crate::config::{ConnectionConfig, read_password};
use anyhow::{Result, bail};
use gatehouse_core::ADMIN_LOGIN_LEVEL;
use gatehouse_pg::{LoginLevels, LoginRule, PgTarget};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One `[[connections.logins]]` entry: a server login of the connection, and who gets it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// The level's name (`read`, `write`, ...): recorded in each session's `connect` event.
    /// `admin` is the connection's own login (its `user`); an `admin` entry only maps groups.
    pub level: String,
    /// Identities in any of these groups (access grants included) get this login; the first
    /// entry naming one of an identity's groups wins.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The server role to log in as (`gatehouse db-roles` creates it).
    pub user: Option<String>,
    /// Environment variable holding its password ...
    pub password_env: Option<String>,
    /// ... or a file holding it (trailing newline ignored; `gatehouse db-roles` writes it).
    pub password_file: Option<PathBuf>,
}

/// Where a connection's config is read: what its logins may and must say differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSide {
    /// The gateway's config, for a connection it dials itself.
    GatewayDirect,
    /// The gateway's config, for a connection served by agents (no credentials here).
    GatewayAgents,
    /// An agent's config (credentials here; which groups get a level is the gateway's call).
    Agent,
}

/// Longest login level name (role names built from it must fit PostgreSQL's 63 bytes).
const MAX_LEVEL_CHARS: usize = 24;

/// Whether `level` is a login level name: lowercase letters, digits and `_`, starting with a
/// letter (it becomes part of a role name and a tunnel header).
pub fn valid_level(level: &str) -> bool {
    let mut chars = level.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && level.len() <= MAX_LEVEL_CHARS
}

impl ConnectionConfig {
    /// Check the `[[connections.logins]]` entries and `default_level`, for a connection read
    /// on `side`. Errors name the connection, the level and the key.
    pub fn validate_logins(&self, side: ConfigSide) -> Result<()> {
        let name = &self.name;
        let mut levels = std::collections::HashSet::new();
        for login in &self.logins {
            let level = &login.level;
            if !valid_level(level) {
                bail!(
                    "connection `{name}`: [[connections.logins]] level `{level}` is not a level name \
                     (lowercase letters, digits and `_`, starting with a letter, at most {MAX_LEVEL_CHARS} characters)"
                );
            }
            if !levels.insert(level.as_str()) {
                bail!(
                    "connection `{name}`: [[connections.logins]] level `{level}` is defined twice"
                );
            }
            login.validate_on(name, side)?;
        }
        match (&self.default_level, self.logins.is_empty(), side) {
            (Some(_), _, ConfigSide::Agent) => bail!(
                "connection `{name}`: `default_level` belongs in the gateway's config (the gateway decides who gets which level)"
            ),
            (None, false, ConfigSide::GatewayDirect | ConfigSide::GatewayAgents) => bail!(
                "connection `{name}` has [[connections.logins]] but no `default_level`: say which level identities \
                 that no entry names get (e.g. default_level = \"read\"; \"{ADMIN_LOGIN_LEVEL}\" gives them the connection's own `user`)"
            ),
            (Some(level), _, _)
                if level != ADMIN_LOGIN_LEVEL && !levels.contains(level.as_str()) =>
            {
                bail!(
                    "connection `{name}`: `default_level = \"{level}\"` names no [[connections.logins]] level \
                 (defined: {}{ADMIN_LOGIN_LEVEL})",
                    levels.iter().map(|l| format!("{l}, ")).collect::<String>()
                )
            }
            _ => Ok(()),
        }
    }

    /// How identities map to this connection's server logins; `None` when it has no logins
    /// (everyone uses its own login, level `admin`).
    pub fn login_levels(&self) -> Option<LoginLevels> {
        let default_level = self.default_level.as_ref()?;
        let rules = self
            .logins
            .iter()
            .map(|login| LoginRule {
                level: login.level.clone(),
                groups: login.groups.clone(),
            })
            .collect();
        Some(LoginLevels::new(rules, default_level.clone()))
    }

    /// Every server login of this connection by level: `admin` (its own) first, then each
    /// `[[connections.logins]]` entry's, all reaching the same server and database.
    pub fn logins_in(&self, base_dir: &Path) -> Result<Vec<(String, PgTarget)>> {
        let admin = self.target_in(base_dir)?;
        let mut logins = vec![(ADMIN_LOGIN_LEVEL.to_owned(), admin.clone())];
        for login in &self.logins {
            let Some(user) = &login.user else {
                continue;
            };
            let what = format!(
                "login level `{}` of connection `{}`",
                login.level, self.name
            );
            let password = read_password(
                login.password_env.as_deref(),
                login.password_file.as_deref(),
                base_dir,
                &what,
            )?;
            let target = PgTarget {
                user: user.clone(),
                password,
                ..admin.clone()
            };
            logins.push((login.level.clone(), target));
        }
        Ok(logins)
    }

    /// The entry of `level`, if the connection has one.
    pub fn login(&self, level: &str) -> Option<&LoginConfig> {
        self.logins.iter().find(|login| login.level == level)
    }
}

impl LoginConfig {
    /// What an entry must and may say, on `side`.
    fn validate_on(&self, connection: &str, side: ConfigSide) -> Result<()> {
        let level = &self.level;
        let entry = format!("connection `{connection}`: [[connections.logins]] level `{level}`");
        let credentials = [
            ("user", self.user.is_some()),
            ("password_env", self.password_env.is_some()),
            ("password_file", self.password_file.is_some()),
        ];
        let set_credential = credentials
            .iter()
            .find(|(_, set)| *set)
            .map(|(key, _)| *key);
        if level == ADMIN_LOGIN_LEVEL {
            if let Some(key) = set_credential {
                bail!(
                    "{entry} sets `{key}`, but level `{ADMIN_LOGIN_LEVEL}` is the connection's own login \
                     (its `user` and password); an `{ADMIN_LOGIN_LEVEL}` entry only names the groups that get it"
                );
            }
            if side == ConfigSide::Agent {
                bail!(
                    "{entry}: level `{ADMIN_LOGIN_LEVEL}` is the connection's own login; remove this entry from the agent's config"
                );
            }
            return Ok(());
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            bail!("{entry} sets both `password_env` and `password_file`; keep one");
        }
        match side {
            ConfigSide::GatewayAgents => {
                if let Some(key) = set_credential {
                    bail!(
                        "{entry} sets `{key}`, but the connection is served by agents: the login's `user` and \
                         password belong in the agents' own config (the gateway only names the level)"
                    );
                }
            }
            ConfigSide::GatewayDirect | ConfigSide::Agent => {
                if self
                    .user
                    .as_deref()
                    .is_none_or(|user| user.trim().is_empty())
                {
                    bail!(
                        "{entry} needs `user`: the server role its sessions log in as \
                         (`gatehouse db-roles {connection}` creates one)"
                    );
                }
            }
        }
        if side == ConfigSide::Agent && !self.groups.is_empty() {
            bail!(
                "{entry} sets `groups`, which belong in the gateway's config: the gateway decides who gets which level, \
                 the agent only holds each level's credentials"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::config::Config;

    fn connection(logins: &str) -> ConnectionConfig {
        toml::from_str(&format!(
            "name = \"prod\"\nkind = \"postgres\"\nhost = \"h\"\ndatabase = \"d\"\nuser = \"u\"\n{logins}"
        ))
        .unwrap()
    }

    fn refusal(logins: &str, side: ConfigSide) -> String {
        format!(
            "{:#}",
            connection(logins).validate_logins(side).unwrap_err()
        )
    }

    #[test]
    fn an_agent_holds_credentials_by_level_and_the_gateway_says_who_gets_which() {
        let agent = "[[logins]]\nlevel = \"read\"\nuser = \"r\"\npassword_file = \"r.password\"\n";
        connection(agent)
            .validate_logins(ConfigSide::Agent)
            .unwrap();
        assert!(
            refusal(
                &format!("{agent}groups = [\"readers\"]\n"),
                ConfigSide::Agent
            )
            .contains("sets `groups`, which belong in the gateway's config")
        );
        assert!(
            refusal(
                &format!("default_level = \"read\"\n{agent}"),
                ConfigSide::Agent
            )
            .contains("`default_level` belongs in the gateway's config")
        );
        assert!(
            refusal("[[logins]]\nlevel = \"read\"\n", ConfigSide::Agent)
                .contains("level `read` needs `user`")
        );
    }

    #[test]
    fn identities_get_the_first_matching_level_else_the_chosen_default() {
        let config = connection(
            "default_level = \"read\"\n\
             [[logins]]\nlevel = \"admin\"\ngroups = [\"admins\"]\n\
             [[logins]]\nlevel = \"read\"\ngroups = [\"readers\"]\nuser = \"r\"\n",
        );
        config.validate_logins(ConfigSide::GatewayDirect).unwrap();
        let levels = config.login_levels().unwrap();
        assert_eq!(levels.level_for(&["admins".to_owned()]), "admin");
        assert_eq!(levels.level_for(&[]), "read");
        let logins = config.logins_in(Path::new(".")).unwrap();
        let users: Vec<(&str, &str)> = logins
            .iter()
            .map(|(level, target)| (level.as_str(), target.user.as_str()))
            .collect();
        assert_eq!(users, [("admin", "u"), ("read", "r")]);
    }

    #[test]
    fn a_connection_without_logins_uses_its_own_login_for_everyone() {
        let config = connection("");
        config.validate_logins(ConfigSide::GatewayDirect).unwrap();
        assert!(config.login_levels().is_none());
    }

    #[test]
    fn the_quickstart_maps_its_groups_to_least_privileged_logins_kept_in_the_data_directory() {
        let config = Config::quickstart(Path::new("/srv/gh"));
        let demo = &config.connections[0];
        demo.validate_logins(ConfigSide::GatewayDirect).unwrap();
        let levels = demo.login_levels().unwrap();
        for (group, level) in [
            ("admins", "admin"),
            ("writers", "write"),
            ("readers", "read"),
            ("other", "read"),
        ] {
            assert_eq!(levels.level_for(&[group.to_owned()]), level, "{group}");
        }
        let read = demo.login("read").unwrap();
        assert_eq!(read.user.as_deref(), Some("gatehouse_demo_read"));
        assert_eq!(
            read.password_file.as_deref(),
            Some(Path::new("/srv/gh/logins/gatehouse_demo_read.password"))
        );
    }
}
