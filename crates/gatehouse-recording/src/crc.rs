//! CRC-32 (IEEE 802.3, the zlib/PNG one) over chunk headers and bodies, so a reader can tell a
//! damaged or half-written chunk from a good one without trusting its contents.

const POLY: u32 = 0xEDB8_8320;

const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut rest: &mut [u32] = &mut table;
    let mut n = 0u32;
    while let [slot, tail @ ..] = rest {
        let mut c = n;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        *slot = c;
        rest = tail;
        n += 1;
    }
    table
};

/// The CRC-32 of `bytes`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        let slot = usize::from((crc as u8) ^ byte);
        crc = (crc >> 8) ^ TABLE.get(slot).copied().unwrap_or(0);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::crc32;

    #[test]
    fn matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
