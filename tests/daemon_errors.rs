//! Refusals: every error the contract names, in its JSON shape, and the
//! listener's own defences (foreign `Host`, oversized heads, non-HTTP).

mod common;

use common::*;

#[test]
fn rejects_a_request_without_the_token() {
    let s = stack(PROFILES);
    let reply = get(s.daemon.addr, "/v1/credentials", None);
    assert_contract_error(&reply, 401, "MissingToken");
}

#[test]
fn rejects_a_wrong_token() {
    let s = stack(PROFILES);
    let reply = get(
        s.daemon.addr,
        "/v1/credentials",
        Some("wrong-token-wrong-token"),
    );
    assert_contract_error(&reply, 403, "InvalidToken");
}

#[test]
fn passes_an_access_grants_denial_on_with_its_reason() {
    let s = stack(PROFILES);
    let reply = get(s.daemon.addr, &query("UserB/*", "READ"), Some(&s.token));
    let denied = assert_contract_error(&reply, 403, "AccessDenied");
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains("You do not have READ permissions"),
        "{denied}"
    );
}

#[test]
fn rejects_a_target_that_is_not_an_s3_uri() {
    let s = stack(PROFILES);
    let reply = get(
        s.daemon.addr,
        "/v1/credentials?target=bucket/x&permission=READ",
        Some(&s.token),
    );
    assert_contract_error(&reply, 400, "InvalidTarget");
}

#[test]
fn rejects_an_unknown_permission() {
    let s = stack(PROFILES);
    let reply = get(s.daemon.addr, &query("UserA/*", "ALL"), Some(&s.token));
    assert_contract_error(&reply, 400, "InvalidPermission");
}

#[test]
fn rejects_a_duration_out_of_range() {
    let s = stack(PROFILES);
    let reply = get(
        s.daemon.addr,
        &format!("{}&duration=5", query("UserA/*", "READ")),
        Some(&s.token),
    );
    assert_contract_error(&reply, 400, "InvalidRequest");
}

#[test]
fn answers_an_unknown_profile_with_404() {
    let s = stack(PROFILES);
    let reply = get(s.daemon.addr, "/v1/credentials/nobody", Some(&s.token));
    assert_contract_error(&reply, 404, "UnknownProfile");
}

#[test]
fn answers_an_unknown_route_with_404() {
    let s = stack(PROFILES);
    let reply = get(s.daemon.addr, "/v2/anything", Some(&s.token));
    assert_contract_error(&reply, 404, "NotFound");
}

#[test]
fn answers_a_method_other_than_get_with_405() {
    let s = stack(PROFILES);
    let reply = request(
        s.daemon.addr,
        "POST",
        "/v1/credentials",
        &[("Authorization", &s.token)],
    );
    assert_contract_error(&reply, 405, "InvalidRequest");
}

/// A DNS-rebinding page reaches loopback with its own name in `Host`.
fn rebinding_request(s: &Stack) -> Reply {
    let request = format!(
        "GET /v1/credentials HTTP/1.1\r\nHost: evil.example:{}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        s.daemon.addr.port(),
        s.token
    );
    raw(s.daemon.addr, request.as_bytes())
}

fn oversized_request(s: &Stack) -> Reply {
    let big = "x".repeat(64 * 1024);
    request(
        s.daemon.addr,
        "GET",
        "/v1/credentials",
        &[("Authorization", &s.token), ("X-Big", &big)],
    )
}

fn garbage_request(s: &Stack) -> Reply {
    raw(s.daemon.addr, b"NOT HTTP AT ALL\r\n\r\n")
}

#[test]
fn refuses_a_foreign_host_header() {
    let s = stack(PROFILES);
    let reply = rebinding_request(&s);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(!reply.body.contains("SecretAccessKey"));
}

#[test]
fn accepts_localhost_as_the_host_header() {
    let s = stack(PROFILES);
    let localhost = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        s.daemon.addr.port()
    );
    assert_eq!(raw(s.daemon.addr, localhost.as_bytes()).status, 200);
}

#[test]
fn refuses_an_oversized_request_head_with_431() {
    let s = stack(PROFILES);
    assert_eq!(oversized_request(&s).status, 431);
}

#[test]
fn refuses_a_request_that_is_not_http() {
    let s = stack(PROFILES);
    assert_eq!(garbage_request(&s).status, 400);
}

#[test]
fn keeps_serving_after_refused_requests() {
    let s = stack(PROFILES);
    rebinding_request(&s);
    oversized_request(&s);
    garbage_request(&s);
    assert_eq!(
        get(s.daemon.addr, "/v1/credentials", Some(&s.token)).status,
        200
    );
}
