//! The steps of a long job's state machine (`statemachines/long-job.asl.json`),
//! each an invocation of the job's own function with `{"Step": ...}`.
//! What was decided over the whole input before the split (the function
//! that handed the job over kept it as `decision.json` under the job's
//! parts prefix) is read by every step:
//!
//! - `Plan` `{Job}` → `{Job, Segments: [{Index, Span}], Gathers}`: the input's
//!   duration and keyframes, read by ranged GETs, cut into segments of
//!   about `IPROD_SEGMENT_SECONDS`;
//! - `Gather` `{Job, Index, Span}` → `{Index, Done}` (when the Plan says
//!   `Gathers`): one segment read for a decision that needs the whole
//!   input, its readings put under the job's parts prefix;
//! - `Settle` `{Job, Gathered: [{Index, Done}]}` → `{Split}`: the decision
//!   made from every segment's readings and kept as `decision.json`; when
//!   it leaves nothing to split, the job is run here (`Split: false`,
//!   `Jobs`);
//! - `Segment` `{Job, Index, Span}` → `{Index, Done}`: one segment run,
//!   its files and its `{Index, Files, Result}` (`Done`) put under the
//!   job's parts prefix;
//! - `Join` `{Job, Parts: [{Index, Done}]}` → `{Jobs: [record]}`: the
//!   segments' files joined and their results merged, then published, recorded and
//!   notified as any job; the parts removed;
//! - `Fail` `{Job, Error: {Error, Cause}}` → `{Jobs: [record]}`: a step
//!   that failed for good ends the job as `Fail` with its cause, parts
//!   removed, notified once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Handler;
use iprod_core::domain::{ErrorCode, Job, JobError, MediaLocation, Span};
use iprod_core::fanout::{failure, SegmentDone, SegmentRef};
use iprod_core::pipeline::RunOptions;
use iprod_core::ports::{JobStore, Links, Notifier, ObjectStore, Segmenter};
use iprod_core::split::{Prepared, PreparedFile, PreparedPart};

/// How long a step's presigned URLs stay valid.
const URL_LIFE: Duration = Duration::from_secs(6 * 3600);

fn invalid(message: impl Into<String>) -> JobError {
    JobError::permanent(ErrorCode::InvalidMessage, message.into())
}

fn field<T: serde::de::DeserializeOwned>(payload: &Value, key: &str) -> Result<T, JobError> {
    let value = payload
        .get(key)
        .cloned()
        .ok_or_else(|| invalid(format!("the step names no {key}")))?;
    serde_json::from_value(value).map_err(|e| invalid(format!("the step's {key}: {e}")))
}

impl<O: ObjectStore + Links, J: JobStore, N: Notifier> Handler<O, J, N> {
    /// Runs one step of a long job's state machine.
    ///
    /// # Errors
    /// The step's error: Lambda reports it to the state machine, which
    /// retries retryable ones and ends the job through `Fail`.
    pub async fn handle_step(
        &self,
        step: &str,
        payload: Value,
        deadline: Option<Instant>,
    ) -> Result<Value, JobError> {
        let job: Job = field(&payload, "Job")?;
        let options = RunOptions {
            deadline,
            last_attempt: false,
            ..RunOptions::default()
        };
        match step {
            "Plan" => {
                let (spans, gathers) = self.plan_job(&job).await?;
                self.pipeline.keep_plan(&job, &spans).await?;
                let segments: Vec<Value> = spans
                    .iter()
                    .enumerate()
                    .map(|(i, span)| json!({"Index": i, "Span": span}))
                    .collect();
                Ok(json!({"Job": job, "Segments": segments, "Gathers": gathers}))
            }
            "Settle" => {
                let refs: Vec<SegmentRef> = field(&payload, "Gathered")?;
                let readings = self.pipeline.gathered(&job, refs).await?;
                let params = self.capability.parse(&job.params)?;
                let decided = self
                    .pipeline
                    .decided_params(self.capability.as_ref(), &job)
                    .await?;
                let capability = self.capability.clone();
                let decision =
                    tokio::task::spawn_blocking(move || capability.settle(&decided, readings))
                        .await
                        .map_err(|e| {
                            JobError::permanent(ErrorCode::InternalError, format!("settling: {e}"))
                        })??;
                self.pipeline.keep_decision(&job, &decision).await?;
                let settled = self.capability.decided(&params, &decision)?;
                if self.capability.split(&settled).warm_up_s().is_some() {
                    return Ok(json!({"Split": true}));
                }
                // Nothing to split (no caption to take away): the job
                // runs here, with the decision.
                let record = self
                    .pipeline
                    .run(
                        self.capability.clone(),
                        job.clone(),
                        RunOptions {
                            decision: Some(decision),
                            ..options
                        },
                    )
                    .await?;
                self.pipeline.remove_parts(&job).await;
                Ok(json!({"Split": false, "Jobs": [record]}))
            }
            "Gather" | "Segment" => {
                let index: usize = field(&payload, "Index")?;
                let span: Span = field(&payload, "Span")?;
                let url = self.read_url(&job.input).await?;
                let capability = self.capability.clone();
                let done = if step == "Gather" {
                    self.pipeline
                        .run_gather(capability, &job, index, span, url, &options)
                        .await?
                } else {
                    self.pipeline
                        .run_segment(capability, &job, index, span, url, &options)
                        .await?
                };
                serde_json::to_value(done).map_err(|e| {
                    JobError::permanent(
                        ErrorCode::InternalError,
                        format!("serialising a segment: {e}"),
                    )
                })
            }
            "Join" => {
                let refs: Vec<SegmentRef> = field(&payload, "Parts")?;
                let parts = self.pipeline.segments_done(&job, refs).await?;
                let prepared = self.prepared(&job, parts).await?;
                let decision = self.pipeline.decision(&job).await?;
                let record = self
                    .pipeline
                    .run(
                        self.capability.clone(),
                        job.clone(),
                        RunOptions {
                            prepared: Some(prepared),
                            decision,
                            ..options
                        },
                    )
                    .await?;
                self.pipeline.remove_parts(&job).await;
                Ok(json!({"Jobs": [record]}))
            }
            "Fail" => {
                let error = payload.get("Error").cloned().unwrap_or(Value::Null);
                let text = |k: &str| {
                    error
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let record = self
                    .pipeline
                    .fail_fanned(&job, failure(&text("Error"), &text("Cause")))
                    .await?;
                Ok(json!({"Jobs": [record]}))
            }
            other => Err(invalid(format!(
                "unknown Step {other}: Plan, Gather, Settle, Segment, Join or Fail"
            ))),
        }
    }

    fn segmenter(&self) -> Result<Arc<dyn Segmenter>, JobError> {
        self.segmenter.clone().ok_or_else(|| {
            JobError::permanent(
                ErrorCode::UnsupportedFunction,
                format!("{} does not split long media", self.capability.function()),
            )
        })
    }

    async fn read_url(&self, location: &MediaLocation) -> Result<String, JobError> {
        self.pipeline
            .objects
            .download_url(location, URL_LIFE)
            .await
            .map_err(JobError::from)
    }

    /// The segments of `job`'s input, by its duration and keyframes, and
    /// whether a decision is gathered over them first.
    async fn plan_job(&self, job: &Job) -> Result<(Vec<Span>, bool), JobError> {
        let params = self.capability.parse(&job.params)?;
        let params = match self.pipeline.decision(job).await? {
            Some(decision) => self.capability.decided(&params, &decision)?,
            None => params,
        };
        let gathers = self.capability.gathers(&params).is_some();
        let Some(warm_up_s) = self.capability.plan_warm_up_s(&params) else {
            return Ok((vec![Span::new(0.0, f64::INFINITY, 0.0)], false));
        };
        let segmenter = self.segmenter()?;
        let url = self.read_url(&job.input).await?;
        let limits = self.pipeline.settings.limits;
        let segment_s = self.events.segment_s;
        let input = job.input.to_string();
        let shown = url.clone();
        let spans = tokio::task::spawn_blocking(move || {
            segmenter.plan_every(&PathBuf::from(&url), &limits, segment_s, warm_up_s)
        })
        .await
        .map_err(|e| JobError::permanent(ErrorCode::InternalError, format!("planning: {e}")))?
        .map_err(|mut e| {
            // Messages name the user's input, not its presigned URL.
            e.message = e.message.replace(&shown, &input);
            e
        })?;
        Ok((spans, gathers))
    }

    /// What the join needs: the segments' files and the input, by URL.
    async fn prepared(&self, job: &Job, parts: Vec<SegmentDone>) -> Result<Prepared, JobError> {
        let mut prepared = Vec::with_capacity(parts.len());
        let mut bytes = 0u64;
        for part in parts {
            let mut files = Vec::with_capacity(part.files.len());
            for file in &part.files {
                let location = MediaLocation::parse(&file.location, "a segment's file")?;
                let stored = MediaLocation::parse(&file.part, "a segment's file")?;
                if let Some(meta) = self
                    .pipeline
                    .objects
                    .head(&stored)
                    .await
                    .map_err(JobError::from)?
                {
                    bytes = bytes.saturating_add(meta.size);
                }
                files.push(PreparedFile {
                    location,
                    url: self.read_url(&stored).await?,
                    content_type: file.content_type.clone(),
                });
            }
            prepared.push(PreparedPart {
                files,
                result: part.result,
            });
        }
        // The joined file is written whole in the work folder first.
        self.pipeline.fits(bytes, None)?;
        Ok(Prepared {
            input_url: self.read_url(&job.input).await?,
            parts: prepared,
            segmenter: self.segmenter()?,
        })
    }
}
