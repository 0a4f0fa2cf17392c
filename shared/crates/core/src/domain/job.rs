//! The job model: what one unit of work is, the states it moves through and
//! the record and notification it leaves behind (Alibaba-compatible shapes).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ErrorCode, JobError};
use super::location::{MediaLocation, OutputTemplate, TypedMedia};

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

    /// What it does, in a line (`iprod functions`).
    pub fn summary(self) -> &'static str {
        match self {
            Self::Cover => "ranked cover frames of a video (JPEG, PNG or WebP)",
            Self::VideoH2V => "a portrait re-frame of a landscape video that follows the subject",
            Self::ImageH2V => "a portrait re-frame of a landscape picture around its subject",
            Self::VideoGreenScreenMatting => {
                "green or blue screen keyed to a video with real alpha, or over a background"
            }
            Self::VideoMatting => "figure cut-out of a video, no screen needed",
            Self::ImageMatting => "figure cut-out of a picture",
            Self::VideoDelogo => "TV logos and watermarks found and removed from a video",
            Self::ImageDelogo => "logos and watermarks removed from a picture",
            Self::VideoDetext => "burned-in captions removed from a video",
            Self::CaptionExtraction => "burned-in captions read into SRT, WebVTT and JSON",
            Self::MusicSegmentDetect => "the chorus and the sections of a song",
            Self::AudioBeatDetection => "beats, downbeats, tempo and meter of music",
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
/// As JSON (the state machine of a long job passes it from step to step):
/// `JobId`, `FunctionName`, `Input` and `Output` as URIs, `JobParams`,
/// `UserData`, `CreateTime`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "JobWire", try_from = "JobWire")]
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

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobWire {
    job_id: JobId,
    function_name: FunctionName,
    input: String,
    output: String,
    job_params: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_data: Option<String>,
    create_time: DateTime<Utc>,
}

impl From<Job> for JobWire {
    fn from(job: Job) -> Self {
        Self {
            job_id: job.id,
            function_name: job.function,
            input: job.input.to_string(),
            output: job.output.as_str().to_owned(),
            job_params: job.params,
            user_data: job.user_data,
            create_time: job.create_time,
        }
    }
}

impl TryFrom<JobWire> for Job {
    type Error = String;

    fn try_from(wire: JobWire) -> Result<Self, String> {
        Ok(Self {
            id: wire.job_id,
            function: wire.function_name,
            input: MediaLocation::parse(&wire.input, "Input").map_err(|e| e.message)?,
            output: OutputTemplate::parse(&wire.output).map_err(|e| e.message)?,
            params: wire.job_params,
            user_data: wire.user_data,
            create_time: wire.create_time,
        })
    }
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

/// A record's `Code`: `Success`, or why the job failed (or is being retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCode {
    /// The job succeeded.
    Success,
    /// The job failed, or its last attempt did, with this code.
    Error(ErrorCode),
}

impl JobCode {
    /// The wire name (`"Success"`, `"InvalidMedia"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::Error(code) => code.as_str(),
        }
    }
}

impl fmt::Display for JobCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        let text = String::deserialize(d)?;
        if text == "Success" {
            return Ok(Self::Success);
        }
        let code: Result<ErrorCode, serde::de::value::Error> =
            ErrorCode::deserialize(text.as_str().into_deserializer());
        code.map(Self::Error)
            .map_err(|_| serde::de::Error::custom(format!("unknown Code `{text}`")))
    }
}

/// A record's `Input`: the media location, or for a message that never
/// became a job, an excerpt of the message itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordInput {
    /// The input media, as `{Type, Media}`.
    Media(MediaLocation),
    /// The start of a message that could not be parsed, as `{Message}`.
    Unparsed {
        /// Up to 2,000 characters of the message.
        #[serde(rename = "Message")]
        message: String,
    },
}

/// A record's `Output`: the template as `{Type, Media}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOutput(pub OutputTemplate);

impl Serialize for RecordOutput {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TypedMedia {
            r#type: MediaLocation::parse(self.0.as_str(), "Output")
                .map_or("S3", |l| l.kind())
                .to_owned(),
            media: self.0.as_str().to_owned(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for RecordOutput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shape = TypedMedia::deserialize(d)?;
        OutputTemplate::parse(&shape.media)
            .map(Self)
            .map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Record times: RFC 3339 UTC with milliseconds (`2026-12-06T10:00:00.000Z`).
mod record_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("time `{text}`: {e}")))
    }

    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] DateTime<Utc>);
            Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
        }
    }
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
    /// Input as `{Type, Media}` (or `{Message}` for a message that was not a job).
    pub input: RecordInput,
    /// Output template as `{Type, Media}`; null for a message that was not a job.
    pub output: Option<RecordOutput>,
    /// Params as given.
    pub job_params: serde_json::Value,
    /// Caller data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// When the job was created.
    #[serde(with = "record_time")]
    pub create_time: DateTime<Utc>,
    /// When it ended, once final.
    #[serde(
        default,
        with = "record_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub finish_time: Option<DateTime<Utc>>,
    /// `Success` or an [`ErrorCode`], once final (or the last retryable error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<JobCode>,
    /// Human explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// Every file written, as URIs, result JSON last.
    #[serde(default)]
    pub output_files: Vec<String>,
    /// Whether the notification for the final state was published.
    #[serde(default)]
    pub notified: bool,
    /// The attempt that holds the job, and until when: while it runs, and
    /// once it is final until its notification is out. None before the
    /// first attempt, after a retryable failure released it, and once the
    /// final state is notified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// What the running attempt is about to write: noted before its first
    /// upload, so that the files of an attempt that died can be removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_files: Vec<String>,
}

/// The hold of one attempt on a job: while it lasts no other attempt may
/// start the job, and only this attempt may write its outcome. It ends at
/// the attempt's deadline (Lambda's timeout), so a process killed on the
/// way leaves a record that is recognisably stale once `until` has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Lease {
    /// Random token of the attempt.
    pub attempt: String,
    /// When the hold ends.
    #[serde(with = "record_time")]
    pub until: DateTime<Utc>,
}

impl Lease {
    /// A new attempt's lease, ending at `until`.
    pub fn new(until: DateTime<Utc>) -> Self {
        Self {
            attempt: uuid::Uuid::new_v4().simple().to_string(),
            until: record_precision(until),
        }
    }
}

/// How an attempt at a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It produced its result and files.
    Succeeded {
        /// The result.
        result: JobResult,
        /// The files written, as URIs, result JSON last.
        files: Vec<String>,
    },
    /// It failed for good.
    Failed(JobError),
    /// It failed for a reason that may pass; the queue will try again.
    Retry(JobError),
}

/// A time as records keep it: to the millisecond, as it is written.
fn record_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    chrono::SubsecRound::trunc_subsecs(t, 3)
}

/// Formats a time the way every record and notification does.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl JobRecord {
    /// A record for `job` in `state`, with no outcome yet.
    pub fn new(job: &Job, state: JobState) -> Self {
        Self {
            state,
            input: RecordInput::Media(job.input.clone()),
            output: Some(RecordOutput(job.output.clone())),
            job_params: job.params.clone(),
            user_data: job.user_data.clone(),
            ..Self::empty(job.id.clone(), job.function, job.create_time)
        }
    }

    /// The record of a message that never became a job: `Fail` from the
    /// start, its input an excerpt of the message.
    pub fn unparsed(
        id: JobId,
        function: FunctionName,
        message: &str,
        error: JobError,
        now: DateTime<Utc>,
    ) -> Self {
        let mut record = Self {
            input: RecordInput::Unparsed {
                message: message.chars().take(2000).collect(),
            },
            ..Self::empty(id, function, now)
        };
        record.apply(Outcome::Failed(error), now);
        record
    }

    /// A `Queuing` record with nothing but its identity and creation time.
    fn empty(id: JobId, function: FunctionName, create_time: DateTime<Utc>) -> Self {
        Self {
            job_id: id,
            function_name: function,
            state: JobState::Queuing,
            input: RecordInput::Unparsed {
                message: String::new(),
            },
            output: None,
            job_params: serde_json::Value::Null,
            user_data: None,
            create_time: record_precision(create_time),
            finish_time: None,
            code: None,
            message: None,
            result: None,
            output_files: Vec::new(),
            notified: false,
            lease: None,
            pending_files: Vec::new(),
        }
    }

    /// Whether a new attempt may start this job at `now`: it is unfinished
    /// and no attempt holds it (none did, or its lease has ended).
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        !self.state.is_final() && self.lease.as_ref().is_none_or(|l| l.until <= now)
    }

    /// Whether `attempt` holds this unfinished job.
    pub fn held_by(&self, attempt: &str) -> bool {
        !self.state.is_final() && self.lease.as_ref().is_some_and(|l| l.attempt == attempt)
    }

    /// Whether the job is `Analyzing` under a lease that has ended: its
    /// attempt died (killed, out of memory, out of time) without a word.
    pub fn stale(&self, now: DateTime<Utc>) -> bool {
        self.state == JobState::Analyzing && self.lease.as_ref().is_some_and(|l| l.until <= now)
    }

    /// Cancels a job that has not started: `Queuing` becomes `Fail` with
    /// `Cancelled`. The function that later takes its message finds it
    /// finished and sends the notification instead of running it. `false`
    /// (and nothing changed) once the job has started or finished.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> bool {
        if self.state != JobState::Queuing {
            return false;
        }
        self.state = JobState::Fail;
        self.finish_time = Some(record_precision(now));
        self.code = Some(JobCode::Error(ErrorCode::Cancelled));
        self.message = Some("cancelled before it started".to_owned());
        true
    }

    /// The one transition out of a running attempt: `Success` with its
    /// result and files, `Fail` with the error's code and message (the
    /// lease kept until the notification is out), or (for
    /// a retry) the state kept, the error noted and the lease released so
    /// that the next delivery may start at once.
    pub fn apply(&mut self, outcome: Outcome, now: DateTime<Utc>) {
        match outcome {
            Outcome::Succeeded { result, files } => {
                self.state = JobState::Success;
                self.finish_time = Some(record_precision(now));
                self.code = Some(JobCode::Success);
                self.message = Some(result.message.clone());
                self.result = Some(JobResult {
                    data: bounded(&result.data, &files, MAX_RECORD_DATA_BYTES),
                    ..result
                });
                self.output_files = files;
                self.pending_files.clear();
            }
            Outcome::Failed(e) => {
                self.state = JobState::Fail;
                self.finish_time = Some(record_precision(now));
                self.code = Some(JobCode::Error(e.code));
                self.message = Some(e.message);
                self.pending_files.clear();
            }
            Outcome::Retry(e) => {
                self.lease = None;
                self.pending_files.clear();
                self.finish_time = None;
                self.code = Some(JobCode::Error(e.code));
                self.message = Some(format!("retrying after: {}", e.message));
            }
        }
    }
}

/// The most result data a job record keeps (a DynamoDB item holds
/// 400 KB); larger results are read from their result file.
pub const MAX_RECORD_DATA_BYTES: usize = 64 * 1024;

/// The most result data a notification carries (SNS takes 256 KB).
pub const MAX_NOTIFICATION_DATA_BYTES: usize = 16 * 1024;

/// `data` when its JSON is at most `limit` bytes; otherwise where to read
/// it (the result file, last of `files`) and how large it is.
fn bounded(data: &serde_json::Value, files: &[String], limit: usize) -> serde_json::Value {
    let size = serde_json::to_vec(data).map_or(usize::MAX, |v| v.len());
    if size <= limit {
        return data.clone();
    }
    serde_json::json!({
        "ResultFile": files.last(),
        "Omitted": format!("the result is {size} bytes; read it from ResultFile"),
    })
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
            Some(result) => bounded(
                &result.data,
                &record.output_files,
                MAX_NOTIFICATION_DATA_BYTES,
            ),
            None => serde_json::json!({ "Input": record.input }),
        };
        Self {
            r#type: "IProduction".to_owned(),
            job_id: record.job_id.clone(),
            function_name: record.function_name,
            state: record.state,
            code: record
                .code
                .map(JobCode::as_str)
                .unwrap_or_default()
                .to_owned(),
            message: record.message.clone().unwrap_or_default(),
            details,
            user_data: record.user_data.clone(),
            output_files: record.output_files.clone(),
            create_time: format_time(record.create_time),
            finish_time: record.finish_time.map(format_time).unwrap_or_default(),
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

    fn job() -> Job {
        Job {
            id: JobId::derived(&["record"]),
            function: FunctionName::Cover,
            input: MediaLocation::parse("s3://in/input/clip.mp4", "Input").expect("valid"),
            output: OutputTemplate::parse("s3://out/{source}/").expect("valid"),
            params: serde_json::json!({"Count": 2}),
            user_data: Some("u".into()),
            create_time: DateTime::parse_from_rfc3339("2026-12-06T10:00:00.5Z")
                .expect("time")
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn a_record_keeps_its_wire_shape_and_reads_back_the_same() {
        let mut record = JobRecord::new(&job(), JobState::Analyzing);
        let finished = record.create_time + chrono::Duration::seconds(3);
        record.apply(
            Outcome::Failed(JobError::permanent(ErrorCode::InvalidMedia, "not media")),
            finished,
        );
        let wire = serde_json::to_value(&record).expect("serialises");
        assert_eq!(
            wire,
            serde_json::json!({
                "JobId": record.job_id.as_str(),
                "FunctionName": "Cover",
                "State": "Fail",
                "Input": {"Type": "S3", "Media": "s3://in/input/clip.mp4"},
                "Output": {"Type": "S3", "Media": "s3://out/{source}/"},
                "JobParams": {"Count": 2},
                "UserData": "u",
                "CreateTime": "2026-12-06T10:00:00.500Z",
                "FinishTime": "2026-12-06T10:00:03.500Z",
                "Code": "InvalidMedia",
                "Message": "not media",
                "OutputFiles": [],
                "Notified": false,
            })
        );
        let back: JobRecord = serde_json::from_value(wire).expect("reads back");
        assert_eq!(back, record);
    }

    #[test]
    fn one_transition_sets_success_failure_and_retry() {
        let now = Utc::now();
        let mut record = JobRecord::new(&job(), JobState::Analyzing);
        record.apply(
            Outcome::Retry(JobError::retryable(
                ErrorCode::ServiceUnavailable,
                "slow down",
            )),
            now,
        );
        assert_eq!(record.state, JobState::Analyzing);
        assert_eq!(record.finish_time, None);
        assert_eq!(
            record.code,
            Some(JobCode::Error(ErrorCode::ServiceUnavailable))
        );
        assert_eq!(record.message.as_deref(), Some("retrying after: slow down"));

        let result = JobResult {
            code: "Success".into(),
            message: "2 covers".into(),
            data: serde_json::json!({"Covers": []}),
        };
        record.apply(
            Outcome::Succeeded {
                result: result.clone(),
                files: vec!["s3://out/a.jpg".into()],
            },
            now,
        );
        assert_eq!(record.state, JobState::Success);
        assert_eq!(record.finish_time, Some(record_precision(now)));
        assert_eq!(record.code, Some(JobCode::Success));
        assert_eq!(record.message.as_deref(), Some("2 covers"));
        assert_eq!(record.result, Some(result));
        assert_eq!(record.output_files, vec!["s3://out/a.jpg".to_owned()]);
    }

    #[test]
    fn large_results_are_pointed_to_not_carried() {
        let mut record = JobRecord::new(&job(), JobState::Analyzing);
        let beats: Vec<f64> = (0..20_000).map(|i| f64::from(i) * 0.5).collect();
        let data = serde_json::json!({"BeatList": beats});
        record.apply(
            Outcome::Succeeded {
                result: JobResult {
                    code: "Success".into(),
                    message: "20000 beats".into(),
                    data,
                },
                files: vec!["s3://out/a.txt".into(), "s3://out/a-result.json".into()],
            },
            Utc::now(),
        );
        let kept = &record.result.as_ref().expect("result").data;
        assert_eq!(kept["ResultFile"], "s3://out/a-result.json");
        assert!(serde_json::to_vec(&record).expect("json").len() < MAX_RECORD_DATA_BYTES);
        let note = Notification::for_record(&record);
        assert_eq!(note.details["ResultFile"], "s3://out/a-result.json");
        // Small results travel whole.
        let mut small = JobRecord::new(&job(), JobState::Analyzing);
        small.apply(
            Outcome::Succeeded {
                result: JobResult {
                    code: "Success".into(),
                    message: "1".into(),
                    data: serde_json::json!({"Covers": [1]}),
                },
                files: vec!["s3://out/r.json".into()],
            },
            Utc::now(),
        );
        assert_eq!(
            Notification::for_record(&small).details,
            serde_json::json!({"Covers": [1]})
        );
    }

    #[test]
    fn an_unparsed_message_is_recorded_as_failed_with_an_excerpt() {
        let now = Utc::now();
        let long = "x".repeat(3000);
        let record = JobRecord::unparsed(
            JobId::derived(&["bad"]),
            FunctionName::Cover,
            &long,
            JobError::permanent(ErrorCode::InvalidMessage, "not JSON"),
            now,
        );
        assert_eq!(record.state, JobState::Fail);
        assert_eq!(record.code.map(JobCode::as_str), Some("InvalidMessage"));
        let wire = serde_json::to_value(&record).expect("serialises");
        assert_eq!(wire["Output"], serde_json::Value::Null);
        assert_eq!(wire["Input"]["Message"].as_str().map(str::len), Some(2000));
        let back: JobRecord = serde_json::from_value(wire).expect("reads back");
        assert_eq!(back, record);
    }

    #[test]
    fn job_ids_with_path_characters_are_refused() {
        assert!(JobId::try_from("../x".to_owned()).is_err());
        assert!(JobId::try_from(String::new()).is_err());
        assert!(JobId::try_from("abc-123_X".to_owned()).is_ok());
    }
}
