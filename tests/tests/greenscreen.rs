//! `VideoGreenScreenMatting` on generated screens with a known foreground.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::GrayImage;
use iprod::capabilities::greenscreen::GreenScreen;
use iprod::capabilities::{Capability, CapabilityOutput, Context, OutputSink};
use iprod::domain::{ErrorCode, JobError, OutputTemplate};
use iprod_tests::screens::{alpha, clip, frame, SIZE};
use serde_json::{json, Value};

fn run(input: &Path, params: Value, out: &Path) -> Result<(CapabilityOutput, PathBuf), JobError> {
    run_with(input, params, out, &Context::default())
}

fn run_with(
    input: &Path,
    params: Value,
    out: &Path,
    ctx: &Context,
) -> Result<(CapabilityOutput, PathBuf), JobError> {
    let internal =
        |e: &dyn std::fmt::Display| JobError::permanent(ErrorCode::InternalError, e.to_string());
    std::fs::create_dir_all(out).map_err(|e| internal(&e))?;
    let template =
        OutputTemplate::parse(&format!("{}/", out.display())).map_err(|e| internal(&e))?;
    let mut sink = OutputSink::new(out, template, "clip", 0, "job");
    GreenScreen.check(&params)?;
    let output = GreenScreen.run(input, &params, &mut sink, ctx)?;
    let file = sink.into_files().remove(0).local;
    Ok((output, file))
}

fn probe(path: &Path) -> anyhow::Result<Value> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()?;
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Alpha planes of the output's frames (libvpx keeps VP9 alpha).
fn alphas(video: &Path, dir: &Path) -> anyhow::Result<Vec<GrayImage>> {
    let pattern = dir.join("a-%03d.png");
    iprod::bench::ffmpeg(&[
        "-c:v",
        "libvpx-vp9",
        "-i",
        &video.to_string_lossy(),
        "-vf",
        "alphaextract",
        "-pix_fmt",
        "gray",
        &pattern.to_string_lossy(),
    ])?;
    let mut frames = Vec::new();
    for k in 1.. {
        let p = dir.join(format!("a-{k:03}.png"));
        if !p.exists() {
            break;
        }
        frames.push(image::open(&p)?.to_luma8());
    }
    Ok(frames)
}

/// Mean |alpha − truth| over pixels where the truth is 0, 255, and in
/// between.
fn errors(found: &GrayImage, truth: &GrayImage) -> [f64; 3] {
    let mut acc = [(0.0, 0usize); 3];
    for (f, t) in found.pixels().zip(truth.pixels()) {
        let k = match t[0] {
            0 => 0,
            255 => 1,
            _ => 2,
        };
        acc[k].0 += (f64::from(f[0]) - f64::from(t[0])).abs() / 255.0;
        acc[k].1 += 1;
    }
    acc.map(|(s, n)| s / n.max(1) as f64)
}

#[test]
fn a_green_screen_clip_keys_to_webm_with_true_alpha_and_keeps_its_audio() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = clip(dir.path(), "green", [30, 190, 70])?;
    let (out, file) = run(&src, json!({}), &dir.path().join("out"))?;
    assert_eq!(out.data["Screen"], "green");
    let p = probe(&file)?;
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
    let frames = alphas(&file, dir.path())?;
    assert_eq!(frames.len(), 50);
    for (i, f) in frames.iter().enumerate().step_by(7) {
        let [screen, subject, edge] = errors(f, &alpha(i as u32));
        assert!(
            screen < 0.02,
            "frame {i}: screen not transparent ({screen})"
        );
        assert!(
            subject < 0.03,
            "frame {i}: holes in the subject ({subject})"
        );
        assert!(edge < 0.25, "frame {i}: soft edge off by {edge}");
    }
    Ok(())
}

#[test]
fn spill_is_removed_and_a_still_image_gives_a_png_with_alpha() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let still = dir.path().join("still.png");
    let mut img = frame(0, [30, 190, 70]);
    // Green spill on the subject's edge.
    for x in 56..66 {
        img.put_pixel(x, 90, image::Rgb([150, 175, 120]));
    }
    img.save(&still)?;
    let (out, file) = run(&still, json!({}), &dir.path().join("out"))?;
    assert_eq!(out.data["Format"], "png");
    let keyed = image::open(&file)?.to_rgba8();
    assert_eq!(keyed.dimensions(), SIZE);
    for x in 58..64 {
        let p = keyed.get_pixel(x, 90);
        // Green no more than the larger of red and blue where it is visible.
        assert!(
            p[3] < 30 || i32::from(p[1]) <= i32::from(p[0].max(p[2])) + 2,
            "{x}: {p:?}"
        );
    }
    assert_eq!(keyed.get_pixel(2, 2)[3], 0);
    assert_eq!(keyed.get_pixel(100, 90)[3], 255);
    Ok(())
}

#[test]
fn blue_screen_mov_and_mp4_over_a_colour() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = clip(dir.path(), "blue", [30, 60, 200])?;
    let (out, file) = run(&src, json!({"Format": "mov"}), &dir.path().join("mov"))?;
    assert_eq!(out.data["Screen"], "blue");
    let p = probe(&file)?;
    assert!(
        p["streams"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["codec_name"] == "prores" && s["profile"] == "4444"),
        "{p}"
    );
    assert!(
        p["streams"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["codec_name"] == "aac"),
        "audio copied: {p}"
    );
    let (_, file) = run(&src, json!({"bgcolor": "#FF0000"}), &dir.path().join("mp4"))?;
    let png = dir.path().join("mp4-frame.png");
    iprod::bench::ffmpeg(&[
        "-i",
        &file.to_string_lossy(),
        "-frames:v",
        "1",
        &png.to_string_lossy(),
    ])?;
    let f = image::open(&png)?.to_rgb8();
    let corner = f.get_pixel(3, 3);
    assert!(
        corner[0] > 200 && corner[1] < 40 && corner[2] < 40,
        "screen replaced by red: {corner:?}"
    );
    let subject = f.get_pixel(100, 90);
    assert!(
        subject[0] > 140 && subject[1] > 110,
        "subject kept: {subject:?}"
    );
    Ok(())
}

#[test]
fn no_screen_bgimage_and_bad_params_fail_with_the_reason() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let plain = iprod_tests::media::small_clip(dir.path(), "plain.mp4")?;
    let err = run(&plain, json!({}), &dir.path().join("o")).expect_err("no screen");
    assert_eq!(err.code, ErrorCode::UnsupportedMedia);
    assert!(
        err.message.contains("no green or blue screen"),
        "{}",
        err.message
    );
    for (params, key) in [
        (json!({"bgimage": "ftp://bucket/bg.jpg"}), "bgimage"),
        (json!({"Format": "mp4"}), "Format"),
        (json!({"Spill": -1}), "Spill"),
    ] {
        let err = run(&plain, params, &dir.path().join("o")).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(err.message.contains(key), "{}", err.message);
    }
    let corrupt = iprod_tests::media::corrupt_clip(dir.path(), "corrupt.mp4")?;
    let err = run(&corrupt, json!({}), &dir.path().join("o")).expect_err("corrupt");
    assert_eq!(err.code, ErrorCode::InvalidMedia, "{}", err.message);
    Ok(())
}

#[test]
fn a_background_image_is_scaled_to_cover_the_frame_and_shows_through() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = clip(dir.path(), "green", [30, 190, 70])?;
    // A 4:3 background, left half yellow, right half purple: scaled to cover
    // 16:9 and centre-cropped, the halves stay left and right.
    let bg = dir.path().join("bg.jpg");
    image::RgbImage::from_fn(400, 300, |x, _| {
        if x < 200 {
            image::Rgb([230, 210, 40])
        } else {
            image::Rgb([120, 40, 160])
        }
    })
    .save(&bg)?;
    let mut ctx = Context::default();
    ctx.inputs.insert("bgimage".into(), bg);
    let params = json!({"bgimage": "s3://media/backgrounds/bg.jpg"});
    let (out, file) = run_with(&src, params, &dir.path().join("o"), &ctx)?;
    assert_eq!(out.data["Format"], "mp4");
    assert_eq!(out.data["Alpha"], false);
    let png = dir.path().join("frame.png");
    iprod::bench::ffmpeg(&[
        "-i",
        &file.to_string_lossy(),
        "-frames:v",
        "1",
        &png.to_string_lossy(),
    ])?;
    let f = image::open(&png)?.to_rgb8();
    let left = f.get_pixel(4, 4);
    let right = f.get_pixel(SIZE.0 - 5, 4);
    assert!(
        left[0] > 190 && left[1] > 170 && left[2] < 90,
        "yellow: {left:?}"
    );
    assert!(
        right[0] < 160 && right[1] < 80 && right[2] > 120,
        "purple: {right:?}"
    );
    let subject = f.get_pixel(100, 90);
    assert!(
        subject[0] > 140 && subject[1] > 110 && subject[2] > 95,
        "subject kept: {subject:?}"
    );
    // Not an image: a clear error naming it.
    let mut ctx = Context::default();
    ctx.inputs.insert("bgimage".into(), src.clone());
    let err = run_with(
        &src,
        json!({"bgimage": "s3://media/bg.mp4"}),
        &dir.path().join("o2"),
        &ctx,
    )
    .expect_err("not an image");
    assert_eq!(err.code, ErrorCode::InvalidMedia);
    assert!(
        err.message.contains("bgimage s3://media/bg.mp4"),
        "{}",
        err.message
    );
    Ok(())
}

#[test]
fn a_video_as_png_gives_one_png_with_alpha_per_frame() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = clip(dir.path(), "green", [30, 190, 70])?;
    let out_dir = dir.path().join("seq");
    std::fs::create_dir_all(&out_dir)?;
    let template = OutputTemplate::parse(&format!("{}/", out_dir.display()))?;
    let mut sink = OutputSink::new(&out_dir, template, "clip", 0, "job");
    let params = json!({"Format": "png"});
    let out = GreenScreen.run(&src, &params, &mut sink, &Context::default())?;
    assert_eq!(out.data["Frames"], 50, "{}", out.data);
    assert!(out.message.contains("PNG sequence"), "{}", out.message);
    let files = sink.into_files();
    assert_eq!(files.len(), 50);
    assert!(
        files[0].location.to_string().ends_with("clip-matte-1.png"),
        "{}",
        files[0].location
    );
    for i in [0usize, 49] {
        let png = image::open(&files[i].local)?.to_rgba8();
        assert_eq!(png.get_pixel(2, 2)[3], 0, "frame {i}: screen");
        let truth = alpha(i as u32);
        let centre = (100 + 2 * i as u32, 90);
        assert_eq!(truth.get_pixel(centre.0, centre.1)[0], 255);
        assert_eq!(
            png.get_pixel(centre.0, centre.1)[3],
            255,
            "frame {i}: subject"
        );
    }
    Ok(())
}
