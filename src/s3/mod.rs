//! The S3 endpoint: S3's REST API on loopback, a grant chosen per request.
//!
//! Clients sign their S3 requests with the daemon's base identity (served to
//! them at `/v1/base-credentials`), so every other AWS call of theirs keeps
//! the host's identity. For each request the endpoint checks the peer and the
//! signature ([`handle`]), works out the operation and the scope it needs
//! (`grantd_s3::ops`), takes that grant's credentials from the same cache the
//! credential routes use ([`choose`]), or the fallback, and sends the request
//! on, re-signed, with its body checked as it streams ([`forward`],
//! [`body`]). `DeleteObjects` is split by grant ([`delete`]). S3's answer
//! comes back as S3 gave it; grantd's own refusals are S3's XML ([`error`]).
//! [`upstream`] is where requests go and the connection pool.

pub mod body;
pub mod choose;
pub mod delete;
pub mod error;
pub mod forward;
pub mod handle;
pub mod settings;
pub mod upstream;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};

pub use settings::{Fallback, S3Settings};

use self::body::S3Body;
use crate::base::BaseIdentity;
use crate::cache::Cache;
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::server::auth::{Peer, PeerPolicy};
use crate::server::{Handler, Limits};

/// Everything an S3 request's handler needs; shared by all connections.
pub struct S3State {
    pub cache: Cache,
    pub base: Arc<BaseIdentity>,
    pub settings: S3Settings,
    pub upstream: upstream::Upstream,
    /// The same users as the credential routes.
    pub peers: PeerPolicy,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub clock: SharedClock,
}

impl Handler for S3State {
    type Body = S3Body;

    fn peers(&self) -> &PeerPolicy {
        &self.peers
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    async fn handle(self: Arc<Self>, peer: Arc<Peer>, req: Request<Incoming>) -> Response<S3Body> {
        handle::answer(self, peer, req).await
    }
}
