//! `CaptionExtraction` on clips with subtitles burned in by FFmpeg (libass),
//! against the SRT that was burned.

use std::path::Path;

use iprod::capabilities::caption_extraction::api::CaptionExtractionResult;
use iprod::capabilities::caption_extraction::bench::score;
use iprod::capabilities::caption_extraction::subtitle::parse_srt;
use iprod::capabilities::caption_extraction::CaptionExtraction;
use iprod::capabilities::{Capability, Context, OutputSink, Report};
use iprod::domain::{ErrorCode, JobError, OutputTemplate};
use iprod::inference::ModelDir;
use iprod_tests::subtitles::burn;
use serde_json::{json, Value};

fn capability() -> CaptionExtraction {
    CaptionExtraction::load(&ModelDir::from_env())
        .unwrap_or_else(|e| panic!("{e}: run scripts/fetch-models"))
}

/// Runs CaptionExtraction, writing into `out`; the files written are
/// moved to the locations the result names.
fn extract(
    input: &Path,
    params: Value,
    out: &Path,
) -> Result<Report<CaptionExtractionResult>, JobError> {
    let internal =
        |e: &dyn std::fmt::Display| JobError::permanent(ErrorCode::InternalError, e.to_string());
    std::fs::create_dir_all(out).map_err(|e| internal(&e))?;
    let template =
        OutputTemplate::parse(&format!("{}/", out.display())).map_err(|e| internal(&e))?;
    let mut sink = OutputSink::new(out, template, "clip", 0, "job");
    let c = capability();
    let params = c.parse(&params)?;
    let output = c.run(input, &params, &mut sink, &Context::default())?;
    for f in sink.into_files() {
        std::fs::rename(&f.local, f.location.to_string()).map_err(|e| internal(&e))?;
    }
    Ok(output)
}

fn file(out: &Report<CaptionExtractionResult>, language: &str, format: &str) -> String {
    out.result
        .files
        .iter()
        .find(|f| f.language == language && f.format == format)
        .and_then(|f| std::fs::read_to_string(&f.file).ok())
        .unwrap_or_else(|| panic!("no {language} {format} file in {:?}", out.result))
}

#[test]
fn english_chinese_mixed_and_two_line_cues_are_read_at_frame_accurate_times() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let cues = [
        (1.0, 3.0, "Hello there, friend."),
        (3.5, 6.0, "你好，世界"),
        (6.5, 9.0, "Two lines stay\none caption."),
        // Back to back with the one before: no gap to find the change in.
        (9.0, 11.0, "Joy-Con是真的牛皮"),
    ];
    let (clip, srt) = burn(dir.path(), "mixed", &cues, 12.0, "")?;
    let out = extract(&clip, json!({}), dir.path())?;
    let found = parse_srt(&file(&out, "caption", "srt"));
    let truth = parse_srt(&std::fs::read_to_string(srt)?);
    let s = score(&truth, &found);
    assert_eq!((s.missing, s.extra), (0, 0), "{found:?}");
    assert!(s.cer <= 0.03, "CER {}: {found:?}", s.cer);
    assert_eq!(found[2].2, "Two lines stay\none caption.");
    // Frame accurate: within one frame (1/24 s) of the truth.
    for (t, f) in truth.iter().zip(&found) {
        assert!(
            (t.0 - f.0).abs() <= 0.05 && (t.1 - f.1).abs() <= 0.05,
            "{t:?} vs {f:?}"
        );
    }
    // The same cues in WebVTT and JSON.
    assert_eq!(parse_srt(&file(&out, "caption", "vtt")), found);
    let json: Value = serde_json::from_str(&file(&out, "caption", "json"))?;
    assert_eq!(json.as_array().map(Vec::len), Some(4));
    assert!(
        json[2]["Lines"].as_array().map(Vec::len) == Some(2),
        "{json}"
    );
    assert!(out.message.starts_with("4 captions"), "{}", out.message);
    Ok(())
}

#[test]
fn subtitles_at_the_top_are_found_with_roi_or_auto_and_not_in_the_default_region(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cues = [(0.5, 2.5, "Up here."), (3.0, 5.0, "Still up here.")];
    let (clip, _) = burn(dir.path(), "top", &cues, 6.0, "Alignment=6")?;
    let out = extract(&clip, json!({}), &dir.path().join("default"))?;
    assert_eq!(out.result.captions, vec![]);
    assert!(out.message.contains("no captions found"), "{}", out.message);
    assert_eq!(
        file(&out, "caption", "srt"),
        "",
        "an empty SRT is still written"
    );
    for roi in [json!([[0, 0.25], [0, 1]]), json!("auto")] {
        let out = extract(&clip, json!({ "roi": roi }), &dir.path().join("roi"))?;
        let texts: Vec<&str> = out
            .result
            .captions
            .iter()
            .map(|c| c.text.as_str())
            .collect();
        assert_eq!(
            texts,
            vec!["Up here.", "Still up here."],
            "roi {roi}: {:?}",
            out.result
        );
    }
    Ok(())
}

#[test]
fn sep_splits_bilingual_cues_and_formatter_prefixes_each_cue() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cues = [
        (0.5, 3.0, "今天天气很好\nThe weather is nice today"),
        (3.5, 6.0, "我们走吧\nLet's go"),
    ];
    let (clip, _) = burn(dir.path(), "bilingual", &cues, 6.5, "")?;
    let out = extract(
        &clip,
        json!({ "sep": true, "formatter": "{\\an2}" }),
        dir.path(),
    )?;
    let zh = file(&out, "zh", "srt");
    let en = file(&out, "en", "srt");
    let zh_texts: Vec<String> = parse_srt(&zh).into_iter().map(|c| c.2).collect();
    let en_texts: Vec<String> = parse_srt(&en).into_iter().map(|c| c.2).collect();
    assert_eq!(zh_texts, vec!["今天天气很好", "我们走吧"], "{zh}");
    assert_eq!(
        en_texts,
        vec!["The weather is nice today", "Let's go"],
        "{en}"
    );
    assert!(zh.contains("\n{\\an2}今天天气很好\n"), "{zh}");
    Ok(())
}

#[test]
fn a_video_without_subtitles_gives_empty_files_and_says_so() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (clip, _) = burn(dir.path(), "plain", &[], 4.0, "")?;
    let out = extract(&clip, json!({"lang": "en"}), dir.path())?;
    assert_eq!(out.result.captions, vec![]);
    assert_eq!(out.result.ocr_frames, 0, "nothing to read: no OCR at all");
    assert!(out.message.contains("no captions found"), "{}", out.message);
    assert_eq!(file(&out, "caption", "vtt"), "WEBVTT\n\n");
    Ok(())
}

#[test]
fn bad_params_corrupt_and_audio_only_inputs_fail_with_a_clear_code() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for (params, key) in [
        (json!({"fps": 0}), "fps"),
        (json!({"roi": [[0.5, 1.5], [0, 1]]}), "roi"),
        (json!({"lang": "xx"}), "lang"),
    ] {
        let err = extract(Path::new("/nonexistent.mp4"), params, dir.path()).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(err.message.contains(key), "{}", err.message);
    }
    let corrupt = iprod_tests::media::corrupt_clip(dir.path(), "corrupt.mp4")?;
    let err = extract(&corrupt, json!({}), dir.path()).expect_err("corrupt");
    assert_eq!(err.code, ErrorCode::InvalidMedia, "{}", err.message);
    let audio = dir.path().join("tone.m4a");
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2",
        "-c:a",
        "aac",
        &audio.to_string_lossy(),
    ])?;
    let err = extract(&audio, json!({}), dir.path()).expect_err("no video");
    assert_eq!(err.code, ErrorCode::UnsupportedMedia, "{}", err.message);
    Ok(())
}

#[test]
fn missing_model_files_are_named_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = CaptionExtraction::load(&ModelDir::new(dir.path())).expect_err("no models");
    let text = err.to_string();
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(text.contains("fetch-models"), "{text}");
}
