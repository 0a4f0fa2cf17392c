//! Benchmarks: quality against ground truth and speed against a peer tool
//! measured in the same run. Used by `iprod bench`; not part of any
//! function.

#[cfg(all(feature = "video", feature = "onnx"))]
pub mod composite;
#[cfg(all(feature = "video", feature = "onnx"))]
pub mod figures;
#[cfg(feature = "video")]
pub mod synth;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Median wall time of `runs` calls of `f`, in seconds.
///
/// # Errors
/// The first error `f` returns.
pub fn median_time<T>(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<(f64, T)> {
    let mut times = Vec::with_capacity(runs.max(1));
    let mut last = None;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        last = Some(f()?);
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let value = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    Ok((times[times.len() / 2], value))
}

/// Runs `ffmpeg` (quiet) with `args`.
///
/// # Errors
/// When ffmpeg is missing or exits non-zero.
pub fn ffmpeg(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("running ffmpeg (is it installed?): {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "ffmpeg {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `input` through the FFmpeg filter graph `filter` into `output`:
/// x264 veryfast at `crf`, 4:2:0, the audio copied (what the benches'
/// made videos and FFmpeg-filter peers are written with).
///
/// # Errors
/// When ffmpeg is missing or exits non-zero.
pub fn x264(input: &Path, filter: &str, crf: u8, output: &Path) -> anyhow::Result<()> {
    let crf = crf.to_string();
    ffmpeg(&[
        "-i",
        &input.to_string_lossy(),
        "-vf",
        filter,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        &crf,
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "copy",
        &output.to_string_lossy(),
    ])
}

/// Video files directly in `dir` (or `dir` itself when it is a file).
pub fn videos_in(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "mp4" | "mov" | "mkv" | "webm" | "avi" | "m4v" | "ts"
                )
            })
        })
        .collect();
    files.sort();
    files
}

/// The Code a case of the hostile corpus (`scripts/hostile-corpus`)
/// expects from `function`: its `expect` as a Code, or the entry for the
/// function, its kind (`audio` or `video`), or `*`.
pub fn hostile_expected(case: &serde_json::Value, function: crate::domain::FunctionName) -> String {
    use crate::domain::FunctionName;
    let expect = &case["expect"];
    if let Some(code) = expect.as_str() {
        return code.to_owned();
    }
    let kind = if matches!(
        function,
        FunctionName::AudioBeatDetection | FunctionName::MusicSegmentDetect
    ) {
        "audio"
    } else {
        "video"
    };
    [function.as_str(), kind, "*"]
        .iter()
        .find_map(|k| expect[*k].as_str())
        .unwrap_or("?")
        .to_owned()
}

/// Alpha planes of every frame of `video` (decoded with libvpx for VP9 so
/// that alpha is kept), through `dir/<tag>-NNNN.png`.
///
/// # Errors
/// When FFmpeg fails or a picture cannot be read.
#[cfg(feature = "video")]
pub fn alpha_frames(video: &Path, dir: &Path, tag: &str) -> anyhow::Result<Vec<image::GrayImage>> {
    let pattern = dir.join(format!("{tag}-%04d.png"));
    let mut args = Vec::new();
    if video.extension().is_some_and(|e| e == "webm") {
        args.extend(["-c:v", "libvpx-vp9"]);
    }
    let path = video.to_string_lossy();
    let pat = pattern.to_string_lossy();
    args.extend(["-i", &path, "-vf", "alphaextract", "-pix_fmt", "gray", &pat]);
    crate::bench::ffmpeg(&args)?;
    let mut frames = Vec::new();
    for k in 1.. {
        let p = dir.join(format!("{tag}-{k:04}.png"));
        if !p.exists() {
            break;
        }
        frames.push(image::open(&p)?.to_luma8());
    }
    Ok(frames)
}
