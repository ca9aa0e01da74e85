//! gatehouse's own statements on a server session (provisioning accounts, reading the
//! session's `sql_mode` at start): send one `COM_QUERY`, read every result to its end, keep
//! the text rows. Never used for a client's statements, which the session relays.

use crate::MysqlError;
use crate::packets::PacketStream;
use crate::upstream::refused_by_server;
use gatehouse_mysql_wire::capabilities::Capabilities;
use gatehouse_mysql_wire::lenenc::read_lenenc_int;
use gatehouse_mysql_wire::response::{
    EofPacket, OkPacket, SERVER_MORE_RESULTS_EXISTS, parse_text_row,
};

/// Text rows of a result: each value as bytes, `None` for NULL.
pub(crate) type TextRows = Vec<Vec<Option<Vec<u8>>>>;

/// `COM_QUERY`'s command byte.
pub(crate) const COM_QUERY: u8 = 0x03;

/// Run `sql` and return the rows of its last result set (none for statements without one).
pub(crate) async fn run_query(
    stream: &mut PacketStream,
    capabilities: Capabilities,
    sql: &str,
) -> Result<TextRows, MysqlError> {
    let mut command = vec![COM_QUERY];
    command.extend_from_slice(sql.as_bytes());
    stream.write(0, &command).await?;
    stream.flush().await?;
    let mut rows = Vec::new();
    loop {
        let first = stream.expect("an answer to gatehouse's statement").await?;
        let payload = first.payload.as_slice();
        let status = match payload.first() {
            Some(0x00) => {
                OkPacket::parse(payload, capabilities)
                    .map_err(MysqlError::wire("server"))?
                    .status
            }
            Some(0xFF) => return Err(refused_by_server(payload)),
            Some(0xFB) => {
                return Err(MysqlError::Refused(
                    "the server asked for a local file; gatehouse never sends one".into(),
                ));
            }
            _ => {
                let (set, status) = read_result_set(stream, capabilities, payload).await?;
                rows = set;
                status
            }
        };
        if status & SERVER_MORE_RESULTS_EXISTS == 0 {
            return Ok(rows);
        }
    }
}

/// Whether `payload` ends a result set's rows: an EOF packet, or under `DEPRECATE_EOF` an OK
/// packet with the 0xFE header (a row never starts with 0xFE unless it is at least 16 MiB).
pub(crate) fn ends_rows(payload: &[u8], deprecate_eof: bool) -> bool {
    payload.first() == Some(&0xFE)
        && if deprecate_eof {
            payload.len() < 0xFF_FF_FF
        } else {
            payload.len() < 9
        }
}

/// The server status flags of a result set's end (EOF or OK-as-EOF).
pub(crate) fn end_status(payload: &[u8], capabilities: Capabilities) -> Result<u16, MysqlError> {
    if capabilities.contains(Capabilities::DEPRECATE_EOF) {
        Ok(OkPacket::parse(payload, capabilities)
            .map_err(MysqlError::wire("server"))?
            .status)
    } else {
        Ok(EofPacket::parse(payload)
            .map_err(MysqlError::wire("server"))?
            .status)
    }
}

/// Read the rest of an answer whose first message is `first`, keeping nothing (rows text or
/// binary): the status flags of its end, or `None` when it ended in an ERR.
pub(crate) async fn discard_answer(
    stream: &mut PacketStream,
    capabilities: Capabilities,
    first: &[u8],
) -> Result<Option<u16>, MysqlError> {
    let deprecate_eof = capabilities.contains(Capabilities::DEPRECATE_EOF);
    let mut payload = first.to_vec();
    loop {
        let status = match payload.first() {
            Some(0x00) => {
                OkPacket::parse(&payload, capabilities)
                    .map_err(MysqlError::wire("server"))?
                    .status
            }
            Some(0xFF) => return Ok(None),
            Some(0xFB) => {
                return Err(MysqlError::Refused(
                    "the server asked for a local file; gatehouse never sends one".into(),
                ));
            }
            _ => {
                let mut rest = payload.as_slice();
                let columns = read_lenenc_int(&mut rest)
                    .map_err(MysqlError::wire("server"))?
                    .ok_or_else(|| {
                        MysqlError::Protocol("a result set without a column count".into())
                    })?;
                for _ in 0..columns {
                    stream.expect("a column definition").await?;
                }
                if !deprecate_eof {
                    stream.expect("the end of the column definitions").await?;
                }
                loop {
                    let message = stream.expect("a row").await?;
                    if message.payload.first() == Some(&0xFF) {
                        return Ok(None);
                    }
                    if ends_rows(&message.payload, deprecate_eof) {
                        break end_status(&message.payload, capabilities)?;
                    }
                }
            }
        };
        if status & SERVER_MORE_RESULTS_EXISTS == 0 {
            return Ok(Some(status));
        }
        payload = stream.expect("the next result").await?.payload;
    }
}

async fn read_result_set(
    stream: &mut PacketStream,
    capabilities: Capabilities,
    header: &[u8],
) -> Result<(TextRows, u16), MysqlError> {
    let mut rest = header;
    let columns = read_lenenc_int(&mut rest)
        .map_err(MysqlError::wire("server"))?
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| MysqlError::Protocol("a result set without a column count".into()))?;
    for _ in 0..columns {
        stream.expect("a column definition").await?;
    }
    let deprecate_eof = capabilities.contains(Capabilities::DEPRECATE_EOF);
    if !deprecate_eof {
        stream.expect("the end of the column definitions").await?;
    }
    let mut rows = Vec::new();
    loop {
        let message = stream.expect("a row").await?;
        let payload = message.payload.as_slice();
        if payload.first() == Some(&0xFF) {
            return Err(refused_by_server(payload));
        }
        if ends_rows(payload, deprecate_eof) {
            return Ok((rows, end_status(payload, capabilities)?));
        }
        let values = parse_text_row(payload, columns).map_err(MysqlError::wire("server"))?;
        rows.push(values.into_iter().map(|v| v.map(<[u8]>::to_vec)).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::ends_rows;

    #[test]
    fn rows_end_at_eof_or_an_ok_with_the_eof_header_and_never_at_a_row() {
        assert!(ends_rows(&[0xFE, 0, 0, 2, 0], false));
        assert!(!ends_rows(&[0xFE, 0, 0, 2, 0, 0, 0, 0, 0, 0], false));
        assert!(ends_rows(&[0xFE, 0, 0, 2, 0, 0, 0, 0, 0, 0], true));
        // A row whose first value is NULL, or text of length 1.
        assert!(!ends_rows(&[0xFB], true));
        assert!(!ends_rows(&[0x01, b'a'], true));
    }
}
