//! The built-in content detectors: each finds candidates with a regex and keeps only those its
//! validator accepts (check digits, issuer tables, length tables, decodable structure, context
//! words), so a detector means "this is one", not "this has the shape of one".
//!
//! [`BUILTINS`] lists them in priority order: when two findings of equal length overlap, the
//! detector listed first wins.

mod boundary;
mod card;
mod checksum;
mod context;
mod email;
mod iban;
mod ip;
mod jwt;
mod phone;
mod private_key;
mod ssn;
mod tokens;
mod trigger;

pub(crate) use checksum::{luhn_valid, mod97_valid};
pub(crate) use trigger::{ByteCounts, TextCounts, Trigger};

use crate::scan::Hits;
use crate::{MaskError, Strategy};

/// Finds accepted spans of one detector in a text.
pub(crate) trait Find: Send + Sync {
    fn find(&self, text: &str, hits: &mut Hits<'_>);
}

/// A built-in detector: its stable name, its default strategy, its trigger and its constructor.
pub(crate) struct Builtin {
    pub(crate) name: &'static str,
    pub(crate) default_strategy: Strategy,
    pub(crate) trigger: Trigger,
    build: fn() -> Result<Box<dyn Find>, regex::Error>,
}

impl Builtin {
    pub(crate) fn build(&self) -> Result<Box<dyn Find>, MaskError> {
        (self.build)().map_err(|error| MaskError::InvalidPattern {
            name: self.name.to_owned(),
            reason: error.to_string(),
        })
    }
}

const REDACT: Strategy = Strategy::Redact;
const LAST_FOUR: Strategy = Strategy::Partial { keep_last: 4 };
const HASH: Strategy = Strategy::Hash;

/// Every built-in detector, highest priority first.
pub(crate) const BUILTINS: [Builtin; 17] = [
    Builtin {
        name: "private_key",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["-----BEGIN"]),
        build: private_key::build,
    },
    Builtin {
        name: "jwt",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["eyJ"]),
        build: jwt::build,
    },
    Builtin {
        name: "aws_access_key_id",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["AKIA", "ASIA"]),
        build: tokens::aws_access_key_id,
    },
    Builtin {
        name: "github_token",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]),
        build: tokens::github_token,
    },
    Builtin {
        name: "gitlab_token",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["glpat-"]),
        build: tokens::gitlab_token,
    },
    Builtin {
        name: "slack_token",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxr-", "xoxs-"]),
        build: tokens::slack_token,
    },
    Builtin {
        name: "google_api_key",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["AIza"]),
        build: tokens::google_api_key,
    },
    Builtin {
        name: "stripe_key",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_"]),
        build: tokens::stripe_key,
    },
    Builtin {
        name: "aws_secret_key",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["secret", "Secret", "SECRET"]),
        build: context::aws_secret_key,
    },
    Builtin {
        name: "bearer_token",
        default_strategy: REDACT,
        trigger: Trigger::literals(&["bearer", "Bearer", "BEARER"]),
        build: context::bearer_token,
    },
    Builtin {
        name: "iban",
        default_strategy: LAST_FOUR,
        trigger: Trigger::counts(&[ByteCounts {
            length: 15,
            digits: 2,
            uppercase: 2,
            ..ByteCounts::NONE
        }]),
        build: iban::build,
    },
    Builtin {
        name: "payment_card",
        default_strategy: LAST_FOUR,
        trigger: Trigger::counts(&[ByteCounts {
            digit_run: 13,
            ..ByteCounts::NONE
        }]),
        build: card::build,
    },
    Builtin {
        name: "us_ssn",
        default_strategy: LAST_FOUR,
        trigger: Trigger::counts(&[ByteCounts {
            digit_run: 9,
            ..ByteCounts::NONE
        }]),
        build: ssn::build,
    },
    Builtin {
        name: "email",
        default_strategy: HASH,
        trigger: Trigger::counts(&[ByteCounts {
            at_signs: 1,
            ..ByteCounts::NONE
        }]),
        build: email::build,
    },
    Builtin {
        name: "ipv6",
        default_strategy: HASH,
        trigger: Trigger::counts(&[
            ByteCounts {
                double_colons: 1,
                ..ByteCounts::NONE
            },
            ByteCounts {
                colons: 7,
                ..ByteCounts::NONE
            },
        ]),
        build: ip::ipv6,
    },
    Builtin {
        name: "ipv4",
        default_strategy: HASH,
        trigger: Trigger::counts(&[ByteCounts {
            digits: 4,
            dots: 3,
            ..ByteCounts::NONE
        }]),
        build: ip::ipv4,
    },
    Builtin {
        name: "phone",
        default_strategy: LAST_FOUR,
        trigger: Trigger::counts(&[ByteCounts {
            digits: 8,
            ..ByteCounts::NONE
        }]),
        build: phone::build,
    },
];

// Trigger masks keep one bit per built-in detector in a `u64`.
const _: () = assert!(BUILTINS.len() < 64);

pub(crate) fn builtin_named(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|builtin| builtin.name == name)
}

/// The built-in names, comma-separated, for error messages.
pub(crate) fn builtin_names() -> String {
    let names: Vec<&str> = BUILTINS.iter().map(|builtin| builtin.name).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::BUILTINS;

    #[test]
    fn every_builtin_compiles_and_names_are_unique() {
        for (index, builtin) in BUILTINS.iter().enumerate() {
            assert!(builtin.build().is_ok(), "{} does not compile", builtin.name);
            assert!(
                BUILTINS
                    .iter()
                    .skip(index + 1)
                    .all(|other| other.name != builtin.name),
                "{} listed twice",
                builtin.name
            );
        }
    }
}
