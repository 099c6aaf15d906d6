//! An AWS SDK failure as the cache and the commands see it: terminal or
//! transient, with the service's code and message, or for a failure to
//! connect, the endpoint that could not be reached and what to create.

use aws_sdk_s3control::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tracing::warn;

use super::endpoint::Reach;
use crate::upstream::{ErrorKind, UpstreamError, classify};

pub(super) fn malformed(message: &str) -> UpstreamError {
    UpstreamError::new(ErrorKind::Malformed, "MalformedResponse", message)
}

/// Maps any SDK failure of `operation`, sent to `reach`, onto the cache's
/// terminal/transient split, keeping the SDK's error as the source.
///
/// A service's answer is told by its own code and message. A connection
/// that failed or timed out names the endpoint tried (in a VPC-only domain
/// that is a missing interface endpoint, not a passing fault). Any other
/// failure gets a short message of our own. Its whole cause chain goes to
/// the log here, where the operation is known: the cache logs only
/// `code: message`.
pub(super) fn sdk_error<E>(
    operation: &'static str,
    reach: &Reach,
    err: SdkError<E, aws_sdk_s3control::config::http::HttpResponse>,
) -> UpstreamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, code, message) = match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or_default();
            let message = se.err().message().unwrap_or_default();
            let shown_code = if code.is_empty() {
                format!("HTTP{status}")
            } else {
                code.to_string()
            };
            let message = if message.is_empty() {
                format!("HTTP status {status}")
            } else {
                message.to_string()
            };
            return UpstreamError::new(classify(code, Some(status)), shown_code, message)
                .with_source(err);
        }
        SdkError::TimeoutError(_) => (
            ErrorKind::Unavailable,
            "Timeout",
            reach.unreachable("did not answer in time"),
        ),
        SdkError::DispatchFailure(df) if df.is_timeout() => (
            ErrorKind::Unavailable,
            "DispatchFailure",
            reach.unreachable("could not be connected to in time"),
        ),
        SdkError::DispatchFailure(df) if df.is_io() => (
            ErrorKind::Unavailable,
            "DispatchFailure",
            reach.unreachable("could not be reached"),
        ),
        SdkError::DispatchFailure(_) => (
            ErrorKind::Unavailable,
            "DispatchFailure",
            "the request could not be sent".to_string(),
        ),
        SdkError::ResponseError(_) => (
            ErrorKind::Malformed,
            "MalformedResponse",
            "the upstream's answer could not be read".to_string(),
        ),
        _ => (
            ErrorKind::Unavailable,
            "RequestFailed",
            "the request could not be made".to_string(),
        ),
    };
    warn!(operation, code, error = %DisplayErrorContext(&err), "upstream call failed");
    UpstreamError::new(kind, code, message).with_source(err)
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use aws_sdk_s3control::config::http::HttpResponse;
    use aws_sdk_s3control::error::ErrorMetadata;
    use aws_sdk_s3control::operation::get_data_access::GetDataAccessError;

    use super::*;

    type GetDataAccessSdkError = SdkError<GetDataAccessError, HttpResponse>;

    fn reach() -> Reach {
        Reach::s3control(None, "us-east-1", "111122223333")
    }

    #[test]
    fn a_service_answer_keeps_its_code_and_message_and_the_sdk_error_underneath() {
        let modeled = GetDataAccessError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("You do not have READ permissions")
                .build(),
        );
        let raw = HttpResponse::new(403.try_into().unwrap(), "".into());
        let e = sdk_error(
            "GetDataAccess",
            &reach(),
            SdkError::service_error(modeled, raw),
        );
        assert_eq!(e.kind, ErrorKind::Denied);
        assert_eq!(
            e.to_string(),
            "AccessDenied: You do not have READ permissions"
        );
        let sdk = e
            .source()
            .and_then(|s| s.downcast_ref::<GetDataAccessSdkError>());
        assert!(sdk.is_some(), "the SDK error is the source");
    }

    #[test]
    fn a_timeout_names_the_endpoint_and_keeps_what_timed_out_as_a_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
        let e = sdk_error(
            "GetDataAccess",
            &reach(),
            GetDataAccessSdkError::timeout_error(io),
        );
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert_eq!(e.code, "Timeout");
        assert!(
            e.message.starts_with(
                "S3 Control at https://111122223333.s3-control.us-east-1.amazonaws.com did not answer in time;"
            ),
            "{}",
            e.message
        );
        assert!(e.message.contains("com.amazonaws.us-east-1.s3"));
        let sdk = e.source().expect("the SDK error is the source");
        let io = sdk.source().expect("and what timed out is its source");
        assert_eq!(io.to_string(), "read timed out");
    }
}
