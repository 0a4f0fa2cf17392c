//! `Cover` on generated video: what it picks and what it refuses.

use std::path::Path;

use iprod::capabilities::cover::api::{CoverParams, CoverResult};
use iprod::capabilities::cover::covers;
use iprod::capabilities::{Context, OutputSink};
use iprod::domain::{ErrorCode, ImageFormat, JobError, Limits, OutputTemplate};
use iprod_tests::media::{generated_clip, small_clip};

fn run(
    video: &Path,
    params: &CoverParams,
    ctx: &Context,
) -> Result<(CoverResult, tempfile::TempDir), JobError> {
    let out = tempfile::tempdir()
        .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))?;
    let template = OutputTemplate::parse(&format!("{}/", out.path().display()))?;
    let mut sink = OutputSink::new(out.path(), template, "clip", 0, "job");
    let result = covers(video, params, &mut sink, ctx)?;
    Ok((result, out))
}

fn ffmpeg(args: &[&str]) -> anyhow::Result<()> {
    iprod::bench::ffmpeg(args)
}

#[test]
fn covers_avoid_black_blurred_white_and_duplicate_frames() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (clip, defects) = generated_clip(dir.path())?;
    for count in [1, 3, 5] {
        let params = CoverParams {
            count,
            ..CoverParams::default()
        };
        let (result, _out) = run(&clip, &params, &Context::default())?;
        let times: Vec<f64> = result
            .covers
            .iter()
            .map(|c| c.time as f64 / 1000.0)
            .collect();
        assert_eq!(result.covers.len(), count as usize, "{times:?}");
        let problems = defects.violations(&times);
        assert!(problems.is_empty(), "Count {count}: {problems:?}");
        let scores: Vec<f64> = result.covers.iter().map(|c| c.score).collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "best first: {scores:?}"
        );
        assert!(
            result.rejected > 0,
            "the black and white frames were seen and refused"
        );
    }
    Ok(())
}

#[test]
fn covers_are_written_in_the_asked_format_and_size() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clip = small_clip(dir.path(), "clip.mp4")?;
    let params = CoverParams {
        count: 1,
        format: ImageFormat::Webp,
        width: Some(200),
        height: Some(200),
        ..CoverParams::default()
    };
    let (result, out) = run(&clip, &params, &Context::default())?;
    let cover = &result.covers[0];
    assert_eq!((cover.width, cover.height), (200, 200));
    let file = std::fs::read_dir(out.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "webp"))
        .ok_or_else(|| anyhow::anyhow!("no webp written"))?;
    let bytes = std::fs::read(file)?;
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WEBP");
    // Quality applies to WebP: lossy (VP8) below 100, smaller than the
    // lossless (VP8L) file at 100, and close to it.
    let webp = |quality: u8| -> anyhow::Result<(Vec<u8>, image::RgbImage)> {
        let params = CoverParams {
            count: 1,
            format: ImageFormat::Webp,
            quality,
            ..CoverParams::default()
        };
        let (_, out) = run(&clip, &params, &Context::default())?;
        let path = std::fs::read_dir(out.path())?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "webp"))
            .ok_or_else(|| anyhow::anyhow!("no webp written"))?;
        // Decoded by FFmpeg, whose WebP decoder is libwebp's reference.
        let png = out.path().join("decoded.png");
        ffmpeg(&["-i", &path.to_string_lossy(), &png.to_string_lossy()])?;
        Ok((std::fs::read(&path)?, image::open(&png)?.to_rgb8()))
    };
    let (lossy, lossy_image) = webp(60)?;
    let (lossless, lossless_image) = webp(100)?;
    assert_eq!(&lossy[12..16], b"VP8 ", "lossy");
    assert_eq!(&lossless[12..16], b"VP8L", "lossless");
    assert!(
        lossy.len() * 2 < lossless.len(),
        "{} vs {} bytes",
        lossy.len(),
        lossless.len()
    );
    // Luma PSNR: the picture is kept (colour detail is halved by design in
    // lossy WebP's 4:2:0, and this clip's colour bars are all edges).
    let luma =
        |p: &[u8]| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
    let mse: f64 = lossy_image
        .as_raw()
        .chunks(3)
        .zip(lossless_image.as_raw().chunks(3))
        .map(|(a, b)| (luma(a) - luma(b)).powi(2))
        .sum::<f64>()
        / (lossy_image.as_raw().len() / 3) as f64;
    let psnr = 10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10();
    assert!(psnr > 32.0, "luma PSNR {psnr:.1} dB");
    Ok(())
}

#[test]
fn a_phone_video_with_rotation_metadata_gives_upright_covers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clip = small_clip(dir.path(), "landscape.mp4")?;
    let rotated = dir.path().join("rotated.mp4");
    ffmpeg(&[
        "-i",
        &clip.to_string_lossy(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        &rotated.to_string_lossy(),
    ])?;
    let params = CoverParams {
        format: ImageFormat::Png,
        ..CoverParams::default()
    };
    let (result, out) = run(&rotated, &params, &Context::default())?;
    assert_eq!(
        (result.covers[0].width, result.covers[0].height),
        (180, 320)
    );
    // Same orientation as ffmpeg's own autorotation of that frame.
    let ours = std::fs::read_dir(out.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "png"))
        .ok_or_else(|| anyhow::anyhow!("no png"))?;
    let theirs = dir.path().join("ffmpeg.png");
    let at = format!("{:.3}", result.covers[0].time as f64 / 1000.0);
    ffmpeg(&[
        "-ss",
        &at,
        "-i",
        &rotated.to_string_lossy(),
        "-frames:v",
        "1",
        &theirs.to_string_lossy(),
    ])?;
    let psnr = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(&ours)
        .arg("-i")
        .arg(&theirs)
        .args(["-lavfi", "psnr", "-f", "null", "-"])
        .output()?;
    let text = String::from_utf8_lossy(&psnr.stderr);
    let average: f64 = text
        .split("average:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no PSNR in: {text}"))?;
    assert!(
        average > 25.0,
        "PSNR {average} dB against ffmpeg's upright frame"
    );
    Ok(())
}

#[test]
fn a_video_that_is_all_black_yields_no_cover_and_says_why() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let black = dir.path().join("black.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=320x180:r=25:d=3",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        &black.to_string_lossy(),
    ])?;
    let (result, _out) = run(&black, &CoverParams::default(), &Context::default())?;
    assert!(result.covers.is_empty());
    assert_eq!(result.rejected, result.candidates);
    Ok(())
}

#[test]
fn audio_only_and_garbage_inputs_are_refused_by_kind() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let audio = dir.path().join("tone.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2",
        "-c:a",
        "aac",
        &audio.to_string_lossy(),
    ])?;
    let err = run(&audio, &CoverParams::default(), &Context::default()).expect_err("no video");
    assert_eq!(err.code, ErrorCode::UnsupportedMedia, "{err}");
    assert!(err.message.contains("no video stream"), "{err}");

    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, b"this is not a video at all, just text")?;
    let err = run(&garbage, &CoverParams::default(), &Context::default()).expect_err("garbage");
    assert_eq!(err.code, ErrorCode::InvalidMedia, "{err}");
    Ok(())
}

#[test]
fn frames_over_the_pixel_limit_are_refused_before_decoding() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clip = small_clip(dir.path(), "clip.mp4")?;
    let ctx = Context {
        limits: Limits {
            max_frame_pixels: 320 * 100,
            ..Limits::default()
        },
        ..Context::default()
    };
    let err = run(&clip, &CoverParams::default(), &ctx).expect_err("too big");
    assert_eq!(err.code, ErrorCode::LimitExceeded);
    assert!(err.message.contains("320x180"), "{err}");
    Ok(())
}

#[test]
fn a_raw_h264_stream_without_an_index_still_gives_covers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let raw = dir.path().join("clip.h264");
    let raw_text = raw.to_string_lossy().into_owned();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=320x240:r=25:d=4",
        "-c:v",
        "libx264",
        "-f",
        "h264",
        &raw_text,
    ])?;
    let params = CoverParams {
        count: 2,
        ..CoverParams::default()
    };
    let (result, _out) = run(&raw, &params, &Context::default())?;
    assert!(!result.covers.is_empty(), "{result:?}");
    assert!(result.covers.iter().all(|c| c.time < 4000), "{result:?}");
    Ok(())
}
