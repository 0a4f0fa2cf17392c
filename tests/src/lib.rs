//! Helpers for the integration tests: a real moto server (S3, SQS, SNS on
//! one port), a per-test [`World`] of buckets, queues and topic wired the
//! way `template.yaml` wires them, a Lambda runtime API emulator that runs
//! the real function binaries, and fixtures whose truth is known.

use std::path::{Path, PathBuf};

use iprod::capabilities::{Capability, Report};

pub mod fixtures;
pub mod proxy;
pub mod runtime_api;
mod server;
mod world;

pub use fixtures::{faces, fixture, frame_at, media, music, screens, song, subtitles};
pub use server::{endpoint, unique};
pub use world::{World, REGION};

/// A [`iprod::capabilities::Progress`] that keeps every report, to check
/// how a capability's progress moves.
#[derive(Debug, Default)]
pub struct RecordedProgress(std::sync::Mutex<Vec<f64>>);

impl iprod::capabilities::Progress for RecordedProgress {
    fn update(&self, fraction: f64) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(fraction);
    }
}

impl RecordedProgress {
    /// A context reporting to a new recorder, and the recorder.
    pub fn context() -> (iprod::capabilities::Context, std::sync::Arc<Self>) {
        let recorder = std::sync::Arc::new(Self::default());
        let ctx = iprod::capabilities::Context {
            progress: recorder.clone(),
            ..iprod::capabilities::Context::default()
        };
        (ctx, recorder)
    }

    /// Checks that progress only moved forward, in at least `steps`
    /// distinct values, up to at least `last`.
    ///
    /// # Panics
    /// When it did not: this is a test helper.
    #[allow(clippy::panic)]
    pub fn assert_moves_forward(&self, steps: usize, last: f64) {
        let seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(back) = seen.windows(2).find(|w| w[1] < w[0]) {
            panic!(
                "progress moved back from {} to {}: {seen:?}",
                back[0], back[1]
            );
        }
        let mut distinct = seen.clone();
        distinct.dedup();
        assert!(
            distinct.len() >= steps,
            "{} distinct values, wanted {steps}: {seen:?}",
            distinct.len()
        );
        let end = seen.last().copied().unwrap_or(0.0);
        assert!((last..=1.0).contains(&end), "ended at {end}: {seen:?}");
    }

    /// Every report so far, in order.
    pub fn seen(&self) -> Vec<f64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Runs `capability` on `input` with `params` (parsed first, as a job's
/// `JobParams` are) into the folder `out`; returns its report with the typed
/// result and the local path of each file it planned, in order.
///
/// # Errors
/// The capability's error; `InternalError` when `out` cannot be made.
pub fn run_capability<C: Capability>(
    capability: &C,
    input: &Path,
    params: &serde_json::Value,
    out: &Path,
    ctx: &iprod::capabilities::Context,
) -> Result<(Report<C::Output>, Vec<PathBuf>), iprod::domain::JobError> {
    use iprod::domain::{ErrorCode, JobError, OutputTemplate};
    let internal =
        |e: &dyn std::fmt::Display| JobError::permanent(ErrorCode::InternalError, e.to_string());
    std::fs::create_dir_all(out).map_err(|e| internal(&e))?;
    let template =
        OutputTemplate::parse(&format!("{}/", out.display())).map_err(|e| internal(&e))?;
    let mut sink = iprod::capabilities::OutputSink::new(out, template, "clip", 0, "job");
    let params = capability.parse(params)?;
    let report = capability.run(input, &params, &mut sink, ctx)?;
    Ok((
        report,
        sink.into_files().into_iter().map(|f| f.local).collect(),
    ))
}

/// Runs `capability` with `params` on `input` into `out`, in up to
/// `parts` segments on two threads when given (as `iprod run --segments`),
/// else in one pass: the output and the local files written.
///
/// # Errors
/// The job's error.
pub fn run_split(
    capability: &dyn iprod::capabilities::DynCapability,
    input: &Path,
    params: &serde_json::Value,
    out: &Path,
    parts: Option<usize>,
) -> Result<(iprod::capabilities::CapabilityOutput, Vec<PathBuf>), iprod::domain::JobError> {
    use iprod::domain::{ErrorCode, JobError, OutputTemplate};
    std::fs::create_dir_all(out)
        .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))?;
    let template = OutputTemplate::parse(&format!("{}/", out.display()))?;
    let mut sink = iprod::capabilities::OutputSink::new(out, template, "clip", 0, "job");
    let parsed = capability.parse(params)?;
    let ctx = iprod::capabilities::Context::default();
    let output = match parts {
        Some(parts) => iprod::split::run(
            capability,
            input,
            &parsed,
            &mut sink,
            &ctx,
            &iprod::split::Segments {
                parts,
                workers: 2,
                segmenter: std::sync::Arc::new(iprod::media::join::FfmpegSegmenter),
            },
        )?,
        None => capability.run(input, &parsed, &mut sink, &ctx)?,
    };
    Ok((
        output,
        sink.into_files().into_iter().map(|f| f.local).collect(),
    ))
}

/// `ffprobe -show_format -show_streams` of `path` as JSON, with `extra`
/// arguments (e.g. `-count_frames`).
///
/// # Errors
/// When ffprobe fails or prints no JSON.
pub fn probe(path: &Path, extra: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .args(extra)
        .arg(path)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}
