//! The daemon's own limit on credential requests being answered at once.
//!
//! Owns the in-flight count. Past the limit a request is refused at once
//! with [`Busy`] (429 and `Retry-After`) rather than queued, so a flood of
//! clients cannot pile up behind a slow upstream.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Too many credential requests are being answered already.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("too many requests at once; retry shortly")]
pub struct Busy;

/// Counts credential requests being answered, against a maximum.
#[derive(Debug)]
pub struct InflightLimit {
    current: AtomicUsize,
    max: usize,
}

/// One request being answered; dropping it frees its place.
#[derive(Debug)]
pub struct Permit<'a>(&'a AtomicUsize);

impl InflightLimit {
    pub fn new(max: usize) -> InflightLimit {
        InflightLimit {
            current: AtomicUsize::new(0),
            max,
        }
    }

    pub fn try_acquire(&self) -> Result<Permit<'_>, Busy> {
        // Count first and undo on refusal, so two racing requests cannot both
        // take the last place.
        let before = self.current.fetch_add(1, Ordering::AcqRel);
        let permit = Permit(&self.current);
        if before >= self.max {
            return Err(Busy);
        }
        Ok(permit)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_frees_a_place_on_drop() {
        let limit = InflightLimit::new(2);
        let first = limit.try_acquire().unwrap();
        let _second = limit.try_acquire().unwrap();
        assert_eq!(limit.try_acquire().unwrap_err(), Busy);
        assert_eq!(
            limit.try_acquire().unwrap_err(),
            Busy,
            "a refusal takes no place"
        );
        drop(first);
        assert!(limit.try_acquire().is_ok());
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        assert_eq!(InflightLimit::new(0).try_acquire().unwrap_err(), Busy);
    }
}
