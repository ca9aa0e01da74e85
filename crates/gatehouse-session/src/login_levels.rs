//! How a connection's identities map to its server logins, for every database adapter. A
//! classifier in front of a server can always be fooled (a function that writes, a view over
//! it, a setting only superusers may change), so the server must refuse what policy meant to
//! refuse: each identity's session logs in as a least-privileged login of its level (`read`,
//! `write`, ...), chosen once at connect from the identity's groups as policy sees them.

/// One `[[connections.logins]]` mapping: identities in any of `groups` get `level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRule {
    pub level: String,
    pub groups: Vec<String>,
}

/// How a connection's identities map to its server logins: the first rule naming one of
/// their groups, else the default level (which the operator chose explicitly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLevels {
    rules: Vec<LoginRule>,
    default_level: String,
}

impl LoginLevels {
    pub fn new(rules: Vec<LoginRule>, default_level: impl Into<String>) -> Self {
        LoginLevels {
            rules,
            default_level: default_level.into(),
        }
    }

    /// The level of an identity in `groups`.
    pub fn level_for(&self, groups: &[String]) -> &str {
        self.rules
            .iter()
            .find(|rule| rule.groups.iter().any(|group| groups.contains(group)))
            .map_or(self.default_level.as_str(), |rule| rule.level.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> LoginLevels {
        let rule = |level: &str, groups: &[&str]| LoginRule {
            level: level.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        };
        LoginLevels::new(
            vec![
                rule("admin", &["admins"]),
                rule("write", &["writers", "oncall"]),
                rule("read", &["readers"]),
            ],
            "read",
        )
    }

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|g| (*g).to_owned()).collect()
    }

    #[test]
    fn the_first_entry_naming_one_of_the_groups_wins() {
        let levels = levels();
        assert_eq!(levels.level_for(&groups(&["readers"])), "read");
        assert_eq!(levels.level_for(&groups(&["oncall"])), "write");
        assert_eq!(levels.level_for(&groups(&["readers", "writers"])), "write");
        assert_eq!(levels.level_for(&groups(&["readers", "admins"])), "admin");
    }

    #[test]
    fn identities_no_entry_names_get_the_default_level_not_the_admin_login() {
        assert_eq!(levels().level_for(&groups(&[])), "read");
        assert_eq!(levels().level_for(&groups(&["analysts"])), "read");
    }
}
