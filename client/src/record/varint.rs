//! Kafka's zig-zag variable-length integers (`varint` for i32, `varlong` for i64), as used
//! inside records. Owns only the bit layout; callers own the buffers and bounds.
//!
//! Decoding follows Java's `ByteUtils.readVarint`/`readVarlong`: at most 5 (resp. 10) bytes,
//! a longer encoding is an error, and excess high bits in the last byte are dropped.

use super::RecordError;

/// Zig-zag maps signed to unsigned so small magnitudes encode short: 0, -1, 1, -2 → 0, 1, 2, 3.
#[inline(always)]
pub(crate) fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

#[inline(always)]
pub(crate) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline(always)]
pub(crate) fn unzigzag32(n: u32) -> i32 {
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

#[inline(always)]
pub(crate) fn unzigzag64(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// Bytes needed for an unsigned LEB128 value.
#[inline(always)]
pub(crate) fn uvarint_size(v: u64) -> usize {
    // Small values dominate (deltas, lengths): predictable branches beat a division by 7.
    if v < 0x80 {
        1
    } else if v < 0x4000 {
        2
    } else {
        let bits = 64 - v.leading_zeros() as usize;
        bits.div_ceil(7)
    }
}

/// Encoded size of a zig-zag `varint`.
#[inline(always)]
pub(crate) fn varint_size(v: i32) -> usize {
    uvarint_size(zigzag32(v) as u64)
}

/// Encoded size of a zig-zag `varlong`.
#[inline(always)]
pub(crate) fn varlong_size(v: i64) -> usize {
    uvarint_size(zigzag64(v))
}

#[inline(always)]
fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    // Fixed-size writes for the common 1- and 2-byte cases: a variable-length copy would be a
    // call to memcpy per varint.
    if v < 0x80 {
        buf.push(v as u8);
    } else if v < 0x4000 {
        buf.extend_from_slice(&[(v as u8) | 0x80, (v >> 7) as u8]);
    } else {
        while v >= 0x80 {
            buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }
}

/// Appends a zig-zag `varint`.
#[inline(always)]
pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i32) {
    put_uvarint(buf, zigzag32(v) as u64);
}

/// Appends a zig-zag `varlong`.
#[cfg(test)]
pub(crate) fn put_varlong(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, zigzag64(v));
}

/// Writes an unsigned LEB128 value into `out` at `pos`, returning the new position. The
/// caller guarantees room (at most 10 bytes).
#[inline(always)]
pub(crate) fn write_uvarint(
    out: &mut [u8; RECORD_PREFIX_SCRATCH],
    pos: usize,
    mut v: u64,
) -> usize {
    let mut p = pos;
    while v >= 0x80 {
        out[p] = (v as u8) | 0x80;
        v >>= 7;
        p += 1;
    }
    out[p] = v as u8;
    p + 1
}

/// Size of the scratch array a record's fixed fields are staged in: the longest prefix is
/// length (5) + attributes (1) + timestamp delta (10) + offset delta (5) + key length (5) = 26.
pub(crate) const RECORD_PREFIX_SCRATCH: usize = 32;

/// Lazily built so the hot path never constructs (and drops) an error value.
#[cold]
fn truncated() -> RecordError {
    RecordError::Truncated
}

/// Reads a zig-zag `varint` from `buf` at `*pos`, advancing `*pos`.
#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, RecordError> {
    let first = *buf.get(*pos).ok_or_else(truncated)?;
    if first < 0x80 {
        *pos += 1;
        return Ok(unzigzag32(first as u32));
    }
    // Two bytes: lengths 64..8191 (a 100-byte value, a 108-byte record) are this common case.
    if let Some(&second) = buf.get(*pos + 1) {
        if second < 0x80 {
            *pos += 2;
            return Ok(unzigzag32((first & 0x7f) as u32 | (second as u32) << 7));
        }
    }
    read_varint_slow(buf, pos)
}

#[cold]
fn read_varint_slow(buf: &[u8], pos: &mut usize) -> Result<i32, RecordError> {
    let mut value: u32 = 0;
    let mut shift = 0u32;
    let mut p = *pos;
    loop {
        let b = *buf.get(p).ok_or_else(truncated)?;
        p += 1;
        value |= ((b & 0x7f) as u32).wrapping_shl(shift);
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return Err(RecordError::InvalidVarint);
        }
    }
    *pos = p;
    Ok(unzigzag32(value))
}

/// Reads a zig-zag `varlong` from `buf` at `*pos`, advancing `*pos`.
#[inline(always)]
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, RecordError> {
    let first = *buf.get(*pos).ok_or_else(truncated)?;
    if first < 0x80 {
        *pos += 1;
        return Ok(unzigzag64(first as u64));
    }
    // Two bytes: lengths 64..8191 (a 100-byte value, a 108-byte record) are this common case.
    if let Some(&second) = buf.get(*pos + 1) {
        if second < 0x80 {
            *pos += 2;
            return Ok(unzigzag64((first & 0x7f) as u64 | (second as u64) << 7));
        }
    }
    read_varlong_slow(buf, pos)
}

#[cold]
fn read_varlong_slow(buf: &[u8], pos: &mut usize) -> Result<i64, RecordError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    let mut p = *pos;
    loop {
        let b = *buf.get(p).ok_or_else(truncated)?;
        p += 1;
        value |= ((b & 0x7f) as u64).wrapping_shl(shift);
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(RecordError::InvalidVarint);
        }
    }
    *pos = p;
    Ok(unzigzag64(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc32(v: i32) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    }

    fn enc64(v: i64) -> Vec<u8> {
        let mut b = Vec::new();
        put_varlong(&mut b, v);
        b
    }

    #[test]
    fn known_encodings_match_kafka() {
        // Values from Kafka's ByteUtilsTest.
        assert_eq!(enc32(0), [0x00]);
        assert_eq!(enc32(-1), [0x01]);
        assert_eq!(enc32(1), [0x02]);
        assert_eq!(enc32(63), [0x7e]);
        assert_eq!(enc32(-64), [0x7f]);
        assert_eq!(enc32(64), [0x80, 0x01]);
        assert_eq!(enc32(i32::MAX), [0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(enc32(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            enc64(i64::MAX),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(
            enc64(i64::MIN),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn edge_values_round_trip_with_exact_sizes() {
        for v in [0, 1, -1, 63, -64, 64, -65, 8191, 8192, i32::MAX, i32::MIN] {
            let b = enc32(v);
            assert_eq!(b.len(), varint_size(v), "{v}");
            let mut pos = 0;
            assert_eq!(read_varint(&b, &mut pos).unwrap(), v);
            assert_eq!(pos, b.len());
        }
        for v in [
            0,
            1,
            -1,
            i32::MAX as i64 + 1,
            i32::MIN as i64 - 1,
            i64::MAX,
            i64::MIN,
        ] {
            let b = enc64(v);
            assert_eq!(b.len(), varlong_size(v), "{v}");
            let mut pos = 0;
            assert_eq!(read_varlong(&b, &mut pos).unwrap(), v);
            assert_eq!(pos, b.len());
        }
    }

    #[test]
    fn overlong_and_truncated_varints_are_errors() {
        let mut pos = 0;
        assert!(matches!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], &mut pos),
            Err(RecordError::InvalidVarint)
        ));
        let mut pos = 0;
        assert!(matches!(
            read_varlong(&[0xff; 11], &mut pos),
            Err(RecordError::InvalidVarint)
        ));
        for bytes in [&[][..], &[0x80], &[0xff, 0xff]] {
            let mut pos = 0;
            assert!(matches!(
                read_varint(bytes, &mut pos),
                Err(RecordError::Truncated)
            ));
            assert_eq!(pos, 0, "position must not move on error");
            assert!(matches!(
                read_varlong(bytes, &mut pos),
                Err(RecordError::Truncated)
            ));
        }
    }

    proptest! {
        #[test]
        fn varint_round_trip(v in any::<i32>()) {
            let b = enc32(v);
            prop_assert_eq!(b.len(), varint_size(v));
            let mut pos = 0;
            prop_assert_eq!(read_varint(&b, &mut pos).unwrap(), v);
            prop_assert_eq!(pos, b.len());
        }

        #[test]
        fn varlong_round_trip(v in any::<i64>()) {
            let b = enc64(v);
            prop_assert_eq!(b.len(), varlong_size(v));
            let mut pos = 0;
            prop_assert_eq!(read_varlong(&b, &mut pos).unwrap(), v);
            prop_assert_eq!(pos, b.len());
        }
    }
}
