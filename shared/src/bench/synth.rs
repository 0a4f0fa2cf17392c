//! Test and benchmark clips made with the `ffmpeg` tool, with known
//! defects at known times: black, blurred and frozen (duplicate) frames.

use std::path::{Path, PathBuf};

use super::ffmpeg;

/// Where the injected defects are, in seconds of the made clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Defects {
    /// Intervals no cover may come from: `(start, end, what)`.
    pub bad: Vec<(f64, f64, &'static str)>,
    /// Groups of intervals that all show one same picture: at most one
    /// cover may come from each group.
    pub frozen: Vec<Vec<(f64, f64)>>,
    /// Length of the clip.
    pub duration: f64,
}

impl Defects {
    /// Problems with a set of cover times (seconds); empty when none.
    pub fn violations(&self, times: &[f64]) -> Vec<String> {
        let mut problems = Vec::new();
        for &t in times {
            for &(start, end, what) in &self.bad {
                if t >= start - 0.02 && t < end + 0.02 {
                    problems.push(format!("cover at {t:.3} s is a {what} frame"));
                }
            }
        }
        for group in &self.frozen {
            let inside = times
                .iter()
                .filter(|&&t| {
                    group
                        .iter()
                        .any(|&(start, end)| t >= start - 0.02 && t < end + 0.02)
                })
                .count();
            if inside > 1 {
                problems.push(format!(
                    "{inside} covers show the same picture ({group:?} s)"
                ));
            }
        }
        problems
    }
}

/// Makes an 18 s, 640×360, 25 fps H.264 clip from FFmpeg's test sources:
/// good content at 0–3, 5–8 and 12–15 s; black 3–5 s; a blurred test
/// pattern 8–10 s; one still picture (SMPTE bars) at 10–12 and again at
/// 15–17 s; white 17–18 s.
///
/// # Errors
/// When ffmpeg is missing or fails.
pub fn generated_clip(dir: &Path) -> anyhow::Result<(PathBuf, Defects)> {
    let path = dir.join("injected-generated.mp4");
    let s = "640x360";
    let graph = format!(
        "testsrc2=s={s}:r=25:d=3[a];\
         color=c=black:s={s}:r=25:d=2[b];\
         mandelbrot=s={s}:r=25,trim=duration=3[c];\
         testsrc2=s={s}:r=25:d=2,boxblur=12:2[d];\
         smptehdbars=s={s}:r=25:d=2[e];\
         testsrc=s={s}:r=25:d=3[f];\
         smptehdbars=s={s}:r=25:d=2[g];\
         color=c=white:s={s}:r=25:d=1[h];\
         [a][b][c][d][e][f][g][h]concat=n=8:v=1:a=0,format=yuv420p[v]"
    );
    let out = path.to_string_lossy().into_owned();
    encode(&[], &graph, &out)?;
    Ok((
        path,
        Defects {
            bad: vec![
                (3.0, 5.0, "black"),
                (8.0, 10.0, "blurred"),
                (17.0, 18.0, "white"),
            ],
            frozen: vec![vec![(10.0, 12.0), (15.0, 17.0)]],
            duration: 18.0,
        },
    ))
}

/// Makes a clip from a real video: its first `length` seconds at 720p
/// 25 fps, with 1 s of black at a third, 1.5 s of heavy blur after it, and
/// one frame frozen for 2 s at two thirds.
///
/// # Errors
/// When ffmpeg fails (e.g. the source is shorter than 9 s).
pub fn injected_clip(source: &Path, dir: &Path, length: f64) -> anyhow::Result<(PathBuf, Defects)> {
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("video");
    let path = dir.join(format!("injected-{stem}.mp4"));
    let a = (length / 3.0).floor();
    let b = (2.0 * length / 3.0).floor();
    let norm = "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,fps=25,format=yuv420p,setsar=1";
    let graph = format!(
        "[0:v]trim=0:{a},setpts=PTS-STARTPTS,{norm}[s0];\
         color=c=black:s=1280x720:r=25:d=1,format=yuv420p,setsar=1[s1];\
         [0:v]trim={a}:{a15},setpts=PTS-STARTPTS,{norm},boxblur=10:2[s2];\
         [0:v]trim={a15}:{b},setpts=PTS-STARTPTS,{norm}[s3];\
         [0:v]trim=start={b}:duration=0.04,setpts=PTS-STARTPTS,{norm},loop=loop=49:size=1:start=0,setpts=N/25/TB[s4];\
         [0:v]trim={b}:{length},setpts=PTS-STARTPTS,{norm}[s5];\
         [s0][s1][s2][s3][s4][s5]concat=n=6:v=1:a=0[v]",
        a15 = a + 1.5
    );
    let src = source.to_string_lossy().into_owned();
    let out = path.to_string_lossy().into_owned();
    encode(&["-i", &src], &graph, &out)?;
    // Timeline of the made clip: s0 [0,a) black [a,a+1) blur [a+1,a+2.5)
    // s3 [a+2.5, b+1) frozen [b+1, b+3) then s5 starts with the same frame.
    let frozen_start = b + 1.0;
    Ok((
        path,
        Defects {
            bad: vec![(a, a + 1.0, "black"), (a + 1.0, a + 2.5, "blurred")],
            frozen: vec![vec![(frozen_start, frozen_start + 2.1)]],
            duration: length + 3.0,
        },
    ))
}

/// Encodes the `[v]` output of a filter graph to H.264 MP4 (CRF 20, a
/// keyframe every 2 s at 25 fps).
fn encode(inputs: &[&str], graph: &str, out: &str) -> anyhow::Result<()> {
    let mut args: Vec<&str> = inputs.to_vec();
    args.extend_from_slice(&[
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "20",
        "-g",
        "50",
        "-movflags",
        "+faststart",
        out,
    ]);
    ffmpeg(&args)
}

/// Writes `seconds` of a green screen at `width`×`height`, 25 fps, with a
/// test pattern a third of the frame high swinging across it and a tone:
/// H.264 (x264 ultrafast, B-frames, a keyframe every `gop` frames) and
/// AAC in MP4, made by FFmpeg's lavfi.
///
/// # Errors
/// When ffmpeg is missing or fails.
pub fn green_screen_clip(
    path: &Path,
    seconds: f64,
    (width, height): (u32, u32),
    gop: u32,
) -> anyhow::Result<()> {
    let subject = (height / 3).max(16);
    super::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!(
            "color=c=0x1fb446:s={width}x{height}:r=25:d={seconds}[bg];\
             testsrc2=s={subject}x{subject}:r=25:d={seconds}[fg];\
             [bg][fg]overlay=x='(W-w)/2+(W-w)/2*sin(t)':y='(H-h)/2+(H-h)/3*cos(t/2)'"
        ),
        "-f",
        "lavfi",
        "-i",
        &format!("sine=f=330:d={seconds}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-bf",
        "2",
        "-g",
        &gop.to_string(),
        "-c:a",
        "aac",
        "-shortest",
        &path.to_string_lossy(),
    ])
}
