//! `iprod bench caption-extraction DIR`: CaptionExtraction against videos with the
//! subtitle file that was burned into them (`<name>.srt` beside
//! `<name>.mp4`).
//!
//! Per video: character error rate over the matched text (whitespace and
//! punctuation removed for Chinese, lower-cased for English), word error
//! rate for English, the share of true cues timed right (best-matching
//! found cue by time IoU ≥ 0.5 with start and end within 0.25 s), missing
//! and extra cues; wall time against the FFmpeg decode floor
//! (`ffmpeg -i in -f null -`) measured in the same run. Then the same for
//! the peer (RapidOCR's Python pipeline at the same fps) when its venv is
//! there.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::capabilities::caption_extraction::api::CaptionExtractionParams;
use crate::capabilities::caption_extraction::cues::{edit_distance, is_chinese};
use crate::capabilities::caption_extraction::subtitle::{parse_srt, to_srt, SrtCue};
use crate::capabilities::caption_extraction::CaptionExtraction;
use crate::capabilities::Context;
use crate::inference::ModelDir;

/// Tolerance on cue start and end, seconds.
const TIMING: f64 = 0.25;

/// Quality of found cues against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    /// Character error rate, 0–1 (or more).
    pub cer: f64,
    /// Word error rate (English; 0 for Chinese).
    pub wer: f64,
    /// Share of true cues timed within the tolerance.
    pub timed: f64,
    /// True cues without a found cue of time IoU ≥ 0.5.
    pub missing: usize,
    /// Found cues that overlap no true cue by half their length.
    pub extra: usize,
    /// True cues.
    pub cues: usize,
}

fn iou(a: &SrtCue, b: &SrtCue) -> f64 {
    let inter = (a.1.min(b.1) - a.0.max(b.0)).max(0.0);
    let union = (a.1.max(b.1) - a.0.min(b.0)).max(1e-9);
    inter / union
}

fn normalise(text: &str, chinese: bool) -> Vec<char> {
    if chinese {
        text.chars()
            .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation() && !is_cjk_punctuation(*c))
            .collect()
    } else {
        text.to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .collect()
    }
}

fn is_cjk_punctuation(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65)
        || "，。！？；：“”‘’、…—《》（）".contains(c)
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| c.is_ascii_punctuation())
                .to_owned()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Scores `found` against `truth`.
pub fn score(truth: &[SrtCue], found: &[SrtCue]) -> Scores {
    let chinese = truth.iter().any(|t| is_chinese(&t.2));
    let (mut errors, mut chars, mut word_errors, mut word_count) = (0usize, 0usize, 0usize, 0usize);
    let (mut timed, mut missing) = (0usize, 0usize);
    for t in truth {
        let best = found
            .iter()
            .map(|f| (iou(t, f), f))
            .filter(|(o, _)| *o > 0.0)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let truth_chars = normalise(&t.2, chinese);
        chars += truth_chars.len();
        let truth_words = words(&t.2);
        word_count += truth_words.len();
        match best {
            Some((overlap, f)) => {
                errors += edit_distance(&truth_chars, &normalise(&f.2, chinese));
                word_errors += edit_distance(&truth_words, &words(&f.2));
                if overlap >= 0.5 {
                    if (f.0 - t.0).abs() <= TIMING && (f.1 - t.1).abs() <= TIMING {
                        timed += 1;
                    }
                } else {
                    missing += 1;
                }
            }
            None => {
                errors += truth_chars.len();
                word_errors += truth_words.len();
                missing += 1;
            }
        }
    }
    let extra = found
        .iter()
        .filter(|f| {
            !truth
                .iter()
                .any(|t| (f.1.min(t.1) - f.0.max(t.0)).max(0.0) >= 0.5 * (f.1 - f.0))
        })
        .count();
    Scores {
        cer: errors as f64 / chars.max(1) as f64,
        wer: if chinese {
            0.0
        } else {
            word_errors as f64 / word_count.max(1) as f64
        },
        timed: timed as f64 / truth.len().max(1) as f64,
        missing,
        extra,
        cues: truth.len(),
    }
}

fn decode_floor(video: &Path) -> anyhow::Result<f64> {
    let start = Instant::now();
    let path = video.to_string_lossy();
    crate::bench::ffmpeg(&["-i", &path, "-f", "null", "-"])?;
    Ok(start.elapsed().as_secs_f64())
}

fn print_row(name: &str, s: &Scores, seconds: f64, floor: f64) {
    println!(
        "{:<16} {:>6.2}% {:>6.2}% {:>6.2} {:>5} {:>5} {:>5} {:>7.2} {:>7.2} {:>6.2}x",
        name,
        100.0 * s.cer,
        100.0 * s.wer,
        s.timed,
        s.missing,
        s.extra,
        s.cues,
        seconds,
        floor,
        seconds / floor.max(1e-9)
    );
}

fn header(title: &str) {
    println!("{title}");
    println!(
        "{:<16} {:>7} {:>7} {:>6} {:>5} {:>5} {:>5} {:>7} {:>7} {:>7}",
        "video", "CER", "WER", "timed", "miss", "extra", "cues", "time s", "ffmpeg", "ratio"
    );
}

/// Runs the benchmark on every `<name>.mp4` with a `<name>.srt` in `dir`,
/// then the peer script with `python` when it exists. Found subtitles are
/// written to `out` for inspection.
///
/// # Errors
/// When the models are missing, a video cannot be read, or the peer fails.
pub fn run(dir: &Path, fps: f64, out: &Path, python: &Path, script: &Path) -> anyhow::Result<()> {
    let mut videos: Vec<(PathBuf, PathBuf)> = crate::bench::videos_in(dir)
        .into_iter()
        .filter_map(|v| {
            let srt = v.with_extension("srt");
            srt.exists().then_some((v, srt))
        })
        .collect();
    videos.sort();
    anyhow::ensure!(
        !videos.is_empty(),
        "no video with a .srt beside it in {}",
        dir.display()
    );
    std::fs::create_dir_all(out)?;
    let load = Instant::now();
    let captions = CaptionExtraction::load(&ModelDir::from_env())?;
    println!(
        "models loaded in {:.2} s (once per cold start; not in the times below)",
        load.elapsed().as_secs_f64()
    );
    let params = CaptionExtractionParams {
        fps,
        ..CaptionExtractionParams::default()
    };
    let floors = videos
        .iter()
        .map(|(video, _)| decode_floor(video))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    table(
        "iprod CaptionExtraction",
        "",
        &videos,
        &floors,
        |video, name| {
            let found = captions
                .extract(video, &params, &Context::default())
                .map_err(|e| anyhow::anyhow!("{}: {}", video.display(), e.message))?;
            let text = to_srt(&found.captions, "");
            std::fs::write(out.join(format!("{name}.iprod.srt")), &text)?;
            Ok(text)
        },
    )?;
    if !python.exists() {
        println!(
            "peer skipped: {} not found (run scripts/bench-captions)",
            python.display()
        );
        return Ok(());
    }
    table(
        &format!("peer: RapidOCR (Python) on frames sampled at {fps} fps"),
        "; includes Python start and model load",
        &videos,
        &floors,
        |video, name| {
            let peer_srt = out.join(format!("{name}.peer.srt"));
            let status = std::process::Command::new(python)
                .arg(script)
                .arg(video)
                .arg(&peer_srt)
                .arg(fps.to_string())
                .status()?;
            anyhow::ensure!(
                status.success(),
                "the peer script failed on {}",
                video.display()
            );
            Ok(std::fs::read_to_string(&peer_srt)?)
        },
    )
}

/// Times `read` (which returns SRT text) on each video, scores it against
/// the video's truth and prints a row each and a total against the decode
/// `floors`.
fn table(
    title: &str,
    total_note: &str,
    videos: &[(PathBuf, PathBuf)],
    floors: &[f64],
    mut read: impl FnMut(&Path, &str) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    header(title);
    let mut totals = (0.0, 0.0);
    for ((video, srt), floor) in videos.iter().zip(floors) {
        let name = video
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let truth = parse_srt(&std::fs::read_to_string(srt)?);
        let start = Instant::now();
        let text = read(video, name)?;
        let seconds = start.elapsed().as_secs_f64();
        print_row(name, &score(&truth, &parse_srt(&text)), seconds, *floor);
        totals.0 += seconds;
        totals.1 += floor;
    }
    println!(
        "total: {:.2} s vs ffmpeg decode {:.2} s ({:.2}x{total_note})",
        totals.0,
        totals.1,
        totals.0 / totals.1.max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(a: f64, b: f64, t: &str) -> SrtCue {
        (a, b, t.to_owned())
    }

    #[test]
    fn perfect_output_scores_zero_errors_and_full_timing() {
        let truth = vec![cue(1.0, 2.0, "Hello there."), cue(3.0, 4.0, "So...")];
        let s = score(&truth, &truth);
        assert_eq!(
            (s.cer, s.wer, s.timed, s.missing, s.extra),
            (0.0, 0.0, 1.0, 0, 0)
        );
    }

    #[test]
    fn late_wrong_missing_and_extra_cues_are_counted() {
        let truth = vec![
            cue(1.0, 2.0, "hello"),
            cue(3.0, 4.0, "world"),
            cue(5.0, 6.0, "gone"),
        ];
        let found = vec![
            cue(1.4, 2.0, "Hello"),
            cue(3.0, 4.0, "word"),
            cue(8.0, 9.0, "scene text"),
        ];
        let s = score(&truth, &found);
        // "world" → "word": 1 error; "gone" missing: 4 errors; of 14 chars.
        assert!((s.cer - 5.0 / 14.0).abs() < 1e-9, "{s:?}");
        assert!((s.timed - 1.0 / 3.0).abs() < 1e-9, "{s:?}");
        assert_eq!((s.missing, s.extra), (1, 1));
        assert!((s.wer - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn chinese_ignores_spaces_and_punctuation() {
        let truth = vec![cue(0.0, 1.0, "你好，世界")];
        let s = score(&truth, &[cue(0.0, 1.0, "你好 世界。")]);
        assert_eq!(s.cer, 0.0);
    }
}
