//! Where the S3 endpoint sends requests, and how: the URL of a bucket's S3,
//! the bucket's region, and one pool of keep-alive connections.
//!
//! With `AWS_ENDPOINT_URL_S3` in the daemon's environment every request goes
//! there, path-style, signed for the daemon's region: a local S3 in tests.
//! An S3 interface endpoint in a VPC (`https://bucket.vpce-….s3.REGION.vpce.amazonaws.com`)
//! gets what the AWS SDKs send it: the bucket as a host label in front
//! (`https://BUCKET.bucket.vpce-…/KEY`) where the name allows, path-style
//! otherwise, signed for the endpoint's region. Without it, to AWS: virtual-hosted
//! (`bucket.s3.REGION.amazonaws.com`) for names that allow it, path-style
//! otherwise, in the bucket's region, learned once per bucket from S3's
//! `x-amz-bucket-region` and remembered for an hour.

use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use hyper::header::HeaderValue;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::body::S3Body;

/// How long an idle connection to S3 is kept. Defaults to 20 s (S3 closes
/// idle connections after about that).
pub const DEFAULT_POOL_IDLE: Duration = Duration::from_secs(20);
/// Most idle connections kept per S3 host. Defaults to 64.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 64;
/// How long a connection to S3 may take to open. Defaults to 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a bucket's region is remembered. Defaults to 1 hour.
pub const REGION_TTL: Duration = Duration::from_secs(3600);
/// Most buckets whose region is remembered. Defaults to 10,000.
pub const MAX_REGIONS: u64 = 10_000;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, S3Body>;

/// The S3 the endpoint forwards to.
pub struct Upstream {
    pub client: HttpClient,
    /// `AWS_ENDPOINT_URL_S3`, parsed: scheme, authority and path prefix.
    endpoint: Option<Endpoint>,
    /// The daemon's region: the signing region of a custom endpoint, and the
    /// first guess for a bucket.
    pub region: String,
    regions: moka::sync::Cache<String, Arc<str>>,
}

struct Endpoint {
    scheme: String,
    authority: String,
    /// Without a trailing `/`; empty for none.
    path: String,
    /// For an S3 interface endpoint, its region (from its host name): buckets
    /// then go virtual-hosted on it.
    vpce_region: Option<String>,
}

/// An endpoint URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("AWS_ENDPOINT_URL_S3 {url:?} is not an http(s)://host[:port][/path] URL")]
pub struct BadEndpoint {
    pub url: String,
}

impl Upstream {
    pub fn new(endpoint: Option<&str>, region: String) -> Result<Upstream, BadEndpoint> {
        let endpoint = endpoint.map(parse_endpoint).transpose()?;
        Ok(Upstream {
            client: client(),
            endpoint,
            region,
            regions: moka::sync::Cache::builder()
                .max_capacity(MAX_REGIONS)
                .time_to_live(REGION_TTL)
                .build(),
        })
    }

    /// The `host:port` requests go to when an endpoint is configured, so the
    /// daemon can refuse to forward to its own S3 listener.
    pub fn endpoint_authority(&self) -> Option<&str> {
        self.endpoint.as_ref().map(|e| e.authority.as_str())
    }

    /// The region to sign a request to `bucket` for.
    pub fn region_of(&self, bucket: Option<&str>) -> Arc<str> {
        if let Some(e) = &self.endpoint {
            return e.vpce_region.as_deref().unwrap_or(&self.region).into();
        }
        bucket
            .and_then(|b| self.regions.get(b))
            .unwrap_or_else(|| self.region.as_str().into())
    }

    /// S3 said where a bucket lives (`x-amz-bucket-region`).
    pub fn learn_region(&self, bucket: &str, region: &HeaderValue) {
        if self.endpoint.is_none()
            && let Ok(region) = region.to_str()
            && crate::scope::is_region(region)
        {
            self.regions.insert(bucket.to_string(), region.into());
        }
    }

    /// The upstream URI of a request: `raw_path` as the client sent it
    /// (path-style, still percent-encoded) and `query` without the auth
    /// parameters.
    pub fn uri(
        &self,
        bucket: Option<&str>,
        raw_path: &str,
        query: &str,
        region: &str,
    ) -> Result<Uri, hyper::http::Error> {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        // The path after `/bucket`.
        let rest = |b: &str| match &raw_path[1 + b.len()..] {
            "" => "/".to_string(),
            rest => rest.to_string(),
        };
        let text = match (&self.endpoint, bucket) {
            (Some(e), Some(b)) if e.vpce_region.is_some() && virtual_hostable(b) => {
                format!("{}://{b}.{}{}{}{q}", e.scheme, e.authority, e.path, rest(b))
            }
            (Some(e), _) => format!("{}://{}{}{raw_path}{q}", e.scheme, e.authority, e.path),
            (None, Some(b)) if virtual_hostable(b) => {
                format!("https://{b}.s3.{region}.amazonaws.com{}{q}", rest(b))
            }
            (None, _) => format!("https://s3.{region}.amazonaws.com{raw_path}{q}"),
        };
        Ok(Uri::try_from(text)?)
    }
}

/// A bucket name that works as a TLS host label: lower-case letters,
/// digits and dashes (a dot would break the wildcard certificate).
fn virtual_hostable(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

fn parse_endpoint(url: &str) -> Result<Endpoint, BadEndpoint> {
    let bad = || BadEndpoint {
        url: url.to_string(),
    };
    let uri: Uri = url.parse().map_err(|_| bad())?;
    let scheme = uri
        .scheme_str()
        .filter(|s| matches!(*s, "http" | "https"))
        .ok_or_else(bad)?;
    let authority = uri.authority().ok_or_else(bad)?.to_string();
    if uri.query().is_some() {
        return Err(bad());
    }
    Ok(Endpoint {
        vpce_region: uri.host().and_then(interface_endpoint_region),
        scheme: scheme.to_string(),
        authority,
        path: uri.path().trim_end_matches('/').to_string(),
    })
}

/// The region of an S3 interface endpoint's bucket host name,
/// `bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com`; `None` for
/// any other host.
fn interface_endpoint_region(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    match labels[..] {
        ["bucket", vpce, "s3", region, "vpce", "amazonaws", "com"]
        | [
            "bucket",
            vpce,
            "s3",
            region,
            "vpce",
            "amazonaws",
            "com",
            "cn",
        ] if vpce.starts_with("vpce-") && crate::scope::is_region(region) => {
            Some(region.to_string())
        }
        _ => None,
    }
}

/// One pool of keep-alive connections, http and https, with the AWS SDK's
/// TLS provider and the system's roots.
fn client() -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(DEFAULT_CONNECT_TIMEOUT));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_provider_and_native_roots(provider.clone()) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no system CA certificates: https to S3 will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the aws-lc provider supports the default protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(DEFAULT_POOL_IDLE)
        .pool_max_idle_per_host(DEFAULT_POOL_MAX_IDLE_PER_HOST)
        .build(https)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_custom_endpoint_gets_every_request_path_style() {
        let u = Upstream::new(Some("http://127.0.0.1:9000/base/"), "eu-west-1".into()).unwrap();
        let uri = u
            .uri(Some("b"), "/b/k%20x", "uploads=", "eu-west-1")
            .unwrap();
        assert_eq!(
            uri.to_string(),
            "http://127.0.0.1:9000/base/b/k%20x?uploads="
        );
        assert_eq!(&*u.region_of(Some("b")), "eu-west-1");
        assert_eq!(u.endpoint_authority(), Some("127.0.0.1:9000"));
    }

    #[tokio::test]
    async fn aws_gets_virtual_hosted_names_and_path_style_for_dotted_ones() {
        let u = Upstream::new(None, "us-east-1".into()).unwrap();
        assert_eq!(
            u.uri(Some("my-bucket"), "/my-bucket/a/b", "", "eu-west-1")
                .unwrap()
                .to_string(),
            "https://my-bucket.s3.eu-west-1.amazonaws.com/a/b"
        );
        assert_eq!(
            u.uri(Some("my-bucket"), "/my-bucket", "list-type=2", "us-east-1")
                .unwrap()
                .to_string(),
            "https://my-bucket.s3.us-east-1.amazonaws.com/?list-type=2"
        );
        assert_eq!(
            u.uri(Some("my.bucket"), "/my.bucket/k", "", "us-east-1")
                .unwrap()
                .to_string(),
            "https://s3.us-east-1.amazonaws.com/my.bucket/k"
        );
        u.learn_region("my-bucket", &HeaderValue::from_static("ap-south-1"));
        assert_eq!(&*u.region_of(Some("my-bucket")), "ap-south-1");
        u.learn_region("my-bucket", &HeaderValue::from_static("Not A Region"));
        assert_eq!(&*u.region_of(Some("my-bucket")), "ap-south-1");
    }

    #[tokio::test]
    async fn an_s3_interface_endpoint_gets_buckets_virtual_hosted_as_the_sdks_send_them() {
        let vpce = "https://bucket.vpce-1a2b3c4d-5e6f.s3.eu-central-1.vpce.amazonaws.com";
        let u = Upstream::new(Some(vpce), "us-east-1".into()).unwrap();
        assert_eq!(
            u.uri(Some("my-bucket"), "/my-bucket/a/b%20c", "", "eu-central-1")
                .unwrap()
                .to_string(),
            "https://my-bucket.bucket.vpce-1a2b3c4d-5e6f.s3.eu-central-1.vpce.amazonaws.com/a/b%20c"
        );
        assert_eq!(
            u.uri(
                Some("my-bucket"),
                "/my-bucket",
                "list-type=2",
                "eu-central-1"
            )
            .unwrap()
            .to_string(),
            "https://my-bucket.bucket.vpce-1a2b3c4d-5e6f.s3.eu-central-1.vpce.amazonaws.com/?list-type=2"
        );
        assert_eq!(
            u.uri(Some("my.bucket"), "/my.bucket/k", "", "eu-central-1")
                .unwrap()
                .to_string(),
            format!("{vpce}/my.bucket/k"),
            "a dotted name goes path-style, as over TLS it must"
        );
        assert_eq!(
            u.uri(None, "/", "", "eu-central-1").unwrap().to_string(),
            format!("{vpce}/")
        );
        assert_eq!(
            &*u.region_of(Some("my-bucket")),
            "eu-central-1",
            "the endpoint's region"
        );
        assert_eq!(
            interface_endpoint_region("s3.us-east-1.amazonaws.com"),
            None
        );
        assert_eq!(
            interface_endpoint_region("accesspoint.vpce-1.s3.us-east-1.vpce.amazonaws.com"),
            None
        );
    }

    #[test]
    fn endpoints_that_are_not_urls_are_refused() {
        for bad in ["ftp://x", "127.0.0.1:9000", "http://h/?q=1", "http:///x"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
