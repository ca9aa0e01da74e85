//! Writes the seed corpora of the binary-input targets into `fuzz/corpus/<target>/`: protocol
//! messages built with gatehouse's own wire builders, and a recording written by
//! `RecordingWriter`. Text seeds (SQL, policies, masking values and configurations) and the
//! captured psql session are checked in as they are; see `corpus/README.md`.
//!
//! `cargo afl run --release --example make_seeds -- fuzz/corpus` (from `fuzz/`, `cargo run`
//! works as well but rebuilds every dependency without instrumentation).

use bytes::BytesMut;
use gatehouse_pg::wire::tags::{backend, frontend, target_kind, transaction_status};
use gatehouse_pg::wire::{self, Severity};
use gatehouse_recording::{RecordingEvent, RecordingHeader, RecordingWriter, WriterConfig};
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "corpus".to_owned()),
    );
    frontend(&root.join("pg_frontend"));
    backend(&root.join("pg_backend"));
    recording(&root.join("recording_parse"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    wire::raw_message(tag, body).to_vec()
}

/// Control bytes of `pg_frontend`: reads of 64 bytes, limit 8168 bytes.
const FRONT: [u8; 2] = [63, 255];

fn frontend(dir: &Path) {
    let startup = wire::startup_message(&[
        ("user", "ana"),
        ("database", "demo"),
        ("application_name", "psql"),
        ("client_encoding", "UTF8"),
    ]);
    let mut simple = FRONT.to_vec();
    simple.extend_from_slice(&startup);
    simple.extend_from_slice(&wire::password_message("gh_0123abcd_secretsecret"));
    simple.extend_from_slice(&wire::query("SELECT * FROM users WHERE id = 1; BEGIN"));
    simple.extend_from_slice(&frame(frontend::TERMINATE, &[]));
    write(dir, "simple_query", &simple);

    let mut extended = FRONT.to_vec();
    extended.extend_from_slice(&wire::request_code(wire::SSL_REQUEST_CODE, None));
    extended.extend_from_slice(&wire::startup_message(&[
        ("user", "gatehouse"),
        ("database", "demo"),
        ("_pq_.compression", "on"),
    ]));
    extended.extend_from_slice(&wire::password_message("gh_token"));
    let mut out = BytesMut::new();
    wire::parse(
        &mut out,
        "s1",
        b"SELECT $1::text, $2::int4",
        &[0, 2, 0, 0, 0, 25, 0, 0, 0, 23],
    );
    wire::bind(
        &mut out,
        "p1",
        "s1",
        &[
            0, 1, 0, 0, 0, 2, 0, 0, 0, 3, b'a', b'@', b'b', 0, 0, 0, 1, b'7', 0, 1, 0, 1,
        ],
    );
    wire::target(&mut out, frontend::DESCRIBE, target_kind::PORTAL, "p1");
    wire::execute(&mut out, "p1", 0);
    out.extend_from_slice(&frame(frontend::SYNC, &[]));
    wire::parse(&mut out, "", b"DELETE FROM t RETURNING *", &[0, 0]);
    wire::bind(&mut out, "", "", &[0, 0, 0, 0, 0, 0]);
    wire::execute(&mut out, "", 10);
    out.extend_from_slice(&frame(frontend::FLUSH, &[]));
    wire::target(&mut out, frontend::CLOSE, target_kind::STATEMENT, "s1");
    wire::target(&mut out, frontend::DESCRIBE, target_kind::STATEMENT, "");
    out.extend_from_slice(&frame(frontend::SYNC, &[]));
    out.extend_from_slice(&frame(
        frontend::FUNCTION_CALL,
        &[0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ));
    out.extend_from_slice(&frame(frontend::COPY_DATA, b"1\tjane@example.com\n"));
    out.extend_from_slice(&frame(frontend::COPY_DONE, &[]));
    out.extend_from_slice(&frame(frontend::COPY_FAIL, b"client gave up\0"));
    out.extend_from_slice(&frame(frontend::TERMINATE, &[]));
    extended.extend_from_slice(&out);
    write(dir, "ssl_extended_protocol", &extended);

    let mut cancel = FRONT.to_vec();
    cancel.extend_from_slice(&wire::request_code(
        wire::CANCEL_REQUEST_CODE,
        Some((4242, -17)),
    ));
    write(dir, "cancel_request", &cancel);

    let mut gss = vec![0, 8];
    gss.extend_from_slice(&wire::request_code(wire::GSSENC_REQUEST_CODE, None));
    let mut v32 = wire::startup_message(&[("user", "ana")]).to_vec();
    v32[4..8].copy_from_slice(&(3 << 16 | 2i32).to_be_bytes());
    gss.extend_from_slice(&v32);
    gss.extend_from_slice(&frame(frontend::PASSWORD_MESSAGE, b"token\0"));
    gss.extend_from_slice(&frame(frontend::QUERY, b"SHOW search_path\0"));
    write(dir, "gssenc_protocol_3_2_one_byte_reads", &gss);
}

/// Control byte of `pg_backend`: masking configuration (low 3 bits), table `users` (8), CSV (16).
fn backend(dir: &Path) {
    let mut md5 = vec![63, 0];
    md5.extend_from_slice(&wire::authentication(5, &[1, 2, 3, 4]));
    md5.extend_from_slice(&wire::authentication(0, &[]));
    md5.extend_from_slice(&wire::parameter_status("server_version", "15.20"));
    md5.extend_from_slice(&wire::backend_key_data(4242, 1717));
    md5.extend_from_slice(&frame(
        backend::NOTICE_RESPONSE,
        b"SNOTICE\0C00000\0Mhello\0\0",
    ));
    md5.extend_from_slice(&wire::ready_for_query(transaction_status::IDLE));
    write(dir, "auth_md5_startup", &md5);

    let mut scram = vec![63, 0];
    scram.extend_from_slice(&wire::authentication(
        10,
        b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0",
    ));
    scram.extend_from_slice(&wire::authentication(
        11,
        b"r=3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    ));
    scram.extend_from_slice(&wire::authentication(
        12,
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    ));
    scram.extend_from_slice(&wire::authentication(0, &[]));
    scram.extend_from_slice(&wire::ready_for_query(transaction_status::IDLE));
    write(dir, "auth_scram", &scram);

    // Binary and text columns of every layout the masking plan knows.
    let columns: &[(&str, u32, i16)] = &[
        ("id", 23, 1),
        ("small", 21, 1),
        ("big", 20, 1),
        ("amount", 1700, 1),
        ("doc", 3802, 1),
        ("email", 25, 0),
        ("note1", 1043, 0),
        ("password_hash", 25, 0),
        ("ssn", 1042, 0),
        ("api_token", 17, 0),
        ("seen", 1114, 0),
        ("addr", 869, 0),
    ];
    let mut description = (columns.len() as i16).to_be_bytes().to_vec();
    for (name, oid, format) in columns {
        description.extend_from_slice(name.as_bytes());
        description.push(0);
        description.extend_from_slice(&16384u32.to_be_bytes());
        description.extend_from_slice(&1i16.to_be_bytes());
        description.extend_from_slice(&oid.to_be_bytes());
        description.extend_from_slice(&(-1i16).to_be_bytes());
        description.extend_from_slice(&(-1i32).to_be_bytes());
        description.extend_from_slice(&format.to_be_bytes());
    }
    let numeric: &[u8] = &[
        0, 4, 0, 3, 0, 0, 0, 0, 0x10, 0x0f, 0x04, 0x57, 0x04, 0x57, 0x04, 0x57,
    ];
    let values: [&[&[u8]]; 2] = [
        &[
            &7i32.to_be_bytes(),
            &7i16.to_be_bytes(),
            &4_111_111_111_111_111i64.to_be_bytes(),
            numeric,
            b"\x01{\"mail\": \"jane.doe@example.com\"}",
            b"jane.doe@example.com",
            b"card 4111 1111 1111 1111",
            b"$2b$12$abc",
            b"123-45-6789",
            b"\\xdeadbeef",
            b"2024-01-15 10:30:00",
            b"192.168.1.20",
        ],
        &[
            &(-1i32).to_be_bytes(),
            &0i16.to_be_bytes(),
            &0i64.to_be_bytes(),
            &[0, 0, 0, 0, 0, 0, 0, 0],
            b"\x01{}",
            b"nothing here",
            b"ORD-12345678",
            b"",
            b"\xff\xfe",
            b"",
            b"x",
            b"2001:db8::1",
        ],
    ];
    let mut result = vec![63, 8 | 5];
    result.extend_from_slice(&frame(backend::ROW_DESCRIPTION, &description));
    for row in values {
        let mut body = (row.len() as i16).to_be_bytes().to_vec();
        for value in row {
            body.extend_from_slice(&(value.len() as i32).to_be_bytes());
            body.extend_from_slice(value);
        }
        result.extend_from_slice(&frame(backend::DATA_ROW, &body));
    }
    let mut null_row = (columns.len() as i16).to_be_bytes().to_vec();
    for _ in columns {
        null_row.extend_from_slice(&(-1i32).to_be_bytes());
    }
    result.extend_from_slice(&frame(backend::DATA_ROW, &null_row));
    result.extend_from_slice(&frame(backend::COMMAND_COMPLETE, b"SELECT 3\0"));
    result.extend_from_slice(&wire::ready_for_query(transaction_status::IN_TRANSACTION));
    write(dir, "masked_result_every_layout", &result);
    let mut default_config = result.clone();
    default_config[1] = 0;
    write(dir, "masked_result_default_config", &default_config);

    let mut copy = vec![63, 0];
    copy.extend_from_slice(&frame(
        backend::COPY_OUT_RESPONSE,
        &[0, 0, 3, 0, 0, 0, 0, 0, 0],
    ));
    copy.extend_from_slice(&frame(
        backend::COPY_DATA,
        b"1\tjane.doe@example.com\t\\N\n",
    ));
    copy.extend_from_slice(&frame(
        backend::COPY_DATA,
        b"2\tcard\\t4111 1111 1111 1111\tok\\\\x\n",
    ));
    copy.extend_from_slice(&frame(backend::COPY_DONE, &[]));
    copy.extend_from_slice(&frame(backend::COMMAND_COMPLETE, b"COPY 2\0"));
    write(dir, "copy_out_text", &copy);
    let mut csv = vec![63, 16 | 1];
    csv.extend_from_slice(&frame(backend::COPY_OUT_RESPONSE, &[0, 0, 2, 0, 0, 0, 0]));
    csv.extend_from_slice(&frame(backend::COPY_DATA, b"1,\"jane.doe@example.com\",\n"));
    csv.extend_from_slice(&frame(
        backend::COPY_DATA,
        b"2,\"a \"\"quoted\"\" 123-45-6789\",x\r\n",
    ));
    csv.extend_from_slice(&frame(backend::COPY_DONE, &[]));
    write(dir, "copy_out_csv", &csv);

    let mut error = vec![0, 0];
    error.extend_from_slice(&wire::error_response(
        Severity::Error,
        "26000",
        "prepared statement \"gh_refused_0011223344556677\" does not exist",
        Some("detail"),
        Some("hint"),
    ));
    error.extend_from_slice(&wire::ready_for_query(transaction_status::FAILED));
    write(dir, "error_response", &error);
}

fn recording(dir: &Path) {
    let header = RecordingHeader {
        session: "s-0123456789abcdef".into(),
        subject: "ana".into(),
        connection: "demo".into(),
        started_at: time::macros::datetime!(2026-05-01 09:00:00.25 UTC),
        gatehouse_version: "0.1.0".into(),
    };
    let config = WriterConfig {
        max_events: 2,
        ..WriterConfig::default()
    };
    let mut writer = RecordingWriter::with_config(header, config).expect("writer");
    let mut bytes = Vec::new();
    for line in EVENTS.lines() {
        let event: RecordingEvent = serde_json::from_str(line).expect("event parses");
        if let Some(chunk) = writer.push(&event).expect("event pushed") {
            bytes.extend(chunk.bytes);
        }
    }
    let finished = writer.finish().expect("finished");
    bytes.extend(finished.chunk.map(|chunk| chunk.bytes).unwrap_or_default());
    let mut raw = vec![0];
    raw.extend_from_slice(&bytes);
    write(dir, "written_session", &raw);

    // Assembled mode: header JSON, then chunk bodies, separated by FF FE.
    let mut assembled = vec![1 | (2 << 1) | (3 << 4)];
    assembled.extend_from_slice(HEADER.as_bytes());
    let lines: Vec<&str> = EVENTS.lines().collect();
    for pair in lines.chunks(3) {
        assembled.extend_from_slice(b"\xff\xfe");
        for line in pair {
            assembled.extend_from_slice(line.as_bytes());
            assembled.push(b'\n');
        }
    }
    write(dir, "assembled_session", &assembled);
}

const HEADER: &str = r#"{"session":"s-0123456789abcdef","subject":"ana","connection":"demo","started_at":"2026-05-01T09:00:00.25Z","gatehouse_version":"0.1.0"}"#;

const EVENTS: &str = r#"{"at_us":0,"type":"session_start","session":"s-0123456789abcdef","subject":"ana","identity_kind":"human","groups":["readers"],"connection":"demo","connection_kind":"postgres","source_address":"10.0.0.7:51234","started_at":"2026-05-01T09:00:00.25Z","gatehouse_version":"0.1.0"}
{"at_us":12031,"type":"request","request":0,"action":"sql:select","decision":"allow","policies":["readers-read"],"statement":"SELECT id, email FROM customers WHERE id = 7","fingerprint":"a1b2c3d4e5f60718","audit_seq":1042}
{"at_us":12398,"type":"rows","request":0,"rows":[["7","a***@example.com"],[null,"\u001b[31mred\ttab\n"]]}
{"at_us":12455,"type":"result","request":0,"columns":[{"name":"id","type_name":"int8","type_oid":20},{"name":"email","type_name":"text","type_oid":25}],"rows":2,"bytes":38,"duration_us":424,"command_tag":"SELECT 2","masked":{"email":1}}
{"at_us":13000,"type":"request","request":1,"action":"sql:delete","decision":"hold","statement":"DELETE FROM t"}
{"at_us":14000,"type":"approval","request":1,"approval_id":"ap-1","state":"rejected","by":"bob"}
{"at_us":15000,"type":"request","request":2,"action":"sql:update","decision":"deny","policies":["no-writes"],"statement":"UPDATE t SET x = 1"}
{"at_us":16000,"type":"result","request":2,"rows":0,"bytes":0,"duration_us":10,"error":{"code":"42501","message":"refused by policy"}}
{"at_us":90210,"type":"session_end","reason":"client closed the connection"}"#;
