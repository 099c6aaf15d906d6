//! Fault injection: scripted misbehaviour for testing the daemon's retries.
//!
//! Owns the fault shape shared by the scenario's `[[faults]]` and the runtime
//! `POST /_emulator/faults` API, its validation, the ordered fault table
//! (first matching fault with uses left wins, each use spends one), and the
//! rewriting of a good answer into a malformed one.
//!
//! A fault: `operation` (required; an operation name or `*`), optional
//! `target_prefix` (`GetDataAccess` only), `times` (absent = forever),
//! `latency_ms`, and at most one effect: `status` + `code` (+ `message`),
//! `malformed` = `truncated` | `not-xml` | `missing-field` | `bad-expiration`
//! | `expired` (the last three alter `GetDataAccess` answers only), or
//! `reset` = `true` (the connection is reset, no answer is sent).
//!
//! Reading and checking a fault is in `read`, the table in `table`, and the
//! breaking of answers in `mangle`.

mod mangle;
mod read;
mod table;

use std::time::Duration;

use serde::Serialize;

use super::Operation;

pub(super) use mangle::mangle;
pub(super) use table::FaultTable;

/// One scripted misbehaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Fault {
    /// `None` matches every operation (`"*"`).
    pub(super) operation: Option<Operation>,
    /// Only `GetDataAccess` calls whose raw `target` starts with this.
    pub(super) target_prefix: Option<String>,
    /// Uses left; `None` = forever.
    pub(super) times: Option<u64>,
    pub(super) latency: Option<Duration>,
    pub(super) effect: Effect,
}

/// What a fault does after its latency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    /// Answer normally.
    None,
    /// Answer with this error instead of doing the work.
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// Do the work, then break a successful answer this way.
    Malformed(Malformed),
    /// Send no answer: reset the connection (TCP RST).
    Reset,
}

/// Ways to break a successful answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Malformed {
    /// The XML cut in half.
    Truncated,
    /// A plain-text body.
    NotXml,
    /// `GetDataAccess` without `SessionToken`.
    MissingField,
    /// `GetDataAccess` with `Expiration` = `soon`.
    BadExpiration,
    /// `GetDataAccess` whose `Expiration` is 10 minutes past.
    Expired,
}

impl Malformed {
    const ALL: [Malformed; 5] = [
        Malformed::Truncated,
        Malformed::NotXml,
        Malformed::MissingField,
        Malformed::BadExpiration,
        Malformed::Expired,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Malformed::Truncated => "truncated",
            Malformed::NotXml => "not-xml",
            Malformed::MissingField => "missing-field",
            Malformed::BadExpiration => "bad-expiration",
            Malformed::Expired => "expired",
        }
    }

    /// Whether this kind only makes sense for a `GetDataAccess` answer.
    fn credentials_only(self) -> bool {
        matches!(
            self,
            Malformed::MissingField | Malformed::BadExpiration | Malformed::Expired
        )
    }
}

impl Fault {
    /// Whether this fault affects a call of `operation` with raw `target`.
    ///
    /// A fault that could not change the call (a credentials-only kind on
    /// another operation, a `target_prefix` on a call without a target) does
    /// not match it, so it does not spend a use there.
    fn applies(&self, operation: Operation, target: Option<&str>) -> bool {
        if self.operation.is_some_and(|op| op != operation) {
            return false;
        }
        if let Some(prefix) = &self.target_prefix
            && (operation != Operation::GetDataAccess
                || !target.is_some_and(|t| t.starts_with(prefix.as_str())))
        {
            return false;
        }
        match self.effect {
            Effect::Malformed(kind) if kind.credentials_only() => {
                operation == Operation::GetDataAccess
            }
            _ => true,
        }
    }

    /// The JSON view for `GET /_emulator/faults`, same shape as the input.
    pub(super) fn view(&self) -> FaultView<'_> {
        let (status, code, message, malformed) = match &self.effect {
            Effect::None | Effect::Reset => (None, None, None, None),
            Effect::Error {
                status,
                code,
                message,
            } => (
                Some(*status),
                Some(code.as_str()),
                Some(message.as_str()),
                None,
            ),
            Effect::Malformed(kind) => (None, None, None, Some(kind.as_str())),
        };
        FaultView {
            operation: self.operation.map_or("*", Operation::as_str),
            target_prefix: self.target_prefix.as_deref(),
            times: self.times,
            latency_ms: self.latency.map(|d| d.as_millis() as u64),
            status,
            code,
            message,
            malformed,
            reset: (self.effect == Effect::Reset).then_some(true),
        }
    }
}

/// Serialised form of a [`Fault`].
#[derive(Serialize)]
pub(super) struct FaultView<'a> {
    operation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_prefix: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    times: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    malformed: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset: Option<bool>,
}
