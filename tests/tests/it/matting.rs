//! `VideoMatting` / `ImageMatting` on a real person (the astronaut
//! photograph) seen through a drawn silhouette over a real background, so
//! the true alpha is known.

use std::path::{Path, PathBuf};

use image::GrayImage;
use iprod::bench::composite::clip;
use iprod::bench::figures::{astronaut, coffee, place};
use iprod::capabilities::green_screen::api::MatteFormat;
use iprod::capabilities::matting::api::MattingResult;
use iprod::capabilities::matting::Matting;
use iprod::capabilities::{Context, Report};
use iprod::domain::JobError;
use iprod::inference::ModelDir;
use iprod_tests::{probe, run_capability};
use serde_json::{json, Value};

const W: u32 = 640;
const H: u32 = 360;

fn run(
    input: &Path,
    params: Value,
    out: &Path,
) -> anyhow::Result<Result<(Report<MattingResult>, PathBuf), JobError>> {
    let capability = Matting::load(&ModelDir::from_env())?;
    Ok(
        run_capability(&capability, input, &params, out, &Context::default())
            .map(|(report, files)| (report, files.into_iter().next().unwrap_or_default())),
    )
}

/// Intersection over union of the two alphas above one half.
fn iou(found: &GrayImage, truth: &GrayImage) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (f, t) in found.pixels().zip(truth.pixels()) {
        let (a, b) = (f[0] > 127, t[0] > 127);
        inter += u64::from(a && b);
        union += u64::from(a || b);
    }
    inter as f64 / union.max(1) as f64
}

/// Mean |alpha − truth| (0–1).
fn mean_error(found: &GrayImage, truth: &GrayImage) -> f64 {
    let sum: f64 = found
        .pixels()
        .zip(truth.pixels())
        .map(|(f, t)| (f64::from(f[0]) - f64::from(t[0])).abs() / 255.0)
        .sum();
    sum / f64::from(found.width() * found.height())
}

/// Where the figure's top-left corner is in frame `i` of the clip: it
/// walks right and is gone from frame 43 on.
fn walk(i: u32) -> (i32, i32) {
    (20 + 14 * i as i32, 40)
}

#[test]
fn a_person_over_a_new_background_is_cut_out_with_a_soft_alpha() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let figure = astronaut(320)?;
    let (picture, truth) = place(&coffee(W, H)?, &figure, 160, 40);
    let input = dir.path().join("guest.png");
    picture.save(&input)?;
    let (out, file) = run(&input, json!({}), &dir.path().join("png"))??;
    assert_eq!(out.result.format, MatteFormat::Png);
    assert!(out.message.starts_with("figure cut out"), "{}", out.message);
    assert_eq!(out.result.person_share, 1.0);
    let cut = image::open(&file)?.to_rgba8();
    assert_eq!(cut.dimensions(), (W, H));
    let alpha = GrayImage::from_fn(W, H, |x, y| image::Luma([cut.get_pixel(x, y)[3]]));
    let overlap = iou(&alpha, &truth);
    let error = mean_error(&alpha, &truth);
    // The silhouette cuts through the suit with straight edges no model
    // expects; about 0.89 is found.
    assert!(overlap > 0.85, "IoU {overlap}");
    assert!(error < 0.05, "mean error {error}");
    // Fractional alpha along the edge, not a hard mask.
    let soft = alpha.pixels().filter(|p| p[0] > 20 && p[0] < 235).count();
    assert!(soft > 500, "{soft} soft pixels");
    // One person, boxed where she is.
    let boxes = &out.result.keyframes[0].boxes;
    assert_eq!(boxes.len(), 1, "{:?}", out.result.keyframes);
    let [x, y, w, h] = boxes[0];
    assert!(
        x.abs_diff(168) < 30 && y.abs_diff(40) < 30,
        "{:?}",
        boxes[0]
    );
    assert!(w > 200 && h > 250, "{:?}", boxes[0]);

    // The grey mask is the same alpha.
    let (out, file) = run(&input, json!({"Format": "mask"}), &dir.path().join("mask"))??;
    assert_eq!(out.result.format, MatteFormat::Mask);
    let mask = image::open(&file)?;
    assert_eq!(mask.color(), image::ColorType::L8);
    assert!(mean_error(&mask.to_luma8(), &alpha) < 0.002);
    Ok(())
}

#[test]
fn a_picture_without_a_person_succeeds_with_an_empty_alpha() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("table.png");
    coffee(W, H)?.save(&input)?;
    let (out, file) = run(&input, json!({}), &dir.path().join("out"))??;
    assert!(
        out.message.starts_with("no person found"),
        "{}",
        out.message
    );
    assert_eq!(out.result.person_share, 0.0);
    assert!(out.result.keyframes[0].boxes.is_empty());
    let cut = image::open(&file)?.to_rgba8();
    assert!(cut.pixels().all(|p| p[3] == 0));
    Ok(())
}

#[test]
fn a_person_walking_out_of_a_video_is_cut_out_frame_by_frame() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let figure = astronaut(300)?;
    let background = coffee(W, H)?;
    let video = clip(&dir.path().join("walk.mp4"), 2.0, |i| {
        let (x, y) = walk(i);
        place(&background, &figure, x, y).0
    })?;
    let (out, file) = run(&video, json!({}), &dir.path().join("webm"))??;
    assert_eq!(out.result.format, MatteFormat::Webm);
    assert_eq!(out.result.frames, 50);
    // At least half of her is in the first 31 frames of 50, some of her in
    // the first 43: the model loses a figure cut off by the frame edge
    // somewhere in between.
    let share = out.result.person_share;
    assert!((0.6..=0.88).contains(&share), "share {share}");
    assert!(out.message.contains("% of the frames"), "{}", out.message);
    // A box at 0 s and at 1 s, following her.
    let k = &out.result.keyframes;
    assert_eq!(k.len(), 2, "{k:?}");
    assert_eq!((k[0].time, k[1].time), (0.0, 1.0));
    assert!(k[1].boxes[0][0] > k[0].boxes[0][0] + 250, "{k:?}");

    let p = probe(&file, &[])?;
    let streams = p["streams"].as_array().cloned().unwrap_or_default();
    assert!(
        streams
            .iter()
            .any(|s| s["codec_name"] == "vp9" && s["tags"]["alpha_mode"] == "1"),
        "{p}"
    );
    assert!(
        streams.iter().any(|s| s["codec_name"] == "opus"),
        "audio kept: {p}"
    );
    let frames = iprod::bench::alpha_frames(&file, dir.path(), "a")?;
    assert_eq!(frames.len(), 50);
    for i in (0..30).step_by(6) {
        let (x, y) = walk(i);
        let truth = place(&background, &figure, x, y).1;
        let overlap = iou(&frames[i as usize], &truth);
        assert!(overlap > 0.75, "frame {i}: IoU {overlap}");
    }
    for f in &frames[45..] {
        let left = f.pixels().filter(|p| p[0] > 127).count();
        assert!(left < 200, "{left} opaque pixels after she left");
    }
    Ok(())
}

#[test]
fn prores_keeps_alpha_and_mp4_composites_over_a_colour() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let figure = astronaut(300)?;
    let background = coffee(W, H)?;
    let video = clip(&dir.path().join("short.mp4"), 0.4, |_| {
        place(&background, &figure, 170, 40).0
    })?;
    let (out, file) = run(&video, json!({"Format": "mov"}), &dir.path().join("mov"))??;
    assert_eq!(out.result.format, MatteFormat::Mov);
    let p = probe(&file, &[])?;
    let streams = p["streams"].as_array().cloned().unwrap_or_default();
    assert!(
        streams.iter().any(|s| s["codec_name"] == "prores"
            && s["pix_fmt"]
                .as_str()
                .is_some_and(|f| f.starts_with("yuva444p"))),
        "{p}"
    );
    assert!(streams.iter().any(|s| s["codec_type"] == "audio"), "{p}");

    let (out, file) = run(
        &video,
        json!({"bgcolor": "#00B140"}),
        &dir.path().join("mp4"),
    )??;
    assert_eq!(out.result.format, MatteFormat::Mp4);
    assert!(!out.result.alpha);
    let frame = iprod_tests::frame_at(&file, 0.1, &dir.path().join("f.png"))?;
    // Far from the figure: the new colour; on her face: not.
    let corner = frame.get_pixel(20, 20);
    assert!(
        corner[0] < 30 && corner[1] > 150 && corner[2] > 40 && corner[2] < 100,
        "{corner:?}"
    );
    // Inside the figure (the suit's chest): the input's own colour.
    let source = place(&background, &figure, 170, 40).0;
    let (a, b) = (
        frame.get_pixel(170 + 80, 40 + 240),
        source.get_pixel(170 + 80, 40 + 240),
    );
    assert!((0..3).all(|c| a[c].abs_diff(b[c]) < 25), "{a:?} vs {b:?}");

    let (out, file) = run(&video, json!({"Format": "mask"}), &dir.path().join("mask"))??;
    assert_eq!(out.result.format, MatteFormat::Mask);
    let p = probe(&file, &[])?;
    assert!(
        p["streams"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["codec_name"] == "h264")),
        "{p}"
    );
    let grey = iprod_tests::frame_at(&file, 0.1, &dir.path().join("m.png"))?;
    let truth = place(&background, &figure, 170, 40).1;
    let found = GrayImage::from_fn(W, H, |x, y| image::Luma([grey.get_pixel(x, y)[1]]));
    assert!(iou(&found, &truth) > 0.85);
    Ok(())
}

#[test]
fn bad_params_name_the_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("table.png");
    coffee(64, 36)?.save(&input)?;
    for (params, key) in [
        (json!({"Format": "mp4"}), "Format"),
        (json!({"Format": "webm"}), "Format"),
        (json!({"Crf": -1}), "Crf"),
        (json!({"Quality": "best"}), "Quality"),
    ] {
        let err = run(&input, params.clone(), &dir.path().join("out"))?.expect_err("refused");
        assert!(err.message.contains(key), "{params}: {}", err.message);
    }
    Ok(())
}

#[test]
fn a_video_split_in_two_is_cut_out_as_one_pass_cuts_it_with_no_seam() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let figure = astronaut(300)?;
    let background = coffee(W, H)?;
    let made = clip(&dir.path().join("made.mp4"), 3.0, |i| {
        place(&background, &figure, 20 + 4 * i as i32, 40).0
    })?;
    // A keyframe every 12 frames: the cut falls at 1.44 s and the second
    // segment warms up from 0.44 s.
    let video = dir.path().join("gop12.mp4");
    iprod::bench::ffmpeg(&[
        "-i",
        &made.to_string_lossy(),
        "-c:v",
        "libx264",
        "-g",
        "12",
        "-c:a",
        "copy",
        &video.to_string_lossy(),
    ])?;
    let capability = Matting::load(&ModelDir::from_env())?;
    let params = json!({"Format": "mov"});
    let mut results = Vec::new();
    for (name, parts) in [("whole", None), ("split", Some(2))] {
        let (output, files) =
            iprod_tests::run_split(&capability, &video, &params, &dir.path().join(name), parts)?;
        let file = files.into_iter().next().unwrap_or_default();
        results.push((output, iprod::bench::alpha_frames(&file, dir.path(), name)?));
    }
    let (whole, whole_alpha) = &results[0];
    let (split, split_alpha) = &results[1];
    assert_eq!(split.data["Frames"], 75);
    assert_eq!(split.data["Frames"], whole.data["Frames"]);
    assert_eq!(split.data["Duration"], whole.data["Duration"]);
    assert_eq!(split.data["Keyframes"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        split.data["Keyframes"]
            .as_array()
            .map(|k| k.iter().map(|k| k["Time"].clone()).collect::<Vec<_>>()),
        whole.data["Keyframes"]
            .as_array()
            .map(|k| k.iter().map(|k| k["Time"].clone()).collect::<Vec<_>>()),
    );
    let share = |d: &Value| d["PersonShare"].as_f64().unwrap_or(-1.0);
    assert!(
        (share(&split.data) - share(&whole.data)).abs() < 0.03,
        "{} vs {}",
        split.data,
        whole.data
    );
    assert_eq!(whole_alpha.len(), 75);
    assert_eq!(split_alpha.len(), 75);
    // Before the cut, the first segment is the one pass.
    for i in 0..36 {
        let drift = mean_error(&split_alpha[i], &whole_alpha[i]);
        assert!(drift < 1e-3, "frame {i}: |split - whole| = {drift:.4}");
    }
    // After it, the model's fresh looks fall on other frames, so the
    // alphas differ a little, but are as good against the truth...
    let truth = |i: usize| place(&background, &figure, 20 + 4 * i as i32, 40).1;
    let error = |alphas: &[GrayImage]| -> f64 {
        (36..75)
            .map(|i| mean_error(&alphas[i], &truth(i)))
            .sum::<f64>()
            / 39.0
    };
    let (split_error, whole_error) = (error(split_alpha), error(whole_alpha));
    assert!(
        split_error <= whole_error + 0.005,
        "after the cut: error {split_error:.4} split, {whole_error:.4} one pass"
    );
    // ... and no seam: the alpha changes from the last frame before the
    // cut to the first after it as much as in one pass.
    let (split_step, whole_step) = (
        mean_error(&split_alpha[36], &split_alpha[35]),
        mean_error(&whole_alpha[36], &whole_alpha[35]),
    );
    assert!(
        split_step <= 1.5 * whole_step + 0.005,
        "change at the cut: {split_step:.4} split, {whole_step:.4} one pass"
    );
    Ok(())
}
