//! `VideoDetext` on footage with captions burned in by FFmpeg's
//! `subtitles` filter, beside the same footage without them; the caption
//! pixels are known from the same cues burned over flat grey.

use std::path::{Path, PathBuf};

use image::RgbImage;
use iprod::capabilities::caption_extraction::api::CaptionExtractionParams;
use iprod::capabilities::caption_extraction::CaptionExtraction;
use iprod::capabilities::detext::api::DetextResult;
use iprod::capabilities::detext::Detext;
use iprod::capabilities::{Context, Report};
use iprod::domain::{ErrorCode, JobError};
use iprod::inference::ModelDir;
use iprod_tests::fixtures::logos::{self, FPS, SIZE};
use iprod_tests::subtitles::{burn_over, is_caption, mask_clip, BLANK_TITLE_CARD, TITLE_CARD};
use iprod_tests::{frame_at, run_capability, RecordedProgress};
use serde_json::{json, Value};

fn capability() -> Detext {
    Detext::load(&ModelDir::from_env()).expect("models (run scripts/fetch-models)")
}

fn run(
    input: &Path,
    params: Value,
    out: &Path,
) -> Result<(Report<DetextResult>, PathBuf), JobError> {
    let (report, files) = run_capability(&capability(), input, &params, out, &Context::default())?;
    Ok((report, files.into_iter().last().unwrap_or_default()))
}

/// A clip of a photograph held still, with a tone.
fn still_clip(dir: &Path, seconds: u32) -> anyhow::Result<PathBuf> {
    let photos = logos::photo()?;
    let frame = logos::clean(&photos, 0);
    iprod::bench::composite::clip(&dir.join("still.mp4"), f64::from(seconds), |_| {
        frame.clone()
    })
}

/// Frame at `t` of the output, of the clean footage and of the caption
/// mask, and the mean absolute difference of output and clean inside the
/// mask and (away from it by 12 px) outside it.
struct Compared {
    inside: f64,
    outside: f64,
    masked: usize,
}

fn compare(out: &Path, clean: &Path, mask: &Path, t: f64, dir: &Path) -> anyhow::Result<Compared> {
    let tag = (t * 1000.0) as u32;
    let o = frame_at(out, t, &dir.join(format!("o{tag}.png")))?;
    let c = frame_at(clean, t, &dir.join(format!("c{tag}.png")))?;
    let m = frame_at(mask, t, &dir.join(format!("m{tag}.png")))?;
    let near = near_mask(&m, 12);
    let (mut inside, mut n_in, mut outside, mut n_out) = (0.0, 0usize, 0.0, 0usize);
    for (x, y, p) in m.enumerate_pixels() {
        let d = diff(&o, &c, x, y);
        if is_caption(p) {
            inside += d;
            n_in += 1;
        } else if !near[(y * m.width() + x) as usize] {
            outside += d;
            n_out += 1;
        }
    }
    Ok(Compared {
        inside: inside / n_in.max(1) as f64,
        outside: outside / n_out.max(1) as f64,
        masked: n_in,
    })
}

fn diff(a: &RgbImage, b: &RgbImage, x: u32, y: u32) -> f64 {
    let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
    (0..3)
        .map(|c| (f64::from(p[c]) - f64::from(q[c])).abs())
        .sum::<f64>()
        / 3.0
}

fn near_mask(m: &RgbImage, r: u32) -> Vec<bool> {
    let (w, h) = m.dimensions();
    let mut out = vec![false; (w * h) as usize];
    for (x, y, p) in m.enumerate_pixels() {
        if is_caption(p) {
            for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                    out[(yy * w + xx) as usize] = true;
                }
            }
        }
    }
    out
}

/// Characters CaptionExtraction still reads in `video`.
fn characters_read(video: &Path) -> anyhow::Result<usize> {
    let reader = CaptionExtraction::load(&ModelDir::from_env())?;
    let read = reader.extract(
        video,
        &CaptionExtractionParams::default(),
        &Context::default(),
    )?;
    Ok(read
        .captions
        .iter()
        .map(|c| c.text.chars().filter(|c| !c.is_whitespace()).count())
        .sum())
}

/// Captions as large as a 480×270 picture's usually are.
const STYLE: &str = "FontSize=28";

const CUES: [(f64, f64, &str); 2] = [
    (0.52, 2.52, "Every frame is a new picture"),
    (3.0, 5.2, "A second caption\nover two lines"),
];

#[test]
fn captions_over_moving_footage_are_removed_on_their_own_frames() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let clean = logos::clip(d, "clean", 6, None)?;
    let (captioned, srt) = burn_over(d, "captioned", &clean, &CUES, STYLE)?;
    let mask = mask_clip(d, "mask", &srt, (SIZE, FPS, 6.0), STYLE)?;
    if let Ok(keep) = std::env::var("DETEXT_KEEP") {
        std::fs::copy(&captioned, format!("{keep}/moving.mp4"))?;
        std::fs::copy(&clean, format!("{keep}/moving_clean.mp4"))?;
    }
    let before = characters_read(&captioned)?;
    assert!(
        before >= 40,
        "the captions read before: {before} characters"
    );

    let (out, file) = run(&captioned, json!({}), &d.join("out"))?;
    let r = &out.result;
    assert!(r.encoded);
    assert_eq!(r.frames, 150);
    assert_eq!(r.captions.len(), 2, "{}: {:?}", out.message, r.captions);
    let frame = 1.0 / f64::from(FPS);
    for (c, (start, end, _)) in r.captions.iter().zip(CUES) {
        assert_eq!(c.source, "detected");
        // From the first frame showing it to the last.
        assert!((c.start - start).abs() <= frame, "{c:?}");
        assert!((c.end - (end - frame)).abs() <= frame, "{c:?}");
    }
    assert!(r.captions[1].text.contains("second"), "{:?}", r.captions);
    assert!(
        r.frames_changed >= 100 && r.frames_changed <= 112,
        "{}",
        r.frames_changed
    );

    let mut inside = 0.0;
    for t in [1.02, 2.02, 3.5, 4.7] {
        let c = compare(&file, &clean, &mask, t, d)?;
        assert!(c.masked > 300, "{t}: {} caption pixels", c.masked);
        assert!(c.outside < 2.5, "{t}: away from them {:.1}", c.outside);
        let was = compare(&captioned, &clean, &mask, t, d)?;
        assert!(
            was.inside > 2.0 * c.inside,
            "{t}: {:.1}, {:.1} before",
            c.inside,
            was.inside
        );
        inside += c.inside / 4.0;
    }
    // A busy photograph panned and cut every 0.4 s: much of what the
    // captions hide no frame shows, and is filled from around.
    assert!(inside < 22.0, "inside the captions {inside:.1}");
    // Nothing is left to read.
    let after = characters_read(&file)?;
    assert!(
        after * 20 <= before,
        "{after} of {before} characters still read"
    );
    Ok(())
}

#[test]
fn captions_changing_every_second_over_a_still_picture_are_filled_from_other_frames(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let clean = still_clip(d, 5)?;
    let cues = [
        (0.4, 1.4, "One caption"),
        (1.4, 2.4, "then another one"),
        (2.4, 3.4, "and a third, longer"),
        (3.4, 4.6, "the last"),
    ];
    let (captioned, srt) = burn_over(d, "captioned", &clean, &cues, STYLE)?;
    let mask = mask_clip(d, "mask", &srt, (SIZE, FPS, 5.0), STYLE)?;
    if let Ok(keep) = std::env::var("DETEXT_KEEP") {
        std::fs::copy(&captioned, format!("{keep}/still.mp4"))?;
    }
    let (out, file) = run(&captioned, json!({}), &d.join("out"))?;
    let r = &out.result;
    assert_eq!(r.captions.len(), 4, "{}: {:?}", out.message, r.captions);
    // The picture behind each caption showed before it.
    assert!(r.from_other_frames > 0.9, "{}", r.from_other_frames);
    for t in [1.0, 2.0, 3.0, 4.0] {
        let c = compare(&file, &clean, &mask, t, d)?;
        assert!(c.inside < 4.0, "{t}: inside the captions {:.1}", c.inside);
        assert!(c.outside < 2.5, "{t}: away from them {:.1}", c.outside);
    }
    Ok(())
}

#[test]
fn quality_fast_looks_only_at_the_frames_before_a_caption() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let clean = still_clip(d, 4)?;
    // From the first frame: only the frames after it show the picture
    // (within the second after it that is looked at).
    let cues = [(0.0, 1.0, "Shown from the start")];
    let (captioned, srt) = burn_over(d, "captioned", &clean, &cues, STYLE)?;
    let mask = mask_clip(d, "mask", &srt, (SIZE, FPS, 4.0), STYLE)?;
    let was = compare(&captioned, &clean, &mask, 0.5, d)?;
    for (quality, from_other_frames) in [("best", 0.9..=1.0), ("fast", 0.0..=0.1)] {
        let (out, file) = run(&captioned, json!({"Quality": quality}), &d.join(quality))?;
        let r = &out.result;
        assert_eq!(r.captions.len(), 1, "{quality}: {:?}", r.captions);
        assert!(
            from_other_frames.contains(&r.from_other_frames),
            "{quality}: {}",
            r.from_other_frames
        );
        // Either way the caption is gone: from the frames after it, or
        // from around it.
        let c = compare(&file, &clean, &mask, 0.5, d)?;
        assert!(
            c.inside * 3.0 < was.inside,
            "{quality}: inside the caption {:.1}, {:.1} before",
            c.inside,
            was.inside
        );
        assert!(c.outside < 2.5, "{quality}: away from it {:.1}", c.outside);
    }
    Ok(())
}

#[test]
fn given_areas_apply_only_inside_them_and_their_time_span() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let clean = logos::clip(d, "clean", 6, None)?;
    let (captioned, srt) = burn_over(d, "captioned", &clean, &CUES, STYLE)?;
    let mask = mask_clip(d, "mask", &srt, (SIZE, FPS, 6.0), STYLE)?;
    let areas = json!({"Areas": [{"Box": [0.0, 0.7, 1.0, 0.3], "Start": 0, "End": 2.8}]});
    let (out, file) = run(&captioned, areas, &d.join("out"))?;
    let r = &out.result;
    assert_eq!(r.captions.len(), 1, "{:?}", r.captions);
    assert_eq!(r.captions[0].source, "given");
    let [x, y, w, h] = r.captions[0].rect;
    assert!(y >= 189 && x + w <= 480 && y + h <= 270, "{:?}", r.captions);
    assert!(
        (r.captions[0].start - 0.52).abs() <= 0.04,
        "{:?}",
        r.captions
    );
    let removed = compare(&file, &clean, &mask, 1.5, d)?;
    assert!(removed.inside < 14.0, "{:.1}", removed.inside);
    // After the span the caption stays as it was.
    let kept = compare(&file, &captioned, &mask, 4.0, d)?;
    // (re-encoding softens the captions' sharp edges a little)
    assert!(kept.inside < 8.0, "{:.1}", kept.inside);
    Ok(())
}

#[test]
fn a_video_without_captions_is_copied_unless_asked_to_encode() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let clean = logos::clip(d, "clean", 3, None)?;
    let (out, file) = run(&clean, json!({}), &d.join("out"))?;
    assert!(out.result.captions.is_empty());
    assert!(!out.result.encoded);
    assert!(
        out.message.contains("no burned-in captions"),
        "{}",
        out.message
    );
    assert_eq!(std::fs::read(&file)?, std::fs::read(&clean)?);
    let (out, file) = run(&clean, json!({"AlwaysEncode": true}), &d.join("again"))?;
    assert!(out.result.encoded && out.result.frames == 75);
    assert_eq!(out.result.frames_changed, 0);
    assert!(compare(&file, &clean, &file, 1.0, d).is_ok());
    Ok(())
}

#[test]
fn stills_corrupt_files_and_areas_outside_the_frame_fail_cleanly() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let png = d.join("still.png");
    logos::clean(&logos::photo()?, 0).save(&png)?;
    let e = run(&png, json!({}), &d.join("a")).expect_err("a still");
    assert_eq!(e.code, ErrorCode::UnsupportedMedia, "{}", e.message);
    let corrupt = iprod_tests::media::corrupt_clip(d, "broken.mp4")?;
    let e = run(&corrupt, json!({}), &d.join("b")).expect_err("corrupt");
    assert!(
        matches!(
            e.code,
            ErrorCode::InvalidMedia | ErrorCode::UnsupportedMedia
        ),
        "{:?}: {}",
        e.code,
        e.message
    );
    let clean = logos::clip(d, "clean", 2, None)?;
    let e = run(&clean, json!({"Areas": [[5000, 10, 20, 20]]}), &d.join("c")).expect_err("outside");
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert!(e.message.contains("Areas"), "{}", e.message);
    Ok(())
}

/// What the text detector reads anywhere in frame `t` of `video`.
fn text_in_frame(video: &Path, t: f64, dir: &Path) -> anyhow::Result<String> {
    let frame = frame_at(
        video,
        t,
        &dir.join(format!("read{}.png", (t * 1000.0) as u32)),
    )?;
    let reader = CaptionExtraction::load(&ModelDir::from_env())?;
    let lines = reader.ocr().read(&frame, 1.0, false)?;
    Ok(lines
        .iter()
        .map(|l| l.text.to_uppercase())
        .collect::<Vec<_>>()
        .join(" | "))
}

#[test]
fn with_target_all_a_title_card_loses_its_letters_and_keeps_its_card() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let clean = logos::clip(d, "clean", 4, None)?;
    let title = [(0.5, 3.5, "SUMMER SALE")];
    let (blank, _) = burn_over(d, "blank", &clean, &title, BLANK_TITLE_CARD)?;
    let (signed, _) = burn_over(d, "signed", &clean, &title, TITLE_CARD)?;
    let (captioned, srt) = burn_over(d, "captioned", &signed, &CUES[..1], STYLE)?;
    let (blank_captioned, _) = burn_over(d, "blank_captioned", &blank, &CUES[..1], STYLE)?;
    let mask = mask_clip(d, "mask", &srt, (SIZE, FPS, 4.0), STYLE)?;
    if let Ok(keep) = std::env::var("DETEXT_KEEP") {
        std::fs::copy(&captioned, format!("{keep}/title.mp4"))?;
        std::fs::copy(&blank_captioned, format!("{keep}/title_blank.mp4"))?;
    }
    let before = text_in_frame(&captioned, 2.0, d)?;
    assert!(before.contains("SALE"), "read before: {before}");

    let (ctx, progress) = RecordedProgress::context();
    let (out, files) = run_capability(
        &capability(),
        &captioned,
        &json!({"Target": "all"}),
        &d.join("out"),
        &ctx,
    )?;
    let file = files.into_iter().last().unwrap_or_default();
    if let Ok(keep) = std::env::var("DETEXT_KEEP") {
        std::fs::copy(&file, format!("{keep}/title_out.mp4"))?;
    }
    // The looks for the title report their progress (one report a look,
    // eight here) beside the reading of the captions (a few large steps),
    // before the edit's two thirds of the job.
    progress.assert_moves_forward(20, 0.95);
    let before_edit = progress.seen().iter().filter(|&&f| f < 0.66).count();
    assert!(
        before_edit >= 6,
        "{before_edit} reports before the edit: {progress:?}"
    );
    let r = &out.result;
    // The title, and any text of the photographs (a mission patch).
    let text: Vec<_> = r
        .captions
        .iter()
        .filter(|c| c.source == "text" && c.text.to_uppercase().contains("SALE"))
        .collect();
    assert_eq!(text.len(), 1, "{}: {:?}", out.message, r.captions);
    assert!(text[0].start <= 0.56 && text[0].end >= 3.44, "{text:?}");
    let [x, _, w, _] = text[0].rect;
    assert!(x + w <= 240, "the title's box {:?}", text[0].rect);
    for c in &r.captions {
        let [_, _, w, h] = c.rect;
        assert!(w * h * 4 <= 480 * 270, "no text is that large: {c:?}");
    }
    let captions: Vec<_> = r
        .captions
        .iter()
        .filter(|c| c.source == "detected")
        .collect();
    assert_eq!(captions.len(), 1, "{:?}", r.captions);
    assert!((captions[0].start - 0.52).abs() <= 0.04, "{captions:?}");

    for t in [1.0, 2.0, 3.0] {
        let tag = (t * 1000.0) as u32;
        let o = frame_at(&file, t, &d.join(format!("o{tag}.png")))?;
        let c = frame_at(&captioned, t, &d.join(format!("c{tag}.png")))?;
        let b = frame_at(&blank_captioned, t, &d.join(format!("b{tag}.png")))?;
        // The letters: where the card with them differs from the card
        // without.
        let (mut after, mut was, mut letters) = (0.0, 0.0, 0usize);
        for (x, y, p) in c.enumerate_pixels() {
            let q = b.get_pixel(x, y);
            if (0..3).any(|k| p[k].abs_diff(q[k]) > 40) {
                after += diff(&o, &b, x, y);
                was += diff(&c, &b, x, y);
                letters += 1;
            }
        }
        assert!(letters > 200, "{t}: {letters} letter pixels");
        let (after, was) = (after / letters as f64, was / letters as f64);
        assert!(
            after < 12.0 && after * 5.0 < was,
            "{t}: {after:.1} ({was:.1} before)"
        );
        // The caption at the bottom is gone too.
        if t < 2.5 {
            let cap = compare(&file, &clean, &mask, t, d)?;
            assert!(cap.masked > 300, "{t}: {} caption pixels", cap.masked);
            let cap_was = compare(&captioned, &clean, &mask, t, d)?;
            assert!(cap.inside * 2.0 < cap_was.inside, "{t}: {:.1}", cap.inside);
        }
    }
    // Nothing of the title is left to read.
    for t in [1.0, 2.0, 3.0] {
        let after = text_in_frame(&file, t, d)?;
        assert!(
            !after.contains("SALE") && !after.contains("SUMMER"),
            "{t}: read after: {after}"
        );
    }
    Ok(())
}
