//! `Content-Encoding: xpress` (docs/protocol.md §10.1, MS-WUSP 2.1.1): the body is cut into blocks of at
//! most [`MAX_BLOCK`] bytes, each sent as its original size and its compressed size (u32 LE) and then
//! the block — stored raw when the two sizes are equal, otherwise compressed with MS-XCA "Plain LZ77"
//! (§2.3, §2.4): 32-bit flag words, 2-byte match tokens (13-bit offset, 3-bit length extended by a
//! shared half byte, a byte, a word and a dword), matches of at least 3 bytes at most 8,192 back.
//! Pure: no I/O; uses nothing from the crate.
//!
//! Hand-written rather than taken from crates.io: `xpress_rs` 0.2.0 (the one Xpress crate on crates.io) is a
//! self-described work in progress, unchanged since July 2023, whose decoder takes no output size or
//! limit, whose encoder writes into an unchecked fixed buffer (by its own README), and which knows
//! nothing of the MS-WUSP block framing. The codec is a few hundred lines, pinned here to the
//! specification's examples and to Samba's independent test vectors.

/// Largest block the framing allows (its sizes are written as u32 but MS-WUSP caps a block here).
pub const MAX_BLOCK: usize = 65_535;

const HEADER_LEN: usize = 8;
const MIN_MATCH: usize = 3;
const MAX_OFFSET: usize = 8_192;
/// Longest match the format can describe: its length less 3 has to fit the dword extension.
const MAX_MATCH: usize = u32::MAX as usize;
/// Upper bound on hash-table bits; small blocks use fewer so they do not pay for a large table.
const MAX_HASH_BITS: u32 = 14;
/// Earlier positions with the same hash tried per search: buys ratio at a cost in speed. Four
/// keeps SOAP responses within a few per cent of sixteen's ratio at about twice the speed
/// (compression was a sixth of a scan's server CPU).
const MAX_CHAIN: usize = 4;
/// A match this long is taken at once, without searching further or trying one byte later.
const NICE_MATCH: usize = 64;

/// Why an xpress stream could not be decoded. Offsets inside a block count from that block's start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XpressError {
    /// Fewer than 8 bytes left for a block header.
    #[error("xpress stream ends inside the block header at byte {at}")]
    TruncatedHeader {
        /// Position of the header in the stream.
        at: usize,
    },
    /// A header declares more compressed bytes than the stream has left.
    #[error("xpress block at byte {at} claims {compressed} bytes but only {available} follow")]
    BlockPastEnd {
        /// Position of the header in the stream.
        at: usize,
        /// The declared compressed size.
        compressed: usize,
        /// Bytes left after the header.
        available: usize,
    },
    /// Decoding would pass the caller's output limit.
    #[error("xpress output would exceed the {max}-byte limit")]
    OutputTooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// A compressed block ends before its declared size is produced.
    #[error("compressed block ends early at byte {at}")]
    TruncatedBlock {
        /// Position in the block.
        at: usize,
    },
    /// A match reaching back before the start of its block.
    #[error("match at output byte {at} reaches {offset} bytes back, before the start of its block")]
    OffsetBeforeStart {
        /// Output position of the match in the block.
        at: usize,
        /// How far back it reaches.
        offset: usize,
    },
    /// A match running past the block's declared size.
    #[error("match of {length} bytes at output byte {at} runs past the block's {size} bytes")]
    MatchPastEnd {
        /// Output position of the match in the block.
        at: usize,
        /// The match length.
        length: usize,
        /// The block's declared original size.
        size: usize,
    },
    /// A 16-bit long length below the 22 its encoding adds.
    #[error("long match length at byte {at} is below the 22 its encoding adds")]
    InvalidLength {
        /// Position in the block.
        at: usize,
    },
}

/// Frames `input` as an xpress body: blocks of at most [`MAX_BLOCK`] bytes, each compressed, or
/// stored raw when compression does not shrink it. Empty input gives an empty body.
pub fn compress(input: &[u8]) -> Vec<u8> {
    compress_framed(input, frame)
}

/// `compress`, with each block's frame (its two sizes and its bytes, as [`frame`] writes
/// them) appended by `frame_block`: a caller may keep the frames of blocks it has seen and
/// append a kept one instead (the blocks are independent, so the body is the same).
pub fn compress_framed(input: &[u8], mut frame_block: impl FnMut(&[u8], &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + HEADER_LEN);
    for block in input.chunks(MAX_BLOCK) {
        frame_block(block, &mut out);
    }
    out
}

/// Appends one block of at most [`MAX_BLOCK`] bytes as it is framed: compressed, or raw when
/// compression does not shrink it.
pub fn frame(block: &[u8], out: &mut Vec<u8>) {
    let packed = compress_block(block);
    let body = if packed.len() < block.len() {
        &packed[..]
    } else {
        block
    };
    // Both sizes are at most MAX_BLOCK, so they fit the u32 fields.
    out.extend_from_slice(&(block.len() as u32).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

/// Decodes a whole xpress body, every block, refusing to produce more than `max_output` bytes.
pub fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, XpressError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let header = input
            .get(at..at + HEADER_LEN)
            .ok_or(XpressError::TruncatedHeader { at })?;
        let original = u32::from_le_bytes(word(&header[..4])) as usize;
        let compressed = u32::from_le_bytes(word(&header[4..])) as usize;
        let start = at + HEADER_LEN;
        let available = input.len() - start;
        if compressed > available {
            return Err(XpressError::BlockPastEnd {
                at,
                compressed,
                available,
            });
        }
        if original > max_output - out.len() {
            return Err(XpressError::OutputTooLarge { max: max_output });
        }
        let body = &input[start..start + compressed];
        if original == compressed {
            out.extend_from_slice(body);
        } else {
            decode_block(body, original, &mut out)?;
        }
        at = start + compressed;
    }
    Ok(out)
}

/// Compresses one block with Plain LZ77, without framing. Any length works, but a framed block
/// holds at most [`MAX_BLOCK`] bytes.
pub fn compress_block(input: &[u8]) -> Vec<u8> {
    let mut encoder = Encoder::with_capacity(input.len() / 2 + 8);
    let mut finder = MatchFinder::new(input.len());
    let mut at = 0;
    let mut found = finder.find(input, at);
    while at < input.len() {
        let Some(current) = found else {
            encoder.push_literal(input[at]);
            at += 1;
            found = finder.find(input, at);
            continue;
        };
        let mut indexed = at + 1;
        if current.length < NICE_MATCH {
            // Lazy matching: a longer match one byte later is worth a literal now.
            let next = finder.find(input, at + 1);
            if next.is_some_and(|next| next.length > current.length) {
                encoder.push_literal(input[at]);
                at += 1;
                found = next;
                continue;
            }
            indexed = at + 2;
        }
        finder.index(input, indexed..at + current.length);
        encoder.push_match(current);
        at += current.length;
        found = finder.find(input, at);
    }
    encoder.finish()
}

/// Decodes one Plain LZ77 block, without framing, to exactly `original_size` bytes.
pub fn decompress_block(input: &[u8], original_size: usize) -> Result<Vec<u8>, XpressError> {
    let mut out = Vec::with_capacity(original_size.min(MAX_BLOCK));
    decode_block(input, original_size, &mut out)?;
    Ok(out)
}

/// Appends the `size` bytes `input` decodes to onto `out`; matches stay within this block.
fn decode_block(input: &[u8], size: usize, out: &mut Vec<u8>) -> Result<(), XpressError> {
    let base = out.len();
    let mut reader = Reader { bytes: input, at: 0 };
    let mut flags = 0u32;
    let mut flag_count = 0u32;
    let mut half_byte = None;
    while out.len() - base < size {
        if flag_count == 0 {
            flags = u32::from_le_bytes(reader.take()?);
            flag_count = 32;
        }
        flag_count -= 1;
        if (flags >> flag_count) & 1 == 0 {
            out.push(reader.byte()?);
            continue;
        }
        let token = u16::from_le_bytes(reader.take()?);
        let offset = usize::from(token >> 3) + 1;
        let length = match_length(token, &mut reader, &mut half_byte)?;
        copy_match(out, base, offset, length, size)?;
    }
    Ok(())
}

/// Reads the rest of a match length: 3 bits in the token, then a half byte (two matches share one
/// byte, low half first), then a byte, then a word holding the length less 3, or a zero word and a dword.
fn match_length(
    token: u16,
    reader: &mut Reader<'_>,
    half_byte: &mut Option<usize>,
) -> Result<usize, XpressError> {
    let short = usize::from(token & 7);
    if short < 7 {
        return Ok(short + MIN_MATCH);
    }
    let nibble = match half_byte.take() {
        Some(at) => reader.bytes[at] >> 4,
        None => {
            *half_byte = Some(reader.at);
            reader.byte()? & 0x0f
        }
    };
    if nibble < 15 {
        return Ok(usize::from(nibble) + 7 + MIN_MATCH);
    }
    let byte = reader.byte()?;
    if byte < 255 {
        return Ok(usize::from(byte) + 15 + 7 + MIN_MATCH);
    }
    let at = reader.at;
    let mut long = u16::from_le_bytes(reader.take()?) as usize;
    if long == 0 {
        long = u32::from_le_bytes(reader.take()?) as usize;
    }
    if long < 15 + 7 {
        return Err(XpressError::InvalidLength { at });
    }
    Ok(long.saturating_add(MIN_MATCH))
}

/// Appends `length` bytes copied from `offset` back, which may overlap what is being written.
fn copy_match(
    out: &mut Vec<u8>,
    base: usize,
    offset: usize,
    length: usize,
    size: usize,
) -> Result<(), XpressError> {
    let at = out.len() - base;
    if offset > at {
        return Err(XpressError::OffsetBeforeStart { at, offset });
    }
    if length > size - at {
        return Err(XpressError::MatchPastEnd { at, length, size });
    }
    let start = out.len() - offset;
    let end = out.len() + length;
    // The copied bytes repeat with period `offset`, so each pass may copy all it has written so far.
    while out.len() < end {
        let step = (out.len() - start).min(end - out.len());
        out.extend_from_within(start..start + step);
    }
    Ok(())
}

/// A cursor over one compressed block.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], XpressError> {
        let chunk = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or(XpressError::TruncatedBlock { at: self.at })?;
        self.at += N;
        let mut array = [0; N];
        array.copy_from_slice(chunk);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, XpressError> {
        Ok(self.take::<1>()?[0])
    }
}

fn word<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut array = [0; N];
    array.copy_from_slice(bytes);
    array
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Match {
    offset: usize,
    length: usize,
}

/// Writes the Plain LZ77 stream: symbols go out as they come, each flag word is filled in once its
/// 32 symbols are written.
struct Encoder {
    out: Vec<u8>,
    flags_at: usize,
    flags: u32,
    flag_count: u32,
    half_byte: Option<usize>,
}

impl Encoder {
    fn with_capacity(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity.max(4));
        out.extend_from_slice(&[0; 4]);
        Encoder {
            out,
            flags_at: 0,
            flags: 0,
            flag_count: 0,
            half_byte: None,
        }
    }

    fn push_literal(&mut self, byte: u8) {
        self.out.push(byte);
        self.push_flag(0);
    }

    fn push_match(&mut self, found: Match) {
        let length = found.length - MIN_MATCH;
        // offset ≤ 8,192, so (offset - 1) << 3 fits 16 bits.
        let token = ((found.offset - 1) << 3) as u16;
        if length < 7 {
            self.out.extend_from_slice(&(token | length as u16).to_le_bytes());
        } else {
            self.out.extend_from_slice(&(token | 7).to_le_bytes());
            self.push_long_length(length);
        }
        self.push_flag(1);
    }

    /// The extensions of a match length less 3 that did not fit the token's 3 bits.
    fn push_long_length(&mut self, length: usize) {
        let rest = length - 7;
        let nibble = rest.min(15) as u8;
        match self.half_byte.take() {
            Some(at) => self.out[at] |= nibble << 4,
            None => {
                self.half_byte = Some(self.out.len());
                self.out.push(nibble);
            }
        }
        if rest < 15 {
            return;
        }
        let rest = rest - 15;
        if rest < 255 {
            self.out.push(rest as u8);
            return;
        }
        self.out.push(255);
        match u16::try_from(length) {
            Ok(short) => self.out.extend_from_slice(&short.to_le_bytes()),
            Err(_) => {
                self.out.extend_from_slice(&[0; 2]);
                // The finder caps matches at MAX_MATCH, so the length less 3 fits 32 bits.
                self.out.extend_from_slice(&(length as u32).to_le_bytes());
            }
        }
    }

    fn push_flag(&mut self, bit: u32) {
        self.flags = (self.flags << 1) | bit;
        self.flag_count += 1;
        if self.flag_count == 32 {
            self.write_flags(self.flags);
            self.flags_at = self.out.len();
            self.out.extend_from_slice(&[0; 4]);
            self.flags = 0;
            self.flag_count = 0;
        }
    }

    /// Writes the last flag word; its unused bits are ones, as MS-XCA's encoder leaves them.
    fn finish(mut self) -> Vec<u8> {
        let unused = 32 - self.flag_count;
        let flags = self.flags.checked_shl(unused).unwrap_or(0) | (u32::MAX >> self.flag_count);
        self.write_flags(flags);
        self.out
    }

    fn write_flags(&mut self, flags: u32) {
        self.out[self.flags_at..self.flags_at + 4].copy_from_slice(&flags.to_le_bytes());
    }
}

/// Finds earlier occurrences through a hash of the next 3 bytes: `head` holds the latest position
/// per hash and `prev` chains each position to the one before it (both as position + 1, 0 = none).
struct MatchFinder {
    head: Vec<usize>,
    prev: Vec<usize>,
    hash_bits: u32,
}

impl MatchFinder {
    fn new(input_len: usize) -> Self {
        let hash_bits = (usize::BITS - input_len.leading_zeros()).clamp(8, MAX_HASH_BITS);
        MatchFinder {
            head: vec![0; 1 << hash_bits],
            prev: vec![0; input_len.min(MAX_OFFSET)],
            hash_bits,
        }
    }

    fn hash(&self, input: &[u8], at: usize) -> usize {
        let key = u32::from(input[at]) | u32::from(input[at + 1]) << 8 | u32::from(input[at + 2]) << 16;
        (key.wrapping_mul(0x9E37_79B1) >> (32 - self.hash_bits)) as usize
    }

    fn insert(&mut self, hash: usize, at: usize) {
        self.prev[at % MAX_OFFSET] = self.head[hash];
        self.head[hash] = at + 1;
    }

    fn index(&mut self, input: &[u8], positions: std::ops::Range<usize>) {
        for at in positions {
            if at + MIN_MATCH > input.len() {
                break;
            }
            self.insert(self.hash(input, at), at);
        }
    }

    /// The longest match for the bytes at `at` among the last few candidates, then indexes `at`.
    fn find(&mut self, input: &[u8], at: usize) -> Option<Match> {
        if at + MIN_MATCH > input.len() {
            return None;
        }
        let hash = self.hash(input, at);
        let limit = (input.len() - at).min(MAX_MATCH);
        let mut best = Match {
            offset: 0,
            length: MIN_MATCH - 1,
        };
        let mut candidate = self.head[hash];
        for _ in 0..MAX_CHAIN {
            let Some(from) = candidate.checked_sub(1) else {
                break;
            };
            if at - from > MAX_OFFSET {
                break;
            }
            // Only a candidate that also matches the byte after the best so far can beat it.
            if input[from + best.length] == input[at + best.length] {
                let length = common_prefix(&input[from..], &input[at..at + limit]);
                if length > best.length {
                    best = Match {
                        offset: at - from,
                        length,
                    };
                    if length >= NICE_MATCH || length == limit {
                        break;
                    }
                }
            }
            candidate = self.prev[from % MAX_OFFSET];
        }
        self.insert(hash, at);
        (best.length >= MIN_MATCH).then_some(best)
    }
}

/// How many leading bytes `a` and `b` share, compared eight at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let limit = a.len().min(b.len());
    let (a, b) = (&a[..limit], &b[..limit]);
    let mut same = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let diff = u64::from_le_bytes(word(x)) ^ u64::from_le_bytes(word(y));
        if diff != 0 {
            return same + (diff.trailing_zeros() / 8) as usize;
        }
        same += 8;
    }
    same + a[same..]
        .iter()
        .zip(&b[same..])
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNC_UPDATES: &[u8] = include_bytes!("../../tests/fixtures/xpress/sync-updates.xml");
    const EXTENDED_INFO: &[u8] = include_bytes!("../../tests/fixtures/xpress/get-extended-update-info.xml");
    const SYNC_UPDATES_SMALL: &[u8] = include_bytes!("../../tests/fixtures/xpress/sync-updates-small.xml");

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|pair| u8::from_str_radix(pair, 16).unwrap())
            .collect()
    }

    /// A deterministic xorshift64 stream, so failures reproduce.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed | 1;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut next = rng(seed);
        (0..len).map(|_| next() as u8).collect()
    }

    /// (original size, compressed size) of each block of a framed body.
    fn block_sizes(framed: &[u8]) -> Vec<(usize, usize)> {
        let mut sizes = Vec::new();
        let mut at = 0;
        while at < framed.len() {
            let original = u32::from_le_bytes(word(&framed[at..at + 4])) as usize;
            let compressed = u32::from_le_bytes(word(&framed[at + 4..at + 8])) as usize;
            sizes.push((original, compressed));
            at += HEADER_LEN + compressed;
        }
        sizes
    }

    /// Compresses, checks the framing rules, decodes again and returns the framed body.
    fn round_trip(data: &[u8]) -> Vec<u8> {
        let framed = compress(data);
        for (original, compressed) in block_sizes(&framed) {
            assert!(
                original <= MAX_BLOCK && compressed <= original,
                "block {original}/{compressed}"
            );
        }
        assert_eq!(decompress(&framed, data.len()).unwrap(), data);
        framed
    }

    /// What a match appends, byte by byte as MS-XCA 2.4.4 copies it.
    fn naive_match(out: &mut Vec<u8>, offset: usize, length: usize) {
        for _ in 0..length {
            out.push(out[out.len() - offset]);
        }
    }

    fn abc_300() -> Vec<u8> {
        b"abc".repeat(100)
    }

    const SPEC_ALPHABET: &str =
        "3f 00 00 00 61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f 70 71 72 73 74 75 76 77 78 79 7a";
    const SPEC_ABC: &str = "ff ff ff 1f 61 62 63 17 00 0f ff 26 01";

    /// MS-XCA 3.1, first example: 26 literals, then 6 unused flag bits set to one.
    #[test]
    fn spec_example_alphabet_decodes_and_encodes_byte_for_byte() {
        let alphabet = b"abcdefghijklmnopqrstuvwxyz";
        assert_eq!(decompress_block(&hex(SPEC_ALPHABET), 26).unwrap(), alphabet);
        assert_eq!(compress_block(alphabet), hex(SPEC_ALPHABET));
    }

    /// MS-XCA 3.1, second example: "abc" then one match, distance 3 and length 297, whose length
    /// takes the half byte, the byte and the word.
    #[test]
    fn spec_example_abc_decodes_and_encodes_byte_for_byte() {
        assert_eq!(decompress_block(&hex(SPEC_ABC), 300).unwrap(), abc_300());
        assert_eq!(compress_block(&abc_300()), hex(SPEC_ABC));
    }

    #[test]
    fn empty_input_is_an_empty_body() {
        assert!(compress(b"").is_empty());
        assert_eq!(decompress(b"", 0).unwrap(), b"");
        assert_eq!(compress_block(b""), [0xff; 4]);
        assert_eq!(decompress_block(&[0xff; 4], 0).unwrap(), b"");
    }

    #[test]
    fn one_byte_is_stored_raw() {
        let framed = round_trip(b"x");
        assert_eq!(framed, [1, 0, 0, 0, 1, 0, 0, 0, b'x']);
    }

    #[test]
    fn long_runs_compress_to_almost_nothing() {
        let zeros = vec![0u8; 3 * MAX_BLOCK + 1_000];
        let framed = round_trip(&zeros);
        assert_eq!(block_sizes(&framed).len(), 4);
        assert!(framed.len() < 100, "{} bytes", framed.len());
    }

    /// Every boundary of the length encoding (3 bits, half byte, byte, word, dword) at offsets from
    /// 1 to the 8,192 maximum, written by the encoder and read back by the decoder.
    #[test]
    fn match_lengths_at_every_encoding_boundary_decode_exactly() {
        let lengths = [
            3, 4, 9, 10, 11, 24, 25, 26, 279, 280, 281, 282, 65_535, 65_538, 65_539, 65_540,
        ];
        let offsets = [1, 2, 3, 7, 8, 9, 4_096, 8_191, 8_192];
        for offset in offsets {
            for length in lengths {
                let mut expected = random_bytes(offset, offset as u64);
                let mut encoder = Encoder::with_capacity(0);
                expected.iter().for_each(|&byte| encoder.push_literal(byte));
                encoder.push_match(Match { offset, length });
                encoder.push_literal(b'!');
                naive_match(&mut expected, offset, length);
                expected.push(b'!');
                let decoded = decompress_block(&encoder.finish(), expected.len());
                assert_eq!(decoded.as_ref(), Ok(&expected), "offset {offset} length {length}");
            }
        }
    }

    /// The length extensions laid out as MS-XCA 2.3.4 writes them: "a", then matches one byte back
    /// (the flag word is 0 for the literal, 1 per match, then unused ones: 0x7fffffff). The streams
    /// are written by hand, so the decoder is checked against the specification, not the encoder.
    #[test]
    fn long_lengths_use_the_specified_extensions() {
        let cases: [(&[usize], &str); 10] = [
            (&[9], "06 00"),
            (&[10], "07 00 00"),
            (&[24], "07 00 0e"),
            (&[25], "07 00 0f 00"),
            (&[279], "07 00 0f fe"),
            (&[280], "07 00 0f ff 15 01"),
            (&[65_538], "07 00 0f ff ff ff"),
            (&[65_539], "07 00 0f ff 00 00 00 00 01 00"),
            // Two long matches share one half byte: the first takes the low half, the second the high.
            (&[10, 24], "07 00 e0 07 00"),
            (&[12, 30, 11], "07 00 f2 07 00 05 07 00 01"),
        ];
        for (lengths, tail) in cases {
            let stream = hex(&format!("ff ff ff 7f 61 {tail}"));
            let mut encoder = Encoder::with_capacity(0);
            encoder.push_literal(b'a');
            lengths
                .iter()
                .for_each(|&length| encoder.push_match(Match { offset: 1, length }));
            assert_eq!(encoder.finish(), stream, "{lengths:?}");
            let size = 1 + lengths.iter().sum::<usize>();
            assert_eq!(
                decompress_block(&stream, size).unwrap(),
                vec![b'a'; size],
                "{lengths:?}"
            );
        }
    }

    /// Samba's own Plain LZ77 test vectors (lib/compression/tests/test_lzxpress_plain.c), from an
    /// independent implementation: a shared half byte between two different offsets, a flag word that
    /// fills up right after a match, an all-ones last flag word, a stream found by its fuzzing, and a
    /// short sentence.
    #[test]
    fn samba_vectors_decode_and_our_encoding_is_as_short() {
        let alphabet_01234 = "01 00 00 00 61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f 70 71 72 73 74 75 76 \
                              77 78 79 7a 30 31 32 33 34 f0 00 ff ff ff";
        let fuzzed = "00 02 02 02 6a bf 10 a7 4f ef ce 58 53 60 dd 87 b7 78 bd 4b 5d 95 0c 8b 78 75 74 f4 \
                      b1 e9 50 1c";
        let sentence = "74 68 69 73 20 10 00 61 20 74 65 73 74 2e 20 61 6e 64 20 9f 00 04 20 74 6f 6f";
        let cases = [
            (
                b"aaaaaaaaaaaabaaaaaaaaaaaa".to_vec(),
                "ff ff ff 5f 61 07 00 21 62 67 00".to_string(),
            ),
            (
                b"abcdefghijklmnopqrstuvwxyz01234abca".to_vec(),
                format!("{alphabet_01234} 7f 61"),
            ),
            (
                b"abcdefghijklmnopqrstuvwxyz01234abc".to_vec(),
                format!("{alphabet_01234} ff"),
            ),
            (hex(fuzzed), format!("00 00 00 00 {fuzzed} ff ff ff ff")),
            (
                b"this is a test. and this is a test too".to_vec(),
                format!("ff 21 00 04 {sentence}"),
            ),
        ];
        for (plain, packed) in cases {
            let packed = hex(&packed);
            assert_eq!(decompress_block(&packed, plain.len()).unwrap(), plain);
            // Our match search is shallower than Samba's (speed over the last byte of ratio),
            // so the bytes may differ: ours must decode and be no more than a byte longer.
            let ours = compress_block(&plain);
            assert_eq!(decompress_block(&ours, plain.len()).unwrap(), plain);
            assert!(
                ours.len() <= packed.len() + 1,
                "{} vs Samba's {}",
                ours.len(),
                packed.len()
            );
        }
        // An older Samba wrote that sentence with zeros for the unused flag bits and four spare bytes.
        let old = hex(&format!("00 20 00 04 {sentence} 00 00 00 00"));
        assert_eq!(
            decompress_block(&old, 38).unwrap(),
            b"this is a test. and this is a test too"
        );
    }

    /// The compressor finds matches of the boundary lengths on real data (a random prefix repeated)
    /// and every stream it writes decodes back.
    #[test]
    fn compressed_matches_at_length_and_offset_boundaries_round_trip() {
        for offset in [1, 3, 9, 100, 8_191, 8_192, 8_193] {
            for length in [3, 9, 10, 24, 25, 280, 281, 20_000] {
                let mut data = random_bytes(offset, 7);
                naive_match(&mut data, offset, length);
                data.extend(random_bytes(50, 8));
                let packed = compress_block(&data);
                assert_eq!(
                    decompress_block(&packed, data.len()).unwrap(),
                    data,
                    "{offset}/{length}"
                );
                round_trip(&data);
            }
        }
    }

    #[test]
    fn a_block_larger_than_the_framing_allows_still_round_trips_with_dword_lengths() {
        let data = b"xyz".repeat(70_000);
        let packed = compress_block(&data);
        assert!(packed.len() < 32);
        assert_eq!(decompress_block(&packed, data.len()).unwrap(), data);
    }

    #[test]
    fn random_data_is_stored_raw() {
        let data = random_bytes(2 * MAX_BLOCK + 10, 42);
        let framed = round_trip(&data);
        let sizes = block_sizes(&framed);
        assert_eq!(sizes, [(MAX_BLOCK, MAX_BLOCK), (MAX_BLOCK, MAX_BLOCK), (10, 10)]);
        assert_eq!(framed.len(), data.len() + 3 * HEADER_LEN);
    }

    #[test]
    fn real_soap_responses_round_trip_and_shrink() {
        // Measured: 7.9x, 5.2x and 1.9x (a small page of GUIDs has little to repeat).
        for (name, body, min_ratio) in [
            ("sync-updates", SYNC_UPDATES, 7.0),
            ("get-extended-update-info", EXTENDED_INFO, 4.5),
            ("sync-updates-small", SYNC_UPDATES_SMALL, 1.5),
        ] {
            let framed = round_trip(body);
            let ratio = body.len() as f64 / framed.len() as f64;
            assert!(
                ratio > min_ratio,
                "{name}: {} -> {} bytes",
                body.len(),
                framed.len()
            );
        }
    }

    #[test]
    fn bodies_spanning_several_blocks_round_trip() {
        let body: Vec<u8> = [SYNC_UPDATES, EXTENDED_INFO].concat().repeat(5);
        let framed = round_trip(&body);
        let sizes = block_sizes(&framed);
        assert_eq!(sizes.len(), body.len().div_ceil(MAX_BLOCK));
        assert!(sizes[..sizes.len() - 1]
            .iter()
            .all(|&(original, _)| original == MAX_BLOCK));
    }

    /// WSUS itself cut bodies into 16,352-byte blocks (docs/protocol.md §10.1), with a raw last block.
    #[test]
    fn bodies_framed_like_wsus_decode() {
        let mut framed = Vec::new();
        for block in SYNC_UPDATES.chunks(16_352) {
            let packed = compress_block(block);
            let body = if block.len() < 16_352 { block } else { &packed[..] };
            framed.extend_from_slice(&(block.len() as u32).to_le_bytes());
            framed.extend_from_slice(&(body.len() as u32).to_le_bytes());
            framed.extend_from_slice(body);
        }
        assert_eq!(block_sizes(&framed).len(), 2);
        assert_eq!(decompress(&framed, 1 << 20).unwrap(), SYNC_UPDATES);
    }

    #[test]
    fn truncated_headers_are_errors() {
        assert_eq!(
            decompress(&[1, 0, 0], 100),
            Err(XpressError::TruncatedHeader { at: 0 })
        );
        let mut framed = compress(SYNC_UPDATES_SMALL);
        let end = framed.len();
        framed.extend_from_slice(&[9, 0, 0, 0, 9]);
        assert_eq!(
            decompress(&framed, 1 << 20),
            Err(XpressError::TruncatedHeader { at: end })
        );
    }

    #[test]
    fn a_compressed_size_beyond_the_input_is_an_error() {
        let framed = hex("0a 00 00 00 14 00 00 00 01 02 03 04 05");
        let expected = XpressError::BlockPastEnd {
            at: 0,
            compressed: 20,
            available: 5,
        };
        assert_eq!(decompress(&framed, 100), Err(expected));
        let framed = hex("0a 00 00 00 ff ff ff ff 01");
        assert!(matches!(
            decompress(&framed, 100),
            Err(XpressError::BlockPastEnd { .. })
        ));
    }

    #[test]
    fn a_match_before_the_start_of_its_block_is_an_error() {
        let block = hex("00 00 00 80 00 00");
        assert_eq!(
            decompress_block(&block, 10),
            Err(XpressError::OffsetBeforeStart { at: 0, offset: 1 })
        );
        // Earlier blocks are out of reach too: each block decodes on its own.
        let mut framed = compress(b"abcdefgh");
        framed.extend_from_slice(&hex("0a 00 00 00 06 00 00 00 00 00 00 80 00 00"));
        assert_eq!(
            decompress(&framed, 100),
            Err(XpressError::OffsetBeforeStart { at: 0, offset: 1 })
        );
    }

    #[test]
    fn output_beyond_the_limit_is_an_error() {
        let framed = compress(SYNC_UPDATES);
        assert_eq!(decompress(&framed, SYNC_UPDATES.len()).unwrap(), SYNC_UPDATES);
        let limit = SYNC_UPDATES.len() - 1;
        assert_eq!(
            decompress(&framed, limit),
            Err(XpressError::OutputTooLarge { max: limit })
        );
        // A tiny block that claims 4 GiB is refused before anything is allocated.
        let bomb = hex("ff ff ff ff 0d 00 00 00 ff ff ff 1f 61 62 63 17 00 0f ff 26 01");
        assert_eq!(
            decompress(&bomb, 1 << 20),
            Err(XpressError::OutputTooLarge { max: 1 << 20 })
        );
    }

    #[test]
    fn a_match_past_the_block_size_is_an_error() {
        let expected = XpressError::MatchPastEnd {
            at: 3,
            length: 297,
            size: 100,
        };
        assert_eq!(decompress_block(&hex(SPEC_ABC), 100), Err(expected));
    }

    #[test]
    fn a_block_that_ends_early_is_an_error() {
        let alphabet = hex(SPEC_ALPHABET);
        assert_eq!(
            decompress_block(&alphabet[..20], 26),
            Err(XpressError::TruncatedBlock { at: 20 })
        );
        assert_eq!(
            decompress_block(&alphabet[..2], 26),
            Err(XpressError::TruncatedBlock { at: 0 })
        );
        let abc = hex(SPEC_ABC);
        assert_eq!(
            decompress_block(&abc[..12], 300),
            Err(XpressError::TruncatedBlock { at: 11 })
        );
    }

    #[test]
    fn a_word_length_below_its_bias_is_an_error() {
        let block = hex("ff ff ff 1f 61 62 63 17 00 0f ff 05 00");
        assert_eq!(
            decompress_block(&block, 300),
            Err(XpressError::InvalidLength { at: 11 })
        );
    }

    /// Mutated valid streams and random bytes: decoding never panics and never exceeds its limit.
    #[test]
    fn mutated_streams_never_panic() {
        let valid = [
            compress(SYNC_UPDATES_SMALL),
            compress(&[SYNC_UPDATES, EXTENDED_INFO].concat().repeat(2)),
            compress(&random_bytes(300, 3)),
            hex("1a 00 00 00 1e 00 00 00")
                .into_iter()
                .chain(hex(SPEC_ALPHABET))
                .collect(),
        ];
        let mut next = rng(0x5eed);
        for round in 0..3_000 {
            let mut stream = valid[round % valid.len()].clone();
            for _ in 0..1 + next() % 8 {
                let at = next() as usize % stream.len();
                match next() % 4 {
                    0 => stream[at] ^= 1 << (next() % 8),
                    1 => stream[at] = next() as u8,
                    2 => stream.truncate(at),
                    _ => stream.insert(at, next() as u8),
                }
                if stream.is_empty() {
                    break;
                }
            }
            let limit = 1 + next() as usize % 200_000;
            if let Ok(out) = decompress(&stream, limit) {
                assert!(out.len() <= limit);
            }
            let garbage = random_bytes(next() as usize % 64, next());
            let _ = decompress_block(&garbage, next() as usize % 100_000);
        }
    }
}
