//! Fuzz target: MariaDB/MySQL protocol bytes from either peer, through every decoder of
//! `gatehouse-mysql-wire`.
//!
//! Input: byte 0 picks how many bytes each push into the packet reader carries (1..=64, so
//! packets arrive split at every point), byte 1 the message size limit (0..=16320 bytes),
//! byte 2 the parameter count of executes and the number of columns of rows (0..=10, from a
//! fixed column set of every binary form); the rest is the stream. Every message the reader
//! reassembles, and the stream itself, goes to every decoder: greeting, SSL request, login, auth
//! switch and more-data, commands and execute parameters (types sent, or remembered), response
//! kind, OK (under several capability sets), ERR, EOF, session-state changes, column
//! definitions, text and binary rows, prepare OK.
//!
//! Checked: nothing panics or hangs; no message exceeds the limit; commands that carry text
//! re-encode to exactly the bytes decoded (the server gets what was classified); OK packets,
//! ERR packets, session-state changes and column definitions decode to the same value after
//! re-encoding; text rows, binary rows and execute parameters re-encode stably (what the
//! gateway writes after masking reads back as written).

use gatehouse_mysql_wire::command::{
    Command, ExecuteParameters, ParameterType, parse_command, parse_execute_parameters,
};
use gatehouse_mysql_wire::handshake::{
    AuthSwitchRequest, HandshakeResponse, InitialHandshake, SslRequest, auth_more_data,
    is_ssl_request,
};
use gatehouse_mysql_wire::response::{
    ColumnDefinition, ColumnType, EofPacket, ErrPacket, OkPacket, PrepareOk, UNSIGNED_FLAG,
    encode_binary_row, encode_session_state_changes, encode_text_row, first_byte_kind,
    parse_binary_row, parse_text_row, session_state_changes,
};
use gatehouse_mysql_wire::{Capabilities, PacketReader};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if data.len() < 3 {
            return;
        }
        let chunk = usize::from(data[0] % 64) + 1;
        let limit = usize::from(data[1]) * 64;
        let count = usize::from(data[2] % 11);
        let stream = &data[3..];
        let columns = fixed_columns();
        let columns = &columns[..count];
        decode(stream, count, columns);
        let mut reader = PacketReader::new(limit);
        for piece in stream.chunks(chunk) {
            reader.push(piece);
            loop {
                match reader.next_message() {
                    Ok(Some(message)) => {
                        assert!(message.payload.len() <= limit, "message over the limit");
                        decode(&message.payload, count, columns);
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
    });
}

/// One column of every binary form, signed and unsigned integers of each width.
fn fixed_columns() -> Vec<ColumnDefinition> {
    [
        (ColumnType::Tiny, false),
        (ColumnType::LongLong, true),
        (ColumnType::VarString, false),
        (ColumnType::Double, false),
        (ColumnType::Float, false),
        (ColumnType::DateTime, false),
        (ColumnType::Time, false),
        (ColumnType::NewDecimal, false),
        (ColumnType::Short, false),
        (ColumnType::Long, true),
    ]
    .into_iter()
    .map(|(column_type, unsigned)| ColumnDefinition {
        catalog: b"def".to_vec(),
        schema: b"test".to_vec(),
        table: b"t".to_vec(),
        org_table: b"t".to_vec(),
        name: b"c".to_vec(),
        org_name: b"c".to_vec(),
        charset: 45,
        length: 20,
        column_type,
        flags: if unsigned { UNSIGNED_FLAG } else { 0 },
        decimals: 0,
    })
    .collect()
}

fn decode(payload: &[u8], count: usize, columns: &[ColumnDefinition]) {
    connection_phase(payload);
    command(payload, count);
    response(payload, count, columns);
}

fn connection_phase(payload: &[u8]) {
    if let Ok(greeting) = InitialHandshake::parse(payload) {
        let _ = InitialHandshake::parse(&greeting.encode());
    }
    if let Ok(request) = SslRequest::parse(payload) {
        assert_eq!(
            SslRequest::parse(&request.encode()).ok(),
            Some(request),
            "SSL request re-encoding"
        );
    }
    let _ = is_ssl_request(payload);
    if let Ok(login) = HandshakeResponse::parse(payload) {
        let _ = HandshakeResponse::parse(&login.encode());
    }
    if let Ok(switch) = AuthSwitchRequest::parse(payload) {
        assert_eq!(
            AuthSwitchRequest::parse(&switch.encode()).ok(),
            Some(switch),
            "auth switch re-encoding"
        );
    }
    let _ = auth_more_data(payload);
}

fn command(payload: &[u8], count: usize) {
    let Ok(command) = parse_command(payload) else {
        return;
    };
    if matches!(
        command,
        Command::Query(_)
            | Command::InitDb(_)
            | Command::StmtPrepare(_)
            | Command::StmtExecute(_)
            | Command::StmtSendLongData { .. }
            | Command::FieldList { .. }
    ) {
        assert_eq!(command.encode(), payload, "command re-encoding");
    }
    if let Command::StmtExecute(execute) = command {
        let remembered = vec![
            ParameterType {
                column_type: ColumnType::VarString,
                unsigned: false,
            };
            count
        ];
        for previous in [None, Some(remembered.as_slice())] {
            if let Ok(parameters) = parse_execute_parameters(execute.rest, count, previous) {
                stable_parameters(&parameters, count, previous);
            }
        }
    }
}

/// Parameters re-encode to bytes that decode to parameters that re-encode to the same bytes.
fn stable_parameters(
    parameters: &ExecuteParameters,
    count: usize,
    previous: Option<&[ParameterType]>,
) {
    let Ok(encoded) = parameters.encode() else {
        panic!("decoded parameters do not re-encode");
    };
    let again = parse_execute_parameters(&encoded, count, previous)
        .ok()
        .and_then(|p| p.encode().ok());
    assert_eq!(again, Some(encoded), "execute parameters re-encoding");
}

fn response(payload: &[u8], count: usize, columns: &[ColumnDefinition]) {
    for capabilities in [
        Capabilities::PROTOCOL_41,
        Capabilities::PROTOCOL_41 | Capabilities::SESSION_TRACK | Capabilities::DEPRECATE_EOF,
        Capabilities::TRANSACTIONS,
    ] {
        let _ = first_byte_kind(payload, capabilities);
        if let Ok(ok) = OkPacket::parse(payload, capabilities) {
            let header = payload.first().copied().unwrap_or_default();
            assert_eq!(
                OkPacket::parse(&ok.encode(header, capabilities), capabilities).ok(),
                Some(ok.clone()),
                "OK re-encoding"
            );
            let _ = session_state_changes(&ok.session_state);
        }
    }
    if let Ok(err) = ErrPacket::parse(payload) {
        assert_eq!(
            ErrPacket::parse(&err.encode()).ok(),
            Some(err),
            "ERR re-encoding"
        );
    }
    if let Ok(eof) = EofPacket::parse(payload) {
        assert_eq!(eof.encode(), payload, "EOF re-encoding");
    }
    if let Ok(changes) = session_state_changes(payload) {
        let encoded = encode_session_state_changes(&changes);
        assert_eq!(
            session_state_changes(&encoded).ok(),
            Some(changes),
            "session state re-encoding"
        );
    }
    if let Ok(definition) = ColumnDefinition::parse(payload) {
        assert_eq!(
            ColumnDefinition::parse(&definition.encode()).ok(),
            Some(definition),
            "column definition re-encoding"
        );
    }
    if let Ok(row) = parse_text_row(payload, count) {
        let encoded = encode_text_row(&row);
        assert_eq!(
            parse_text_row(&encoded, count).ok(),
            Some(row),
            "text row re-encoding"
        );
    }
    if let Ok(values) = parse_binary_row(payload, columns) {
        let Ok(encoded) = encode_binary_row(&values, columns) else {
            panic!("a decoded binary row does not re-encode");
        };
        let again = parse_binary_row(&encoded, columns)
            .ok()
            .and_then(|values| encode_binary_row(&values, columns).ok());
        assert_eq!(again, Some(encoded), "binary row re-encoding");
    }
    if let Ok(prepared) = PrepareOk::parse(payload) {
        assert_eq!(PrepareOk::parse(&prepared.encode()).ok(), Some(prepared));
    }
}
