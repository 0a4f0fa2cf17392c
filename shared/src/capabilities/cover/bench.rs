//! `iprod bench cover`: our Cover against `ffmpeg -vf thumbnail`.
//!
//! For every video: the median wall time of both tools over `runs` runs,
//! and for clips with injected defects, whether any chosen cover is black,
//! blurred or a duplicate. Ours runs in-process (no process start-up);
//! ffmpeg runs as a process. Both decode the whole file with every core.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::bench::synth::{generated_clip, injected_clip, Defects};
use crate::bench::{ffmpeg, median_time, videos_in};
use crate::capabilities::cover::api::{CoverParams, CoverResult};
use crate::capabilities::cover::covers;
use crate::capabilities::{Context, OutputSink};
use crate::domain::OutputTemplate;
use crate::media::VideoReader;

struct Row {
    name: String,
    ours_s: f64,
    peer_s: f64,
    times: Vec<f64>,
    problems: Option<Vec<String>>,
}

/// Runs the benchmark and prints a table.
///
/// # Errors
/// When a video cannot be made or read, or ffmpeg is missing.
pub fn run(paths: &[PathBuf], count: u32, runs: usize) -> anyhow::Result<()> {
    let work = tempfile::tempdir().context("creating a work folder")?;
    let mut cases: Vec<(PathBuf, Option<Defects>)> = Vec::new();
    let (clip, defects) = generated_clip(work.path())?;
    cases.push((clip, Some(defects)));
    for path in paths {
        for video in videos_in(path) {
            let duration = VideoReader::open(&video, &Default::default())
                .map(|r| r.info().duration_s)
                .unwrap_or(0.0);
            if duration >= 9.0 {
                let (clip, defects) = injected_clip(&video, work.path(), duration.min(30.0))?;
                cases.push((clip, Some(defects)));
            }
            cases.push((video, None));
        }
    }

    let mut rows = Vec::new();
    for (video, defects) in &cases {
        let row = bench_one(video, defects.as_ref(), count, runs, work.path())?;
        rows.push(row);
    }

    println!("Cover vs ffmpeg thumbnail (median of {runs} runs, Count={count})");
    println!(
        "{:<34} {:>9} {:>9} {:>7}  {:<28} bad picks",
        "video", "ours s", "ffmpeg s", "ratio", "cover times (s)"
    );
    let mut ratios = Vec::new();
    let mut failures = 0;
    for row in &rows {
        let ratio = row.ours_s / row.peer_s.max(1e-9);
        ratios.push(ratio);
        let times: Vec<String> = row.times.iter().map(|t| format!("{t:.2}")).collect();
        let verdict = match &row.problems {
            None => "-".to_owned(),
            Some(p) if p.is_empty() => "none".to_owned(),
            Some(p) => {
                failures += 1;
                p.join("; ")
            }
        };
        println!(
            "{:<34} {:>9.3} {:>9.3} {:>7.2}  {:<28} {}",
            row.name,
            row.ours_s,
            row.peer_s,
            ratio,
            times.join(" "),
            verdict
        );
    }
    let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len().max(1) as f64).exp();
    println!("geometric mean time ratio ours/ffmpeg: {geo:.2} (below 1 = faster)");
    println!(
        "clips with injected defects where a bad frame was picked: {failures} of {}",
        rows.iter().filter(|r| r.problems.is_some()).count()
    );
    Ok(())
}

fn bench_one(
    video: &Path,
    defects: Option<&Defects>,
    count: u32,
    runs: usize,
    work: &Path,
) -> anyhow::Result<Row> {
    let name = video
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_owned();
    let out = work.join(format!("ours-{name}"));
    std::fs::create_dir_all(&out)?;
    let params = CoverParams {
        count,
        ..CoverParams::default()
    };
    let template = OutputTemplate::parse(&format!("{}/", out.display()))
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let (ours_s, result): (f64, CoverResult) = median_time(runs, || {
        let mut sink = OutputSink::new(&out, template.clone(), "bench", 0, "bench");
        covers(video, &params, &mut sink, &Context::default())
            .map_err(|e| anyhow::anyhow!("{}: {}", video.display(), e.message))
    })?;
    let peer_dir = work.join(format!("ffmpeg-{name}"));
    std::fs::create_dir_all(&peer_dir)?;
    let pattern = peer_dir.join("%03d.jpg").to_string_lossy().into_owned();
    let input = video.to_string_lossy().into_owned();
    let (peer_s, ()) = median_time(runs, || {
        ffmpeg(&["-i", &input, "-vf", "thumbnail", "-vsync", "vfr", &pattern])
    })?;
    let times: Vec<f64> = result
        .covers
        .iter()
        .map(|c| c.time as f64 / 1000.0)
        .collect();
    Ok(Row {
        name,
        ours_s,
        peer_s,
        problems: defects.map(|d| d.violations(&times)),
        times,
    })
}
