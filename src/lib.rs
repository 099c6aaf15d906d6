#![forbid(unsafe_code)]
pub mod cache;
pub mod clock;
pub mod credentials;
pub mod metrics;
pub mod scope;
pub mod upstream;
