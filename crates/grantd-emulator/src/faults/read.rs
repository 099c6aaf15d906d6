//! Reading and checking one fault, from the scenario file or the control API.
//!
//! Every problem is reported, each naming its key (`faults[0].status: ...`),
//! and a fault with any problem is refused whole.

use std::time::Duration;

use serde_json::Value;

use grantd_common::fields::{Problems, Table};

use super::{Effect, Fault, Malformed};
use crate::Operation;

/// Longest delay a fault may add; longer would only wedge a test run.
const MAX_LATENCY_MS: u64 = 600_000;

/// Message of an injected error when the fault gives none.
const DEFAULT_MESSAGE: &str = "injected by the grantd emulator";

impl Fault {
    /// Reads one fault; `path` prefixes every problem (`faults[0]`).
    pub(crate) fn from_value(value: &Value, path: &str, problems: &mut Problems) -> Option<Fault> {
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
                         GetAccessGrantsInstanceForPrefix, ListCallerAccessGrants, \
                         GetCallerIdentity or *",
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
        let reset = table.field("reset").and_then(|f| f.bool(problems));
        if reset == Some(false) {
            problems.push(format!(
                "{}: only true is meaningful (omit it otherwise)",
                table.path_of("reset")
            ));
        }

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
        let has_reset = table.value("reset").is_some();
        if [has_error, has_malformed, has_reset]
            .iter()
            .filter(|e| **e)
            .count()
            > 1
        {
            problems.push(format!(
                "{}: a fault has at most one effect: status+code, malformed or reset",
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
        if !has_error && !has_malformed && !has_reset && table.value("latency_ms").is_none() {
            problems.push(format!(
                "{}: no effect: give status+code, malformed, reset or latency_ms",
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
            _ if reset == Some(true) => Effect::Reset,
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
    pub(crate) fn from_json(body: &[u8]) -> Result<Vec<Fault>, Problems> {
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
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "fault" } else { path }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A fault read from `value`, or every problem found in it.
    pub(crate) fn fault(value: Value) -> Result<Fault, Problems> {
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
    fn reads_a_reset_fault_and_refuses_reset_with_another_effect() {
        let f = fault(json!({"operation": "GetDataAccess", "reset": true})).unwrap();
        assert_eq!(f.effect, Effect::Reset);
        let problems =
            fault(json!({"operation": "*", "reset": true, "malformed": "not-xml"})).unwrap_err();
        assert!(problems[0].contains("at most one effect"), "{problems:?}");
        let problems = fault(json!({"operation": "*", "reset": false})).unwrap_err();
        assert!(
            problems[0].contains("fault.reset: only true"),
            "{problems:?}"
        );
        let problems = fault(json!({"operation": "*", "reset": "yes"})).unwrap_err();
        assert!(problems[0].contains("fault.reset"), "{problems:?}");
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
}
