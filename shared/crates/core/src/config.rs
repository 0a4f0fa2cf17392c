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
    /// Where job records go (`s3://<IPROD_STATE_BUCKET>/<IPROD_STATE_PREFIX>`).
    pub state_root: MediaLocation,
    /// SNS topic for notifications (`IPROD_TOPIC_ARN`).
    pub topic_arn: String,
    /// Output template for jobs that do not name one, S3-triggered jobs
    /// above all (`IPROD_OUTPUT`, e.g. `s3://out/{source}/{jobId}/`).
    pub default_output: OutputTemplate,
    /// Bucket whose uploads trigger this function (`IPROD_INPUT_BUCKET`).
    pub input_bucket: Option<String>,
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
    /// Input limits (`IPROD_MAX_INPUT_BYTES`, `IPROD_MAX_DURATION_S`,
    /// `IPROD_MAX_FRAME_PIXELS`).
    pub limits: Limits,
    /// Work folder (`IPROD_WORK_DIR`, default the system temp folder).
    pub work_dir: std::path::PathBuf,
    /// Endpoint override for every AWS service (`AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
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
        let state_bucket = required("IPROD_STATE_BUCKET")?;
        let state_prefix = get("IPROD_STATE_PREFIX").unwrap_or_else(|| "jobs/".into());
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
        Ok(Self {
            state_root: MediaLocation::S3 {
                bucket: state_bucket,
                key: state_prefix,
            },
            topic_arn: required("IPROD_TOPIC_ARN")?,
            default_output,
            input_bucket: get("IPROD_INPUT_BUCKET"),
            input_prefix: get("IPROD_INPUT_PREFIX").unwrap_or_default(),
            protected_prefix: get("IPROD_PROTECTED_PREFIX")
                .or_else(|| get("IPROD_INPUT_PREFIX"))
                .unwrap_or_default(),
            default_params,
            max_receive_count: number("IPROD_MAX_RECEIVE_COUNT", 3.0)? as u32,
            limits: Limits {
                max_input_bytes: number("IPROD_MAX_INPUT_BYTES", defaults.max_input_bytes as f64)?
                    as u64,
                max_duration_s: number("IPROD_MAX_DURATION_S", defaults.max_duration_s)?,
                max_frame_pixels: number(
                    "IPROD_MAX_FRAME_PIXELS",
                    defaults.max_frame_pixels as f64,
                )? as u64,
            },
            work_dir: get("IPROD_WORK_DIR")
                .map_or_else(std::env::temp_dir, std::path::PathBuf::from),
            endpoint_url: get("AWS_ENDPOINT_URL"),
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
        assert_eq!(err.name, "IPROD_STATE_BUCKET");
        let err = LambdaConfig::from_lookup(lookup(&[
            ("IPROD_STATE_BUCKET", "state"),
            ("IPROD_OUTPUT", "s3://out/"),
        ]))
        .expect_err("no topic");
        assert_eq!(err.name, "IPROD_TOPIC_ARN");
    }

    #[test]
    fn a_complete_environment_parses_with_defaults() {
        let config = LambdaConfig::from_lookup(lookup(&[
            ("IPROD_STATE_BUCKET", "state"),
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
        let err = LambdaConfig::from_lookup(lookup(&[
            ("IPROD_STATE_BUCKET", "state"),
            ("IPROD_OUTPUT", "s3://out/"),
            ("IPROD_TOPIC_ARN", "t"),
            ("IPROD_JOB_PARAMS", "[1]"),
        ]))
        .expect_err("array");
        assert_eq!(err.name, "IPROD_JOB_PARAMS");
    }
}
