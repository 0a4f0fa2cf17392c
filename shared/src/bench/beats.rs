//! `iprod bench beats DIR`: our beat tracker against librosa on annotated
//! audio, or with `--model madmom` our opt-in neural path against madmom
//! itself. Ours runs here (decode + analysis, timed per file; models are
//! opened before the clock starts) and writes its beats;
//! `scripts/bench/beats_peer.py` then runs the peer in the same run and
//! scores both with mir_eval.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;

use crate::capabilities::beats::{to_result, BeatDetection};
use crate::capabilities::Context;
use crate::domain::music::{BeatModel, BeatParams};

const AUDIO: [&str; 7] = ["flac", "wav", "mp3", "ogg", "m4a", "aac", "mp4"];

/// Annotated audio files of `dir`: those with a `<name>.beats` beside them.
pub fn annotated(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| AUDIO.contains(&e.to_ascii_lowercase().as_str()))
                && p.with_extension("beats").exists()
        })
        .collect();
    files.sort();
    files
}

/// Runs the benchmark with `model`; `python` is the interpreter with the
/// peer (librosa, or madmom for the madmom model) and mir_eval, `script`
/// the peer script.
///
/// # Errors
/// When a file cannot be analysed or the peer script fails.
pub fn run(dir: &Path, model: BeatModel, python: &Path, script: &Path) -> anyhow::Result<()> {
    let files = annotated(dir);
    anyhow::ensure!(
        !files.is_empty(),
        "no audio with .beats annotations in {}",
        dir.display()
    );
    let out = tempfile::tempdir().context("creating a work folder")?;
    let mut timing: BTreeMap<String, f64> = BTreeMap::new();
    let params = BeatParams {
        model,
        ..BeatParams::default()
    };
    let ctx = Context::default();
    let detector = BeatDetection::default();
    if model != BeatModel::Default {
        detector.warm_up().map_err(|e| anyhow::anyhow!(e.message))?;
    }
    for file in &files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let start = Instant::now();
        let (track, duration, offset) = detector
            .beats(file, &params, &ctx)
            .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.message))?;
        timing.insert(name.clone(), start.elapsed().as_secs_f64());
        let result = to_result(track.as_ref(), duration, offset, String::new());
        let text: String = result
            .beat_list
            .iter()
            .zip(result.beat_positions.iter())
            .map(|(t, p)| format!("{t:.3}\t{p}\n"))
            .collect();
        std::fs::write(out.path().join(format!("{name}.beats")), text)?;
    }
    std::fs::write(out.path().join("timing.json"), serde_json::to_vec(&timing)?)?;
    let peer = match model {
        BeatModel::Default => "librosa",
        BeatModel::Madmom => "madmom",
    };
    let status = Command::new(python)
        .arg(script)
        .arg(dir)
        .arg(out.path())
        .arg(peer)
        .status()
        .with_context(|| {
            format!(
                "running {} (run scripts/bench-music to set it up)",
                python.display()
            )
        })?;
    anyhow::ensure!(status.success(), "the peer script failed");
    Ok(())
}
