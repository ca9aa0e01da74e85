//! The `ssh` Cedar fragment: it loads with the base schema, the allowlist policies its header
//! recommends validate and decide as intended, and the attributes each request carries are
//! exactly the ones its action's context declares (a policy reading every one of them decides
//! without an error).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_core::{Action, ConnectionInfo, Identity, IdentityKind};
use gatehouse_policy::{PolicyEngine, PolicyRequest, PolicySchema, PolicyVerdict};
use gatehouse_ssh::command::ExecCommand;
use gatehouse_ssh::sftp::SftpOperation;
use gatehouse_ssh::{SSH, SSH_PROTOCOL, SshRequest};

fn engine(policy: &str) -> PolicyEngine {
    let schema = PolicySchema::new(&[&SSH_PROTOCOL]).unwrap_or_else(|error| panic!("{error}"));
    PolicyEngine::from_sources(&[("test.cedar".to_owned(), policy.to_owned())], &schema)
        .unwrap_or_else(|error| panic!("{error}"))
}

fn decide_as(engine: &PolicyEngine, group: &str, request: SshRequest) -> PolicyVerdict {
    let identity = Identity::new("ana", IdentityKind::Human, vec![group.to_owned()]);
    let connection = ConnectionInfo {
        name: "bastion".to_owned(),
        kind: SSH,
        environment: "prod".to_owned(),
        tags: Vec::new(),
        description: "a Linux host".to_owned(),
    };
    let action = Action::of(request);
    engine.decide(&PolicyRequest {
        identity: &identity,
        connection: &connection,
        action: &action,
        source_address: None,
        now_unix_seconds: 1_700_000_000,
    })
}

fn decide(engine: &PolicyEngine, request: SshRequest) -> PolicyVerdict {
    decide_as(engine, "readers", request)
}

fn exec(line: &str) -> SshRequest {
    SshRequest::from_exec(ExecCommand::parse(line))
}

const ALLOWLIST: &str = r#"
permit(principal in Gatehouse::Group::"readers", action == Gatehouse::Action::"ssh:exec", resource)
  when { ["ls", "cat", "df", "uptime", "whoami"].contains(context.program) && !context.has_shell_syntax };

permit(principal in Gatehouse::Group::"readers", action == Gatehouse::Action::"ssh:sftp", resource)
  when { ["read", "list"].contains(context.operation) && context.path like "/srv/share/*" };

permit(principal in Gatehouse::Group::"readers", action == Gatehouse::Action::"ssh:forward", resource)
  when { context.host == "db.internal" && context.port == 5432 };

permit(principal in Gatehouse::Group::"readers", action == Gatehouse::Action::"ssh:scp", resource)
  when { context.direction == "download" && !context.recursive
         && context.paths.containsAll(["/srv/share/report.csv"])
         && ["/srv/share/report.csv"].containsAll(context.paths) };
"#;

#[test]
fn the_allowlist_validates_and_decides() {
    let engine = engine(ALLOWLIST);
    for allowed in ["ls -la /tmp", "cat /etc/hostname", "/bin/df -h", "uptime"] {
        let verdict = decide(&engine, exec(allowed));
        assert!(
            verdict.allowed && verdict.errors.is_empty(),
            "{allowed}: {verdict:?}"
        );
    }
    for denied in [
        "r\"\"m -rf /tmp/x",
        "env rm -rf /tmp/x",
        "sh -c 'rm -rf /tmp/x'",
        "/bin/rm x",
        "\\rm x",
        "ls;rm x",
        "ls$IFS/tmp",
        "FOO=1 rm x",
        "ls\nrm x",
        "ls $(rm x)",
        "cat 'a b'",
        "ls > /tmp/f",
        "",
    ] {
        let verdict = decide(&engine, exec(denied));
        assert!(
            !verdict.allowed && verdict.errors.is_empty(),
            "{denied:?}: {verdict:?}"
        );
    }
    let other_group = decide_as(&engine, "interns", exec("ls"));
    assert!(!other_group.allowed, "{other_group:?}");

    let sftp = |operation, path: &str| {
        decide(
            &engine,
            SshRequest::sftp(operation, path.to_owned(), String::new()),
        )
    };
    assert!(sftp(SftpOperation::Read, "/srv/share/a.txt").allowed);
    assert!(sftp(SftpOperation::List, "/srv/share/d").allowed);
    assert!(!sftp(SftpOperation::Write, "/srv/share/a.txt").allowed);
    assert!(!sftp(SftpOperation::Read, "/etc/shadow").allowed);

    let forward = |host: &str, port| decide(&engine, SshRequest::forward(host.to_owned(), port));
    assert!(forward("db.internal", 5432).allowed);
    assert!(!forward("db.internal", 22).allowed);
    assert!(!forward("127.0.0.1", 5432).allowed);

    assert!(decide(&engine, exec("scp -f /srv/share/report.csv")).allowed);
    assert!(!decide(&engine, exec("scp -t /srv/share/report.csv")).allowed);
    assert!(!decide(&engine, exec("scp -r -f /srv/share/report.csv")).allowed);
    assert!(!decide(&engine, exec("scp -f /srv/share/report.csv /etc/shadow")).allowed);

    for refused in [
        SshRequest::Shell {
            term: "xterm".to_owned(),
        },
        SshRequest::AgentForward,
        SshRequest::X11,
    ] {
        assert!(!decide(&engine, refused).allowed);
    }
}

#[test]
fn every_declared_attribute_is_present_with_its_type() {
    let engine = engine(
        r#"
        permit(principal, action == Gatehouse::Action::"ssh:exec", resource) when {
            context.source_address.isIpv4() && context.now > 0 && context.hour >= 0 &&
            context.command == "ls -la" && context.program == "ls" &&
            context.args.contains("-la") && !context.has_shell_syntax
        };
        permit(principal, action == Gatehouse::Action::"ssh:shell", resource) when {
            context.now > 0 && context.term == "xterm-256color"
        };
        permit(principal, action == Gatehouse::Action::"ssh:sftp", resource) when {
            context.now > 0 && context.operation == "rename" && context.path == "/a" &&
            context.destination == "/b"
        };
        permit(principal, action == Gatehouse::Action::"ssh:scp", resource) when {
            context.now > 0 && context.direction == "upload" && context.paths.contains("/tmp/d") &&
            context.recursive && context.command == "scp -r -t -- /tmp/d"
        };
        permit(principal, action == Gatehouse::Action::"ssh:forward", resource) when {
            context.now > 0 && context.host == "db" && context.port == 5432
        };
        permit(principal, action in [Gatehouse::Action::"ssh:agent_forward", Gatehouse::Action::"ssh:x11"], resource) when {
            context.source_address.isIpv4() && context.now > 0 && context.hour >= 0
        };
        "#,
    );
    for request in [
        exec("ls -la"),
        SshRequest::Shell {
            term: "xterm-256color".to_owned(),
        },
        SshRequest::sftp(SftpOperation::Rename, "/a".to_owned(), "/b".to_owned()),
        exec("scp -r -t -- /tmp/d"),
        SshRequest::forward("db".to_owned(), 5432),
        SshRequest::AgentForward,
        SshRequest::X11,
    ] {
        let text = format!("{request:?}");
        let verdict = decide(&engine, request);
        assert!(
            verdict.allowed && verdict.errors.is_empty(),
            "{text}: {verdict:?}"
        );
        assert_eq!(verdict.determining_policies.len(), 1, "{text}: {verdict:?}");
    }
}

#[test]
fn the_any_group_holds_every_action() {
    let engine = engine(r#"permit(principal, action in Gatehouse::Action::"ssh:any", resource);"#);
    for request in [
        exec("anything; at all"),
        SshRequest::Shell {
            term: String::new(),
        },
        SshRequest::sftp(SftpOperation::Write, "/x".to_owned(), String::new()),
        exec("scp -t /x"),
        SshRequest::forward("h".to_owned(), 1),
        SshRequest::AgentForward,
        SshRequest::X11,
    ] {
        assert!(decide(&engine, request).allowed);
    }
}

#[test]
fn a_program_list_needs_contains_not_in() {
    // Cedar's `in` is for entities; the fragment's header says to write `.contains`.
    let schema = PolicySchema::new(&[&SSH_PROTOCOL]).unwrap();
    let policy = r#"permit(principal, action == Gatehouse::Action::"ssh:exec", resource) when { context.program in ["ls"] };"#;
    assert!(
        PolicyEngine::from_sources(&[("test.cedar".to_owned(), policy.to_owned())], &schema)
            .is_err()
    );
}

#[test]
fn a_policy_naming_an_undeclared_attribute_is_refused() {
    let schema = PolicySchema::new(&[&SSH_PROTOCOL]).unwrap();
    for policy in [
        r#"permit(principal, action == Gatehouse::Action::"ssh:exec", resource) when { context.argv == "ls" };"#,
        // `path` belongs to sftp, not to exec.
        r#"permit(principal, action == Gatehouse::Action::"ssh:exec", resource) when { context.path == "/" };"#,
        r#"permit(principal, action == Gatehouse::Action::"ssh:x11", resource) when { context.term == "" };"#,
    ] {
        assert!(
            PolicyEngine::from_sources(&[("test.cedar".to_owned(), policy.to_owned())], &schema)
                .is_err(),
            "{policy}"
        );
    }
}
