//! `iprod bench matting DIR`: figure cut-out against ground-truth alpha,
//! with the peers run on the same inputs in the same run (rembg's U²-Net-p
//! with rembg's own pre- and post-processing; MediaPipe's selfie
//! segmentation, general and landscape), by `scripts/bench/matting_peer.py`.
//!
//! - Pictures: `DIR/<name>/image.png` with `DIR/<name>/alpha.png` (8-bit
//!   alpha). Scores per picture and mean: SAD, MSE, gradient and
//!   connectivity error (the Composition-1k definitions, over the whole
//!   picture), and time per megapixel.
//! - Videos, made here: the astronaut inside a drawn silhouette (true
//!   alpha known) moving over a background (a pan across the coffee
//!   photograph, or `--background VIDEO`). Scores: the per-frame errors,
//!   dtSSD (temporal coherence: how the alpha's change from frame to frame
//!   differs from the truth's), and wall time per video second against
//!   FFmpeg's own VP9-with-alpha encode of the same clip.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use image::{GrayImage, Luma, RgbImage};

use crate::bench::figures::{astronaut, coffee, place, Figure};
use crate::capabilities::matting::figure::{Figures, Models};
use crate::detect::face::FaceDetector;
use crate::detect::person::PersonSegmenter;
use crate::domain::Limits;
use crate::inference::{available_threads, ModelDir};
use crate::media::encode::VideoCodec;
use crate::media::process::transform_video;
use crate::media::MediaError;
use crate::vision::regions::regions;

/// The peers the Python side runs, in table order.
const PEERS: [&str; 3] = ["rembg-u2netp", "mediapipe-general", "mediapipe-landscape"];
/// Video size and rate of the made clips.
const VIDEO: (u32, u32) = (960, 540);
const FPS: f64 = 25.0;

/// Errors of one alpha against the truth.
#[derive(Debug, Clone, Copy, Default)]
pub struct Errors {
    /// Sum of absolute differences / 1000.
    pub sad: f64,
    /// Mean squared error × 1000.
    pub mse: f64,
    /// Gradient error / 1000.
    pub grad: f64,
    /// Connectivity error / 1000.
    pub conn: f64,
}

impl Errors {
    fn mean(all: &[Errors]) -> Errors {
        let n = all.len().max(1) as f64;
        let sum = |f: fn(&Errors) -> f64| all.iter().map(f).sum::<f64>() / n;
        Errors {
            sad: sum(|e| e.sad),
            mse: sum(|e| e.mse),
            grad: sum(|e| e.grad),
            conn: sum(|e| e.conn),
        }
    }
}

fn plane(img: &GrayImage) -> Vec<f64> {
    img.pixels().map(|p| f64::from(p[0]) / 255.0).collect()
}

/// The Composition-1k gradient magnitude: Gaussian derivative filters,
/// σ = 1.4, kernel normalised to unit energy, edges replicated.
fn gradient(a: &[f64], w: usize, h: usize) -> Vec<f64> {
    let sigma = 1.4f64;
    let half = (sigma * (-2.0 * ((2.0 * std::f64::consts::PI).sqrt() * sigma * 0.01).ln()).sqrt())
        .ceil() as i64;
    let gauss = |x: f64| {
        (-x * x / (2.0 * sigma * sigma)).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt())
    };
    let dgauss = |x: f64| -x * gauss(x) / (sigma * sigma);
    let size = (2 * half + 1) as usize;
    let mut hx = vec![0f64; size * size];
    for i in 0..size {
        for j in 0..size {
            hx[i * size + j] = gauss(i as f64 - half as f64) * dgauss(j as f64 - half as f64);
        }
    }
    let norm = hx.iter().map(|v| v * v).sum::<f64>().sqrt();
    hx.iter_mut().for_each(|v| *v /= norm);
    let at = |x: i64, y: i64| {
        a[(y.clamp(0, h as i64 - 1) as usize) * w + x.clamp(0, w as i64 - 1) as usize]
    };
    let mut out = vec![0f64; w * h];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let (mut gx, mut gy) = (0f64, 0f64);
            for i in 0..size as i64 {
                for j in 0..size as i64 {
                    let k = hx[(i * size as i64 + j) as usize];
                    // Correlation with hx (x derivative along j) and its
                    // transpose (y derivative along i).
                    gx += k * at(x + j - half, y + i - half);
                    gy += k * at(x + i - half, y + j - half);
                }
            }
            out[y as usize * w + x as usize] = (gx * gx + gy * gy).sqrt();
        }
    }
    out
}

/// The largest 4-connected region of `mask`.
fn largest_region(mask: &[bool], w: usize) -> Vec<bool> {
    let mut out = vec![false; mask.len()];
    if let Some(largest) = regions(mask, w).into_iter().max_by_key(Vec::len) {
        for i in largest {
            out[i] = true;
        }
    }
    out
}

/// The Composition-1k connectivity error (thresholds 0, 0.1, …, 1).
fn connectivity(p: &[f64], t: &[f64], w: usize, h: usize) -> f64 {
    let mut level = vec![-1f64; w * h];
    let steps: Vec<f64> = (0..=10).map(|i| f64::from(i) / 10.0).collect();
    for i in 1..steps.len() {
        let both: Vec<bool> = p
            .iter()
            .zip(t)
            .map(|(&a, &b)| a >= steps[i] && b >= steps[i])
            .collect();
        let omega = largest_region(&both, w);
        for k in 0..w * h {
            if level[k] == -1.0 && !omega[k] {
                level[k] = steps[i - 1];
            }
        }
    }
    level
        .iter_mut()
        .filter(|l| **l == -1.0)
        .for_each(|l| *l = 1.0);
    let phi = |v: f64, l: f64| {
        let d = v - l;
        1.0 - if d >= 0.15 { d } else { 0.0 }
    };
    (0..w * h)
        .map(|k| (phi(p[k], level[k]) - phi(t[k], level[k])).abs())
        .sum::<f64>()
        / 1000.0
}

/// SAD, MSE, gradient and connectivity error of `found` against `truth`.
pub fn errors(found: &GrayImage, truth: &GrayImage) -> Errors {
    let (w, h) = (truth.width() as usize, truth.height() as usize);
    let (p, t) = (plane(found), plane(truth));
    let sad = p.iter().zip(&t).map(|(a, b)| (a - b).abs()).sum::<f64>();
    let mse = p
        .iter()
        .zip(&t)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / (w * h) as f64;
    let (gp, gt) = (gradient(&p, w, h), gradient(&t, w, h));
    let grad = gp
        .iter()
        .zip(&gt)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>();
    Errors {
        sad: sad / 1000.0,
        mse: mse * 1000.0,
        grad: grad / 1000.0,
        conn: connectivity(&p, &t, w, h),
    }
}

/// The mean errors of a sequence of alphas against its truth.
fn sequence_errors(found: &[GrayImage], truth: &[GrayImage]) -> Errors {
    Errors::mean(
        &found
            .iter()
            .zip(truth)
            .map(|(f, t)| errors(f, t))
            .collect::<Vec<_>>(),
    )
}

/// dtSSD × 100 over a sequence (mean over frame pairs).
pub fn dt_ssd(found: &[GrayImage], truth: &[GrayImage]) -> f64 {
    let n = found.len().min(truth.len());
    if n < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for k in 1..n {
        let (a1, a0, t1, t0) = (&found[k], &found[k - 1], &truth[k], &truth[k - 1]);
        let mut sum = 0.0;
        for i in 0..(a1.width() * a1.height()) as usize {
            let v = |g: &GrayImage| f64::from(g.as_raw()[i]) / 255.0;
            let d = (v(a1) - v(a0)) - (v(t1) - v(t0));
            sum += d * d;
        }
        total += (sum / f64::from(a1.width() * a1.height())).sqrt() * 100.0;
    }
    total / (n - 1) as f64
}

fn models() -> anyhow::Result<Models> {
    let dir = ModelDir::from_env();
    let threads = available_threads();
    Ok((
        Arc::new(PersonSegmenter::load(&dir, threads)?),
        Arc::new(FaceDetector::load(&dir, threads)?),
    ))
}

fn alpha_image(alpha: &[f32], w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        Luma([(alpha[(y * w + x) as usize].clamp(0.0, 1.0) * 255.0).round() as u8])
    })
}

/// Runs the peer script in `mode` on `list` (one input path per line);
/// returns its timings: peer → seconds.
fn peers(
    python: &Path,
    script: &Path,
    mode: &str,
    list: &Path,
    out: &Path,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let status = std::process::Command::new(python)
        .arg(script)
        .arg(mode)
        .arg(list)
        .arg(out)
        .status()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    anyhow::ensure!(status.success(), "{} failed: {status}", script.display());
    let timing: BTreeMap<String, f64> =
        serde_json::from_str(&std::fs::read_to_string(out.join("timing.json"))?)?;
    Ok(timing)
}

fn read_alpha(path: &Path, size: (u32, u32)) -> anyhow::Result<GrayImage> {
    let a = image::open(path)
        .with_context(|| format!("reading {}", path.display()))?
        .to_luma8();
    anyhow::ensure!(
        a.dimensions() == size,
        "{}: size {:?}",
        path.display(),
        a.dimensions()
    );
    Ok(a)
}

fn row(name: &str, method: &str, e: &Errors, extra: &str) {
    println!(
        "| {name} | {method} | {:.2} | {:.2} | {:.2} | {:.2} |{extra}",
        e.sad, e.mse, e.grad, e.conn
    );
}

fn video_row(clip: &str, method: &str, e: &Errors, dt_ssd: f64, time: &str) {
    println!(
        "| {clip} | {method} | {:.2} | {:.2} | {:.2} | {:.2} | {dt_ssd:.2} | {time} |",
        e.sad, e.mse, e.grad, e.conn
    );
}

/// One made clip: where the figure is in each frame, and the background.
struct Clip {
    name: &'static str,
    frames: u32,
    at: fn(u32) -> (i32, i32),
    pan: fn(u32) -> i32,
}

const CLIPS: [Clip; 2] = [
    // Walks across a panning background and out of the frame.
    Clip {
        name: "walk",
        frames: 125,
        at: |i| {
            (
                -120 + 8 * i as i32,
                60 + (i as f32 * 0.4).sin().mul_add(6.0, 0.0) as i32,
            )
        },
        pan: |i| 2 * i as i32,
    },
    // Stands nearly still, swaying, over a still background.
    Clip {
        name: "sway",
        frames: 125,
        at: |i| (300 + (i as f32 * 0.12).sin().mul_add(25.0, 0.0) as i32, 70),
        pan: |_| 0,
    },
];

/// The background of frame `i`: a window of `plate` moved by `pan`.
fn background(plate: &RgbImage, offset: i32) -> RgbImage {
    let max = plate.width() as i32 - VIDEO.0 as i32;
    let x = offset.clamp(0, max.max(0)) as u32;
    image::imageops::crop_imm(plate, x, 0, VIDEO.0, VIDEO.1).to_image()
}

fn frames_of<'a>(
    clip: &Clip,
    plate: &'a RgbImage,
    figure: &'a Figure,
) -> impl Fn(u32) -> (RgbImage, GrayImage) + 'a {
    let at = clip.at;
    let pan = clip.pan;
    move |i| {
        let (x, y) = at(i);
        place(&background(plate, pan(i)), figure, x, y)
    }
}

/// Runs the benchmark; see the module documentation.
///
/// # Errors
/// Unreadable data, a failing peer, FFmpeg failures.
pub fn run(
    dir: &Path,
    out: &Path,
    python: &Path,
    script: &Path,
    plate: Option<&Path>,
) -> anyhow::Result<()> {
    let models = models()?;
    std::fs::create_dir_all(out)?;
    // Pictures.
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter(|e| e.path().join("image.png").is_file() && e.path().join("alpha.png").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    let images = out.join("images");
    std::fs::create_dir_all(&images)?;
    let mut list = String::new();
    let mut ours: BTreeMap<String, (Errors, f64, f64)> = BTreeMap::new();
    for name in &names {
        let picture = image::open(dir.join(name).join("image.png"))?.to_rgb8();
        let truth = image::open(dir.join(name).join("alpha.png"))?.to_luma8();
        anyhow::ensure!(
            picture.dimensions() == truth.dimensions(),
            "{name}: sizes differ"
        );
        let (w, h) = picture.dimensions();
        let start = Instant::now();
        let alpha = Figures::still(&models).alpha(&picture, 0.0)?;
        let seconds = start.elapsed().as_secs_f64();
        let found = alpha_image(&alpha, w, h);
        std::fs::create_dir_all(images.join(name))?;
        found.save(images.join(name).join("iprod.png"))?;
        ours.insert(
            name.clone(),
            (errors(&found, &truth), seconds, f64::from(w * h) / 1e6),
        );
        list.push_str(&format!(
            "{name}\t{}\n",
            dir.join(name).join("image.png").display()
        ));
    }
    std::fs::write(images.join("list.tsv"), &list)?;
    let timing = if names.is_empty() {
        BTreeMap::new()
    } else {
        peers(python, script, "images", &images.join("list.tsv"), &images)?
    };
    println!("## Pictures ({} from {})\n", names.len(), dir.display());
    println!("| picture | method | SAD | MSE ×10³ | Grad | Conn | s/MP |");
    println!("|---|---|---|---|---|---|---|");
    let mut all: BTreeMap<String, Vec<Errors>> = BTreeMap::new();
    let mut per_mp: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for name in &names {
        let (e, seconds, mp) = ours[name];
        let truth = image::open(dir.join(name).join("alpha.png"))?.to_luma8();
        row(name, "iprod", &e, &format!(" {:.2} |", seconds / mp));
        all.entry("iprod".into()).or_default().push(e);
        let t = per_mp.entry("iprod".into()).or_default();
        (t.0, t.1) = (t.0 + seconds, t.1 + mp);
        for peer in PEERS {
            let found = read_alpha(
                &images.join(name).join(format!("{peer}.png")),
                truth.dimensions(),
            )?;
            let e = errors(&found, &truth);
            let seconds = timing
                .get(&format!("{peer}/{name}"))
                .copied()
                .unwrap_or(f64::NAN);
            row(name, peer, &e, &format!(" {:.2} |", seconds / mp));
            all.entry(peer.into()).or_default().push(e);
            let t = per_mp.entry(peer.into()).or_default();
            (t.0, t.1) = (t.0 + seconds, t.1 + mp);
        }
    }
    for method in std::iter::once("iprod").chain(PEERS) {
        if let (Some(errs), Some((s, mp))) = (all.get(method), per_mp.get(method)) {
            row(
                "**mean**",
                method,
                &Errors::mean(errs),
                &format!(" {:.2} |", s / mp),
            );
        }
    }

    // Videos.
    let plate = match plate {
        Some(path) => {
            let mut reader = crate::media::VideoReader::open(path, &Limits::default())?;
            let info = reader.info().clone();
            let frame = reader.frame_at(0.0)?;
            let rgb = info
                .rotation
                .apply(reader.to_rgb(&frame, info.width, info.height)?);
            image::imageops::resize(
                &rgb,
                VIDEO.0 + 260,
                VIDEO.1,
                image::imageops::FilterType::Triangle,
            )
        }
        None => coffee(VIDEO.0 + 260, VIDEO.1)?,
    };
    let figure = astronaut(420)?;
    println!(
        "\n## Videos ({}x{}, {FPS} fps, made here)\n",
        VIDEO.0, VIDEO.1
    );
    println!("| clip | method | SAD | MSE ×10³ | Grad | Conn | dtSSD | s per video s |");
    println!("|---|---|---|---|---|---|---|---|");
    for clip in &CLIPS {
        let work = out.join("videos").join(clip.name);
        std::fs::create_dir_all(&work)?;
        let make = frames_of(clip, &plate, &figure);
        let video = crate::bench::composite::clip(
            &work.join("input.mp4"),
            f64::from(clip.frames) / FPS,
            |i| make(i).0,
        )?;
        let truths: Vec<GrayImage> = (0..clip.frames).map(|i| make(i).1).collect();
        let seconds_of_video = f64::from(clip.frames) / FPS;
        // Ours: the whole job's work, decode to VP9 WebM with alpha.
        let ours_out = work.join("iprod.webm");
        let start = Instant::now();
        let mut figures = Figures::video(&models);
        let mut failed = None;
        let done = transform_video(
            &video,
            &ours_out,
            VideoCodec::Vp9Alpha { crf: 28 },
            &Limits::default(),
            &AtomicBool::new(false),
            None,
            |rgb, t, _| {
                use crate::capabilities::matte_out::Matter;
                figures.matte(&rgb, t).map_err(|e| {
                    failed = Some(e);
                    MediaError::Cancelled
                })
            },
        );
        if let Some(e) = failed {
            anyhow::bail!("{}: {e}", clip.name);
        }
        done?;
        let t_ours = start.elapsed().as_secs_f64();
        // The floor: FFmpeg's VP9-with-alpha encode of the same clip.
        let floor = work.join("ffmpeg-vp9.webm");
        let start = Instant::now();
        crate::bench::ffmpeg(&[
            "-i",
            &video.to_string_lossy(),
            "-c:v",
            "libvpx-vp9",
            "-pix_fmt",
            "yuva420p",
            "-b:v",
            "2M",
            &floor.to_string_lossy(),
        ])?;
        let t_floor = start.elapsed().as_secs_f64();
        let found = crate::bench::alpha_frames(&ours_out, &work, "iprod-alpha")?;
        let e = sequence_errors(&found, &truths);
        video_row(
            clip.name,
            "iprod",
            &e,
            dt_ssd(&found, &truths),
            &format!(
                "{:.2} ({:.2}× FFmpeg's VP9 encode, {:.2})",
                t_ours / seconds_of_video,
                t_ours / t_floor,
                t_floor / seconds_of_video
            ),
        );
        // Peers, frame by frame on the same decoded frames.
        let frames_dir = work.join("frames");
        std::fs::create_dir_all(&frames_dir)?;
        crate::bench::ffmpeg(&[
            "-i",
            &video.to_string_lossy(),
            &frames_dir.join("%04d.png").to_string_lossy(),
        ])?;
        let mut list = String::new();
        for k in 1..=clip.frames {
            list.push_str(&format!(
                "{k:04}\t{}\n",
                frames_dir.join(format!("{k:04}.png")).display()
            ));
        }
        std::fs::write(work.join("list.tsv"), &list)?;
        let timing = peers(python, script, "images", &work.join("list.tsv"), &work)?;
        for peer in PEERS {
            let found: Vec<GrayImage> = (1..=clip.frames)
                .map(|k| {
                    read_alpha(
                        &work.join(format!("{k:04}")).join(format!("{peer}.png")),
                        VIDEO,
                    )
                })
                .collect::<anyhow::Result<_>>()?;
            let e = sequence_errors(&found, &truths);
            let seconds: f64 = (1..=clip.frames)
                .filter_map(|k| timing.get(&format!("{peer}/{k:04}")))
                .sum();
            video_row(
                clip.name,
                peer,
                &e,
                dt_ssd(&found, &truths),
                &format!("{:.2} (model only)", seconds / seconds_of_video),
            );
        }
    }
    println!(
        "\nPeers: {}. SAD and connectivity /1000, MSE ×1000, gradient /1000 (σ 1.4), dtSSD ×100; \
         whole pictures, no trimap.",
        PEERS.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_alpha_scores_zero_and_a_wrong_one_does_not() {
        let truth = GrayImage::from_fn(40, 30, |x, _| {
            Luma([if x < 20 {
                255
            } else if x < 24 {
                128
            } else {
                0
            }])
        });
        let e = errors(&truth, &truth);
        assert_eq!((e.sad, e.mse, e.grad, e.conn), (0.0, 0.0, 0.0, 0.0));
        let shifted = GrayImage::from_fn(40, 30, |x, _| Luma([if x < 22 { 255 } else { 0 }]));
        let e = errors(&shifted, &truth);
        // 2 columns of 1 and 4 of 0.5 → 30 × (2·0.5 + 0.5 + … ) pixels.
        assert!(
            e.sad > 0.03 && e.mse > 0.0 && e.grad > 0.0 && e.conn > 0.0,
            "{e:?}"
        );
        // dtSSD: a sequence that moves like the truth scores 0.
        let seq = vec![truth.clone(), shifted.clone()];
        assert_eq!(dt_ssd(&seq, &seq), 0.0);
        assert!(dt_ssd(&[truth.clone(), truth.clone()], &seq) > 0.0);
    }

    #[test]
    fn the_largest_region_is_kept() {
        let mask = [true, true, false, true, false, false, false, false, true];
        let r = largest_region(&mask, 3);
        assert_eq!(
            r,
            vec![true, true, false, true, false, false, false, false, false]
        );
    }
}
