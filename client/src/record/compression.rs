//! Compression codecs for the records section of a batch, framed the way the Java client frames
//! them. Owns the framing (gzip stream, xerial snappy, LZ4 frame, zstd frame) and the bound on
//! decompressed output; must not touch the batch header.
//!
//! Writing:
//! - gzip: one plain gzip member (flate2), level 1..=9 (Java default -1 = zlib's 6).
//! - snappy: xerial framing, as `SnappyOutputStream` writes it: the 16-byte header
//!   `\x82SNAPPY\0` + version 1 (i32 BE) + compatible version 1 (i32 BE), then blocks of at most
//!   32 KiB of input, each as a 4-byte big-endian compressed length and raw snappy data.
//! - lz4: an LZ4 frame like Kafka's `Lz4BlockOutputStream`: FLG 0x60 (version 1, independent
//!   blocks, no checksums, no content size), BD 0x40 (64 KiB blocks), blocks stored raw (high bit
//!   set in the size) when they do not compress, then the 0 end mark.
//! - zstd: one standard zstd frame, level default 3.
//!
//! Reading accepts whatever standard producers write: concatenated gzip members, xerial snappy
//! (also concatenated streams) and raw unframed snappy, any LZ4 frame (linked blocks, checksums,
//! content size), and zstd frames. The decompressed size is capped by the caller's limit, checked
//! while inflating, so a small "zip bomb" cannot exhaust memory.

use std::io::{self, Read, Write};

use super::{Compression, RecordError};

/// xerial snappy stream header: magic, version 1, compatible version 1.
pub(crate) const XERIAL_HEADER: [u8; 16] = *b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// `SnappyOutputStream`'s default block size.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// Snappy's worst-case expansion is a 3-byte copy tag producing 64 bytes (about 21x); a larger
/// claimed length cannot be valid, so it is refused before allocating.
const SNAPPY_MAX_EXPANSION: usize = 32;

const LZ4_MAGIC: u32 = 0x184D_2204;
/// FLG: version 01, block independence, no block checksum, no content size/checksum.
const LZ4_FLG: u8 = 0x60;
/// BD: maximum block size 64 KiB.
const LZ4_BD: u8 = 0x40;
/// Header checksum: `(xxh32(FLG, BD) >> 8) & 0xff` for the two bytes above.
const LZ4_HC: u8 = 0x82;
const LZ4_BLOCK_SIZE: usize = 64 * 1024;
const LZ4_UNCOMPRESSED_BIT: u32 = 0x8000_0000;

const ZSTD_DEFAULT_LEVEL: i32 = 3;

fn codec_error(codec: Compression, e: impl Into<io::Error>) -> RecordError {
    RecordError::Compression {
        codec,
        source: e.into(),
    }
}

fn invalid_data(msg: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Checks a compression level against the ranges Kafka accepts for the codec
/// (`compression.<codec>.level`). Snappy has no level and ignores it.
pub(crate) fn validate_level(codec: Compression, level: Option<i32>) -> Result<(), RecordError> {
    let Some(level) = level else { return Ok(()) };
    let ok = match codec {
        Compression::None | Compression::Snappy => true,
        Compression::Gzip => level == -1 || (1..=9).contains(&level),
        Compression::Lz4 => (1..=17).contains(&level),
        Compression::Zstd => zstd::compression_level_range().contains(&level),
    };
    if ok {
        Ok(())
    } else {
        Err(RecordError::InvalidCompressionLevel { codec, level })
    }
}

/// Compresses `input` and appends the framed result to `out`.
pub(crate) fn compress(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RecordError> {
    validate_level(codec, level)?;
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let level = match level {
                None | Some(-1) => flate2::Compression::default(),
                Some(l) => flate2::Compression::new(l as u32),
            };
            let mut enc = flate2::write::GzEncoder::new(out, level);
            enc.write_all(input).map_err(|e| codec_error(codec, e))?;
            enc.finish().map_err(|e| codec_error(codec, e))?;
        }
        Compression::Snappy => compress_xerial_snappy(input, out)?,
        Compression::Lz4 => compress_lz4_frame(input, out)?,
        Compression::Zstd => {
            let level = level.unwrap_or(ZSTD_DEFAULT_LEVEL);
            let mut enc =
                zstd::stream::write::Encoder::new(out, level).map_err(|e| codec_error(codec, e))?;
            enc.write_all(input).map_err(|e| codec_error(codec, e))?;
            enc.finish().map_err(|e| codec_error(codec, e))?;
        }
    }
    Ok(())
}

fn compress_xerial_snappy(input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
    out.extend_from_slice(&XERIAL_HEADER);
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK_SIZE) {
        let len_at = out.len();
        let max = snap::raw::max_compress_len(block.len());
        out.resize(len_at + 4 + max, 0);
        let n = encoder
            .compress(block, &mut out[len_at + 4..])
            .map_err(|e| codec_error(Compression::Snappy, invalid_data(e)))?;
        out.truncate(len_at + 4 + n);
        out[len_at..len_at + 4].copy_from_slice(&(n as u32).to_be_bytes());
    }
    Ok(())
}

fn compress_lz4_frame(input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
    out.extend_from_slice(&LZ4_MAGIC.to_le_bytes());
    out.extend_from_slice(&[LZ4_FLG, LZ4_BD, LZ4_HC]);
    for block in input.chunks(LZ4_BLOCK_SIZE) {
        let len_at = out.len();
        let max = lz4_flex::block::get_maximum_output_size(block.len());
        out.resize(len_at + 4 + max, 0);
        let n = lz4_flex::block::compress_into(block, &mut out[len_at + 4..])
            .map_err(|e| codec_error(Compression::Lz4, invalid_data(e)))?;
        if n >= block.len() {
            // Incompressible: store as is, like Java does.
            out.truncate(len_at + 4);
            out.extend_from_slice(block);
            let size = block.len() as u32 | LZ4_UNCOMPRESSED_BIT;
            out[len_at..len_at + 4].copy_from_slice(&size.to_le_bytes());
        } else {
            out.truncate(len_at + 4 + n);
            out[len_at..len_at + 4].copy_from_slice(&(n as u32).to_le_bytes());
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    Ok(())
}

/// Decompresses a records section. Output larger than `limit` bytes is an error
/// ([`RecordError::DecompressedTooLarge`]), detected before the excess is buffered.
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, RecordError> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(RecordError::DecompressedTooLarge { limit });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => read_bounded(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            input.len(),
            limit,
        ),
        Compression::Snappy => decompress_snappy(input, limit),
        Compression::Lz4 => decompress_lz4(input, limit),
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| codec_error(codec, e))?;
            read_bounded(codec, dec, input.len(), limit)
        }
    }
}

/// Decodes LZ4 frames. Frames with independent blocks (what Java, librdkafka and kafkit write)
/// are decoded block by block straight into the output; anything else (linked blocks,
/// dictionaries, legacy or skippable frames) goes through lz4_flex's streaming decoder.
/// Header and content checksums are not verified: the batch CRC-32C already covers the bytes.
fn decompress_lz4(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let codec = Compression::Lz4;
    let corrupt = |msg: &str| codec_error(codec, invalid_data(msg.to_owned()));
    let streaming = || {
        read_bounded(
            codec,
            lz4_flex::frame::FrameDecoder::new(input),
            input.len(),
            limit,
        )
    };
    let mut out = Vec::new();
    let mut p = 0;
    while p < input.len() {
        let rest = &input[p..];
        if rest.len() < 7 || u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) != LZ4_MAGIC {
            return streaming();
        }
        let (flg, bd) = (rest[4], rest[5]);
        let independent = flg & 0x20 != 0;
        if flg >> 6 != 1 || flg & 0x03 != 0 || !independent {
            return streaming();
        }
        let block_checksum = flg & 0x10 != 0;
        let content_size = flg & 0x08 != 0;
        let content_checksum = flg & 0x04 != 0;
        let max_block = match (bd >> 4) & 0x07 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            _ => return Err(corrupt("invalid LZ4 block maximum size")),
        };
        p += 7 + if content_size { 8 } else { 0 };
        loop {
            let Some(size) = input.get(p..p + 4) else {
                return Err(corrupt("truncated LZ4 frame"));
            };
            let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]);
            p += 4;
            if size == 0 {
                break;
            }
            let stored = size & LZ4_UNCOMPRESSED_BIT != 0;
            let len = (size & !LZ4_UNCOMPRESSED_BIT) as usize;
            if len > max_block || len > input.len() - p {
                return Err(corrupt("LZ4 block size out of range"));
            }
            let block = &input[p..p + len];
            p += len + if block_checksum { 4 } else { 0 };
            let room = limit - out.len();
            if stored {
                if len > room {
                    return Err(RecordError::DecompressedTooLarge { limit });
                }
                out.extend_from_slice(block);
                continue;
            }
            // Guess the block's size from typical ratios; retry at the maximum when short.
            let most = max_block.min(room);
            let mut guess = len.saturating_mul(12).max(4096).min(most);
            loop {
                let start = out.len();
                out.resize(start + guess, 0);
                match lz4_flex::block::decompress_into(block, &mut out[start..]) {
                    Ok(n) => {
                        out.truncate(start + n);
                        break;
                    }
                    Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) => {
                        out.truncate(start);
                        if guess < most {
                            guess = most;
                        } else if most < max_block {
                            return Err(RecordError::DecompressedTooLarge { limit });
                        } else {
                            return Err(corrupt("LZ4 block larger than the frame's maximum"));
                        }
                    }
                    Err(e) => return Err(codec_error(codec, invalid_data(e))),
                }
            }
        }
        p += if content_checksum { 4 } else { 0 };
        if p > input.len() {
            return Err(corrupt("truncated LZ4 frame"));
        }
    }
    Ok(out)
}

/// Reads a decoder to its end, refusing more than `limit` bytes. The buffer grows with the
/// actual output, starting from a guess based on the compressed size.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    compressed_len: usize,
    limit: usize,
) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(4).min(limit).max(64));
    let mut take = reader.take(limit as u64 + 1);
    take.read_to_end(&mut out)
        .map_err(|e| codec_error(codec, e))?;
    if out.len() > limit {
        return Err(RecordError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

fn decompress_snappy(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    if !input.starts_with(XERIAL_MAGIC) {
        // Raw, unframed snappy.
        snappy_block_into(input, &mut out, limit)?;
        return Ok(out);
    }
    let mut rest = input;
    while !rest.is_empty() {
        if rest.starts_with(XERIAL_MAGIC) {
            // A stream header (the first one, or that of a concatenated stream).
            if rest.len() < XERIAL_HEADER.len() {
                return Err(codec_error(
                    Compression::Snappy,
                    invalid_data("truncated xerial snappy header"),
                ));
            }
            rest = &rest[XERIAL_HEADER.len()..];
            continue;
        }
        if rest.len() < 4 {
            return Err(codec_error(
                Compression::Snappy,
                invalid_data("truncated xerial snappy block length"),
            ));
        }
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        if len < 0 || len as usize > rest.len() {
            return Err(codec_error(
                Compression::Snappy,
                invalid_data(format!(
                    "xerial snappy block length {len} exceeds the {} bytes left",
                    rest.len()
                )),
            ));
        }
        let (block, tail) = rest.split_at(len as usize);
        snappy_block_into(block, &mut out, limit)?;
        rest = tail;
    }
    Ok(out)
}

/// Decompresses one raw snappy block, appending to `out`.
fn snappy_block_into(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordError> {
    let codec = Compression::Snappy;
    let claimed =
        snap::raw::decompress_len(block).map_err(|e| codec_error(codec, invalid_data(e)))?;
    if claimed > block.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(codec_error(
            codec,
            invalid_data(format!(
                "snappy block of {} bytes claims {claimed} bytes uncompressed",
                block.len()
            )),
        ));
    }
    if out.len().saturating_add(claimed) > limit {
        return Err(RecordError::DecompressedTooLarge { limit });
    }
    let start = out.len();
    out.resize(start + claimed, 0);
    let n = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| codec_error(codec, invalid_data(e)))?;
    out.truncate(start + n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    fn round_trip(codec: Compression, data: &[u8]) {
        let mut out = Vec::new();
        compress(codec, None, data, &mut out).unwrap();
        let back = decompress(codec, &out, usize::MAX / 2).unwrap();
        assert_eq!(back, data, "{codec:?} len {}", data.len());
    }

    #[test]
    fn every_codec_round_trips_small_empty_and_multi_block() {
        for codec in ALL {
            round_trip(codec, b"");
            round_trip(codec, b"hello kafka");
            round_trip(codec, &sample(200_000));
        }
    }

    #[test]
    fn xerial_snappy_header_and_block_framing_are_exact() {
        let data = sample(80_000); // 3 blocks of at most 32 KiB input
        let mut out = Vec::new();
        compress(Compression::Snappy, None, &data, &mut out).unwrap();
        assert_eq!(&out[..8], b"\x82SNAPPY\x00");
        assert_eq!(&out[8..12], &1i32.to_be_bytes());
        assert_eq!(&out[12..16], &1i32.to_be_bytes());
        let mut rest = &out[16..];
        let mut inputs = Vec::new();
        while !rest.is_empty() {
            let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let block = &rest[4..4 + n];
            inputs.push(snap::raw::decompress_len(block).unwrap());
            rest = &rest[4 + n..];
        }
        assert_eq!(inputs, [32 * 1024, 32 * 1024, 80_000 - 64 * 1024]);
    }

    #[test]
    fn raw_snappy_and_concatenated_xerial_streams_are_read() {
        let data = sample(50_000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 1 << 20).unwrap(),
            data
        );

        let mut two = Vec::new();
        compress(Compression::Snappy, None, b"abc", &mut two).unwrap();
        compress(Compression::Snappy, None, b"def", &mut two).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &two, 100).unwrap(),
            b"abcdef"
        );
    }

    #[test]
    fn lz4_frame_header_matches_java_and_lz4_flex_reads_it() {
        let data = sample(150_000);
        let mut out = Vec::new();
        compress(Compression::Lz4, None, &data, &mut out).unwrap();
        assert_eq!(&out[..7], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0]);
        // The reference frame encoder, configured like Java, produces the same descriptor
        // (this pins the hard-coded header checksum).
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_mode(lz4_flex::frame::BlockMode::Independent);
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(b"x").unwrap();
        let reference = enc.finish().unwrap();
        assert_eq!(&reference[..7], &out[..7]);
        let mut back = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn lz4_frames_from_other_writers_are_read() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let data = sample(300_000);
        for (block_size, block_mode, checksums, content_size) in [
            (
                BlockSize::Max64KB,
                BlockMode::Independent,
                true,
                Some(300_000),
            ),
            (BlockSize::Max256KB, BlockMode::Independent, false, None),
            (BlockSize::Max1MB, BlockMode::Independent, true, None),
            (BlockSize::Max64KB, BlockMode::Linked, false, None),
            (BlockSize::Max4MB, BlockMode::Linked, true, Some(300_000)),
        ] {
            let info = FrameInfo::new()
                .block_size(block_size)
                .block_mode(block_mode)
                .block_checksums(checksums)
                .content_checksum(checksums)
                .content_size(content_size);
            let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(&data).unwrap();
            let framed = enc.finish().unwrap();
            let label = format!("{block_size:?} {block_mode:?} {checksums} {content_size:?}");
            assert_eq!(
                decompress(Compression::Lz4, &framed, 1 << 20).unwrap(),
                data,
                "{label}"
            );
            assert!(
                matches!(
                    decompress(Compression::Lz4, &framed, 100_000),
                    Err(RecordError::DecompressedTooLarge { .. })
                ),
                "{label}"
            );
            // lz4_flex's streaming decoder (used for linked blocks) tolerates a cut end mark.
            let cuts = if block_mode == BlockMode::Independent {
                vec![1, 4, 5, framed.len() / 2]
            } else {
                vec![framed.len() / 2]
            };
            for cut in cuts {
                assert!(
                    decompress(Compression::Lz4, &framed[..framed.len() - cut], 1 << 20).is_err(),
                    "{label} cut {cut}"
                );
            }
        }
        // Two concatenated frames read as one stream.
        let mut two = Vec::new();
        compress(Compression::Lz4, None, b"abc", &mut two).unwrap();
        compress(Compression::Lz4, None, b"def", &mut two).unwrap();
        assert_eq!(decompress(Compression::Lz4, &two, 100).unwrap(), b"abcdef");
        // Highly compressible blocks exceed the size guess and are retried.
        let zeros = vec![0u8; 200_000];
        let mut out = Vec::new();
        compress(Compression::Lz4, None, &zeros, &mut out).unwrap();
        assert_eq!(decompress(Compression::Lz4, &out, 1 << 20).unwrap(), zeros);
    }

    #[test]
    fn incompressible_lz4_blocks_are_stored_raw() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let data: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut out = Vec::new();
        compress(Compression::Lz4, None, &data, &mut out).unwrap();
        let size = u32::from_le_bytes(out[7..11].try_into().unwrap());
        assert_eq!(size, 1000 | LZ4_UNCOMPRESSED_BIT);
        assert_eq!(decompress(Compression::Lz4, &out, 1000).unwrap(), data);
    }

    #[test]
    fn decompression_is_bounded_for_every_codec() {
        let data = vec![0u8; 3 << 20];
        for codec in ALL {
            let mut out = Vec::new();
            compress(codec, None, &data, &mut out).unwrap();
            assert!(
                matches!(
                    decompress(codec, &out, 1 << 20),
                    Err(RecordError::DecompressedTooLarge { limit }) if limit == 1 << 20
                ),
                "{codec:?}"
            );
            assert_eq!(decompress(codec, &out, 3 << 20).unwrap().len(), 3 << 20);
        }
    }

    #[test]
    fn snappy_refuses_impossible_claimed_length_before_allocating() {
        // varint 0xffffffff claimed, almost no data.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(
            decompress(Compression::Snappy, &bomb, usize::MAX),
            Err(RecordError::Compression { .. })
        ));
        let mut framed = XERIAL_HEADER.to_vec();
        framed.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(decompress(Compression::Snappy, &framed, usize::MAX).is_err());
    }

    #[test]
    fn levels_are_validated_per_codec() {
        assert!(validate_level(Compression::Gzip, Some(9)).is_ok());
        assert!(validate_level(Compression::Gzip, Some(-1)).is_ok());
        assert!(validate_level(Compression::Gzip, Some(10)).is_err());
        assert!(validate_level(Compression::Zstd, Some(22)).is_ok());
        assert!(validate_level(Compression::Zstd, Some(-5)).is_ok());
        assert!(validate_level(Compression::Zstd, Some(23)).is_err());
        assert!(validate_level(Compression::Lz4, Some(0)).is_err());
        assert!(validate_level(Compression::Snappy, Some(123)).is_ok());
        for level in [1, 9] {
            let mut out = Vec::new();
            compress(Compression::Gzip, Some(level), b"abcabcabc", &mut out).unwrap();
            assert_eq!(
                decompress(Compression::Gzip, &out, 100).unwrap(),
                b"abcabcabc"
            );
        }
    }
}
