//! Fuzz target: an AI agent's MCP requests to gatehouse's MCP server (`gatehouse mcp`), as the
//! client end of an in-memory stream with the stdio framing (newline-delimited JSON-RPC),
//! served by the real server (`gatehouse::fuzzing::McpServer`: rmcp's `serve` with gatehouse's
//! handler, tool catalogue, argument parsing and tools), or one tool call straight through the
//! server's dispatch. The server has the quickstart configuration, no store (the tools that
//! need one answer with a tool error) and a gateway address on loopback where nothing listens,
//! so `query` goes as far as the connect and fails there.
//!
//! Input: byte 0: bits 0–1 the mode: 0 and 3 a session that starts with a valid `initialize`
//! and `notifications/initialized` (so mutations reach `tools/list` and `tools/call` with any
//! tool name and arguments), then the rest of the input; 1 a session of only the rest of the
//! input (the handshake fuzzed too); 2 one tool call: the rest is the tool's name, a NUL byte,
//! and its arguments as a JSON object. Bits 2–4: the in-memory stream's buffer, 16 B–2 KiB, so
//! messages arrive split at many points. Runs on a current-thread runtime with a paused clock.
//!
//! Checked: nothing panics or hangs (the run ends within 300 s of virtual time); every line
//! the server writes is a JSON-RPC 2.0 object, a response has a result or an error, and its id
//! is one the client sent, answered at most as often as it was sent; every request the client
//! sent that is well-formed (checked here independently of rmcp: `ping`, `tools/list`,
//! `tools/call` with a string `name` and object `arguments`, a string or integer id used once,
//! no duplicate keys, no cancellation in the session) is answered exactly once with its id
//! while the session runs, or the session has ended; `initialize` is answered by `gatehouse`;
//! after the handshake, a `tools/list` lists the six tools with input schemas and a `tools/call`
//! answers a result with content, a failing tool a tool error (`isError`) with a message, never
//! a protocol error (without the handshake rmcp may refuse either with one); a direct
//! call of a tool that does not exist is a tool error naming it.

use gatehouse::fuzzing::McpServer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// The whole run, in virtual time.
const BOUND: Duration = Duration::from_secs(300);
/// How long the client waits for the answers it expects before it closes the stream.
const ANSWER_WAIT: Duration = Duration::from_secs(120);
const INIT_ID: &str = "gatehouse-fuzz-initialize";
const HANDSHAKE: &str = concat!(
    r#"{"jsonrpc":"2.0","id":"gatehouse-fuzz-initialize","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}"#,
    "\n",
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    "\n"
);
const TOOLS: [&str; 6] = [
    "list_connections",
    "describe_connection",
    "query",
    "approval_status",
    "run_approved",
    "request_access",
];

/// A loopback address where nothing listens: bound once, then let go.
static GATEWAY: LazyLock<SocketAddr> = LazyLock::new(|| {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().expect("its address")
});

static SERVER: LazyLock<McpServer> = LazyLock::new(|| {
    let dir: PathBuf = std::env::temp_dir().join("gatehouse-fuzz-mcp");
    McpServer::new(&dir, *GATEWAY).expect("the MCP server's data directory")
});

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&control, rest)) = data.split_first() else {
            return;
        };
        let buffer = 16 << ((control >> 2) & 7);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
        runtime.block_on(async {
            let run = async {
                match control & 3 {
                    2 => direct_call(rest).await,
                    1 => session(rest.to_vec(), buffer, false).await,
                    _ => {
                        let mut input = HANDSHAKE.as_bytes().to_vec();
                        input.extend_from_slice(rest);
                        session(input, buffer, true).await;
                    }
                }
            };
            if tokio::time::timeout(BOUND, run).await.is_err() {
                panic!("the MCP server did not finish within {BOUND:?}");
            }
        });
    });
}

/// One tool call through the server's dispatch.
async fn direct_call(rest: &[u8]) {
    let (name, arguments) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b"{}"[..]),
    };
    let name = String::from_utf8_lossy(name);
    let Ok(Value::Object(arguments)) = serde_json::from_slice::<Value>(arguments) else {
        return;
    };
    match SERVER.call_tool(&name, arguments).await {
        Ok(value) => assert!(
            value.is_object(),
            "tool `{name}` answered {value}, not an object"
        ),
        Err(message) => {
            assert!(
                !message.is_empty(),
                "tool `{name}` failed without a message"
            );
            if !TOOLS.contains(&name.as_ref()) {
                assert!(
                    message.contains("there is no tool"),
                    "unknown tool `{name}` failed with {message:?}"
                );
            }
        }
    }
}

/// What the client sent: how often each id was sent, which requests must be answered, and
/// what each expected id asked for.
struct Sent {
    ids: HashMap<String, usize>,
    expected: HashMap<String, String>,
}

fn what_was_sent(input: &[u8]) -> Sent {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut candidates: Vec<(String, String)> = Vec::new();
    let mut cancelling = false;
    // A last line without its newline is never delivered (the stream ends first).
    let complete = match input.iter().rposition(|&b| b == b'\n') {
        Some(end) => &input[..end],
        None => &[][..],
    };
    for line in complete.split(|&b| b == b'\n') {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if let Some(method) = value.get("method").and_then(Value::as_str)
            && method.contains("cancel")
        {
            cancelling = true;
        }
        let Some(id) = value.get("id") else {
            continue;
        };
        let key = id_key(id);
        *ids.entry(key.clone()).or_default() += 1;
        if let Some(method) = well_formed_request(&value, line) {
            candidates.push((key, method));
        }
    }
    let expected = if cancelling {
        HashMap::new()
    } else {
        candidates
            .into_iter()
            .filter(|(key, _)| ids.get(key) == Some(&1))
            .collect()
    };
    Sent { ids, expected }
}

/// An id as the server reads it (rmcp's `NumberOrString`): a number in float form that is an
/// integer below 2^53 is that integer, so `-0` and `1e6` are answered as `0` and `1000000`
/// (found by this target: its first version took them for ids the client never sent).
fn id_key(id: &Value) -> String {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    match id.as_i64() {
        Some(integer) => integer.to_string(),
        None => match id.as_f64() {
            Some(float) if float.fract() == 0.0 && float.abs() < MAX_EXACT => {
                (float as i64).to_string()
            }
            _ => id.to_string(),
        },
    }
}

/// The method of a request any MCP server must answer, judged without rmcp: a JSON-RPC 2.0
/// object with exactly `jsonrpc`, `id` (a string or a 64-bit integer), `method` and maybe
/// `params`, no key twice anywhere; `ping` and `tools/list` without parameters, `tools/call`
/// with a string `name` and maybe object `arguments` and nothing else.
fn well_formed_request(value: &Value, line: &[u8]) -> Option<String> {
    let object = value.as_object()?;
    if serde_json::from_slice::<NoDuplicateKeys>(line).is_err()
        || object.get("jsonrpc")? != "2.0"
        || !object
            .keys()
            .all(|key| ["jsonrpc", "id", "method", "params"].contains(&key.as_str()))
    {
        return None;
    }
    let id = object.get("id")?;
    if !(id.is_string() || id.as_i64().is_some()) {
        return None;
    }
    let method = object.get("method")?.as_str()?;
    let params = object.get("params");
    let fine = match method {
        "ping" | "tools/list" => params.is_none(),
        "tools/call" => params.and_then(Value::as_object).is_some_and(|params| {
            params.get("name").is_some_and(Value::is_string)
                && params.get("arguments").is_none_or(Value::is_object)
                && params.keys().all(|key| key == "name" || key == "arguments")
        }),
        _ => false,
    };
    fine.then(|| method.to_owned())
}

/// Any JSON, refused if an object has a key twice (rmcp's typed messages refuse that, a
/// `serde_json::Value` keeps the last).
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_unit<E>(self) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicateKeys, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicateKeys, A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

/// A session: the client writes `input`, waits for the answers it expects (or the end of the
/// session), closes its side and reads the server's output to its end.
async fn session(input: Vec<u8>, buffer: usize, handshake: bool) {
    let sent = what_was_sent(&input);
    let (client, server_end) = tokio::io::duplex(buffer);
    let (reader, mut writer) = tokio::io::split(client);
    let (answered_tx, mut answered_rx) = watch::channel(HashMap::<String, usize>::new());
    let (ended_tx, ended_rx) = watch::channel(false);

    let serve = async {
        let result = SERVER.serve(server_end).await;
        let _ = ended_tx.send(true);
        result
    };
    let write = async {
        // The server may stop reading (a session that ended); what was not written is lost.
        let _ = writer.write_all(&input).await;
        let _ = writer.flush().await;
        let mut ended = ended_rx.clone();
        let all_answered = async {
            answered_rx
                .wait_for(|answered| sent.expected.keys().all(|id| answered.contains_key(id)))
                .await
                .is_ok()
        };
        let session_ended = async {
            let _ = ended.wait_for(|ended| *ended).await;
        };
        let waited = tokio::time::timeout(ANSWER_WAIT, async {
            tokio::select! {
                _ = all_answered => {}
                () = session_ended => {}
            }
        })
        .await;
        let ended_before_close = *ended_rx.borrow();
        let _ = writer.shutdown().await;
        (waited.is_ok(), ended_before_close)
    };
    let read = async {
        let mut lines = BufReader::new(reader).lines();
        let mut responses = Vec::new();
        loop {
            let line = match lines.next_line().await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(error) => panic!("the server's output is not lines of text: {error}"),
            };
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|error| panic!("the server wrote {line:?}, not JSON: {error}"));
            check_message(&message, &sent);
            if let Some(id) = message.get("id").filter(|id| !id.is_null()) {
                answered_tx.send_modify(|answered| {
                    *answered.entry(id_key(id)).or_default() += 1;
                });
            }
            responses.push(message);
        }
        responses
    };
    let (served, (waited, ended_before_close), responses) = tokio::join!(serve, write, read);

    assert!(
        waited,
        "requests {:?} were not answered within {ANSWER_WAIT:?} and the session did not end",
        sent.expected
    );
    let answered = answered_tx.borrow().clone();
    for (id, count) in &answered {
        let sent_count = sent.ids.get(id).copied().unwrap_or(0);
        assert!(
            *count <= sent_count,
            "id {id} answered {count} times, sent {sent_count} times"
        );
    }
    for (id, method) in &sent.expected {
        assert!(
            answered.contains_key(id) || ended_before_close,
            "{method} request {id} was never answered, though the session went on"
        );
    }
    if handshake {
        if let Err(error) = &served {
            assert!(
                !error.contains("could not start"),
                "a valid handshake did not start the session: {error}"
            );
        }
        let init_key = id_key(&Value::from(INIT_ID));
        if sent.ids.get(&init_key) == Some(&1) {
            let init = responses
                .iter()
                .find(|message| message.get("id") == Some(&Value::from(INIT_ID)))
                .unwrap_or_else(|| panic!("initialize was not answered: {responses:?}"));
            assert_eq!(
                init.pointer("/result/serverInfo/name"),
                Some(&Value::from("gatehouse")),
                "initialize answered {init}"
            );
        }
    }
    if std::env::var_os("MCP_FUZZ_SHOW").is_some() {
        for message in &responses {
            eprintln!("{message}");
        }
    }
    for message in &responses {
        let Some(id) = message.get("id") else {
            continue;
        };
        // Without the handshake, rmcp may refuse a request with a protocol error.
        if !handshake && message.get("error").is_some() {
            continue;
        }
        match sent.expected.get(&id_key(id)).map(String::as_str) {
            Some("tools/list") => check_tools_list(message),
            Some("tools/call") => check_tool_result(message),
            _ => {}
        }
    }
}

/// A line from the server: a JSON-RPC 2.0 response (result or error) to an id the client
/// sent, or a message of the server's own (a method).
fn check_message(message: &Value, sent: &Sent) {
    assert_eq!(
        message.get("jsonrpc"),
        Some(&Value::from("2.0")),
        "not JSON-RPC 2.0: {message}"
    );
    let parts = ["result", "error", "method"]
        .iter()
        .filter(|key| message.get(**key).is_some())
        .count();
    assert_eq!(parts, 1, "neither a response nor a message: {message}");
    if message.get("method").is_some() {
        return;
    }
    if let Some(error) = message.get("error") {
        assert!(
            error.get("code").is_some_and(Value::is_i64)
                && error.get("message").is_some_and(Value::is_string),
            "malformed error: {message}"
        );
    }
    if let Some(id) = message.get("id").filter(|id| !id.is_null()) {
        assert!(
            sent.ids.contains_key(&id_key(id)),
            "the server answered id {id}, which the client never sent: {message}"
        );
    }
}

fn check_tools_list(message: &Value) {
    let tools = message
        .pointer("/result/tools")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("tools/list answered {message}"));
    let names: HashSet<&str> = tools
        .iter()
        .map(|tool| {
            assert!(
                tool.get("inputSchema").is_some_and(Value::is_object),
                "a tool without an input schema: {tool}"
            );
            tool.get("name")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("a tool without a name: {tool}"))
        })
        .collect();
    assert_eq!(names, HashSet::from(TOOLS), "tools/list answered {message}");
}

fn check_tool_result(message: &Value) {
    let Some(result) = message.get("result") else {
        panic!("a tools/call answered with a protocol error instead of a tool error: {message}");
    };
    let content = result
        .get("content")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("a tool result without content: {message}"));
    if result.get("isError") == Some(&Value::Bool(true)) {
        let text = content
            .first()
            .and_then(|block| block.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            !text.is_empty(),
            "a tool error without a message: {message}"
        );
    } else {
        assert!(
            result
                .get("structuredContent")
                .is_some_and(Value::is_object),
            "a tool result without structured content: {message}"
        );
    }
}
