//! `VideoGreenScreenMatting` on generated screens with a known foreground.

use std::path::{Path, PathBuf};

use image::GrayImage;
use iprod::capabilities::green_screen::api::{GreenScreenResult, MatteFormat};
use iprod::capabilities::green_screen::GreenScreen;
use iprod::capabilities::{Capability, Context, ExtraInput, OutputSink, Report};
use iprod::domain::{ErrorCode, JobError, OutputTemplate};
use iprod_tests::screens::{alpha, clip, frame, SIZE};
use iprod_tests::{frame_at, probe, run_capability, RecordedProgress};
use serde_json::{json, Value};

fn run(
    input: &Path,
    params: Value,
    out: &Path,
) -> Result<(Report<GreenScreenResult>, PathBuf), JobError> {
    run_with(input, params, out, &Context::default())
}

fn run_with(
    input: &Path,
    params: Value,
    out: &Path,
    ctx: &Context,
) -> Result<(Report<GreenScreenResult>, PathBuf), JobError> {
    let (output, files) = run_capability(&GreenScreen, input, &params, out, ctx)?;
    Ok((output, files.into_iter().next().unwrap_or_default()))
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
    assert_eq!(out.result.screen, "green");
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
    assert_eq!(out.result.format, MatteFormat::Png);
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
    assert_eq!(out.result.screen, "blue");
    let p = probe(&file, &[])?;
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
    let f = frame_at(&file, 0.0, &png)?;
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
    ctx.inputs.insert(ExtraInput::Background, bg);
    let params = json!({"bgimage": "s3://media/backgrounds/bg.jpg"});
    let (out, file) = run_with(&src, params, &dir.path().join("o"), &ctx)?;
    assert_eq!(out.result.format, MatteFormat::Mp4);
    assert!(!out.result.alpha);
    let png = dir.path().join("frame.png");
    let f = frame_at(&file, 0.0, &png)?;
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
    // Neither an image nor a video: a clear error naming it.
    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"not a picture at all")?;
    let mut ctx = Context::default();
    ctx.inputs.insert(ExtraInput::Background, junk);
    let err = run_with(
        &src,
        json!({"bgimage": "s3://media/junk.jpg"}),
        &dir.path().join("o2"),
        &ctx,
    )
    .expect_err("not an image");
    assert_eq!(err.code, ErrorCode::InvalidMedia);
    assert!(
        err.message.contains("bgimage s3://media/junk.jpg"),
        "{}",
        err.message
    );
    Ok(())
}

#[test]
fn a_background_video_plays_under_the_subject_and_loops() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = clip(dir.path(), "green", [30, 190, 70])?;
    // 0.8 s of background: red for 0.4 s, then blue; the 2 s clip loops it.
    let bg = dir.path().join("bg.mp4");
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=160x120:r=25:d=0.4",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=160x120:r=25:d=0.4",
        "-filter_complex",
        "[0][1]concat=n=2:v=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &bg.to_string_lossy(),
    ])?;
    let mut ctx = Context::default();
    ctx.inputs.insert(ExtraInput::Background, bg);
    let params = json!({"bgimage": "s3://media/backgrounds/bg.mp4"});
    let (out, file) = run_with(&src, params, &dir.path().join("o"), &ctx)?;
    assert_eq!(out.result.format, MatteFormat::Mp4);
    for (t, red) in [(0.2, true), (0.6, false), (1.0, true), (1.4, false)] {
        let f = frame_at(&file, t, &dir.path().join(format!("f{t}.png")))?;
        let corner = f.get_pixel(SIZE.0 - 5, 4);
        let is_red = corner[0] > 180 && corner[2] < 80;
        let is_blue = corner[2] > 180 && corner[0] < 80;
        assert!(
            if red { is_red } else { is_blue },
            "background at {t} s: {corner:?}"
        );
        let subject = f.get_pixel(100 + (t * 50.0) as u32, 90);
        assert!(
            subject[0] > 140 && subject[1] > 110 && subject[2] > 95,
            "subject at {t} s: {subject:?}"
        );
    }
    Ok(())
}

/// Checks a keyed frame with alpha: screen clear, subject opaque.
fn check_keyed(frame: &image::RgbaImage, i: u32, what: &str) {
    assert!(frame.get_pixel(2, 2)[3] < 15, "{what} frame {i}: screen");
    assert!(
        frame.get_pixel(100 + 2 * i, 90)[3] > 240,
        "{what} frame {i}: subject"
    );
}

#[test]
fn a_video_as_zip_holds_every_frame_as_png_with_its_time() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = clip(dir.path(), "green", [30, 190, 70])?;
    let (out, file) = run(&src, json!({"Format": "zip"}), &dir.path().join("o"))?;
    assert_eq!(out.result.frames, 50, "{:?}", out.result);
    assert!(out.result.file.ends_with(".zip"), "{}", out.result.file);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&file)?)?;
    assert_eq!(zip.len(), 51, "50 frames and frames.csv");
    for i in [0u32, 25, 49] {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut zip.by_name(&format!("frame_{:06}.png", i + 1))?,
            &mut bytes,
        )?;
        let png = image::load_from_memory(&bytes)?.to_rgba8();
        assert_eq!(png.dimensions(), SIZE);
        check_keyed(&png, i, "zip");
    }
    let mut csv = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("frames.csv")?, &mut csv)?;
    let line = csv.lines().nth(26).unwrap_or_default();
    assert_eq!(line, "frame_000026.png,1.000000", "{csv}");
    Ok(())
}

#[test]
fn animated_gif_and_webp_previews_keep_transparency() -> anyhow::Result<()> {
    use image::AnimationDecoder;
    let dir = tempfile::tempdir()?;
    let src = clip(dir.path(), "green", [30, 190, 70])?;

    let (out, file) = run(&src, json!({"Format": "webp"}), &dir.path().join("w"))?;
    assert_eq!(out.result.frames, 20, "2 s at 10 fps: {:?}", out.result);
    let decoder = image::codecs::webp::WebPDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&file)?,
    ))?;
    let frames = decoder.into_frames().collect_frames()?;
    assert_eq!(frames.len(), 20);
    let mut shown = 0.0;
    for (k, f) in frames.iter().enumerate() {
        // 25 fps thinned to 10: each frame shows for 2 or 3 source frames.
        let (num, den) = f.delay().numer_denom_ms();
        let ms = f64::from(num) / f64::from(den);
        assert!((79.0..=121.0).contains(&ms), "webp frame {k}: {ms} ms");
        shown += ms;
    }
    assert!((shown - 2000.0).abs() <= 40.0, "webp lasts {shown} ms");
    for k in [0usize, 7, 19] {
        // Frame k shows the source at k/10 s: source frame 2.5 k, rounded up.
        let source = (k as u32 * 5).div_ceil(2);
        check_keyed(frames[k].buffer(), source, "webp");
    }

    let (out, file) = run(&src, json!({"Format": "gif"}), &dir.path().join("g"))?;
    assert_eq!(out.result.frames, 20, "{:?}", out.result);
    let decoder =
        image::codecs::gif::GifDecoder::new(std::io::BufReader::new(std::fs::File::open(&file)?))?;
    let frames = decoder.into_frames().collect_frames()?;
    assert_eq!(frames.len(), 20);
    for k in [0usize, 7, 19] {
        check_keyed(frames[k].buffer(), (k as u32 * 5).div_ceil(2), "gif");
    }
    // Ffmpeg reads it too.
    let p = probe(&file, &[])?;
    assert_eq!(p["streams"][0]["codec_name"], "gif", "{p}");

    // Previews are small: a 1280x720 source gives 480x270.
    assert_eq!(iprod::media::preview::preview_size(1280, 720), (480, 270));
    assert_eq!(iprod::media::preview::preview_size(720, 1280), (270, 480));
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
    let params = GreenScreen.parse(&params)?;
    let out = GreenScreen.run(&src, &params, &mut sink, &Context::default())?;
    assert_eq!(out.result.frames, 50, "{:?}", out.result);
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

/// Motion blur and hair: a subject smeared over 24 px by motion (alpha
/// ramps across the smear) with strands of hair a pixel or less wide
/// (alpha 0.2-0.7), over the unevenly lit noisy screen. Fractional alpha
/// must come out fractional, close to the truth.
#[test]
fn motion_blur_and_fine_strands_keep_fractional_alpha() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (w, h) = SIZE;
    // Truth: a disc swept horizontally by 24 px (box motion blur), plus
    // thin diagonal strands above it.
    let disc = |x: f32, y: f32, cx: f32| {
        let d = ((x - cx).powi(2) + (y - 90.0).powi(2)).sqrt();
        (40.5 - d).clamp(0.0, 1.0)
    };
    let truth = GrayImage::from_fn(w, h, |x, y| {
        let (x, y) = (x as f32 + 0.5, y as f32 + 0.5);
        let blur: f32 = (0..24).map(|k| disc(x, y, 120.0 + k as f32)).sum::<f32>() / 24.0;
        let strand = (0..6)
            .map(|s| {
                let x0 = 100.0 + 12.0 * s as f32;
                // Distance to the line x = x0 + 0.5 (50 − y), y in 10..50.
                let d = ((x - x0 - 0.5 * (50.0 - y)) / 1.118).abs();
                if (10.0..50.0).contains(&y) {
                    (0.7 - d * 0.7).clamp(0.0, 0.7)
                } else {
                    0.0
                }
            })
            .fold(0.0f32, f32::max);
        image::Luma([(blur.max(strand) * 255.0).round() as u8])
    });
    let mut seed = 0x1234_5678u32;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 7) as f32 - 3.0;
        let light = 1.1 - 0.3 * x as f32 / w as f32;
        let t = f32::from(truth.get_pixel(x, y)[0]) / 255.0;
        let fg = [120.0, 80.0, 50.0];
        let bg = [30.0 * light, 190.0 * light, 70.0 * light];
        let px: Vec<u8> = (0..3)
            .map(|c| (fg[c] * t + bg[c] * (1.0 - t) + noise).clamp(0.0, 255.0) as u8)
            .collect();
        image::Rgb([px[0], px[1], px[2]])
    });
    let still = dir.path().join("blur.png");
    img.save(&still)?;
    let (_, file) = run(&still, json!({}), &dir.path().join("out"))?;
    let keyed = image::open(&file)?.to_rgba8();
    let found = GrayImage::from_fn(w, h, |x, y| image::Luma([keyed.get_pixel(x, y)[3]]));
    let [screen, solid, fractional] = errors(&found, &truth);
    assert!(screen < 0.02, "screen {screen}");
    assert!(solid < 0.03, "solid {solid}");
    assert!(fractional < 0.08, "fractional alpha off by {fractional}");
    // The smear's middle is about half covered, and reads so.
    let mid = f32::from(truth.get_pixel(172, 90)[0]) / 255.0;
    let got = f32::from(found.get_pixel(172, 90)[0]) / 255.0;
    assert!(
        mid > 0.2 && mid < 0.8 && (got - mid).abs() < 0.1,
        "{got} vs {mid}"
    );
    Ok(())
}

#[test]
fn progress_counts_frames_keyed_and_only_moves_forward() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = clip(dir.path(), "green", [30, 190, 70])?;
    let (ctx, progress) = RecordedProgress::context();
    run_with(
        &src,
        json!({"Format": "mp4", "bgcolor": "#202020"}),
        &dir.path().join("o"),
        &ctx,
    )?;
    progress.assert_moves_forward(20, 0.95);
    Ok(())
}
