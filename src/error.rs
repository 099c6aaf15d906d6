//! A cause shared by the clones of an error.
//!
//! Upstream and cache errors must stay `Clone`: one failed load is handed to
//! every caller that waited on it, and a refusal is kept in the denial
//! memory. Their cause sits behind an `Arc`. [`SharedCause`] derefs to the
//! cause itself (and is not an `Error` of its own), so `source()` yields the
//! original error, which callers can downcast, not the `Arc` around it.

use std::error::Error;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub(crate) struct SharedCause(Arc<dyn Error + Send + Sync>);

impl SharedCause {
    pub(crate) fn new(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        SharedCause(Arc::from(cause.into()))
    }
}

impl Deref for SharedCause {
    type Target = dyn Error + Send + Sync;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}
