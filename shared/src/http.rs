//! The HTTP API as a Lambda function behind API Gateway (feature `api`):
//! the `iprod-api` router over DynamoDB, the functions' SQS queues and S3.
//!
//! Configuration, read once at cold start:
//! - `IPROD_JOB_TABLE`: the job table;
//! - `IPROD_QUEUES`: `FunctionName=queue-url` pairs, comma-separated;
//! - `IPROD_OUTPUT`: the output of a job whose message has none;
//! - `IPROD_INPUT_BUCKETS`, `IPROD_OUTPUT_BUCKETS`: where jobs may read
//!   and write (comma-separated);
//! - `IPROD_ACCESS_KEYS_SECRET`: the Secrets Manager secret (ARN or name)
//!   holding the access keys of Alibaba-form requests, a JSON object of
//!   AccessKeyId to secret; without it the Alibaba form is refused;
//! - `AWS_ENDPOINT_URL` (tests): one endpoint for every service.

use std::collections::HashMap;

pub use iprod_api::alibaba::{AccessKeys, Signatures};
use iprod_api::{router, Api, Inputs, Settings};
use iprod_aws::adapters::aws;
use iprod_aws::adapters::dynamodb::DynamoJobStore;
use iprod_aws::adapters::s3::S3ObjectStore;
use iprod_aws::adapters::sqs::SqsDispatch;

use crate::capabilities;
use crate::domain::{FunctionName, OutputTemplate};

/// What the API function reads from its environment.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `IPROD_JOB_TABLE`.
    pub job_table: String,
    /// `IPROD_QUEUES`.
    pub queues: String,
    /// `IPROD_OUTPUT`.
    pub output: OutputTemplate,
    /// `IPROD_INPUT_BUCKETS`.
    pub input_buckets: Vec<String>,
    /// `IPROD_OUTPUT_BUCKETS`.
    pub output_buckets: Vec<String>,
    /// `IPROD_ACCESS_KEYS_SECRET`.
    pub access_keys_secret: Option<String>,
    /// `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
}

impl ApiConfig {
    /// Reads `get(name)` for each variable.
    ///
    /// # Errors
    /// Naming the variable that is missing or malformed.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let required = |name: &str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("environment variable {name} is not set"))
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Ok(Self {
            job_table: required("IPROD_JOB_TABLE")?,
            queues: required("IPROD_QUEUES")?,
            output: OutputTemplate::parse(&required("IPROD_OUTPUT")?)
                .map_err(|e| format!("environment variable IPROD_OUTPUT: {}", e.message))?,
            input_buckets: list("IPROD_INPUT_BUCKETS"),
            output_buckets: list("IPROD_OUTPUT_BUCKETS"),
            access_keys_secret: get("IPROD_ACCESS_KEYS_SECRET").filter(|v| !v.trim().is_empty()),
            endpoint_url: get("AWS_ENDPOINT_URL"),
        })
    }
}

fn schema_of(function: FunctionName) -> Option<serde_json::Value> {
    capabilities::params_spec(function)
        .map(|s| s.json_schema(function.as_str(), function.summary()))
}

/// The access keys of Alibaba-form requests, read from Secrets Manager.
///
/// # Errors
/// When the secret cannot be read or is not a JSON object of id to secret.
pub async fn signatures(
    sdk: &aws_config::SdkConfig,
    config: &ApiConfig,
) -> Result<Signatures, String> {
    let Some(secret) = &config.access_keys_secret else {
        return Ok(Signatures::Off);
    };
    let value = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| {
            let reason = e
                .as_service_error()
                .map_or_else(|| e.to_string(), ToString::to_string);
            format!("reading the access keys from secret {secret}: {reason}")
        })?;
    let text = value
        .secret_string()
        .ok_or_else(|| format!("secret {secret} holds no string"))?;
    AccessKeys::parse(text)
        .map(Signatures::Keys)
        .map_err(|e| format!("secret {secret}: {e}"))
}

/// The router over the AWS adapters `config` names.
///
/// # Errors
/// When `IPROD_QUEUES` is malformed.
pub fn app(
    sdk: &aws_config::SdkConfig,
    config: &ApiConfig,
    signatures: Signatures,
) -> Result<axum::Router, String> {
    let dispatch = SqsDispatch::parse(&aws_sdk_sqs::Client::new(sdk), &config.queues)?;
    let default_outputs: HashMap<FunctionName, OutputTemplate> = FunctionName::ALL
        .into_iter()
        .map(|f| (f, config.output.clone()))
        .collect();
    Ok(router(Api {
        jobs: DynamoJobStore::new(aws_sdk_dynamodb::Client::new(sdk), &config.job_table, None),
        dispatch,
        objects: S3ObjectStore::new(aws::s3_client(sdk, config.endpoint_url.is_some())),
        settings: Settings {
            inputs: Inputs::Buckets(config.input_buckets.clone()),
            outputs: Inputs::Buckets(config.output_buckets.clone()),
            default_outputs,
            check: capabilities::check_params,
            schema: schema_of,
            signatures,
        },
    }))
}

/// Serves API Gateway requests until the sandbox is recycled.
///
/// # Errors
/// When the configuration is unusable (the cold start fails, naming it).
pub async fn serve() -> Result<(), lambda_http::Error> {
    crate::telemetry::init(true, "info");
    let config = ApiConfig::from_lookup(|name| std::env::var(name).ok())?;
    let sdk = aws::sdk_config(config.endpoint_url.as_deref()).await;
    let signatures = signatures(&sdk, &config).await?;
    lambda_http::run(app(&sdk, &config, signatures)?).await
}
