//! A response body that keeps a value alive until the body is dropped (sent, or the client
//! went away): a range answered from a transfer in progress holds the client's place among
//! the transfer's waiters while it streams, so the transfer is not cancelled under a client
//! that is still downloading.

use crate::server::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use hyper::Response;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `body`, with `held` dropped together with it.
struct Held<T> {
    body: Body,
    _held: T,
}

/// `response` whose body keeps `held` alive.
pub(super) fn holding<T: Send + Sync + Unpin + 'static>(response: Response<Body>, held: T) -> Response<Body> {
    response.map(|body| Held { body, _held: held }.boxed())
}

impl<T: Unpin> hyper::body::Body for Held<T> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::body::full;
    use hyper::body::Body as _;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_held_value_lives_as_long_as_the_body() {
        let held = Arc::new(());
        let response = holding(Response::new(full("abc")), Arc::clone(&held));
        assert_eq!(Arc::strong_count(&held), 2);
        let body = response.into_body();
        assert_eq!(body.size_hint().exact(), Some(3));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.as_ref(), b"abc");
        assert_eq!(Arc::strong_count(&held), 1, "dropped with the body");
    }
}
