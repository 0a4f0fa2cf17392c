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
