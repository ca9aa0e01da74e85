//! An exec's command as Cedar sees it (the whole text, the program, the argument set) and its
//! container and stream options, read from the query as kube-apiserver reads them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_k8s::{ExecRequest, attribute, exec_request};

fn exec(target: &str) -> ExecRequest {
    exec_request(&attribute("POST", target).unwrap().query)
}

#[test]
fn the_command_keeps_its_words_in_order() {
    let request = exec(
        "/api/v1/namespaces/a/pods/web/exec?container=app&command=%2Fbin%2Fsh&command=-c\
         &command=cat+%2Fetc%2Fpasswd&stdin=true&stdout=true&tty=true",
    );
    assert_eq!(request.container, "app");
    assert!(request.stdin && request.tty);
    assert_eq!(request.command, "/bin/sh -c 'cat /etc/passwd'");
    assert_eq!(request.program, "sh");
    assert!(request.args.iter().eq(["-c", "cat /etc/passwd"]));
}

#[test]
fn words_are_quoted_only_when_a_shell_would_need_it() {
    let request = exec(
        "/api/v1/namespaces/a/pods/web/exec?command=echo&command=it%27s&command=&command=a%3Db,c\
         &command=%24HOME&command=x%0Ay&command=-n",
    );
    assert_eq!(
        request.command,
        r"echo 'it'\''s' '' a=b,c '$HOME' 'x
y' -n"
    );
    assert_eq!(request.program, "echo");
    assert!(
        request
            .args
            .iter()
            .eq(["", "$HOME", "-n", "a=b,c", "it's", "x\ny"])
    );
}

#[test]
fn repeated_arguments_form_a_set() {
    let request = exec("/api/v1/namespaces/a/pods/web/exec?command=ls&command=-l&command=-l");
    assert_eq!(request.command, "ls -l -l");
    assert_eq!(request.args.len(), 1);
}

#[test]
fn booleans_and_the_container_follow_kube_apiserver() {
    let request =
        exec("/api/v1/namespaces/a/pods/web/attach?container=one&container=two&stdin&tty=FALSE");
    assert_eq!(request.container, "one", "the first value counts");
    assert!(request.stdin, "a bare parameter is true");
    assert!(!request.tty);
    assert!(!exec("/api/v1/namespaces/a/pods/web/attach?tty=0").tty);
}

#[test]
fn an_attach_has_no_command() {
    let request = exec("/api/v1/namespaces/a/pods/web/attach?stdout=1");
    assert_eq!(
        request,
        ExecRequest {
            container: String::new(),
            tty: false,
            stdin: false,
            command: String::new(),
            program: String::new(),
            args: Default::default(),
        }
    );
}
