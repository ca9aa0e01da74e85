//! Properties over generated inputs: every decoder survives arbitrary bytes from a hostile
//! peer with an error rather than a panic, the packet reader never hands out more than its
//! limit, and for every message type decoding what was encoded gives back the same value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_mysql_wire::command::{
    Command, ExecuteParameters, ParameterType, StmtExecute, parse_command, parse_execute_parameters,
};
use gatehouse_mysql_wire::handshake::{
    AuthSwitchRequest, HandshakeResponse, InitialHandshake, SslRequest, auth_more_data,
    is_ssl_request,
};
use gatehouse_mysql_wire::lenenc::{
    read_lenenc_bytes, read_lenenc_int, write_lenenc_bytes, write_lenenc_int,
};
use gatehouse_mysql_wire::response::{
    ColumnDefinition, ColumnType, EofPacket, ErrPacket, OkPacket, PrepareOk,
    SERVER_SESSION_STATE_CHANGED, SessionStateChange, UNSIGNED_FLAG, Value, encode_binary_row,
    encode_session_state_changes, encode_text_row, first_byte_kind, parse_binary_row,
    parse_text_row, session_state_changes,
};
use gatehouse_mysql_wire::{Capabilities, PacketReader, WireError, write_message};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

/// Bytes without NUL, for NUL-terminated fields.
fn text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, 0..max)
}

/// A column type, its signedness and a value of that type (sometimes NULL).
fn typed_value() -> impl Strategy<Value = (ColumnType, bool, Value)> {
    let integer = prop_oneof![
        any::<i8>().prop_map(|v| (ColumnType::Tiny, false, Value::Int(v.into()))),
        any::<u8>().prop_map(|v| (ColumnType::Tiny, true, Value::UInt(v.into()))),
        any::<i16>().prop_map(|v| (ColumnType::Short, false, Value::Int(v.into()))),
        any::<u16>().prop_map(|v| (ColumnType::Year, true, Value::UInt(v.into()))),
        any::<i32>().prop_map(|v| (ColumnType::Long, false, Value::Int(v.into()))),
        any::<u32>().prop_map(|v| (ColumnType::Int24, true, Value::UInt(v.into()))),
        any::<i64>().prop_map(|v| (ColumnType::LongLong, false, Value::Int(v))),
        any::<u64>().prop_map(|v| (ColumnType::LongLong, true, Value::UInt(v))),
    ];
    let float = prop_oneof![
        any::<f32>()
            .prop_filter("NaN", |v| !v.is_nan())
            .prop_map(|v| (ColumnType::Float, false, Value::Float(v))),
        any::<f64>()
            .prop_filter("NaN", |v| !v.is_nan())
            .prop_map(|v| (ColumnType::Double, false, Value::Double(v))),
    ];
    let string = (
        prop::sample::select(vec![
            ColumnType::VarString,
            ColumnType::String,
            ColumnType::Blob,
            ColumnType::NewDecimal,
            ColumnType::Json,
            ColumnType::Bit,
            ColumnType::Enum,
            ColumnType::Geometry,
        ]),
        bytes(300),
    )
        .prop_map(|(t, v)| (t, false, Value::Bytes(v)));
    let date = (
        prop::sample::select(vec![
            ColumnType::Date,
            ColumnType::DateTime,
            ColumnType::Timestamp,
        ]),
        any::<(u16, u8, u8, u8, u8, u8)>(),
        prop_oneof![Just(0u32), any::<u32>()],
    )
        .prop_map(|(t, (year, month, day, hour, minute, second), micros)| {
            let date = Value::Date {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            };
            (t, false, date)
        });
    let time = (
        any::<(bool, u32, u8, u8, u8)>(),
        prop_oneof![Just(0u32), any::<u32>()],
    )
        .prop_map(|((negative, days, hours, minutes, seconds), micros)| {
            let time = Value::Time {
                negative,
                days,
                hours,
                minutes,
                seconds,
                micros,
            };
            (ColumnType::Time, false, time)
        });
    let null = (any::<u8>(), any::<bool>())
        .prop_map(|(code, unsigned)| (ColumnType::from_u8(code), unsigned, Value::Null));
    prop_oneof![integer, float, string, date, time, null]
}

fn column_definition() -> impl Strategy<Value = ColumnDefinition> {
    (
        (
            bytes(10),
            bytes(20),
            bytes(20),
            bytes(20),
            bytes(40),
            bytes(40),
        ),
        (
            any::<u16>(),
            any::<u32>(),
            any::<u8>(),
            any::<u16>(),
            any::<u8>(),
        ),
    )
        .prop_map(
            |(
                (catalog, schema, table, org_table, name, org_name),
                (charset, length, code, flags, decimals),
            )| ColumnDefinition {
                catalog,
                schema,
                table,
                org_table,
                name,
                org_name,
                charset,
                length,
                column_type: ColumnType::from_u8(code),
                flags,
                decimals,
            },
        )
}

fn is_truncated<T>(result: &Result<T, WireError>) -> bool {
    matches!(result, Err(WireError::Truncated { .. }))
}

fn column_of(column_type: ColumnType, unsigned: bool) -> ColumnDefinition {
    ColumnDefinition {
        catalog: b"def".to_vec(),
        schema: Vec::new(),
        table: Vec::new(),
        org_table: Vec::new(),
        name: b"c".to_vec(),
        org_name: Vec::new(),
        charset: 63,
        length: 0,
        column_type,
        flags: if unsigned { UNSIGNED_FLAG } else { 0 },
        decimals: 0,
    }
}

/// The fixed column set the arbitrary-bytes tests decode binary rows with.
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
    .map(|(t, unsigned)| column_of(t, unsigned))
    .collect()
}

fn session_change() -> impl Strategy<Value = SessionStateChange> {
    prop_oneof![
        (bytes(30), bytes(30))
            .prop_map(|(name, value)| SessionStateChange::SystemVariable { name, value }),
        bytes(30).prop_map(SessionStateChange::Schema),
        any::<bool>().prop_map(SessionStateChange::StateChange),
        bytes(30).prop_map(SessionStateChange::Gtids),
        bytes(30).prop_map(SessionStateChange::TransactionCharacteristics),
        bytes(8).prop_map(SessionStateChange::TransactionState),
        (6u8..=255).prop_map(SessionStateChange::Other),
    ]
}

fn capabilities_where(bits: u64, set: &[Capabilities], clear: &[Capabilities]) -> Capabilities {
    let mut capabilities = Capabilities(bits);
    for flag in set {
        capabilities |= *flag;
    }
    for flag in clear {
        capabilities = capabilities.without(*flag);
    }
    if !capabilities.contains(Capabilities::LONG_PASSWORD) {
        return capabilities;
    }
    // MariaDB's extended flags only travel between MariaDB peers.
    Capabilities(capabilities.0 & 0xFFFF_FFFF)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_decoder_panics_on_arbitrary_bytes(input in bytes(400), count in 0usize..12) {
        let _ = InitialHandshake::parse(&input);
        let _ = SslRequest::parse(&input);
        let _ = is_ssl_request(&input);
        let _ = HandshakeResponse::parse(&input);
        let _ = AuthSwitchRequest::parse(&input);
        let _ = auth_more_data(&input);
        if let Ok(Command::StmtExecute(execute)) = parse_command(&input) {
            let _ = parse_execute_parameters(execute.rest, count, None);
        }
        let types = vec![
            ParameterType { column_type: ColumnType::VarString, unsigned: false };
            count
        ];
        let _ = parse_execute_parameters(&input, count, None);
        let _ = parse_execute_parameters(&input, count, Some(&types));
        for capabilities in [
            Capabilities::default(),
            Capabilities::PROTOCOL_41 | Capabilities::SESSION_TRACK,
            Capabilities::TRANSACTIONS | Capabilities::DEPRECATE_EOF,
        ] {
            let _ = first_byte_kind(&input, capabilities);
            let _ = OkPacket::parse(&input, capabilities);
        }
        let _ = ErrPacket::parse(&input);
        let _ = EofPacket::parse(&input);
        let _ = session_state_changes(&input);
        let _ = ColumnDefinition::parse(&input);
        let _ = parse_text_row(&input, count);
        let _ = parse_binary_row(&input, &fixed_columns()[..count.min(10)]);
        let _ = PrepareOk::parse(&input);
        let _ = read_lenenc_int(&mut input.as_slice());
        let _ = read_lenenc_bytes(&mut input.as_slice());
    }

    #[test]
    fn the_packet_reader_never_exceeds_its_limit(
        input in bytes(2000),
        chunk in 1usize..64,
        limit in 0usize..600,
    ) {
        let mut reader = PacketReader::new(limit);
        'stream: for piece in input.chunks(chunk) {
            reader.push(piece);
            loop {
                match reader.next_message() {
                    Ok(Some(message)) => prop_assert!(message.payload.len() <= limit),
                    Ok(None) => break,
                    Err(_) => break 'stream,
                }
            }
        }
    }

    #[test]
    fn packets_round_trip_in_any_pieces(
        payloads in vec(bytes(300), 0..8),
        first in any::<u8>(),
        chunk in 1usize..100,
    ) {
        let mut stream = Vec::new();
        let mut sequence = first;
        for payload in &payloads {
            sequence = write_message(&mut stream, sequence, payload);
        }
        prop_assert_eq!(sequence, first.wrapping_add(payloads.len() as u8));
        let mut reader = PacketReader::new(300);
        let mut read = Vec::new();
        for piece in stream.chunks(chunk) {
            reader.push(piece);
            while let Some(message) = reader.next_message().unwrap() {
                prop_assert_eq!(message.first_sequence, message.last_sequence);
                prop_assert_eq!(
                    message.first_sequence,
                    first.wrapping_add(read.len() as u8)
                );
                read.push(message.payload);
            }
        }
        prop_assert_eq!(read, payloads);
        prop_assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn lenenc_round_trip(value in any::<u64>(), string in bytes(300)) {
        let mut out = Vec::new();
        write_lenenc_int(&mut out, value);
        write_lenenc_bytes(&mut out, &string);
        let mut input = out.as_slice();
        prop_assert_eq!(read_lenenc_int(&mut input), Ok(Some(value)));
        prop_assert_eq!(read_lenenc_bytes(&mut input), Ok(Some(string.as_slice())));
        prop_assert!(input.is_empty());
    }

    #[test]
    fn initial_handshake_round_trip(
        server_version in "[ -~]{0,40}",
        connection_id in any::<u32>(),
        scramble in vec(1u8..=255, 20),
        bits in any::<u64>(),
        collation in any::<u8>(),
        status in any::<u16>(),
        plugin in "[a-z_0-9]{1,30}",
    ) {
        let capabilities = capabilities_where(bits, &[Capabilities::SECURE_CONNECTION], &[]);
        let plugin_auth = capabilities.contains(Capabilities::PLUGIN_AUTH);
        let greeting = InitialHandshake {
            server_version,
            connection_id,
            scramble,
            capabilities,
            collation,
            status,
            auth_plugin: if plugin_auth { plugin } else { String::new() },
        };
        prop_assert_eq!(InitialHandshake::parse(&greeting.encode()), Ok(greeting));
    }

    #[test]
    fn ssl_request_round_trip(bits in any::<u64>(), max_packet in any::<u32>(), collation in any::<u8>()) {
        let request = SslRequest {
            capabilities: capabilities_where(bits, &[], &[]),
            max_packet,
            collation,
        };
        prop_assert_eq!(SslRequest::parse(&request.encode()), Ok(request));
    }

    #[test]
    fn handshake_response_round_trip(
        bits in any::<u64>(),
        max_packet in any::<u32>(),
        collation in any::<u8>(),
        user in text(20),
        auth in bytes(300),
        database in proptest::option::of(text(20)),
        plugin in proptest::option::of("[a-z_0-9]{1,30}"),
        attributes in vec((bytes(20), bytes(40)), 0..5),
    ) {
        let mut set = vec![Capabilities::PROTOCOL_41];
        let mut clear = Vec::new();
        let mut flag = |on: bool, flag: Capabilities| if on { set.push(flag) } else { clear.push(flag) };
        flag(database.is_some(), Capabilities::CONNECT_WITH_DB);
        flag(plugin.is_some(), Capabilities::PLUGIN_AUTH);
        flag(!attributes.is_empty(), Capabilities::CONNECT_ATTRS);
        let capabilities = capabilities_where(bits, &set, &clear);
        let auth_response = if capabilities.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            auth
        } else if capabilities.contains(Capabilities::SECURE_CONNECTION) {
            auth.into_iter().take(255).collect()
        } else {
            auth.into_iter().filter(|b| *b != 0).collect()
        };
        let response = HandshakeResponse {
            capabilities,
            max_packet,
            collation,
            user,
            auth_response,
            database,
            auth_plugin: plugin,
            attributes,
        };
        prop_assert_eq!(HandshakeResponse::parse(&response.encode()), Ok(response));
    }

    #[test]
    fn auth_switch_round_trip(plugin in "[a-z_0-9]{0,30}", data in bytes(40)) {
        let request = AuthSwitchRequest { plugin, data };
        prop_assert_eq!(AuthSwitchRequest::parse(&request.encode()), Ok(request));
    }

    #[test]
    fn command_round_trip(
        kind in 0u8..12,
        first in bytes(100),
        table in text(20),
        number in any::<u32>(),
        small in any::<u16>(),
        flags in any::<u8>(),
        unknown in prop_oneof![
            prop::sample::select(vec![0x00u8, 0x05, 0x06, 0x07, 0x0B, 0x0F, 0x10, 0x13, 0x14, 0x1D]),
            0x20u8..=0xFF,
        ],
    ) {
        let command = match kind {
            0 => Command::Query(&first),
            1 => Command::InitDb(&first),
            2 => Command::StmtPrepare(&first),
            3 => Command::FieldList { table: &table, wildcard: &first },
            4 => Command::ProcessKill(number),
            5 => Command::StmtExecute(StmtExecute {
                statement: number,
                flags,
                iterations: u32::from(small),
                rest: &first,
            }),
            6 => Command::StmtSendLongData { statement: number, parameter: small, data: &first },
            7 => Command::StmtClose(number),
            8 => Command::StmtReset(number),
            9 => Command::SetOption(small),
            10 => Command::StmtFetch { statement: number, rows: u32::from(small) },
            _ => Command::Other(unknown),
        };
        let encoded = command.encode();
        prop_assert_eq!(parse_command(&encoded), Ok(command));
    }

    #[test]
    fn execute_parameters_round_trip(values in vec(typed_value(), 0..20), rebind in any::<bool>()) {
        let types: Vec<ParameterType> = values
            .iter()
            .map(|(column_type, unsigned, _)| ParameterType { column_type: *column_type, unsigned: *unsigned })
            .collect();
        let parameters = ExecuteParameters {
            types: types.clone(),
            values: values.into_iter().map(|(_, _, value)| value).collect(),
            new_params_bound: rebind || types.is_empty(),
        };
        let parameters = ExecuteParameters {
            new_params_bound: parameters.new_params_bound && !parameters.values.is_empty(),
            ..parameters
        };
        let bytes = parameters.encode().unwrap();
        let previous = (!parameters.new_params_bound).then_some(types.as_slice());
        prop_assert_eq!(
            parse_execute_parameters(&bytes, parameters.values.len(), previous),
            Ok(parameters.clone())
        );
        for cut in 0..bytes.len() {
            let truncated = parse_execute_parameters(&bytes[..cut], parameters.values.len(), previous);
            prop_assert!(is_truncated(&truncated), "cut {}", cut);
        }
    }

    #[test]
    fn binary_row_round_trip(values in vec(typed_value(), 0..20)) {
        let columns: Vec<ColumnDefinition> = values
            .iter()
            .map(|(column_type, unsigned, _)| column_of(*column_type, *unsigned))
            .collect();
        let values: Vec<Value> = values.into_iter().map(|(_, _, value)| value).collect();
        let bytes = encode_binary_row(&values, &columns).unwrap();
        prop_assert_eq!(parse_binary_row(&bytes, &columns), Ok(values));
        for cut in 0..bytes.len() {
            prop_assert!(is_truncated(&parse_binary_row(&bytes[..cut], &columns)), "cut {}", cut);
        }
    }

    #[test]
    fn text_row_round_trip(values in vec(proptest::option::of(bytes(300)), 0..20)) {
        let borrowed: Vec<Option<&[u8]>> = values.iter().map(|v| v.as_deref()).collect();
        let bytes = encode_text_row(&borrowed);
        prop_assert_eq!(parse_text_row(&bytes, values.len()), Ok(borrowed.clone()));
        for cut in 0..bytes.len() {
            prop_assert!(is_truncated(&parse_text_row(&bytes[..cut], values.len())), "cut {}", cut);
        }
    }

    #[test]
    fn column_definition_round_trip(definition in column_definition()) {
        let bytes = definition.encode();
        prop_assert_eq!(ColumnDefinition::parse(&bytes), Ok(definition));
        for cut in 0..bytes.len() {
            prop_assert!(is_truncated(&ColumnDefinition::parse(&bytes[..cut])), "cut {}", cut);
        }
    }

    #[test]
    fn ok_packet_round_trip(
        affected_rows in any::<u64>(),
        last_insert_id in any::<u64>(),
        status in any::<u16>(),
        warnings in any::<u16>(),
        info in bytes(100),
        changes in vec(session_change(), 0..5),
        (protocol_41, transactions, session_track) in any::<(bool, bool, bool)>(),
        eof_header in any::<bool>(),
    ) {
        let mut capabilities = Capabilities::default();
        for (on, flag) in [
            (protocol_41, Capabilities::PROTOCOL_41),
            (transactions, Capabilities::TRANSACTIONS),
            (session_track, Capabilities::SESSION_TRACK),
        ] {
            if on {
                capabilities |= flag;
            }
        }
        let status = if protocol_41 || transactions { status } else { 0 };
        let session_state = if session_track && status & SERVER_SESSION_STATE_CHANGED != 0 {
            encode_session_state_changes(&changes)
        } else {
            Vec::new()
        };
        let ok = OkPacket {
            affected_rows,
            last_insert_id,
            status,
            warnings: if protocol_41 { warnings } else { 0 },
            info,
            session_state,
        };
        let header = if eof_header { 0xFE } else { 0x00 };
        prop_assert_eq!(OkPacket::parse(&ok.encode(header, capabilities), capabilities), Ok(ok));
    }

    #[test]
    fn session_state_round_trip(changes in vec(session_change(), 0..10)) {
        let bytes = encode_session_state_changes(&changes);
        prop_assert_eq!(session_state_changes(&bytes), Ok(changes));
    }

    #[test]
    fn err_eof_and_prepare_round_trip(
        code in any::<u16>(),
        sql_state in any::<[u8; 5]>(),
        message in bytes(200),
        (warnings, status) in any::<(u16, u16)>(),
        (statement, columns, parameters) in any::<(u32, u16, u16)>(),
    ) {
        let err = ErrPacket { code, sql_state, message };
        prop_assert_eq!(ErrPacket::parse(&err.encode()), Ok(err));
        let eof = EofPacket { warnings, status };
        prop_assert_eq!(EofPacket::parse(&eof.encode()), Ok(eof));
        let prepared = PrepareOk { statement, columns, parameters, warnings };
        prop_assert_eq!(PrepareOk::parse(&prepared.encode()), Ok(prepared));
    }
}

/// Decoded OK packets, ERR packets, session state and column definitions decode to the same
/// value after re-encoding; rows and execute parameters re-encode to stable bytes (what the
/// gateway writes after masking reads back as written); commands carrying text re-encode to
/// exactly the bytes decoded.
fn check_reencoding(payload: &[u8], count: usize) -> Result<(), TestCaseError> {
    let columns = fixed_columns();
    let columns = &columns[..count.min(columns.len())];
    for capabilities in [
        Capabilities::PROTOCOL_41,
        Capabilities::PROTOCOL_41 | Capabilities::SESSION_TRACK,
        Capabilities::TRANSACTIONS,
    ] {
        if let Ok(ok) = OkPacket::parse(payload, capabilities) {
            let encoded = ok.encode(payload[0], capabilities);
            prop_assert_eq!(OkPacket::parse(&encoded, capabilities), Ok(ok));
        }
    }
    if let Ok(err) = ErrPacket::parse(payload) {
        prop_assert_eq!(ErrPacket::parse(&err.encode()), Ok(err));
    }
    if let Ok(changes) = session_state_changes(payload) {
        let encoded = encode_session_state_changes(&changes);
        prop_assert_eq!(session_state_changes(&encoded), Ok(changes));
    }
    if let Ok(definition) = ColumnDefinition::parse(payload) {
        prop_assert_eq!(
            ColumnDefinition::parse(&definition.encode()),
            Ok(definition)
        );
    }
    if let Ok(values) = parse_binary_row(payload, columns) {
        let encoded = encode_binary_row(&values, columns).unwrap();
        let again = parse_binary_row(&encoded, columns).unwrap();
        prop_assert_eq!(encode_binary_row(&again, columns).unwrap(), encoded);
    }
    if let Ok(command) = parse_command(payload) {
        if matches!(
            command,
            Command::Query(_)
                | Command::InitDb(_)
                | Command::StmtPrepare(_)
                | Command::StmtExecute(_)
                | Command::StmtSendLongData { .. }
                | Command::FieldList { .. }
        ) {
            prop_assert_eq!(command.encode(), payload);
        }
        if let Command::StmtExecute(execute) = command {
            let remembered = vec![
                ParameterType {
                    column_type: ColumnType::LongLong,
                    unsigned: true,
                };
                count
            ];
            for previous in [None, Some(remembered.as_slice())] {
                if let Ok(parameters) = parse_execute_parameters(execute.rest, count, previous) {
                    let encoded = parameters.encode().unwrap();
                    let again = parse_execute_parameters(&encoded, count, previous).unwrap();
                    prop_assert_eq!(again.encode().unwrap(), encoded);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn decoded_messages_reencode_stably(
        header in prop::sample::select(vec![0x00u8, 0xFE, 0xFF, 0x03, 0x17, 0x18, 0x04]),
        body in bytes(80),
        count in 0usize..11,
    ) {
        let payload = [&[header][..], &body].concat();
        check_reencoding(&payload, count)?;
        check_reencoding(&body, count)?;
    }
}
