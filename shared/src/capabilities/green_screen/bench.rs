//! `iprod bench green-screen DIR`: green-screen keying against ground-truth
//! alpha (`<name>.gt_alpha.png` beside `<name>.png` and/or `<name>.mp4`).
//!
//! For each image and video: SAD (sum of absolute alpha differences /
//! 1000), MSE and gradient error (squared difference of the alpha
//! gradients / 1000) of our alpha, and of FFmpeg `chromakey` + `despill` at
//! its best setting on that file (a sweep of `similarity` and `blend`, keyed
//! on the screen's median colour); for videos the mean over frames, the
//! flicker (mean alpha change between frames of these static mattes) and
//! the wall time of both producing the same VP9+alpha WebM.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use image::{GrayImage, RgbImage};

use crate::capabilities::green_screen::key::{detect_screen, KeySettings, Keyer, Screen};
use crate::domain::Limits;
use crate::media::encode::VideoCodec;
use crate::media::process::transform_video;

/// Alpha errors against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AlphaErrors {
    /// Sum of absolute differences (alpha in 0–1) / 1000.
    pub sad: f64,
    /// Mean squared difference.
    pub mse: f64,
    /// Sum of squared gradient differences / 1000.
    pub grad: f64,
}

/// Errors of `alpha` against `truth` (same size).
pub fn alpha_errors(alpha: &GrayImage, truth: &GrayImage) -> AlphaErrors {
    let (w, h) = truth.dimensions();
    let at = |img: &GrayImage, x: u32, y: u32| f64::from(img.get_pixel(x, y)[0]) / 255.0;
    let (mut sad, mut sq, mut grad) = (0.0, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let d = at(alpha, x, y) - at(truth, x, y);
            sad += d.abs();
            sq += d * d;
            if x + 1 < w && y + 1 < h {
                let gx = (at(alpha, x + 1, y) - at(alpha, x, y))
                    - (at(truth, x + 1, y) - at(truth, x, y));
                let gy = (at(alpha, x, y + 1) - at(alpha, x, y))
                    - (at(truth, x, y + 1) - at(truth, x, y));
                grad += gx * gx + gy * gy;
            }
        }
    }
    AlphaErrors {
        sad: sad / 1000.0,
        mse: sq / f64::from((w * h).max(1)),
        grad: grad / 1000.0,
    }
}

fn mean_errors(all: &[AlphaErrors]) -> AlphaErrors {
    let n = all.len().max(1) as f64;
    AlphaErrors {
        sad: all.iter().map(|e| e.sad).sum::<f64>() / n,
        mse: all.iter().map(|e| e.mse).sum::<f64>() / n,
        grad: all.iter().map(|e| e.grad).sum::<f64>() / n,
    }
}

/// Median colour of the pixels the truth marks as screen, as `0xRRGGBB`.
fn screen_colour(frame: &RgbImage, truth: &GrayImage) -> String {
    let mut channels = [Vec::new(), Vec::new(), Vec::new()];
    for (p, a) in frame.pixels().zip(truth.pixels()) {
        if a[0] == 0 {
            for c in 0..3 {
                channels[c].push(p[c]);
            }
        }
    }
    let median = |v: &mut Vec<u8>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let [mut r, mut g, mut b] = channels;
    format!(
        "0x{:02X}{:02X}{:02X}",
        median(&mut r),
        median(&mut g),
        median(&mut b)
    )
}

/// Mean absolute alpha change between consecutive frames, in thousandths
/// (the test mattes are static, so any change is flicker).
pub fn flicker(frames: &[GrayImage]) -> f64 {
    let pairs: Vec<f64> = frames
        .windows(2)
        .map(|w| {
            let sum: f64 = w[0]
                .pixels()
                .zip(w[1].pixels())
                .map(|(a, b)| f64::from(a[0].abs_diff(b[0])) / 255.0)
                .sum();
            sum / f64::from((w[0].width() * w[0].height()).max(1))
        })
        .collect();
    1000.0 * pairs.iter().sum::<f64>() / pairs.len().max(1) as f64
}

fn chromakey_filter(colour: &str, similarity: f64, blend: f64) -> String {
    format!("format=rgba,chromakey={colour}:{similarity}:{blend},despill=type=green")
}

const SWEEP: [(f64, f64); 12] = [
    (0.05, 0.0),
    (0.1, 0.0),
    (0.15, 0.0),
    (0.2, 0.0),
    (0.05, 0.05),
    (0.1, 0.05),
    (0.15, 0.05),
    (0.2, 0.05),
    (0.1, 0.1),
    (0.15, 0.1),
    (0.2, 0.1),
    (0.3, 0.1),
];

fn row(name: &str, who: &str, e: &AlphaErrors, extra: &str) {
    println!(
        "{name:<34} {who:<30} {:>8.2} {:>9.5} {:>8.2} {extra}",
        e.sad, e.mse, e.grad
    );
}

/// Runs the benchmark over `dir`.
///
/// # Errors
/// When a file cannot be read or FFmpeg fails.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    let mut truths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".gt_alpha.png"))
        .collect();
    truths.sort();
    anyhow::ensure!(
        !truths.is_empty(),
        "no .gt_alpha.png files in {}",
        dir.display()
    );
    let work = tempfile::tempdir()?;
    println!(
        "{:<34} {:<30} {:>8} {:>9} {:>8}",
        "file", "keyer", "SAD", "MSE", "grad"
    );
    let (mut ours_all, mut peer_all) = (Vec::new(), Vec::new());
    let (mut ours_time, mut peer_time) = (0.0, 0.0);
    for truth_path in &truths {
        let name = truth_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .trim_end_matches(".gt_alpha.png")
            .to_owned();
        let truth = image::open(truth_path)?.to_luma8();
        let still = dir.join(format!("{name}.png"));
        let video = dir.join(format!("{name}.mp4"));
        let frame = if still.exists() {
            image::open(&still)?.to_rgb8()
        } else {
            continue;
        };
        let colour = screen_colour(&frame, &truth);
        // Still image.
        let screen = detect_screen(&frame).unwrap_or(Screen::Green);
        let ours = Keyer::new(screen, KeySettings::default()).key(&frame);
        let alpha = GrayImage::from_fn(ours.width(), ours.height(), |x, y| {
            image::Luma([ours.get_pixel(x, y)[3]])
        });
        let e_ours = alpha_errors(&alpha, &truth);
        std::fs::create_dir_all("out/bench-keying")?;
        alpha.save(format!("out/bench-keying/{name}.iprod_alpha.png"))?;
        row(&format!("{name}.png"), "iprod", &e_ours, "");
        let mut best: Option<(AlphaErrors, (f64, f64))> = None;
        for (k, &(sim, blend)) in SWEEP.iter().enumerate() {
            let out = work.path().join(format!("{name}-ck{k}.png"));
            crate::bench::ffmpeg(&[
                "-i",
                &still.to_string_lossy(),
                "-vf",
                &chromakey_filter(&colour, sim, blend),
                &out.to_string_lossy(),
            ])?;
            let keyed = image::open(&out)?.to_rgba8();
            let a = GrayImage::from_fn(keyed.width(), keyed.height(), |x, y| {
                image::Luma([keyed.get_pixel(x, y)[3]])
            });
            let e = alpha_errors(&a, &truth);
            if best.is_none_or(|(b, _)| e.sad < b.sad) {
                best = Some((e, (sim, blend)));
            }
        }
        if let Some((e, (sim, blend))) = best {
            row(
                &format!("{name}.png"),
                &format!("ffmpeg chromakey {sim}/{blend}"),
                &e,
                "",
            );
            ours_all.push(e_ours);
            peer_all.push(e);
        }
        if !video.exists() {
            continue;
        }
        // Video: the same WebM (VP9 with alpha) from both.
        let ours_out = work.path().join(format!("{name}-iprod.webm"));
        let start = Instant::now();
        let mut keyer: Option<Keyer> = None;
        transform_video(
            &video,
            &ours_out,
            VideoCodec::Vp9Alpha { crf: 30 },
            &Limits::default(),
            &AtomicBool::new(false),
            None,
            |rgb, _, _| {
                let k = keyer.get_or_insert_with(|| {
                    Keyer::new(
                        detect_screen(&rgb).unwrap_or(Screen::Green),
                        KeySettings::default(),
                    )
                    .for_subsampled_chroma(true)
                });
                Ok(k.key(&rgb))
            },
        )?;
        let t_ours = start.elapsed().as_secs_f64();
        let (sim, blend) = best.map_or((0.1, 0.05), |b| b.1);
        let peer_out = work.path().join(format!("{name}-ffmpeg.webm"));
        let start = Instant::now();
        crate::bench::ffmpeg(&[
            "-i",
            &video.to_string_lossy(),
            "-vf",
            &chromakey_filter(&colour, sim, blend),
            "-c:v",
            "libvpx-vp9",
            "-pix_fmt",
            "yuva420p",
            "-crf",
            "30",
            "-b:v",
            "0",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-row-mt",
            "1",
            "-auto-alt-ref",
            "0",
            "-c:a",
            "libopus",
            &peer_out.to_string_lossy(),
        ])?;
        let t_peer = start.elapsed().as_secs_f64();
        let frames_ours = crate::bench::alpha_frames(&ours_out, work.path(), &format!("{name}-o"))?;
        let frames_peer = crate::bench::alpha_frames(&peer_out, work.path(), &format!("{name}-p"))?;
        let e_ours = mean_errors(
            &frames_ours
                .iter()
                .map(|a| alpha_errors(a, &truth))
                .collect::<Vec<_>>(),
        );
        let e_peer = mean_errors(
            &frames_peer
                .iter()
                .map(|a| alpha_errors(a, &truth))
                .collect::<Vec<_>>(),
        );
        row(
            &format!("{name}.mp4 ({} frames)", frames_ours.len()),
            "iprod",
            &e_ours,
            &format!("{t_ours:.2} s, flicker {:.2}", flicker(&frames_ours)),
        );
        row(
            &format!("{name}.mp4 ({} frames)", frames_peer.len()),
            &format!("ffmpeg chromakey {sim}/{blend}"),
            &e_peer,
            &format!("{t_peer:.2} s, flicker {:.2}", flicker(&frames_peer)),
        );
        ours_all.push(e_ours);
        peer_all.push(e_peer);
        ours_time += t_ours;
        peer_time += t_peer;
    }
    let (o, p) = (mean_errors(&ours_all), mean_errors(&peer_all));
    row("mean", "iprod", &o, &format!("{ours_time:.2} s"));
    row(
        "mean",
        "ffmpeg chromakey (best per file)",
        &p,
        &format!("{peer_time:.2} s"),
    );
    if peer_time > 0.0 {
        println!(
            "video time ratio iprod / ffmpeg: {:.2}x",
            ours_time / peer_time
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_zero_for_the_truth_and_count_each_difference() {
        let truth = GrayImage::from_fn(10, 10, |x, _| image::Luma([if x < 5 { 255 } else { 0 }]));
        assert_eq!(alpha_errors(&truth, &truth), AlphaErrors::default());
        let wrong = GrayImage::from_pixel(10, 10, image::Luma([255]));
        let e = alpha_errors(&wrong, &truth);
        assert!((e.sad - 0.05).abs() < 1e-12, "{e:?}");
        assert!((e.mse - 0.5).abs() < 1e-12);
        assert!(e.grad > 0.0);
        assert_eq!(flicker(&[truth.clone(), truth.clone()]), 0.0);
        assert!((flicker(&[truth, wrong]) - 500.0).abs() < 1e-9);
    }
}
