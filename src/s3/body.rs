//! Request bodies on their way to S3, checked as they stream.
//!
//! A [`ForwardBody`] reads the client's body frame by frame and hands S3
//! only bytes whose checks passed: a signed body is hashed as it goes; an
//! `aws-chunked` body is decoded (each signed chunk released only once its
//! signature checked, a trailing checksum compared at the end) and, when it
//! carried a checksum, re-chunked unsigned with the same checksum trailer so
//! S3 stores it. The last piece is always held back until the whole body
//! checked: a body that fails its last check never reaches S3 complete, so
//! S3 commits nothing, and the failure is left in a [`BodyWatch`] slot for the
//! handler to answer with. Memory per request is one chunk plus one frame.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use grantd_s3::chunked::{ChunkError, Decoder, Encoder, Event};
use grantd_s3::sigv4::PayloadHasher;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use tokio::sync::Notify;

use super::error::S3Error;
use crate::metrics::Metrics;

/// Every body the S3 endpoint sends, either way.
pub type S3Body = UnsyncBoxBody<Bytes, BoxError>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> S3Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// No body.
pub fn empty() -> S3Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Chunk size of bodies re-sent `aws-chunked` to S3. Defaults to 64 KiB,
/// what the AWS SDKs send.
pub const FORWARD_CHUNK_SIZE: usize = 64 * 1024;

/// What became of a body on its way to S3: whether it was sent whole, and
/// the reason it failed a check, if it did.
#[derive(Clone, Default)]
pub struct BodyWatch {
    error: Arc<Mutex<Option<S3Error>>>,
    sent: Arc<Sent>,
}

#[derive(Default)]
struct Sent {
    done: AtomicBool,
    notify: Notify,
}

impl BodyWatch {
    fn set(&self, e: S3Error) {
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    pub fn take(&self) -> Option<S3Error> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The whole body went to S3 (or there was none).
    pub fn mark_sent(&self) {
        self.sent.done.store(true, Ordering::Release);
        self.sent.notify.notify_waiters();
    }

    /// Waits until the whole body went to S3.
    pub async fn sent(&self) {
        loop {
            let notified = self.sent.notify.notified();
            if self.sent.done.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// How the client's body is checked and what S3 gets of it.
pub enum Check {
    /// Sent as it is: `UNSIGNED-PAYLOAD`, or a signed body whose hash is
    /// compared at the end (`Some`).
    Plain(Option<PayloadHasher>),
    /// `aws-chunked`: decoded; re-chunked with the checksum when `Some`.
    Chunked(Box<Decoder>, Option<Encoder>),
}

/// The client's body (`B`: hyper's, or a test's), checked on its way to S3.
pub struct ForwardBody<B = Incoming> {
    inner: B,
    check: Check,
    /// Client bytes not yet decoded (chunked only).
    buf: BytesMut,
    /// The last piece produced, held until the body is known good.
    held: Option<Bytes>,
    /// Pieces ready to go.
    queue: VecDeque<Bytes>,
    /// Every check passed; what is queued is all that is left.
    verified: bool,
    /// Ended, with an error or not.
    finished: bool,
    /// The client's body has ended.
    client_ended: bool,
    length: Option<u64>,
    failure: BodyWatch,
    metrics: Arc<Metrics>,
}

/// What a client's body can fail with, beyond its checks.
pub trait ClientBody: Body<Data = Bytes> + Unpin {
    /// Whether the failure was the client going quiet.
    fn timed_out(error: &Self::Error) -> bool;
}

impl ClientBody for Incoming {
    fn timed_out(error: &hyper::Error) -> bool {
        error.is_timeout()
    }
}

impl<B: ClientBody> ForwardBody<B> {
    /// `length` is what S3 is told (`Content-Length`).
    pub fn new(
        inner: B,
        check: Check,
        length: Option<u64>,
        failure: BodyWatch,
        metrics: Arc<Metrics>,
    ) -> ForwardBody<B> {
        ForwardBody {
            inner,
            check,
            buf: BytesMut::new(),
            held: None,
            queue: VecDeque::new(),
            verified: false,
            finished: false,
            client_ended: false,
            length,
            failure,
            metrics,
        }
    }

    fn produce(&mut self, piece: Bytes) {
        if piece.is_empty() {
            return;
        }
        if let Some(previous) = self.held.replace(piece) {
            self.queue.push_back(previous);
        }
    }

    fn release(&mut self, tail: Option<Bytes>) {
        if let Some(held) = self.held.take() {
            self.queue.push_back(held);
        }
        if let Some(tail) = tail.filter(|t| !t.is_empty()) {
            self.queue.push_back(tail);
        }
        self.verified = true;
    }

    fn fail(&mut self, e: S3Error) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.finished = true;
        self.queue.clear();
        self.held = None;
        let shown = e.to_string();
        self.failure.set(e);
        Poll::Ready(Some(Err(shown.into())))
    }

    /// Runs the decoder over what the client sent so far.
    fn decode(&mut self) -> Result<(), ChunkError> {
        let Check::Chunked(decoder, encoder) = &mut self.check else {
            return Ok(());
        };
        let mut out = Vec::new();
        let mut end = None;
        while let Some(event) = decoder.next_event(&mut self.buf)? {
            match event {
                Event::Data(data) => match encoder {
                    Some(enc) => out.push(enc.push(&data)),
                    None => out.push(data),
                },
                // Checked by the decoder; the encoder writes its own.
                Event::Trailers(_) => {}
                Event::End => {
                    end = Some(encoder.take().map(Encoder::finish));
                    break;
                }
            }
        }
        for piece in out {
            self.produce(piece);
        }
        if let Some(tail) = end {
            self.release(tail);
        }
        Ok(())
    }

    /// The client's body ended.
    fn client_done(&mut self) -> Result<(), S3Error> {
        match &mut self.check {
            Check::Plain(hasher) => {
                if let Some(hasher) = hasher.take() {
                    hasher.finish()?;
                }
                self.release(None);
            }
            Check::Chunked(decoder, _) => {
                decoder.finish(&self.buf)?;
                if !self.verified {
                    return Err(ChunkError::Malformed {
                        detail: "the body ended before its final chunk",
                    }
                    .into());
                }
            }
        }
        Ok(())
    }
}

impl<B: ClientBody> Body for ForwardBody<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(piece) = this.queue.pop_front() {
                // The last piece of a checked body: hyper may not ask for
                // the end of a body whose length it was told.
                if this.verified && this.queue.is_empty() && this.held.is_none() {
                    this.failure.mark_sent();
                }
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            if this.finished || this.client_ended {
                this.finished = true;
                this.failure.mark_sent();
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        // HTTP trailers of the client's request: S3 has none.
                        continue;
                    };
                    this.metrics.s3.moved_in(data.len() as u64);
                    match &mut this.check {
                        Check::Plain(hasher) => {
                            if let Some(h) = hasher {
                                h.update(&data);
                            }
                            this.produce(data);
                        }
                        Check::Chunked(..) => {
                            if this.verified {
                                return this.fail(
                                    ChunkError::Malformed {
                                        detail: "data after the end of the body",
                                    }
                                    .into(),
                                );
                            }
                            this.buf.extend_from_slice(&data);
                            if let Err(e) = this.decode() {
                                return this.fail(e.into());
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    return this.fail(S3Error::Body(ChunkError::Malformed {
                        detail: if B::timed_out(&e) {
                            "the client stopped sending"
                        } else {
                            "the client's connection broke"
                        },
                    }));
                }
                None => {
                    // Checked whole: what is queued goes, then the end.
                    this.client_ended = true;
                    if let Err(e) = this.client_done() {
                        return this.fail(e);
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.queue.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use grantd_s3::chunked::{Framing, Limits};
    use grantd_s3::sigv4::{SecretKey, SignatureChain, SigningKey};
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    type Frames = StreamBody<
        futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>,
    >;

    impl ClientBody for Frames {
        fn timed_out(never: &Infallible) -> bool {
            match *never {}
        }
    }

    /// A client body arriving in these pieces.
    fn client(pieces: &[&[u8]]) -> Frames {
        let frames: Vec<_> = pieces
            .iter()
            .map(|p| Ok(Frame::data(Bytes::copy_from_slice(p))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    /// Everything S3 would get before the body ended or failed, and how.
    async fn drain(mut body: ForwardBody<Frames>) -> (Vec<u8>, bool) {
        let mut got = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => got.extend_from_slice(&f.into_data().unwrap()),
                Err(_) => return (got, false),
            }
        }
        (got, true)
    }

    fn forward(pieces: &[&[u8]], check: Check) -> (ForwardBody<Frames>, BodyWatch) {
        let failure = BodyWatch::default();
        let body = ForwardBody::new(client(pieces), check, None, failure.clone(), Arc::default());
        (body, failure)
    }

    fn sha(data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }

    #[tokio::test]
    async fn a_signed_body_goes_whole_when_its_hash_matches() {
        let check = Check::Plain(Some(PayloadHasher::new(sha(b"hello world"))));
        let (body, failure) = forward(&[b"hello ", b"world"], check);
        assert_eq!(drain(body).await, (b"hello world".to_vec(), true));
        assert!(failure.take().is_none());
    }

    #[tokio::test]
    async fn a_signed_body_that_does_not_match_never_reaches_s3_whole() {
        let check = Check::Plain(Some(PayloadHasher::new(sha(b"hello world"))));
        let (body, failure) = forward(&[b"hello ", b"WORLD"], check);
        let (got, ended) = drain(body).await;
        assert!(!ended);
        // The last piece was held back: S3 saw less than was declared.
        assert_eq!(got, b"hello ");
        assert_eq!(failure.take().unwrap().code(), "XAmzContentSHA256Mismatch");
    }

    /// A signed aws-chunked body of `chunks`, the chain seeded with `seed`.
    fn signed_chunks(chain: &mut SignatureChain, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for data in chunks.iter().copied().chain([&b""[..]]) {
            let sig = hex::encode(chain.sign_chunk(&sha(data)));
            out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", data.len()).as_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn chain() -> SignatureChain {
        let key = SigningKey::derive(&SecretKey::new("secret"), "20261203", "us-east-1", "s3");
        SignatureChain::new(
            key,
            "20261203T000000Z",
            "20261203/us-east-1/s3/aws4_request",
            [7; 32],
        )
    }

    fn decoder(length: u64) -> Box<Decoder> {
        let limits = Limits {
            min_chunk_size: 0,
            ..Limits::default()
        };
        Box::new(Decoder::new(Framing::Signed(chain()), length, None, limits).unwrap())
    }

    #[tokio::test]
    async fn a_signed_chunked_body_goes_on_decoded() {
        let encoded = signed_chunks(&mut chain(), &[b"first ", b"second"]);
        let (a, b) = encoded.split_at(10);
        let (body, _) = forward(&[a, b], Check::Chunked(decoder(12), None));
        assert_eq!(drain(body).await, (b"first second".to_vec(), true));
    }

    #[tokio::test]
    async fn a_forged_chunk_stops_the_body_before_its_bytes() {
        let mut encoded = signed_chunks(&mut chain(), &[b"first ", b"second"]);
        // Flip a hex digit of the second chunk's signature.
        let at = encoded
            .windows(15)
            .rposition(|w| w == b"chunk-signature")
            .unwrap();
        let second = encoded[..at]
            .windows(15)
            .rposition(|w| w == b"chunk-signature")
            .unwrap()
            + 16;
        encoded[second] = if encoded[second] == b'0' { b'1' } else { b'0' };
        let (body, failure) = forward(&[&encoded], Check::Chunked(decoder(12), None));
        let (got, ended) = drain(body).await;
        assert!(!ended);
        assert!(!got.windows(6).any(|w| w == b"second"), "{got:?}");
        assert_eq!(failure.take().unwrap().code(), "SignatureDoesNotMatch");
    }

    #[tokio::test]
    async fn a_chunked_body_cut_short_is_incomplete_and_held_back() {
        let encoded = signed_chunks(&mut chain(), &[b"first ", b"second"]);
        // Everything but the final chunk.
        let cut = encoded.len() - 80;
        let (body, failure) = forward(&[&encoded[..cut]], Check::Chunked(decoder(12), None));
        let (got, ended) = drain(body).await;
        assert!(!ended);
        assert_ne!(got, b"first second");
        assert_eq!(failure.take().unwrap().code(), "IncompleteBody");
    }
}
