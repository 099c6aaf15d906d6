//! The client side of `grantd status` and `grantd reload`: the daemon's
//! JSON as it is (`--format json`), or as a table for a person.
//!
//! The table is read from the JSON as a [`serde_json::Value`], field by
//! field, so a daemon a version apart still prints: a field it lacks shows
//! as `-`.

use std::fmt::Write;

use serde_json::Value;

/// How `grantd status` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

/// The daemon's `/v1/status` answer, printed in `format`.
pub fn render(body: &[u8], format: StatusFormat) -> Result<String, String> {
    let status: Value = serde_json::from_slice(body)
        .map_err(|e| format!("grantd answered with something other than JSON: {e}"))?;
    if !status.is_object() {
        return Err("grantd's status is not a JSON object".into());
    }
    Ok(match format {
        // The daemon's own answer, one line, its fields in its order.
        StatusFormat::Json => format!("{}\n", String::from_utf8_lossy(body).trim_end()),
        StatusFormat::Table => table(&status),
    })
}

/// A string field, or `-`.
fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("-")
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

fn n(v: &Value, path: &[&str]) -> Option<u64> {
    get(v, path).and_then(Value::as_u64)
}

/// `1h02m`, `52m10s`, `45s`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

fn uids(v: Option<&Value>) -> String {
    let list: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|u| u.to_string()).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn table(st: &Value) -> String {
    let mut out = String::new();
    let d = |path: &[&str]| s(st, &[&["daemon"], path].concat()).to_string();
    let ready = if get(st, &["daemon", "ready"]).and_then(Value::as_bool) == Some(true) {
        "ready"
    } else {
        "starting"
    };
    let up = n(st, &["daemon", "uptime_seconds"]).map_or("-".into(), duration);
    let _ = writeln!(
        out,
        "grantd {}, pid {}, up {up}, {ready}; account {}, region {}",
        d(&["version"]),
        n(st, &["daemon", "pid"]).map_or("-".into(), |p| p.to_string()),
        d(&["account_id"]),
        d(&["region"]),
    );
    let _ = writeln!(
        out,
        "{:<10}{}{}",
        "listen",
        d(&["listen"]),
        match s(st, &["daemon", "s3_listen"]) {
            "-" => String::new(),
            s3 => format!(", S3 endpoint {s3}"),
        }
    );
    let _ = writeln!(out, "{:<10}{}", "config", config_line(st));
    let _ = writeln!(
        out,
        "{:<10}allowed_uids {}; base_allowed_uids {}; log_level {}",
        "users",
        uids(get(st, &["config", "allowed_uids"])),
        uids(get(st, &["config", "base_allowed_uids"])),
        s(st, &["config", "log_level"]),
    );
    let _ = writeln!(out, "{:<10}{}", "base", base_line(st));
    let _ = writeln!(out, "{:<10}{}", "upstream", upstream_line(st));
    out.push('\n');
    scopes(st, &mut out);
    profiles(st, &mut out);
    out
}

fn config_line(st: &Value) -> String {
    let mut line = format!(
        "{}, loaded {}",
        s(st, &["config", "file"]),
        s(st, &["config", "loaded_at"])
    );
    let reloads = n(st, &["config", "reloads"]).unwrap_or(0);
    if reloads > 0 {
        let _ = write!(line, "; {reloads} reload(s), the last ");
        let last = get(st, &["config", "last_reload"]).unwrap_or(&Value::Null);
        let count = |key| last.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        if last.get("ok").and_then(Value::as_bool) == Some(true) {
            let _ = write!(line, "applied at {}", s(last, &["at"]));
            if count("needs_restart") > 0 {
                let _ = write!(
                    line,
                    " ({} setting(s) wait for a restart)",
                    count("needs_restart")
                );
            }
        } else {
            let _ = write!(
                line,
                "refused at {} ({} problem(s))",
                s(last, &["at"]),
                count("problems")
            );
        }
    }
    line
}

fn base_line(st: &Value) -> String {
    let b = |key: &str| s(st, &["base_identity", key]);
    let arn = match b("arn") {
        "-" => format!("ARN unknown ({})", b("arn_error")),
        arn => arn.to_string(),
    };
    match b("kind") {
        "session" => format!(
            "{arn}, session, {} left (expires {})",
            n(st, &["base_identity", "seconds_left"]).map_or("-".into(), duration),
            b("expiration")
        ),
        "long-term" => format!("{arn}, long-term keys (no expiry)"),
        _ => format!("{arn}, no credentials: {}", b("error")),
    }
}

fn upstream_line(st: &Value) -> String {
    let mut line = format!("circuit {}", s(st, &["upstream", "circuit"]));
    let circuits = get(st, &["upstream", "circuits"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if circuits.len() > 1 || circuits.iter().any(|c| s(c, &["state"]) != "closed") {
        let each: Vec<String> = circuits
            .iter()
            .map(|c| {
                let region = c
                    .get("region")
                    .and_then(Value::as_str)
                    .unwrap_or("the daemon's region");
                match (s(c, &["state"]), s(c, &["probe_at"])) {
                    (state, "-") => format!("{region} {state}"),
                    (state, at) => format!("{region} {state} until {at}"),
                }
            })
            .collect();
        let _ = write!(line, " ({})", each.join(", "));
    }
    let _ = write!(
        line,
        "; {} load(s) in flight",
        n(st, &["upstream", "loads_in_flight"]).unwrap_or(0)
    );
    line
}

fn scopes(st: &Value, out: &mut String) {
    let rows = get(st, &["scopes"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if rows.is_empty() {
        out.push_str("no scope cached yet\n");
        return;
    }
    let width = rows
        .iter()
        .map(|r| s(r, &["scope"]).len())
        .max()
        .unwrap_or(0)
        .max(5);
    let _ = writeln!(
        out,
        "{:<width$}  {:<10} {:<9} {:<14} {:>8} {:>9}  {:<20}  NEXT REFRESH",
        "SCOPE", "PERMISSION", "PRIVILEGE", "STATE", "LEFT", "REQUESTS", "LAST REFRESH",
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:<10} {:<9} {:<14} {:>8} {:>9}  {:<20}  {}",
            s(r, &["scope"]),
            s(r, &["permission"]),
            s(r, &["privilege"]),
            s(r, &["state"]),
            n(r, &["seconds_left"]).map_or("-".into(), duration),
            n(r, &["requests"]).map_or("-".into(), |n| n.to_string()),
            s(r, &["last_refresh"]),
            s(r, &["next_refresh"]),
        );
        if let Some(asked) = r.get("requested").and_then(Value::as_str) {
            let _ = writeln!(out, "  asked as {asked}");
        }
        if let Some(error) = r.get("error").and_then(Value::as_str) {
            let failures = n(r, &["failures"]).unwrap_or(0);
            match failures {
                0 => {
                    let _ = writeln!(out, "  {error}");
                }
                f => {
                    let _ = writeln!(out, "  {f} failed renewal(s), the last: {error}");
                }
            }
        }
    }
}

fn profiles(st: &Value, out: &mut String) {
    let rows = get(st, &["config", "profiles"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if rows.is_empty() {
        return;
    }
    out.push('\n');
    let width = rows
        .iter()
        .map(|r| s(r, &["name"]).len() + 2)
        .max()
        .unwrap_or(0)
        .max(7);
    let _ = writeln!(out, "{:<width$}  {:<10} TARGET", "PROFILE", "PERMISSION");
    for r in &rows {
        let default = r.get("default").and_then(Value::as_bool) == Some(true);
        let name = format!("{}{}", s(r, &["name"]), if default { " *" } else { "" });
        let _ = writeln!(
            out,
            "{name:<width$}  {:<10} {}",
            s(r, &["permission"]),
            s(r, &["target"])
        );
    }
    out.push_str("(* the default profile)\n");
}

/// What `grantd reload` prints for a reload the daemon applied.
pub fn reloaded(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let list = |key: &str| -> Vec<String> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = String::new();
    match list("changed") {
        c if c.is_empty() => out.push_str("reloaded; nothing a reload changes has changed\n"),
        c => {
            let _ = writeln!(out, "reloaded; in force now: {}", c.join(", "));
        }
    }
    let restart = list("needs_restart");
    if !restart.is_empty() {
        let _ = writeln!(
            out,
            "changed, but in force only after a restart: {}",
            restart.join(", ")
        );
    }
    out
}

/// The problems of a refused reload's answer.
pub fn problems(body: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    match v.get("problems").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect(),
        None => vec![
            v.get("message")
                .and_then(Value::as_str)
                .unwrap_or("the daemon refused the configuration")
                .to_string(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(60), "1m00s");
        assert_eq!(duration(3130), "52m10s");
        assert_eq!(duration(3720), "1h02m");
        assert_eq!(duration(43_200), "12h00m");
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        for body in [&b"not json"[..], b"[]", b"\"x\"", b""] {
            assert!(render(body, StatusFormat::Table).is_err(), "{body:?}");
        }
        let empty = render(b"{}", StatusFormat::Table).unwrap();
        assert!(empty.contains("no scope cached yet"), "{empty}");
        assert!(empty.contains("ARN unknown"), "{empty}");
    }

    #[test]
    fn a_refused_reload_lists_every_problem() {
        let body = br#"{"code":"InvalidConfiguration","message":"m","problems":["a","b"]}"#;
        assert_eq!(problems(body), ["a", "b"]);
        assert_eq!(problems(br#"{"message":"only"}"#), ["only"]);
        assert_eq!(problems(b"junk"), ["the daemon refused the configuration"]);
    }

    #[test]
    fn an_applied_reload_names_what_changed_and_what_waits() {
        let body =
            br#"{"ok":true,"changed":["allowed_uids","profile b"],"needs_restart":["listen"]}"#;
        let out = reloaded(body);
        assert!(
            out.contains("in force now: allowed_uids, profile b"),
            "{out}"
        );
        assert!(out.contains("after a restart: listen"), "{out}");
        assert!(reloaded(br#"{"ok":true,"changed":[]}"#).contains("nothing"));
    }
}
