//! Fault injection: scripted misbehaviour for testing the daemon's retries.
//!
//! Owns the fault shape shared by the scenario's `[[faults]]` and the runtime
//! `POST /_emulator/faults` API, its validation, the ordered fault table
//! (first matching fault with uses left wins, each use spends one), and the
//! rewriting of a good answer into a malformed one.
//!
//! A fault: `operation` (required; an operation name or `*`), optional
//! `target_prefix` (`GetDataAccess` only), `times` (absent = forever),
//! `latency_ms`, and at most one effect: `status` + `code` (+ `message`), or
//! `malformed` = `truncated` | `not-xml` | `missing-field` | `bad-expiration`
//! | `expired` (the last three alter `GetDataAccess` answers only).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::Operation;
use grantd_common::fields::{Problems, Table};

/// Longest delay a fault may add; longer would only wedge a test run.
pub(super) const MAX_LATENCY_MS: u64 = 600_000;

/// Message of an injected error when the fault gives none.
const DEFAULT_MESSAGE: &str = "injected by the grantd emulator";

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

    /// Reads one fault; `path` prefixes every problem (`faults[0]`).
    pub(super) fn from_value(value: &Value, path: &str, problems: &mut Problems) -> Option<Fault> {
        let before = problems.len();
        let mut table = Table::new(value, path, problems)?;

        let operation = table.str("operation", problems);
        let operation = match operation {
            None => {
                if table.value("operation").is_none() {
                    problems.push(format!("{}: required", table.path_of("operation")));
                }
                None
            }
            Some("*") => Some(None),
            Some(name) => match Operation::from_name(name) {
                Some(op) => Some(Some(op)),
                None => {
                    problems.push(format!(
                        "{}: unknown operation {name:?}: expected GetDataAccess, \
                         GetAccessGrantsInstanceForPrefix, GetCallerIdentity or *",
                        table.path_of("operation")
                    ));
                    None
                }
            },
        };

        let target_prefix = table.str("target_prefix", problems).map(str::to_string);
        if target_prefix.is_some()
            && let Some(Some(op)) = operation
            && op != Operation::GetDataAccess
        {
            problems.push(format!(
                "{}: only GetDataAccess calls have a target",
                table.path_of("target_prefix")
            ));
        }

        let times = table.u64("times", problems);
        if times == Some(0) {
            problems.push(format!(
                "{}: must be at least 1 (omit it for forever)",
                table.path_of("times")
            ));
        }
        let latency = table
            .u64_in("latency_ms", 0..=MAX_LATENCY_MS, problems)
            .map(Duration::from_millis);

        let status = table.u64_in("status", 400..=599, problems);
        let code = table.str("code", problems);
        let message = table.str("message", problems);
        let malformed = table.str("malformed", problems);

        if let Some(code) = code
            && (code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        {
            problems.push(format!(
                "{}: expected an error code such as SlowDown",
                table.path_of("code")
            ));
        }
        let malformed = malformed.and_then(|name| {
            let kind = Malformed::ALL.into_iter().find(|k| k.as_str() == name);
            if kind.is_none() {
                problems.push(format!(
                    "{}: unknown kind {name:?}: expected truncated, not-xml, missing-field, \
                     bad-expiration or expired",
                    table.path_of("malformed")
                ));
            }
            kind
        });
        if let (Some(kind), Some(Some(op))) = (malformed, operation)
            && kind.credentials_only()
            && op != Operation::GetDataAccess
        {
            problems.push(format!(
                "{}: {:?} only applies to GetDataAccess",
                table.path_of("malformed"),
                kind.as_str()
            ));
        }

        let has_error = table.value("status").is_some() || table.value("code").is_some();
        let has_malformed = table.value("malformed").is_some();
        if has_error && has_malformed {
            problems.push(format!(
                "{}: a fault has at most one effect: status+code or malformed, not both",
                display_path(path)
            ));
        }
        if table.value("status").is_some() != table.value("code").is_some() {
            problems.push(format!(
                "{}: status and code go together",
                display_path(path)
            ));
        }
        if table.value("message").is_some() && !has_error {
            problems.push(format!(
                "{}: only with status and code",
                table.path_of("message")
            ));
        }
        if !has_error && !has_malformed && table.value("latency_ms").is_none() {
            problems.push(format!(
                "{}: no effect: give status+code, malformed or latency_ms",
                display_path(path)
            ));
        }
        table.finish(problems);

        if problems.len() > before {
            return None;
        }
        let effect = match (status, code, malformed) {
            (Some(status), Some(code), _) => Effect::Error {
                // In range by the check above.
                status: u16::try_from(status).unwrap_or(500),
                code: code.to_string(),
                message: message.unwrap_or(DEFAULT_MESSAGE).to_string(),
            },
            (_, _, Some(kind)) => Effect::Malformed(kind),
            _ => Effect::None,
        };
        Some(Fault {
            operation: operation.flatten(),
            target_prefix,
            times,
            latency,
            effect,
        })
    }

    /// Reads the body of `POST /_emulator/faults`: one fault or an array.
    pub(super) fn from_json(body: &[u8]) -> Result<Vec<Fault>, Problems> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| vec![format!("invalid JSON: {e}")])?;
        let mut problems = Problems::new();
        let faults: Vec<Fault> = match &value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| Fault::from_value(item, &format!("[{i}]"), &mut problems))
                .collect(),
            _ => Fault::from_value(&value, "", &mut problems)
                .into_iter()
                .collect(),
        };
        if problems.is_empty() {
            Ok(faults)
        } else {
            Err(problems)
        }
    }

    /// The JSON view for `GET /_emulator/faults`, same shape as the input.
    pub(super) fn view(&self) -> FaultView<'_> {
        let (status, code, message, malformed) = match &self.effect {
            Effect::None => (None, None, None, None),
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
        }
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "fault" } else { path }
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
}

/// The active faults, in the order they were added.
#[derive(Debug, Default)]
pub(super) struct FaultTable {
    faults: Vec<Fault>,
}

impl FaultTable {
    pub(super) fn extend(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.extend(faults);
    }

    pub(super) fn clear(&mut self) {
        self.faults.clear();
    }

    pub(super) fn list(&self) -> &[Fault] {
        &self.faults
    }

    /// Spends one use of the first fault that applies and returns it; a
    /// fault whose uses run out is dropped.
    pub(super) fn take(&mut self, operation: Operation, target: Option<&str>) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.applies(operation, target))?;
        let fault = &mut self.faults[index];
        let taken = fault.clone();
        match &mut fault.times {
            Some(1) => {
                self.faults.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(taken)
    }
}

/// Breaks a rendered successful answer at the text level; returns the body
/// and its content type. [`Malformed::Expired`] is applied earlier, to the
/// credentials themselves, and leaves the text alone here.
pub(super) fn mangle(kind: Malformed, body: String) -> (String, &'static str) {
    const XML: &str = "application/xml";
    match kind {
        Malformed::Truncated => {
            let mut cut = body.len() / 2;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            (body[..cut].to_string(), XML)
        }
        Malformed::NotXml => (
            "grantd emulator: injected answer that is not XML\n".to_string(),
            "text/plain",
        ),
        Malformed::MissingField => (remove_element(&body, "SessionToken"), XML),
        Malformed::BadExpiration => (replace_text(&body, "Expiration", "soon"), XML),
        Malformed::Expired => (body, XML),
    }
}

fn remove_element(body: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    match (body.find(&open), body.find(&close)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &body[..start], &body[end + close.len()..])
        }
        _ => body.to_string(),
    }
}

fn replace_text(body: &str, name: &str, text: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    match (body.find(&open), body.find(&close)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{text}{}", &body[..start + open.len()], &body[end..])
        }
        _ => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fault(value: Value) -> Result<Fault, Problems> {
        let mut problems = Problems::new();
        Fault::from_value(&value, "fault", &mut problems).ok_or(problems)
    }

    #[test]
    fn reads_an_error_fault() {
        let f = fault(
            json!({"operation": "GetDataAccess", "status": 503, "code": "SlowDown", "times": 2}),
        )
        .unwrap();
        assert_eq!(f.operation, Some(Operation::GetDataAccess));
        assert_eq!(f.times, Some(2));
        assert_eq!(
            f.effect,
            Effect::Error {
                status: 503,
                code: "SlowDown".into(),
                message: DEFAULT_MESSAGE.into()
            }
        );
    }

    #[test]
    fn refuses_two_effects_and_reports_every_problem() {
        let problems = fault(json!({
            "operation": "Nope", "status": 200, "code": "X", "malformed": "weird", "colour": "red"
        }))
        .unwrap_err();
        let text = problems.join("\n");
        assert!(
            text.contains("fault.operation: unknown operation"),
            "{text}"
        );
        assert!(text.contains("fault.status: 200 is out of range"), "{text}");
        assert!(text.contains("fault.malformed: unknown kind"), "{text}");
        assert!(text.contains("at most one effect"), "{text}");
        assert!(text.contains("fault.colour: unknown key"), "{text}");
    }

    #[test]
    fn a_fault_without_effect_or_latency_is_refused() {
        let problems = fault(json!({"operation": "*"})).unwrap_err();
        assert!(problems[0].contains("no effect"), "{problems:?}");
    }

    #[test]
    fn credentials_only_kinds_are_refused_for_other_operations() {
        let problems =
            fault(json!({"operation": "GetCallerIdentity", "malformed": "expired"})).unwrap_err();
        assert!(
            problems[0].contains("only applies to GetDataAccess"),
            "{problems:?}"
        );
    }

    #[test]
    fn table_spends_uses_and_drops_exhausted_faults() {
        let mut table = FaultTable::default();
        table.extend([
            fault(json!({"operation": "GetDataAccess", "target_prefix": "s3://b/A", "status": 500, "code": "InternalError", "times": 1})).unwrap(),
            fault(json!({"operation": "*", "status": 503, "code": "SlowDown", "times": 2})).unwrap(),
        ]);
        let first = table
            .take(Operation::GetDataAccess, Some("s3://b/A/x"))
            .unwrap();
        assert!(matches!(first.effect, Effect::Error { status: 500, .. }));
        let second = table
            .take(Operation::GetDataAccess, Some("s3://b/A/x"))
            .unwrap();
        assert!(matches!(second.effect, Effect::Error { status: 503, .. }));
        assert!(table.take(Operation::GetCallerIdentity, None).is_some());
        assert!(table.take(Operation::GetCallerIdentity, None).is_none());
        assert!(table.list().is_empty());
    }

    #[test]
    fn mangling_removes_or_breaks_fields() {
        let body =
            "<R><SessionToken>tok</SessionToken><Expiration>2026-01-01T00:00:00Z</Expiration></R>";
        assert_eq!(
            mangle(Malformed::MissingField, body.into()).0,
            "<R><Expiration>2026-01-01T00:00:00Z</Expiration></R>"
        );
        assert_eq!(
            mangle(Malformed::BadExpiration, body.into()).0,
            "<R><SessionToken>tok</SessionToken><Expiration>soon</Expiration></R>"
        );
        assert_eq!(
            mangle(Malformed::Truncated, body.into()).0.len(),
            body.len() / 2
        );
    }
}
