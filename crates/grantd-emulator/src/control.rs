//! The control API: a loopback JSON interface for tests, under `/_emulator`.
//!
//! Owns its routes: the call log (`GET /calls`), `POST /reset`, the issued
//! key registry (`GET /issued/<AccessKeyId>`), the fault table (`GET`,
//! `POST`, `DELETE /faults`) and runtime settings (`GET`, `POST /settings`).
//! It has no authentication: the emulator is a test double bound to loopback.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response};
use serde_json::{Value, json};

use super::Emulator;
use super::faults::Fault;
use super::scenario::LIFETIME_OVERRIDE_RANGE;
use super::server::{CONTROL_PREFIX, response};

type Reply = Response<Full<Bytes>>;

pub(super) fn handle(emu: &Emulator, method: &Method, path: &str, body: &[u8]) -> Reply {
    let route = path.strip_prefix(CONTROL_PREFIX).unwrap_or(path);
    let reply = match (method, route) {
        (&Method::GET, "/calls") => ok(emu.state().calls_json()),
        (&Method::POST, "/reset") => {
            emu.state().reset();
            ok(json!({"reset": true}))
        }
        (&Method::GET, "/faults") => list_faults(emu, None),
        (&Method::POST, "/faults") => add_faults(emu, body),
        (&Method::DELETE, "/faults") => {
            let mut state = emu.state();
            let cleared = state.faults.list().len();
            state.faults.clear();
            ok(json!({"cleared": cleared}))
        }
        (&Method::GET, "/settings") => settings(emu),
        (&Method::POST, "/settings") => change_settings(emu, body),
        (&Method::GET, r) if r.starts_with("/issued/") => issued(emu, &r["/issued/".len()..]),
        (_, "/calls" | "/reset" | "/faults" | "/settings") => {
            json_error(405, &format!("{method} is not allowed on {path}"))
        }
        (_, r) if r.starts_with("/issued/") => {
            json_error(405, &format!("{method} is not allowed on {path}"))
        }
        _ => json_error(404, &format!("no control route {method} {path}")),
    };
    tracing::debug!(%method, path, status = reply.status().as_u16(), "emulator control call");
    reply
}

/// The active faults; after a `POST`, also how many it added.
fn list_faults(emu: &Emulator, added: Option<usize>) -> Reply {
    let state = emu.state();
    let faults: Vec<_> = state.faults.list().iter().map(Fault::view).collect();
    match added {
        Some(added) => ok(json!({ "added": added, "faults": faults })),
        None => ok(json!({ "faults": faults })),
    }
}

fn add_faults(emu: &Emulator, body: &[u8]) -> Reply {
    match Fault::from_json(body) {
        Ok(faults) => {
            let added = faults.len();
            emu.state().faults.extend(faults);
            list_faults(emu, Some(added))
        }
        Err(problems) => json_error(400, &problems.join("; ")),
    }
}

fn issued(emu: &Emulator, access_key_id: &str) -> Reply {
    match emu.state().issued.get(access_key_id) {
        Some(issued) => ok(issued.to_json()),
        None => json_error(
            404,
            &format!("no credentials issued with access key id {access_key_id:?}"),
        ),
    }
}

fn settings(emu: &Emulator) -> Reply {
    ok(json!({"credential_lifetime_seconds": emu.state().lifetime_override}))
}

/// `{"credential_lifetime_seconds": N}` sets the lifetime override, `null` clears it.
fn change_settings(emu: &Emulator, body: &[u8]) -> Reply {
    const KEY: &str = "credential_lifetime_seconds";
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return json_error(400, &format!("invalid JSON: {e}")),
    };
    let Some(object) = value.as_object() else {
        return json_error(400, "expected a JSON object");
    };
    if let Some(unknown) = object.keys().find(|k| k.as_str() != KEY) {
        return json_error(400, &format!("{unknown}: unknown setting (expected {KEY})"));
    }
    let lifetime = match object.get(KEY) {
        None => return json_error(400, &format!("{KEY}: required (null clears it)")),
        Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|n| LIFETIME_OVERRIDE_RANGE.contains(n)) {
            Some(n) => Some(n),
            None => {
                return json_error(
                    400,
                    &format!(
                        "{KEY}: expected null or an integer in {}..={}, got {v}",
                        LIFETIME_OVERRIDE_RANGE.start(),
                        LIFETIME_OVERRIDE_RANGE.end()
                    ),
                );
            }
        },
    };
    emu.state().lifetime_override = lifetime;
    tracing::info!(credential_lifetime_seconds = ?lifetime, "emulator lifetime override changed");
    settings(emu)
}

fn ok(value: Value) -> Reply {
    response(200, "application/json", value.to_string(), "")
}

/// `{"error": "..."}` with `status`.
pub(super) fn json_error(status: u16, message: &str) -> Reply {
    response(
        status,
        "application/json",
        json!({ "error": message }).to_string(),
        "",
    )
}
