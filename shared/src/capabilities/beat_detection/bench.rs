//! `iprod bench beat-detection DIR`: our beat tracker against librosa on annotated
//! audio, or with `--model madmom` our opt-in neural path against madmom
//! itself. Ours runs here (decode + analysis, timed per file; models are
//! opened before the clock starts) and writes its beats;
//! `scripts/bench/beats_peer.py` then runs the peer in the same run and
//! scores both with mir_eval. With `--excerpt S`, every file is cut into
//! consecutive S-second excerpts, each analysed on its own by both (the
//! 30-s clips of GTZAN-style datasets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;

use crate::capabilities::beat_detection::api::{
    BeatDetectionParams, BeatDetectionResult, BeatModel,
};
use crate::capabilities::beat_detection::{to_result, BeatDetection};
use crate::capabilities::Context;

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

/// How [`run`] runs.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Our method.
    pub model: BeatModel,
    /// Cut files into excerpts of this many seconds.
    pub excerpt: Option<f64>,
    /// Keep our beats and timings in this folder (its `.beats` files are
    /// replaced).
    pub keep: Option<&'a Path>,
    /// The interpreter with the peer (librosa, or madmom for the madmom
    /// model) and mir_eval.
    pub python: &'a Path,
    /// With the default model: an interpreter with madmom, which then
    /// joins the run as a second peer.
    pub madmom_python: Option<&'a Path>,
    /// Ids of the files the constants were chosen on.
    pub tuned: Option<&'a str>,
    /// The peer script.
    pub script: &'a Path,
}

/// Runs the benchmark on the annotated audio of `dir`.
///
/// # Errors
/// When a file cannot be analysed or a peer script fails.
pub fn run(dir: &Path, opts: &Options<'_>) -> anyhow::Result<()> {
    let Options {
        model,
        excerpt,
        keep,
        python,
        madmom_python,
        tuned,
        script,
    } = *opts;
    let files = annotated(dir);
    anyhow::ensure!(
        !files.is_empty(),
        "no audio with .beats annotations in {}",
        dir.display()
    );
    let work = tempfile::tempdir().context("creating a work folder")?;
    let out = match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            // Beats left by an earlier run would be scored with these.
            for stale in std::fs::read_dir(dir)?.flatten().map(|e| e.path()) {
                if stale.extension().is_some_and(|e| e == "beats") {
                    std::fs::remove_file(&stale)
                        .with_context(|| format!("removing {}", stale.display()))?;
                }
            }
            dir
        }
        None => work.path(),
    };
    let mut timing: BTreeMap<String, f64> = BTreeMap::new();
    if let Some(len) = excerpt {
        anyhow::ensure!(
            len >= 10.0,
            "excerpts shorter than 10 s leave nothing to score (mir_eval skips the first 5 s)"
        );
    }
    let ctx = Context::default();
    let detector = BeatDetection::default();
    if model != BeatModel::Default {
        detector.warm_up().map_err(|e| anyhow::anyhow!(e.message))?;
    }
    for file in &files {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        // Whole files, or (name@start, start, end) for each excerpt that
        // the annotations cover.
        let pieces: Vec<(String, Option<f64>, Option<f64>)> = match excerpt {
            None => vec![(stem.clone(), None, None)],
            Some(len) => {
                let last = last_annotated(&file.with_extension("beats"))?;
                (0..)
                    .map(|k| f64::from(k) * len)
                    .take_while(|s| s + len <= last)
                    .map(|s| (format!("{stem}@{s}"), Some(s), Some(s + len)))
                    .collect()
            }
        };
        for (name, start_time, end_time) in pieces {
            let params = BeatDetectionParams {
                model,
                start_time,
                end_time,
                ..BeatDetectionParams::default()
            };
            let start = Instant::now();
            let beats = detector
                .beats(file, &params, &ctx)
                .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.message))?;
            timing.insert(name.clone(), start.elapsed().as_secs_f64());
            write_beats(
                out,
                &name,
                &to_result(
                    beats.track.as_ref(),
                    beats.duration,
                    beats.offset,
                    String::new(),
                ),
            )?;
        }
    }
    std::fs::write(out.join("timing.json"), serde_json::to_vec(&timing)?)?;
    let peer = match model {
        BeatModel::Default => "librosa",
        BeatModel::Madmom => "madmom",
    };
    let excerpt = excerpt.unwrap_or(0.0).to_string();
    let mut extra: Vec<String> = Vec::new();
    if let (BeatModel::Default, Some(madmom)) = (model, madmom_python) {
        let saved = work.path().join("madmom");
        let saved = saved.to_string_lossy().into_owned();
        peer_script(
            madmom,
            script,
            &[dir.as_os_str(), out.as_os_str()],
            &["madmom", &excerpt, "--save", &saved],
        )?;
        extra.extend(["--with".to_owned(), format!("madmom={saved}")]);
    }
    if let Some(ids) = tuned {
        extra.extend(["--tuned".to_owned(), ids.to_owned()]);
    }
    let mut args: Vec<&str> = vec![peer, &excerpt];
    args.extend(extra.iter().map(String::as_str));
    peer_script(python, script, &[dir.as_os_str(), out.as_os_str()], &args)
}

/// Runs the peer script with `python`.
fn peer_script(
    python: &Path,
    script: &Path,
    paths: &[&std::ffi::OsStr],
    args: &[&str],
) -> anyhow::Result<()> {
    let status = Command::new(python)
        .arg(script)
        .args(paths)
        .args(args)
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

/// The time of the last beat in an annotation file.
fn last_annotated(path: &Path) -> anyhow::Result<f64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .fold(0.0, f64::max))
}

/// Writes `<name>.beats`: `time<TAB>position` per beat.
fn write_beats(dir: &Path, name: &str, result: &BeatDetectionResult) -> anyhow::Result<()> {
    let text: String = result
        .beat_list
        .iter()
        .zip(result.beat_positions.iter())
        .map(|(t, p)| format!("{t:.3}\t{p}\n"))
        .collect();
    std::fs::write(dir.join(format!("{name}.beats")), text)?;
    Ok(())
}
