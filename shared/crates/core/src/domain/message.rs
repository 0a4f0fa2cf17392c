//! The submit message (`SubmitIProductionJob` body), accepted from SQS, a
//! direct invoke or the HTTP API.
//!
//! ```json
//! {"FunctionName": "Cover",
//!  "Input": {"Type": "S3", "Media": "s3://media/in/clip.mp4"},
//!  "Output": "s3://media/out/{source}-{sequenceId}.jpg",
//!  "JobParams": "{\"Count\":3}",
//!  "UserData": "anything"}
//! ```
//! `Input`/`Output` may be a plain URI or `{Type, Media}`; `JobParams` an
//! object or a JSON string; `Output` may be left out when the function has
//! a default output location.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::{ErrorCode, JobError};
use super::job::{FunctionName, Job, JobId};
use super::location::{MediaLocation, OutputTemplate};

/// Why a message is not a job.
pub type SubmitMessageError = JobError;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LocationField {
    Uri(String),
    Typed {
        #[serde(rename = "Type")]
        kind: Option<String>,
        #[serde(rename = "Media")]
        media: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Wire {
    function_name: String,
    input: Option<LocationField>,
    output: Option<LocationField>,
    job_params: Option<serde_json::Value>,
    user_data: Option<serde_json::Value>,
    job_id: Option<String>,
    // Accepted for Alibaba compatibility; not used.
    #[allow(dead_code)]
    template_id: Option<String>,
    #[allow(dead_code)]
    pipeline_id: Option<String>,
    #[allow(dead_code)]
    schedule_config: Option<serde_json::Value>,
}

/// A parsed submit message: every field checked, defaults not yet applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitMessage {
    /// Capability.
    pub function: FunctionName,
    /// Media to process.
    pub input: MediaLocation,
    /// Output template, when given.
    pub output: Option<OutputTemplate>,
    /// Params (always a JSON object).
    pub params: serde_json::Value,
    /// Caller data.
    pub user_data: Option<String>,
    /// Caller-chosen id (the HTTP API assigns one at submit time).
    pub job_id: Option<JobId>,
}

impl SubmitMessage {
    /// Parses a message body.
    ///
    /// # Errors
    /// A permanent error naming the field that is missing or malformed.
    pub fn parse(body: &str) -> Result<Self, SubmitMessageError> {
        let wire: Wire = serde_json::from_str(body).map_err(|e| {
            JobError::permanent(
                ErrorCode::InvalidMessage,
                format!("job message is not valid: {e}"),
            )
        })?;
        Self::from_wire(wire)
    }

    /// Reads a message that arrived already parsed as JSON (a direct
    /// invoke, or a body classified on the way in).
    ///
    /// # Errors
    /// A permanent error naming the field that is missing or malformed.
    pub fn from_value(value: serde_json::Value) -> Result<Self, SubmitMessageError> {
        let wire: Wire = serde_json::from_value(value).map_err(|e| {
            JobError::permanent(
                ErrorCode::InvalidMessage,
                format!("job message is not valid: {e}"),
            )
        })?;
        Self::from_wire(wire)
    }

    fn from_wire(wire: Wire) -> Result<Self, SubmitMessageError> {
        let function: FunctionName = wire.function_name.parse()?;
        let input = match wire.input {
            Some(field) => location(field, "Input")?,
            None => {
                return Err(JobError::permanent(
                    ErrorCode::InvalidMessage,
                    "job message has no Input",
                ))
            }
        };
        let output = match wire.output {
            Some(LocationField::Uri(uri)) => Some(OutputTemplate::parse(&uri)?),
            Some(LocationField::Typed { kind, media }) => {
                check_kind(kind.as_deref(), "Output")?;
                Some(OutputTemplate::parse(&media)?)
            }
            None => None,
        };
        let params = match wire.job_params {
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => {
                serde_json::json!({})
            }
            Some(serde_json::Value::String(text)) => serde_json::from_str(&text).map_err(|e| {
                JobError::permanent(
                    ErrorCode::InvalidParameter,
                    format!("JobParams is a string but not JSON: {e}"),
                )
            })?,
            Some(value) => value,
        };
        if !params.is_object() {
            return Err(JobError::permanent(
                ErrorCode::InvalidParameter,
                "JobParams must be a JSON object",
            ));
        }
        let user_data = match wire.user_data {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
        };
        if let Some(text) = &user_data {
            if text.len() > MAX_USER_DATA_BYTES {
                return Err(JobError::permanent(
                    ErrorCode::InvalidMessage,
                    format!(
                        "UserData is {} bytes; at most {MAX_USER_DATA_BYTES} are kept and sent back",
                        text.len()
                    ),
                ));
            }
        }
        let job_id = wire.job_id.map(JobId::try_from).transpose()?;
        Ok(Self {
            function,
            input,
            output,
            params,
            user_data,
            job_id,
        })
    }

    /// Turns the message into a job, filling the id and output defaults.
    ///
    /// # Errors
    /// `InvalidOutput` when the message has no Output and there is no default.
    pub fn into_job(
        self,
        fallback_id: JobId,
        default_output: Option<&OutputTemplate>,
        now: DateTime<Utc>,
    ) -> Result<Job, JobError> {
        let output = match (self.output, default_output) {
            (Some(output), _) => output,
            (None, Some(default)) => default.clone(),
            (None, None) => {
                return Err(JobError::permanent(
                    ErrorCode::InvalidOutput,
                    "job message has no Output and no default output is configured",
                ))
            }
        };
        Ok(Job {
            id: self.job_id.unwrap_or(fallback_id),
            function: self.function,
            input: self.input,
            output,
            params: self.params,
            user_data: self.user_data,
            create_time: now,
        })
    }
}

fn check_kind(kind: Option<&str>, what: &str) -> Result<(), JobError> {
    match kind {
        None => Ok(()),
        Some(k) if k.eq_ignore_ascii_case("S3") || k.eq_ignore_ascii_case("Local") => Ok(()),
        Some(k) => Err(JobError::permanent(
            ErrorCode::InvalidMessage,
            format!("{what}.Type `{k}` is not supported (use S3 or Local)"),
        )),
    }
}

fn location(field: LocationField, what: &str) -> Result<MediaLocation, JobError> {
    match field {
        LocationField::Uri(uri) => MediaLocation::parse(&uri, what),
        LocationField::Typed { kind, media } => {
            check_kind(kind.as_deref(), what)?;
            MediaLocation::parse(&media, what)
        }
    }
}

/// The most `UserData` a job carries (as in Alibaba Cloud MPS).
pub const MAX_USER_DATA_BYTES: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_input_shapes_parse_to_the_same_location() {
        let plain = SubmitMessage::parse(
            r#"{"FunctionName":"Cover","Input":"s3://b/in/a.mp4","Output":"s3://o/"}"#,
        )
        .expect("plain");
        let typed = SubmitMessage::parse(
            r#"{"FunctionName":"Cover","Input":{"Type":"S3","Media":"s3://b/in/a.mp4"},"Output":{"Type":"S3","Media":"s3://o/"}}"#,
        )
        .expect("typed");
        assert_eq!(plain, typed);
    }

    #[test]
    fn job_params_may_be_an_object_or_a_json_string() {
        let obj = SubmitMessage::parse(
            r#"{"FunctionName":"Cover","Input":"s3://b/a.mp4","JobParams":{"Count":3}}"#,
        )
        .expect("object");
        let text = SubmitMessage::parse(
            r#"{"FunctionName":"Cover","Input":"s3://b/a.mp4","JobParams":"{\"Count\":3}"}"#,
        )
        .expect("string");
        assert_eq!(obj.params, text.params);
        assert_eq!(obj.params["Count"], 3);
    }

    #[test]
    fn bad_job_params_are_invalid_parameters() {
        for body in [
            r#"{"FunctionName":"Cover","Input":"s3://b/a.mp4","JobParams":"{Count:3"}"#,
            r#"{"FunctionName":"Cover","Input":"s3://b/a.mp4","JobParams":[1,2]}"#,
        ] {
            let err = SubmitMessage::parse(body).expect_err(body);
            assert_eq!(err.code, ErrorCode::InvalidParameter, "{body}");
        }
    }

    #[test]
    fn unknown_function_and_missing_input_are_named() {
        let err = SubmitMessage::parse(r#"{"FunctionName":"Nope","Input":"s3://b/a"}"#)
            .expect_err("unknown");
        assert_eq!(err.code, ErrorCode::UnsupportedFunction);
        let err = SubmitMessage::parse(r#"{"FunctionName":"Cover"}"#).expect_err("no input");
        assert!(err.message.contains("Input"));
        let err = SubmitMessage::parse("not json").expect_err("garbage");
        assert_eq!(err.code, ErrorCode::InvalidMessage);
        let err = SubmitMessage::parse(r#"{"FunctionName":"Cover","Input":"s3://b/a","Colour":1}"#)
            .expect_err("unknown field");
        assert!(err.message.contains("Colour"), "{}", err.message);
    }

    #[test]
    fn user_data_over_the_limit_is_refused() {
        let body = serde_json::json!({
            "FunctionName": "Cover",
            "Input": "s3://b/a.mp4",
            "UserData": "x".repeat(MAX_USER_DATA_BYTES + 1),
        });
        let err = SubmitMessage::parse(&body.to_string()).expect_err("too long");
        assert_eq!(err.code, ErrorCode::InvalidMessage);
        assert!(err.message.contains("UserData"), "{}", err.message);
        let body = serde_json::json!({
            "FunctionName": "Cover",
            "Input": "s3://b/a.mp4",
            "UserData": "x".repeat(MAX_USER_DATA_BYTES),
        });
        assert!(SubmitMessage::parse(&body.to_string()).is_ok());
    }

    #[test]
    fn user_data_objects_are_kept_as_text_and_defaults_fill_the_output() {
        let msg = SubmitMessage::parse(
            r#"{"FunctionName":"Cover","Input":"s3://b/a.mp4","UserData":{"k":1}}"#,
        )
        .expect("valid");
        assert_eq!(msg.user_data.as_deref(), Some(r#"{"k":1}"#));
        let default = OutputTemplate::parse("s3://out/{jobId}/").expect("valid");
        let job = msg
            .clone()
            .into_job(JobId::random(), Some(&default), Utc::now())
            .expect("job");
        assert_eq!(job.output, default);
        assert!(msg.into_job(JobId::random(), None, Utc::now()).is_err());
    }
}
