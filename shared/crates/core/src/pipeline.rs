//! Runs one job end to end: record `Analyzing` → check params and output →
//! fetch the input → run the capability off the async runtime → upload the
//! files, then the result JSON → record `Success`/`Fail` → notify once.
//!
//! A permanent error (the input's fault) ends the job as `Fail`. A
//! retryable one is returned to the caller so that the queue retries it;
//! on the last attempt it too ends as `Fail`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::Instrument;

use crate::capability::{
    CapabilityOutput, Context, DynCapability, ExtraInput, NoProgress, OutputSink, ParsedParams,
    Progress,
};
use crate::domain::{
    ErrorCode, Job, JobError, JobRecord, JobResult, JobState, Lease, Limits, MediaLocation,
    Notification, Outcome,
};
use crate::ports::{Claim, JobStore, Notifier, ObjectStore};

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
    /// How long an attempt without a deadline holds its job.
    pub lease: Duration,
    /// Added to a lease past the attempt's deadline, for clock differences
    /// between machines.
    pub lease_margin: Duration,
    /// Where inputs may be read from.
    pub inputs: Scope,
    /// Where outputs may be written to.
    pub outputs: Scope,
}

/// The locations a job may touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// Any location the stores serve (a local run).
    #[default]
    Anywhere,
    /// Objects in these S3 buckets only (a deployed function).
    Buckets(Vec<String>),
}

impl Scope {
    /// Whether `location` is in scope.
    pub fn allows(&self, location: &MediaLocation) -> bool {
        match (self, location) {
            (Self::Anywhere, _) => true,
            (Self::Buckets(buckets), MediaLocation::S3 { bucket, .. }) => {
                buckets.iter().any(|b| b == bucket)
            }
            (Self::Buckets(_), MediaLocation::Local(_)) => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Anywhere => "anywhere".into(),
            Self::Buckets(b) if b.is_empty() => "no bucket".into(),
            Self::Buckets(b) => b
                .iter()
                .map(|b| format!("s3://{b}/"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            work_dir: std::env::temp_dir(),
            protected: Vec::new(),
            lease: Duration::from_secs(24 * 3600),
            lease_margin: Duration::from_secs(30),
            inputs: Scope::Anywhere,
            outputs: Scope::Anywhere,
        }
    }
}

/// Sets its flag when dropped: tells blocking work to stop when whoever
/// waited for it has gone.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Where a long job goes.
enum HandOver {
    /// It runs here, with what was decided over its input, if anything.
    Here(Option<serde_json::Value>),
    /// A state machine runs it: the execution's ARN.
    Started(String),
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
    /// Set to a reason (`"SIGINT"`) to stop the job: it ends as `Fail`
    /// with `Interrupted`, its partial outputs removed.
    pub stop: Option<tokio::sync::watch::Receiver<Option<String>>>,
    /// Runs jobs whose capability allows it in segments, on threads.
    pub segments: Option<crate::split::Segments>,
    /// The segments of this job, already run elsewhere (a state machine's
    /// Map): the job joins them instead of reading its input.
    pub prepared: Option<crate::split::Prepared>,
    /// Hands jobs over a length to a state machine that runs them in
    /// segments (a deployed function).
    pub long: Option<Long>,
    /// What was decided over the whole input before this job was split
    /// ([`DynCapability::decide`]): its params are taken with it.
    pub decision: Option<serde_json::Value>,
}

/// When and how a job is handed to the state machine of long jobs.
#[derive(Clone)]
pub struct Long {
    /// Starts the state machine; reads inputs by ranged GETs.
    pub jobs: Arc<dyn crate::ports::LongJobs>,
    /// Reads the input's duration.
    pub segmenter: Arc<dyn crate::ports::Segmenter>,
    /// Inputs longer than this (seconds) run in segments.
    pub above_s: f64,
}

impl std::fmt::Debug for Long {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Long")
            .field("above_s", &self.above_s)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("deadline", &self.deadline)
            .field("last_attempt", &self.last_attempt)
            .field("stop", &self.stop.as_ref().map(|s| s.borrow().clone()))
            .field("segments", &self.segments)
            .field("prepared", &self.prepared)
            .field("long", &self.long)
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            progress: Arc::new(NoProgress),
            deadline: None,
            last_attempt: true,
            stop: None,
            segments: None,
            prepared: None,
            long: None,
            decision: None,
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

/// What [`Pipeline::hold`] got.
enum Held {
    /// The attempt's token: it holds the job.
    Attempt(String),
    /// The job had finished: its record.
    Finished(Box<JobRecord>),
}

/// A capability's output, ready to publish.
struct Ready {
    output: CapabilityOutput,
    sink: OutputSink,
    result_location: MediaLocation,
    /// The work folder, removed when this is dropped.
    _work: tempfile::TempDir,
}

impl Ready {
    /// Every object publishing will write, result JSON last.
    fn planned(&self) -> Vec<String> {
        self.sink
            .files()
            .iter()
            .map(|f| f.location.to_string())
            .chain(std::iter::once(self.result_location.to_string()))
            .collect()
    }
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
        capability: Arc<dyn DynCapability>,
        job: Job,
        options: RunOptions,
    ) -> Result<JobRecord, JobError> {
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            function = %job.function,
            input = %job.input
        );
        self.attempt(capability, job, options)
            .instrument(span)
            .await
    }

    async fn attempt(
        &self,
        capability: Arc<dyn DynCapability>,
        mut job: Job,
        mut options: RunOptions,
    ) -> Result<JobRecord, JobError> {
        if let Some(existing) = self.jobs.get(&job.id).await.map_err(JobError::from)? {
            if existing.state.is_final() {
                return self.already_finished(existing).await;
            }
            job.create_time = existing.create_time;
        }
        let now = Utc::now();
        let mut record = JobRecord::new(&job, JobState::Analyzing);
        let until = self.lease_end(now, options.deadline);
        let attempt = match self.hold(&mut record, until, now).await? {
            Held::Attempt(attempt) => attempt,
            Held::Finished(existing) => return Ok(*existing),
        };
        tracing::info!("job started");

        if let Some(long) = options.long.clone() {
            match self.hand_over(capability.clone(), &job, &long).await {
                Ok(HandOver::Here(decision)) => options.decision = decision,
                Ok(HandOver::Started(execution)) => {
                    // The state machine's Join step takes the job from here.
                    record.message = Some(format!(
                        "the input is long: it runs in segments ({execution})"
                    ));
                    record.lease = None;
                    self.jobs
                        .update(&record, &attempt)
                        .await
                        .map_err(JobError::from)?;
                    return Ok(record);
                }
                Err(e) if e.retryable && !options.last_attempt => {
                    record.apply(Outcome::Retry(e.clone()), Utc::now());
                    let _ = self.jobs.update(&record, &attempt).await;
                    return Err(e);
                }
                Err(e) => {
                    record.apply(Outcome::Failed(e), Utc::now());
                    self.jobs
                        .update(&record, &attempt)
                        .await
                        .map_err(JobError::from)?;
                    return self.announce(record).await;
                }
            }
        }

        let started = Instant::now();
        let work = async {
            let ready = self.execute(capability, &job, &options).await?;
            for file in ready.sink.files() {
                self.guard(&job, &file.location)?;
            }
            // Noted before the first upload: whoever finds this attempt
            // dead knows what it may have left behind.
            record.pending_files = ready.planned();
            self.jobs
                .update(&record, &attempt)
                .await
                .map_err(JobError::from)?;
            let Ready {
                output,
                sink,
                result_location,
                _work,
            } = ready;
            self.publish(&job, output, sink, result_location).await
        };
        let produced = match options.stop.clone() {
            None => work.await,
            Some(mut stop) => tokio::select! {
                produced = work => produced,
                reason = stopped(&mut stop) => Err(JobError::permanent(
                    ErrorCode::Interrupted,
                    format!("the job was interrupted by {reason}"),
                )),
            },
        };
        if produced
            .as_ref()
            .is_err_and(|e| e.code == ErrorCode::Interrupted)
        {
            let removed = self.remove_pending(&record).await;
            if removed > 0 {
                tracing::info!(removed, "partial outputs of the interrupted job removed");
            }
        }
        let outcome = match produced {
            Ok(produced) => {
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "job succeeded"
                );
                Outcome::Succeeded {
                    result: produced.result,
                    files: produced.files,
                }
            }
            Err(e) if e.retryable && !options.last_attempt => {
                tracing::warn!(code = e.code.as_str(), error = %e.message, "retryable failure");
                record.apply(Outcome::Retry(e.clone()), Utc::now());
                // Best effort: without the release, the next delivery waits
                // for the lease to end.
                let _ = self.jobs.update(&record, &attempt).await;
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(code = e.code.as_str(), error = %e.message, "job failed");
                Outcome::Failed(e)
            }
        };
        record.apply(outcome, Utc::now());
        self.jobs
            .update(&record, &attempt)
            .await
            .map_err(JobError::from)?;
        self.announce(record).await
    }

    /// Starts the state machine of long jobs on `job` when its capability
    /// splits and its input (read by ranged GETs) is longer than
    /// `long.above_s`. What must be decided over the whole input is
    /// decided first and kept for the state machine's steps; a decision
    /// that leaves nothing to split (no logo) runs the job here with it.
    async fn hand_over(
        &self,
        capability: Arc<dyn DynCapability>,
        job: &Job,
        long: &Long,
    ) -> Result<HandOver, JobError> {
        let here = Ok(HandOver::Here(None));
        let Ok(params) = accept(capability.as_ref(), job) else {
            // The run here says what is wrong with it.
            return here;
        };
        if capability.plan_warm_up_s(&params).is_none() {
            return here;
        }
        self.readable("input", &job.input)?;
        if self.objects.head(&job.input).await?.is_none() {
            return here;
        }
        let url = long.jobs.read_url(&job.input).await?;
        let segmenter = long.segmenter.clone();
        let limits = self.settings.limits;
        let above_s = long.above_s;
        let looked = tokio::task::spawn_blocking(move || {
            let path = std::path::Path::new(&url);
            let seconds = segmenter.duration(path, &limits)?;
            // Over the limit, the run here fails it at once, saying so.
            if seconds <= above_s || seconds > limits.max_duration_s {
                return Ok((seconds, None, false));
            }
            let ctx = Context {
                limits,
                ..Context::default()
            };
            let decision = capability.decide(path, &params, &ctx)?;
            let splits = match &decision {
                Some(d) => capability.decided(&params, d)?,
                None => params,
            };
            let splits = capability.plan_warm_up_s(&splits).is_some();
            Ok::<_, JobError>((seconds, decision, splits))
        })
        .await
        .map_err(|e| JobError::permanent(ErrorCode::InternalError, format!("probing: {e}")))?;
        // What cannot be probed this way is left to the run here to explain.
        match looked {
            Ok((seconds, decision, true)) if seconds > long.above_s => {
                if let Some(decision) = &decision {
                    self.keep_decision(job, decision).await?;
                }
                let execution = long.jobs.start(job).await?;
                tracing::info!(seconds, %execution, "long input: handed to the state machine");
                Ok(HandOver::Started(execution))
            }
            Ok((_, decision, _)) => Ok(HandOver::Here(decision)),
            Err(e) if e.retryable => Err(e),
            Err(_) => here,
        }
    }

    /// Starts an attempt on `record` under a new lease that ends at
    /// `until`: its token, or the job's record when it has finished
    /// (notified again only if that never happened).
    ///
    /// # Errors
    /// `JobBusy` when a live attempt holds the job; store faults.
    async fn hold(
        &self,
        record: &mut JobRecord,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Held, JobError> {
        let lease = Lease::new(until);
        let attempt = lease.attempt.clone();
        record.lease = Some(lease);
        match self.jobs.claim(record, now).await.map_err(JobError::from)? {
            Claim::Started => Ok(Held::Attempt(attempt)),
            Claim::Finished(existing) => self
                .already_finished(existing)
                .await
                .map(|r| Held::Finished(Box::new(r))),
            Claim::Held(existing) => Err(busy(&existing)),
        }
    }

    /// When an attempt that starts at `now` must be over: its deadline, or
    /// [`PipelineSettings::lease`] from now without one, plus a margin for
    /// the clocks of other machines.
    fn lease_end(&self, now: DateTime<Utc>, deadline: Option<Instant>) -> DateTime<Utc> {
        let length = deadline.map_or(self.settings.lease, |d| {
            d.saturating_duration_since(Instant::now())
        });
        now + chrono::Duration::from_std(length + self.settings.lease_margin)
            .unwrap_or_else(|_| chrono::Duration::days(1))
    }

    /// A job found finished: notified only if that never happened, and
    /// not while the attempt that finished it may still be doing so (its
    /// lease has not ended).
    async fn already_finished(&self, existing: JobRecord) -> Result<JobRecord, JobError> {
        tracing::info!(
            state = existing.state.as_str(),
            "job already finished; not run again"
        );
        if existing.notified {
            return Ok(existing);
        }
        if existing
            .lease
            .as_ref()
            .is_some_and(|l| l.until > Utc::now())
        {
            return Err(busy(&existing));
        }
        self.announce(existing).await
    }

    /// Records a job that never became runnable (a malformed message,
    /// already `Fail`) and notifies, unless that was done before. A
    /// `Queuing` record of the same JobId (a submission) becomes this `Fail`.
    ///
    /// # Errors
    /// A retryable error when the record or notification cannot be written,
    /// or another attempt holds the job.
    pub async fn reject(&self, mut record: JobRecord) -> Result<JobRecord, JobError> {
        // Held until notified, so that a duplicate does not notify too.
        record.lease = Some(Lease::new(
            Utc::now()
                + chrono::Duration::from_std(self.settings.lease_margin).unwrap_or_default()
                + chrono::Duration::minutes(1),
        ));
        match self
            .jobs
            .claim(&record, Utc::now())
            .await
            .map_err(JobError::from)?
        {
            Claim::Started => self.announce(record).await,
            Claim::Finished(existing) => self.already_finished(existing).await,
            Claim::Held(existing) => Err(busy(&existing)),
        }
    }

    /// Ends a job whose message reached the dead-letter queue: every
    /// attempt died without a word (killed, out of memory, out of time) or
    /// could not write its record or notification. A finished job is only
    /// notified if it was not; an unfinished one that no live attempt holds
    /// has the files its attempt was writing removed and becomes `Fail`
    /// with `Abandoned`, then is notified. `record` stands for a job that
    /// has no record at all.
    ///
    /// # Errors
    /// A retryable error while a live attempt still holds the job, or when
    /// the store or notifier fails: the dead letter is tried again later.
    pub async fn dead_letter(
        &self,
        record: JobRecord,
        deadline: Option<Instant>,
    ) -> Result<JobRecord, JobError> {
        let now = Utc::now();
        let existing = self
            .jobs
            .get(&record.job_id)
            .await
            .map_err(JobError::from)?;
        let mut record = match existing {
            Some(e) if e.state.is_final() => return self.already_finished(e).await,
            Some(e) if !e.claimable(now) => return Err(busy(&e)),
            Some(e) => e,
            None => record,
        };
        let message = if record.stale(now) {
            "the job's process stopped without finishing (killed, out of memory or out of time) on its last attempt".to_owned()
        } else if let Some(last) = record.message.as_deref().filter(|_| record.code.is_some()) {
            format!(
                "the job did not finish in any of its attempts; the last one ended with: {last}"
            )
        } else {
            "the job could not be started in any of its attempts".to_owned()
        };
        let until = match deadline {
            Some(_) => self.lease_end(now, deadline),
            None => now + chrono::Duration::minutes(15),
        };
        let attempt = match self.hold(&mut record, until, now).await? {
            Held::Attempt(attempt) => attempt,
            Held::Finished(existing) => return Ok(*existing),
        };
        let held = record.clone();
        let ended = async {
            let pending = self.pending(&record);
            for location in &pending {
                self.objects
                    .delete(location)
                    .await
                    .map_err(JobError::from)?;
            }
            let message = if pending.is_empty() {
                message
            } else {
                format!(
                    "{message}; the {} files it may have written were removed",
                    pending.len()
                )
            };
            tracing::warn!(job_id = %record.job_id, %message, "dead letter");
            record.apply(
                Outcome::Failed(JobError::permanent(ErrorCode::Abandoned, message)),
                Utc::now(),
            );
            self.jobs
                .update(&record, &attempt)
                .await
                .map_err(JobError::from)
        }
        .await;
        if let Err(e) = ended {
            // Released, so that the next try of the dead letter need not
            // wait for this one's lease (best effort, as for a retry).
            let mut released = held;
            released.lease = None;
            let _ = self.jobs.update(&released, &attempt).await;
            return Err(e);
        }
        self.announce(record).await
    }

    /// Notifies a written final record, then marks it notified; when the
    /// notification fails, releases the record for the retry to send it.
    async fn announce(&self, mut record: JobRecord) -> Result<JobRecord, JobError> {
        if let Err(e) = self
            .notifier
            .notify(&Notification::for_record(&record))
            .await
        {
            record.lease = None;
            let _ = self.jobs.settle(&record).await;
            return Err(e.into());
        }
        record.notified = true;
        record.lease = None;
        // The notification is out: failing to note that must not send it
        // again through a retry. A record left unmarked is only notified
        // again if its message is delivered again.
        if let Err(e) = self.jobs.settle(&record).await {
            tracing::warn!(error = %e, "the record could not be marked notified");
        }
        Ok(record)
    }

    /// The stages of one job up to publishing, in order: accept it
    /// (function and params), fetch its input, plan its outputs, fetch its
    /// extra inputs, run the capability.
    async fn execute(
        &self,
        capability: Arc<dyn DynCapability>,
        job: &Job,
        options: &RunOptions,
    ) -> Result<Ready, JobError> {
        let params = accept(capability.as_ref(), job)?;
        let params = match &options.decision {
            Some(decision) => capability.decided(&params, decision)?,
            None => params,
        };
        let (work, input) = match &options.prepared {
            // The segments read the input; the join reads only its audio,
            // through the same address.
            Some(prepared) => (self.work_folder()?, PathBuf::from(&prepared.input_url)),
            None => self.fetch_input(job).await?,
        };
        let (sink, result_location) = self.plan_outputs(job, work.path())?;
        let inputs = self
            .fetch_extra_inputs(params.extra_inputs(), work.path())
            .await?;
        // Messages name what the user gave, not the work folder's copies.
        let mut names: Vec<(String, String)> =
            vec![(input.display().to_string(), job.input.to_string())];
        for (name, location) in params.extra_inputs() {
            if let Some(local) = inputs.get(name) {
                names.push((local.display().to_string(), location.to_string()));
            }
        }
        let (output, sink) = self
            .run_capability(capability, params, input, sink, inputs, options)
            .await
            .map_err(|mut e| {
                for (local, user) in &names {
                    e.message = e.message.replace(local, user);
                }
                e
            })?;
        Ok(Ready {
            output,
            sink,
            result_location,
            _work: work,
        })
    }

    /// Checks the input's size, then downloads it into a new work folder.
    async fn fetch_input(&self, job: &Job) -> Result<(tempfile::TempDir, PathBuf), JobError> {
        self.readable("input", &job.input)?;
        let meta = self.objects.head(&job.input).await?.ok_or_else(|| {
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

        let work = self.work_folder()?;
        let input_path = work
            .path()
            .join(format!("input{}", safe_extension(job.input.file_name())));
        self.objects.download(&job.input, &input_path).await?;
        Ok((work, input_path))
    }

    /// A new folder for one job's files, removed when dropped.
    pub(crate) fn work_folder(&self) -> Result<tempfile::TempDir, JobError> {
        tempfile::Builder::new()
            .prefix("iprod-")
            .tempdir_in(&self.settings.work_dir)
            .map_err(|e| {
                JobError::retryable(
                    ErrorCode::InternalError,
                    format!(
                        "creating a work folder in {}: {e}",
                        self.settings.work_dir.display()
                    ),
                )
            })
    }

    /// The sink the capability names its files through, and where the
    /// result JSON goes (refused when it would land where it must not).
    pub(crate) fn plan_outputs(
        &self,
        job: &Job,
        work: &Path,
    ) -> Result<(OutputSink, MediaLocation), JobError> {
        let out_dir = work.join("out");
        std::fs::create_dir_all(&out_dir).map_err(|e| {
            JobError::retryable(
                ErrorCode::InternalError,
                format!("creating {}: {e}", out_dir.display()),
            )
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
        Ok((sink, result_location))
    }

    /// Downloads the objects the params name besides the input.
    pub(crate) async fn fetch_extra_inputs(
        &self,
        wanted: &[(ExtraInput, MediaLocation)],
        work: &Path,
    ) -> Result<HashMap<ExtraInput, PathBuf>, JobError> {
        let mut inputs = HashMap::new();
        for (name, location) in wanted {
            self.readable(&name.to_string(), location)?;
            let meta = self.objects.head(location).await?.ok_or_else(|| {
                JobError::permanent(
                    ErrorCode::InputNotFound,
                    format!("{name} {location} does not exist"),
                )
            })?;
            if meta.size > self.settings.limits.max_input_bytes {
                return Err(JobError::permanent(
                    ErrorCode::LimitExceeded,
                    format!(
                        "{name} is {} bytes, over the limit of {} bytes",
                        meta.size, self.settings.limits.max_input_bytes
                    ),
                ));
            }
            let local = work.join(format!(
                "extra-{}{}",
                inputs.len(),
                safe_extension(location.file_name())
            ));
            self.objects.download(location, &local).await?;
            inputs.insert(*name, local);
        }
        Ok(inputs)
    }

    /// Runs the capability on a blocking thread, within the deadline; a
    /// panic in it is an `InternalError`, running out of time a `Timeout`.
    /// A job given its segments' results ([`RunOptions::prepared`]) joins
    /// them; one allowed to split ([`RunOptions::segments`]) may split.
    async fn run_capability(
        &self,
        capability: Arc<dyn DynCapability>,
        params: ParsedParams,
        input: PathBuf,
        sink: OutputSink,
        inputs: HashMap<ExtraInput, PathBuf>,
        options: &RunOptions,
    ) -> Result<(CapabilityOutput, OutputSink), JobError> {
        let segments = options.segments.clone();
        let prepared = options.prepared.clone();
        self.on_blocking(sink, inputs, options, None, move |ctx, sink| {
            match (&prepared, &segments) {
                (Some(prepared), _) => {
                    crate::split::join_prepared(capability.as_ref(), &params, sink, ctx, prepared)
                }
                (None, Some(segments)) => {
                    crate::split::run(capability.as_ref(), &input, &params, sink, ctx, segments)
                }
                (None, None) => capability.run(&input, &params, sink, ctx),
            }
        })
        .await
    }

    /// Runs `work` on a blocking thread with the job's context (over
    /// `span` of the input when given), within the deadline; a panic is an
    /// `InternalError`, running out of time a `Timeout`.
    pub(crate) async fn on_blocking<T: Send + 'static>(
        &self,
        sink: OutputSink,
        inputs: HashMap<ExtraInput, PathBuf>,
        options: &RunOptions,
        span: Option<crate::domain::Span>,
        work: impl FnOnce(&Context, &mut OutputSink) -> Result<T, JobError> + Send + 'static,
    ) -> Result<(T, OutputSink), JobError> {
        let cancel = Arc::new(AtomicBool::new(false));
        let ctx = Context {
            progress: Arc::new(crate::capability::Monotonic::new(options.progress.clone())),
            limits: self.settings.limits,
            cancel: cancel.clone(),
            inputs,
            span,
        };
        // When the job stops waiting for the work (a signal ends the job,
        // its future is dropped), the work is told to stop too; a thread
        // left running would hold the process and its CPU until done.
        let _stop_work = StopOnDrop(cancel.clone());
        // The job's span follows the work onto the blocking thread, so that
        // what the capability logs carries the JobId too.
        let trace = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let _entered = trace.enter();
            let mut sink = sink;
            let output = work(&ctx, &mut sink);
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
            JobError::permanent(
                ErrorCode::InternalError,
                format!("the capability crashed: {detail}"),
            )
        })?;
        Ok((output?, sink))
    }

    /// Uploads the files the capability wrote, then the result JSON (so a
    /// reader never sees a result without its files); on a failed upload
    /// removes what it wrote.
    async fn publish(
        &self,
        job: &Job,
        output: CapabilityOutput,
        sink: OutputSink,
        result_location: MediaLocation,
    ) -> Result<Produced, JobError> {
        let CapabilityOutput { message, data } = output;
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
        let bytes = serde_json::to_vec_pretty(&document).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("serialising the result JSON: {e}"),
            )
        })?;
        let mut uploaded: Vec<MediaLocation> = Vec::new();
        for file in &files {
            if let Err(e) = self
                .objects
                .upload(&file.local, &file.location, file.content_type)
                .await
            {
                self.remove(&uploaded).await;
                return Err(output_error(e));
            }
            uploaded.push(file.location.clone());
        }
        if let Err(e) = self
            .objects
            .put(&result_location, bytes, "application/json")
            .await
        {
            self.remove(&uploaded).await;
            return Err(output_error(e));
        }
        uploaded.push(result_location);
        Ok(Produced {
            result,
            files: uploaded.iter().map(ToString::to_string).collect(),
        })
    }

    /// Refuses to read what the function may not.
    pub(crate) fn readable(&self, what: &str, location: &MediaLocation) -> Result<(), JobError> {
        if self.settings.inputs.allows(location) {
            return Ok(());
        }
        Err(JobError::permanent(
            ErrorCode::AccessDenied,
            format!(
                "{what} {location} is not in a bucket this function reads; it reads from {}",
                self.settings.inputs.describe()
            ),
        ))
    }

    /// Refuses an output outside the output buckets, over the input, or
    /// where it triggers a function again.
    pub(crate) fn guard(&self, job: &Job, output: &MediaLocation) -> Result<(), JobError> {
        if !self.settings.outputs.allows(output) {
            return Err(JobError::permanent(
                ErrorCode::InvalidOutput,
                format!(
                    "output {output} is not in a bucket this function writes; it writes to {}",
                    self.settings.outputs.describe()
                ),
            ));
        }
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

    /// Removes (best effort) the files an attempt noted it was about to
    /// write; returns how many.
    async fn remove_pending(&self, record: &JobRecord) -> usize {
        let pending = self.pending(record);
        self.remove(&pending).await;
        pending.len()
    }

    /// The files an attempt noted it was about to write, where outputs may
    /// be.
    fn pending(&self, record: &JobRecord) -> Vec<MediaLocation> {
        record
            .pending_files
            .iter()
            .filter_map(|uri| MediaLocation::parse(uri, "pending file").ok())
            .filter(|location| self.settings.outputs.allows(location))
            .collect()
    }

    pub(crate) async fn remove(&self, written: &[MediaLocation]) {
        for location in written {
            if let Err(e) = self.objects.delete(location).await {
                tracing::warn!(%location, error = %e, "could not remove a partial output");
            }
        }
    }
}

/// Whether `capability` takes `job`: its FunctionName, then its params,
/// parsed once for the whole job.
pub(crate) fn accept(capability: &dyn DynCapability, job: &Job) -> Result<ParsedParams, JobError> {
    if !capability.serves(job.function) {
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
    capability.parse(&job.params)
}

/// Waits until `stop` holds a reason; never returns when its sender is
/// gone without one.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(reason) = stop.borrow_and_update().clone() {
            return reason;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The error for a job another attempt holds: retried later, when that
/// attempt has finished it or its lease has ended.
fn busy(existing: &JobRecord) -> JobError {
    let until = existing.lease.as_ref().map_or_else(String::new, |l| {
        format!(" until {}", crate::domain::format_time(l.until))
    });
    JobError::retryable(
        ErrorCode::JobBusy,
        format!("job {} is held by another attempt{until}", existing.job_id),
    )
}

/// A failed write to the output location: a missing bucket is the job's
/// Output at fault, not its input.
fn output_error(e: crate::ports::StoreError) -> JobError {
    match e {
        crate::ports::StoreError::NotFound(what) => JobError::permanent(
            ErrorCode::InvalidOutput,
            format!("cannot write {what}: the output bucket does not exist"),
        ),
        other => other.into(),
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::adapters::memory::{MemoryNotifier, MemoryObjectStore};
    use crate::adapters::records::ObjectJobStore;
    use crate::capability::{Capability, Report};
    use crate::domain::{FunctionName, JobCode, JobId, OutputTemplate};
    use crate::ports::StoreError;

    /// Writes two small files; counts its runs; may panic or dawdle.
    #[derive(Default)]
    struct Fake {
        parses: AtomicUsize,
        runs: AtomicUsize,
        panic: bool,
        sleep: Option<Duration>,
    }

    /// Reads one extra object named by its `Extra` param.
    struct WithExtra;

    impl Capability for WithExtra {
        type Params = MediaLocation;
        type Output = ();

        fn function(&self) -> FunctionName {
            FunctionName::Cover
        }

        fn parse(&self, params: &serde_json::Value) -> Result<MediaLocation, JobError> {
            let uri = params["bgimage"].as_str().unwrap_or_default();
            MediaLocation::parse(uri, "bgimage")
        }

        fn extra_inputs(&self, params: &MediaLocation) -> Vec<(ExtraInput, MediaLocation)> {
            vec![(ExtraInput::Background, params.clone())]
        }

        fn run(
            &self,
            _input: &Path,
            _params: &MediaLocation,
            _sink: &mut OutputSink,
            ctx: &Context,
        ) -> Result<Report<()>, JobError> {
            let bytes = std::fs::read(&ctx.inputs[&ExtraInput::Background])
                .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))?;
            Ok(Report {
                message: String::from_utf8_lossy(&bytes).into_owned(),
                result: (),
            })
        }
    }

    #[tokio::test]
    async fn extra_inputs_are_fetched_and_a_missing_one_fails_the_job_naming_it() {
        let (p, objects, _) = pipeline();
        objects.insert("s3://in/library/bg.png", b"background".to_vec());
        let mut j = job("s3://out/");
        j.params = serde_json::json!({"bgimage": "s3://in/library/bg.png"});
        let record = p
            .run(Arc::new(WithExtra), j.clone(), RunOptions::default())
            .await
            .expect("final");
        assert_eq!(record.state, JobState::Success);
        assert_eq!(record.message.as_deref(), Some("background"));
        j.id = JobId::derived(&["missing extra"]);
        j.params = serde_json::json!({"bgimage": "s3://in/library/none.png"});
        let record = p
            .run(Arc::new(WithExtra), j, RunOptions::default())
            .await
            .expect("final");
        assert_eq!(record.state, JobState::Fail);
        assert_eq!(record.code.map(JobCode::as_str), Some("InputNotFound"));
        let message = record.message.unwrap_or_default();
        assert!(
            message.contains("bgimage s3://in/library/none.png"),
            "{message}"
        );
    }

    impl Capability for Fake {
        type Params = ();
        type Output = serde_json::Value;

        fn function(&self) -> FunctionName {
            FunctionName::Cover
        }

        fn parse(&self, params: &serde_json::Value) -> Result<(), JobError> {
            self.parses.fetch_add(1, Ordering::SeqCst);
            if params.get("Bad").is_some() {
                return Err(JobError::param("Bad", "is bad"));
            }
            Ok(())
        }

        fn run(
            &self,
            _input: &Path,
            _params: &(),
            sink: &mut OutputSink,
            ctx: &Context,
        ) -> Result<Report<serde_json::Value>, JobError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            assert!(!self.panic, "boom");
            if let Some(sleep) = self.sleep {
                let until = Instant::now() + sleep;
                while Instant::now() < until && !ctx.cancelled() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            for _ in 0..2 {
                let file = sink.plan("cover", "jpg", "image/jpeg", true)?;
                std::fs::write(&file.local, b"jpeg")
                    .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))?;
            }
            Ok(Report {
                message: "2 covers".into(),
                result: serde_json::json!({"Covers": 2}),
            })
        }
    }

    /// Succeeds with a result that JSON cannot hold (a map with non-string
    /// keys).
    struct Unserialisable;

    impl Capability for Unserialisable {
        type Params = ();
        type Output = HashMap<(u8, u8), u8>;

        fn function(&self) -> FunctionName {
            FunctionName::Cover
        }

        fn parse(&self, _params: &serde_json::Value) -> Result<(), JobError> {
            Ok(())
        }

        fn run(
            &self,
            _input: &Path,
            _params: &(),
            _sink: &mut OutputSink,
            _ctx: &Context,
        ) -> Result<Report<Self::Output>, JobError> {
            Ok(Report {
                message: "done".into(),
                result: HashMap::from([((1, 2), 3)]),
            })
        }
    }

    #[tokio::test]
    async fn a_job_held_by_a_live_attempt_is_not_started_again_but_a_stale_one_is() {
        let (p, _, notifier) = pipeline();
        let j = job("s3://out/");
        let mut held = JobRecord::new(&j, JobState::Analyzing);
        held.lease = Some(Lease::new(Utc::now() + chrono::Duration::minutes(5)));
        assert_eq!(
            p.jobs.claim(&held, Utc::now()).await.expect("claim"),
            Claim::Started
        );
        let fake = Arc::new(Fake::default());
        let err = p
            .run(fake.clone(), j.clone(), RunOptions::default())
            .await
            .expect_err("busy");
        assert_eq!(err.code, ErrorCode::JobBusy);
        assert!(err.retryable);
        assert_eq!(fake.runs.load(Ordering::SeqCst), 0, "not run twice");
        assert!(notifier.sent().is_empty());
        // The holder's outcome is still its own to write.
        let attempt = held
            .lease
            .as_ref()
            .map(|l| l.attempt.clone())
            .unwrap_or_default();
        let mut other = held.clone();
        other.lease = Some(Lease::new(Utc::now()));
        other.apply(
            Outcome::Failed(JobError::permanent(ErrorCode::InternalError, "x")),
            Utc::now(),
        );
        assert!(matches!(
            p.jobs.update(&other, "someone-else").await,
            Err(StoreError::Conflict(_))
        ));

        // The holder dies: once its lease has ended, the record is stale
        // and the next delivery runs the job.
        held.lease = Some(Lease::new(Utc::now() - chrono::Duration::seconds(1)));
        p.jobs.update(&held, &attempt).await.expect("holder writes");
        let stored = p.jobs.get(&j.id).await.expect("get").expect("record");
        assert!(stored.stale(Utc::now()));
        let record = p
            .run(fake.clone(), j, RunOptions::default())
            .await
            .expect("final");
        assert_eq!(record.state, JobState::Success);
        assert_eq!(record.lease, None, "a final record holds no lease");
        assert_eq!(fake.runs.load(Ordering::SeqCst), 1);
        assert_eq!(notifier.sent().len(), 1);
        // A final record is never reopened.
        assert!(matches!(
            p.jobs.claim(&held, Utc::now()).await.expect("claim"),
            Claim::Finished(_)
        ));
        assert!(p.jobs.update(&held, &attempt).await.is_err());
    }

    #[tokio::test]
    async fn a_rejected_message_turns_its_queued_record_to_fail_and_never_a_finished_one() {
        let (p, _, notifier) = pipeline();
        let j = job("s3://out/");
        let queued = JobRecord::new(&j, JobState::Queuing);
        assert!(p.jobs.create(&queued).await.expect("create"));
        assert!(!p.jobs.create(&queued).await.expect("create"), "only once");
        let error = JobError::permanent(ErrorCode::InvalidMessage, "bad");
        let rejected = JobRecord::unparsed(j.id.clone(), j.function, "{}", error, Utc::now());
        let record = p.reject(rejected.clone()).await.expect("rejected");
        assert_eq!(record.state, JobState::Fail);
        assert_eq!(notifier.sent().len(), 1);
        // The same JobId again: the finished record stays as it is.
        let fake = Arc::new(Fake::default());
        let again = p
            .run(fake.clone(), j, RunOptions::default())
            .await
            .expect("final");
        assert_eq!(again.state, JobState::Fail);
        assert_eq!(fake.runs.load(Ordering::SeqCst), 0);
        assert_eq!(notifier.sent().len(), 1, "one notification");
    }

    #[tokio::test]
    async fn params_are_parsed_once_per_job() {
        let (p, _, _) = pipeline();
        let fake = Arc::new(Fake::default());
        let record = p
            .run(fake.clone(), job("s3://out/"), RunOptions::default())
            .await
            .expect("final");
        assert_eq!(record.state, JobState::Success);
        assert_eq!(fake.parses.load(Ordering::SeqCst), 1);
        assert_eq!(fake.runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_result_that_cannot_be_serialised_fails_the_job_as_an_internal_error() {
        let (p, objects, _) = pipeline();
        let record = p
            .run(
                Arc::new(Unserialisable),
                job("s3://out/"),
                RunOptions::default(),
            )
            .await
            .expect("final");
        assert_eq!(record.state, JobState::Fail);
        assert_eq!(record.code.map(JobCode::as_str), Some("InternalError"));
        assert!(record.result.is_none());
        assert!(
            !objects.keys().iter().any(|k| k.starts_with("s3://out/")),
            "{:?}",
            objects.keys()
        );
    }

    type TestPipeline =
        Pipeline<MemoryObjectStore, ObjectJobStore<MemoryObjectStore>, MemoryNotifier>;

    fn pipeline() -> (TestPipeline, MemoryObjectStore, MemoryNotifier) {
        let objects = MemoryObjectStore::default();
        let notifier = MemoryNotifier::default();
        objects.insert("s3://in/input/clip.mp4", b"video".to_vec());
        let p = Pipeline {
            objects: objects.clone(),
            jobs: ObjectJobStore::new(
                objects.clone(),
                MediaLocation::parse("s3://state/jobs/", "state").expect("valid"),
            ),
            notifier: notifier.clone(),
            settings: PipelineSettings {
                protected: vec![MediaLocation::parse("s3://in/input/", "in").expect("valid")],
                ..PipelineSettings::default()
            },
        };
        (p, objects, notifier)
    }

    fn job(output: &str) -> Job {
        Job {
            id: JobId::derived(&["test", output]),
            function: FunctionName::Cover,
            input: MediaLocation::parse("s3://in/input/clip.mp4", "Input").expect("valid"),
            output: OutputTemplate::parse(output).expect("valid"),
            params: serde_json::json!({}),
            user_data: Some("u".into()),
            create_time: Utc::now(),
        }
    }

    fn retrying() -> RunOptions {
        RunOptions {
            last_attempt: false,
            ..RunOptions::default()
        }
    }

    #[tokio::test]
    async fn a_job_writes_files_then_result_then_record_and_notifies_once() {
        let (p, objects, notifier) = pipeline();
        let record = p
            .run(
                Arc::new(Fake::default()),
                job("s3://out/{source}/"),
                RunOptions::default(),
            )
            .await
            .expect("final");
        assert_eq!(record.state, JobState::Success);
        assert_eq!(
            record.output_files,
            vec![
                "s3://out/clip/clip-cover-1.jpg",
                "s3://out/clip/clip-cover-2.jpg",
                "s3://out/clip/clip-result.json"
            ]
        );
        assert!(objects.bytes("s3://out/clip/clip-result.json").is_some());
        assert_eq!(notifier.sent().len(), 1);
        assert_eq!(notifier.sent()[0].user_data.as_deref(), Some("u"));
    }

    #[tokio::test]
    async fn a_transient_upload_failure_asks_for_a_retry_and_leaves_nothing_behind() {
        let (p, objects, notifier) = pipeline();
        let fake = Arc::new(Fake::default());
        let j = job("s3://out/");
        let before = objects.keys().len();
        // Both covers upload; the result JSON fails.
        let p2 = Pipeline {
            objects: FailingAfter::new(objects.clone(), 2),
            jobs: p.jobs.clone(),
            notifier: notifier.clone(),
            settings: p.settings.clone(),
        };
        let err = p2
            .run(fake.clone(), j.clone(), retrying())
            .await
            .expect_err("retry");
        assert!(err.retryable);
        let outputs: Vec<String> = objects
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("s3://out/"))
            .collect();
        assert!(outputs.is_empty(), "partial outputs removed: {outputs:?}");
        assert_eq!(
            objects.keys().len(),
            before + 1,
            "only the job record was added"
        );
        let record = p.jobs.get(&j.id).await.expect("read").expect("record");
        assert_eq!(record.state, JobState::Analyzing);
        assert!(
            notifier.sent().is_empty(),
            "no notification before the job ends"
        );

        // The retry succeeds and notifies once.
        let record = p.run(fake, j, RunOptions::default()).await.expect("final");
        assert_eq!(record.state, JobState::Success);
        assert_eq!(notifier.sent().len(), 1);
    }

    #[tokio::test]
    async fn the_last_attempt_turns_a_transient_failure_into_fail() {
        let (p, objects, notifier) = pipeline();
        let p2 = Pipeline {
            objects: FailingAfter::new(objects.clone(), 2),
            jobs: p.jobs.clone(),
            notifier: notifier.clone(),
            settings: p.settings.clone(),
        };
        let record = p2
            .run(
                Arc::new(Fake::default()),
                job("s3://out/"),
                RunOptions::default(),
            )
            .await
            .expect("final");
        assert_eq!(record.state, JobState::Fail);
        assert_eq!(record.code.map(JobCode::as_str), Some("ServiceUnavailable"));
        assert_eq!(notifier.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_lost_notification_is_sent_on_retry_without_redoing_the_work() {
        let (p, _objects, notifier) = pipeline();
        let fake = Arc::new(Fake::default());
        notifier.fail_next(1);
        let j = job("s3://out/");
        assert!(p.run(fake.clone(), j.clone(), retrying()).await.is_err());
        assert!(notifier.sent().is_empty());
        let record = p
            .run(fake.clone(), j.clone(), retrying())
            .await
            .expect("final");
        assert_eq!(record.state, JobState::Success);
        assert_eq!(notifier.sent().len(), 1);
        assert_eq!(fake.runs.load(Ordering::SeqCst), 1, "work done once");
        // A duplicate event after that: nothing at all.
        p.run(fake.clone(), j, retrying()).await.expect("final");
        assert_eq!(notifier.sent().len(), 1);
        assert_eq!(fake.runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn outputs_that_would_retrigger_or_overwrite_the_input_are_refused() {
        let (p, objects, _) = pipeline();
        for output in ["s3://in/input/covers/", "s3://in/input/clip.mp4"] {
            let record = p
                .run(
                    Arc::new(Fake::default()),
                    job(output),
                    RunOptions::default(),
                )
                .await
                .expect("final");
            assert_eq!(record.state, JobState::Fail, "{output}");
            assert_eq!(
                record.code.map(JobCode::as_str),
                Some("InvalidOutput"),
                "{output}"
            );
        }
        assert_eq!(
            objects.bytes("s3://in/input/clip.mp4").as_deref(),
            Some(&b"video"[..])
        );
    }

    #[tokio::test]
    async fn bad_params_missing_input_and_crashes_end_as_fail() {
        let (p, _, notifier) = pipeline();
        let mut bad = job("s3://out/a/");
        bad.params = serde_json::json!({"Bad": 1});
        let r = p
            .run(Arc::new(Fake::default()), bad, RunOptions::default())
            .await
            .expect("final");
        assert_eq!(r.code.map(JobCode::as_str), Some("InvalidParameter"));

        let mut missing = job("s3://out/b/");
        missing.input = MediaLocation::parse("s3://in/input/none.mp4", "Input").expect("valid");
        let r = p
            .run(Arc::new(Fake::default()), missing, RunOptions::default())
            .await
            .expect("final");
        assert_eq!(r.code.map(JobCode::as_str), Some("InputNotFound"));

        let crashing = Arc::new(Fake {
            panic: true,
            ..Fake::default()
        });
        let r = p
            .run(crashing, job("s3://out/c/"), RunOptions::default())
            .await
            .expect("final");
        assert_eq!(r.code.map(JobCode::as_str), Some("InternalError"));
        assert!(r.message.as_deref().unwrap_or_default().contains("boom"));
        assert_eq!(notifier.sent().len(), 3);
    }

    #[tokio::test]
    async fn a_job_near_the_deadline_fails_itself_with_timeout() {
        let (p, _, _) = pipeline();
        let slow = Arc::new(Fake {
            sleep: Some(Duration::from_secs(30)),
            ..Fake::default()
        });
        let options = RunOptions {
            deadline: Some(Instant::now() + DEADLINE_MARGIN + Duration::from_millis(200)),
            ..RunOptions::default()
        };
        let started = Instant::now();
        let r = p.run(slow, job("s3://out/"), options).await.expect("final");
        assert_eq!(r.code.map(JobCode::as_str), Some("Timeout"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// An object store whose writes fail after the first `ok` writes.
    #[derive(Clone)]
    struct FailingAfter {
        inner: MemoryObjectStore,
        left: Arc<AtomicUsize>,
    }

    impl FailingAfter {
        fn new(inner: MemoryObjectStore, ok: usize) -> Self {
            Self {
                inner,
                left: Arc::new(AtomicUsize::new(ok)),
            }
        }

        fn allow(&self) -> Result<(), crate::ports::StoreError> {
            self.left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .map(|_| ())
                .map_err(|_| crate::ports::StoreError::Transient("injected".into()))
        }
    }

    impl ObjectStore for FailingAfter {
        async fn head(
            &self,
            l: &MediaLocation,
        ) -> Result<Option<crate::ports::ObjectMeta>, crate::ports::StoreError> {
            self.inner.head(l).await
        }
        async fn download(
            &self,
            l: &MediaLocation,
            d: &Path,
        ) -> Result<u64, crate::ports::StoreError> {
            self.inner.download(l, d).await
        }
        async fn upload(
            &self,
            s: &Path,
            l: &MediaLocation,
            c: &str,
        ) -> Result<(), crate::ports::StoreError> {
            self.allow()?;
            self.inner.upload(s, l, c).await
        }
        async fn put(
            &self,
            l: &MediaLocation,
            b: Vec<u8>,
            c: &str,
        ) -> Result<(), crate::ports::StoreError> {
            self.allow()?;
            self.inner.put(l, b, c).await
        }
        async fn get(
            &self,
            l: &MediaLocation,
        ) -> Result<Option<Vec<u8>>, crate::ports::StoreError> {
            self.inner.get(l).await
        }
        async fn list(
            &self,
            l: &MediaLocation,
        ) -> Result<Vec<MediaLocation>, crate::ports::StoreError> {
            self.inner.list(l).await
        }
        async fn delete(&self, l: &MediaLocation) -> Result<(), crate::ports::StoreError> {
            self.inner.delete(l).await
        }
    }
}
