//! Xpress for SOAP answers, shared across clients: block frames kept by content (the frame
//! cache), the cookie framed apart so every other block is the same bytes for every client,
//! and whole compressed answers kept by what determines them (the answer cache) so a page
//! the fleet has seen is neither rebuilt nor recompressed.

use std::sync::Arc;

/// Bytes of Xpress block frames kept for answers that repeat them.
const XPRESS_FRAME_CACHE: usize = 16 << 20;

/// Xpress frames of blocks already compressed, by the block's length and a 128-bit hash of its
/// bytes under a random secret: the same page of updates or batch of fragments goes to every
/// client of a scope, so each block is compressed once. Process-wide: the key is the content
/// itself.
struct FrameCache {
    secret: [u8; FRAME_KEY_SECRET],
    frames: crate::bytecache::ByteCache<(usize, u128), Arc<[u8]>>,
}

/// Bytes of the frame-key secret: the size of xxh3's own default secret (at least 136).
const FRAME_KEY_SECRET: usize = 192;

fn frame_cache() -> &'static FrameCache {
    static CACHE: std::sync::OnceLock<FrameCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| FrameCache {
        secret: std::array::from_fn(|_| rand::random::<u8>()),
        frames: crate::bytecache::ByteCache::new(XPRESS_FRAME_CACHE),
    })
}

/// The one part of an answer that differs from client to client: its cookie. Fragments and
/// other text are escaped, so the tag cannot occur inside them.
fn private_range(body: &[u8]) -> Option<std::ops::Range<usize>> {
    const OPEN: &[u8] = b"<NewCookie>";
    const CLOSE: &[u8] = b"</NewCookie>";
    let start = memchr::memmem::rfind(body, OPEN)?;
    let end = start + memchr::memmem::find(&body[start..], CLOSE)? + CLOSE.len();
    Some(start..end)
}

/// `xpress::compress` with the cookie in a block of its own, so the blocks around it are the
/// same bytes for every client of a scope and their frames come from the frame cache.
pub(super) fn compress_sharing_blocks(body: &[u8]) -> Vec<u8> {
    let private = private_range(body).unwrap_or(body.len()..body.len());
    let mut out = Vec::with_capacity(body.len() / 4 + 64);
    for frame in shared_frames(&body[..private.start]) {
        out.extend_from_slice(&frame);
    }
    private_frames(&body[private.clone()], &mut out);
    for frame in shared_frames(&body[private.end..]) {
        out.extend_from_slice(&frame);
    }
    out
}

/// Frames a client's own bytes (its cookie), compressed afresh and never kept.
fn private_frames(piece: &[u8], out: &mut Vec<u8>) {
    for block in piece.chunks(crate::protocol::xpress::MAX_BLOCK) {
        crate::protocol::xpress::frame(block, out);
    }
}

/// The answer framed as `compress_sharing_blocks` frames it, and the same without its cookie.
fn split_and_compress(body: &[u8]) -> (Vec<u8>, SharedAnswer) {
    let private = private_range(body).unwrap_or(body.len()..body.len());
    let shared = SharedAnswer {
        head: shared_frames(&body[..private.start]).into(),
        tail: shared_frames(&body[private.end..]).into(),
    };
    let whole = shared.with_cookie(&body[private]);
    (whole, shared)
}

/// The frames of `piece`, block by block, each from the frame cache when it holds it (and
/// put there when it did not).
fn shared_frames(piece: &[u8]) -> Vec<Arc<[u8]>> {
    let cache = frame_cache();
    let mut frames = Vec::with_capacity(piece.len().div_ceil(crate::protocol::xpress::MAX_BLOCK));
    let mut scratch = Vec::new();
    for block in piece.chunks(crate::protocol::xpress::MAX_BLOCK) {
        let key = (
            block.len(),
            xxhash_rust::xxh3::xxh3_128_with_secret(block, &cache.secret),
        );
        if let Some(frame) = cache.frames.get(&key) {
            frames.push(frame);
            continue;
        }
        scratch.clear();
        crate::protocol::xpress::frame(block, &mut scratch);
        let frame: Arc<[u8]> = scratch.as_slice().into();
        cache.frames.insert(key, Arc::clone(&frame), frame.len() + 64);
        frames.push(frame);
    }
    frames
}

/// Bytes of compressed answers kept whole, by what determines them.
const ANSWER_CACHE: usize = 12 << 20;

/// A compressed answer without its cookie: the frames before it and after it. The frames are
/// the frame cache's own (shared, not copied), so an answer kept in both caches takes its
/// bytes once; the answer cache still counts them all, so its budget stays a bound when the
/// frame cache lets them go.
pub(super) struct SharedAnswer {
    head: Box<[Arc<[u8]>]>,
    tail: Box<[Arc<[u8]>]>,
}

impl SharedAnswer {
    /// The whole compressed answer with `cookie` (the `NewCookie` element, or nothing) framed
    /// between the shared parts.
    pub(super) fn with_cookie(&self, cookie: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.frame_bytes() + cookie.len() + 16);
        for frame in &self.head {
            out.extend_from_slice(frame);
        }
        private_frames(cookie, &mut out);
        for frame in &self.tail {
            out.extend_from_slice(frame);
        }
        out
    }

    /// Bytes of its frames.
    fn frame_bytes(&self) -> usize {
        self.head
            .iter()
            .chain(self.tail.iter())
            .map(|frame| frame.len())
            .sum()
    }

    /// What keeping it costs at most: its frames' bytes (were no other cache to hold them)
    /// and its frame lists.
    fn cost(&self) -> usize {
        let frames = self.head.len() + self.tail.len();
        self.frame_bytes() + frames * std::mem::size_of::<Arc<[u8]>>() + 64
    }
}

fn answer_cache() -> &'static crate::bytecache::ByteCache<u128, Arc<SharedAnswer>> {
    static CACHE: std::sync::OnceLock<crate::bytecache::ByteCache<u128, Arc<SharedAnswer>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(|| crate::bytecache::ByteCache::new(ANSWER_CACHE))
}

/// The frame cache's and the answer cache's counts, for `/metrics`.
pub(super) fn cache_stats() -> (crate::bytecache::CacheStats, crate::bytecache::CacheStats) {
    (frame_cache().frames.stats(), answer_cache().stats())
}

/// The answer kept under `key`, if any.
pub(super) fn cached_answer(key: u128) -> Option<Arc<SharedAnswer>> {
    answer_cache().get(&key)
}

/// `compress_sharing_blocks`, keeping the answer without its cookie under `key`.
pub(super) fn compress_and_keep(body: &[u8], key: u128) -> Vec<u8> {
    let (whole, shared) = split_and_compress(body);
    let bytes = shared.cost();
    answer_cache().insert(key, Arc::new(shared), bytes);
    whole
}

/// Builds an answer-cache key from everything an answer's bytes depend on (besides the
/// cookie), under the process's random secret.
pub(super) struct AnswerKey(xxhash_rust::xxh3::Xxh3);

impl AnswerKey {
    /// A key for an answer of `kind` (the operation, as text) from snapshot `serial`.
    pub(super) fn new(kind: &str, serial: u64) -> AnswerKey {
        let mut key = AnswerKey(xxhash_rust::xxh3::Xxh3::with_secret(frame_cache().secret));
        key.text(kind);
        key.number(serial);
        key
    }

    pub(super) fn number(&mut self, value: u64) -> &mut Self {
        self.0.update(&value.to_le_bytes());
        self
    }

    /// Length-prefixed, so neighbouring fields cannot run into each other.
    pub(super) fn text(&mut self, value: &str) -> &mut Self {
        self.number(value.len() as u64);
        self.0.update(value.as_bytes());
        self
    }

    pub(super) fn numbers<T: Copy + Into<i64>>(&mut self, values: &[T]) -> &mut Self {
        self.number(values.len() as u64);
        for value in values {
            self.0.update(&(*value).into().to_le_bytes());
        }
        self
    }

    /// Positions in a scope.
    pub(super) fn positions(&mut self, values: &[usize]) -> &mut Self {
        self.number(values.len() as u64);
        for value in values {
            self.0.update(&(*value as u64).to_le_bytes());
        }
        self
    }

    pub(super) fn finish(&self) -> u128 {
        self.0.digest128()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::xpress;

    #[test]
    fn the_cookie_gets_a_block_of_its_own_and_the_rest_comes_from_the_cache() {
        // Two clients, the same page of updates, different cookies; a shared tail after them.
        let page: String = (0..9_000)
            .map(|i| format!("<UpdateInfo><ID>{}</ID></UpdateInfo>", i % 700))
            .collect();
        let answer = |cookie: &str| {
            format!("{page}<NewCookie><EncryptedData>{cookie}</EncryptedData></NewCookie><DriverSyncNotNeeded>false</DriverSyncNotNeeded>")
        };
        let (first, second) = (answer("first"), answer("second client"));
        let hits = frame_cache().frames.stats().hits;
        let misses = frame_cache().frames.stats().misses;
        let one = compress_sharing_blocks(first.as_bytes());
        let two = compress_sharing_blocks(second.as_bytes());
        assert_eq!(xpress::decompress(&one, 1 << 24).unwrap(), first.as_bytes());
        assert_eq!(xpress::decompress(&two, 1 << 24).unwrap(), second.as_bytes());
        // The page's full blocks, its partial last block and the tail all hit the second time.
        let full = page.len() / xpress::MAX_BLOCK;
        assert!(frame_cache().frames.stats().hits >= hits + full as u64 + 2);
        assert!(frame_cache().frames.stats().misses >= misses + full as u64 + 2);
        let cookie = "<NewCookie><EncryptedData>second client</EncryptedData></NewCookie>".len();
        let mut expected = vec![xpress::MAX_BLOCK; full];
        expected.extend([
            page.len() % xpress::MAX_BLOCK,
            cookie,
            second.len() - page.len() - cookie,
        ]);
        assert_eq!(block_sizes(&two), expected, "the cookie is a block alone");
    }

    #[test]
    fn a_kept_answer_comes_back_with_the_next_clients_cookie() {
        let page: String = (0..4_000)
            .map(|i| format!("<UpdateInfo><ID>{i}</ID></UpdateInfo>"))
            .collect();
        let answer = |cookie: &str| {
            format!("<R>{page}<NewCookie><EncryptedData>{cookie}</EncryptedData></NewCookie><T>1</T></R>")
        };
        let mut key = AnswerKey::new("test", 1);
        key.numbers(&[1, 2, 3]).text("page");
        let key = key.finish();
        let first = answer("one");
        let whole = compress_and_keep(first.as_bytes(), key);
        assert_eq!(xpress::decompress(&whole, 1 << 24).unwrap(), first.as_bytes());
        let kept = cached_answer(key).expect("kept");
        let first_block = &first.as_bytes()[..xpress::MAX_BLOCK];
        let cache = frame_cache();
        let frame_key = (
            first_block.len(),
            xxhash_rust::xxh3::xxh3_128_with_secret(first_block, &cache.secret),
        );
        let framed = cache
            .frames
            .get(&frame_key)
            .expect("the frame cache holds the first block");
        assert!(
            Arc::ptr_eq(&kept.head[0], &framed),
            "one copy of the frame for both caches"
        );
        assert!(
            kept.cost() >= kept.frame_bytes(),
            "counted as if it held its frames alone"
        );
        let second = answer("two, longer");
        let cookie = "<NewCookie><EncryptedData>two, longer</EncryptedData></NewCookie>";
        let reused = kept.with_cookie(cookie.as_bytes());
        assert_eq!(xpress::decompress(&reused, 1 << 24).unwrap(), second.as_bytes());
        let mut other = AnswerKey::new("test", 1);
        other.numbers(&[1, 2]).numbers(&[3]).text("page");
        assert_ne!(other.finish(), key, "fields are length-prefixed");
        assert!(cached_answer(AnswerKey::new("test", 2).finish()).is_none());
    }

    #[test]
    fn an_answer_without_a_cookie_is_framed_in_full_blocks() {
        let body: String = (0..20_000).map(|i| format!("<int>{i}</int>")).collect();
        let framed = compress_sharing_blocks(body.as_bytes());
        assert_eq!(framed, xpress::compress(body.as_bytes()));
    }

    /// The original sizes of an xpress body's blocks, read from their headers.
    fn block_sizes(framed: &[u8]) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut at = 0;
        while at < framed.len() {
            let word = |i: usize| u32::from_le_bytes(framed[i..i + 4].try_into().unwrap()) as usize;
            sizes.push(word(at));
            at += 8 + word(at + 4);
        }
        sizes
    }
}
