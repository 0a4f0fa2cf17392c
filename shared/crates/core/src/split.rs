//! A job run in segments, locally: the input's timeline is cut on
//! keyframes ([`Segmenter::plan`]), each segment runs the capability on a
//! pool of threads, the videos the segments wrote are joined without
//! re-encoding ([`Segmenter::join`]) and their results merged
//! ([`Capability::merge`](crate::capability::Capability::merge)). The
//! state machine of a deployed stack runs the same steps, one Lambda per
//! segment.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::capability::{
    CapabilityOutput, Context, DynCapability, Joined, OutputSink, ParsedParams, PartOutput, Passes,
    Split,
};
use crate::domain::{ErrorCode, JobError};
use crate::ports::Segmenter;

/// How a job is split when it can be.
#[derive(Clone)]
pub struct Segments {
    /// Most segments to cut the input into.
    pub parts: usize,
    /// Segments run at once.
    pub workers: usize,
    /// Cuts and joins.
    pub segmenter: Arc<dyn Segmenter>,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments")
            .field("parts", &self.parts)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// Runs `capability` on `input` in segments as `segments` says when the
/// params allow a split and the input is long enough for two segments,
/// otherwise in one run.
///
/// # Errors
/// The first error of a segment (the others are cancelled), of the join
/// or of the merge.
pub fn run(
    capability: &dyn DynCapability,
    input: &Path,
    params: &ParsedParams,
    sink: &mut OutputSink,
    ctx: &Context,
    segments: &Segments,
) -> Result<CapabilityOutput, JobError> {
    let Split::Frames { warm_up_s } = capability.split(params) else {
        return capability.run(input, params, sink, ctx);
    };
    let spans = segments
        .segmenter
        .plan(input, &ctx.limits, segments.parts, warm_up_s)?;
    if spans.len() < 2 {
        return capability.run(input, params, sink, ctx);
    }
    let passes = Arc::new(Passes::new(ctx.progress.clone(), &vec![1000; spans.len()]));
    let slots = spans
        .iter()
        .enumerate()
        .map(|(i, _)| Ok(Mutex::new((sink.part(i)?, None))))
        .collect::<Result<Vec<Mutex<(OutputSink, Option<PartOutput>)>>, JobError>>()?;
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<JobError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..segments.workers.clamp(1, spans.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let (Some(span), Some(slot)) = (spans.get(i), slots.get(i)) else {
                    return;
                };
                if ctx.cancelled() {
                    return;
                }
                let part_ctx = Context {
                    progress: passes.pass(i),
                    span: Some(*span),
                    ..ctx.clone()
                };
                let mut slot = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let (part_sink, output) = &mut *slot;
                match capability.run_part(input, params, part_sink, &part_ctx) {
                    Ok(out) => *output = Some(out),
                    Err(e) => {
                        // The job fails: the other segments stop.
                        ctx.cancel.store(true, Ordering::Relaxed);
                        let mut first = failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        first.get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(e);
    }
    let mut parts = Vec::with_capacity(slots.len());
    let mut sinks = Vec::with_capacity(slots.len());
    for slot in slots {
        let (part_sink, output) = slot
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        parts.push(output.ok_or_else(|| {
            JobError::permanent(
                ErrorCode::Timeout,
                "the job was stopped before all its segments ran",
            )
        })?);
        sinks.push(part_sink.into_files());
    }
    let joined = join_files(&sinks, input, sink, segments.segmenter.as_ref())?;
    capability.merge(params, parts, &joined)
}

/// Joins the files each segment wrote, one by one (the same names in
/// every segment), into files planned in `sink`; each segment's file is
/// removed once joined.
fn join_files(
    sinks: &[Vec<crate::capability::ProducedFile>],
    input: &Path,
    sink: &mut OutputSink,
    segmenter: &dyn Segmenter,
) -> Result<Vec<Joined>, JobError> {
    let Some(first) = sinks.first() else {
        return Ok(Vec::new());
    };
    let mut joined = Vec::with_capacity(first.len());
    for (j, file) in first.iter().enumerate() {
        let locals = sinks
            .iter()
            .map(|files| match files.get(j) {
                Some(f) if f.location == file.location => Ok(f.local.clone()),
                _ => Err(internal(format!(
                    "the segments wrote different files (the first wrote {})",
                    file.location
                ))),
            })
            .collect::<Result<Vec<PathBuf>, JobError>>()?;
        if !file.content_type.starts_with("video/") {
            return Err(internal(format!(
                "{} ({}) cannot be joined from segments",
                file.location, file.content_type
            )));
        }
        let target = sink.adopt(file);
        let (frames, duration_s) =
            segmenter.join(&locals, input, &target.local, file.content_type)?;
        for local in &locals {
            let _ = std::fs::remove_file(local);
        }
        joined.push(Joined {
            location: target.location,
            frames,
            duration_s,
        });
    }
    Ok(joined)
}

fn internal(message: String) -> JobError {
    JobError::permanent(ErrorCode::InternalError, message)
}
