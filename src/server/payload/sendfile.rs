//! Plain-HTTP client connections, payload hits first: while a connection asks for committed
//! payloads (GET or HEAD, whole, one range or several, with their validators — the answers
//! `respond` builds), this path writes the response head itself and moves the file's bytes
//! from the page cache to the socket with sendfile(2), with no copy through user space: on the
//! async worker when they are in memory, on the blocking pool when they must come from disk
//! (so a cold file does not hold up a worker; see `in_memory`). The first request it does not
//! take (`wire` declines it, or the route would answer it otherwise: not found, a miss, a HEAD
//! from the catalog, a file gone since) hands the connection, with the bytes read so far, to
//! hyper for the rest of its life (`Handoff`). TLS connections never come here.
//!
//! Limits: a request head must arrive within `HEADER_TIMEOUT` (which also bounds idle
//! keep-alive, as for hyper); a response must make progress every `SEND_TIMEOUT`; a head not
//! complete within `MAX_HEAD` bytes goes to hyper, whose limits apply. On shutdown an idle
//! connection is closed at once and a busy one after its response.

use super::file_body::Segment;
use super::respond::{http_date, Reply, ServeError};
use super::wire::{self, Head, Parsed};
use crate::app::App;
use crate::server::HEADER_TIMEOUT;
use crate::shutdown::Shutdown;
use bytes::{Buf, BytesMut};
use rustix::io::Errno;
use rustix::net::SendFlags;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Bytes of request head read without a whole head before the connection goes to hyper.
const MAX_HEAD: usize = 16 * 1024;
/// A response that makes no progress for this long is abandoned and its connection closed
/// (nginx's `send_timeout`).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Most bytes one sendfile(2) call is asked for.
const MAX_SENDFILE: usize = 1 << 30;
/// Bytes sent from an async worker per check that they are in memory.
const WINDOW: u64 = 1 << 20;

/// A connection this path gave up: the bytes it read and did not answer, then the socket.
pub(crate) struct Handoff {
    read: BytesMut,
    stream: TcpStream,
}

impl Handoff {
    /// The connection off this runtime's reactor, to go on with on another runtime.
    pub(crate) fn unregister(self) -> io::Result<Unregistered> {
        Ok(Unregistered {
            read: self.read,
            stream: self.stream.into_std()?,
        })
    }
}

/// A handed-off connection between runtimes: its unanswered bytes and its (non-blocking)
/// socket, registered with no reactor.
pub(crate) struct Unregistered {
    read: BytesMut,
    stream: std::net::TcpStream,
}

impl Unregistered {
    /// The connection on the current runtime's reactor (must be called within a runtime).
    pub(crate) fn register(self) -> io::Result<Handoff> {
        Ok(Handoff {
            read: self.read,
            stream: TcpStream::from_std(self.stream)?,
        })
    }
}

/// Serves a plain-HTTP client connection while it asks for committed payloads: `Some` hands
/// it over for hyper to go on with, `None` when it is done (closed by either side, timed out,
/// shut down, failed).
pub(crate) async fn serve(
    mut stream: TcpStream,
    app: &App,
    peer: SocketAddr,
    shutdown: &Shutdown,
) -> Option<Handoff> {
    let mut read = BytesMut::with_capacity(4096);
    let mut clock = Clock::default();
    let stopping = shutdown.wait();
    tokio::pin!(stopping);
    loop {
        let head = match next_head(&mut stream, &mut read, stopping.as_mut()).await {
            Next::Head(head) => head,
            Next::Hyper => return Some(Handoff { read, stream }),
            Next::Close => return None,
        };
        let Some(reply) = super::hit(app, &head, peer.ip()) else {
            return Some(Handoff { read, stream });
        };
        read.advance(head.length);
        let close = head.close || shutdown.is_triggered();
        if let Err(err) = send(&stream, reply, clock.date(), close).await {
            tracing::debug!(error = %err, %peer, "payload connection ended while sending");
            return None;
        }
        if close {
            let _ = rustix::net::shutdown(&stream, rustix::net::Shutdown::Write);
            return None;
        }
    }
}

/// What comes next on a connection.
enum Next {
    Head(Head),
    Hyper,
    Close,
}

/// Reads until the buffer holds a whole request head (within `HEADER_TIMEOUT`); an idle
/// connection is closed when `stopping` (shutdown) completes.
async fn next_head(
    stream: &mut TcpStream,
    read: &mut BytesMut,
    mut stopping: Pin<&mut impl std::future::Future<Output = ()>>,
) -> Next {
    let deadline = tokio::time::Instant::now() + HEADER_TIMEOUT;
    loop {
        match wire::parse(read) {
            Parsed::Taken(head) => return Next::Head(head),
            Parsed::Declined => return Next::Hyper,
            Parsed::Incomplete if read.len() >= MAX_HEAD => return Next::Hyper,
            Parsed::Incomplete => {}
        }
        let idle = read.is_empty();
        tokio::select! {
            got = tokio::time::timeout_at(deadline, read_more(stream, read)) => match got {
                Ok(Ok(n)) if n > 0 => {}
                _ => return Next::Close,
            },
            () = &mut stopping, if idle => return Next::Close,
        }
    }
}

/// Reads what the socket has (0 when the client closed). A short read tells tokio the socket
/// is drained, so the next wait goes to epoll without a read that finds nothing.
async fn read_more(stream: &mut TcpStream, read: &mut BytesMut) -> io::Result<usize> {
    use tokio::io::AsyncReadExt;
    read.reserve(4096);
    stream.read_buf(read).await
}

/// The `Date` of a connection's responses, formatted once a second.
#[derive(Default)]
struct Clock {
    second: u64,
    date: String,
}

impl Clock {
    fn date(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.date.is_empty() {
            self.second = second;
            self.date = http_date(now);
        }
        &self.date
    }
}

/// Writes a reply with Nagle's algorithm on, then turns `TCP_NODELAY` back on, which sends
/// its last, partial segment at once (nginx gets the same from `TCP_CORK`). With `TCP_NODELAY`
/// on throughout, every partial segment the client's window updates let out goes on the wire:
/// 22 segments per 1 MiB range against nginx's 18 (`nstat` during a wrk round), and each
/// costs both sides a packet. With Nagle on and no push at the end, the tail waits for an ACK.
async fn send(stream: &TcpStream, reply: Reply, date: &str, close: bool) -> io::Result<()> {
    let _ = rustix::net::sockopt::set_tcp_nodelay(stream, false);
    let sent = send_reply(stream, reply, date, close).await;
    let _ = rustix::net::sockopt::set_tcp_nodelay(stream, true);
    sent
}

/// Writes a reply: its head, then its body, runs of the file by sendfile(2).
async fn send_reply(stream: &TcpStream, reply: Reply, date: &str, close: bool) -> io::Result<()> {
    let head = wire::response_head(&reply.head, date, close);
    let mut segments = reply.body.into_iter().peekable();
    write_all(stream, &head, segments.peek().is_some()).await?;
    let file = Arc::new(reply.file);
    while let Some(segment) = segments.next() {
        match segment {
            Segment::Bytes(bytes) => write_all(stream, &bytes, segments.peek().is_some()).await?,
            Segment::File { offset, length } => send_file(stream, &file, offset, length, reply.size).await?,
        }
    }
    Ok(())
}

/// Sends `bytes`; with `more`, the kernel may hold them back to share a packet with what
/// follows (MSG_MORE), so a head and the first file bytes go out together.
async fn write_all(stream: &TcpStream, mut bytes: &[u8], more: bool) -> io::Result<()> {
    let flags = if more {
        SendFlags::NOSIGNAL | SendFlags::MORE
    } else {
        SendFlags::NOSIGNAL
    };
    while !bytes.is_empty() {
        within_send_timeout(stream.writable()).await?;
        match stream.try_io(Interest::WRITABLE, || {
            Ok(rustix::net::send(stream, bytes, flags)?)
        }) {
            Ok(sent) => bytes = &bytes[sent..],
            Err(err) if retry(&err) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Sends `length` bytes of `file` from `offset`, a window at a time: from this worker when
/// the window is in memory, else from the blocking pool (which brings it in). A file that
/// ends early (it shrank after it was opened) ends the connection, never with wrong bytes.
async fn send_file(
    stream: &TcpStream,
    file: &Arc<std::fs::File>,
    mut offset: u64,
    mut length: u64,
    size: u64,
) -> io::Result<()> {
    while length > 0 {
        let window = length.min(WINDOW);
        let sent = if in_memory(file, offset, window) {
            send_from_memory(stream, file, offset, window).await?
        } else {
            send_from_disk(stream, file, offset, length).await?
        };
        if sent.end_of_file {
            return Err(truncated(file, size));
        }
        offset += sent.bytes;
        length -= sent.bytes;
    }
    Ok(())
}

/// Whether the window's bytes are in the page cache, as far as a one-byte RWF_NOWAIT read at
/// each end tells (it fails rather than wait for the disk). Pages come in by readahead and
/// leave by LRU in runs, so a window cached at both ends is cached through, or nearly: at
/// worst the worker waits for a few pages. A file system without RWF_NOWAIT says no.
fn in_memory(file: &std::fs::File, offset: u64, window: u64) -> bool {
    use rustix::io::{preadv2, ReadWriteFlags};
    let mut byte = [0u8; 1];
    [offset, offset + window - 1].into_iter().all(|at| {
        let mut buffers = [io::IoSliceMut::new(&mut byte)];
        preadv2(file, &mut buffers, at, ReadWriteFlags::NOWAIT).is_ok_and(|n| n == 1)
    })
}

/// sendfile(2) on this worker, once the socket has room.
async fn send_from_memory(
    stream: &TcpStream,
    file: &std::fs::File,
    offset: u64,
    window: u64,
) -> io::Result<Sent> {
    loop {
        within_send_timeout(stream.writable()).await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            match sendfile_some(stream, file, offset, window)? {
                Sent {
                    bytes: 0,
                    end_of_file: false,
                } => Err(io::ErrorKind::WouldBlock.into()),
                sent => Ok(sent),
            }
        });
        match sent {
            Err(err) if retry(&err) => {}
            sent => return sent,
        }
    }
}

/// sendfile(2) on the blocking pool until the socket is full, once it has room; the pool's
/// thread sends on a duplicate of the socket's descriptor.
async fn send_from_disk(
    stream: &TcpStream,
    file: &Arc<std::fs::File>,
    offset: u64,
    length: u64,
) -> io::Result<Sent> {
    use std::os::fd::AsFd;
    within_send_timeout(has_room(stream)).await?;
    let (socket, from) = (stream.as_fd().try_clone_to_owned()?, Arc::clone(file));
    let sending = tokio::task::spawn_blocking(move || sendfile_some(&socket, &from, offset, length));
    sending.await.map_err(io::Error::other)?
}

/// What one sendfile_some sent.
struct Sent {
    bytes: u64,
    /// The file ended before the bytes asked for.
    end_of_file: bool,
}

/// sendfile(2) until `length` bytes went or the (non-blocking) socket is full.
fn sendfile_some(
    socket: impl std::os::fd::AsFd,
    file: &std::fs::File,
    offset: u64,
    length: u64,
) -> io::Result<Sent> {
    let mut sent = 0;
    while sent < length {
        let mut at = offset + sent;
        let count = usize::try_from(length - sent).map_or(MAX_SENDFILE, |n| n.min(MAX_SENDFILE));
        match rustix::fs::sendfile(&socket, file, Some(&mut at), count) {
            Ok(0) => {
                return Ok(Sent {
                    bytes: sent,
                    end_of_file: true,
                })
            }
            Ok(n) => sent += n as u64,
            Err(Errno::AGAIN) => break,
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Sent {
        bytes: sent,
        end_of_file: false,
    })
}

/// Waits until the socket has room. The blocking pool's sendfile fills the socket behind
/// tokio's back, so a readiness tokio still holds is checked with poll(2) and cleared when
/// stale; tokio then wakes on the kernel's next write-space event.
async fn has_room(stream: &TcpStream) -> io::Result<()> {
    loop {
        stream.writable().await?;
        match stream.try_io(Interest::WRITABLE, || poll_writable(stream)) {
            Ok(()) => return Ok(()),
            Err(err) if retry(&err) => {}
            Err(err) => return Err(err),
        }
    }
}

/// `Ok` when poll(2) says the socket takes bytes (or has failed: the send then says how),
/// `WouldBlock` when it is full.
fn poll_writable(stream: &TcpStream) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(stream, PollFlags::OUT)];
    poll(&mut fds, Some(&Timespec::default()))?;
    if fds[0].revents().is_empty() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    Ok(())
}

fn retry(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

async fn within_send_timeout(wait: impl std::future::Future<Output = io::Result<()>>) -> io::Result<()> {
    tokio::time::timeout(SEND_TIMEOUT, wait).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "client took no bytes within the send timeout",
        )
    })?
}

/// The error for a file that ended before the promised bytes.
fn truncated(file: &std::fs::File, size: u64) -> io::Error {
    let actual = file.metadata().map_or(0, |m| m.len());
    let error = ServeError::Truncated {
        expected: size,
        actual,
    };
    tracing::error!(error = %error, "payload file shrank while being served");
    io::Error::new(io::ErrorKind::UnexpectedEof, error)
}

impl AsyncRead for Handoff {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read.is_empty() {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let n = this.read.len().min(buf.remaining());
        buf.put_slice(&this.read[..n]);
        this.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Handoff {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A reply goes out whole, head and file bytes, and leaves the socket with `TCP_NODELAY`
    /// on (what pushes its last segment), whatever it was before.
    #[tokio::test]
    async fn a_reply_is_sent_whole_and_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        let bytes: Vec<u8> = (0..3 * WINDOW + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut client = TcpStream::connect(address).await.unwrap();
            let mut received = Vec::new();
            client.read_to_end(&mut received).await.unwrap();
            received
        });
        let (server, _) = listener.accept().await.unwrap();
        server.set_nodelay(false).unwrap();
        let (offset, length) = (5, bytes.len() as u64 - 5);
        let reply = Reply {
            head: hyper::Response::builder()
                .status(206)
                .header("content-length", length)
                .body(())
                .unwrap(),
            body: vec![Segment::File { offset, length }],
            file: std::fs::File::open(&path).unwrap(),
            size: bytes.len() as u64,
        };
        send(&server, reply, "Sun, 06 Dec 2026 08:00:00 GMT", true)
            .await
            .unwrap();
        assert!(rustix::net::sockopt::tcp_nodelay(&server).unwrap());
        drop(server);
        let received = reader.await.unwrap();
        let split = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = std::str::from_utf8(&received[..split]).unwrap();
        assert!(head.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {length}\r\n")), "{head}");
        assert_eq!(&received[split..], &bytes[5..]);
    }

    #[test]
    fn in_memory_tells_cached_windows_from_dropped_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&vec![7u8; 3 * WINDOW as usize]).unwrap();
        file.sync_all().unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert!(in_memory(&file, 0, WINDOW), "just written");
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        // (A probe that fails starts readahead there, so each window is probed cold once.)
        assert!(!in_memory(&file, WINDOW, WINDOW), "dropped from the page cache");
        let mut byte = [0u8; 1];
        for at in [WINDOW, 2 * WINDOW - 1] {
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut byte, at).unwrap();
        }
        assert!(in_memory(&file, WINDOW, WINDOW), "both ends read back");
        assert!(!in_memory(&file, 3 * WINDOW - 1, 2), "past the end");
    }
}
