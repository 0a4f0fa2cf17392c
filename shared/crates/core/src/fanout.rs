//! The steps of a long job's state machine, each one Lambda invocation of
//! the job's own function: plan the segments (the handler, with the
//! [`Segmenter`](crate::ports::Segmenter)), run one segment
//! ([`Pipeline::run_segment`]: its files go under the job's parts prefix),
//! join them ([`Pipeline::run`] with [`RunOptions::prepared`]: the same
//! path as any job from there on, record and notification included), and
//! on a failure for good end the job ([`Pipeline::fail_fanned`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::capability::DynCapability;
use crate::domain::{ErrorCode, Job, JobError, JobRecord, JobState, MediaLocation, Outcome, Span};
use crate::pipeline::{accept, Pipeline, RunOptions};
use crate::ports::{JobStore, Notifier, ObjectStore};

/// What one segment step produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentDone {
    /// The segment's place in the plan.
    pub index: usize,
    /// The files it wrote, in the order it planned them.
    pub files: Vec<PartFile>,
    /// Its result (`{"Message", "Data"}`).
    pub result: serde_json::Value,
}

/// What one segment of the gathering read ([`DynCapability::read_span`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GatherDone {
    index: usize,
    readings: serde_json::Value,
}

/// What a segment step hands back to the state machine: where its
/// [`SegmentDone`] was put. Results stay in the bucket, so that the
/// Map's output stays small however many segments or cues there are
/// (a state holds at most 256 KB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentRef {
    /// The segment's place in the plan.
    pub index: usize,
    /// Where its [`SegmentDone`] is (under the job's parts prefix).
    pub done: String,
}

/// A file a segment wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartFile {
    /// Where the joined file goes.
    pub location: String,
    /// Where the segment's file was put (under the parts prefix).
    pub part: String,
    /// Its MIME type.
    pub content_type: String,
}

/// Where the segments of job `job` keep their files until the join: a
/// hidden folder beside the job's result.
///
/// # Errors
/// `InvalidOutput` when the job's output template does not expand.
pub fn parts_prefix(job: &Job) -> Result<MediaLocation, JobError> {
    let sink = crate::capability::OutputSink::new(
        std::path::Path::new("."),
        job.output.clone(),
        job.input.stem(),
        job.create_time.timestamp(),
        job.id.as_str(),
    );
    Ok(match sink.result_location()? {
        MediaLocation::S3 { bucket, .. } => MediaLocation::S3 {
            bucket,
            key: format!(".iprod-parts/{}/", job.id),
        },
        MediaLocation::Local(path) => MediaLocation::Local(
            path.parent()
                .map_or_else(PathBuf::new, std::path::Path::to_path_buf)
                .join(".iprod-parts")
                .join(job.id.as_str()),
        ),
    })
}

/// `name` under `prefix`.
fn child(prefix: &MediaLocation, name: &str) -> MediaLocation {
    match prefix {
        MediaLocation::S3 { bucket, key } => MediaLocation::S3 {
            bucket: bucket.clone(),
            key: format!("{key}{name}"),
        },
        MediaLocation::Local(path) => MediaLocation::Local(path.join(name)),
    }
}

impl<O: ObjectStore, J: JobStore, N: Notifier> Pipeline<O, J, N> {
    /// Runs segment `index` (`span` of the input, read from `input_url`)
    /// of `job` and puts its files and its [`SegmentDone`] under the
    /// job's parts prefix.
    ///
    /// # Errors
    /// The capability's error for this segment; store faults (retryable).
    pub async fn run_segment(
        &self,
        capability: Arc<dyn DynCapability>,
        job: &Job,
        index: usize,
        span: Span,
        input_url: String,
        options: &RunOptions,
    ) -> Result<SegmentRef, JobError> {
        let params = self.decided_params(capability.as_ref(), job).await?;
        self.readable("input", &job.input)?;
        let work = self.work_folder()?;
        let (sink, _) = self.plan_outputs(job, work.path())?;
        let inputs: HashMap<_, _> = self
            .fetch_extra_inputs(params.extra_inputs(), work.path())
            .await?;
        let input = PathBuf::from(&input_url);
        let (part, sink) = self
            .on_blocking(sink, inputs, options, Some(span), move |ctx, sink| {
                capability.run_part(&input, &params, sink, ctx)
            })
            .await
            .map_err(|mut e| {
                e.message = e.message.replace(&input_url, &job.input.to_string());
                e
            })?;
        let prefix = parts_prefix(job)?;
        let files = sink.into_files();
        // What this segment wrote, times the segments of the plan: the
        // join would not fit, so the job fails now, not after them all.
        let bytes: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(&f.local).ok())
            .map(|m| m.len())
            .sum();
        let planned = self.planned(job).await?.map_or(1, |p| p.len()) as u64;
        self.fits(bytes.saturating_mul(planned), Some(index))?;
        let mut stored = Vec::new();
        for (j, file) in files.into_iter().enumerate() {
            let name = file
                .local
                .file_name()
                .map_or_else(|| j.to_string(), |n| n.to_string_lossy().into_owned());
            let part = child(&prefix, &format!("{index}/{name}"));
            self.guard(job, &part)?;
            self.objects
                .upload(&file.local, &part, file.content_type)
                .await
                .map_err(JobError::from)?;
            stored.push(PartFile {
                location: file.location.to_string(),
                part: part.to_string(),
                content_type: file.content_type.to_owned(),
            });
        }
        let done = SegmentDone {
            index,
            files: stored,
            result: part.json().clone(),
        };
        self.keep_ref(job, &format!("{index}/done.json"), index, &done)
            .await
    }

    /// `job`'s params with what was decided before its split taken.
    ///
    /// # Errors
    /// As the job's own run for bad params; store faults.
    pub async fn decided_params(
        &self,
        capability: &dyn DynCapability,
        job: &Job,
    ) -> Result<crate::capability::ParsedParams, JobError> {
        let params = accept(capability, job)?;
        match self.decision(job).await? {
            Some(decision) => capability.decided(&params, &decision),
            None => Ok(params),
        }
    }

    /// Puts what segment `index` did, as JSON, at `name` under the job's
    /// parts prefix: the pointer the state machine keeps.
    async fn keep_ref<T: Serialize>(
        &self,
        job: &Job,
        name: &str,
        index: usize,
        done: &T,
    ) -> Result<SegmentRef, JobError> {
        let at = child(&parts_prefix(job)?, name);
        self.guard(job, &at)?;
        let body = serde_json::to_vec(done).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("serialising segment {index}: {e}"),
            )
        })?;
        self.objects
            .put(&at, body, "application/json")
            .await
            .map_err(JobError::from)?;
        Ok(SegmentRef {
            index,
            done: at.to_string(),
        })
    }

    /// Reads segment `index` (`span` of the input, read from `input_url`)
    /// of `job` for the decision gathered before its split
    /// ([`DynCapability::read_span`]) and puts its readings under the
    /// job's parts prefix.
    ///
    /// # Errors
    /// The capability's error for this segment; store faults (retryable).
    pub async fn run_gather(
        &self,
        capability: Arc<dyn DynCapability>,
        job: &Job,
        index: usize,
        span: Span,
        input_url: String,
        options: &RunOptions,
    ) -> Result<SegmentRef, JobError> {
        let params = self.decided_params(capability.as_ref(), job).await?;
        self.readable("input", &job.input)?;
        let work = self.work_folder()?;
        let (sink, _) = self.plan_outputs(job, work.path())?;
        let input = PathBuf::from(&input_url);
        let (readings, _) = self
            .on_blocking(sink, HashMap::new(), options, Some(span), move |ctx, _| {
                capability.read_span(&input, &params, ctx)
            })
            .await
            .map_err(|mut e| {
                e.message = e.message.replace(&input_url, &job.input.to_string());
                e
            })?;
        let done = GatherDone { index, readings };
        self.keep_ref(job, &format!("gather/{index}.json"), index, &done)
            .await
    }

    /// What the gathering's segments of `job` that `refs` point to read,
    /// in time order, one for every span of its plan.
    ///
    /// # Errors
    /// As [`Pipeline::segments_done`].
    pub async fn gathered(
        &self,
        job: &Job,
        refs: Vec<SegmentRef>,
    ) -> Result<Vec<serde_json::Value>, JobError> {
        Ok(self
            .read_refs::<GatherDone>(job, refs, |g| g.index)
            .await?
            .into_iter()
            .map(|g| g.readings)
            .collect())
    }

    /// Keeps what was decided over the whole input of `job` before its
    /// split ([`DynCapability::decide`]) under its parts prefix, for the
    /// state machine's steps.
    ///
    /// # Errors
    /// Store faults (retryable).
    pub async fn keep_decision(
        &self,
        job: &Job,
        decision: &serde_json::Value,
    ) -> Result<(), JobError> {
        let at = child(&parts_prefix(job)?, "decision.json");
        self.guard(job, &at)?;
        self.objects
            .put(&at, decision.to_string().into_bytes(), "application/json")
            .await
            .map_err(JobError::from)
    }

    /// What was decided over the whole input of `job` before its split,
    /// if anything ([`Pipeline::keep_decision`]).
    ///
    /// # Errors
    /// `InternalError` for a decision that is not JSON; store faults.
    pub async fn decision(&self, job: &Job) -> Result<Option<serde_json::Value>, JobError> {
        let at = child(&parts_prefix(job)?, "decision.json");
        let Some(body) = self.objects.get(&at).await.map_err(JobError::from)? else {
            return Ok(None);
        };
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("the long job's decision ({at}): {e}"),
            )
        })
    }

    /// The spans of `job`'s plan, when it has been kept.
    async fn planned(&self, job: &Job) -> Result<Option<Vec<Span>>, JobError> {
        let at = child(&parts_prefix(job)?, "plan.json");
        Ok(self
            .objects
            .get(&at)
            .await
            .map_err(JobError::from)?
            .and_then(|body| serde_json::from_slice(&body).ok()))
    }

    /// Whether a joined output of `bytes` fits the work folder
    /// (`Limits::max_output_bytes`); `estimated_from` names the segment
    /// the size was estimated from.
    ///
    /// # Errors
    /// `LimitExceeded` saying how large it would be and what to do.
    pub fn fits(&self, bytes: u64, estimated_from: Option<usize>) -> Result<(), JobError> {
        let limit = self.settings.limits.max_output_bytes;
        if bytes <= limit {
            return Ok(());
        }
        let gb = |b: u64| b as f64 / f64::from(1u32 << 30);
        let how = estimated_from.map_or_else(
            || "the segments' files".to_owned(),
            |i| format!("segment {i}'s files, times the segments"),
        );
        Err(JobError::permanent(
            ErrorCode::LimitExceeded,
            format!(
                "the joined output would take about {:.1} GB ({how}), more than the {:.1} GB this function can write (IPROD_MAX_OUTPUT_BYTES, its /tmp): choose a more compact output (e.g. Format mp4 or webm) or a shorter input",
                gb(bytes),
                gb(limit)
            ),
        ))
    }

    /// Keeps the plan of `job` (its segments' spans) under its parts
    /// prefix, for the join to check that every segment is there.
    ///
    /// # Errors
    /// Store faults (retryable).
    pub async fn keep_plan(&self, job: &Job, spans: &[Span]) -> Result<(), JobError> {
        let at = child(&parts_prefix(job)?, "plan.json");
        self.guard(job, &at)?;
        let body = serde_json::to_vec(spans).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("serialising the plan: {e}"),
            )
        })?;
        self.objects
            .put(&at, body, "application/json")
            .await
            .map_err(JobError::from)
    }

    /// What the segments of `job` that `refs` point to produced, in time
    /// order: each one read from under the job's parts prefix, one for
    /// every span of its plan ([`Pipeline::keep_plan`]).
    ///
    /// # Errors
    /// `InternalError` when the plan or a segment is missing, repeated or
    /// points outside the job's parts; store faults (retryable).
    pub async fn segments_done(
        &self,
        job: &Job,
        refs: Vec<SegmentRef>,
    ) -> Result<Vec<SegmentDone>, JobError> {
        self.read_refs::<SegmentDone>(job, refs, |d| d.index).await
    }

    /// What `refs` point to, in time order: each one read from under the
    /// job's parts prefix, one for every span of its plan.
    async fn read_refs<T: serde::de::DeserializeOwned>(
        &self,
        job: &Job,
        mut refs: Vec<SegmentRef>,
        index_of: impl Fn(&T) -> usize,
    ) -> Result<Vec<T>, JobError> {
        refs.sort_by_key(|r| r.index);
        let planned: Vec<Span> = self.planned(job).await?.ok_or_else(|| {
            JobError::permanent(
                ErrorCode::InternalError,
                "the long job's plan (plan.json beside its parts) is missing",
            )
        })?;
        if planned.len() != refs.len() {
            return Err(JobError::permanent(
                ErrorCode::InternalError,
                format!(
                    "the long job has {} of its {} segments",
                    refs.len(),
                    planned.len()
                ),
            ));
        }
        let prefix = parts_prefix(job)?.to_string();
        let mut done = Vec::with_capacity(refs.len());
        for (i, r) in refs.into_iter().enumerate() {
            let broken = |why: String| {
                JobError::permanent(
                    ErrorCode::InternalError,
                    format!("segment {} of the long job: {why}", r.index),
                )
            };
            if r.index != i {
                return Err(broken(format!("expected segment {i}")));
            }
            let inside = r.done.strip_prefix(&prefix).is_some_and(|rest| {
                (prefix.ends_with('/') || rest.starts_with('/')) && !rest.contains("..")
            });
            if !inside {
                return Err(broken(format!("{} is outside {prefix}", r.done)));
            }
            let at = MediaLocation::parse(&r.done, "a segment's result")?;
            self.guard(job, &at)?;
            let body = self
                .objects
                .get(&at)
                .await
                .map_err(JobError::from)?
                .ok_or_else(|| broken(format!("{} is missing", r.done)))?;
            let part: T =
                serde_json::from_slice(&body).map_err(|e| broken(format!("{}: {e}", r.done)))?;
            if index_of(&part) != r.index {
                return Err(broken(format!("{} is segment {}", r.done, index_of(&part))));
            }
            done.push(part);
        }
        Ok(done)
    }

    /// Removes (best effort) every file the segments of `job` left under
    /// its parts prefix; returns how many.
    pub async fn remove_parts(&self, job: &Job) -> usize {
        let Ok(prefix) = parts_prefix(job) else {
            return 0;
        };
        let Ok(parts) = self.objects.list(&prefix).await else {
            return 0;
        };
        let parts: Vec<MediaLocation> = parts
            .into_iter()
            .filter(|p| self.guard(job, p).is_ok())
            .collect();
        self.remove(&parts).await;
        parts.len()
    }

    /// Ends a long job whose state machine failed for good (`error` says
    /// why): its segments' files are removed, the job becomes `Fail` and
    /// is notified once. A job already finished is left as it is.
    ///
    /// # Errors
    /// A retryable error when the record or notification cannot be written.
    pub async fn fail_fanned(&self, job: &Job, error: JobError) -> Result<JobRecord, JobError> {
        let removed = self.remove_parts(job).await;
        tracing::warn!(job_id = %job.id, code = error.code.as_str(), error = %error.message, removed, "long job failed");
        let mut record = JobRecord::new(job, JobState::Analyzing);
        if let Some(existing) = self.jobs.get(&job.id).await.map_err(JobError::from)? {
            record.create_time = existing.create_time;
        }
        record.apply(Outcome::Failed(error), Utc::now());
        self.reject(record).await
    }
}

/// A failure reported by the state machine (`{"Error", "Cause"}` of a
/// Catch) as the job's error: the cause a step gave when it was one of
/// ours (`CODE: message`, as the Lambda's `errorMessage` in a JSON
/// `Cause`), else the state machine's own words.
pub fn failure(error: &str, cause: &str) -> JobError {
    let text = serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| cause.to_owned());
    if let Some((code, message)) = text.split_once(": ") {
        if let Ok(code) =
            serde_json::from_value::<ErrorCode>(serde_json::Value::String(code.to_owned()))
        {
            return JobError::permanent(code, message.to_owned());
        }
    }
    let cause = text;
    let text = if cause.is_empty() {
        error.to_owned()
    } else {
        format!("{error}: {cause}")
    };
    JobError::permanent(
        ErrorCode::InternalError,
        format!("a step of the long job failed: {text}"),
    )
}
