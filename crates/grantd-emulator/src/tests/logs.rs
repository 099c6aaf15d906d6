//! Secrets and tokens never reach the logs, the call log or the rest of
//! the control API.

use super::assume_role::{assume_role_scenario, assume_vend, fake_sts};
use super::*;
use std::sync::OnceLock;

/// Collects the text of every event and span field, at every level.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<String>>);

impl tracing::field::Visit for CapturedLogs {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let line = format!("{}={:?} ", field.name(), value);
        self.0.lock().unwrap().push_str(&line);
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut self.clone());
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut self.clone());
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut self.clone());
        self.0.lock().unwrap().push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

impl CapturedLogs {
    /// Captures everything this thread logs until the guard drops; a
    /// current-thread runtime runs every task of a test on its thread.
    fn install() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
        // While only one dispatcher exists, tracing-core (0.1.36) works out a
        // new callsite's interest from the registering thread's subscriber
        // alone: a callsite first hit by a parallel test that captures
        // nothing would stay switched off here too, and the capture would
        // miss lines. An idle second dispatcher, alive for the whole run,
        // makes it ask every subscriber.
        static IDLE: OnceLock<tracing::Dispatch> = OnceLock::new();
        IDLE.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let logs = CapturedLogs::default();
        let guard = tracing::subscriber::set_default(logs.clone());
        (logs, guard)
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn logs_never_contain_secrets_or_tokens() {
    let (logs, _guard) = CapturedLogs::install();
    let (sts_addr, _) = fake_sts().await;
    let h = Harness::start(assume_role_scenario(&format!("http://{sts_addr}"))).await;
    let minted = assume_vend(&h, "s3://assume-bucket/A/x", "").await;
    let random = assume_vend(&h, "s3://assume-bucket/plain/x", "").await;
    h.control(
        "GET",
        &format!("/issued/{}", random.xml("AccessKeyId").unwrap()),
        "",
    )
    .await;
    h.stop().await;

    let text = logs.text();
    assert!(
        text.contains("ASIAFROMFAKESTS0001"),
        "access key ids are logged:\n{text}"
    );
    assert_no_secret(&text, &random, "leaked into the logs");
    assert_eq!(minted.status, 200);
}

/// Fails if `text` holds a secret or token of the assume-role run: the
/// scripted STS's and the scenario's planted markers, and the random pair
/// `random` vended.
fn assert_no_secret(text: &str, random: &Reply, how: &str) {
    for secret in [
        "STS-SECRET-MARKER",
        "STS-TOKEN-MARKER",
        "ASSUME-ROLE-SECRET-MARKER",
        random.xml("SecretAccessKey").unwrap(),
        random.xml("SessionToken").unwrap(),
    ] {
        assert!(!text.contains(secret), "{secret} {how}:\n{text}");
    }
}

/// Everything the control API shows after a run: the call log, faults,
/// settings and what each of `issued` covers.
async fn control_views(h: &Harness, issued: &[&str]) -> String {
    let mut text = String::new();
    for path in ["/calls", "/faults", "/settings"] {
        text.push_str(&h.control("GET", path, "").await.1.to_string());
    }
    for key in issued {
        let (status, view) = h.control("GET", &format!("/issued/{key}"), "").await;
        assert_eq!(status, 200, "{key} was registered: {view}");
        text.push_str(&view.to_string());
    }
    text
}

#[tokio::test]
async fn control_api_never_shows_the_secrets_or_tokens_it_vends() {
    let (sts_addr, _) = fake_sts().await;
    let h = Harness::start(assume_role_scenario(&format!("http://{sts_addr}"))).await;
    // The scripted STS plants known markers; the random keys are vended too.
    let minted = assume_vend(&h, "s3://assume-bucket/A/x", "").await;
    let random = assume_vend(&h, "s3://assume-bucket/plain/x", "").await;
    assert_eq!(minted.xml("SecretAccessKey"), Some("STS-SECRET-MARKER"));
    assert_eq!(minted.xml("SessionToken"), Some("STS-TOKEN-MARKER"));
    let (minted_key, random_key) = (
        minted.xml("AccessKeyId").unwrap(),
        random.xml("AccessKeyId").unwrap(),
    );
    let text = control_views(&h, &[minted_key, random_key]).await;
    h.stop().await;

    assert!(
        text.contains("AKIAASSUMEROLEMODE") && text.contains("s3://assume-bucket/plain/x"),
        "the calls were recorded:\n{text}"
    );
    assert_no_secret(&text, &random, "shown by the control API");
}
