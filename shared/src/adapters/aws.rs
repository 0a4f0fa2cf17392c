//! AWS SDK configuration shared by the S3, SQS and SNS adapters: one HTTPS
//! client (rustls with ring), region and credentials from the environment,
//! and an endpoint override so the same code talks to moto or LocalStack.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// Loads the SDK configuration. `endpoint_url` overrides every service's
/// endpoint (also read by the SDK from `AWS_ENDPOINT_URL`).
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
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
) -> crate::ports::StoreError
where
    E: std::error::Error + 'static,
{
    use crate::ports::StoreError;
    use aws_sdk_s3::error::SdkError;
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
