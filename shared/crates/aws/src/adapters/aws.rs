//! AWS SDK configuration shared by the S3, SQS and SNS adapters: one HTTPS
//! client (rustls with ring), region and credentials from the environment,
//! and an endpoint override so the same code talks to moto or LocalStack.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// The HTTPS client every SDK client uses: rustls with ring (smaller and
/// quicker to build than aws-lc).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads the SDK configuration from the environment (region, credentials).
/// `endpoint_url` overrides every service's endpoint (the SDK also reads
/// `AWS_ENDPOINT_URL` itself).
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An SDK configuration with fixed credentials and region, for an
/// S3-compatible endpoint such as a local moto server.
pub async fn static_sdk_config(
    endpoint_url: &str,
    region: &str,
    key: &str,
    secret: &str,
) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .endpoint_url(endpoint_url)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            key, secret, None, None, "static",
        ))
        .load()
        .await
}

/// An S3 client; path-style addressing when an endpoint override is in use
/// (moto and most S3-compatible servers need it).
pub fn s3_client(config: &SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Classifies an SDK error by HTTP status: 404 not found, 403 denied,
/// 408/429/5xx and transport faults transient, the rest permanent.
pub(crate) fn classify<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    what: &str,
) -> iprod_core::ports::StoreError
where
    E: std::error::Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    use iprod_core::ports::StoreError;
    let detail = format!(
        "{what}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(err)
    );
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Transient(detail)
        }
        SdkError::ServiceError(service) => match service.raw().status().as_u16() {
            404 => StoreError::NotFound(what.to_owned()),
            403 => StoreError::AccessDenied(what.to_owned()),
            408 | 429 | 500..=599 => StoreError::Transient(detail),
            _ => StoreError::Unsupported(detail),
        },
        _ => StoreError::Unsupported(detail),
    }
}
