//! `VideoDelogo` / `ImageDelogo`: static logos and watermarks found by
//! themselves ([`search`]), measured as a blend over the picture
//! ([`blend`]) and taken away ([`remove`]): the picture under a
//! see-through logo is recovered by inverting the blend, what an opaque
//! logo hides is filled from around it; or the box is blurred, pixelated
//! or painted over.
//!
//! A video is read twice: once for about 64 frames spread over it (the
//! evidence), once to edit every frame in YUV, where only the pixels under
//! a logo change. A video with no logo is copied unchanged. A single
//! picture shows nothing staying put, so `ImageDelogo` takes its boxes
//! from `Boxes` and fills them from around.

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod blend;
pub mod remove;
pub mod search;

use std::path::Path;

use super::{Capability, Context, Joined, OutputSink, Passes, Report, Split};
use crate::domain::{ErrorCode, FunctionName, JobError};
use crate::media::encode::{VideoCodec, X264Preset};
use crate::media::image_out::read_still;
use crate::media::planar::{edit_video, sample_frames, Planar};
use api::{BoxHint, DelogoParams, DelogoResult, LogoFound};
use blend::{Blend, Rect};

/// The `VideoDelogo` / `ImageDelogo` capability.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delogo;

/// Frames sampled for the evidence, at most.
pub const SAMPLES: usize = 64;
/// Memory the samples may take.
const SAMPLE_BYTES: u64 = 256 << 20;
/// Presence score from which a frame shows the logo.
const PRESENT: f32 = 0.4;
/// Shots a detected logo must stay through (when the video has them).
const MIN_SHOTS: usize = 3;
/// Seconds a detected logo must stay on screen (or a quarter of a shorter
/// video).
const MIN_LOGO_S: f64 = 5.0;
/// How far a logo may reach beyond where the search saw it.
const REACH: u32 = 4;
/// Picture kept around a logo's box, for measuring and filling.
const MARGIN: u32 = 6;

impl Capability for Delogo {
    type Params = DelogoParams;
    type Output = DelogoResult;

    fn function(&self) -> FunctionName {
        FunctionName::VideoDelogo
    }

    fn serves(&self, function: FunctionName) -> bool {
        matches!(
            function,
            FunctionName::VideoDelogo | FunctionName::ImageDelogo
        )
    }

    fn parse(&self, params: &serde_json::Value) -> Result<DelogoParams, JobError> {
        DelogoParams::try_from(params)
    }

    fn run(
        &self,
        input: &Path,
        params: &DelogoParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<DelogoResult>, JobError> {
        let result = match read_still(input, &ctx.limits)? {
            Some(image) => image_delogo(&image, params, sink)?,
            None => video_delogo(input, params, sink, ctx)?,
        };
        Ok(report(result))
    }

    fn split(&self, params: &DelogoParams) -> Split {
        match &params.found {
            // Nothing to remove: the source is copied as it is.
            Some(found) if found.tracks.is_empty() && !params.always_encode => Split::Whole,
            _ => Split::Frames { warm_up_s: 0.0 },
        }
    }

    fn decide(
        &self,
        input: &Path,
        params: &DelogoParams,
        ctx: &Context,
    ) -> Result<Option<serde_json::Value>, JobError> {
        if params.found.is_some() || read_still(input, &ctx.limits)?.is_some() {
            return Ok(None);
        }
        let probe = crate::media::VideoReader::open(input, &ctx.limits)?
            .info()
            .clone();
        let count = sample_count(probe.width, probe.height);
        let (findings, _) = find(input, params, ctx, count, None)?;
        serde_json::to_value(FindingsWire::from(&findings))
            .map(Some)
            .map_err(internal)
    }

    fn decided(
        &self,
        params: &DelogoParams,
        decision: &serde_json::Value,
    ) -> Result<DelogoParams, JobError> {
        let wire: FindingsWire = serde_json::from_value(decision.clone()).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("the logos decided for a split job do not read back: {e}"),
            )
        })?;
        Ok(DelogoParams {
            found: Some(wire.into()),
            ..params.clone()
        })
    }

    fn part_from_json(
        &self,
        message: String,
        data: serde_json::Value,
    ) -> Result<Report<DelogoResult>, JobError> {
        crate::capabilities::matte_out::part_from_json(message, data)
    }

    fn merge(
        &self,
        params: &DelogoParams,
        parts: Vec<Report<DelogoResult>>,
        joined: &[Joined],
    ) -> Result<Report<DelogoResult>, JobError> {
        let (first, video, _) = crate::capabilities::matte_out::joined_video(&parts, joined)?;
        let tracks = params.found.as_ref().map_or(&[][..], |f| &f.tracks[..]);
        let mut seen: Vec<Option<(f64, f64)>> = vec![None; tracks.len()];
        for part in &parts {
            for (all, span) in seen.iter_mut().zip(&part.result.track_spans) {
                if let Some([s, e]) = *span {
                    *all = Some(all.map_or((s, e), |(a, b)| (a.min(s), b.max(e))));
                }
            }
        }
        let result = DelogoResult {
            file: video.location.to_string(),
            logos: logos_of(tracks, &seen),
            frames: video.frames,
            frames_changed: parts.iter().map(|p| p.result.frames_changed).sum(),
            track_spans: Vec::new(),
            ..first.clone()
        };
        Ok(report(result))
    }
}

/// The job's message for its result.
fn report(result: DelogoResult) -> Report<DelogoResult> {
    let message = if result.logos.is_empty() {
        format!(
            "no logo found: nothing stays put while the picture changes{}",
            if result.encoded {
                "; re-encoded as asked"
            } else {
                "; the source is copied unchanged"
            }
        )
    } else {
        let what: Vec<String> = result
            .logos
            .iter()
            .map(|l| {
                format!(
                    "{}x{} at {},{} ({}, opacity {:.2}{})",
                    l.rect[2],
                    l.rect[3],
                    l.rect[0],
                    l.rect[1],
                    l.source,
                    l.opacity,
                    if result.frames > 1 {
                        format!(", {:.2}–{:.2} s", l.start, l.end)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        format!(
            "{} logo{} removed ({}): {}",
            result.logos.len(),
            if result.logos.len() == 1 { "" } else { "s" },
            result.mode.name(),
            what.join("; ")
        )
    };
    Report { message, result }
}

/// A logo to take away over a time span.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Its blend.
    pub blend: Blend,
    /// Its box.
    pub rect: Rect,
    /// Span it is removed over.
    pub start: f64,
    /// Span it is removed over.
    pub end: f64,
    /// Whether frames near `start`/`end` are checked one by one.
    pub check_edges: bool,
    /// How sure the search is.
    pub confidence: f64,
    /// `detected` or `given`.
    pub source: &'static str,
}

/// What the evidence shows: the logos to remove, and the sampling step.
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    /// Logos and when they show.
    pub tracks: Vec<Track>,
    /// Seconds between samples.
    pub step: f64,
}

/// [`Findings`] as JSON, decided once for the segments of a long video.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FindingsWire {
    tracks: Vec<TrackWire>,
    step: f64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrackWire {
    blend: Blend,
    rect: Rect,
    start: f64,
    end: f64,
    check_edges: bool,
    confidence: f64,
    given: bool,
}

impl From<&Findings> for FindingsWire {
    fn from(f: &Findings) -> Self {
        Self {
            tracks: f
                .tracks
                .iter()
                .map(|t| TrackWire {
                    blend: t.blend.clone(),
                    rect: t.rect,
                    start: t.start,
                    end: t.end,
                    check_edges: t.check_edges,
                    confidence: t.confidence,
                    given: t.source == "given",
                })
                .collect(),
            step: f.step,
        }
    }
}

impl From<FindingsWire> for Findings {
    fn from(f: FindingsWire) -> Self {
        Self {
            tracks: f
                .tracks
                .into_iter()
                .map(|t| Track {
                    blend: t.blend,
                    rect: t.rect,
                    start: t.start,
                    end: t.end,
                    check_edges: t.check_edges,
                    confidence: t.confidence,
                    source: if t.given { "given" } else { "detected" },
                })
                .collect(),
            step: f.step,
        }
    }
}

/// Finds (or measures the given) logos in sampled frames of a
/// `duration`-second video.
pub fn find_logos(samples: &[(f64, Planar)], duration: f64, params: &DelogoParams) -> Findings {
    let step = if samples.is_empty() {
        duration
    } else {
        duration / samples.len() as f64
    };
    let Some((_, first)) = samples.first() else {
        return Findings {
            tracks: Vec::new(),
            step,
        };
    };
    let frame = (first.width, first.height);
    let shift = first.shift;
    let mut tracks = Vec::new();
    if !params.boxes.is_empty() {
        for hint in &params.boxes {
            if let Some(t) = given(hint, samples, duration, frame, shift) {
                tracks.push(t);
            }
        }
        return Findings { tracks, step };
    }
    let pictures: Vec<&Planar> = samples.iter().map(|(_, p)| p).collect();
    let search::Found {
        candidates,
        shots: shot,
    } = search::search(&pictures, &params.corners);
    let few_shots = shot.last().is_none_or(|&s| s + 1 < MIN_SHOTS);
    for candidate in candidates {
        let window = &pictures[candidate.window.clone()];
        let Some(rough) = blend::estimate(window, candidate.rect.grown(MARGIN + 2, frame)) else {
            continue;
        };
        // Seen in a part of the video only, alpha beyond the evidence's
        // reach is more likely scenery that held still there.
        let reach = if candidate.window.len() == pictures.len() {
            Rect {
                x: 0,
                y: 0,
                w: frame.0,
                h: frame.1,
            }
        } else {
            candidate.rect.grown(REACH, frame)
        };
        let Some(found) = rough.trimmed().and_then(|(_, b)| b.intersect(reach)) else {
            continue;
        };
        let region = found.grown(MARGIN, frame);
        let Some((mut measured, mut rect)) =
            blend::estimate(window, region).and_then(Blend::trimmed)
        else {
            continue;
        };
        let mut scores: Vec<f32> = pictures.iter().map(|p| measured.presence(p)).collect();
        let present: Vec<&Planar> = pictures
            .iter()
            .zip(&scores)
            .filter(|(_, &s)| s > PRESENT)
            .map(|(p, _)| *p)
            .collect();
        if present.len() >= 3 && present.len() != window.len() {
            if let Some((better, r)) = blend::estimate(&present, region).and_then(Blend::trimmed) {
                (measured, rect) = (better, r);
                scores = pictures.iter().map(|p| measured.presence(p)).collect();
            }
        }
        if measured.opacity() < 0.1 {
            continue;
        }
        let Some(rect) = rect.intersect(reach) else {
            continue;
        };
        for (first, last) in runs(&scores) {
            // What stays put within one shot is the scene, not a logo.
            let spans = shot[last] - shot[first] + 1;
            if !(spans >= MIN_SHOTS || few_shots && last + 1 - first >= samples.len() / 2) {
                continue;
            }
            let start = if first == 0 {
                0.0
            } else {
                (samples[first - 1].0 + samples[first].0) / 2.0
            };
            let end = if last + 1 == samples.len() {
                duration
            } else {
                (samples[last].0 + samples[last + 1].0) / 2.0
            };
            // A caption stays put too, for a few seconds: a logo stays longer.
            if end - start < MIN_LOGO_S.min(duration / 4.0) {
                continue;
            }
            let confidence = scores[first..=last]
                .iter()
                .map(|&s| f64::from(s.clamp(0.0, 1.0)))
                .sum::<f64>()
                / (last + 1 - first) as f64;
            tracks.push(Track {
                blend: measured.clone(),
                rect,
                start,
                end,
                check_edges: true,
                confidence,
                source: "detected",
            });
        }
    }
    Findings { tracks, step }
}

/// Runs of samples showing the logo: gaps of one sample bridged, runs of
/// a single sample dropped.
fn runs(scores: &[f32]) -> Vec<(usize, usize)> {
    let mut present: Vec<bool> = scores.iter().map(|&s| s > PRESENT).collect();
    for i in 1..present.len().saturating_sub(1) {
        if !present[i] && present[i - 1] && present[i + 1] {
            present[i] = true;
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < present.len() {
        if !present[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < present.len() && present[i] {
            i += 1;
        }
        if i - start >= 2 || present.len() < 4 {
            out.push((start, i - 1));
        }
    }
    out
}

/// A given box: its blend measured from the samples in its span when the
/// picture changes there, otherwise (or when nothing in it is
/// see-through) all of it filled.
fn given(
    hint: &BoxHint,
    samples: &[(f64, Planar)],
    duration: f64,
    frame: (u32, u32),
    shift: u32,
) -> Option<Track> {
    let [x, y, w, h] = hint.pixels(frame)?;
    let rect = Rect { x, y, w, h };
    let region = rect.grown(MARGIN, frame);
    let start = hint.start.unwrap_or(0.0);
    let end = hint.end.unwrap_or(duration.max(start));
    let within: Vec<&Planar> = samples
        .iter()
        .filter(|(t, _)| (start..=end).contains(t))
        .map(|(_, p)| p)
        .collect();
    let blend = blend::estimate(&within, region)
        .filter(|b| b.logo_box(0.15).is_some())
        .unwrap_or_else(|| Blend::opaque(region, rect, shift));
    Some(Track {
        blend,
        rect,
        start,
        end,
        check_edges: false,
        confidence: 1.0,
        source: "given",
    })
}

fn image_delogo(
    image: &image::RgbImage,
    params: &DelogoParams,
    sink: &mut OutputSink,
) -> Result<DelogoResult, JobError> {
    if params.boxes.is_empty() {
        return Err(JobError::param(
            "Boxes",
            "a single picture shows nothing staying put while the picture changes: give the logo's box in Boxes",
        ));
    }
    let mut picture = Planar::from_rgb(image);
    let frame = image.dimensions();
    let paint = remove::paint_for(params.color, 0, true);
    let mut logos = Vec::new();
    for hint in &params.boxes {
        let Some([x, y, w, h]) = hint.pixels(frame) else {
            return Err(JobError::param(
                "Boxes",
                format!(
                    "box {:?} lies outside the {}x{} picture",
                    hint.rect, frame.0, frame.1
                ),
            ));
        };
        let rect = Rect { x, y, w, h };
        let blend = Blend::opaque(rect.grown(MARGIN, frame), rect, 0);
        remove::remove(&mut picture, &blend, rect, params.mode, paint);
        logos.push(LogoFound {
            rect: rect.array(),
            start: 0.0,
            end: 0.0,
            opacity: 1.0,
            confidence: 1.0,
            source: "given".to_owned(),
        });
    }
    let out = picture
        .to_rgb()
        .ok_or_else(|| internal("planes are not RGB"))?;
    let file = sink.plan("delogo", "png", "image/png", false)?;
    out.save(&file.local).map_err(internal)?;
    Ok(DelogoResult {
        file: file.location.to_string(),
        logos,
        mode: params.mode,
        encoded: true,
        width: frame.0,
        height: frame.1,
        frames: 1,
        frames_changed: 1,
        track_spans: Vec::new(),
    })
}

fn internal(e: impl std::fmt::Display) -> JobError {
    JobError::permanent(ErrorCode::InternalError, e.to_string())
}

/// How many frames to sample from a `width`×`height` video.
fn sample_count(width: u32, height: u32) -> usize {
    let bytes = u64::from(width) * u64::from(height) * 3 / 2;
    ((SAMPLE_BYTES / bytes.max(1)) as usize).clamp(12, SAMPLES)
}

/// What a video pass did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The logos removed, with the frames they were removed from.
    pub logos: Vec<LogoFound>,
    /// Whether the output was written (false: no logo, nothing encoded).
    pub encoded: bool,
    /// Output (or source) size.
    pub width: u32,
    /// Output (or source) size.
    pub height: u32,
    /// Frames written (or expected in the source).
    pub frames: u64,
    /// Frames in which a logo was removed.
    pub frames_changed: u64,
    /// Over a segment of a split job: when each track was seen in it.
    pub track_spans: Vec<Option<[f64; 2]>>,
}

/// Finds and removes the logos of the video `input`, writing H.264 MP4
/// with its audio to `output`, unless no logo is found and
/// `params.always_encode` is off (then nothing is written).
///
/// # Errors
/// `InvalidParameter` for boxes outside the frame; media errors.
pub fn process_video(
    input: &Path,
    output: &Path,
    params: &DelogoParams,
    ctx: &Context,
) -> Result<Outcome, JobError> {
    let probe = crate::media::VideoReader::open(input, &ctx.limits)?
        .info()
        .clone();
    let count = sample_count(probe.width, probe.height);
    let expected = Passes::frames(probe.duration_s, probe.frame_rate);
    let progress = Passes::new(ctx.progress.clone(), &[count as u64, expected]);
    let (findings, frame) = match &params.found {
        Some(found) => (found.clone(), probe.display_size()),
        None => find(input, params, ctx, count, Some(&progress))?,
    };
    let info = probe;
    if findings.tracks.is_empty() && !params.always_encode {
        return Ok(Outcome {
            logos: Vec::new(),
            encoded: false,
            width: frame.0,
            height: frame.1,
            frames: expected,
            frames_changed: 0,
            track_spans: Vec::new(),
        });
    }
    let codec = codec(params);
    let paint = remove::paint_for(
        params.color,
        1,
        info.colour.matrix != crate::media::colour::Matrix::Bt601,
    );
    let duration = info.duration_s;
    let step = findings.step;
    let mut seen: Vec<Option<(f64, f64)>> = vec![None; findings.tracks.len()];
    let mut changed = 0u64;
    let done = edit_video(
        input,
        output,
        codec,
        &ctx.limits,
        &ctx.cancel,
        ctx.span,
        |picture, time, index| {
            let mut any = false;
            for (track, seen) in findings.tracks.iter().zip(seen.iter_mut()) {
                let inside = time >= track.start && time <= track.end;
                let near = track.check_edges
                    && ((track.start > 0.0 && (time - track.start).abs() <= step)
                        || (track.end < duration && (time - track.end).abs() <= step));
                let apply = if near {
                    track.blend.presence(picture) > PRESENT
                } else {
                    inside
                };
                if apply {
                    remove::remove(picture, &track.blend, track.rect, params.mode, paint);
                    *seen = Some(seen.map_or((time, time), |(s, _)| (s, time)));
                    any = true;
                }
            }
            changed += u64::from(any);
            progress.set(1, index + 1);
            Ok(())
        },
    )?;
    let logos = logos_of(&findings.tracks, &seen);
    // A segment's spans, for the merge of a split job.
    let track_spans = if ctx.span.is_some() {
        seen.iter().map(|s| s.map(|(a, b)| [a, b])).collect()
    } else {
        Vec::new()
    };
    Ok(Outcome {
        logos,
        encoded: true,
        width: done.width,
        height: done.height,
        frames: done.frames,
        frames_changed: changed,
        track_spans,
    })
}

/// Samples `count` frames of `input` and finds its logos (or measures
/// the given boxes): the findings and the upright frame size.
///
/// # Errors
/// `InvalidParameter` for boxes outside the frame; media errors.
fn find(
    input: &Path,
    params: &DelogoParams,
    ctx: &Context,
    count: usize,
    progress: Option<&Passes>,
) -> Result<(Findings, (u32, u32)), JobError> {
    let (info, samples) = sample_frames(input, &ctx.limits, &ctx.cancel, count)?;
    if let Some(p) = progress {
        p.finish(0);
    }
    let Some((_, first)) = samples.first() else {
        return Err(JobError::permanent(
            ErrorCode::InvalidMedia,
            "no frame decoded",
        ));
    };
    let frame = (first.width, first.height);
    for hint in &params.boxes {
        if hint.pixels(frame).is_none() {
            return Err(JobError::param(
                "Boxes",
                format!(
                    "box {:?} lies outside the {}x{} frame",
                    hint.rect, frame.0, frame.1
                ),
            ));
        }
    }
    Ok((find_logos(&samples, info.duration_s, params), frame))
}

/// The logos removed: each track seen, over the span it was seen.
fn logos_of(tracks: &[Track], seen: &[Option<(f64, f64)>]) -> Vec<LogoFound> {
    tracks
        .iter()
        .zip(seen)
        .filter_map(|(t, seen)| {
            let (start, end) = (*seen)?;
            Some(LogoFound {
                rect: t.rect.array(),
                start: (start * 1000.0).round() / 1000.0,
                end: (end * 1000.0).round() / 1000.0,
                opacity: (f64::from(t.blend.opacity()) * 100.0).round() / 100.0,
                confidence: (t.confidence * 100.0).round() / 100.0,
                source: t.source.to_owned(),
            })
        })
        .collect()
}

/// The output codec: H.264 at the job's CRF.
fn codec(params: &DelogoParams) -> VideoCodec {
    VideoCodec::H264 {
        crf: params.crf.min(51),
        preset: X264Preset::Veryfast,
    }
}

fn video_delogo(
    input: &Path,
    params: &DelogoParams,
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<DelogoResult, JobError> {
    let codec = codec(params);
    let scratch = sink.scratch(&format!("delogo.{}", codec.extension()));
    let outcome = process_video(input, &scratch, params, ctx)?;
    let file = if outcome.encoded {
        let file = sink.plan("delogo", codec.extension(), codec.content_type(), false)?;
        std::fs::rename(&scratch, &file.local).map_err(internal)?;
        file.location.to_string()
    } else {
        copy_source(input, sink, "delogo")?
    };
    Ok(DelogoResult {
        file,
        logos: outcome.logos,
        mode: params.mode,
        encoded: outcome.encoded,
        width: outcome.width,
        height: outcome.height,
        frames: outcome.frames,
        frames_changed: outcome.frames_changed,
        track_spans: outcome.track_spans,
    })
}

/// Nothing to remove: the source itself, unchanged, as the `name` output
/// (with the source's own extension). Returns its location.
///
/// # Errors
/// Planning or copying the output fails.
pub fn copy_source(input: &Path, sink: &mut OutputSink, name: &str) -> Result<String, JobError> {
    let ext = input
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "mp4".into());
    let content_type = match ext.as_str() {
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mp4" | "m4v" => "video/mp4",
        _ => "application/octet-stream",
    };
    let copy = sink.plan(name, &ext, content_type, false)?;
    std::fs::copy(input, &copy.local).map_err(internal)?;
    Ok(copy.location.to_string())
}
