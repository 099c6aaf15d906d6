//! Where S3 Control and STS calls go, and how to name one that cannot be
//! reached.
//!
//! A configured S3 Control endpoint (`AWS_ENDPOINT_URL_S3_CONTROL`) is
//! installed as [`FixedEndpoint`]. It does for a host name what the AWS
//! SDKs' endpoint rules do, putting the instance account in front as a
//! host label (`https://111122223333.control.vpce-….s3.us-east-1.vpce.amazonaws.com`),
//! and keeps an IP literal or `localhost` as it is, which the SDK's own
//! rules would not (`111122223333.127.0.0.1` reaches no local emulator).
//!
//! In a VPC without internet access, a missing interface endpoint shows up
//! as a connection that never opens: [`Reach`] names the service, the URL
//! that was tried and the endpoint to create, so the error says so instead
//! of "timed out".

use std::net::IpAddr;

use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};

use crate::scope::is_account_id;

/// Sends every S3 Control request to one URL: with the account label in
/// front of a host name, as is for an IP literal or `localhost`.
#[derive(Debug)]
pub struct FixedEndpoint(pub String);

impl ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(&'a self, params: &'a Params) -> EndpointFuture<'a> {
        let url = match (params.requires_account_id(), params.account_id()) {
            (Some(true), Some(account)) => with_account_label(&self.0, account),
            _ => self.0.clone(),
        };
        EndpointFuture::ready(Ok(Endpoint::builder().url(url).build()))
    }
}

/// `url` with `account.` in front of its host when the host is a name (the
/// SDKs' `{url#scheme}://{AccountId}.{url#authority}{url#path}`); as it is
/// for an IP literal, `localhost`, or an account that is not 12 digits.
pub fn with_account_label(url: &str, account: &str) -> String {
    let unchanged = || url.to_string();
    if !is_account_id(account) {
        return unchanged();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return unchanged();
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if authority.starts_with('[') || authority.contains('@') {
        return unchanged();
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    if host.is_empty() || host.parse::<IpAddr>().is_ok() || host.eq_ignore_ascii_case("localhost") {
        return unchanged();
    }
    format!("{scheme}://{account}.{authority}{path}")
}

/// An AWS service grantd calls, as an unreachable one is named.
#[derive(Clone, Copy, Debug)]
pub struct Service {
    pub name: &'static str,
    /// The variable that points grantd at an endpoint of it.
    pub variable: &'static str,
    /// The interface endpoint's service, `com.amazonaws.REGION.<this>`.
    pub vpc_service: &'static str,
}

/// S3 Control, served in a VPC by the S3 interface endpoint (`control.vpce-…`).
pub const S3_CONTROL: Service = Service {
    name: "S3 Control",
    variable: "AWS_ENDPOINT_URL_S3_CONTROL",
    vpc_service: "s3",
};
/// STS, regional.
pub const STS: Service = Service {
    name: "STS",
    variable: "AWS_ENDPOINT_URL_STS",
    vpc_service: "sts",
};

/// Where one call went: the service and the URL tried.
#[derive(Clone, Debug)]
pub struct Reach {
    pub service: Service,
    pub url: String,
    pub region: String,
}

impl Reach {
    /// An S3 Control call for `account` in `region`: the configured endpoint
    /// (labelled as [`FixedEndpoint`] does), else AWS's regional one.
    pub fn s3control(configured: Option<&str>, region: &str, account: &str) -> Reach {
        let url = match configured {
            Some(url) => with_account_label(url, account),
            None => format!("https://{account}.s3-control.{region}.amazonaws.com"),
        };
        Reach {
            service: S3_CONTROL,
            url,
            region: region.to_string(),
        }
    }

    /// An STS call: the configured endpoint, else the regional one.
    pub fn sts(configured: Option<&str>, region: &str) -> Reach {
        Reach {
            service: STS,
            url: configured.map_or_else(
                || format!("https://sts.{region}.amazonaws.com"),
                str::to_string,
            ),
            region: region.to_string(),
        }
    }

    /// Why a connection to it failed (`what`), and what fixes that in a VPC.
    pub fn unreachable(&self, what: &str) -> String {
        format!(
            "{} at {} {what}; in a VPC without internet access it needs an interface endpoint \
             for com.amazonaws.{}.{}, given to grantd as {}",
            self.service.name,
            self.url,
            self.region,
            self.service.vpc_service,
            self.service.variable
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    #[test]
    fn a_host_name_gets_the_account_label_as_the_sdks_give_it() {
        // The case of the SDK's own endpoint tests (aws-sdk-s3control, test_29).
        assert_eq!(
            with_account_label(
                "https://control.vpce-1a2b3c4d-5e6f.s3.us-west-2.vpce.amazonaws.com",
                "123456789012"
            ),
            "https://123456789012.control.vpce-1a2b3c4d-5e6f.s3.us-west-2.vpce.amazonaws.com"
        );
        assert_eq!(
            with_account_label("http://s3control.grantd.test:7912/base", ACCOUNT),
            "http://111122223333.s3control.grantd.test:7912/base"
        );
    }

    #[test]
    fn an_ip_literal_or_localhost_is_kept_as_it_is() {
        for url in [
            "http://127.0.0.1:7912",
            "http://[::1]:7912",
            "http://localhost:7912",
            "https://LOCALHOST",
            "http://10.0.0.5",
        ] {
            assert_eq!(with_account_label(url, ACCOUNT), url);
        }
        assert_eq!(
            with_account_label("https://h.example", "not-an-account"),
            "https://h.example"
        );
    }

    #[tokio::test]
    async fn the_resolver_labels_calls_that_need_the_account_only() {
        let resolver =
            FixedEndpoint("https://control.vpce-1.s3.us-east-1.vpce.amazonaws.com".into());
        let params = Params::builder()
            .region("us-east-1")
            .requires_account_id(true)
            .account_id(ACCOUNT)
            .build()
            .unwrap();
        let endpoint = resolver.resolve_endpoint(&params).await.unwrap();
        assert_eq!(
            endpoint.url(),
            "https://111122223333.control.vpce-1.s3.us-east-1.vpce.amazonaws.com"
        );
        let unlabelled = Params::builder().region("us-east-1").build().unwrap();
        let endpoint = resolver.resolve_endpoint(&unlabelled).await.unwrap();
        assert_eq!(
            endpoint.url(),
            "https://control.vpce-1.s3.us-east-1.vpce.amazonaws.com"
        );
    }

    #[test]
    fn an_unreachable_endpoint_is_named_with_the_one_to_create() {
        let reach = Reach::s3control(None, "eu-west-1", ACCOUNT);
        let text = reach.unreachable("could not be reached");
        assert!(text.starts_with(
            "S3 Control at https://111122223333.s3-control.eu-west-1.amazonaws.com could not be reached;"
        ));
        assert!(text.contains("com.amazonaws.eu-west-1.s3"), "{text}");
        assert!(text.contains("AWS_ENDPOINT_URL_S3_CONTROL"), "{text}");
        let sts = Reach::sts(None, "eu-west-1").unreachable("did not answer in time");
        assert!(
            sts.contains("STS at https://sts.eu-west-1.amazonaws.com"),
            "{sts}"
        );
        assert!(sts.contains("com.amazonaws.eu-west-1.sts"), "{sts}");
    }
}
