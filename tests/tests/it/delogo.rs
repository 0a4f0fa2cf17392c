//! `VideoDelogo` / `ImageDelogo` on footage with a drawn logo whose place,
//! opacity and time span are known.

use std::path::Path;

use image::RgbImage;
use iprod::capabilities::delogo::api::{DelogoResult, LogoFound};
use iprod::capabilities::delogo::Delogo;
use iprod::capabilities::{Context, Report};
use iprod::domain::{ErrorCode, JobError};
use iprod_tests::fixtures::logos::{self, mean_diff, Placement, FPS, LOGO, SIZE};
use iprod_tests::{frame_at, probe, run_capability};
use serde_json::{json, Value};

fn run(
    input: &Path,
    params: Value,
    out: &Path,
) -> Result<(Report<DelogoResult>, std::path::PathBuf), JobError> {
    let (report, files) = run_capability(&Delogo, input, &params, out, &Context::default())?;
    Ok((report, files.into_iter().last().unwrap_or_default()))
}

fn iou(found: &LogoFound, place: Placement) -> f64 {
    let [x, y, w, h] = found.rect;
    let (x0, y0) = (x.max(place.x), y.max(place.y));
    let (x1, y1) = ((x + w).min(place.x + LOGO.0), (y + h).min(place.y + LOGO.1));
    if x1 <= x0 || y1 <= y0 {
        return 0.0;
    }
    let inter = f64::from((x1 - x0) * (y1 - y0));
    inter / (f64::from(w * h) + f64::from(LOGO.0 * LOGO.1) - inter)
}

fn area(place: Placement) -> (u32, u32, u32, u32) {
    (place.x, place.y, LOGO.0, LOGO.1)
}

/// Frame `i` of `video` and of the same clip made without the logo
/// (`dir/clean.mp4`, made on first use), both decoded by ffmpeg.
fn frame_and_truth(video: &Path, i: u32, dir: &Path) -> anyhow::Result<(RgbImage, RgbImage)> {
    let clean = dir.join("clean.mp4");
    if !clean.exists() {
        let seconds = probe(video, &[])?["streams"][0]["duration"]
            .as_str()
            .and_then(|d| d.parse::<f64>().ok())
            .unwrap_or(6.0)
            .round() as u32;
        logos::clip(dir, "clean", seconds, None)?;
    }
    let t = (f64::from(i) + 0.5) / f64::from(FPS);
    let name = video.file_stem().and_then(|s| s.to_str()).unwrap_or("v");
    Ok((
        frame_at(video, t, &dir.join(format!("{name}-{i}.png")))?,
        frame_at(&clean, t, &dir.join(format!("clean-{i}.png")))?,
    ))
}

#[test]
fn a_see_through_logo_is_found_and_the_picture_under_it_recovered() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let place = Placement {
        x: 392,
        y: 14,
        opacity: 0.6,
        span: None,
    };
    let src = logos::clip(dir.path(), "news", 6, Some(place))?;
    let (out, file) = run(&src, json!({}), &dir.path().join("out"))?;
    let r = &out.result;
    assert!(r.encoded);
    assert_eq!(r.logos.len(), 1, "{}", out.message);
    let logo = &r.logos[0];
    assert!(iou(logo, place) >= 0.8, "{logo:?}");
    assert!((logo.opacity - 0.6).abs() < 0.15, "{logo:?}");
    assert_eq!(logo.source, "detected");
    assert!(logo.start < 0.1 && logo.end > 5.8, "{logo:?}");
    assert_eq!(r.frames, 150);
    assert_eq!(r.frames_changed, 150);
    // The picture under the logo is back, the rest untouched.
    for i in [20, 80, 140] {
        let (before, truth) = frame_and_truth(&src, i, dir.path())?;
        let (after, _) = frame_and_truth(&file, i, dir.path())?;
        let (was, now) = (
            mean_diff(&before, &truth, area(place)),
            mean_diff(&after, &truth, area(place)),
        );
        assert!(
            now < 7.0 && now < was * 0.3,
            "frame {i}: {was:.1} -> {now:.1}"
        );
        let rest = (0, 100, SIZE.0, 170);
        assert!(
            mean_diff(&after, &before, rest) < 2.0,
            "frame {i}: outside changed"
        );
    }
    let streams = probe(&file, &["-count_frames"])?;
    let kinds: Vec<&str> = streams["streams"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["codec_type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["video", "audio"], "{streams}");
    assert_eq!(streams["streams"][0]["codec_name"], "h264");
    assert_eq!(streams["streams"][0]["nb_read_frames"], "150");
    Ok(())
}

#[test]
fn an_opaque_logo_is_filled_from_around_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let place = Placement {
        x: 20,
        y: 224,
        opacity: 1.0,
        span: None,
    };
    let src = logos::clip(dir.path(), "opaque", 6, Some(place))?;
    let (out, file) = run(&src, json!({}), &dir.path().join("out"))?;
    assert_eq!(out.result.logos.len(), 1, "{}", out.message);
    let logo = &out.result.logos[0];
    assert!(iou(logo, place) >= 0.8, "{logo:?}");
    assert!(logo.opacity > 0.85, "{logo:?}");
    for i in [30, 110] {
        let (before, truth) = frame_and_truth(&src, i, dir.path())?;
        let (after, _) = frame_and_truth(&file, i, dir.path())?;
        let (was, now) = (
            mean_diff(&before, &truth, area(place)),
            mean_diff(&after, &truth, area(place)),
        );
        assert!(now < was * 0.5, "frame {i}: {was:.1} -> {now:.1}");
    }
    // Searching only the top corners finds nothing, and copies the source.
    let (out, copy) = run(
        &src,
        json!({"Corners": ["TopLeft", "TopRight"]}),
        &dir.path().join("corners"),
    )?;
    assert!(out.result.logos.is_empty(), "{}", out.message);
    assert_eq!(std::fs::read(&copy)?, std::fs::read(&src)?);
    Ok(())
}

#[test]
fn a_logo_shown_in_the_middle_third_is_removed_only_then() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let place = Placement {
        x: 30,
        y: 20,
        opacity: 0.8,
        span: Some((2.0, 4.0)),
    };
    let src = logos::clip(dir.path(), "promo", 6, Some(place))?;
    let (out, file) = run(&src, json!({}), &dir.path().join("out"))?;
    assert_eq!(out.result.logos.len(), 1, "{}", out.message);
    let logo = &out.result.logos[0];
    assert!(iou(logo, place) >= 0.8, "{logo:?}");
    assert!(
        (logo.start - 2.0).abs() <= 0.25 && (logo.end - 4.0).abs() <= 0.25,
        "{logo:?}"
    );
    let changed = out.result.frames_changed;
    assert!((45..=55).contains(&changed), "{changed} frames changed");
    // Before and after the span, the frames are the source's (re-encoded).
    for i in [10, 130] {
        let (before, _) = frame_and_truth(&src, i, dir.path())?;
        let (after, _) = frame_and_truth(&file, i, dir.path())?;
        assert!(mean_diff(&after, &before, area(place)) < 2.5, "frame {i}");
    }
    let (before, truth) = frame_and_truth(&src, 75, dir.path())?;
    let (after, _) = frame_and_truth(&file, 75, dir.path())?;
    assert!(mean_diff(&after, &truth, area(place)) < mean_diff(&before, &truth, area(place)) * 0.4);
    Ok(())
}

#[test]
fn a_video_without_a_logo_is_copied_unless_asked_to_encode() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = logos::clip(dir.path(), "plain", 4, None)?;
    let (out, file) = run(&src, json!({}), &dir.path().join("out"))?;
    assert!(out.result.logos.is_empty());
    assert!(!out.result.encoded);
    assert!(out.message.starts_with("no logo found"), "{}", out.message);
    assert_eq!(std::fs::read(&file)?, std::fs::read(&src)?);
    let (out, file) = run(&src, json!({"AlwaysEncode": true}), &dir.path().join("enc"))?;
    assert!(out.result.encoded && out.result.logos.is_empty());
    assert_ne!(std::fs::read(&file)?, std::fs::read(&src)?);
    assert_eq!(out.result.frames, 100);
    Ok(())
}

#[test]
fn given_boxes_are_hidden_in_every_mode_and_only_in_their_span() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let place = Placement {
        x: 200,
        y: 120,
        opacity: 1.0,
        span: None,
    };
    let src = logos::clip(dir.path(), "boxes", 4, Some(place))?;
    let (out, file) = run(
        &src,
        json!({"Mode": "box", "Color": "#00FF00", "Boxes": [{"Box": [200, 120, 64, 30], "Start": 1, "End": 3}]}),
        &dir.path().join("box"),
    )?;
    let logo = &out.result.logos[0];
    assert_eq!(logo.source, "given");
    assert_eq!(logo.rect, [200, 120, 64, 30]);
    assert!(
        (logo.start - 1.0).abs() < 0.05 && (logo.end - 3.0).abs() < 0.05,
        "{logo:?}"
    );
    let inside = frame_at(&file, 2.0, &dir.path().join("in.png"))?;
    let p = inside.get_pixel(230, 135);
    assert!(p[1] > 200 && p[0] < 60 && p[2] < 60, "{p:?}");
    let before = frame_at(&file, 0.5, &dir.path().join("before.png"))?;
    assert!(before.get_pixel(230, 135)[1] < 200 || before.get_pixel(230, 135)[0] > 60);
    for mode in ["blur", "mosaic"] {
        let (out, file) = run(
            &src,
            json!({"Mode": mode, "Boxes": [[0.4166, 0.4444, 0.1334, 0.1112]]}),
            &dir.path().join(mode),
        )?;
        let [x, y, w, h] = out.result.logos[0].rect;
        assert!(
            x <= 200 && y <= 120 && x + w >= 264 && y + h >= 150 && w <= 67 && h <= 33,
            "{mode}: {:?}",
            out.result.logos[0].rect
        );
        let (orig, _) = frame_and_truth(&src, 50, dir.path())?;
        let (hidden, _) = frame_and_truth(&file, 50, dir.path())?;
        assert!(
            mean_diff(&hidden, &orig, area(place)) > 10.0,
            "{mode}: the logo is still there"
        );
        assert!(
            mean_diff(&hidden, &orig, (0, 0, SIZE.0, 100)) < 2.0,
            "{mode}"
        );
    }
    Ok(())
}

#[test]
fn a_picture_needs_boxes_and_gets_them_filled() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let photo = logos::photo()?;
    let place = Placement {
        x: 40,
        y: 30,
        opacity: 1.0,
        span: None,
    };
    let clean = logos::clean(&photo, 0);
    let stamped = logos::stamped(&clean, place);
    let png = dir.path().join("still.png");
    stamped.save(&png)?;
    let err = run(&png, json!({}), &dir.path().join("none")).expect_err("needs Boxes");
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert!(err.message.contains("Boxes"), "{}", err.message);
    let (out, file) = run(
        &png,
        json!({"Boxes": [[40, 30, 64, 30]]}),
        &dir.path().join("out"),
    )?;
    assert_eq!(out.result.frames, 1);
    let filled = image::open(&file)?.to_rgb8();
    assert!(
        mean_diff(&filled, &clean, area(place)) < mean_diff(&stamped, &clean, area(place)) * 0.5
    );
    assert_eq!(mean_diff(&filled, &stamped, (200, 100, 200, 150)), 0.0);
    let err = run(
        &png,
        json!({"Boxes": [[900, 30, 64, 30]]}),
        &dir.path().join("off"),
    )
    .expect_err("outside");
    assert!(err.message.contains("Boxes"), "{}", err.message);
    Ok(())
}

#[test]
fn a_corrupt_video_fails_cleanly() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bad = iprod_tests::media::corrupt_clip(dir.path(), "broken")?;
    let err = run(&bad, json!({}), &dir.path().join("out")).expect_err("corrupt");
    assert!(
        matches!(
            err.code,
            ErrorCode::InvalidMedia | ErrorCode::UnsupportedMedia
        ),
        "{err:?}"
    );
    Ok(())
}
