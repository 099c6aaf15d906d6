//! Request bodies on their way to S3, checked as they stream.
//!
//! A [`ForwardBody`] reads the client's body frame by frame and hands S3
//! only bytes whose checks passed: a signed body is hashed as it goes; an
//! `aws-chunked` body is decoded (each signed chunk released only once its
//! signature checked, a trailing checksum compared at the end) and, when it
//! carried a checksum, re-chunked unsigned with the same checksum trailer so
//! S3 stores it. The last piece is always held back until the whole body
//! checked: a body that fails its last check never reaches S3 complete, so
//! S3 commits nothing, and the failure is left in a [`Failure`] slot for the
//! handler to answer with. Memory per request is one chunk plus one frame.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use grantd_s3::chunked::{ChunkError, Decoder, Encoder, Event};
use grantd_s3::sigv4::PayloadHasher;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;

use super::error::S3Error;
use crate::metrics::Metrics;

/// Every body the S3 endpoint sends, either way.
pub type S3Body = UnsyncBoxBody<Bytes, BoxError>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Chunk size of bodies re-sent `aws-chunked` to S3. Defaults to 64 KiB,
/// what the AWS SDKs send.
pub const FORWARD_CHUNK_SIZE: usize = 64 * 1024;

/// Where a body that failed a check leaves its reason.
#[derive(Clone, Default)]
pub struct Failure(Arc<Mutex<Option<S3Error>>>);

impl Failure {
    fn set(&self, e: S3Error) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    pub fn take(&self) -> Option<S3Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
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

/// The client's body, checked on its way to S3.
pub struct ForwardBody {
    inner: Incoming,
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
    failure: Failure,
    metrics: Arc<Metrics>,
}

impl ForwardBody {
    /// `length` is what S3 is told (`Content-Length`).
    pub fn new(
        inner: Incoming,
        check: Check,
        length: Option<u64>,
        failure: Failure,
        metrics: Arc<Metrics>,
    ) -> ForwardBody {
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

impl Body for ForwardBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(piece) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            if this.finished || this.client_ended {
                this.finished = true;
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
                        detail: if e.is_timeout() {
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
