//! The payload byte stream behind synthetic files: a SplitMix64 stream from the file's seed,
//! and its digests computed without holding the bytes.

use sha1::{Digest, Sha1};
use sha2::Sha256;

/// SplitMix64's increment: the state before word `k` is `seed + k * GAMMA`, which is what makes
/// the stream seekable.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The payload of `seed`, `size` bytes long.
pub(super) fn bytes(seed: u64, size: u64) -> Vec<u8> {
    let mut bytes = vec![0; usize::try_from(size).unwrap_or(usize::MAX)];
    fill_at(seed, 0, &mut bytes);
    bytes
}

/// Fills `out` with the payload stream of `seed` from byte `offset` on, without generating the
/// bytes before it.
pub(super) fn fill_at(seed: u64, offset: u64, out: &mut [u8]) {
    let mut state = seed.wrapping_add((offset / 8).wrapping_mul(GAMMA));
    let skip = (offset % 8) as usize;
    let mut rest = out;
    if skip != 0 {
        let word = splitmix64(&mut state).to_le_bytes();
        let take = rest.len().min(8 - skip);
        let (head, tail) = rest.split_at_mut(take);
        head.copy_from_slice(&word[skip..skip + take]);
        rest = tail;
    }
    fill_payload(&mut state, rest);
}

/// Fills `out` with the next bytes of the payload stream at `state`: SplitMix64 words,
/// little-endian. Filling in pieces gives the same bytes when every piece but the last is a
/// multiple of 8 long.
fn fill_payload(state: &mut u64, out: &mut [u8]) {
    for chunk in out.chunks_mut(8) {
        let word = splitmix64(state).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// SHA-1 and SHA-256 of the payload of `seed` and `size`, streamed through a small buffer so
/// a large catalog never holds its payloads in memory.
pub(super) fn digests(seed: u64, size: u64) -> ([u8; 20], [u8; 32]) {
    const CHUNK: usize = 16 * 1024; // a multiple of 8, see `fill_payload`
    let mut sha1 = Sha1::new();
    let mut sha256 = Sha256::new();
    let mut buffer = [0u8; CHUNK];
    let mut state = seed;
    let mut left = size;
    while left > 0 {
        let take = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        let chunk = &mut buffer[..take];
        fill_payload(&mut state, chunk);
        sha1.update(&*chunk);
        sha256.update(&*chunk);
        left -= take as u64;
    }
    (sha1.finalize().into(), sha256.finalize().into())
}

/// SplitMix64 step: a fast, well-mixed stream for payload bytes (not for anything secret).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GAMMA);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
