//! Invalid policies are refused with messages naming the file, line, column and reason, all
//! errors at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_core::SQL_PROTOCOL;
use gatehouse_policy::{BASE_SCHEMA, PolicyEngine, PolicyError, PolicySchema};

fn sql_schema() -> PolicySchema {
    PolicySchema::new(&[&SQL_PROTOCOL]).unwrap()
}

fn load(files: &[(&str, &str)]) -> PolicyError {
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
        .collect();
    match PolicyEngine::from_sources(&sources, &sql_schema()) {
        Ok(engine) => panic!("loaded: {engine:?}"),
        Err(error) => error,
    }
}

#[test]
fn syntax_error_names_file_line_column_and_reason() {
    let error = load(&[(
        "policies/bad.cedar",
        "// first line\npermit (principal, action, resource);\n\npermit (principal action, resource);\n",
    )]);
    let PolicyError::Parse { errors } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("policies/bad.cedar:4:19: "),
        "{errors:?}"
    );
    assert!(errors[0].contains("unexpected token"), "{errors:?}");
    let message = error.to_string();
    assert!(message.starts_with("1 policy syntax error(s)"), "{message}");
    assert!(message.contains("policies/bad.cedar:4:19"), "{message}");
}

#[test]
fn syntax_errors_of_every_file_are_reported() {
    let error = load(&[
        ("a.cedar", "permit (principal, action, resource)"),
        ("ok.cedar", "permit (principal, action, resource);"),
        (
            "b.cedar",
            "\n\nforbid (principal, action, resource) when { context.now > };",
        ),
    ]);
    let PolicyError::Parse { errors } = &error else {
        panic!("{error:?}")
    };
    assert!(
        errors.iter().any(|e| e.starts_with("a.cedar:1:")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("b.cedar:3:")),
        "{errors:?}"
    );
    assert!(
        !errors.iter().any(|e| e.starts_with("ok.cedar")),
        "{errors:?}"
    );
}

#[test]
fn unknown_action_is_a_validation_error_at_its_line() {
    let error = load(&[(
        "frob.cedar",
        "@id(\"frob\")\npermit (\n  principal,\n  action == Gatehouse::Action::\"sql:frobnicate\",\n  resource\n);\n",
    )]);
    let PolicyError::Validation { errors } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("frob.cedar:4:13: "), "{errors:?}");
    assert!(errors[0].contains("sql:frobnicate"), "{errors:?}");
    assert!(errors[0].contains("frob"), "{errors:?}");
}

#[test]
fn misspelled_attribute_is_a_validation_error_naming_it() {
    let error = load(&[
        ("ok.cedar", "permit (principal, action, resource);"),
        (
            "typo.cedar",
            "@id(\"typo\")\nforbid (principal, action, resource)\nwhen { resource.enviroment == \"prod\" };\n",
        ),
    ]);
    let PolicyError::Validation { errors } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("typo.cedar:3:8: "), "{errors:?}");
    assert!(errors[0].contains("enviroment"), "{errors:?}");
}

#[test]
fn statement_attributes_do_not_exist_on_connect() {
    let error = load(&[(
        "connect.cedar",
        "forbid (principal, action == Gatehouse::Action::\"connect\", resource)\nwhen { context.statement like \"*drop*\" };",
    )]);
    let PolicyError::Validation { errors } = &error else {
        panic!("{error:?}")
    };
    assert!(errors[0].starts_with("connect.cedar:2:"), "{errors:?}");
    assert!(errors[0].contains("statement"), "{errors:?}");
}

#[test]
fn all_validation_errors_are_reported_in_file_order() {
    let error = load(&[
        (
            "one.cedar",
            "permit (principal, action, resource) when { resource.colour == \"red\" };\npermit (principal, action, resource) when { context.hour == \"noon\" };",
        ),
        (
            "two.cedar",
            "permit (principal in Gatehouse::Team::\"x\", action, resource);",
        ),
    ]);
    let PolicyError::Validation { errors } = &error else {
        panic!("{error:?}")
    };
    // `two.cedar:1` also "can never apply", but its real mistake is reported alone.
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("one.cedar:1:"), "{errors:?}");
    assert!(errors[1].starts_with("one.cedar:2:"), "{errors:?}");
    assert!(errors[2].starts_with("two.cedar:1:"), "{errors:?}");
    assert!(errors[2].contains("Gatehouse::Team"), "{errors:?}");
}

#[test]
fn a_policy_that_can_never_apply_is_refused() {
    // An identity is never in a connection: this forbid would protect nothing.
    let error = load(&[(
        "never.cedar",
        "permit (principal, action, resource);\nforbid (principal in Gatehouse::Connection::\"prod\", action, resource);",
    )]);
    let PolicyError::Validation { errors } = &error else {
        panic!("{error:?}")
    };
    assert!(errors[0].starts_with("never.cedar:2:"), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("impossible")),
        "{errors:?}"
    );
}

#[test]
fn duplicate_ids_name_both_places() {
    let error = load(&[
        (
            "a.cedar",
            "\n@id(\"x\")\npermit (principal, action, resource);",
        ),
        (
            "b.cedar",
            "permit (principal, action, resource);\n\n@id(\"x\") forbid (principal, action, resource);",
        ),
    ]);
    let PolicyError::DuplicateId { id, first, second } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(id, "x");
    assert_eq!(first, "a.cedar:2:1");
    assert_eq!(second, "b.cedar:3:1");
    let message = error.to_string();
    assert!(
        message.contains("`x`")
            && message.contains("a.cedar:2:1")
            && message.contains("b.cedar:3:1"),
        "{message}"
    );
}

#[test]
fn templates_are_refused() {
    let error = load(&[(
        "t.cedar",
        "permit (principal == ?principal, action, resource);",
    )]);
    let PolicyError::Validation { errors } = &error else {
        panic!("{error:?}")
    };
    assert!(
        errors[0].starts_with("t.cedar:1:1: templates"),
        "{errors:?}"
    );
}

#[test]
fn missing_file_names_the_path() {
    let path = std::path::PathBuf::from("/nonexistent/gatehouse/policy.cedar");
    let error = PolicyEngine::load_files(&[path], &sql_schema()).unwrap_err();
    assert!(matches!(error, PolicyError::Read { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("cannot read policy file `/nonexistent/gatehouse/policy.cedar`"),
        "{error}"
    );
}

#[test]
fn schema_is_exported_as_cedar_schema_text() {
    assert!(BASE_SCHEMA.contains("namespace Gatehouse"));
    assert!(
        sql_schema()
            .text()
            .contains("action \"sql:select\" in [\"sql:read\", \"sql:any\"]")
    );
}
