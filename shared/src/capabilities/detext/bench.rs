//! `iprod bench detext DIR`: caption removal against the same video
//! without captions, beside OpenCV's Telea inpainting (frame by frame) and
//! FFmpeg's `delogo` (over each caption's box), both handed the true
//! mask.
//!
//! DIR holds `bbb_sintel_clean.mp4`, the captioned videos made from it and
//! their cues (`bbb_sintel_captioned.mp4` + `bbb_sintel.srt`,
//! `bbb_vse_captioned.mp4` + `bbb_vse.srt`, with the libass styles below).
//! The bench makes more from the clean video and the same cues: another
//! font and colour with a shadow, captions at the top in a third font, and
//! a 480p version. A caption's pixels are known by burning its cues the
//! same way over flat grey.
//!
//! Per video, luma only, against the clean video: PSNR and SSIM inside the
//! true mask and PSNR over the caption band; the share of the cues'
//! characters our own caption reader still reads in the output; flicker
//! inside the mask (mean absolute difference between consecutive frames
//! there, over the clean video's own); wall time against FFmpeg's decode
//! of the same file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::Context as _;

use super::api::{DetextParams, Quality, TextTarget};
use super::Detext;
use crate::capabilities::caption_extraction::api::{CaptionExtractionParams, Roi};
use crate::capabilities::caption_extraction::cues::edit_distance;
use crate::capabilities::caption_extraction::CaptionExtraction;
use crate::capabilities::Context;
use crate::inference::ModelDir;

/// The dev set's styles (`README.md` of the data folder).
const SINTEL_STYLE: &str = "FontName=Noto Sans CJK SC,FontSize=24,Outline=2,Shadow=0,MarginV=30";
const VSE_STYLE: &str = "FontName=Noto Sans CJK SC,FontSize=28,PrimaryColour=&H00FFFFFF,OutlineColour=&H00000000,BorderStyle=1,Outline=2,Shadow=0,MarginV=30";

/// One captioned video and its truth.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    video: PathBuf,
    clean: PathBuf,
    srt: PathBuf,
    style: String,
    /// The style that burns only the letters (the truth mask), when the
    /// text sits on a card of its own.
    letters: Option<String>,
    /// Text that is not a subtitle: removed with `Target: "all"`, what
    /// is left read over the whole frame.
    title: bool,
}

/// Pixel errors of one output against the clean video.
#[derive(Debug, Clone, Copy, Default)]
struct Errors {
    mask_se: f64,
    mask_n: f64,
    band_se: f64,
    band_n: f64,
    ssim: f64,
    ssim_n: f64,
    flicker: f64,
    clean_flicker: f64,
    /// Pixel pairs the flicker is summed over.
    flicker_n: f64,
}

impl Errors {
    fn psnr(se: f64, n: f64) -> f64 {
        if n == 0.0 {
            return f64::NAN;
        }
        let mse = (se / n).max(1e-6);
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
    fn mask_psnr(&self) -> f64 {
        Self::psnr(self.mask_se, self.mask_n)
    }
    fn band_psnr(&self) -> f64 {
        Self::psnr(self.band_se, self.band_n)
    }
    fn mask_ssim(&self) -> f64 {
        self.ssim / self.ssim_n.max(1.0)
    }
    /// Flicker inside the mask over the clean video's own.
    /// (A still picture's own is taken as at least half a level.)
    fn flicker_ratio(&self) -> f64 {
        self.flicker / self.clean_flicker.max(0.5 * self.flicker_n).max(1e-9)
    }
}

/// One method's outcome on a case.
#[derive(Debug, Clone, Copy, Default)]
struct Scored {
    errors: Errors,
    residual: f64,
    seconds: f64,
}

/// What a table row shows of a method on a video (or their mean).
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    psnr: f64,
    ssim: f64,
    band: f64,
    residual: f64,
    flicker: f64,
    seconds: f64,
}

impl From<&Scored> for Row {
    fn from(s: &Scored) -> Self {
        Self {
            psnr: s.errors.mask_psnr(),
            ssim: s.errors.mask_ssim(),
            band: s.errors.band_psnr(),
            residual: s.residual * 100.0,
            flicker: s.errors.flicker_ratio(),
            seconds: s.seconds,
        }
    }
}

impl Row {
    fn mean(rows: &[Self]) -> Self {
        let n = rows.len().max(1) as f64;
        let mut m = Self::default();
        for r in rows {
            m.psnr += r.psnr / n;
            m.ssim += r.ssim / n;
            m.band += r.band / n;
            m.residual += r.residual / n;
            m.flicker += r.flicker / n;
            m.seconds += r.seconds / n;
        }
        m
    }
}

/// Frames of a video as 8-bit luma, from an `ffmpeg` pipe.
struct Luma {
    child: Child,
    out: ChildStdout,
    size: usize,
}

impl Luma {
    fn open(path: &Path, (w, h): (u32, u32)) -> anyhow::Result<Self> {
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
            .arg(path)
            .args(["-f", "rawvideo", "-pix_fmt", "gray", "-s"])
            .arg(format!("{w}x{h}"))
            .arg("-")
            .stdout(Stdio::piped())
            .spawn()
            .context("running ffmpeg")?;
        let out = child.stdout.take().context("ffmpeg stdout")?;
        Ok(Self {
            child,
            out,
            size: (w * h) as usize,
        })
    }

    fn next_frame(&mut self) -> Option<Vec<u8>> {
        let mut frame = vec![0u8; self.size];
        self.out.read_exact(&mut frame).ok()?;
        Some(frame)
    }
}

impl Drop for Luma {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe_size(path: &Path) -> anyhow::Result<(u32, u32, f64, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args([
            "stream=width,height,r_frame_rate:format=duration",
            "-of",
            "csv=p=0:nk=1",
        ])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split([',', '\n']).map(str::trim).collect();
    let n = |i: usize| fields.get(i).copied().unwrap_or_default();
    let rate = n(2)
        .split_once('/')
        .and_then(|(a, b)| Some(a.parse::<f64>().ok()? / b.parse::<f64>().ok()?))
        .unwrap_or(25.0);
    Ok((
        n(0).parse()
            .with_context(|| format!("width of {}", path.display()))?,
        n(1).parse()
            .with_context(|| format!("height of {}", path.display()))?,
        rate,
        n(3).parse().unwrap_or(0.0),
    ))
}

fn timed(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

fn burn(source: &Path, srt: &Path, style: &str, out: &Path) -> anyhow::Result<()> {
    let filter = format!("subtitles={}:force_style='{style}'", srt.display());
    crate::bench::x264(source, &filter, 23, out)
}

fn cases(dir: &Path, out: &Path) -> anyhow::Result<Vec<Case>> {
    let clean = dir.join("bbb_sintel_clean.mp4");
    anyhow::ensure!(clean.exists(), "{} is missing", clean.display());
    let sintel = dir.join("bbb_sintel.srt");
    let vse = dir.join("bbb_vse.srt");
    let case = |name: &str, video: PathBuf, clean: &Path, srt: &Path, style: &str| Case {
        name: name.to_owned(),
        video,
        clean: clean.to_path_buf(),
        srt: srt.to_path_buf(),
        style: style.to_owned(),
        letters: None,
        title: false,
    };
    let mut out_cases = vec![
        case(
            "bbb_sintel",
            dir.join("bbb_sintel_captioned.mp4"),
            &clean,
            &sintel,
            SINTEL_STYLE,
        ),
        case(
            "bbb_vse",
            dir.join("bbb_vse_captioned.mp4"),
            &clean,
            &vse,
            VSE_STYLE,
        ),
    ];
    let made = [
        (
            "serif_yellow_shadow",
            &sintel,
            "FontName=DejaVu Serif,FontSize=22,PrimaryColour=&H0000FFFF,Outline=1,Shadow=2,MarginV=24",
            None,
        ),
        (
            "top_wqy",
            &vse,
            "FontName=WenQuanYi Micro Hei,FontSize=24,Outline=3,Shadow=0,Alignment=8,MarginV=20",
            None,
        ),
        ("sintel_480p", &sintel, SINTEL_STYLE, Some("scale=854:480")),
    ];
    for (name, srt, style, scale) in made {
        let video = out.join(format!("{name}.mp4"));
        let truth = if let Some(s) = scale {
            let small = out.join("bbb_clean_480p.mp4");
            if !small.exists() {
                crate::bench::x264(&clean, s, 18, &small)?;
            }
            small
        } else {
            clean.clone()
        };
        if !video.exists() {
            burn(&truth, srt, style, &video)?;
        }
        out_cases.push(case(name, video, &truth, srt, style));
    }
    // Titles, not subtitles (`Target: "all"`): dark letters on a light
    // card at the top (the truth: the card without its letters), and
    // white letters without an outline over the picture at the left.
    let card = |letters: &str| {
        format!("FontName=DejaVu Sans,FontSize=20,Bold=1,Alignment=8,MarginV=40,BorderStyle=3,Outline=6,Shadow=0,PrimaryColour={letters},OutlineColour=&H00D8E0E8,BackColour=&H00D8E0E8")
    };
    let blank = out.join("card_blank.mp4");
    if !blank.exists() {
        burn(&clean, &sintel, &card("&HFF181818"), &blank)?;
    }
    let video = out.join("title_card.mp4");
    if !video.exists() {
        burn(&clean, &sintel, &card("&H00181818"), &video)?;
    }
    out_cases.push(Case {
        letters: Some(
            "FontName=DejaVu Sans,FontSize=20,Bold=1,Alignment=8,MarginV=40,BorderStyle=1,Outline=0,Shadow=0,PrimaryColour=&H00000000".into(),
        ),
        title: true,
        ..case("title_card", video, &blank, &sintel, &card("&H00181818"))
    });
    let style =
        "FontName=DejaVu Sans,FontSize=26,Outline=0,Shadow=0,Alignment=7,MarginL=60,MarginV=90";
    let video = out.join("title_plain.mp4");
    if !video.exists() {
        burn(&clean, &vse, style, &video)?;
    }
    out_cases.push(Case {
        title: true,
        ..case("title_plain", video, &clean, &vse, style)
    });
    Ok(out_cases)
}

/// The captions burned over flat grey: the truth mask.
fn mask_video(case: &Case, out: &Path) -> anyhow::Result<PathBuf> {
    let (w, h, rate, duration) = probe_size(&case.video)?;
    let path = out.join(format!("{}-mask.mkv", case.name));
    if !path.exists() {
        crate::bench::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("color=0x808080:s={w}x{h}:r={rate}:d={duration}"),
            "-vf",
            &format!(
                "subtitles={}:force_style='{}'",
                case.srt.display(),
                case.letters.as_deref().unwrap_or(&case.style)
            ),
            "-c:v",
            "ffv1",
            &path.to_string_lossy(),
        ])?;
    }
    Ok(path)
}

/// SSIM of `a` against `b` at each pixel of rows `y0..y1` (8×8 windows
/// centred there), summed over the pixels where `mask` holds.
fn ssim_in(a: &[u8], b: &[u8], mask: &[bool], w: usize, (y0, y1): (usize, usize)) -> (f64, f64) {
    const R: usize = 4;
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mut sum = 0.0;
    let mut n = 0.0;
    let h = a.len() / w;
    for y in y0..y1 {
        for x in 0..w {
            if !mask[y * w + x] {
                continue;
            }
            let (xa, xb) = (x.saturating_sub(R), (x + R).min(w));
            let (ya, yb) = (y.saturating_sub(R), (y + R).min(h));
            let (mut sa, mut sb, mut saa, mut sbb, mut sab, mut k) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            for yy in ya..yb {
                for xx in xa..xb {
                    let (p, q) = (f64::from(a[yy * w + xx]), f64::from(b[yy * w + xx]));
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                    k += 1.0;
                }
            }
            let (ma, mb) = (sa / k, sb / k);
            let (va, vb) = (saa / k - ma * ma, sbb / k - mb * mb);
            let cov = sab / k - ma * mb;
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            n += 1.0;
        }
    }
    (sum, n)
}

/// Errors of `output` against `clean` over the caption pixels of `mask`.
fn errors(output: &Path, clean: &Path, mask: &Path, size: (u32, u32)) -> anyhow::Result<Errors> {
    let w = size.0 as usize;
    let mut o = Luma::open(output, size)?;
    let mut c = Luma::open(clean, size)?;
    let mut m = Luma::open(mask, size)?;
    let mut e = Errors::default();
    let mut previous: Option<(Vec<u8>, Vec<u8>, Vec<bool>)> = None;
    while let (Some(of), Some(cf), Some(mf)) = (o.next_frame(), c.next_frame(), m.next_frame()) {
        let mask: Vec<bool> = mf.iter().map(|&v| v.abs_diff(128) > 4).collect();
        let rows: Vec<usize> = (0..mask.len() / w)
            .filter(|&y| mask[y * w..(y + 1) * w].iter().any(|&b| b))
            .collect();
        if let (Some(&first), Some(&last)) = (rows.first(), rows.last()) {
            let (y0, y1) = (first.saturating_sub(10), (last + 11).min(mask.len() / w));
            for i in y0 * w..y1 * w {
                let d = f64::from(of[i]) - f64::from(cf[i]);
                e.band_se += d * d;
                e.band_n += 1.0;
                if mask[i] {
                    e.mask_se += d * d;
                    e.mask_n += 1.0;
                }
            }
            let (s, n) = ssim_in(&of, &cf, &mask, w, (first, last + 1));
            e.ssim += s;
            e.ssim_n += n;
            if let Some((po, pc, pm)) = &previous {
                for i in 0..mask.len() {
                    if mask[i] && pm[i] {
                        e.flicker += f64::from(of[i].abs_diff(po[i]));
                        e.clean_flicker += f64::from(cf[i].abs_diff(pc[i]));
                        e.flicker_n += 1.0;
                    }
                }
            }
        }
        previous = Some((of, cf, mask));
    }
    Ok(e)
}

/// The cues of an SRT: start, end (seconds) and their non-blank characters.
fn srt_cues(srt: &Path) -> anyhow::Result<Vec<(f64, f64, Vec<char>)>> {
    let text = std::fs::read_to_string(srt)?;
    let time = |t: &str| -> Option<f64> {
        let (hms, ms) = t.trim().split_once(',')?;
        let mut parts = hms.split(':').map(|p| p.parse::<f64>().ok());
        let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
        Some(h * 3600.0 + m * 60.0 + s + ms.parse::<f64>().ok()? / 1000.0)
    };
    let mut cues = Vec::new();
    for block in text.replace('\r', "").split("\n\n") {
        let mut lines = block.lines().skip_while(|l| !l.contains("-->"));
        let Some((a, b)) = lines.next().and_then(|l| l.split_once("-->")) else {
            continue;
        };
        let (Some(start), Some(end)) = (time(a), time(b)) else {
            continue;
        };
        let chars = lines
            .flat_map(str::chars)
            .filter(|c| !c.is_whitespace())
            .collect();
        cues.push((start, end, chars));
    }
    Ok(cues)
}

/// The share of the cues' characters our caption reader still reads in
/// `video`: for each cue it reads, the characters it shares (by edit
/// distance) with the best-matching true cue on screen at the same time.
/// Text that is part of the picture (titles) matches no cue.
fn residual(
    reader: &CaptionExtraction,
    video: &Path,
    cues: &[(f64, f64, Vec<char>)],
) -> anyhow::Result<f64> {
    let read = reader
        .extract(
            video,
            &CaptionExtractionParams {
                roi: Roi::Auto,
                ..CaptionExtractionParams::default()
            },
            &Context::default(),
        )
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let total: usize = cues.iter().map(|c| c.2.len()).sum();
    let mut matched = 0usize;
    for c in &read.captions {
        let text: Vec<char> = c.text.chars().filter(|c| !c.is_whitespace()).collect();
        let best = cues
            .iter()
            .filter(|(s, e, _)| *s < c.end && *e > c.start)
            .map(|(_, _, truth)| text.len().saturating_sub(edit_distance(&text, truth)))
            .max()
            .unwrap_or(0);
        matched += best;
    }
    Ok(matched as f64 / total.max(1) as f64)
}

/// [`residual`] for text anywhere in the frame: the text detector reads
/// the whole frame once a second; each line it reads counts the
/// characters it shares with the best-matching cue on screen then, out of
/// the characters of the cues on screen.
fn residual_anywhere(
    reader: &CaptionExtraction,
    video: &Path,
    cues: &[(f64, f64, Vec<char>)],
) -> anyhow::Result<f64> {
    let mut r = crate::media::VideoReader::open(video, &crate::domain::Limits::default())?;
    let info = r.info().clone();
    let (mut total, mut matched) = (0usize, 0usize);
    let mut next = 0.5;
    let mut failed = None;
    r.for_each_frame(crate::media::SamplingMode::All, |r, f| {
        if f.time_s + 1e-3 < next {
            return Ok(std::ops::ControlFlow::Continue(()));
        }
        next += 1.0;
        let on: Vec<&Vec<char>> = cues
            .iter()
            .filter(|(s, e, _)| *s <= f.time_s && f.time_s < *e)
            .map(|(_, _, t)| t)
            .collect();
        if on.is_empty() {
            return Ok(std::ops::ControlFlow::Continue(()));
        }
        total += on.iter().map(|t| t.len()).sum::<usize>();
        let rgb = r.to_rgb(f.frame, info.width, info.height)?;
        match reader.ocr().read(&rgb, 1.0, false) {
            Ok(lines) => {
                for l in lines {
                    let text: Vec<char> = l.text.chars().filter(|c| !c.is_whitespace()).collect();
                    matched += on
                        .iter()
                        .map(|truth| text.len().saturating_sub(edit_distance(&text, truth)))
                        .max()
                        .unwrap_or(0);
                }
                Ok(std::ops::ControlFlow::Continue(()))
            }
            Err(e) => {
                failed = Some(e);
                Ok(std::ops::ControlFlow::Break(()))
            }
        }
    })?;
    if let Some(e) = failed {
        anyhow::bail!("reading {}: {e}", video.display());
    }
    Ok(matched as f64 / total.max(1) as f64)
}

/// FFmpeg `delogo` over the true mask's box of each cue, while it shows.
fn delogo_filter(mask: &Path, size: (u32, u32)) -> anyhow::Result<String> {
    let w = size.0 as usize;
    let mut m = Luma::open(mask, size)?;
    // Boxes of consecutive frames with the same mask.
    let mut spans: Vec<(usize, usize, [usize; 4], Vec<u8>)> = Vec::new();
    let mut index = 0usize;
    while let Some(f) = m.next_frame() {
        let on: Vec<usize> = (0..f.len()).filter(|&i| f[i].abs_diff(128) > 4).collect();
        if let (Some(_), Some(_)) = (on.first(), on.last()) {
            let x0 = on.iter().map(|i| i % w).min().unwrap_or(0);
            let x1 = on.iter().map(|i| i % w).max().unwrap_or(0);
            let y0 = on[0] / w;
            let y1 = on[on.len() - 1] / w;
            let b = [x0, y0, x1 + 1 - x0, y1 + 1 - y0];
            match spans.last_mut() {
                Some(s) if s.1 + 1 == index && s.3 == f => s.1 = index,
                _ => spans.push((index, index, b, f)),
            }
        }
        index += 1;
    }
    let (fw, fh) = (size.0 as usize, size.1 as usize);
    let parts: Vec<String> = spans
        .iter()
        .map(|(a, b, r, _)| {
            // delogo needs a pixel of picture on every side.
            let x = r[0].clamp(1, fw - 3);
            let y = r[1].clamp(1, fh - 3);
            let w = r[2].min(fw - 1 - x).max(2);
            let h = r[3].min(fh - 1 - y).max(2);
            format!("delogo=x={x}:y={y}:w={w}:h={h}:enable='between(n,{a},{b})'")
        })
        .collect();
    Ok(if parts.is_empty() {
        "null".into()
    } else {
        parts.join(",")
    })
}

/// Runs the benchmark on the data in `dir` (the videos named in `only`,
/// or all), writing outputs under `out`; `python` runs `script` (the
/// Telea peer; skipped when it is missing).
///
/// # Errors
/// Missing data, models or tools.
pub fn run(
    dir: &Path,
    out: &Path,
    python: &Path,
    script: &Path,
    only: &[String],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let models = ModelDir::from_env();
    let detext = Detext::load(&models).map_err(|e| anyhow::anyhow!("{e}"))?;
    let reader = CaptionExtraction::load(&models).map_err(|e| anyhow::anyhow!("{e}"))?;
    let telea = python.exists() && script.exists();
    if !telea {
        println!(
            "note: {} or {} is missing: the Telea peer is skipped (scripts/bench-detext makes its venv)",
            python.display(),
            script.display()
        );
    }
    println!(
        "{:<22} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "video", "ourP", "ourS", "ourBd", "telP", "telS", "telBd", "dlgP", "dlgS", "dlgBd",
        "resid%", "telRes", "dlgRes", "flick", "telFl", "dlgFl", "ours s", "x dec",
        "fastP", "fastS", "fRes%", "fast s", "f xdec"
    );
    let mut rows: Vec<[Row; 4]> = Vec::new();
    let mut decodes = Vec::new();
    for case in cases(dir, out)?
        .into_iter()
        .filter(|c| only.is_empty() || only.contains(&c.name))
    {
        let (w, h, _, _) = probe_size(&case.video)?;
        let size = (w, h);
        let mask = mask_video(&case, out)?;
        let cues = srt_cues(&case.srt)?;
        let ours_path = out.join(format!("{}-iprod.mp4", case.name));
        let params = DetextParams {
            target: if case.title {
                TextTarget::All
            } else {
                TextTarget::Captions
            },
            ..DetextParams::default()
        };
        let residual = |path: &Path| {
            if case.title {
                residual_anywhere(&reader, path, &cues)
            } else {
                residual(&reader, path, &cues)
            }
        };
        // Ours, with `params` written to `path`.
        let ours_with = |path: &Path, params: &DetextParams| -> anyhow::Result<Scored> {
            let seconds = timed(|| {
                detext
                    .process_video(&case.video, path, params, &Context::default())
                    .map(drop)
                    .map_err(|e| anyhow::anyhow!("{}", e.message))
            })?;
            Ok(Scored {
                errors: errors(path, &case.clean, &mask, size)?,
                residual: residual(path)?,
                seconds,
            })
        };
        let ours = ours_with(&ours_path, &params)?;
        let fast = ours_with(
            &out.join(format!("{}-iprod-fast.mp4", case.name)),
            &DetextParams {
                quality: Quality::Fast,
                ..params.clone()
            },
        )?;
        let telea_score = if telea {
            let path = out.join(format!("{}-telea.mp4", case.name));
            let s = timed(|| {
                let status = Command::new(python)
                    .arg(script)
                    .arg(&case.video)
                    .arg(&mask)
                    .arg(&path)
                    .arg(params.crf.to_string())
                    .status()
                    .context("running the Telea peer")?;
                anyhow::ensure!(status.success(), "the Telea peer failed");
                Ok(())
            })?;
            Scored {
                errors: errors(&path, &case.clean, &mask, size)?,
                residual: residual(&path)?,
                seconds: s,
            }
        } else {
            Scored::default()
        };
        let delogo_path = out.join(format!("{}-delogo.mp4", case.name));
        let filter = delogo_filter(&mask, size)?;
        let filter_file = out.join(format!("{}-delogo.filter", case.name));
        std::fs::write(&filter_file, &filter)?;
        let delogo_s = timed(|| {
            crate::bench::ffmpeg(&[
                "-i",
                &case.video.to_string_lossy(),
                "-filter_script:v",
                &filter_file.to_string_lossy(),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                &params.crf.to_string(),
                &delogo_path.to_string_lossy(),
            ])
        })?;
        let delogo = Scored {
            errors: errors(&delogo_path, &case.clean, &mask, size)?,
            residual: residual(&delogo_path)?,
            seconds: delogo_s,
        };
        let decode_s = timed(|| {
            crate::bench::ffmpeg(&["-i", &case.video.to_string_lossy(), "-f", "null", "-"])
        })?;
        let row = [
            Row::from(&ours),
            Row::from(&telea_score),
            Row::from(&delogo),
            Row::from(&fast),
        ];
        print_row(&case.name, &row, decode_s);
        rows.push(row);
        decodes.push(decode_s);
    }
    let pick = |k: usize| -> Vec<Row> { rows.iter().map(|r| r[k]).collect() };
    let mean = [0, 1, 2, 3].map(|k| Row::mean(&pick(k)));
    let decode = decodes.iter().sum::<f64>() / decodes.len().max(1) as f64;
    print_row("mean", &mean, decode);
    let [o, t, d, f] = mean;
    println!(
        "time (mean s): iprod {:.2} (Quality fast {:.2}), Telea {:.2}, FFmpeg delogo {:.2}, FFmpeg decode {:.2}",
        o.seconds, f.seconds, t.seconds, d.seconds, decode
    );
    println!("P: luma PSNR (dB) inside the true caption mask; S: SSIM there; Bd: PSNR over the caption band (full width); resid%: the cues' characters CaptionExtraction still reads (matched to the cue on screen); flick: frame-to-frame change inside the mask over the clean video's own, taken as at least half a level (1 = as steady); title_*: text that is not a subtitle, ours with Target all, resid% read by the text detector over the whole frame once a second; x dec: our wall time over FFmpeg's decode of the same file; fast*: ours with Quality fast");
    Ok(())
}

/// One table row: ours, Telea, `delogo` and ours with `Quality: "fast"`.
fn print_row(name: &str, [o, t, d, f]: &[Row; 4], decode: f64) {
    println!(
        "{:<22} {:>6.2} {:>6.3} {:>6.2} {:>6.2} {:>6.3} {:>6.2} {:>6.2} {:>6.3} {:>6.2} {:>7.2} {:>7.2} {:>7.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.3} {:>6.2} {:>6.2} {:>6.2}",
        name,
        o.psnr, o.ssim, o.band,
        t.psnr, t.ssim, t.band,
        d.psnr, d.ssim, d.band,
        o.residual, t.residual, d.residual,
        o.flicker, t.flicker, d.flicker,
        o.seconds, o.seconds / decode.max(1e-9),
        f.psnr, f.ssim, f.residual, f.seconds, f.seconds / decode.max(1e-9)
    );
}
