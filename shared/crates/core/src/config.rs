//! Typed configuration of a Lambda function, read once at cold start from
//! environment variables. A missing or malformed variable fails the cold
//! start with a message that names it.

use crate::domain::{Limits, MediaLocation, OutputTemplate};

/// A configuration variable is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Everything a function needs to know about its deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaConfig {
    /// The DynamoDB table of job records (`IPROD_JOB_TABLE`).
    pub job_table: String,
    /// How long a job record is kept after its creation
    /// (`IPROD_JOB_TTL_DAYS`, default 90; the table's time to live).
    pub job_ttl: std::time::Duration,
    /// SNS topic for notifications (`IPROD_TOPIC_ARN`).
    pub topic_arn: String,
    /// Output template for jobs that do not name one, S3-triggered jobs
    /// above all (`IPROD_OUTPUT`, e.g. `s3://out/{source}/{jobId}/`).
    pub default_output: OutputTemplate,
    /// Bucket whose uploads trigger this function (`IPROD_INPUT_BUCKET`).
    pub input_bucket: Option<String>,
    /// Buckets jobs may read their input (and extra inputs) from
    /// (`IPROD_INPUT_BUCKETS`, comma-separated; default the input bucket).
    /// Any other location is refused with `AccessDenied`.
    pub input_buckets: Vec<String>,
    /// Buckets jobs may write outputs to (`IPROD_OUTPUT_BUCKETS`,
    /// comma-separated; default the bucket of `IPROD_OUTPUT`). Any other
    /// `Output` is refused with `InvalidOutput`.
    pub output_buckets: Vec<String>,
    /// Key prefix whose uploads trigger it (`IPROD_INPUT_PREFIX`); S3
    /// events outside it are ignored.
    pub input_prefix: String,
    /// Key prefix of the input bucket where no output may land, because
    /// uploads there trigger functions (`IPROD_PROTECTED_PREFIX`, default
    /// the input prefix).
    pub protected_prefix: String,
    /// `JobParams` for S3-triggered jobs (`IPROD_JOB_PARAMS`, JSON object).
    pub default_params: serde_json::Value,
    /// The queue's `maxReceiveCount` (`IPROD_MAX_RECEIVE_COUNT`, default 3):
    /// on that attempt a retryable error ends the job as `Fail`.
    pub max_receive_count: u32,
    /// Seconds of input per segment of a long job's state machine
    /// (`IPROD_SEGMENT_SECONDS`, default 120).
    pub segment_s: f64,
    /// Input limits (`IPROD_MAX_INPUT_BYTES`, `IPROD_MAX_DURATION_S`,
    /// `IPROD_MAX_FRAME_PIXELS`, `IPROD_MAX_OUTPUT_BYTES`).
    pub limits: Limits,
    /// Work folder (`IPROD_WORK_DIR`, default the system temp folder).
    pub work_dir: std::path::PathBuf,
    /// Endpoint override for every AWS service (`AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// ARN of the function's dead-letter queue, also an event source of
    /// the function (`IPROD_DEAD_LETTER_QUEUE_ARN`): its messages end their
    /// jobs as `Fail` instead of running them.
    pub dead_letter_arn: Option<String>,
    /// The state machine that runs long jobs in segments
    /// (`IPROD_STATE_MACHINE_ARN`; none: every job runs in one invocation).
    pub state_machine_arn: Option<String>,
    /// Inputs longer than this run in segments
    /// (`IPROD_SPLIT_ABOVE_SECONDS`, default 600).
    pub split_above_s: f64,
    /// Seconds a job stays held past its attempt's deadline, for clocks
    /// that differ between machines (`IPROD_LEASE_MARGIN_S`, default 30).
    pub lease_margin: std::time::Duration,
}

impl LambdaConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (tests pass a map).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| {
            get(name).ok_or_else(|| ConfigError {
                name,
                problem: "is not set".into(),
            })
        };
        let number = |name: &'static str, default: f64| -> Result<f64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n > 0.0)
                    .ok_or_else(|| ConfigError {
                        name,
                        problem: format!("`{v}` is not a positive number"),
                    }),
            }
        };
        let list = |name: &'static str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|b| !b.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let job_table = required("IPROD_JOB_TABLE")?;
        let default_output =
            OutputTemplate::parse(&required("IPROD_OUTPUT")?).map_err(|e| ConfigError {
                name: "IPROD_OUTPUT",
                problem: e.message,
            })?;
        let default_params = match get("IPROD_JOB_PARAMS") {
            None => serde_json::json!({}),
            Some(text) => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| ConfigError {
                    name: "IPROD_JOB_PARAMS",
                    problem: "is not a JSON object".into(),
                })?,
        };
        let defaults = Limits::default();
        let input_bucket = get("IPROD_INPUT_BUCKET");
        let mut input_buckets = list("IPROD_INPUT_BUCKETS");
        if input_buckets.is_empty() {
            input_buckets.extend(input_bucket.clone());
        }
        let mut output_buckets = list("IPROD_OUTPUT_BUCKETS");
        if output_buckets.is_empty() {
            output_buckets.extend(default_output.bucket().map(str::to_owned));
        }
        Ok(Self {
            job_table,
            job_ttl: std::time::Duration::from_secs_f64(
                number("IPROD_JOB_TTL_DAYS", 90.0)? * 86_400.0,
            ),
            topic_arn: required("IPROD_TOPIC_ARN")?,
            default_output,
            input_bucket,
            input_buckets,
            output_buckets,
            input_prefix: get("IPROD_INPUT_PREFIX").unwrap_or_default(),
            protected_prefix: get("IPROD_PROTECTED_PREFIX")
                .or_else(|| get("IPROD_INPUT_PREFIX"))
                .unwrap_or_default(),
            default_params,
            max_receive_count: number("IPROD_MAX_RECEIVE_COUNT", 3.0)? as u32,
            segment_s: number("IPROD_SEGMENT_SECONDS", 120.0)?.max(10.0),
            limits: Limits {
                max_input_bytes: number("IPROD_MAX_INPUT_BYTES", defaults.max_input_bytes as f64)?
                    as u64,
                max_duration_s: number("IPROD_MAX_DURATION_S", defaults.max_duration_s)?,
                max_frame_pixels: number(
                    "IPROD_MAX_FRAME_PIXELS",
                    defaults.max_frame_pixels as f64,
                )? as u64,
                max_output_bytes: number(
                    "IPROD_MAX_OUTPUT_BYTES",
                    defaults.max_output_bytes as f64,
                )? as u64,
            },
            work_dir: get("IPROD_WORK_DIR")
                .map_or_else(std::env::temp_dir, std::path::PathBuf::from),
            endpoint_url: get("AWS_ENDPOINT_URL"),
            dead_letter_arn: get("IPROD_DEAD_LETTER_QUEUE_ARN"),
            state_machine_arn: get("IPROD_STATE_MACHINE_ARN"),
            split_above_s: number("IPROD_SPLIT_ABOVE_SECONDS", 600.0)?,
            lease_margin: match get("IPROD_LEASE_MARGIN_S") {
                Some(v) if v.trim() == "0" => std::time::Duration::ZERO,
                _ => std::time::Duration::from_secs_f64(number("IPROD_LEASE_MARGIN_S", 30.0)?),
            },
        })
    }

    /// Where outputs must never go: the protected prefix of the input
    /// bucket.
    pub fn protected(&self) -> Vec<MediaLocation> {
        self.input_bucket
            .iter()
            .map(|bucket| MediaLocation::S3 {
                bucket: bucket.clone(),
                key: self.protected_prefix.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn missing_variables_are_named() {
        let err = LambdaConfig::from_lookup(lookup(&[])).expect_err("empty");
        assert_eq!(err.name, "IPROD_JOB_TABLE");
        let err = LambdaConfig::from_lookup(lookup(&[
            ("IPROD_JOB_TABLE", "jobs"),
            ("IPROD_OUTPUT", "s3://out/"),
        ]))
        .expect_err("no topic");
        assert_eq!(err.name, "IPROD_TOPIC_ARN");
    }

    #[test]
    fn a_complete_environment_parses_with_defaults() {
        let config = LambdaConfig::from_lookup(lookup(&[
            ("IPROD_JOB_TABLE", "jobs"),
            ("IPROD_OUTPUT", "s3://out/{source}/"),
            ("IPROD_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
            ("IPROD_INPUT_BUCKET", "in"),
            ("IPROD_INPUT_PREFIX", "input/"),
            ("IPROD_JOB_PARAMS", r#"{"Count":2}"#),
        ]))
        .expect("valid");
        assert_eq!(config.max_receive_count, 3);
        assert_eq!(config.default_params["Count"], 2);
        assert_eq!(config.protected()[0].to_string(), "s3://in/input/");
        assert_eq!(config.input_buckets, vec!["in".to_owned()]);
        assert_eq!(config.output_buckets, vec!["out".to_owned()]);
        assert_eq!(config.job_ttl.as_secs(), 90 * 86_400);
        let err = LambdaConfig::from_lookup(lookup(&[
            ("IPROD_JOB_TABLE", "jobs"),
            ("IPROD_OUTPUT", "s3://out/"),
            ("IPROD_TOPIC_ARN", "t"),
            ("IPROD_JOB_PARAMS", "[1]"),
        ]))
        .expect_err("array");
        assert_eq!(err.name, "IPROD_JOB_PARAMS");
    }
}
