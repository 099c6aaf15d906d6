//! Secrets and tokens never reach the logs or the call log.

use super::assume_role::{assume_role_scenario, assume_vend, fake_sts};
use super::*;

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

#[tokio::test]
async fn logs_never_contain_secrets_or_tokens() {
    let logs = CapturedLogs::default();
    // A current-thread runtime: every task of this test logs on this thread.
    let _guard = tracing::subscriber::set_default(logs.clone());
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

    let text = logs.0.lock().unwrap().clone();
    assert!(
        text.contains("ASIAFROMFAKESTS0001"),
        "access key ids are logged:\n{text}"
    );
    for secret in [
        "STS-SECRET-MARKER",
        "STS-TOKEN-MARKER",
        "ASSUME-ROLE-SECRET-MARKER",
        random.xml("SecretAccessKey").unwrap(),
        random.xml("SessionToken").unwrap(),
    ] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the logs:\n{text}"
        );
    }
    assert_eq!(minted.status, 200);
}
