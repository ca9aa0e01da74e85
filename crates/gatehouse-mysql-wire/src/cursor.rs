//! Reading fixed-size little-endian fields off the front of a byte slice, each read either
//! consuming exactly what it returns or failing with `Truncated` — the building blocks of
//! every decoder in the crate.

use crate::WireError;

/// The first `n` bytes, advancing past them.
pub(crate) fn take<'a>(
    input: &mut &'a [u8],
    n: usize,
    what: &'static str,
) -> Result<&'a [u8], WireError> {
    let (head, tail) = input
        .split_at_checked(n)
        .ok_or(WireError::Truncated { what })?;
    *input = tail;
    Ok(head)
}

/// The first `N` bytes as an array, advancing past them.
pub(crate) fn array<const N: usize>(
    input: &mut &[u8],
    what: &'static str,
) -> Result<[u8; N], WireError> {
    let head = take(input, N, what)?;
    let mut out = [0u8; N];
    out.copy_from_slice(head);
    Ok(out)
}

pub(crate) fn u8(input: &mut &[u8], what: &'static str) -> Result<u8, WireError> {
    Ok(u8::from_le_bytes(array(input, what)?))
}

pub(crate) fn u16(input: &mut &[u8], what: &'static str) -> Result<u16, WireError> {
    Ok(u16::from_le_bytes(array(input, what)?))
}

pub(crate) fn u24(input: &mut &[u8], what: &'static str) -> Result<u32, WireError> {
    let [a, b, c] = array(input, what)?;
    Ok(u32::from_le_bytes([a, b, c, 0]))
}

pub(crate) fn u32(input: &mut &[u8], what: &'static str) -> Result<u32, WireError> {
    Ok(u32::from_le_bytes(array(input, what)?))
}

pub(crate) fn u64(input: &mut &[u8], what: &'static str) -> Result<u64, WireError> {
    Ok(u64::from_le_bytes(array(input, what)?))
}

/// The bytes before the next NUL, advancing past the NUL.
pub(crate) fn nul_terminated<'a>(
    input: &mut &'a [u8],
    what: &'static str,
) -> Result<&'a [u8], WireError> {
    let end = input
        .iter()
        .position(|&b| b == 0)
        .ok_or(WireError::Truncated { what })?;
    let text = take(input, end, what)?;
    take(input, 1, what)?;
    Ok(text)
}

/// The bytes before the next NUL (advancing past it), or all that is left if there is no NUL:
/// servers and clients are lax about the terminator of a message's last string.
pub(crate) fn nul_terminated_or_rest<'a>(input: &mut &'a [u8]) -> &'a [u8] {
    match input.iter().position(|&b| b == 0) {
        Some(end) => {
            let (text, tail) = input.split_at_checked(end).unwrap_or((input, &[]));
            *input = tail.get(1..).unwrap_or_default();
            text
        }
        None => std::mem::take(input),
    }
}

/// Fails unless the whole input was consumed.
pub(crate) fn finish(input: &[u8], what: &'static str) -> Result<(), WireError> {
    if input.is_empty() {
        Ok(())
    } else {
        Err(WireError::malformed(
            what,
            format!("{} trailing bytes", input.len()),
        ))
    }
}
