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
    CapabilityOutput, Context, DynCapability, Joined, OutputSink, ParsedParams, Passes,
};
use crate::domain::{ErrorCode, JobError, Span};
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

/// The segments of a job already run elsewhere, for its join.
#[derive(Clone)]
pub struct Prepared {
    /// Where the input is read from (its audio, for the join).
    pub input_url: String,
    /// The segments, in time order.
    pub parts: Vec<PreparedPart>,
    /// Joins the segments' videos.
    pub segmenter: Arc<dyn Segmenter>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

/// One segment run elsewhere: its files and its result.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPart {
    /// The files it wrote, in the order it planned them.
    pub files: Vec<PreparedFile>,
    /// Its result ([`crate::capability::PartOutput::json`]).
    pub result: serde_json::Value,
}

/// A file a segment run elsewhere wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedFile {
    /// The location of the joined file.
    pub location: crate::domain::MediaLocation,
    /// Where the segment's file is read from (a presigned URL).
    pub url: String,
    /// Its MIME type.
    pub content_type: String,
}

/// Joins segments run elsewhere into files planned in `sink` (their
/// videos read through their URLs, the audio through the input's) and
/// merges their results.
///
/// # Errors
/// `InternalError` when the segments' files or results do not fit
/// together; media errors reading them.
pub fn join_prepared(
    capability: &dyn DynCapability,
    params: &ParsedParams,
    sink: &mut OutputSink,
    ctx: &Context,
    prepared: &Prepared,
) -> Result<CapabilityOutput, JobError> {
    let parts = prepared
        .parts
        .iter()
        .map(|p| capability.part_from_json(&p.result))
        .collect::<Result<Vec<_>, _>>()?;
    let files = prepared
        .parts
        .iter()
        .map(|p| {
            p.files
                .iter()
                .map(|f| {
                    Ok(crate::capability::ProducedFile {
                        local: PathBuf::from(&f.url),
                        location: f.location.clone(),
                        content_type: video_type(&f.content_type).ok_or_else(|| {
                            internal(format!(
                                "{} ({}) cannot be joined from segments",
                                f.location, f.content_type
                            ))
                        })?,
                    })
                })
                .collect::<Result<Vec<_>, JobError>>()
        })
        .collect::<Result<Vec<_>, JobError>>()?;
    let input = PathBuf::from(&prepared.input_url);
    let joined = join_files(&files, &input, sink, prepared.segmenter.as_ref())?;
    capability.merge(params, parts, &joined, sink, ctx)
}

/// The MIME types of the videos segments write.
fn video_type(content_type: &str) -> Option<&'static str> {
    ["video/mp4", "video/webm", "video/quicktime"]
        .into_iter()
        .find(|t| *t == content_type)
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
    if capability.plan_warm_up_s(params).is_none() {
        return capability.run(input, params, sink, ctx);
    }
    let original = params;
    // What needs the whole input is decided once; the decision may leave
    // nothing to split (no logo: the source as it is).
    let decided;
    let params = match capability.decide(input, params, ctx)? {
        Some(decision) => {
            decided = capability.decided(params, &decision)?;
            &decided
        }
        None => params,
    };
    let Some(warm_up_s) = capability.plan_warm_up_s(params) else {
        return capability.run(input, params, sink, ctx);
    };
    let spans = segments
        .segmenter
        .plan(input, &ctx.limits, segments.parts, warm_up_s)?;
    if spans.len() < 2 {
        return capability.run(input, params, sink, ctx);
    }
    let gathering = usize::from(capability.gathers(params).is_some());
    let passes = Arc::new(Passes::new(
        ctx.progress.clone(),
        &vec![1000; spans.len() * (1 + gathering)],
    ));
    let settled;
    let params = if gathering == 1 {
        // A first fan-out reads every segment; the decision is made from
        // all of them, then the segments are worked on with it.
        let readings = each_span(&spans, segments.workers, ctx, &passes, 0, |_, part_ctx| {
            capability.read_span(input, params, part_ctx)
        })?;
        let decision = capability.settle(params, readings)?;
        settled = capability.decided(original, &decision)?;
        if capability.split(&settled).warm_up_s().is_none() {
            return capability.run(input, &settled, sink, ctx);
        }
        &settled
    } else {
        params
    };
    let sinks = (0..spans.len())
        .map(|i| Ok(Mutex::new(sink.part(i)?)))
        .collect::<Result<Vec<Mutex<OutputSink>>, JobError>>()?;
    let offset = spans.len() * gathering;
    let parts = each_span(
        &spans,
        segments.workers,
        ctx,
        &passes,
        offset,
        |i, part_ctx| {
            let mut part_sink = sinks[i]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            capability.run_part(input, params, &mut part_sink, part_ctx)
        },
    )?;
    let sinks: Vec<_> = sinks
        .into_iter()
        .map(|s| {
            s.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .into_files()
        })
        .collect();
    let joined = join_files(&sinks, input, sink, segments.segmenter.as_ref())?;
    capability.merge(params, parts, &joined, sink, ctx)
}

/// Runs `work` on every span on `workers` threads, each segment with its
/// span in its context and its own progress pass (`first_pass` + its
/// index); the results in time order.
///
/// # Errors
/// The first error of a segment (the others are told to stop).
fn each_span<T: Send>(
    spans: &[Span],
    workers: usize,
    ctx: &Context,
    passes: &Arc<Passes>,
    first_pass: usize,
    work: impl Fn(usize, &Context) -> Result<T, JobError> + Sync,
) -> Result<Vec<T>, JobError> {
    let slots: Vec<Mutex<Option<T>>> = spans.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<JobError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, spans.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let (Some(span), Some(slot)) = (spans.get(i), slots.get(i)) else {
                    return;
                };
                if ctx.cancelled() {
                    return;
                }
                let part_ctx = Context {
                    progress: passes.pass(first_pass + i),
                    span: Some(*span),
                    ..ctx.clone()
                };
                match work(i, &part_ctx) {
                    Ok(out) => {
                        *slot
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(out);
                    }
                    Err(e) => {
                        // The job fails with this cause (noted before the
                        // others are told to stop, whose errors would only
                        // say they were stopped).
                        failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get_or_insert(e);
                        ctx.cancel.store(true, Ordering::Relaxed);
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
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .ok_or_else(|| {
                    JobError::permanent(
                        ErrorCode::Timeout,
                        "the job was stopped before all its segments ran",
                    )
                })
        })
        .collect()
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
        for local in locals.iter().filter(|l| l.is_file()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{Capability, Report, Split};
    use crate::domain::{FunctionName, Limits, OutputTemplate, Span};

    /// Writes one "video" holding its span's start; fails on a segment
    /// starting at `fail_at`.
    struct Spans {
        fail_at: Option<f64>,
    }

    impl Capability for Spans {
        type Params = ();
        type Output = Vec<f64>;

        fn function(&self) -> FunctionName {
            FunctionName::VideoGreenScreenMatting
        }

        fn parse(&self, _: &serde_json::Value) -> Result<(), JobError> {
            Ok(())
        }

        fn run(
            &self,
            _: &Path,
            _: &(),
            sink: &mut OutputSink,
            ctx: &Context,
        ) -> Result<Report<Vec<f64>>, JobError> {
            let start = ctx.span.map_or(-1.0, |s| s.start_s);
            if self.fail_at == Some(start) {
                return Err(JobError::permanent(
                    ErrorCode::InvalidMedia,
                    format!("damaged at {start}"),
                ));
            }
            let file = sink.plan("matte", "mp4", "video/mp4", false)?;
            std::fs::write(&file.local, start.to_string()).map_err(|e| internal(e.to_string()))?;
            Ok(Report {
                message: String::new(),
                result: vec![start],
            })
        }

        fn split(&self, _: &()) -> Split {
            Split::Frames { warm_up_s: 0.5 }
        }

        fn merge(
            &self,
            _: &(),
            parts: Vec<Report<Vec<f64>>>,
            joined: &[Joined],
        ) -> Result<Report<Vec<f64>>, JobError> {
            Ok(Report {
                message: format!("{} joined", joined.len()),
                result: parts.into_iter().flat_map(|p| p.result).collect(),
            })
        }
    }

    /// Cuts every 10 s of a 35-s input; joins by concatenating bytes.
    struct Cuts;

    impl Segmenter for Cuts {
        fn duration(&self, _: &Path, _: &Limits) -> Result<f64, JobError> {
            Ok(35.0)
        }

        fn plan(
            &self,
            _: &Path,
            _: &Limits,
            parts: usize,
            warm: f64,
        ) -> Result<Vec<Span>, JobError> {
            Ok((0..parts.min(4))
                .map(|i| {
                    let end = if i + 1 < parts.min(4) {
                        10.0 * (i + 1) as f64
                    } else {
                        f64::INFINITY
                    };
                    Span::new(10.0 * i as f64, end, warm)
                })
                .collect())
        }

        fn join(
            &self,
            parts: &[PathBuf],
            _: &Path,
            output: &Path,
            _: &str,
        ) -> Result<(u64, f64), JobError> {
            let mut all = String::new();
            for p in parts {
                all += &std::fs::read_to_string(p).map_err(|e| internal(e.to_string()))?;
                all.push(' ');
            }
            std::fs::write(output, all).map_err(|e| internal(e.to_string()))?;
            Ok((parts.len() as u64, 35.0))
        }
    }

    fn run_spans(
        fail_at: Option<f64>,
        parts: usize,
    ) -> (
        Result<CapabilityOutput, JobError>,
        Vec<crate::capability::ProducedFile>,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let template =
            OutputTemplate::parse(&format!("{}/", dir.path().display())).expect("template");
        let mut sink = OutputSink::new(dir.path(), template, "clip", 0, "job");
        let capability = Spans { fail_at };
        let params = DynCapability::parse(&capability, &serde_json::Value::Null).expect("params");
        let segments = Segments {
            parts,
            workers: 2,
            segmenter: Arc::new(Cuts),
        };
        let out = run(
            &capability,
            Path::new("in.mp4"),
            &params,
            &mut sink,
            &Context::default(),
            &segments,
        );
        let files = sink.into_files();
        for f in &files {
            assert!(f.local.exists() || out.is_err(), "{f:?}");
        }
        let joined: Vec<String> = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(&f.local).ok())
            .collect();
        if out.is_ok() && parts == 4 {
            assert_eq!(joined, vec!["0 10 20 30 ".to_owned()]);
        }
        (out, files)
    }

    #[test]
    fn segments_run_on_their_spans_and_merge_in_time_order() {
        let (out, files) = run_spans(None, 4);
        let out = out.expect("split run");
        assert_eq!(out.data, serde_json::json!([0.0, 10.0, 20.0, 30.0]));
        assert_eq!(out.message, "1 joined");
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn one_segment_is_a_whole_run() {
        let (out, _) = run_spans(None, 1);
        assert_eq!(out.expect("whole run").data, serde_json::json!([-1.0]));
    }

    #[test]
    fn a_failed_segment_fails_the_job_with_its_cause() {
        let (out, _) = run_spans(Some(20.0), 4);
        let e = out.expect_err("a segment failed");
        assert_eq!(e.code, ErrorCode::InvalidMedia);
        assert!(e.message.contains("damaged at 20"), "{}", e.message);
    }

    /// Gathers every segment's start, settles on their sum, then writes
    /// each segment's start and the sum; nothing to split when the sum is
    /// `nothing_at`.
    struct Gathers {
        nothing_at: f64,
    }

    /// `Gathers`' params: the settled sum, once decided.
    #[derive(Clone)]
    struct Sum(Option<f64>);

    impl Capability for Gathers {
        type Params = Sum;
        type Output = Vec<f64>;

        fn function(&self) -> FunctionName {
            FunctionName::VideoDetext
        }

        fn parse(&self, _: &serde_json::Value) -> Result<Sum, JobError> {
            Ok(Sum(None))
        }

        fn run(
            &self,
            _: &Path,
            sum: &Sum,
            sink: &mut OutputSink,
            ctx: &Context,
        ) -> Result<Report<Vec<f64>>, JobError> {
            let start = ctx.span.map_or(-1.0, |s| s.start_s);
            let file = sink.plan("clean", "mp4", "video/mp4", false)?;
            std::fs::write(&file.local, start.to_string()).map_err(|e| internal(e.to_string()))?;
            Ok(Report {
                message: String::new(),
                result: vec![start, sum.0.unwrap_or(-1.0)],
            })
        }

        fn split(&self, sum: &Sum) -> Split {
            if sum.0 == Some(self.nothing_at) {
                Split::Whole
            } else {
                Split::Frames { warm_up_s: 0.0 }
            }
        }

        fn gathers(&self, sum: &Sum) -> Option<f64> {
            sum.0.is_none().then_some(1.0)
        }

        fn read_span(
            &self,
            _: &Path,
            _: &Sum,
            ctx: &Context,
        ) -> Result<serde_json::Value, JobError> {
            Ok(serde_json::json!(ctx.span.map_or(-1.0, |s| s.start_s)))
        }

        fn settle(
            &self,
            _: &Sum,
            readings: Vec<serde_json::Value>,
        ) -> Result<serde_json::Value, JobError> {
            let sum: f64 = readings.iter().filter_map(serde_json::Value::as_f64).sum();
            Ok(serde_json::json!({ "Sum": sum }))
        }

        fn decided(&self, _: &Sum, decision: &serde_json::Value) -> Result<Sum, JobError> {
            Ok(Sum(decision["Sum"].as_f64()))
        }

        fn merge(
            &self,
            _: &Sum,
            parts: Vec<Report<Vec<f64>>>,
            _: &[Joined],
        ) -> Result<Report<Vec<f64>>, JobError> {
            Ok(Report {
                message: String::new(),
                result: parts.into_iter().flat_map(|p| p.result).collect(),
            })
        }
    }

    fn run_gathers(nothing_at: f64) -> Result<CapabilityOutput, JobError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let template =
            OutputTemplate::parse(&format!("{}/", dir.path().display())).expect("template");
        let mut sink = OutputSink::new(dir.path(), template, "clip", 0, "job");
        let capability = Gathers { nothing_at };
        let params = DynCapability::parse(&capability, &serde_json::Value::Null).expect("params");
        let segments = Segments {
            parts: 4,
            workers: 2,
            segmenter: Arc::new(Cuts),
        };
        run(
            &capability,
            Path::new("in.mp4"),
            &params,
            &mut sink,
            &Context::default(),
            &segments,
        )
    }

    #[test]
    fn a_gathered_decision_is_made_from_every_segment_before_any_is_worked_on() {
        // Every segment read (0 + 10 + 20 + 30), then each worked with the
        // sum.
        let out = run_gathers(-5.0).expect("split run");
        assert_eq!(
            out.data,
            serde_json::json!([0.0, 60.0, 10.0, 60.0, 20.0, 60.0, 30.0, 60.0])
        );
        // A decision that leaves nothing to split runs whole, with it.
        let whole = run_gathers(60.0).expect("whole run");
        assert_eq!(whole.data, serde_json::json!([-1.0, 60.0]));
    }
}
