//! Decoder for `Content-Encoding: xpress` answers, written from the published formats.
//!
//! A Windows client asks for it with `Accept-Encoding: xpress`; the server then frames the body as
//! MS-WUSP §2.1.1 describes: a sequence of blocks, each preceded by two signed little-endian 32-bit
//! integers, the block's original size and its compressed size, neither above 65,535. Each block is
//! compressed on its own by `CompressOrDecompressWin2k3` (MS-DRSR §4.1.10.5.21: LZ77 with the DIRECT2
//! encoding), which is the byte stream MS-XCA §2.4 calls "Plain LZ77". As in MS-DRSR's compressed
//! blobs, a block whose compressed size equals its original size is carried as is.
//!
//! Plain LZ77, as MS-XCA §2.4.4 decodes it: a 32-bit little-endian flag word announces the next 32
//! items, most significant bit first; a clear bit is one literal byte, a set bit a two-byte
//! little-endian match token whose upper 13 bits are the distance less one and whose lower 3 bits
//! start the length less three. A length code of 7 continues in a half byte (two matches share one
//! byte, low half first), 15 there continues in a byte, 255 there in a 16-bit word holding the whole
//! length less three, or a zero word and a 32-bit word holding it.
//!
//! Only decoding: the tests never compress. Pure, no I/O.

/// Largest original or compressed block MS-WUSP allows.
pub const MAX_BLOCK: usize = 65_535;

/// Why an xpress body could not be decoded. Positions count from the start of the body (framing
/// errors) or of the block (stream errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XpressError {
    /// Fewer than 8 bytes left for a block header; the position of the header.
    #[error("xpress body ends inside a block header at byte {0}")]
    ShortHeader(usize),
    /// A header with a size outside 0..=65,535.
    #[error("xpress block at byte {at} declares sizes {original}/{compressed}, outside 0..=65535")]
    BadSizes {
        /// Position of the header in the body.
        at: usize,
        /// The declared original size.
        original: i32,
        /// The declared compressed size.
        compressed: i32,
    },
    /// A header declares more compressed bytes than the body has left.
    #[error("xpress block at byte {at} declares {compressed} bytes, only {left} follow")]
    ShortBlock {
        /// Position of the header in the body.
        at: usize,
        /// The declared compressed size.
        compressed: usize,
        /// Bytes left after the header.
        left: usize,
    },
    /// Decoding would pass the caller's output limit (given, in bytes).
    #[error("decoded xpress body would pass the {0}-byte limit")]
    TooLarge(usize),
    /// The block's stream ends before its declared size is produced; the position in the block.
    #[error("LZ77 block ends early at byte {0}")]
    Truncated(usize),
    /// A match reaching back before the block's start.
    #[error("match at output byte {at} reaches {distance} bytes back, before the block starts")]
    BeforeStart {
        /// Output position of the match.
        at: usize,
        /// How far back it reaches.
        distance: usize,
    },
    /// A match running past the block's declared size.
    #[error("match of {length} bytes at output byte {at} passes the block's {size} bytes")]
    PastEnd {
        /// Output position of the match.
        at: usize,
        /// The match length.
        length: usize,
        /// The block's declared original size.
        size: usize,
    },
    /// A 16-bit long length below the 22 its escape implies; the position in the block.
    #[error("long match length at byte {0} is below the 22 its escape implies")]
    BadLength(usize),
}

/// Decodes a whole framed body, refusing to produce more than `limit` bytes.
pub fn decode_body(body: &[u8], limit: usize) -> Result<Vec<u8>, XpressError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let (original, compressed) = block_header(body, at)?;
        let start = at + 8;
        let left = body.len() - start;
        if compressed > left {
            return Err(XpressError::ShortBlock { at, compressed, left });
        }
        if original > limit.saturating_sub(out.len()) {
            return Err(XpressError::TooLarge(limit));
        }
        let block = &body[start..start + compressed];
        if original == compressed {
            out.extend_from_slice(block);
        } else {
            decode_into(block, original, &mut out)?;
        }
        at = start + compressed;
    }
    Ok(out)
}

/// Decodes one unframed Plain LZ77 block to exactly `size` bytes.
pub fn decode_block(block: &[u8], size: usize) -> Result<Vec<u8>, XpressError> {
    let mut out = Vec::with_capacity(size.min(1 << 20));
    decode_into(block, size, &mut out)?;
    Ok(out)
}

/// The (original, compressed) sizes of the block header at `at`, checked against MS-WUSP's bound.
fn block_header(body: &[u8], at: usize) -> Result<(usize, usize), XpressError> {
    let header = body.get(at..at + 8).ok_or(XpressError::ShortHeader(at))?;
    let original = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let compressed = i32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let checked = |size: i32| usize::try_from(size).ok().filter(|size| *size <= MAX_BLOCK);
    match (checked(original), checked(compressed)) {
        (Some(original), Some(compressed)) => Ok((original, compressed)),
        _ => Err(XpressError::BadSizes {
            at,
            original,
            compressed,
        }),
    }
}

/// Appends the `size` bytes `block` decodes to; matches may only reach back into this block.
fn decode_into(block: &[u8], size: usize, out: &mut Vec<u8>) -> Result<(), XpressError> {
    let base = out.len();
    let mut input = Input { bytes: block, at: 0 };
    let mut flags = Flags::default();
    let mut shared_half: Option<usize> = None;
    while out.len() - base < size {
        if !flags.next_is_match(&mut input)? {
            out.push(input.byte()?);
            continue;
        }
        let token = input.word()?;
        let distance = usize::from(token >> 3) + 1;
        let length = match_length(token & 7, &mut input, &mut shared_half)?;
        copy_back(out, base, distance, length, size)?;
    }
    Ok(())
}

/// The flag word being consumed and how many of its bits are left.
#[derive(Default)]
struct Flags {
    word: u32,
    left: u32,
}

impl Flags {
    /// Whether the next item is a match, reading a new flag word after every 32 items.
    fn next_is_match(&mut self, input: &mut Input<'_>) -> Result<bool, XpressError> {
        if self.left == 0 {
            self.word = input.dword()?;
            self.left = 32;
        }
        self.left -= 1;
        Ok(self.word & (1 << self.left) != 0)
    }
}

/// The full match length for a token's 3-bit code, reading whatever extensions it needs.
fn match_length(
    code: u16,
    input: &mut Input<'_>,
    shared_half: &mut Option<usize>,
) -> Result<usize, XpressError> {
    if code < 7 {
        return Ok(usize::from(code) + 3);
    }
    let half = match shared_half.take() {
        Some(at) => block_byte(input, at)? >> 4,
        None => {
            *shared_half = Some(input.at);
            input.byte()? & 0x0f
        }
    };
    if half < 15 {
        return Ok(usize::from(half) + 7 + 3);
    }
    let byte = input.byte()?;
    if byte < 255 {
        return Ok(usize::from(byte) + 15 + 7 + 3);
    }
    let at = input.at;
    let mut whole = usize::from(input.word()?);
    if whole == 0 {
        whole = usize::try_from(input.dword()?).map_err(|_| XpressError::BadLength(at))?;
    }
    if whole < 15 + 7 {
        return Err(XpressError::BadLength(at));
    }
    Ok(whole + 3)
}

fn block_byte(input: &Input<'_>, at: usize) -> Result<u8, XpressError> {
    input.bytes.get(at).copied().ok_or(XpressError::Truncated(at))
}

/// Appends `length` bytes starting `distance` back; the source may overlap what is written.
fn copy_back(
    out: &mut Vec<u8>,
    base: usize,
    distance: usize,
    length: usize,
    size: usize,
) -> Result<(), XpressError> {
    let at = out.len() - base;
    if distance > at {
        return Err(XpressError::BeforeStart { at, distance });
    }
    if length > size - at {
        return Err(XpressError::PastEnd { at, length, size });
    }
    for _ in 0..length {
        let byte = out[out.len() - distance];
        out.push(byte);
    }
    Ok(())
}

/// A cursor over one compressed block.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn take(&mut self, count: usize) -> Result<&[u8], XpressError> {
        let slice = self
            .bytes
            .get(self.at..self.at + count)
            .ok_or(XpressError::Truncated(self.at))?;
        self.at += count;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, XpressError> {
        Ok(self.take(1)?[0])
    }

    fn word(&mut self) -> Result<u16, XpressError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn dword(&mut self) -> Result<u32, XpressError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|pair| u8::from_str_radix(pair, 16).expect("hex pair"))
            .collect()
    }

    /// A framed block: original size, compressed size, bytes.
    fn frame(original: usize, block: &[u8]) -> Vec<u8> {
        let mut out = (original as i32).to_le_bytes().to_vec();
        out.extend_from_slice(&(block.len() as i32).to_le_bytes());
        out.extend_from_slice(block);
        out
    }

    /// MS-XCA §3.1, first example: 26 literals under one flag word whose 6 unused bits are set.
    #[test]
    fn spec_example_of_literals_decodes() {
        let packed =
            hex("3f 00 00 00 61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f 70 71 72 73 74 75 76 77 78 79 7a");
        assert_eq!(decode_block(&packed, 26).unwrap(), b"abcdefghijklmnopqrstuvwxyz");
    }

    /// MS-XCA §3.1, second example: "abc" and one overlapping match 3 back of 297 bytes, whose
    /// length runs through the half byte, the byte and the word.
    #[test]
    fn spec_example_of_a_long_overlapping_match_decodes() {
        let packed = hex("ff ff ff 1f 61 62 63 17 00 0f ff 26 01");
        assert_eq!(decode_block(&packed, 300).unwrap(), b"abc".repeat(100));
    }

    /// Streams worked out by hand from §2.4.4: after "a", matches one byte back whose lengths
    /// stop at each extension; two long matches share one half byte (low half first).
    #[test]
    fn every_length_extension_decodes_as_specified() {
        let cases: [(&str, usize); 7] = [
            ("06 00", 9),                              // code 6: 6 + 3
            ("07 00 00", 10),                          // half byte 0: 0 + 7 + 3
            ("07 00 0e", 24),                          // half byte 14
            ("07 00 0f 00", 25),                       // byte 0: 0 + 15 + 7 + 3
            ("07 00 0f fe", 279),                      // byte 254
            ("07 00 0f ff 16 01", 281),                // word 278: 278 + 3
            ("07 00 0f ff 00 00 6d 11 01 00", 70_000), // zero word, dword 69,997
        ];
        for (tail, length) in cases {
            let packed = hex(&format!("ff ff ff 7f 61 {tail}"));
            assert_eq!(
                decode_block(&packed, 1 + length).unwrap(),
                vec![b'a'; 1 + length],
                "{tail}"
            );
        }
        let shared = hex("ff ff ff 7f 61 07 00 e0 07 00");
        assert_eq!(decode_block(&shared, 1 + 10 + 24).unwrap(), vec![b'a'; 35]);
    }

    #[test]
    fn a_new_flag_word_follows_every_32_items() {
        let mut packed = vec![0, 0, 0, 0];
        packed.extend(b"0123456789abcdefghijklmnopqrstuv");
        // Then a literal and a match of 8 bytes 11 back: token (10 << 3) | (8 - 3).
        packed.extend(hex("ff ff ff 7f 21 55 00"));
        let mut expected = b"0123456789abcdefghijklmnopqrstuv!".to_vec();
        expected.extend(b"mnopqrst");
        assert_eq!(decode_block(&packed, expected.len()).unwrap(), expected);
    }

    #[test]
    fn framing_joins_compressed_and_stored_blocks() {
        let mut body = frame(300, &hex("ff ff ff 1f 61 62 63 17 00 0f ff 26 01"));
        body.extend(frame(5, b"hello"));
        let mut expected = b"abc".repeat(100);
        expected.extend(b"hello");
        assert_eq!(decode_body(&body, 1 << 20).unwrap(), expected);
        assert_eq!(decode_body(&[], 0).unwrap(), b"");
    }

    #[test]
    fn framing_errors_are_reported() {
        let good = frame(5, b"hello");
        assert_eq!(decode_body(&good[..6], 100), Err(XpressError::ShortHeader(0)));
        assert_eq!(
            decode_body(&good[..10], 100),
            Err(XpressError::ShortBlock {
                at: 0,
                compressed: 5,
                left: 2
            })
        );
        assert_eq!(decode_body(&good, 4), Err(XpressError::TooLarge(4)));
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&70_000i32.to_le_bytes());
        assert!(matches!(
            decode_body(&huge, usize::MAX),
            Err(XpressError::BadSizes { .. })
        ));
        let mut negative = good;
        negative[4..8].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(matches!(
            decode_body(&negative, 100),
            Err(XpressError::BadSizes { .. })
        ));
    }

    #[test]
    fn corrupt_streams_are_errors_not_panics() {
        assert_eq!(
            decode_block(&hex("00 00 00 80 00 00"), 4),
            Err(XpressError::BeforeStart { at: 0, distance: 1 })
        );
        assert_eq!(
            decode_block(&hex("ff ff ff 7f 61 06 00"), 5),
            Err(XpressError::PastEnd {
                at: 1,
                length: 9,
                size: 5
            })
        );
        assert_eq!(
            decode_block(&hex("ff ff ff 7f 61 07 00 0f ff 05 00"), 40),
            Err(XpressError::BadLength(9))
        );
        assert_eq!(
            decode_block(&hex("00 00 00 00 61"), 2),
            Err(XpressError::Truncated(5))
        );
        assert_eq!(decode_block(&hex("00 00"), 1), Err(XpressError::Truncated(0)));
        for seed in 0u32..2_000 {
            let garbage: Vec<u8> = (0..seed % 40)
                .map(|i| (seed.wrapping_mul(2_654_435_761) >> (i % 24)) as u8)
                .collect();
            let _ = decode_block(&garbage, (seed as usize * 7) % 500);
            let _ = decode_body(&garbage, 1 << 16);
        }
    }
}
