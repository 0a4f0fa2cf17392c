//! Submitting a job (`SubmitIProductionJob`): check the message, give it a
//! JobId, record it as `Queuing`, and put it on the function's queue. The
//! function later moves the same record to `Analyzing` and on.

use chrono::Utc;

use crate::domain::{
    ErrorCode, FunctionName, JobError, JobId, JobRecord, JobState, OutputTemplate, SubmitMessage,
};
use crate::ports::{JobQueue, JobStore};

/// Checks a job's `FunctionName` and `JobParams` as the function will
/// (`iprod::capabilities::check_params`), so that a submission the
/// function would refuse is refused before it is queued.
pub type CheckParams = fn(FunctionName, &serde_json::Value) -> Result<(), JobError>;

/// Submits `body` (a job message). Returns the `Queuing` record, whose
/// `JobId` the caller keeps to query the job.
///
/// # Errors
/// A permanent error when the message is invalid or `check` refuses its
/// function or params (nothing is recorded or queued); a retryable one when
/// the store or queue fails.
pub async fn submit<Q: JobQueue, J: JobStore>(
    queue: &Q,
    jobs: &J,
    body: &serde_json::Value,
    default_output: Option<&OutputTemplate>,
    check: CheckParams,
) -> Result<JobRecord, JobError> {
    let message = SubmitMessage::parse(&body.to_string())?;
    let job_id = message.job_id.clone().unwrap_or_else(JobId::random);
    let job = message.into_job(job_id.clone(), default_output, Utc::now())?;
    check(job.function, &job.params)?;
    let record = JobRecord::new(&job, JobState::Queuing);
    if !jobs.create(&record).await.map_err(JobError::from)? {
        return Err(JobError::permanent(
            ErrorCode::InvalidMessage,
            format!("JobId {job_id} is already in use; leave JobId out to get a new one"),
        ));
    }
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.insert(
            "JobId".into(),
            serde_json::Value::String(job_id.to_string()),
        );
    } else {
        return Err(JobError::permanent(
            ErrorCode::InvalidMessage,
            "job message must be a JSON object",
        ));
    }
    queue.send(&body).await.map_err(JobError::from)?;
    Ok(record)
}
