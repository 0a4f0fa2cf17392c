//! The job model: what one unit of work is, the states it moves through and
//! the record and notification it leaves behind (Alibaba-compatible shapes).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ErrorCode, JobError};
use super::location::{MediaLocation, OutputTemplate};

/// The capability a job asks for. Names follow Alibaba Cloud MPS where it
/// has one, so that existing clients carry over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FunctionName {
    /// Ranked cover frames of a video.
    Cover,
    /// Landscape-to-portrait re-frame of a video.
    VideoH2V,
    /// Landscape-to-portrait re-frame of an image.
    ImageH2V,
    /// Chroma-key matting with real alpha.
    VideoGreenScreenMatting,
    /// Figure cut-out of a video.
    VideoMatting,
    /// Figure cut-out of an image.
    ImageMatting,
    /// Logo removal from a video.
    VideoDelogo,
    /// Logo removal from an image.
    ImageDelogo,
    /// Burned-in caption removal.
    VideoDetext,
    /// Burned-in captions to SRT.
    CaptionExtraction,
    /// Chorus and sections of a song.
    MusicSegmentDetect,
    /// Beats and downbeats.
    AudioBeatDetection,
}

impl FunctionName {
    /// Every known name, in documentation order.
    pub const ALL: [Self; 12] = [
        Self::Cover,
        Self::VideoH2V,
        Self::ImageH2V,
        Self::VideoGreenScreenMatting,
        Self::VideoMatting,
        Self::ImageMatting,
        Self::VideoDelogo,
        Self::ImageDelogo,
        Self::VideoDetext,
        Self::CaptionExtraction,
        Self::MusicSegmentDetect,
        Self::AudioBeatDetection,
    ];

    /// The wire name (`"Cover"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cover => "Cover",
            Self::VideoH2V => "VideoH2V",
            Self::ImageH2V => "ImageH2V",
            Self::VideoGreenScreenMatting => "VideoGreenScreenMatting",
            Self::VideoMatting => "VideoMatting",
            Self::ImageMatting => "ImageMatting",
            Self::VideoDelogo => "VideoDelogo",
            Self::ImageDelogo => "ImageDelogo",
            Self::VideoDetext => "VideoDetext",
            Self::CaptionExtraction => "CaptionExtraction",
            Self::MusicSegmentDetect => "MusicSegmentDetect",
            Self::AudioBeatDetection => "AudioBeatDetection",
        }
    }
}

impl fmt::Display for FunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FunctionName {
    type Err = JobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|name| name.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|n| n.as_str()).collect();
                JobError::permanent(
                    ErrorCode::UnsupportedFunction,
                    format!("unknown FunctionName `{s}`; known: {}", known.join(", ")),
                )
            })
    }
}

/// A job's identity: 1–64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    /// A fresh random id (32 hex digits).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// A deterministic id: the same parts always give the same id, so a
    /// duplicate event maps to the job already done.
    pub fn derived(parts: &[&str]) -> Self {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part.as_bytes());
            hash.update([0u8]);
        }
        let digest = hash.finalize();
        Self(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobId {
    type Error = JobError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(value))
        } else {
            Err(JobError::permanent(
                ErrorCode::InvalidMessage,
                format!("JobId `{value}` must be 1-64 characters of A-Z a-z 0-9 - _"),
            ))
        }
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Accepted, not started.
    Queuing,
    /// Running.
    Analyzing,
    /// Finished with results.
    Success,
    /// Finished without results; `Code` and `Message` say why.
    Fail,
}

impl JobState {
    /// Whether the job has finished (successfully or not).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Fail)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queuing => "Queuing",
            Self::Analyzing => "Analyzing",
            Self::Success => "Success",
            Self::Fail => "Fail",
        }
    }
}

/// One unit of work, parsed from an event, a message or the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Identity; deterministic for S3-triggered jobs.
    pub id: JobId,
    /// The capability asked for.
    pub function: FunctionName,
    /// The media to process.
    pub input: MediaLocation,
    /// Where results go.
    pub output: OutputTemplate,
    /// Capability params, a JSON object (checked by the capability).
    pub params: serde_json::Value,
    /// Opaque caller data, echoed in the record and notification.
    pub user_data: Option<String>,
    /// When the job was created.
    pub create_time: DateTime<Utc>,
}

/// The `Result` field: Alibaba's `{Code, Message, Data}` plus our typed
/// result under `Data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobResult {
    /// `Success` or an error code.
    pub code: String,
    /// Human summary (e.g. "3 covers").
    pub message: String,
    /// The capability's typed result.
    pub data: serde_json::Value,
}

/// The job record kept in the state store (`jobs/<JobId>.json`): what
/// `QueryIProductionJob` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobRecord {
    /// Identity.
    pub job_id: JobId,
    /// Capability.
    pub function_name: FunctionName,
    /// Current state.
    pub state: JobState,
    /// Input as `{Type, Media}`.
    pub input: serde_json::Value,
    /// Output template as `{Type, Media}`.
    pub output: serde_json::Value,
    /// Params as given.
    pub job_params: serde_json::Value,
    /// Caller data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// RFC 3339 UTC.
    pub create_time: String,
    /// RFC 3339 UTC, once final.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// `Success` or an [`ErrorCode`], once final (or the last retryable error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Result, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// Every file written, as URIs, result JSON last.
    #[serde(default)]
    pub output_files: Vec<String>,
    /// Whether the notification for the final state was published.
    #[serde(default)]
    pub notified: bool,
}

/// Formats a time the way every record and notification does.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl JobRecord {
    /// A record for `job` in `state`, with no outcome yet.
    pub fn new(job: &Job, state: JobState) -> Self {
        Self {
            job_id: job.id.clone(),
            function_name: job.function,
            state,
            input: serde_json::to_value(&job.input).unwrap_or_default(),
            output: serde_json::json!({
                "Type": MediaLocation::parse(job.output.as_str(), "Output")
                    .map(|l| l.kind())
                    .unwrap_or("S3"),
                "Media": job.output.as_str(),
            }),
            job_params: job.params.clone(),
            user_data: job.user_data.clone(),
            create_time: format_time(job.create_time),
            finish_time: None,
            code: None,
            message: None,
            result: None,
            output_files: Vec::new(),
            notified: false,
        }
    }
}

/// The SNS message sent once per finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Notification {
    /// Always `IProduction`.
    pub r#type: String,
    /// Identity.
    pub job_id: JobId,
    /// Capability.
    pub function_name: FunctionName,
    /// `Success` or `Fail`.
    pub state: JobState,
    /// `Success` or an error code.
    pub code: String,
    /// Human explanation.
    pub message: String,
    /// The typed result on success, the input on failure.
    pub details: serde_json::Value,
    /// Caller data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Files written.
    pub output_files: Vec<String>,
    /// RFC 3339 UTC.
    pub create_time: String,
    /// RFC 3339 UTC.
    pub finish_time: String,
}

impl Notification {
    /// The notification for a finished record.
    pub fn for_record(record: &JobRecord) -> Self {
        let details = match &record.result {
            Some(result) => result.data.clone(),
            None => serde_json::json!({ "Input": record.input }),
        };
        Self {
            r#type: "IProduction".to_owned(),
            job_id: record.job_id.clone(),
            function_name: record.function_name,
            state: record.state,
            code: record.code.clone().unwrap_or_default(),
            message: record.message.clone().unwrap_or_default(),
            details,
            user_data: record.user_data.clone(),
            output_files: record.output_files.clone(),
            create_time: record.create_time.clone(),
            finish_time: record.finish_time.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_parse_case_insensitively_and_unknown_ones_are_listed() {
        assert_eq!(
            "cover".parse::<FunctionName>().ok(),
            Some(FunctionName::Cover)
        );
        let err = "Thumbnail".parse::<FunctionName>().expect_err("unknown");
        assert_eq!(err.code, ErrorCode::UnsupportedFunction);
        assert!(err.message.contains("Cover"));
    }

    #[test]
    fn derived_job_ids_are_stable_and_distinct() {
        let a = JobId::derived(&["b", "k", "etag", "Cover"]);
        assert_eq!(a, JobId::derived(&["b", "k", "etag", "Cover"]));
        assert_ne!(a, JobId::derived(&["b", "k", "etag2", "Cover"]));
        assert_ne!(a, JobId::derived(&["bk", "", "etag", "Cover"]));
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn job_ids_with_path_characters_are_refused() {
        assert!(JobId::try_from("../x".to_owned()).is_err());
        assert!(JobId::try_from(String::new()).is_err());
        assert!(JobId::try_from("abc-123_X".to_owned()).is_ok());
    }
}
