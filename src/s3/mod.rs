//! The S3 endpoint: S3's REST API on loopback, a grant chosen per request.
//!
//! (being written)

pub mod settings;

pub use settings::{Fallback, S3Settings};
