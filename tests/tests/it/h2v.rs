//! `VideoH2V` / `ImageH2V` on clips with a real face moving over real and
//! textured backgrounds; what comes out is checked by finding the face in
//! it again.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::RgbImage;
use iprod::capabilities::h2v::api::{Camera, FillMode, H2vResult};
use iprod::capabilities::h2v::H2v;
use iprod::capabilities::{Capability, Context, Report};
use iprod::detect::face::FaceDetector;
use iprod::domain::{ErrorCode, JobError};
use iprod::inference::ModelDir;
use iprod_tests::faces::{clip, coffee, frame, head, stripes, SIZE};
use iprod_tests::{frame_at, run_capability, RecordedProgress};
use serde_json::{json, Value};

fn reframe() -> &'static H2v {
    static R: OnceLock<H2v> = OnceLock::new();
    #[allow(clippy::expect_used)]
    R.get_or_init(|| H2v::load(&ModelDir::from_env()).expect("models: run scripts/setup"))
}

fn faces() -> &'static FaceDetector {
    static F: OnceLock<FaceDetector> = OnceLock::new();
    #[allow(clippy::expect_used)]
    F.get_or_init(|| FaceDetector::load(&ModelDir::from_env(), 2).expect("models"))
}

fn run(input: &Path, params: Value, out: &Path) -> Result<(Report<H2vResult>, PathBuf), JobError> {
    let (output, files) = run_capability(reframe(), input, &params, out, &Context::default())?;
    Ok((output, files.into_iter().next().unwrap_or_default()))
}

/// Frames of `video` at `times`, decoded by ffmpeg.
fn frames_at(video: &Path, times: &[f64], dir: &Path) -> anyhow::Result<Vec<RgbImage>> {
    times
        .iter()
        .enumerate()
        .map(|(i, &t)| frame_at(video, t, &dir.join(format!("at-{i}.png"))))
        .collect()
}

/// The one face in `img`, checked to be whole: its box at least `margin`
/// px inside every edge.
fn whole_face(img: &RgbImage, margin: f32, what: &str) -> anyhow::Result<(f32, f32)> {
    let found = faces().detect(img)?;
    anyhow::ensure!(found.len() == 1, "{what}: {} faces", found.len());
    let r = found[0].rect;
    let (w, h) = (img.width() as f32, img.height() as f32);
    anyhow::ensure!(
        r.x >= margin && r.y >= margin && r.right() <= w - margin && r.bottom() <= h - margin,
        "{what}: face {r:?} cut by the {w}x{h} frame"
    );
    Ok(r.centre())
}

fn probe(path: &Path) -> anyhow::Result<Value> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_streams"])
        .arg(path)
        .output()?;
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn the_window_follows_a_moving_face_and_the_audio_stays() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (bg, face) = (coffee()?, head(1.0)?);
    // Left to right across the frame in 4 s.
    let centre = |i: u32| 200.0 + 880.0 * i as f32 / 99.0;
    let src = clip(&dir.path().join("walk.mp4"), 4.0, |i| {
        frame(&bg, &face, centre(i), 360.0)
    })?;
    let (out, file) = run(&src, json!({}), &dir.path().join("out"))?;
    assert_eq!((out.result.width, out.result.height), (406, 720));
    assert_eq!(out.result.mode, FillMode::Crop);
    let shots = &out.result.shots;
    assert_eq!(shots.len(), 1, "{:?}", out.result);
    assert_ne!(shots[0].camera, Camera::Stationary, "{:?}", out.result);
    assert_eq!(shots[0].subject, "face");
    assert!(out.message.contains("face"), "{}", out.message);

    let times: Vec<f64> = (0..10).map(|k| 0.1 + 0.4 * f64::from(k)).collect();
    for (t, f) in times.iter().zip(frames_at(&file, &times, dir.path())?) {
        assert_eq!(f.dimensions(), (406, 720));
        let (cx, _) = whole_face(&f, 4.0, &format!("{t} s"))?;
        // Followed, not just kept: the face stays near the middle.
        assert!((cx - 203.0).abs() < 110.0, "{t} s: face at x {cx}");
    }
    let p = probe(&file)?;
    let streams = p["streams"].as_array().cloned().unwrap_or_default();
    assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "{p}");
    let video = streams
        .iter()
        .find(|s| s["codec_name"] == "h264")
        .expect("video");
    assert_eq!(video["nb_frames"], "100");
    Ok(())
}

#[test]
fn the_window_jumps_at_a_cut_and_holds_still_within_each_shot() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (bg, other, face) = (coffee()?, stripes(), head(1.0)?);
    let src = clip(&dir.path().join("cut.mp4"), 4.0, |i| {
        if i < 50 {
            frame(&bg, &face, 300.0, 360.0)
        } else {
            frame(&other, &face, 1000.0, 330.0)
        }
    })?;
    let (out, file) = run(&src, json!({}), &dir.path().join("out"))?;
    let shots = &out.result.shots;
    assert_eq!(shots.len(), 2, "{:?}", out.result);
    let start = shots[1].start;
    assert!((start - 2.0).abs() < 0.021, "cut found at {start}");
    for (shot, face_x) in shots.iter().zip([300.0, 1000.0]) {
        assert_eq!(shot.camera, Camera::Stationary, "{shot:?}");
        let xs: Vec<f64> = shot.keyframes.iter().map(|w| f64::from(w.x)).collect();
        assert!(!xs.is_empty() && xs.iter().all(|&x| x == xs[0]), "{shot:?}");
        assert!(xs[0] < face_x && face_x < xs[0] + 406.0, "{shot:?}");
    }
    // The last frame before the cut and the first after both show the face.
    for (t, f) in [1.94, 2.02]
        .iter()
        .zip(frames_at(&file, &[1.94, 2.02], dir.path())?)
    {
        whole_face(&f, 4.0, &format!("{t} s"))?;
    }
    Ok(())
}

#[test]
fn a_portrait_video_passes_through_whole() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let face = head(1.0)?;
    let bg = image::imageops::resize(&coffee()?, 360, 640, image::imageops::FilterType::Triangle);
    let src = clip(&dir.path().join("portrait.mp4"), 1.0, |i| {
        frame(&bg, &face, 150.0 + i as f32, 300.0)
    })?;
    let (out, file) = run(&src, json!({}), &dir.path().join("out"))?;
    assert_eq!((out.result.width, out.result.height), (360, 640));
    let k = &out.result.shots[0].keyframes[0];
    assert_eq!((k.x, k.width), (0, 360), "{:?}", out.result);
    let f = &frames_at(&file, &[0.5], dir.path())?[0];
    whole_face(f, 4.0, "portrait")?;
    Ok(())
}

#[test]
fn a_picture_is_cropped_around_its_face_or_its_salient_object() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (bg, face) = (coffee()?, head(1.0)?);
    let still = dir.path().join("still.png");
    frame(&bg, &face, 1050.0, 300.0).save(&still)?;
    let (out, file) = run(&still, json!({"Format": "png"}), &dir.path().join("a"))?;
    assert_eq!(out.result.shots[0].subject, "face", "{:?}", out.result);
    let img = image::open(&file)?.to_rgb8();
    assert_eq!(img.dimensions(), (406, 720));
    let (cx, _) = whole_face(&img, 4.0, "picture")?;
    assert!((cx - 203.0).abs() < 110.0, "face at {cx}");

    // No face: the coffee cup (in the middle of the photo) is framed.
    let cup = dir.path().join("cup.png");
    bg.save(&cup)?;
    let (out, _) = run(&cup, json!({}), &dir.path().join("b"))?;
    assert_eq!(out.result.shots[0].subject, "salient", "{:?}", out.result);
    assert!(out.message.contains("salient"), "{}", out.message);
    let x = f64::from(out.result.shots[0].keyframes[0].x);
    assert!(x < 640.0 && 640.0 < x + 406.0, "window at {x}");
    Ok(())
}

#[test]
fn a_video_without_faces_follows_its_salient_object() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // The coffee photo moved right by 300 px, so the cup sits near x 940,
    // outside a centred window; the clip fades in from black.
    let bg = coffee()?;
    let moved = RgbImage::from_fn(bg.width(), bg.height(), |x, y| {
        *bg.get_pixel(x.saturating_sub(300), y)
    });
    let src = clip(&dir.path().join("cup.mp4"), 3.0, |i| {
        let k = (i as f32 / 12.0).min(1.0);
        RgbImage::from_fn(moved.width(), moved.height(), |x, y| {
            image::Rgb(moved.get_pixel(x, y).0.map(|c| (f32::from(c) * k) as u8))
        })
    })?;
    let (out, _) = run(&src, json!({}), &dir.path().join("out"))?;
    let shots = &out.result.shots;
    let last = shots.last().expect("a shot");
    assert_eq!(last.subject, "salient", "{:?}", out.result);
    for k in &last.keyframes {
        let x = f64::from(k.x);
        assert!(x < 940.0 && 940.0 < x + 406.0, "window at {x}: {k:?}");
    }
    Ok(())
}

#[test]
fn a_face_wider_than_the_window_is_padded_and_said_so() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let face = head(4.2)?;
    let still = dir.path().join("close-up.jpg");
    frame(&coffee()?, &face, 640.0, 360.0).save(&still)?;
    let (out, file) = run(&still, json!({}), &dir.path().join("o"))?;
    assert_eq!(out.result.mode, FillMode::Pad, "{:?}", out.result);
    assert!(
        out.message.contains("wider than a 9:16 window"),
        "{}",
        out.message
    );
    let img = image::open(&file)?.to_rgb8();
    assert_eq!(img.dimensions(), (406, 720));
    // The whole picture is in the middle band, scaled to the width.
    let band = image::imageops::crop_imm(&img, 0, 246, 406, 228).to_image();
    assert!(faces().detect(&band)?.len() == 1);
    Ok(())
}

#[test]
fn bad_params_and_bad_media_fail_with_the_reason() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for (params, key) in [
        (json!({"Aspect": "0:5"}), "Aspect"),
        (json!({"Mode": "stretch"}), "Mode"),
        (json!({"Width": 5}), "Width"),
    ] {
        let err = reframe().parse(&params).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(err.message.contains(key), "{}", err.message);
    }
    let corrupt = dir.path().join("broken.mp4");
    std::fs::write(&corrupt, b"\x00\x00\x00\x18ftypmp42 not really a video")?;
    let err = run(&corrupt, json!({}), &dir.path().join("o")).expect_err("corrupt");
    assert_eq!(err.code, ErrorCode::InvalidMedia, "{}", err.message);
    assert_eq!(SIZE, (1280, 720));
    Ok(())
}

#[test]
fn pad_mode_shows_the_whole_video_over_a_blurred_copy() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (bg, face) = (coffee()?, head(1.0)?);
    let src = clip(&dir.path().join("pad.mp4"), 1.0, |i| {
        frame(&bg, &face, 200.0 + 5.0 * i as f32, 360.0)
    })?;
    let (out, file) = run(&src, json!({"Mode": "pad"}), &dir.path().join("o"))?;
    assert_eq!(out.result.mode, FillMode::Pad);
    assert_eq!(
        out.result.shots[0].subject, "whole picture",
        "{:?}",
        out.result
    );
    let f = &frames_at(&file, &[0.5], dir.path())?[0];
    assert_eq!(f.dimensions(), (406, 720));
    // The picture, scaled to 406x228, sits in the middle band; the face
    // (at x 262 of 1280 then) is in it, at about 83 of 406.
    let band = image::imageops::crop_imm(f, 0, 246, 406, 228).to_image();
    let found = faces().detect(&band)?;
    assert_eq!(found.len(), 1);
    assert!((found[0].rect.centre().0 - 83.0).abs() < 15.0, "{found:?}");
    let p = probe(&file)?;
    assert!(
        p["streams"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["codec_name"] == "aac")),
        "{p}"
    );
    Ok(())
}

/// A phone video stored sideways with a display rotation comes out
/// upright, following the face.
#[test]
fn a_rotated_video_is_reframed_upright() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (bg, face) = (coffee()?, head(1.0)?);
    let src = clip(&dir.path().join("upright.mp4"), 2.0, |i| {
        frame(&bg, &face, 900.0 - 4.0 * i as f32, 360.0)
    })?;
    // Stored 720x1280 (turned a quarter left), shown turned back.
    let sideways = dir.path().join("sideways.mp4");
    iprod::bench::ffmpeg(&[
        "-i",
        &src.to_string_lossy(),
        "-vf",
        "transpose=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "copy",
        &sideways.to_string_lossy(),
    ])?;
    let rotated = dir.path().join("rotated.mp4");
    iprod::bench::ffmpeg(&[
        "-i",
        &sideways.to_string_lossy(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=270",
        &rotated.to_string_lossy(),
    ])?;
    let (out, file) = run(&rotated, json!({}), &dir.path().join("o"))?;
    assert_eq!(
        (out.result.width, out.result.height),
        (406, 720),
        "{:?}",
        out.result
    );
    for (t, f) in [0.5, 1.5]
        .iter()
        .zip(frames_at(&file, &[0.5, 1.5], dir.path())?)
    {
        let (cx, _) = whole_face(&f, 4.0, &format!("{t} s"))?;
        assert!((cx - 203.0).abs() < 110.0, "{t} s: face at {cx}");
        // Upright: the eyes above the mouth.
        let k = faces().detect(&f)?[0].keypoints;
        assert!(
            k[0].1 + 10.0 < k[3].1 && k[1].1 + 10.0 < k[3].1,
            "{t} s: {k:?}"
        );
    }
    Ok(())
}

#[test]
fn progress_sums_the_analysis_and_the_render_and_only_moves_forward() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (bg, face) = (coffee()?, head(1.0)?);
    let src = clip(&dir.path().join("moving.mp4"), 2.0, |i| {
        frame(&bg, &face, 300.0 + 10.0 * i as f32, 360.0)
    })?;
    for mode in ["crop", "pad"] {
        let (ctx, progress) = RecordedProgress::context();
        run_capability(
            reframe(),
            &src,
            &json!({"Mode": mode}),
            &dir.path().join(mode),
            &ctx,
        )?;
        progress.assert_moves_forward(20, 0.95);
    }
    Ok(())
}

#[test]
fn a_reframe_gathered_in_segments_follows_the_subject_as_one_pass() -> anyhow::Result<()> {
    use iprod::media::{SamplingMode, VideoReader};
    let dir = tempfile::tempdir()?;
    let (bg, other, face) = (coffee()?, stripes(), head(1.0)?);
    // 12 s: the face paces across the frame, a cut at 7.2 s (inside a
    // segment) to another background; one shot spans the first cut.
    let x = |i: u32| 640.0 + 420.0 * (f64::from(i) / 40.0).sin() as f32;
    let made = clip(&dir.path().join("pace.mp4"), 12.0, |i| {
        if i < 180 {
            frame(&bg, &face, x(i), 360.0)
        } else {
            frame(&other, &face, x(i), 330.0)
        }
    })?;
    // A keyframe every 2 s to cut at.
    let src = dir.path().join("pace-gop.mp4");
    iprod_tests::media::with_keyframes_every(&made, 50, &["-c:a", "copy"], &src)?;
    let params = json!({"Crf": 0});
    let (whole, whole_files) =
        iprod_tests::run_split(reframe(), &src, &params, &dir.path().join("w"), None)?;
    let (split, split_files) =
        iprod_tests::run_split(reframe(), &src, &params, &dir.path().join("s"), Some(3))?;
    let shots = |d: &Value| -> Vec<(f64, f64, String, String)> {
        d["Shots"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|s| {
                        (
                            s["Start"].as_f64().unwrap_or(-1.0),
                            s["End"].as_f64().unwrap_or(-1.0),
                            s["Camera"].to_string(),
                            s["Subject"].to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // The same shots, cut where one pass cuts them, the same subject.
    assert_eq!(shots(&split.data), shots(&whole.data), "{}", split.data);
    assert_eq!(shots(&whole.data).len(), 2, "{}", whole.data);
    assert_eq!(split.message, whole.message);
    assert_eq!(split.data["Duration"], whole.data["Duration"]);
    // Every frame, at the same time; the audio of one pass; the face whole.
    let times = |p: &Path| -> anyhow::Result<Vec<f64>> {
        let mut r = VideoReader::open(p, &iprod::domain::Limits::default())?;
        let mut t = Vec::new();
        r.for_each_frame(SamplingMode::All, |_, f| {
            t.push(f.time_s);
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        Ok(t)
    };
    assert_eq!(times(&split_files[0])?, times(&whole_files[0])?);
    assert_eq!(times(&split_files[0])?.len(), 300);
    let samples = |p: &Path| -> anyhow::Result<Vec<f32>> {
        Ok(
            iprod::media::decode_mono(p, 44_100, &iprod::domain::Limits::default(), None, None)?
                .samples,
        )
    };
    assert_eq!(samples(&split_files[0])?, samples(&whole_files[0])?);
    // The camera, solved over each whole shot, follows the same path:
    // the face is whole and where one pass puts it.
    let at: Vec<f64> = (0..24).map(|k| 0.3 + 0.5 * f64::from(k)).collect();
    let one = frames_at(&whole_files[0], &at, &dir.path().join("w"))?;
    let mut worst = 0f32;
    for ((t, f), g) in at
        .iter()
        .zip(frames_at(&split_files[0], &at, dir.path())?)
        .zip(one)
    {
        let (x, _) = whole_face(&f, 2.0, &format!("{t} s"))?;
        let (y, _) = whole_face(&g, 2.0, &format!("{t} s, one pass"))?;
        worst = worst.max((x - y).abs());
    }
    eprintln!("largest difference in the face's place: {worst} px");
    assert!(worst <= 16.0, "{worst} px");
    Ok(())
}

/// A sky over a hill whose texture pans left, 4 px a frame (moving
/// footage with nothing in it that stands out).
fn panning_landscape(i: u32) -> RgbImage {
    RgbImage::from_fn(SIZE.0, SIZE.1, |x, y| {
        let u = (x + 4 * i) as f32;
        let ripple = ((u / 37.0).sin() * (y as f32 / 23.0).cos() * 12.0) as i32;
        let base: [i32; 3] = if y < SIZE.1 * 3 / 5 {
            [150, 180, 225]
        } else {
            [70, 130, 60]
        };
        image::Rgb(base.map(|c| (c + ripple).clamp(0, 255) as u8))
    })
}

#[test]
fn an_animal_pacing_over_moving_footage_is_followed_between_saliency_maps() -> anyhow::Result<()> {
    use iprod::bench::composite::{blend, cutout, opaque_box, try_clip, Cutout};
    let dir = tempfile::tempdir()?;
    let horse = cutout(Cutout::Horse, 220)?;
    let turned = image::imageops::flip_horizontal(&horse);
    let (left, _, right, _) = opaque_box(&horse);
    // Back and forth every 3 s, turning where it goes: between two maps
    // 3 s apart it crosses the frame twice.
    let x_at = |t: f64| (640.0 + 380.0 * (std::f64::consts::TAU * t / 3.0).sin()) as f32;
    let going_left = |t: f64| (std::f64::consts::TAU * t / 3.0).cos() < 0.0;
    let src = try_clip(&dir.path().join("horse.mp4"), 6.0, |i| {
        let t = f64::from(i) / 25.0;
        let look = if going_left(t) { &turned } else { &horse };
        Ok(blend(&panning_landscape(i), look, x_at(t), 430.0))
    })?;
    let plan = reframe().plan(&src, &Default::default(), &Context::default())?;
    assert_eq!(
        plan.shots.len(),
        1,
        "a cut inside one shot: {:?}",
        plan.shots
    );
    assert_eq!(plan.shots[0].subject, "salient");
    let width = horse.width() as f32;
    let (mut inside, mut centred) = (0, 0);
    let centre_x = (SIZE.0 - plan.geometry.window.0) / 2;
    for (i, &t) in plan.times.iter().enumerate() {
        let x0 = (x_at(t) - width / 2.0).round();
        let (a, b) = if going_left(t) {
            (x0 + width - right as f32, x0 + width - left as f32)
        } else {
            (x0 + left as f32, x0 + right as f32)
        };
        let fits = |x: u32| a >= x as f32 - 0.5 && b <= (x + plan.geometry.window.0) as f32 + 0.5;
        inside += usize::from(fits(plan.window(i).x));
        centred += usize::from(fits(centre_x));
    }
    let n = plan.times.len();
    assert!(
        inside * 100 >= 95 * n,
        "wholly inside in {inside} of {n} frames"
    );
    assert!(
        centred * 2 < n,
        "a centred window holds it in {centred} of {n} frames"
    );
    Ok(())
}
