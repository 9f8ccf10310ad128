//! The streaming body of a payload response: literal bytes (multipart framing) and runs of
//! the file, read chunk by chunk with positional reads on the blocking pool.

use super::respond::ServeError;
use crate::content::range::ByteRange;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// Bytes read per hand-off to the blocking pool: one Delivery Optimization range.
pub(super) const CHUNK: u64 = 1024 * 1024;

/// A piece of a response body: literal bytes (multipart framing) or a run of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Bytes(Bytes),
    File { offset: u64, length: u64 },
}

impl Segment {
    pub(super) fn file(range: &ByteRange) -> Segment {
        Segment::File {
            offset: range.start,
            length: range.length(),
        }
    }

    pub(super) fn length(&self) -> u64 {
        match self {
            Segment::Bytes(bytes) => bytes.len() as u64,
            Segment::File { length, .. } => *length,
        }
    }
}

/// A body that sends its segments in order, reading file runs chunk by chunk with
/// positional reads on the blocking pool — one copy from the page cache per byte (into
/// memory that is not zeroed first), no seek state, and one hand-off per 1 MiB (Delivery
/// Optimization's whole range). Plain-HTTP hits do not come here: `sendfile` sends them. A file that
/// turns out shorter than promised ends the body with an error, never with wrong bytes.
pub(super) struct FileBody {
    file: Arc<std::fs::File>,
    /// The committed size, for the error message when the file is short.
    size: u64,
    segments: VecDeque<Segment>,
    /// The read in progress on the blocking pool.
    pending: Option<tokio::task::JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    pub(super) fn new(file: std::fs::File, size: u64, segments: Vec<Segment>) -> FileBody {
        FileBody {
            file: Arc::new(file),
            size,
            segments: segments.into(),
            pending: None,
        }
    }

    /// The next piece of data, `None` at the end.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            match self.segments.front_mut() {
                None => return Poll::Ready(None),
                Some(Segment::Bytes(bytes)) => {
                    let bytes = std::mem::take(bytes);
                    self.segments.pop_front();
                    if !bytes.is_empty() {
                        return Poll::Ready(Some(Ok(bytes)));
                    }
                }
                Some(Segment::File { length: 0, .. }) => {
                    self.segments.pop_front();
                }
                Some(&mut Segment::File { offset, length }) => {
                    let chunk = ready!(self.poll_chunk(cx, offset, length));
                    if let Ok(chunk) = &chunk {
                        self.advance(chunk.len() as u64);
                    }
                    return Poll::Ready(Some(chunk));
                }
            }
        }
    }

    /// Reads `min(CHUNK, length)` bytes at `offset` (`length > 0`).
    fn poll_chunk(&mut self, cx: &mut Context<'_>, offset: u64, length: u64) -> Poll<io::Result<Bytes>> {
        let pending = self.pending.get_or_insert_with(|| {
            let file = Arc::clone(&self.file);
            let want = CHUNK.min(length) as usize;
            tokio::task::spawn_blocking(move || read_exact_at(&file, offset, want))
        });
        let joined = ready!(Pin::new(pending).poll(cx));
        self.pending = None;
        let result = joined.unwrap_or_else(|err| Err(io::Error::other(err)));
        Poll::Ready(result.map_err(|err| match err.kind() {
            io::ErrorKind::UnexpectedEof => self.truncated(offset),
            _ => err,
        }))
    }

    /// Moves the front file segment past `sent` bytes.
    fn advance(&mut self, sent: u64) {
        if let Some(Segment::File { offset, length }) = self.segments.front_mut() {
            *offset += sent;
            *length -= sent;
            if *length == 0 {
                self.segments.pop_front();
            }
        }
    }

    /// The error for end of file before the promised bytes.
    fn truncated(&self, offset: u64) -> io::Error {
        let actual = self.file.metadata().map_or(offset, |m| m.len());
        let error = ServeError::Truncated {
            expected: self.size,
            actual,
        };
        tracing::error!(error = %error, "payload file shrank while being served");
        io::Error::new(io::ErrorKind::UnexpectedEof, error)
    }
}

/// Exactly `want` bytes at `offset` (`want > 0`), or `UnexpectedEof`; read straight into
/// fresh memory, which is not zeroed first.
fn read_exact_at(file: &std::fs::File, offset: u64, want: usize) -> io::Result<Bytes> {
    let mut buffer = Vec::with_capacity(want);
    while buffer.len() < want {
        let at = offset + buffer.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buffer), at) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Bytes::from(buffer))
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let next = ready!(this.poll_next(cx));
        if matches!(next, Some(Err(_))) {
            this.segments.clear();
        }
        Poll::Ready(next.map(|data| data.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.segments.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.segments.iter().map(Segment::length).sum())
    }
}
