//! Request bodies, in one place: the size limit, its 413, and the bounded
//! drain that lets a client read an answer given before its body was read.
//!
//! **The limit** (`max_body_bytes`, default 1 MiB) is applied while reading,
//! by [`read_limited`], which every extractor of a body uses (JSON bodies,
//! the raw callback body): a `Content-Length` over the limit is refused
//! before a byte is read, a chunked body as soon as it passes the limit.
//! Both get the same 413 problem document.
//!
//! **Why drain.** Most HTTP/1.1 clients write the whole request before they
//! read the answer. An answer given early (a 413 for an announced 2 MiB, a
//! 401, a 404) leaves the rest of the body unread, and hyper then closes the
//! connection; closing a socket with unread bytes in its receive buffer
//! makes the kernel send a TCP reset, and the client — still writing — gets
//! EPIPE or ECONNRESET instead of the answer. So [`drain_unread`], a
//! middleware around every route, reads and discards what the handler left
//! of a request body *before* the answer goes out: the client finishes
//! writing, reads a complete answer, and the connection stays usable.
//!
//! **The trade-off.** Draining costs bandwidth and a task for as long as
//! the client sends, so it is bounded: at most [`DRAIN_BYTES`] past what the
//! handler read, within [`DRAIN_TIME`]. A body announced bigger than that is
//! not drained at all (reading 4 MiB of a 1 GiB upload helps nobody), and a
//! drain that hits either bound gives up: the answer then carries
//! `Connection: close` and the connection is closed as before (that client
//! may still see a reset — it is sending far more than the hub takes). A
//! client that sent `Expect: 100-continue` and was never asked to continue
//! has sent no body: it is answered at once, with `Connection: close`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody as _};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::{Stream, StreamExt as _};
use tokio::sync::oneshot;

use super::AppState;
use super::problem::ApiProblem;

/// How much of an unread request body the hub reads and discards, past what
/// the handler read, so that the client can read the answer.
pub const DRAIN_BYTES: u64 = 4 * 1024 * 1024;
/// How long the hub waits for a client to finish sending a body it drains.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The 413 of every route that takes a body.
pub(super) fn too_large(limit: usize) -> ApiProblem {
    ApiProblem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload Too Large",
        format!("the body is larger than the hub's limit of {limit} bytes"),
    )
}

/// The whole body, at most `max_body_bytes`; 413 beyond, 400 when the
/// client broke off.
pub(super) async fn read_limited(request: Request, state: &AppState) -> Result<Bytes, ApiProblem> {
    // Refuse an announced oversized body before reading any of it.
    if content_length(request.headers()).is_some_and(|length| length > state.max_body_bytes as u64) {
        return Err(too_large(state.max_body_bytes));
    }
    // `DefaultBodyLimit` (set in `router`) caps what this reads.
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(state.max_body_bytes)
        } else {
            ApiProblem::new(
                StatusCode::BAD_REQUEST,
                "unreadable-body",
                "Bad Request",
                format!("the body could not be read: {rejection}"),
            )
        }
    })
}

/// A body taken as it is (any media type), within the limit.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiProblem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_limited(request, state).await.map(RawBody)
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
}

/// Middleware: after the handler answered, drain what it left of the
/// request body (bounded), then let the answer go.
pub(super) async fn drain_unread(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let declared = content_length(request.headers());
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = request.into_parts();
    let (back, mut leftover) = oneshot::channel();
    let tap = Tap {
        inner: Some(body.into_data_stream()),
        read: 0,
        polled: false,
        ended: false,
        back: Some(back),
    };
    let mut response = next.run(Request::from_parts(parts, Body::from_stream(tap))).await;
    // Nothing came back: the body was read to its end (or broke off), or
    // is still held somewhere; either way there is nothing to drain.
    let Ok(left) = leftover.try_recv() else {
        return response;
    };
    if !drain(left, declared, expects_continue).await {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether the rest of the body was read to its end within the bounds.
async fn drain(left: Leftover, declared: Option<u64>, expects_continue: bool) -> bool {
    if expects_continue && !left.polled {
        // hyper never sent `100 Continue`: the client is waiting, not sending.
        return false;
    }
    let remaining = declared.map(|length| length.saturating_sub(left.read));
    if remaining.is_some_and(|remaining| remaining > DRAIN_BYTES) {
        tracing::debug!(
            read = left.read,
            ?declared,
            "request body too big to drain; closing after the answer"
        );
        return false;
    }
    let mut body = left.body;
    let mut drained = 0u64;
    let to_the_end = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else {
                return false;
            };
            drained += chunk.len() as u64;
            if drained > DRAIN_BYTES {
                return false;
            }
        }
        true
    })
    .await;
    let drained_all = matches!(to_the_end, Ok(true));
    if !drained_all {
        tracing::debug!(
            read = left.read,
            ?declared,
            "request body not drained within {DRAIN_BYTES} bytes and {DRAIN_TIME:?}; closing after the answer"
        );
    }
    drained_all
}

/// What a handler left of a request body.
struct Leftover {
    body: BodyDataStream,
    /// Bytes the handler read.
    read: u64,
    /// Whether the handler asked for the body at all (with
    /// `Expect: 100-continue`, only then does the client send it).
    polled: bool,
}

/// The request body as the handler sees it: passes every chunk through and
/// counts it; dropped before the end, it hands the rest back to
/// [`drain_unread`].
struct Tap {
    inner: Option<BodyDataStream>,
    read: u64,
    polled: bool,
    /// Read to the end, or failed (a broken connection is not drained).
    ended: bool,
    back: Option<oneshot::Sender<Leftover>>,
}

impl Stream for Tap {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let tap = &mut *self;
        tap.polled = true;
        let Some(inner) = tap.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let next = inner.poll_next_unpin(context);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => tap.read += chunk.len() as u64,
            Poll::Ready(Some(Err(_)) | None) => tap.ended = true,
            Poll::Pending => {}
        }
        next
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let (Some(body), Some(back)) = (self.inner.take(), self.back.take()) {
            // The middleware may be gone (the request was cancelled): then
            // there is no one to drain for.
            let _ = back.send(Leftover {
                body,
                read: self.read,
                polled: self.polled,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(chunks: &[&[u8]]) -> BodyDataStream {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            chunks.iter().map(|chunk| Ok(Bytes::copy_from_slice(chunk))).collect();
        Body::from_stream(futures_util::stream::iter(chunks)).into_data_stream()
    }

    #[tokio::test]
    async fn a_tap_dropped_early_hands_back_the_rest_and_its_count() {
        let (back, leftover) = oneshot::channel();
        let mut tap = Tap {
            inner: Some(body_of(&[b"abc", b"defg", b"hi"])),
            read: 0,
            polled: false,
            ended: false,
            back: Some(back),
        };
        assert_eq!(tap.next().await.unwrap().unwrap(), &b"abc"[..]);
        drop(tap);
        let left = leftover.await.unwrap();
        assert_eq!((left.read, left.polled), (3, true));
        assert!(drain(left, Some(9), false).await, "6 bytes left, drained to the end");
    }

    #[tokio::test]
    async fn a_tap_read_to_the_end_hands_back_nothing() {
        let (back, leftover) = oneshot::channel();
        let mut tap = Tap {
            inner: Some(body_of(&[b"abc"])),
            read: 0,
            polled: false,
            ended: false,
            back: Some(back),
        };
        while tap.next().await.is_some() {}
        drop(tap);
        assert!(leftover.await.is_err());
    }

    #[tokio::test]
    async fn drains_are_bounded() {
        let left = |read| Leftover {
            body: body_of(&[b"x"]),
            read,
            polled: true,
        };
        assert!(
            !drain(left(0), Some(DRAIN_BYTES + 1), false).await,
            "announced past the bound"
        );
        assert!(
            drain(left(10), Some(DRAIN_BYTES + 10), false).await,
            "the rest is within the bound"
        );
        let unasked = Leftover {
            polled: false,
            ..left(0)
        };
        assert!(
            !drain(unasked, Some(1), true).await,
            "a client waiting for 100 Continue sent nothing"
        );
        let big = vec![0u8; 1 << 20];
        let endless = Leftover {
            body: body_of(&[&big, &big, &big, &big, &big]),
            read: 0,
            polled: true,
        };
        assert!(!drain(endless, None, false).await, "chunked past the bound");
    }
}
