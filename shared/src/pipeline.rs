//! Runs one job end to end: record `Analyzing` → check params and output →
//! fetch the input → run the capability off the async runtime → upload the
//! files, then the result JSON → record `Success`/`Fail` → notify once.
//!
//! A permanent error (the input's fault) ends the job as `Fail`. A
//! retryable one is returned to the caller so that the queue retries it;
//! on the last attempt it too ends as `Fail`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::capabilities::{Capability, CapabilityOutput, Context, NoProgress, OutputSink, Progress};
use crate::domain::job::format_time;
use crate::domain::{
    ErrorCode, Job, JobError, JobRecord, JobResult, JobState, Limits, MediaLocation, Notification,
};
use crate::ports::{JobStore, Notifier, ObjectStore};

/// Time kept back before the deadline to record and notify a timeout.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Settings of a pipeline, fixed at cold start.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Input limits.
    pub limits: Limits,
    /// Where per-job work folders are made (Lambda: `/tmp`).
    pub work_dir: PathBuf,
    /// Locations outputs must never be written under: the prefixes whose
    /// uploads trigger a function.
    pub protected: Vec<MediaLocation>,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            work_dir: std::env::temp_dir(),
            protected: Vec::new(),
        }
    }
}

/// How one attempt of a job runs.
#[derive(Clone)]
pub struct RunOptions {
    /// Progress reports.
    pub progress: Arc<dyn Progress>,
    /// When the job must be finished (the Lambda deadline).
    pub deadline: Option<Instant>,
    /// Whether this is the last attempt: a retryable error then ends the
    /// job as `Fail` instead of asking for a retry.
    pub last_attempt: bool,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("deadline", &self.deadline)
            .field("last_attempt", &self.last_attempt)
            .finish_non_exhaustive()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            progress: Arc::new(NoProgress),
            deadline: None,
            last_attempt: true,
        }
    }
}

/// The job runner, generic over its ports.
#[derive(Debug, Clone)]
pub struct Pipeline<O, J, N> {
    /// Media and results.
    pub objects: O,
    /// Job records.
    pub jobs: J,
    /// Notifications.
    pub notifier: N,
    /// Settings.
    pub settings: PipelineSettings,
}

/// What a successful execution produced.
struct Produced {
    result: JobResult,
    files: Vec<String>,
}

impl<O: ObjectStore, J: JobStore, N: Notifier> Pipeline<O, J, N> {
    /// Runs `job` with `capability`.
    ///
    /// Returns the final record (`Success` or `Fail`); a job already
    /// finished is not run again. Returns `Err` only for a retryable error
    /// on an attempt that is not the last: the caller should retry.
    ///
    /// # Errors
    /// A retryable [`JobError`] (storage or network fault).
    pub async fn run(
        &self,
        capability: Arc<dyn Capability>,
        job: Job,
        options: RunOptions,
    ) -> Result<JobRecord, JobError> {
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            function = %job.function,
            input = %job.input
        );
        let _enter = span.enter();
        let mut job = job;
        if let Some(existing) = self.jobs.get(&job.id).await.map_err(JobError::from)? {
            if existing.state.is_final() {
                tracing::info!(state = existing.state.as_str(), "job already finished; not run again");
                if !existing.notified {
                    return self.finish(existing).await;
                }
                return Ok(existing);
            }
            if let Ok(created) = chrono::DateTime::parse_from_rfc3339(&existing.create_time) {
                job.create_time = created.with_timezone(&Utc);
            }
        }
        let mut record = JobRecord::new(&job, JobState::Analyzing);
        self.jobs.put(&record).await.map_err(JobError::from)?;
        tracing::info!("job started");

        let started = Instant::now();
        let outcome = self.execute(capability, &job, &options).await;
        record.finish_time = Some(format_time(Utc::now()));
        match outcome {
            Ok(produced) => {
                record.state = JobState::Success;
                record.code = Some("Success".into());
                record.message = Some(produced.result.message.clone());
                record.result = Some(produced.result);
                record.output_files = produced.files;
                tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "job succeeded");
            }
            Err(e) if e.retryable && !options.last_attempt => {
                tracing::warn!(code = e.code.as_str(), error = %e.message, "retryable failure");
                record.finish_time = None;
                record.code = Some(e.code.as_str().into());
                record.message = Some(format!("retrying after: {}", e.message));
                // Best effort: the retry will write the record again.
                let _ = self.jobs.put(&record).await;
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(code = e.code.as_str(), error = %e.message, "job failed");
                record.state = JobState::Fail;
                record.code = Some(e.code.as_str().into());
                record.message = Some(e.message);
            }
        }
        self.finish(record).await
    }

    /// Records a job that never became runnable (a malformed message) as
    /// `Fail`, and notifies.
    ///
    /// # Errors
    /// A retryable error when the record or notification cannot be written.
    pub async fn reject(&self, mut record: JobRecord) -> Result<JobRecord, JobError> {
        if let Some(existing) = self.jobs.get(&record.job_id).await.map_err(JobError::from)? {
            if existing.state.is_final() && existing.notified {
                return Ok(existing);
            }
        }
        record.state = JobState::Fail;
        record.finish_time = Some(format_time(Utc::now()));
        self.finish(record).await
    }

    /// Writes the final record, notifies, then marks it notified.
    async fn finish(&self, mut record: JobRecord) -> Result<JobRecord, JobError> {
        record.notified = false;
        self.jobs.put(&record).await.map_err(JobError::from)?;
        self.notifier
            .notify(&Notification::for_record(&record))
            .await
            .map_err(JobError::from)?;
        record.notified = true;
        self.jobs.put(&record).await.map_err(JobError::from)?;
        Ok(record)
    }

    async fn execute(
        &self,
        capability: Arc<dyn Capability>,
        job: &Job,
        options: &RunOptions,
    ) -> Result<Produced, JobError> {
        if capability.function() != job.function {
            return Err(JobError::permanent(
                ErrorCode::UnsupportedFunction,
                format!(
                    "this function runs {}; send {} jobs to the {} function's queue",
                    capability.function(),
                    job.function,
                    job.function
                ),
            ));
        }
        capability.check(&job.params)?;

        let meta = self
            .objects
            .head(&job.input)
            .await?
            .ok_or_else(|| {
                JobError::permanent(
                    ErrorCode::InputNotFound,
                    format!("input {} does not exist", job.input),
                )
            })?;
        if meta.size > self.settings.limits.max_input_bytes {
            return Err(JobError::permanent(
                ErrorCode::LimitExceeded,
                format!(
                    "input is {} bytes, over the limit of {} bytes",
                    meta.size, self.settings.limits.max_input_bytes
                ),
            ));
        }
        if meta.size == 0 {
            return Err(JobError::permanent(
                ErrorCode::InvalidMedia,
                format!("input {} is empty", job.input),
            ));
        }

        let work = tempfile::Builder::new()
            .prefix("iprod-")
            .tempdir_in(&self.settings.work_dir)
            .map_err(|e| {
                JobError::retryable(
                    ErrorCode::InternalError,
                    format!("creating a work folder in {}: {e}", self.settings.work_dir.display()),
                )
            })?;
        let input_path = work.path().join(format!("input{}", safe_extension(job.input.file_name())));
        self.objects.download(&job.input, &input_path).await?;
        let out_dir = work.path().join("out");
        std::fs::create_dir_all(&out_dir).map_err(|e| {
            JobError::retryable(ErrorCode::InternalError, format!("creating {}: {e}", out_dir.display()))
        })?;

        let sink = OutputSink::new(
            &out_dir,
            job.output.clone(),
            job.input.stem(),
            job.create_time.timestamp(),
            job.id.as_str(),
        );
        let result_location = sink.result_location()?;
        self.guard(job, &result_location)?;

        let cancel = Arc::new(AtomicBool::new(false));
        let ctx = Context {
            progress: options.progress.clone(),
            limits: self.settings.limits,
            cancel: cancel.clone(),
        };
        let params = job.params.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut sink = sink;
            let output = capability.run(&input_path, &params, &mut sink, &ctx);
            (output, sink)
        });
        let joined = match options.deadline {
            Some(deadline) => {
                let budget = deadline
                    .saturating_duration_since(Instant::now())
                    .saturating_sub(DEADLINE_MARGIN);
                match tokio::time::timeout(budget, task).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        cancel.store(true, Ordering::Relaxed);
                        return Err(JobError::permanent(
                            ErrorCode::Timeout,
                            format!(
                                "the job did not finish within the function's time limit ({} s left when it started)",
                                budget.as_secs()
                            ),
                        ));
                    }
                }
            }
            None => task.await,
        };
        let (output, sink) = joined.map_err(|e| {
            let detail = if e.is_panic() {
                panic_text(e.into_panic())
            } else {
                "the task was cancelled".to_owned()
            };
            JobError::permanent(ErrorCode::InternalError, format!("the capability crashed: {detail}"))
        })?;
        let CapabilityOutput { message, data } = output?;

        let files = sink.into_files();
        for file in &files {
            self.guard(job, &file.location)?;
            if !file.local.exists() {
                return Err(JobError::permanent(
                    ErrorCode::InternalError,
                    format!("planned output {} was not written", file.location),
                ));
            }
        }
        let mut uploaded: Vec<MediaLocation> = Vec::new();
        for file in &files {
            if let Err(e) = self
                .objects
                .upload(&file.local, &file.location, file.content_type)
                .await
            {
                self.remove(&uploaded).await;
                return Err(e.into());
            }
            uploaded.push(file.location.clone());
        }
        let result = JobResult {
            code: "Success".into(),
            message,
            data,
        };
        let document = serde_json::json!({
            "JobId": job.id,
            "FunctionName": job.function,
            "Input": job.input,
            "Code": result.code,
            "Message": result.message,
            "Data": result.data,
        });
        let bytes = serde_json::to_vec_pretty(&document).unwrap_or_default();
        if let Err(e) = self
            .objects
            .put(&result_location, bytes, "application/json")
            .await
        {
            self.remove(&uploaded).await;
            return Err(e.into());
        }
        uploaded.push(result_location);
        Ok(Produced {
            result,
            files: uploaded.iter().map(ToString::to_string).collect(),
        })
    }

    /// Refuses an output that would overwrite the input or land where it
    /// triggers a function again.
    fn guard(&self, job: &Job, output: &MediaLocation) -> Result<(), JobError> {
        if *output == job.input {
            return Err(JobError::permanent(
                ErrorCode::InvalidOutput,
                format!("output {output} would overwrite the input"),
            ));
        }
        let out = output.to_string();
        for protected in &self.settings.protected {
            if out.starts_with(&protected.to_string()) {
                return Err(JobError::permanent(
                    ErrorCode::InvalidOutput,
                    format!(
                        "output {output} is under {protected}, where uploads trigger processing; choose another Output"
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn remove(&self, written: &[MediaLocation]) {
        for location in written {
            if let Err(e) = self.objects.delete(location).await {
                tracing::warn!(%location, error = %e, "could not remove a partial output");
            }
        }
    }
}

/// `.mp4` from `clip.mp4`, kept short and plain (FFmpeg probes better with
/// the right extension); empty when there is none.
fn safe_extension(name: &str) -> String {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.len() <= 8 && ext.chars().all(|c| c.is_ascii_alphanumeric()) => {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}
