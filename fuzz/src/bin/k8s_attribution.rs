//! Fuzz target: a Kubernetes API request as a client could send it, through the attribution
//! the gateway decides on (`gatehouse_k8s::attribute`: path normalisation, query parsing,
//! kube-apiserver's verb/resource/namespace/name rules, the Cedar action), an exec's command
//! (`exec_request`), the Status object of a refusal, and the patch summary
//! (`patch_paths`) of its body.
//!
//! Input: `method \n path-and-query \n content-type \n body` (the first three as text, invalid
//! UTF-8 replaced; missing parts empty).
//!
//! Checked: nothing panics or hangs; an accepted target's canonical path starts with `/` and
//! holds no `//`, no `.` or `..` segment, no `%2F`/`%25`/backslash and no control character;
//! attributing the forwarded target (`request_target`) again yields the same attributes, so
//! the gateway decides on exactly what it forwards; an exec's command text is empty only
//! without `command` parameters (an empty word is quoted); a patch summary never holds more than
//! `MAX_PATCH_PATHS` paths.

use gatehouse_k8s::{MAX_PATCH_PATHS, StatusReason, attribute, exec_request, patch_paths, status};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut parts = data.splitn(4, |&byte| byte == b'\n');
        let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let (method, target, content_type) = (text(), text(), text());
        let body = parts.next().unwrap_or_default();

        if let Ok(attributes) = attribute(&method, &target) {
            let path = attributes.path.as_str();
            assert!(path.starts_with('/'), "{path:?}");
            assert!(!path.contains("//"), "{path:?}");
            assert!(
                path.split('/')
                    .all(|segment| segment != "." && segment != ".."),
                "{path:?}"
            );
            let upper = path.to_ascii_uppercase();
            assert!(!upper.contains("%2F") && !upper.contains("%25"), "{path:?}");
            assert!(
                !path.contains('\\') && !path.chars().any(char::is_control),
                "{path:?}"
            );
            let forwarded = attributes.request_target();
            assert_eq!(
                attribute(&method, &forwarded).as_ref(),
                Ok(&attributes),
                "{target:?} forwarded as {forwarded:?}"
            );
            assert!(attributes.action().starts_with("k8s:"));
            let exec = exec_request(&attributes.query);
            let has_command = attributes.query.iter().any(|(key, _)| key == "command");
            assert_eq!(
                exec.command.is_empty(),
                !has_command,
                "an empty word is quoted"
            );
            let refusal = status(StatusReason::Forbidden, &target, Some(&attributes));
            assert_eq!(refusal["code"], 403);
        }

        if let Ok(summary) = patch_paths(&content_type, body) {
            assert!(summary.paths.len() <= MAX_PATCH_PATHS);
        }
    });
}
