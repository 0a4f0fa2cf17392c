//! Helpers for the integration tests: a real moto server (S3, SQS, SNS on
//! one port), a per-test [`World`] of buckets, queues and topic wired the
//! way `template.yaml` wires them, a Lambda runtime API emulator that runs
//! the real function binaries, and fixtures whose truth is known.

use std::path::{Path, PathBuf};

pub mod fixtures;
pub mod runtime_api;
mod server;
mod world;

pub use fixtures::{faces, fixture, frame_at, media, music, screens, song, subtitles};
pub use server::{endpoint, unique};
pub use world::{World, REGION};

/// Runs `capability` on `input` with `params` (checked first) into the
/// folder `out`; returns the output and the local path of each file it
/// planned, in order.
///
/// # Errors
/// The capability's error; `InternalError` when `out` cannot be made.
pub fn run_capability(
    capability: &dyn iprod::capabilities::Capability,
    input: &Path,
    params: &serde_json::Value,
    out: &Path,
    ctx: &iprod::capabilities::Context,
) -> Result<(iprod::capabilities::CapabilityOutput, Vec<PathBuf>), iprod::domain::JobError> {
    use iprod::domain::{ErrorCode, JobError, OutputTemplate};
    let internal =
        |e: &dyn std::fmt::Display| JobError::permanent(ErrorCode::InternalError, e.to_string());
    std::fs::create_dir_all(out).map_err(|e| internal(&e))?;
    let template =
        OutputTemplate::parse(&format!("{}/", out.display())).map_err(|e| internal(&e))?;
    let mut sink = iprod::capabilities::OutputSink::new(out, template, "clip", 0, "job");
    capability.check(params)?;
    let output = capability.run(input, params, &mut sink, ctx)?;
    Ok((
        output,
        sink.into_files().into_iter().map(|f| f.local).collect(),
    ))
}
