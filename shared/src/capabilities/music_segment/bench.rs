//! `iprod bench music-segment DIR`: MusicSegmentDetect against annotated songs.
//!
//! For each `<name>.chorus.lab` (`start end label` per line) with its audio
//! (in DIR or `--audio`): whether a detected chorus starts within 3 s of
//! each annotated chorus and overlaps it by at least half (hit rate), the
//! share of detected choruses that overlap an annotated one by at least
//! half of their length (precision), and the share of annotated section
//! boundaries (`<name>.sections*.lab`) with a detected boundary within
//! 0.5 s and 3 s; plus wall time. With `--tuned IDS`, means are also
//! given for the songs the constants were chosen on and for the rest;
//! with `--out DIR`, each song's result is kept as `<name>.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::capabilities::beat_detection::api::BeatDetectionParams;
use crate::capabilities::music_segment::analyse;
use crate::capabilities::music_segment::api::MusicSegmentParams;
use crate::capabilities::Context;

const AUDIO: [&str; 7] = ["flac", "wav", "mp3", "ogg", "m4a", "aac", "mp4"];

fn read_lab(path: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let a = parts.next()?.parse().ok()?;
            let b = parts.next()?.parse().ok()?;
            Some((a, b))
        })
        .collect()
}

fn overlap(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0.0)
}

/// Whether some detected chorus starts within 3 s of some annotated one
/// (the per-song measure peers such as pychorus report).
pub fn song_hit(truth: &[(f64, f64)], found: &[(f64, f64)]) -> bool {
    found
        .iter()
        .any(|f| truth.iter().any(|t| (f.0 - t.0).abs() <= 3.0))
}

/// Chorus hit rate and precision of `found` against `truth`.
pub fn chorus_scores(truth: &[(f64, f64)], found: &[(f64, f64)]) -> (f64, f64) {
    let hits = truth
        .iter()
        .filter(|&&t| {
            found
                .iter()
                .any(|&f| (f.0 - t.0).abs() <= 3.0 && overlap(f, t) >= 0.5 * (t.1 - t.0))
        })
        .count();
    let correct = found
        .iter()
        .filter(|&&f| truth.iter().any(|&t| overlap(f, t) >= 0.5 * (f.1 - f.0)))
        .count();
    (
        hits as f64 / truth.len().max(1) as f64,
        if found.is_empty() {
            0.0
        } else {
            correct as f64 / found.len() as f64
        },
    )
}

/// Share of `truth` boundaries with one of `found` within `window` s.
pub fn boundary_hits(truth: &[f64], found: &[f64], window: f64) -> f64 {
    let hits = truth
        .iter()
        .filter(|&&t| found.iter().any(|&f| (f - t).abs() <= window))
        .count();
    hits as f64 / truth.len().max(1) as f64
}

fn boundaries(sections: &[(f64, f64)]) -> Vec<f64> {
    let mut b: Vec<f64> = sections.iter().map(|s| s.0).collect();
    if let Some(last) = sections.last() {
        b.push(last.1);
    }
    b
}

/// How [`run`] runs.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Folder with the audio, when not beside the annotations.
    pub audio_dir: Option<&'a Path>,
    /// Keep each song's result here as `<name>.json`.
    pub keep: Option<&'a Path>,
    /// Ids of the songs the constants were chosen on (comma-separated;
    /// a song matches when its name ends with `_<id>` or is `<id>`).
    pub tuned: Option<&'a str>,
    /// The interpreter with the peers (pychorus, librosa).
    pub python: &'a Path,
    /// The peer script.
    pub script: &'a Path,
}

/// Whether the song `name` is one of the comma-separated `ids`.
pub fn is_tuned(name: &str, ids: &str) -> bool {
    ids.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .any(|id| name == id || name.ends_with(&format!("_{id}")))
}

/// Runs the benchmark and prints a table, then the peers' (run by
/// `script` with `python`) when that interpreter exists.
///
/// # Errors
/// When a song cannot be analysed or the peer script fails.
pub fn run(dir: &Path, opts: &Options<'_>) -> anyhow::Result<()> {
    let Options {
        audio_dir,
        keep,
        tuned,
        python,
        script,
    } = *opts;
    if let Some(keep) = keep {
        std::fs::create_dir_all(keep)?;
    }
    let mut labs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".chorus.lab"))
        .collect();
    labs.sort();
    anyhow::ensure!(
        !labs.is_empty(),
        "no .chorus.lab files in {}",
        dir.display()
    );
    let params = MusicSegmentParams {
        beats: BeatDetectionParams::default(),
    };
    println!("iprod MusicSegmentDetect");
    println!(
        "{:<14} {:>6} {:>6} {:>6} {:>8} {:>8} {:>7}",
        "song", "hit@3s", "song", "prec", "bnd0.5s", "bnd3s", "time s"
    );
    let mut rows = Vec::new();
    for lab in &labs {
        let name = lab
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .trim_end_matches(".chorus.lab")
            .to_owned();
        let candidates: Vec<PathBuf> = AUDIO
            .iter()
            .flat_map(|ext| {
                [Some(dir), audio_dir]
                    .into_iter()
                    .flatten()
                    .map(|d| d.join(format!("{name}.{ext}")))
                    .collect::<Vec<_>>()
            })
            .collect();
        let Some(audio) = candidates.into_iter().find(|p| p.exists()) else {
            eprintln!("{name}: no audio found, skipped");
            continue;
        };
        let start = Instant::now();
        let result = analyse(&audio, &params, &Context::default())
            .map_err(|e| anyhow::anyhow!("{}: {}", audio.display(), e.message))?;
        let seconds = start.elapsed().as_secs_f64();
        if let Some(keep) = keep {
            std::fs::write(
                keep.join(format!("{name}.json")),
                serde_json::to_string_pretty(&result)?,
            )?;
        }
        let found: Vec<(f64, f64)> = result
            .chorus_list
            .iter()
            .map(|c| (c.start, c.end))
            .collect();
        let truth = read_lab(lab);
        let (hit, precision) = chorus_scores(&truth, &found);
        let song = if song_hit(&truth, &found) { 1.0 } else { 0.0 };
        let ours: Vec<f64> = boundaries(
            &result
                .sections
                .iter()
                .map(|s| (s.start, s.end))
                .collect::<Vec<_>>(),
        );
        let mut b05 = Vec::new();
        let mut b3 = Vec::new();
        for k in 1..=2 {
            let path = dir.join(format!("{name}.sections{k}.lab"));
            if path.exists() {
                let truth = boundaries(&read_lab(&path));
                b05.push(boundary_hits(&truth, &ours, 0.5));
                b3.push(boundary_hits(&truth, &ours, 3.0));
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let row = [hit, song, precision, mean(&b05), mean(&b3), seconds];
        println!(
            "{:<14} {:>6.2} {:>6.2} {:>6.2} {:>8.2} {:>8.2} {:>7.3}",
            name, row[0], row[1], row[2], row[3], row[4], row[5]
        );
        rows.push((name, row));
    }
    let mean_row = |label: &str, pick: &dyn Fn(&str) -> bool| {
        let chosen: Vec<&[f64; 6]> = rows.iter().filter(|r| pick(&r.0)).map(|r| &r.1).collect();
        let n = chosen.len().max(1) as f64;
        let column = |i: usize| chosen.iter().map(|r| r[i]).sum::<f64>();
        println!(
            "{:<14} {:>6.2} {:>6.2} {:>6.2} {:>8.2} {:>8.2} {:>7.3}",
            format!("{label} ({})", chosen.len()),
            column(0) / n,
            column(1) / n,
            column(2) / n,
            column(3) / n,
            column(4) / n,
            column(5)
        );
    };
    mean_row("mean", &|_| true);
    if let Some(ids) = tuned {
        mean_row("tuned", &|name| is_tuned(name, ids));
        mean_row("held out", &|name| !is_tuned(name, ids));
    }
    if !python.exists() {
        println!(
            "peer skipped: {} not found (run scripts/bench-music)",
            python.display()
        );
        return Ok(());
    }
    let mut peer = std::process::Command::new(python);
    peer.arg(script).arg(dir).arg(audio_dir.unwrap_or(dir));
    if let Some(ids) = tuned {
        peer.args(["--tuned", ids]);
    }
    let status = peer.status()?;
    anyhow::ensure!(status.success(), "the peer script failed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chorus_hits_when_it_starts_near_and_overlaps_half() {
        let truth = [(24.0, 45.0), (77.0, 98.0)];
        assert_eq!(
            chorus_scores(&truth, &[(25.0, 44.0), (77.5, 98.0)]),
            (1.0, 1.0)
        );
        assert_eq!(chorus_scores(&truth, &[(28.0, 44.0)]).0, 0.0);
        let (hit, precision) = chorus_scores(&truth, &[(24.0, 45.0), (120.0, 140.0)]);
        assert_eq!((hit, precision), (0.5, 0.5));
        assert_eq!(boundary_hits(&[10.0, 20.0], &[10.4, 25.0], 0.5), 0.5);
    }

    #[test]
    fn tuned_ids_match_the_end_of_a_song_name() {
        assert!(is_tuned("pop909_011", "013, 011"));
        assert!(is_tuned("011", "011"));
        assert!(!is_tuned("pop909_0110", "011"));
        assert!(!is_tuned("pop909_012", "011,"));
    }
}
