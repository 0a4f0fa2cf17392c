//! The video output toolkit, checked by reading back what it wrote with
//! FFmpeg's own `ffprobe` and decoders.

use std::path::Path;
use std::process::Command;

use image::{Rgba, RgbaImage};
use iprod::media::encode::{VideoCodec, VideoFormat, VideoWriter, X264Preset};
use iprod_tests::probe;
use serde_json::Value;

fn stream<'a>(p: &'a Value, kind: &str) -> Option<&'a Value> {
    p["streams"]
        .as_array()?
        .iter()
        .find(|s| s["codec_type"] == kind)
}

fn number(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(f64::NAN)
}

/// A 4 s source clip with a 440 Hz tone in `audio` (e.g. `aac`).
fn source(dir: &Path, audio: &str, ext: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join(format!("source.{ext}"));
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:r=25:d=4",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:sample_rate=44100:d=4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        audio,
        "-shortest",
        &path.to_string_lossy(),
    ])?;
    Ok(path)
}

/// A frame: left half opaque red, right half transparent, a moving bar.
fn frame(i: u32) -> RgbaImage {
    RgbaImage::from_fn(160, 90, |x, _| {
        if x >= 80 {
            Rgba([0, 0, 0, 0])
        } else if x == (i * 2) % 80 {
            Rgba([255, 255, 255, 255])
        } else {
            Rgba([220, 20, 20, 255])
        }
    })
}

fn write(
    path: &Path,
    codec: VideoCodec,
    audio: Option<&Path>,
    times: &[f64],
) -> anyhow::Result<()> {
    let mut w = VideoWriter::create(path, codec, VideoFormat::new(160, 90, 25.0), audio)?;
    for (i, &t) in times.iter().enumerate() {
        w.push(&frame(i as u32), t)?;
    }
    w.finish()?;
    Ok(())
}

fn every_frame(seconds: f64, fps: f64) -> Vec<f64> {
    (0..(seconds * fps).round() as usize)
        .map(|i| i as f64 / fps)
        .collect()
}

/// Decodes frame 0 of `path` to RGBA (with `decoder` when given) and reads
/// the pixel at (x, y).
fn pixel(path: &Path, decoder: Option<&str>, x: u32, y: u32) -> anyhow::Result<Rgba<u8>> {
    let png = path.with_extension("check.png");
    let mut args: Vec<String> = Vec::new();
    if let Some(d) = decoder {
        args.extend(["-c:v".into(), d.into()]);
    }
    args.extend([
        "-i".into(),
        path.to_string_lossy().into_owned(),
        "-frames:v".into(),
        "1".into(),
        "-pix_fmt".into(),
        "rgba".into(),
        png.to_string_lossy().into_owned(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    iprod::bench::ffmpeg(&refs)?;
    Ok(*image::open(&png)?.to_rgba8().get_pixel(x, y))
}

#[test]
fn h264_mp4_copies_aac_audio_starts_with_moov_and_stays_in_sync() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = source(dir.path(), "aac", "mp4")?;
    let out = dir.path().join("out.mp4");
    let codec = VideoCodec::H264 {
        crf: 20,
        preset: X264Preset::Veryfast,
    };
    write(&out, codec, Some(&src), &every_frame(4.0, 25.0))?;
    let p = probe(&out, &[])?;
    let v = stream(&p, "video").expect("video");
    let a = stream(&p, "audio").expect("audio");
    assert_eq!(
        (v["codec_name"].as_str(), v["pix_fmt"].as_str()),
        (Some("h264"), Some("yuv420p"))
    );
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(v["nb_frames"], "100");
    let (vd, ad) = (number(&v["duration"]), number(&a["duration"]));
    assert!(
        (vd - 4.0).abs() <= 0.04 && (ad - 4.0).abs() <= 0.05,
        "video {vd} audio {ad}"
    );
    assert!(
        number(&a["start_time"]).abs() <= 0.04 && number(&v["start_time"]).abs() <= 0.04,
        "{p}"
    );
    let bytes = std::fs::read(&out)?;
    let at = |tag: &[u8]| bytes.windows(4).position(|w| w == tag);
    assert!(at(b"moov") < at(b"mdat"), "faststart: moov before mdat");
    let red = pixel(&out, None, 40, 45)?;
    assert!(red[0] > 180 && red[1] < 70, "{red:?}");
    Ok(())
}

#[test]
fn vp9_webm_keeps_alpha_and_reencodes_aac_to_opus() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = source(dir.path(), "aac", "mp4")?;
    let out = dir.path().join("out.webm");
    write(
        &out,
        VideoCodec::Vp9Alpha { crf: 30 },
        Some(&src),
        &every_frame(4.0, 25.0),
    )?;
    let p = probe(&out, &[])?;
    let v = stream(&p, "video").expect("video");
    assert_eq!(v["codec_name"], "vp9");
    assert_eq!(v["tags"]["alpha_mode"], "1", "{v}");
    let a = stream(&p, "audio").expect("audio");
    assert_eq!(a["codec_name"], "opus");
    let duration = number(&p["format"]["duration"]);
    assert!((duration - 4.0).abs() < 0.1, "{duration}");
    // Decoded with libvpx (FFmpeg's native VP9 decoder drops alpha).
    let opaque = pixel(&out, Some("libvpx-vp9"), 40, 45)?;
    let clear = pixel(&out, Some("libvpx-vp9"), 120, 45)?;
    assert!(opaque[3] > 240 && opaque[0] > 180, "{opaque:?}");
    assert!(clear[3] < 15, "{clear:?}");
    Ok(())
}

#[test]
fn prores_4444_mov_has_alpha_and_variable_frame_times_survive() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = source(dir.path(), "aac", "mp4")?;
    let out = dir.path().join("out.mov");
    // Irregular frame times (a variable frame rate source).
    let times = [0.0, 0.04, 0.1, 0.5, 0.52, 1.0];
    write(&out, VideoCodec::ProRes4444, Some(&src), &times)?;
    let p = probe(
        &out,
        &["-show_entries", "frame=pts_time", "-select_streams", "v"],
    )?;
    let v = stream(&p, "video").expect("video");
    assert_eq!(v["codec_name"], "prores");
    // FFmpeg's ProRes decoder reports 4444 as 12-bit.
    assert!(
        v["pix_fmt"]
            .as_str()
            .is_some_and(|f| f.starts_with("yuva444p")),
        "{v}"
    );
    assert_eq!(v["profile"], "4444", "{v}");
    let frames = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()?;
    let got: Vec<f64> = String::from_utf8_lossy(&frames.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert_eq!(got.len(), times.len(), "{got:?}");
    for (g, t) in got.iter().zip(times) {
        assert!((g - t).abs() < 0.002, "{got:?}");
    }
    let clear = pixel(&out, None, 120, 45)?;
    assert!(clear[3] < 15, "{clear:?}");
    Ok(())
}

#[test]
fn video_without_audio_and_bad_sizes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let silent = dir.path().join("silent.mp4");
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:r=25:d=1",
        "-c:v",
        "libx264",
        &silent.to_string_lossy(),
    ])?;
    let out = dir.path().join("out.mp4");
    let codec = VideoCodec::H264 {
        crf: 23,
        preset: X264Preset::Ultrafast,
    };
    write(&out, codec, Some(&silent), &every_frame(1.0, 25.0))?;
    assert!(stream(&probe(&out, &[])?, "audio").is_none());
    assert!(VideoWriter::create(
        &dir.path().join("odd.mp4"),
        codec,
        VideoFormat::new(161, 90, 25.0),
        None
    )
    .is_err());
    let mut w = VideoWriter::create(
        &dir.path().join("size.mp4"),
        codec,
        VideoFormat::new(160, 90, 25.0),
        None,
    )?;
    assert!(w.push(&RgbaImage::new(10, 10), 0.0).is_err());
    Ok(())
}

/// An HD source tagged BT.709: decoded with its own matrix (not swscale's
/// BT.601 default), and what we write is converted and tagged the same way,
/// so the colour survives a round trip.
#[test]
fn bt709_colour_is_read_and_carried_over() -> anyhow::Result<()> {
    use iprod::media::colour::Matrix;
    use iprod::media::{SamplingMode, VideoReader};
    use std::ops::ControlFlow;
    let dir = tempfile::tempdir()?;
    let still = dir.path().join("still.png");
    image::RgbImage::from_pixel(1280, 720, image::Rgb([200, 60, 40])).save(&still)?;
    let src = dir.path().join("hd.mp4");
    iprod::bench::ffmpeg(&[
        "-loop",
        "1",
        "-i",
        &still.to_string_lossy(),
        "-t",
        "0.4",
        "-r",
        "25",
        "-vf",
        "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
        "-colorspace",
        "bt709",
        "-color_primaries",
        "bt709",
        "-color_trc",
        "bt709",
        "-color_range",
        "tv",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "0",
        &src.to_string_lossy(),
    ])?;
    let close = |p: [u8; 3], what: &str| {
        let want = [200, 60, 40];
        let err = (0..3)
            .map(|c| (i32::from(p[c]) - want[c]).abs())
            .max()
            .unwrap_or(0);
        assert!(err <= 4, "{what}: {p:?} vs {want:?}");
    };

    let mut reader = VideoReader::open(&src, &Default::default())?;
    assert_eq!(reader.info().colour.matrix, Matrix::Bt709);
    let mut first = None;
    reader.for_each_frame(SamplingMode::All, |r, f| {
        first = Some(r.to_rgb(f.frame, 1280, 720)?);
        Ok(ControlFlow::Break(()))
    })?;
    let decoded = first.expect("a frame");
    close(decoded.get_pixel(640, 360).0, "decoded by us");

    let out = dir.path().join("out.mp4");
    let codec = VideoCodec::H264 {
        crf: 10,
        preset: X264Preset::Ultrafast,
    };
    iprod::media::process::transform_video(
        &src,
        &out,
        codec,
        &Default::default(),
        &Default::default(),
        None,
        |rgb, _, _| Ok(image::DynamicImage::ImageRgb8(rgb).to_rgba8()),
    )?;
    let p = probe(&out, &[])?;
    let v = stream(&p, "video").expect("video");
    for (key, want) in [
        ("color_space", "bt709"),
        ("color_primaries", "bt709"),
        ("color_transfer", "bt709"),
        ("color_range", "tv"),
    ] {
        assert_eq!(v[key], want, "{key}");
    }
    let px = pixel(&out, None, 640, 360)?;
    close([px[0], px[1], px[2]], "our output decoded by ffmpeg");
    Ok(())
}

/// A 3 s clip whose audio is a rising tone at `rate` Hz on `channels`
/// channels, as FLAC in Matroska, so that every output format re-encodes it.
fn chirp_source(dir: &Path, rate: u32, channels: u32) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join(format!("chirp-{rate}-{channels}.mkv"));
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:r=25:d=3",
        "-f",
        "lavfi",
        "-i",
        &format!("aevalsrc=0.5*sin(2*PI*(300+200*t)*t):s={rate}:d=3"),
        "-ac",
        &channels.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "flac",
        &path.to_string_lossy(),
    ])?;
    Ok(path)
}

/// The audio of `path` as mono 48 kHz samples, decoded by the `ffmpeg` tool.
fn mono_48k(path: &Path) -> anyhow::Result<Vec<f32>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "pipe:1"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The best normalised correlation of `b` against `a[start..start + len]`
/// over lags of up to ±10 ms.
fn correlation(a: &[f32], b: &[f32], start: usize, len: usize) -> f64 {
    let reach = 480isize;
    let window = &a[start..start + len];
    let energy_a: f64 = window.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (-reach..=reach)
        .filter_map(|lag| {
            let from = start as isize + lag;
            let other = b.get(usize::try_from(from).ok()?..usize::try_from(from).ok()? + len)?;
            let dot: f64 = window
                .iter()
                .zip(other)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            let energy_b: f64 = other.iter().map(|&y| f64::from(y) * f64::from(y)).sum();
            Some(dot / (energy_a * energy_b).sqrt().max(1e-12))
        })
        .fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn every_output_format_keeps_all_the_audio_at_any_rate_and_layout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let formats = [
        (
            "mp4",
            VideoCodec::H264 {
                crf: 30,
                preset: X264Preset::Veryfast,
            },
        ),
        ("webm", VideoCodec::Vp9Alpha { crf: 40 }),
        ("mov", VideoCodec::ProRes4444),
    ];
    for rate in [22_050, 44_100, 48_000] {
        for channels in [1, 6] {
            let src = chirp_source(dir.path(), rate, channels)?;
            let want = mono_48k(&src)?;
            for (ext, codec) in formats {
                let what = format!("{ext} from {rate} Hz, {channels} channels");
                let out = dir.path().join(format!("out-{rate}-{channels}.{ext}"));
                write(&out, codec, Some(&src), &every_frame(3.0, 25.0))
                    .map_err(|e| anyhow::anyhow!("{what}: {e:#}"))?;
                let got = mono_48k(&out)?;
                // Within one audio frame (at most 1024 samples at 22.05 kHz).
                let (want_s, got_s) = (want.len() as f64 / 48e3, got.len() as f64 / 48e3);
                assert!(
                    (got_s - want_s).abs() <= 0.05,
                    "{what}: {got_s:.3} s of audio out of {want_s:.3} s"
                );
                // The same sound at the start and in the last half second.
                let len = 24_000;
                for start in [2_400, want.len().min(got.len()) - len - 600] {
                    let c = correlation(&want, &got, start, len);
                    assert!(c >= 0.9, "{what}: correlation {c:.3} at sample {start}");
                }
            }
        }
    }
    Ok(())
}
