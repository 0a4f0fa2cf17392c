//! `iprod bench delogo DIR`: logo detection and removal against the clean
//! video, beside FFmpeg's `delogo` and `removelogo` handed the true box and
//! mask.
//!
//! DIR holds `boxes.tsv` (`video  x  y  w  h  note`, one logo a video),
//! the videos, the clean video they were made from (`<prefix>_clean.mp4`
//! for `<prefix>_<logo>.mp4`) and the logos as PNGs with alpha
//! (`<logo>_<width>.png`). Besides the videos listed, the bench makes
//! more from the clean video and the PNGs (other corners, sizes and
//! opacities, and one shown only in the middle third), so the truth is
//! known.
//!
//! Per video: the IoU of the box found with the true one, logos found
//! elsewhere, the found time span; luma PSNR and SSIM inside the true box
//! and over the whole frame against the clean video, for ours and both
//! peers; wall time of each, producing the same H.264 (veryfast, CRF 18).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;

use super::api::{DelogoParams, LogoFound};
use super::blend::Rect;
use crate::capabilities::Context;

/// One test video and its truth.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    video: PathBuf,
    clean: PathBuf,
    truth: Rect,
    /// The logo's alpha (for removelogo's mask), when known.
    logo: Option<PathBuf>,
    /// The span the logo is shown, when not the whole video.
    span: Option<(f64, f64)>,
}

/// Luma PSNR (dB) and SSIM.
#[derive(Debug, Clone, Copy, Default)]
struct Quality {
    psnr: f64,
    ssim: f64,
}

/// Luma PSNR and SSIM of `video` against `clean` over `area` (the whole
/// frame when `None`), by FFmpeg's own `psnr` and `ssim` filters.
fn quality(video: &Path, clean: &Path, area: Option<Rect>) -> anyhow::Result<Quality> {
    let crop = area.map_or(String::new(), |r| {
        format!("crop={}:{}:{}:{},", r.w, r.h, r.x, r.y)
    });
    let graph = format!(
        "[0:v]{crop}format=yuv420p,split[a0][a1];[1:v]{crop}format=yuv420p,split[b0][b1];[a0][b0]psnr;[a1][b1]ssim"
    );
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(video)
        .arg("-i")
        .arg(clean)
        .args(["-lavfi", &graph, "-f", "null", "-"])
        .output()
        .context("running ffmpeg")?;
    let text = String::from_utf8_lossy(&out.stderr);
    let after = |key: &str| -> Option<f64> {
        let at = text.rfind(key)? + key.len();
        let tail = &text[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'i' || c == 'n' || c == 'f'))
            .unwrap_or(tail.len());
        let v = &tail[..end];
        if v.starts_with("inf") {
            Some(99.0)
        } else {
            v.parse().ok()
        }
    };
    Ok(Quality {
        psnr: after("PSNR y:").with_context(|| format!("no PSNR from ffmpeg: {text}"))?,
        ssim: after("SSIM Y:").with_context(|| format!("no SSIM from ffmpeg: {text}"))?,
    })
}

fn timed(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

/// The logo PNG for video `<prefix>_<logo>.mp4`: `<logo>_*.png` in `dir`.
fn logo_png(dir: &Path, logo: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "png")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| s.starts_with(&format!("{logo}_")))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

fn listed_cases(dir: &Path) -> anyhow::Result<Vec<Case>> {
    let table = std::fs::read_to_string(dir.join("boxes.tsv"))
        .with_context(|| format!("reading {}/boxes.tsv", dir.display()))?;
    let mut cases = Vec::new();
    for line in table.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        anyhow::ensure!(cols.len() >= 5, "bad line in boxes.tsv: {line}");
        let n = |i: usize| -> anyhow::Result<u32> {
            cols[i]
                .trim()
                .parse()
                .with_context(|| format!("column {i} of {line}"))
        };
        let video = dir.join(cols[0]);
        let stem = video
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let (prefix, logo) = stem.split_once('_').unwrap_or((&stem, ""));
        let ext = video.extension().and_then(|e| e.to_str()).unwrap_or("mp4");
        cases.push(Case {
            name: cols[0].to_owned(),
            clean: dir.join(format!("{prefix}_clean.{ext}")),
            logo: logo_png(dir, logo),
            truth: Rect {
                x: n(1)?,
                y: n(2)?,
                w: n(3)?,
                h: n(4)?,
            },
            video,
            span: None,
        });
    }
    Ok(cases)
}

/// More cases from the clean video and the logo PNGs: other corners,
/// sizes and opacities, one logo shown only from 10 s to 20 s.
fn made_cases(cases: &[Case], work: &Path) -> anyhow::Result<Vec<Case>> {
    let Some(clean) = cases.first().map(|c| c.clean.clone()) else {
        return Ok(Vec::new());
    };
    let mut logos: Vec<PathBuf> = cases.iter().filter_map(|c| c.logo.clone()).collect();
    logos.sort();
    logos.dedup();
    if logos.is_empty() {
        return Ok(Vec::new());
    }
    let (fw, fh) = {
        let reader = crate::media::VideoReader::open(&clean, &crate::domain::Limits::default())?;
        reader.info().display_size()
    };
    // (logo index, corner, scale, opacity, span)
    type Plan = (usize, &'static str, f64, f64, Option<(f64, f64)>);
    let plans: [Plan; 4] = [
        (0, "bl", 1.0, 0.5, None),
        (1, "tr", 0.75, 0.6, None),
        (1, "br", 1.25, 1.0, None),
        (0, "tl", 1.0, 0.8, Some((10.0, 20.0))),
    ];
    let mut out = Vec::new();
    for (i, corner, scale, opacity, span) in plans {
        let logo = &logos[i % logos.len()];
        let img = image::open(logo)?.to_rgba8();
        let w = ((f64::from(img.width()) * scale).round() as u32) & !1;
        let h = ((f64::from(img.height()) * scale).round() as u32) & !1;
        let margin = 36;
        let x = if corner.ends_with('l') {
            margin
        } else {
            fw - w - margin
        };
        let y = if corner.starts_with('t') {
            margin
        } else {
            fh - h - margin
        };
        let stem = logo.file_stem().and_then(|s| s.to_str()).unwrap_or("logo");
        let name = format!(
            "made_{stem}_{corner}_x{scale}_a{opacity}{}.mp4",
            if span.is_some() { "_10-20s" } else { "" }
        );
        let video = work.join(&name);
        let enable = span.map_or(String::new(), |(a, b)| {
            format!(":enable='between(t,{a},{b})'")
        });
        let graph = format!(
            "[1:v]format=rgba,scale={w}:{h},colorchannelmixer=aa={opacity}[l];[0:v][l]overlay={x}:{y}:format=auto:shortest=1{enable},format=yuv420p"
        );
        crate::bench::ffmpeg(&[
            "-i",
            &clean.to_string_lossy(),
            "-loop",
            "1",
            "-i",
            &logo.to_string_lossy(),
            "-filter_complex",
            &graph,
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "16",
            "-an",
            &video.to_string_lossy(),
        ])?;
        let scaled = work.join(format!("{name}.png"));
        image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle).save(&scaled)?;
        out.push(Case {
            name,
            video,
            clean: clean.clone(),
            truth: Rect { x, y, w, h },
            logo: Some(scaled),
            span,
        });
    }
    Ok(out)
}

/// removelogo's mask: white where the logo has alpha, over the frame.
fn mask_for(case: &Case, frame: (u32, u32), path: &Path) -> anyhow::Result<()> {
    let mut mask = image::GrayImage::new(frame.0, frame.1);
    let alpha = case
        .logo
        .as_ref()
        .map(|p| image::open(p).map(|i| i.to_rgba8()))
        .transpose()?
        .filter(|a| a.dimensions() == (case.truth.w, case.truth.h));
    for y in 0..case.truth.h {
        for x in 0..case.truth.w {
            let on = alpha.as_ref().is_none_or(|a| a.get_pixel(x, y)[3] > 0);
            let (px, py) = (case.truth.x + x, case.truth.y + y);
            if on && px < frame.0 && py < frame.1 {
                mask.put_pixel(px, py, image::Luma([255]));
            }
        }
    }
    mask.save(path)?;
    Ok(())
}

fn x264(input: &Path, filter: &str, output: &Path) -> anyhow::Result<()> {
    crate::bench::x264(input, filter, 18, output)
}

struct Row {
    box_q: Quality,
    frame_q: Quality,
    time: f64,
}

/// Runs the benchmark on `dir`.
///
/// # Errors
/// Missing files, or a tool failing.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let mut cases = listed_cases(dir)?;
    let made = made_cases(&cases, work.path())?;
    cases.extend(made);
    println!(
        "{:<40} {:>5} {:>5} {:>12} | {:>26} | {:>26} | {:>26}",
        "video",
        "IoU",
        "false",
        "span s",
        "iprod box / frame PSNR SSIM",
        "delogo (true box)",
        "removelogo (true mask)"
    );
    let mut all: [Vec<Row>; 3] = Default::default();
    let mut ious = Vec::new();
    let mut false_logos = 0usize;
    for case in &cases {
        let frame = {
            let reader =
                crate::media::VideoReader::open(&case.video, &crate::domain::Limits::default())?;
            reader.info().display_size()
        };
        let ours_out = work.path().join(format!("{}-iprod.mp4", case.name));
        let mut logos: Vec<LogoFound> = Vec::new();
        let t_ours = timed(|| {
            let outcome = super::process_video(
                &case.video,
                &ours_out,
                &DelogoParams::default(),
                &Context::default(),
            )
            .map_err(|e| anyhow::anyhow!("{}: {}", case.name, e.message))?;
            anyhow::ensure!(outcome.encoded, "{}: no logo found", case.name);
            logos = outcome.logos;
            Ok(())
        });
        let t_ours = match t_ours {
            Ok(t) => t,
            Err(e) => {
                println!("{:<40} {e}", case.name);
                ious.push(0.0);
                continue;
            }
        };
        let best = logos
            .iter()
            .map(|l| {
                let [x, y, w, h] = l.rect;
                (Rect { x, y, w, h }.iou(case.truth), l)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let iou = best.map_or(0.0, |b| b.0);
        let wrong = logos
            .iter()
            .filter(|l| {
                let [x, y, w, h] = l.rect;
                Rect { x, y, w, h }.iou(case.truth) < 0.1
            })
            .count();
        ious.push(iou);
        false_logos += wrong;
        let span = best.map_or("-".into(), |(_, l)| format!("{:.1}-{:.1}", l.start, l.end));
        let t = case.truth;
        let delogo_out = work.path().join(format!("{}-delogo.mp4", case.name));
        // delogo needs a one-pixel border inside the frame.
        let (dx, dy) = (t.x.max(1), t.y.max(1));
        let (dw, dh) = (
            t.w.min(frame.0 - 1 - dx).max(1),
            t.h.min(frame.1 - 1 - dy).max(1),
        );
        let t_delogo = timed(|| {
            x264(
                &case.video,
                &format!("delogo=x={dx}:y={dy}:w={dw}:h={dh}"),
                &delogo_out,
            )
        })?;
        let mask = work.path().join(format!("{}-mask.png", case.name));
        mask_for(case, frame, &mask)?;
        let remove_out = work.path().join(format!("{}-removelogo.mp4", case.name));
        let t_remove = timed(|| {
            x264(
                &case.video,
                &format!("removelogo=f={}", mask.to_string_lossy()),
                &remove_out,
            )
        })?;
        let mut cells = Vec::new();
        for (slot, (out, time)) in [
            (ours_out, t_ours),
            (delogo_out, t_delogo),
            (remove_out, t_remove),
        ]
        .into_iter()
        .enumerate()
        {
            let row = Row {
                box_q: quality(&out, &case.clean, Some(case.truth))?,
                frame_q: quality(&out, &case.clean, None)?,
                time,
            };
            cells.push(format!(
                "{:>5.2} {:.3} / {:>5.2} {:.3}",
                row.box_q.psnr, row.box_q.ssim, row.frame_q.psnr, row.frame_q.ssim
            ));
            all[slot].push(row);
        }
        println!(
            "{:<40} {:>5.2} {:>5} {:>12} | {} | {} | {}{}",
            case.name,
            iou,
            wrong,
            span,
            cells[0],
            cells[1],
            cells[2],
            case.span
                .map_or(String::new(), |(a, b)| format!("  (shown {a}-{b} s)"))
        );
    }
    let mean =
        |v: &[Row], f: &dyn Fn(&Row) -> f64| v.iter().map(f).sum::<f64>() / v.len().max(1) as f64;
    println!();
    println!(
        "mean over {} videos: IoU {:.3} (lowest {:.3}), false logos {}",
        cases.len(),
        ious.iter().sum::<f64>() / ious.len().max(1) as f64,
        ious.iter().copied().fold(f64::INFINITY, f64::min),
        false_logos
    );
    for (name, rows) in [
        "iprod (found)",
        "ffmpeg delogo (true box)",
        "ffmpeg removelogo (true mask)",
    ]
    .iter()
    .zip(&all)
    {
        println!(
            "{name:<32} box PSNR {:>6.2} dB SSIM {:.4} | frame PSNR {:>6.2} dB SSIM {:.4} | {:>6.2} s",
            mean(rows, &|r| r.box_q.psnr),
            mean(rows, &|r| r.box_q.ssim),
            mean(rows, &|r| r.frame_q.psnr),
            mean(rows, &|r| r.frame_q.ssim),
            mean(rows, &|r| r.time),
        );
    }
    let (ours, delogo) = (mean(&all[0], &|r| r.time), mean(&all[1], &|r| r.time));
    if delogo > 0.0 {
        println!("time ratio iprod / ffmpeg delogo: {:.2}x", ours / delogo);
    }
    Ok(())
}
