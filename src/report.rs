//! An error and its causes, in one line for a person: `outer: cause: root`.
//!
//! Each error's `Display` says only its own layer's failure, so whatever
//! prints an error for a user (the CLI, the demo) prints it through
//! [`Report`] to show why it happened too.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources, separated by `": "`.
pub struct Report<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read settings")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn shows_every_cause_in_order() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(Report(&e).to_string(), "cannot read settings: disk on fire");
        let alone = std::io::Error::other("just this");
        assert_eq!(Report(&alone).to_string(), "just this");
    }
}
