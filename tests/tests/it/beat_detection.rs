//! `AudioBeatDetection` on synthesized music whose beats are known.

use std::path::Path;

use iprod::capabilities::beat_detection::api::BeatDetectionResult;
use iprod::capabilities::beat_detection::BeatDetection;
use iprod::capabilities::{Capability, Context, OutputSink};
use iprod::domain::{ErrorCode, JobError, OutputTemplate};
use iprod_tests::music::{f_measure, piece, render, Piece};
use serde_json::{json, Value};

fn detect(input: &Path, params: Value) -> Result<(BeatDetectionResult, String), JobError> {
    let out = tempfile::tempdir()
        .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))?;
    let template = OutputTemplate::parse(&format!("{}/", out.path().display()))?;
    let mut sink = OutputSink::new(out.path(), template, "music", 0, "job");
    let beats = BeatDetection::default();
    let params = beats.parse(&params)?;
    let output = beats.run(input, &params, &mut sink, &Context::default())?;
    Ok((output.result, output.message))
}

fn downbeats(p: &Piece) -> Vec<f64> {
    p.beats
        .iter()
        .zip(p.positions.iter())
        .filter(|(_, &pos)| pos == 1)
        .map(|(b, _)| *b)
        .collect()
}

#[test]
fn a_steady_click_track_gives_its_beats_tempo_and_bars() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(120.0, 120.0, 20.0, 4, false, 0.0);
    let file = render(dir.path(), "steady", &p.samples, &[])?;
    let (result, message) = detect(&file, json!({})).map_err(|e| anyhow::anyhow!(e))?;
    let found = &result.beat_list;
    assert!(f_measure(&p.beats, found) >= 0.95, "{found:?}");
    assert!((result.bpm - 120.0).abs() < 2.0, "{result:?}");
    assert_eq!(result.time_signature, "4/4");
    assert!(
        f_measure(&downbeats(&p), &result.down_beat_list) >= 0.9,
        "{result:?}"
    );
    assert!(message.contains("BPM"), "{message}");
    Ok(())
}

#[test]
fn an_accelerating_track_is_followed_and_its_tempo_curve_rises() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(95.0, 125.0, 30.0, 4, false, 0.0);
    let file = render(dir.path(), "accel", &p.samples, &[])?;
    let (result, _) = detect(&file, json!({})).map_err(|e| anyhow::anyhow!(e))?;
    assert!(f_measure(&p.beats, &result.beat_list) >= 0.9, "{result:?}");
    let curve: Vec<f64> = result.tempo_curve.iter().map(|p| p.bpm).collect();
    assert!(curve.len() >= 5, "{curve:?}");
    let (first, last) = (curve[0], curve[curve.len() - 1]);
    assert!(last - first > 15.0, "tempo rises: {curve:?}");
    Ok(())
}

#[test]
fn swung_and_noisy_tracks_keep_the_beat() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for (name, swing, noise) in [("swing", true, 0.0), ("noisy", false, 0.08)] {
        let p = piece(100.0, 100.0, 20.0, 4, swing, noise);
        let file = render(dir.path(), name, &p.samples, &[])?;
        let (result, _) = detect(&file, json!({})).map_err(|e| anyhow::anyhow!(e))?;
        let f = f_measure(&p.beats, &result.beat_list);
        assert!(f >= 0.9, "{name}: F {f} {result:?}");
    }
    Ok(())
}

#[test]
fn a_waltz_is_in_three() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(140.0, 140.0, 24.0, 3, false, 0.0);
    let file = render(dir.path(), "waltz", &p.samples, &[])?;
    let (result, _) = detect(&file, json!({})).map_err(|e| anyhow::anyhow!(e))?;
    assert_eq!(result.time_signature, "3/4", "{result:?}");
    assert!(
        f_measure(&downbeats(&p), &result.down_beat_list) >= 0.8,
        "{result:?}"
    );
    Ok(())
}

#[test]
fn channels_rates_and_codecs_do_not_change_the_beats() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(110.0, 110.0, 15.0, 4, false, 0.0);
    for (name, args) in [
        ("mono8k", vec!["-ar", "8000", "wav"]),
        (
            "stereo",
            vec!["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", "mp3"],
        ),
        ("surround", vec!["-ac", "6", "-ar", "48000", "flac"]),
        ("hires", vec!["-ar", "96000", "-c:a", "aac", "m4a"]),
    ] {
        let file = render(dir.path(), name, &p.samples, &args)?;
        let (result, _) = detect(&file, json!({})).map_err(|e| anyhow::anyhow!(e))?;
        let f = f_measure(&p.beats, &result.beat_list);
        assert!(f >= 0.9, "{name}: F {f}");
    }
    Ok(())
}

#[test]
fn the_tempo_range_decides_the_metrical_level() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(120.0, 120.0, 20.0, 4, false, 0.0);
    let file = render(dir.path(), "range", &p.samples, &[])?;
    let (slow, _) =
        detect(&file, json!({"MinBpm": 40, "MaxBpm": 80})).map_err(|e| anyhow::anyhow!(e))?;
    assert!((slow.bpm - 60.0).abs() < 2.0, "{slow:?}");
    let (window, _) =
        detect(&file, json!({"StartTime": 5, "EndTime": 15})).map_err(|e| anyhow::anyhow!(e))?;
    let found = &window.beat_list;
    assert!(found.iter().all(|&t| (4.9..15.1).contains(&t)), "{found:?}");
    let truth: Vec<f64> = p
        .beats
        .iter()
        .copied()
        .filter(|t| (5.0..15.0).contains(t))
        .collect();
    assert!(
        f_measure(&truth, found) >= 0.9,
        "times are in the source's timeline"
    );
    Ok(())
}

#[test]
fn silence_and_very_short_clips_succeed_without_inventing_beats() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let silent = render(dir.path(), "silence", &vec![0.0; 44_100 * 5], &[])?;
    let (result, message) = detect(&silent, json!({})).map_err(|e| anyhow::anyhow!(e))?;
    assert!(result.beat_list.is_empty());
    assert!(message.contains("no beats"), "{message}");
    let p = piece(120.0, 120.0, 2.0, 4, false, 0.0);
    let short = render(dir.path(), "short", &p.samples, &[])?;
    let (result, _) = detect(&short, json!({})).map_err(|e| anyhow::anyhow!(e))?;
    assert!(result.beat_list.len() <= 5, "{result:?}");
    Ok(())
}

#[test]
fn near_silence_has_no_beats_but_quiet_music_keeps_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(120.0, 120.0, 20.0, 4, false, 0.0);
    // About -80 dBFS: a few steps of 16-bit audio.
    let faint: Vec<f32> = p.samples.iter().map(|x| x * 1e-4).collect();
    let faint = render(dir.path(), "faint", &faint, &[])?;
    let (result, message) = detect(&faint, json!({})).map_err(|e| anyhow::anyhow!(e))?;
    assert!(
        result.beat_list.is_empty(),
        "{} beats",
        result.beat_list.len()
    );
    assert!(message.contains("floor"), "{message}");
    // 30 dB down is still music.
    let quiet: Vec<f32> = p.samples.iter().map(|x| x * 0.03).collect();
    let quiet = render(dir.path(), "quiet", &quiet, &[])?;
    let (result, _) = detect(&quiet, json!({})).map_err(|e| anyhow::anyhow!(e))?;
    let f = f_measure(&p.beats, &result.beat_list);
    assert!(f > 0.9, "F {f:.2}");
    Ok(())
}

#[test]
fn corrupt_and_video_only_inputs_fail_with_a_clear_code() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let garbage = dir.path().join("song.mp3");
    std::fs::write(&garbage, vec![0x55u8; 4096])?;
    let err = detect(&garbage, json!({})).expect_err("garbage");
    assert_eq!(err.code, ErrorCode::InvalidMedia, "{err}");
    let video = dir.path().join("silent.mp4");
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:d=1",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        &video.to_string_lossy(),
    ])?;
    let err = detect(&video, json!({})).expect_err("no audio");
    assert_eq!(err.code, ErrorCode::UnsupportedMedia, "{err}");
    assert!(err.message.contains("no audio stream"), "{err}");
    let err = detect(&video, json!({"MaxBpm": 1000})).expect_err("range");
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    Ok(())
}

#[test]
fn a_start_past_the_end_fails_naming_the_start_and_the_duration() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(120.0, 120.0, 12.0, 4, false, 0.0);
    let file = render(dir.path(), "short", &p.samples, &["-c:a", "flac", "flac"])?;
    let err = detect(&file, json!({"StartTime": 30})).expect_err("past the end");
    assert_eq!(err.code, ErrorCode::InvalidParameter, "{err}");
    assert!(
        err.message.contains("30.0 s") && err.message.contains("past the end"),
        "{err}"
    );
    // A start inside the file still works.
    let (result, _) = detect(&file, json!({"StartTime": 4})).map_err(|e| anyhow::anyhow!(e))?;
    assert!(!result.beat_list.is_empty(), "{result:?}");
    Ok(())
}

#[test]
fn audio_over_the_duration_limit_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(120.0, 120.0, 12.0, 4, false, 0.0);
    let file = render(dir.path(), "long", &p.samples, &["-c:a", "flac", "flac"])?;
    let out = tempfile::tempdir()?;
    let template = OutputTemplate::parse(&format!("{}/", out.path().display()))
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut sink = OutputSink::new(out.path(), template, "music", 0, "job");
    let ctx = Context {
        limits: iprod::domain::Limits {
            max_duration_s: 5.0,
            ..iprod::domain::Limits::default()
        },
        ..Context::default()
    };
    let beats = BeatDetection::default();
    let params = beats.parse(&json!({}))?;
    let err = beats
        .run(&file, &params, &mut sink, &ctx)
        .expect_err("over the limit");
    assert_eq!(err.code, ErrorCode::LimitExceeded, "{err}");
    assert!(err.message.contains("duration"), "{err}");
    Ok(())
}

#[test]
fn the_opt_in_networks_find_the_beats_bars_and_meter() -> anyhow::Result<()> {
    // Needs `scripts/fetch-models --opt-in madmom` (scripts/test runs it).
    let dir = tempfile::tempdir()?;
    for (meter, signature) in [(4u8, "4/4"), (3, "3/4")] {
        let p = piece(110.0, 110.0, 24.0, meter, false, 0.0);
        let file = render(dir.path(), &format!("meter{meter}"), &p.samples, &[])?;
        let (result, message) =
            detect(&file, json!({"Model": "madmom"})).map_err(|e| anyhow::anyhow!(e))?;
        let found = &result.beat_list;
        assert!(f_measure(&p.beats, found) >= 0.9, "{meter}: {found:?}");
        assert!((result.bpm - 110.0).abs() < 3.0, "{result:?}");
        assert_eq!(result.time_signature, signature, "{result:?}");
        assert!(
            f_measure(&downbeats(&p), &result.down_beat_list) >= 0.8,
            "{meter}: {result:?}"
        );
        assert!(message.contains("BPM"), "{message}");
    }
    // Silence is not music to the networks either.
    let silent = render(dir.path(), "silence", &vec![0.0; 44_100 * 5], &[])?;
    let (result, message) =
        detect(&silent, json!({"Model": "madmom"})).map_err(|e| anyhow::anyhow!(e))?;
    assert!(result.beat_list.is_empty(), "{result:?}");
    assert!(message.contains("no beats"), "{message}");
    Ok(())
}

#[test]
fn an_uninstalled_or_unknown_model_is_refused_naming_the_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = piece(120.0, 120.0, 4.0, 4, false, 0.0);
    let file = render(dir.path(), "short", &p.samples, &[])?;
    let err = detect(&file, json!({"Model": "nope"})).expect_err("unknown model");
    assert_eq!(err.code, ErrorCode::InvalidParameter, "{err}");
    assert!(err.message.contains("madmom"), "{err}");

    // A model folder with the runtime but without the opt-in networks.
    let installed = iprod::inference::ModelDir::from_env();
    let runtime = iprod::inference::manifest().runtime.file.clone();
    let empty = tempfile::tempdir()?;
    std::os::unix::fs::symlink(installed.path().join(&runtime), empty.path().join(&runtime))?;
    let out = tempfile::tempdir()?;
    let template = OutputTemplate::parse(&format!("{}/", out.path().display()))
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut sink = OutputSink::new(out.path(), template, "music", 0, "job");
    let uninstalled = BeatDetection::new(iprod::inference::ModelDir::new(empty.path()));
    let params = uninstalled.parse(&json!({"Model": "madmom"}))?;
    let err = uninstalled
        .run(&file, &params, &mut sink, &Context::default())
        .expect_err("not installed");
    assert_eq!(err.code, ErrorCode::InvalidParameter, "{err}");
    assert!(err.message.contains("non-commercial"), "{err}");
    assert!(err.message.contains("--opt-in madmom"), "{err}");
    Ok(())
}

#[test]
fn a_late_start_is_sought_and_lands_on_the_same_samples() -> anyhow::Result<()> {
    use iprod::domain::Limits;
    use iprod::media::decode_mono;
    let dir = tempfile::tempdir()?;
    // 20 s of noise under a slow chirp: no two places look alike.
    let mut seed = 12345u32;
    let samples: Vec<f32> = (0..20 * 44_100)
        .map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let t = i as f32 / 44_100.0;
            0.3 * noise + 0.3 * (2.0 * std::f32::consts::PI * (200.0 + 20.0 * t) * t).sin()
        })
        .collect();
    let rate = 22_050u32;
    let (from, to) = (12.3, 14.0);
    for (name, args, slack) in [
        ("flac", vec!["-c:a", "flac", "flac"], 0usize),
        ("mp3", vec!["-c:a", "libmp3lame", "-b:a", "192k", "mp3"], 2),
    ] {
        let file = render(dir.path(), name, &samples, &args)?;
        let whole = decode_mono(&file, rate, &Limits::default(), None, None)?;
        let part = decode_mono(&file, rate, &Limits::default(), Some(from), Some(to))?;
        let expected = ((to - from) * f64::from(rate)) as usize;
        assert!(
            part.samples.len().abs_diff(expected) <= 1,
            "{name}: {} samples",
            part.samples.len()
        );
        // The excerpt's place in the whole: the best-matching lag.
        let at = (from * f64::from(rate)) as usize;
        let probe = &part.samples[2000..6000];
        let lag = (0..=100usize)
            .min_by(|&a, &b| {
                let err = |l: usize| -> f32 {
                    let w = &whole.samples[at + 2000 + l - 50..at + 6000 + l - 50];
                    w.iter().zip(probe).map(|(x, y)| (x - y).powi(2)).sum()
                };
                err(a).total_cmp(&err(b))
            })
            .unwrap_or(0);
        assert!(
            lag.abs_diff(50) <= slack,
            "{name}: off by {} samples",
            lag as i64 - 50
        );
    }
    Ok(())
}

#[test]
fn the_opt_in_networks_run_in_windows_find_what_one_run_over_the_whole_finds() -> anyhow::Result<()>
{
    use iprod::capabilities::beat_detection::madmom::{RhythmNet, Windowed};
    use iprod::capabilities::beat_detection::rnn;
    use iprod::capabilities::beat_detection::tracker::{track_activations, TrackerSettings};
    use iprod::capabilities::beat_detection::NEURAL_CONTEXT_S;
    // Needs `scripts/fetch-models --opt-in madmom` (scripts/test runs it).
    let net = RhythmNet::load(&iprod::inference::ModelDir::from_env())?;
    // 70 s with a tempo change, cut into 20-s windows seen with the
    // deployed context on either side, handed over in pieces of odd sizes.
    let p = piece(96.0, 128.0, 70.0, 4, false, 0.01);
    assert_eq!(iprod_tests::music::RATE, rnn::SAMPLE_RATE);
    let whole = net.activations(&rnn::input(&p.samples))?;
    let mut windows = Windowed::new(&net, 20.0, NEURAL_CONTEXT_S);
    for chunk in p.samples.chunks(12_345) {
        windows.push(chunk)?;
    }
    let windowed = windows.finish()?;
    assert_eq!(windowed.beat.len(), whole.beat.len());
    assert_eq!(windowed.downbeat.len(), whole.downbeat.len());
    let worst = whole
        .beat
        .iter()
        .zip(&windowed.beat)
        .chain(whole.downbeat.iter().zip(&windowed.downbeat))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // The networks' memory fades over seconds: with 8 s of context either
    // side they differ by up to 0.07, with 15 s 0.04, with 25 s 0.03
    // (this piece), and the beats are the same from 8 s on.
    assert!(worst < 0.04, "activations differ by up to {worst}");
    let settings = TrackerSettings {
        skip_ratio: 0.5,
        ..TrackerSettings::default()
    };
    let a = track_activations(&whole.beat, &whole.downbeat, rnn::FPS, &settings);
    let b = track_activations(&windowed.beat, &windowed.downbeat, rnn::FPS, &settings);
    let (a, b) = (a.expect("beats"), b.expect("beats"));
    assert_eq!(a.beats, b.beats);
    assert_eq!(a.positions, b.positions);
    assert!(f_measure(&p.beats, &b.beats) >= 0.9);
    Ok(())
}
