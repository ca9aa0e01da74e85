//! The codec against a real MariaDB server (127.0.0.1:3306, root without a password, database
//! `test`) over a plain TCP connection: the greeting, a mysql_native_password login (empty and
//! real password), a text result set of several types with NULLs, a prepared statement with
//! parameters of several types and its binary rows, an ERR packet, and session-state tracking.
//! Without a server the tests print a skip, unless `CI` is set, where they fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_mysql_wire::auth::{NATIVE_PASSWORD, native_password};
use gatehouse_mysql_wire::collation::charset_of;
use gatehouse_mysql_wire::command::{
    Command, ExecuteParameters, ParameterType, StmtExecute, parse_execute_parameters,
};
use gatehouse_mysql_wire::handshake::{AuthSwitchRequest, HandshakeResponse, InitialHandshake};
use gatehouse_mysql_wire::response::{
    ColumnDefinition, ColumnType, EofPacket, ErrPacket, OkPacket, PrepareOk, ResponseKind,
    SERVER_SESSION_STATE_CHANGED, SessionStateChange, UNSIGNED_FLAG, Value, first_byte_kind,
    parse_binary_row, parse_text_row, session_state_changes,
};
use gatehouse_mysql_wire::{Capabilities, PacketReader, write_message};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const SERVER: &str = "127.0.0.1:3306";
const NATIVE_USER: &str = "gh_wire_native";
const NATIVE_SECRET: &[u8] = b"gh-wire-native-secret";

/// One connection: the stream, the reassembler and the next sequence id.
struct Connection {
    stream: TcpStream,
    reader: PacketReader,
    sequence: u8,
    capabilities: Capabilities,
}

impl Connection {
    fn receive(&mut self) -> Vec<u8> {
        loop {
            if let Some(message) = self.reader.next_message().unwrap() {
                assert_eq!(message.first_sequence, self.sequence, "server sequence id");
                self.sequence = message.last_sequence.wrapping_add(1);
                return message.payload;
            }
            let mut buffer = [0u8; 8192];
            let read = self.stream.read(&mut buffer).unwrap();
            assert!(read > 0, "server closed the connection");
            self.reader.push(&buffer[..read]);
        }
    }

    fn send(&mut self, payload: &[u8]) {
        let mut out = Vec::new();
        self.sequence = write_message(&mut out, self.sequence, payload);
        self.stream.write_all(&out).unwrap();
    }

    /// Sends a command (a new exchange: sequence ids restart at 0).
    fn command(&mut self, command: &Command<'_>) -> Vec<u8> {
        self.sequence = 0;
        self.send(&command.encode());
        self.receive()
    }

    fn query_ok(&mut self, text: &str) -> OkPacket {
        let reply = self.command(&Command::Query(text.as_bytes()));
        assert_eq!(
            first_byte_kind(&reply, self.capabilities),
            ResponseKind::Ok,
            "{text}: {:?}",
            ErrPacket::parse(&reply)
        );
        OkPacket::parse(&reply, self.capabilities).unwrap()
    }

    fn column_definitions(&mut self, count: usize) -> Vec<ColumnDefinition> {
        let columns = (0..count)
            .map(|_| ColumnDefinition::parse(&self.receive()).unwrap())
            .collect();
        self.end_of_metadata();
        columns
    }

    fn end_of_metadata(&mut self) {
        if !self.capabilities.contains(Capabilities::DEPRECATE_EOF) {
            EofPacket::parse(&self.receive()).unwrap();
        }
    }

    /// The rows of a result set up to its end (EOF, or OK under DEPRECATE_EOF).
    fn rows(&mut self) -> Vec<Vec<u8>> {
        let mut rows = Vec::new();
        loop {
            let payload = self.receive();
            if first_byte_kind(&payload, self.capabilities) == ResponseKind::Eof {
                if self.capabilities.contains(Capabilities::DEPRECATE_EOF) {
                    OkPacket::parse(&payload, self.capabilities).unwrap();
                } else {
                    EofPacket::parse(&payload).unwrap();
                }
                return rows;
            }
            assert_ne!(
                payload.first(),
                Some(&0xFF),
                "{:?}",
                ErrPacket::parse(&payload)
            );
            rows.push(payload);
        }
    }
}

fn base_capabilities() -> Capabilities {
    Capabilities::LONG_PASSWORD
        | Capabilities::LONG_FLAG
        | Capabilities::PROTOCOL_41
        | Capabilities::TRANSACTIONS
        | Capabilities::SECURE_CONNECTION
        | Capabilities::MULTI_RESULTS
        | Capabilities::PS_MULTI_RESULTS
        | Capabilities::PLUGIN_AUTH
        | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA
        | Capabilities::CONNECT_ATTRS
}

/// Logs in, or `None` (after printing a skip) when no server listens and `CI` is not set.
fn login(
    user: &str,
    password: &[u8],
    wanted: Capabilities,
) -> Option<Result<Connection, ErrPacket>> {
    let stream = match TcpStream::connect_timeout(&SERVER.parse().unwrap(), Duration::from_secs(3))
    {
        Ok(stream) => stream,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: no MariaDB server at {SERVER} ({error})");
            return None;
        }
        Err(error) => panic!("no MariaDB server at {SERVER}: {error}"),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut connection = Connection {
        stream,
        reader: PacketReader::new(1 << 24),
        sequence: 0,
        capabilities: Capabilities::default(),
    };
    let greeting = InitialHandshake::parse(&connection.receive()).unwrap();
    assert!(greeting.server_version.contains("MariaDB"), "{greeting:?}");
    assert_eq!(greeting.scramble.len(), 20);
    assert_eq!(greeting.auth_plugin, NATIVE_PASSWORD);
    assert!(greeting.capabilities.contains(Capabilities::PROTOCOL_41));
    // The greeting re-encodes to what the server sent.
    assert_eq!(
        InitialHandshake::parse(&greeting.encode()).unwrap(),
        greeting
    );
    connection.capabilities = wanted & greeting.capabilities;
    let response = HandshakeResponse {
        capabilities: connection.capabilities,
        max_packet: 1 << 24,
        collation: 45,
        user: user.as_bytes().to_vec(),
        auth_response: native_password(password, &greeting.scramble),
        database: None,
        auth_plugin: Some(NATIVE_PASSWORD.into()),
        attributes: vec![(b"_client_name".to_vec(), b"gatehouse-mysql-wire".to_vec())],
    };
    connection.send(&response.encode());
    let mut reply = connection.receive();
    if reply.first() == Some(&0xFE) {
        let switch = AuthSwitchRequest::parse(&reply).unwrap();
        assert_eq!(switch.plugin, NATIVE_PASSWORD);
        connection.send(&native_password(password, &switch.data));
        reply = connection.receive();
    }
    Some(match first_byte_kind(&reply, connection.capabilities) {
        ResponseKind::Ok => Ok(connection),
        ResponseKind::Err => Err(ErrPacket::parse(&reply).unwrap()),
        other => panic!("login answered with {other:?}"),
    })
}

fn root(wanted: Capabilities) -> Option<Connection> {
    login("root", b"", wanted).map(|result| result.unwrap())
}

#[test]
fn text_result_set_of_several_types() {
    let Some(mut connection) = root(base_capabilities()) else {
        return;
    };
    let reply = connection.command(&Command::Query(
        "SELECT 7 AS i, CAST(18446744073709551615 AS UNSIGNED) AS big, 'h\u{e9}llo' AS s, \
         NULL AS n, 1.5e0 AS d, 12.34 AS dec_col, DATE '2024-01-02' AS dd \
         UNION ALL SELECT -1, CAST(0 AS UNSIGNED), NULL, NULL, -0.25e0, -1.00, NULL"
            .as_bytes(),
    ));
    assert_eq!(
        first_byte_kind(&reply, connection.capabilities),
        ResponseKind::ResultSet { columns: 7 }
    );
    let columns = connection.column_definitions(7);
    let names: Vec<&[u8]> = columns.iter().map(|c| c.name.as_slice()).collect();
    assert_eq!(
        names,
        [&b"i"[..], b"big", b"s", b"n", b"d", b"dec_col", b"dd"]
    );
    assert_eq!(columns[1].column_type, ColumnType::LongLong);
    assert_ne!(columns[1].flags & UNSIGNED_FLAG, 0);
    assert_eq!(columns[2].column_type, ColumnType::VarString);
    assert_eq!(columns[4].column_type, ColumnType::Double);
    assert_eq!(columns[5].column_type, ColumnType::NewDecimal);
    assert_eq!(columns[6].column_type, ColumnType::Date);
    for column in &columns {
        assert_eq!(ColumnDefinition::parse(&column.encode()).unwrap(), *column);
    }
    let rows = connection.rows();
    assert_eq!(rows.len(), 2);
    let first = parse_text_row(&rows[0], 7).unwrap();
    assert_eq!(
        first,
        [
            Some(&b"7"[..]),
            Some(b"18446744073709551615"),
            Some("h\u{e9}llo".as_bytes()),
            None,
            Some(b"1.5"),
            Some(b"12.34"),
            Some(b"2024-01-02"),
        ]
    );
    let second = parse_text_row(&rows[1], 7).unwrap();
    assert_eq!(
        second,
        [
            Some(&b"-1"[..]),
            Some(b"0"),
            None,
            None,
            Some(b"-0.25"),
            Some(b"-1.00"),
            None
        ]
    );
}

#[test]
fn prepared_statement_with_parameters_and_binary_rows() {
    let Some(mut connection) = root(base_capabilities()) else {
        return;
    };
    connection.query_ok(
        "CREATE OR REPLACE TABLE test.gh_wire_types (id INT PRIMARY KEY, tiny TINYINT, \
         big BIGINT UNSIGNED, txt VARCHAR(20), dbl DOUBLE, flt FLOAT, dt DATETIME(6), d DATE, \
         tm TIME, dec_col DECIMAL(10,2), nul INT)",
    );
    connection.query_ok(
        "INSERT INTO test.gh_wire_types VALUES (1, -7, 18446744073709551615, 'h\u{e9}llo', 2.5, \
         1.25, '2024-02-29 13:14:15.123456', '2024-01-02', '-26:03:04', 12.34, NULL)",
    );
    let reply = connection.command(&Command::StmtPrepare(
        b"SELECT t.*, ? AS echo_int, ? AS echo_text, ? AS echo_double, ? AS echo_null, \
          ? AS echo_date FROM test.gh_wire_types t WHERE t.id = ?",
    ));
    let prepared = PrepareOk::parse(&reply).unwrap();
    assert_eq!(prepared.parameters, 6);
    connection.column_definitions(6);
    connection.column_definitions(usize::from(prepared.columns));
    let date = Value::Date {
        year: 2023,
        month: 12,
        day: 31,
        hour: 23,
        minute: 59,
        second: 58,
        micros: 0,
    };
    let parameter = |column_type, unsigned| ParameterType {
        column_type,
        unsigned,
    };
    let parameters = ExecuteParameters {
        types: vec![
            parameter(ColumnType::LongLong, false),
            parameter(ColumnType::VarString, false),
            parameter(ColumnType::Double, false),
            parameter(ColumnType::Long, false),
            parameter(ColumnType::DateTime, false),
            parameter(ColumnType::Tiny, true),
        ],
        values: vec![
            Value::Int(-42),
            Value::Bytes(b"it's".to_vec()),
            Value::Double(2.5),
            Value::Null,
            date.clone(),
            Value::UInt(1),
        ],
        new_params_bound: true,
    };
    let rest = parameters.encode().unwrap();
    let execute = Command::StmtExecute(StmtExecute {
        statement: prepared.statement,
        flags: 0,
        iterations: 1,
        rest: &rest,
    });
    // What the gateway would decode from this execute.
    let execute_message = execute.encode();
    let Command::StmtExecute(decoded) =
        gatehouse_mysql_wire::command::parse_command(&execute_message).unwrap()
    else {
        panic!("not an execute");
    };
    assert_eq!(
        parse_execute_parameters(decoded.rest, 6, None).unwrap(),
        parameters
    );
    let reply = connection.command(&execute);
    let ResponseKind::ResultSet { columns } = first_byte_kind(&reply, connection.capabilities)
    else {
        panic!("execute answered {:?}", ErrPacket::parse(&reply));
    };
    let columns = connection.column_definitions(usize::try_from(columns).unwrap());
    assert_eq!(columns.len(), 16);
    let rows = connection.rows();
    assert_eq!(rows.len(), 1);
    let values = parse_binary_row(&rows[0], &columns).unwrap();
    let expected_table = [
        Value::Int(1),
        Value::Int(-7),
        Value::UInt(u64::MAX),
        Value::Bytes("h\u{e9}llo".as_bytes().to_vec()),
        Value::Double(2.5),
        Value::Float(1.25),
        Value::Date {
            year: 2024,
            month: 2,
            day: 29,
            hour: 13,
            minute: 14,
            second: 15,
            micros: 123_456,
        },
        Value::Date {
            year: 2024,
            month: 1,
            day: 2,
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        },
        Value::Time {
            negative: true,
            days: 1,
            hours: 2,
            minutes: 3,
            seconds: 4,
            micros: 0,
        },
        Value::Bytes(b"12.34".to_vec()),
        Value::Null,
    ];
    assert_eq!(values[..11], expected_table);
    let echoed: Vec<Option<String>> = values[11..].iter().map(Value::to_text).collect();
    assert_eq!(
        echoed,
        [
            Some("-42".to_string()),
            Some("it's".to_string()),
            Some("2.5".to_string()),
            None,
            Some("2023-12-31 23:59:58".to_string()),
        ]
    );
    // The row re-encodes to the bytes the server sent.
    assert_eq!(
        gatehouse_mysql_wire::response::encode_binary_row(&values, &columns).unwrap(),
        rows[0]
    );
    connection.sequence = 0;
    connection.send(&Command::StmtClose(prepared.statement).encode());
    connection.query_ok("DROP TABLE test.gh_wire_types");
}

#[test]
fn err_packet_of_a_bad_query() {
    let Some(mut connection) = root(base_capabilities()) else {
        return;
    };
    let reply = connection.command(&Command::Query(b"SELEC 1"));
    assert_eq!(
        first_byte_kind(&reply, connection.capabilities),
        ResponseKind::Err
    );
    let err = ErrPacket::parse(&reply).unwrap();
    assert_eq!(err.code, 1064);
    assert_eq!(&err.sql_state, b"42000");
    let message = String::from_utf8_lossy(&err.message);
    assert!(message.contains("SQL syntax"), "{message}");
    assert_eq!(ErrPacket::parse(&err.encode()).unwrap(), err);
}

#[test]
fn session_state_tracking() {
    let Some(mut connection) = root(base_capabilities() | Capabilities::SESSION_TRACK) else {
        return;
    };
    assert!(
        connection
            .capabilities
            .contains(Capabilities::SESSION_TRACK)
    );
    connection.query_ok(
        "SET SESSION session_track_system_variables='sql_mode,character_set_client', \
         session_track_schema=ON",
    );
    let ok = connection.query_ok("SET sql_mode='ANSI_QUOTES'");
    assert_ne!(ok.status & SERVER_SESSION_STATE_CHANGED, 0);
    let changes = session_state_changes(&ok.session_state).unwrap();
    assert!(
        changes.contains(&SessionStateChange::SystemVariable {
            name: b"sql_mode".to_vec(),
            value: b"ANSI_QUOTES".to_vec(),
        }),
        "{changes:?}"
    );
    let ok = connection.query_ok("USE test");
    let changes = session_state_changes(&ok.session_state).unwrap();
    assert!(
        changes.contains(&SessionStateChange::Schema(b"test".to_vec())),
        "{changes:?}"
    );
    let ok = connection.query_ok("SET NAMES latin1");
    let changes = session_state_changes(&ok.session_state).unwrap();
    assert!(
        changes.contains(&SessionStateChange::SystemVariable {
            name: b"character_set_client".to_vec(),
            value: b"latin1".to_vec(),
        }),
        "{changes:?}"
    );
    // OK packets, with session state and without, re-encode to the bytes the server sent.
    connection.query_ok("CREATE TEMPORARY TABLE gh_wire_info (x INT)");
    let with_info = b"INSERT INTO gh_wire_info VALUES (1), (2)";
    for statement in [&b"USE test"[..], b"DO 1", with_info] {
        let reply = connection.command(&Command::Query(statement));
        let ok = OkPacket::parse(&reply, connection.capabilities).unwrap();
        assert_eq!(ok.encode(0, connection.capabilities), reply);
    }
}

#[test]
fn ok_packets_without_session_tracking_length_prefix_their_info() {
    let Some(mut connection) = root(base_capabilities()) else {
        return;
    };
    assert!(
        !connection
            .capabilities
            .contains(Capabilities::SESSION_TRACK)
    );
    connection.query_ok("CREATE TEMPORARY TABLE test.gh_wire_plain_info (x INT)");
    connection.query_ok("INSERT INTO test.gh_wire_plain_info VALUES (1), (2), (3)");
    let reply = connection.command(&Command::Query(
        b"UPDATE test.gh_wire_plain_info SET x = 2 WHERE x <= 2",
    ));
    let ok = OkPacket::parse(&reply, connection.capabilities).unwrap();
    assert_eq!(ok.affected_rows, 1, "rows changed, not rows matched");
    assert_eq!(
        String::from_utf8_lossy(&ok.info),
        "Rows matched: 2  Changed: 1  Warnings: 0"
    );
    assert_eq!(ok.encode(0, connection.capabilities), reply);
    // Without info the packet ends after its warnings, and re-encodes so.
    let reply = connection.command(&Command::Query(b"DO 1"));
    let ok = OkPacket::parse(&reply, connection.capabilities).unwrap();
    assert!(ok.info.is_empty());
    assert_eq!(ok.encode(0, connection.capabilities), reply);
}

#[test]
fn native_password_of_a_real_account() {
    let Some(mut admin) = root(base_capabilities()) else {
        return;
    };
    admin.query_ok(&format!("DROP USER IF EXISTS '{NATIVE_USER}'@'%'"));
    admin.query_ok(&format!(
        "CREATE USER '{NATIVE_USER}'@'%' IDENTIFIED VIA mysql_native_password \
         USING PASSWORD('{}')",
        String::from_utf8_lossy(NATIVE_SECRET)
    ));
    let wanted = base_capabilities() | Capabilities::DEPRECATE_EOF;
    let mut connection = login(NATIVE_USER, NATIVE_SECRET, wanted)
        .unwrap()
        .unwrap_or_else(|err| panic!("login refused: {err:?}"));
    // Under DEPRECATE_EOF the rows end with an OK packet with a 0xFE header.
    let reply = connection.command(&Command::Query(b"SELECT CURRENT_USER()"));
    assert_eq!(
        first_byte_kind(&reply, connection.capabilities),
        ResponseKind::ResultSet { columns: 1 }
    );
    connection.column_definitions(1);
    let rows = connection.rows();
    let user = parse_text_row(&rows[0], 1).unwrap()[0].unwrap().to_vec();
    assert_eq!(user, format!("{NATIVE_USER}@%").into_bytes());
    let refused = login(NATIVE_USER, b"wrong", wanted).unwrap();
    assert_eq!(refused.err().map(|err| err.code), Some(1045));
    admin.query_ok(&format!("DROP USER IF EXISTS '{NATIVE_USER}'@'%'"));
}

#[test]
fn collation_ids_name_the_servers_character_sets() {
    let Some(mut connection) = root(base_capabilities()) else {
        return;
    };
    let reply = connection.command(&Command::Query(
        b"SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL",
    ));
    assert_eq!(
        first_byte_kind(&reply, connection.capabilities),
        ResponseKind::ResultSet { columns: 2 }
    );
    connection.column_definitions(2);
    let rows = connection.rows();
    assert!(rows.len() > 300, "{} collations", rows.len());
    for row in &rows {
        let values = parse_text_row(row, 2).unwrap();
        let id: u16 = String::from_utf8_lossy(values[0].unwrap()).parse().unwrap();
        let charset = String::from_utf8_lossy(values[1].unwrap()).into_owned();
        assert_eq!(charset_of(id), Some(charset.as_str()), "collation {id}");
    }
}
