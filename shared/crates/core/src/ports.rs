//! The ports the pipeline talks through. Adapters implement them for S3,
//! SNS and SQS, for the local filesystem, and in memory for unit tests.

use std::future::Future;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::domain::{
    ErrorCode, JobError, JobFilter, JobId, JobPage, JobRecord, MediaLocation, Notification,
};

/// Why a storage or messaging call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// Access was refused.
    #[error("access denied to {0}")]
    AccessDenied(String),
    /// The location is a folder, not a file.
    #[error("{0} is a directory, not a media file")]
    NotAFile(String),
    /// The location is not one this store serves (an `s3://` URI given to
    /// the filesystem store, a missing bucket).
    #[error("{0}")]
    Unsupported(String),
    /// A transient fault: network, throttling, 5xx.
    #[error("{0}")]
    Transient(String),
    /// A conditional write lost: the record was finished, or is held by
    /// another attempt, in the meantime.
    #[error("{0}")]
    Conflict(String),
    /// A list's `NextToken` that the store did not hand out.
    #[error("NextToken is not one a list returned: {0}")]
    BadToken(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => JobError::permanent(ErrorCode::InputNotFound, e.to_string()),
            StoreError::AccessDenied(_) => {
                JobError::permanent(ErrorCode::AccessDenied, e.to_string())
            }
            StoreError::NotAFile(_) => JobError::permanent(ErrorCode::InvalidMedia, e.to_string()),
            StoreError::Unsupported(_) => {
                JobError::permanent(ErrorCode::InvalidOutput, e.to_string())
            }
            StoreError::Transient(_) => {
                JobError::retryable(ErrorCode::ServiceUnavailable, e.to_string())
            }
            StoreError::Conflict(_) => JobError::retryable(ErrorCode::JobBusy, e.to_string()),
            StoreError::BadToken(_) => {
                JobError::permanent(ErrorCode::InvalidParameter, e.to_string())
            }
        }
    }
}

/// What a `head` learns about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
}

/// Blob storage for media and results.
pub trait ObjectStore: Send + Sync {
    /// Size of an object, `None` when it does not exist.
    fn head(
        &self,
        location: &MediaLocation,
    ) -> impl Future<Output = Result<Option<ObjectMeta>, StoreError>> + Send;

    /// Streams an object to a local file; returns the bytes written.
    fn download(
        &self,
        location: &MediaLocation,
        dest: &Path,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Uploads a local file.
    fn upload(
        &self,
        src: &Path,
        location: &MediaLocation,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes bytes.
    fn put(
        &self,
        location: &MediaLocation,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads a whole (small) object; `None` when it does not exist.
    fn get(
        &self,
        location: &MediaLocation,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Deletes an object the pipeline wrote (never an input).
    fn delete(
        &self,
        location: &MediaLocation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every object under `prefix` (a key prefix, or a folder and all
    /// below it), in no particular order; empty when there is none.
    fn list(
        &self,
        prefix: &MediaLocation,
    ) -> impl Future<Output = Result<Vec<MediaLocation>, StoreError>> + Send;
}

/// What [`JobStore::claim`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The attempt now holds the job.
    Started,
    /// Another attempt holds the job and its lease has not ended.
    Held(JobRecord),
    /// The job has finished.
    Finished(JobRecord),
}

/// Job records (`QueryIProductionJob` reads them). Every write is
/// conditional, so two deliveries of one job do its work once and no
/// write clobbers a record it does not own:
/// - `Queuing`/`Fail` records of submissions and rejected messages are
///   created only where none exists;
/// - an attempt starts (`Analyzing`, with its [`Lease`](crate::domain::Lease))
///   only on an unfinished record that no live lease holds;
/// - only the holding attempt writes the outcome, and a final record is
///   never reopened.
pub trait JobStore: Send + Sync {
    /// The record of `id`, if any.
    fn get(&self, id: &JobId)
        -> impl Future<Output = Result<Option<JobRecord>, StoreError>> + Send;

    /// Stores `record` when `id` has no record yet; `false` (and nothing
    /// written) when it has one.
    fn create(&self, record: &JobRecord) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Starts an attempt: stores `record` (`Analyzing`, leased) when there
    /// is no record, or the stored one is [claimable](JobRecord::claimable)
    /// at `now`.
    fn claim(
        &self,
        record: &JobRecord,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Replaces the record while `attempt` holds it: the attempt's outcome,
    /// or its release for a retry. [`StoreError::Conflict`] otherwise.
    fn update(
        &self,
        record: &JobRecord,
        attempt: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces a finished record with the same one, in the same state:
    /// marked notified, or its lease released when notifying failed.
    fn settle(&self, record: &JobRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A page of the records `filter` asks for, newest first (by
    /// `CreateTime`, then `JobId`), at most `max` of them, starting where
    /// `next_token` from the previous page says. [`StoreError::BadToken`]
    /// for a token this store did not hand out.
    fn list(
        &self,
        filter: &JobFilter,
        max: usize,
        next_token: Option<&str>,
    ) -> impl Future<Output = Result<JobPage, StoreError>> + Send;

    /// Cancels a job that has not started ([`JobRecord::cancel`]), as one
    /// conditional write: an attempt that claims the job at the same time
    /// either finds it cancelled or makes the cancel fail.
    fn cancel(
        &self,
        id: &JobId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Cancel, StoreError>> + Send;
}

/// Remembers one-time values (the nonces of signed requests) so that a
/// request replayed within their lifetime is refused.
pub trait Nonces: Send + Sync {
    /// `true` the first time `key` is seen before `expires`; `false` after.
    fn first_use(
        &self,
        key: &str,
        expires: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// What [`JobStore::cancel`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancel {
    /// The job was `Queuing`; this is its record now (`Fail`, `Cancelled`).
    Cancelled(JobRecord),
    /// The job had started or finished; its record, unchanged.
    TooLate(JobRecord),
    /// No such job.
    Missing,
}

/// Where finished-job notifications go.
pub trait Notifier: Send + Sync {
    /// Publishes one notification.
    fn notify(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where a submitted job goes: the queue of its function (SQS in a
/// deployment; `iprod serve` runs it in-process).
pub trait Dispatch: Send + Sync + 'static {
    /// Whether jobs of `function` have somewhere to go.
    fn serves(&self, function: crate::domain::FunctionName) -> bool;

    /// Sends `body` (a job message with its `JobId`) to `function`'s queue.
    fn send(
        &self,
        function: crate::domain::FunctionName,
        body: &serde_json::Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A URL a browser may send an upload to: `method` it with `headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadUrl {
    /// The URL.
    pub url: String,
    /// `PUT`.
    pub method: String,
    /// Headers the request must carry, as signed.
    pub headers: Vec<(String, String)>,
}

/// Links a browser can use without credentials: presigned S3 URLs in a
/// deployment, the server's own `/files/` routes on a laptop.
pub trait Links: Send + Sync + 'static {
    /// Where `location` (not yet written) may be uploaded, for `valid` time.
    fn upload_url(
        &self,
        location: &MediaLocation,
        content_type: &str,
        valid: std::time::Duration,
    ) -> impl Future<Output = Result<UploadUrl, StoreError>> + Send;

    /// Where `location` may be downloaded, for `valid` time.
    fn download_url(
        &self,
        location: &MediaLocation,
        valid: std::time::Duration,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// A queue that takes job messages (`SubmitIProductionJob`).
pub trait JobQueue: Send + Sync {
    /// Sends one message body; returns the queue's message id.
    fn send(
        &self,
        body: &serde_json::Value,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// Cuts long media into segments and joins the videos the segments
/// wrote (FFmpeg, in the media layer).
pub trait Segmenter: Send + Sync {
    /// Seconds of video in `input` (0 when unknown).
    ///
    /// # Errors
    /// A permanent error for media that cannot be read.
    fn duration(
        &self,
        input: &Path,
        limits: &crate::domain::Limits,
    ) -> Result<f64, crate::domain::JobError>;

    /// At most `parts` adjacent spans covering `input`, starting on
    /// keyframes, each warmed up over the `warm_up_s` before it.
    ///
    /// # Errors
    /// A permanent error for media that cannot be read.
    fn plan(
        &self,
        input: &Path,
        limits: &crate::domain::Limits,
        parts: usize,
        warm_up_s: f64,
    ) -> Result<Vec<crate::domain::Span>, crate::domain::JobError>;

    /// [`Segmenter::plan`] into segments of about `segment_s` seconds.
    ///
    /// # Errors
    /// A permanent error for media that cannot be read.
    fn plan_every(
        &self,
        input: &Path,
        limits: &crate::domain::Limits,
        segment_s: f64,
        warm_up_s: f64,
    ) -> Result<Vec<crate::domain::Span>, crate::domain::JobError> {
        let duration = self.duration(input, limits)?;
        let parts = (duration / segment_s.max(1.0)).ceil().max(1.0) as usize;
        self.plan(input, limits, parts, warm_up_s)
    }

    /// Joins the videos `parts` (of MIME type `content_type`, in time
    /// order) into `output` without re-encoding, with the audio of
    /// `audio_from`; returns the frames and seconds of video written.
    ///
    /// # Errors
    /// `InternalError` when the parts do not fit together.
    fn join(
        &self,
        parts: &[std::path::PathBuf],
        audio_from: &Path,
        output: &Path,
        content_type: &str,
    ) -> Result<(u64, f64), crate::domain::JobError>;
}

/// A future a port returns boxed, so that the port can be a trait object.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Starts the state machine that runs a long job in segments (Step
/// Functions), and gives addresses the media layer reads inputs from.
pub trait LongJobs: Send + Sync {
    /// An address `location` can be read from by ranged GETs.
    fn read_url<'a>(
        &'a self,
        location: &'a MediaLocation,
    ) -> BoxFuture<'a, Result<String, StoreError>>;

    /// Starts the state machine on `job` (named by its JobId, so that a
    /// second start of the same job is the first); returns the
    /// execution's ARN.
    fn start<'a>(
        &'a self,
        job: &'a crate::domain::Job,
    ) -> BoxFuture<'a, Result<String, StoreError>>;
}
