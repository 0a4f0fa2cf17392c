//! `iprod bench segments`: a long video made with FFmpeg's lavfi (never
//! stored), keyed in one pass and in segments on 1, 2, 4, 8 workers, each
//! run its own `iprod run` process: wall time, speed-up over one pass and
//! peak memory, and a check that every run wrote the same frames.

use std::time::Instant;

use anyhow::Context as _;
use iprod::domain::FunctionName;

use super::hostile::measure_run;

/// What the bench runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Minutes of video.
    pub minutes: f64,
    /// Frame height (16:9).
    pub height: u32,
    /// Segments of the split runs.
    pub segments: u16,
    /// Worker counts to try.
    pub workers: Vec<u16>,
}

/// Makes the clip and prints the table.
///
/// # Errors
/// When FFmpeg or a run fails, or the runs disagree on the frames.
pub fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("long.mp4");
    let seconds = (options.minutes * 60.0).max(2.0);
    let height = options.height.max(144) & !1;
    let width = (height * 16 / 9) & !1;
    say!(
        "making {seconds:.0} s of {width}x{height} green screen at 25 fps (x264 ultrafast, a keyframe every 2 s)..."
    );
    let made = Instant::now();
    iprod::bench::synth::green_screen_clip(&clip, seconds, (width, height), 50)?;
    say!("made in {:.1} s", made.elapsed().as_secs_f64());
    let exe = std::env::current_exe()?;
    // H.264 over a colour: an output of reasonable size at any length.
    let params = r##"{"Format":"mp4","bgcolor":"#101010","crf":28}"##;
    // One segment is one pass (a long clip would otherwise be split).
    let mut runs: Vec<(String, Vec<String>)> =
        vec![("one pass".into(), vec!["--segments".into(), "1".into()])];
    for &w in &options.workers {
        runs.push((
            format!("{} segments, {w} workers", options.segments),
            vec![
                "--segments".into(),
                options.segments.to_string(),
                "--workers".into(),
                w.to_string(),
            ],
        ));
    }
    say!(
        "{:<28} {:>10} {:>9} {:>9} {:>12}",
        "run",
        "wall s",
        "x video",
        "speed-up",
        "peak MiB"
    );
    let mut first: Option<(f64, serde_json::Value)> = None;
    for (i, (name, extra)) in runs.iter().enumerate() {
        let out = dir.path().join(format!("out-{i}"));
        let started = Instant::now();
        let (record, peak_kb) = measure_run(
            &exe,
            FunctionName::VideoGreenScreenMatting,
            &clip,
            params,
            &out,
            extra,
        )?;
        let wall = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            record["State"] == "Success",
            "{name}: {}",
            record["Message"]
        );
        let frames = record["Result"]["Data"]["Frames"].clone();
        let base = first.get_or_insert((wall, frames.clone()));
        anyhow::ensure!(
            frames == base.1,
            "{name} wrote {frames} frames, one pass {}",
            base.1
        );
        say!(
            "{name:<28} {wall:>10.1} {:>9.2} {:>9.2} {:>12.0}",
            wall / seconds,
            base.0 / wall,
            peak_kb as f64 / 1024.0
        );
        std::fs::remove_dir_all(&out).context("removing a run's output")?;
    }
    say!(
        "(every run wrote {} frames; speed-up is one pass's wall time over the run's, on this machine's {} cores)",
        first.map(|f| f.1).unwrap_or_default(),
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );
    Ok(())
}
