//! `MusicSegmentDetect` on a synthesized song whose form is known.

use iprod::capabilities::music_segment::api::MusicSegmentResult;
use iprod::capabilities::music_segment::MusicSegment;
use iprod::capabilities::{Capability, Context, OutputSink, Report};
use iprod::domain::OutputTemplate;
use iprod_tests::music::write_wav;
use iprod_tests::song::pop_song;

/// Writes `samples` as WAV and runs MusicSegmentDetect on it.
fn detect(samples: &[f32]) -> anyhow::Result<Report<MusicSegmentResult>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("song.wav");
    write_wav(&file, samples)?;
    let template = OutputTemplate::parse(&format!("{}/", dir.path().display()))
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut sink = OutputSink::new(dir.path(), template, "song", 0, "job");
    let params = MusicSegment.parse(&serde_json::json!({}))?;
    MusicSegment
        .run(&file, &params, &mut sink, &Context::default())
        .map_err(|e| anyhow::anyhow!(e))
}

#[test]
fn the_chorus_of_a_verse_chorus_song_is_found() -> anyhow::Result<()> {
    let (samples, spans) = pop_song();
    let out = detect(&samples)?;
    let choruses: Vec<(f64, f64)> = out
        .result
        .chorus_list
        .iter()
        .map(|c| (c.start, c.end))
        .collect();
    let truth: Vec<(f64, f64)> = spans
        .iter()
        .filter(|s| s.0 == "chorus")
        .map(|s| (s.1, s.2))
        .collect();
    for &(start, end) in &truth {
        assert!(
            choruses
                .iter()
                .any(|&(s, e)| (s - start).abs() <= 3.0 && (e - end).abs() <= 3.0),
            "chorus {start:.1}-{end:.1} not found in {choruses:?}; {:?}",
            out.result
        );
    }
    assert_eq!(choruses.len(), truth.len(), "{choruses:?}");
    // The phrase heard before each chorus is the verse.
    let verses: Vec<f64> = out
        .result
        .sections
        .iter()
        .filter(|s| s.kind == "verse")
        .map(|s| s.start)
        .collect();
    for verse in spans.iter().filter(|s| s.0 == "verse") {
        assert!(
            verses.iter().any(|v| (v - verse.1).abs() <= 3.0),
            "verse at {:.1} not among {verses:?}",
            verse.1
        );
    }
    Ok(())
}

#[test]
fn music_that_never_repeats_has_no_chorus_and_says_so() -> anyhow::Result<()> {
    use iprod_tests::song::{render, Part};
    let chord = |root: f64| [root, root * 1.26, root * 1.5];
    // Four parts, each on its own progression, none coming back.
    let parts: Vec<Part> = [
        ([130.81, 146.83, 164.81, 174.61], 0.5, "a"),
        ([196.0, 220.0, 246.94, 261.63], 0.7, "b"),
        ([155.56, 185.0, 207.65, 233.08], 0.9, "c"),
        ([277.18, 311.13, 138.59, 123.47], 0.6, "d"),
    ]
    .iter()
    .map(|&(roots, gain, name)| Part {
        chords: roots.iter().map(|&r| chord(r)).collect(),
        gain,
        register: 1.0,
        cycles: 2,
        name,
    })
    .collect();
    let (samples, _) = render(&parts, 100.0);
    let out = detect(&samples)?;
    assert_eq!(out.result.chorus_list, vec![], "{:?}", out.result);
    assert!(out.message.contains("no chorus"), "{}", out.message);
    Ok(())
}

#[test]
fn audio_too_long_to_segment_or_the_opt_in_model_is_refused_clearly() -> anyhow::Result<()> {
    // 31 minutes: over what the similarity matrices may take.
    let dir = tempfile::tempdir()?;
    let long = dir.path().join("long.flac");
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:sample_rate=8000:duration=1860",
        "-c:a",
        "flac",
        &long.to_string_lossy(),
    ])?;
    let template = OutputTemplate::parse(&format!("{}/", dir.path().display()))
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut sink = OutputSink::new(dir.path(), template, "song", 0, "job");
    let params = MusicSegment.parse(&serde_json::json!({}))?;
    let err = MusicSegment
        .run(&long, &params, &mut sink, &Context::default())
        .expect_err("too long");
    assert_eq!(err.code, iprod::domain::ErrorCode::LimitExceeded, "{err}");
    assert!(err.message.contains("1800 s"), "{err}");

    for (params, key) in [
        (serde_json::json!({"Model": "madmom"}), "Model"),
        (
            serde_json::json!({"StartTime": 10, "EndTime": 2000}),
            "EndTime",
        ),
    ] {
        let err = MusicSegment.parse(&params).expect_err("refused");
        assert_eq!(
            err.code,
            iprod::domain::ErrorCode::InvalidParameter,
            "{err}"
        );
        assert!(err.message.contains(key), "{err}");
    }
    Ok(())
}
