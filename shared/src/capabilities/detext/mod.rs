//! `VideoDetext`: burned-in captions taken out of a video.
//!
//! A video is read twice. The first pass is `CaptionExtraction`'s: it
//! finds the caption band, the frames where each caption appears and
//! disappears, and the boxes of its lines. The second pass edits every
//! frame in YUV: inside the boxes of the captions on screen, the caption's
//! pixels are masked ([`mask`]: strokes, outline, shadow and a margin) and
//! filled ([`fill`]): from the picture behind them as other frames showed
//! it, carried along with the camera, and from around them where no frame
//! did. Pixels outside the masks change only by re-encoding. Given
//! `Areas`, the first pass is skipped and strokes inside the areas are
//! removed whenever they show.

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod fill;
pub mod mask;
pub mod scene;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use super::caption_extraction::api::{CaptionExtractionParams, Roi};
use super::caption_extraction::mask::TextMask;
use super::caption_extraction::{CaptionExtraction, Extracted, SegmentRead};
use super::delogo::blend::Rect;
use super::delogo::copy_source;
use super::{Capability, Context, Joined, NoProgress, OutputSink, Passes, Report, Split};
use crate::domain::{ErrorCode, FunctionName, JobError};
use crate::inference::{InferenceError, ModelDir};
use crate::media::encode::{VideoCodec, X264Preset};
use crate::media::image_out::read_still;
use crate::media::planar::{edit_video_ahead, FrameEditor, Planar};
use crate::media::MediaError;
use crate::media::VideoReader;
use api::{CaptionRemoved, DetextParams, DetextResult, Quality, SegmentRemoved, TextTarget};
use fill::{motion, Band, Filled, Motion, Recalled};
use mask::{caption_mask, or_into, Reach};
use scene::Sighting;

/// How far before or after the span it was read in a caption is looked
/// for, frame by frame, seconds (run boundaries at a cut can be off).
const LEAD: f64 = 0.5;
/// Share of a caption's text mask a frame must show to show the caption.
const STAYS: f32 = 0.7;
/// Fewest pixels of a caption's text mask that tell it is there.
const MIN_TEMPLATE: u32 = 8;
/// Picture kept around the captions' boxes for the fill to measure
/// against, pixels.
const CONTEXT: u32 = 24;

/// The `VideoDetext` capability, with the OCR models of its first pass.
#[derive(Debug, Clone)]
pub struct Detext {
    reader: CaptionExtraction,
}

impl Detext {
    /// Loads ONNX Runtime and the OCR models from `models` (cold start).
    ///
    /// # Errors
    /// [`InferenceError`] naming the missing or unusable file.
    pub fn load(models: &ModelDir) -> Result<Self, InferenceError> {
        Ok(Self {
            reader: CaptionExtraction::load(models)?,
        })
    }
}

impl Capability for Detext {
    type Params = DetextParams;
    type Output = DetextResult;

    fn function(&self) -> FunctionName {
        FunctionName::VideoDetext
    }

    fn parse(&self, params: &serde_json::Value) -> Result<DetextParams, JobError> {
        DetextParams::try_from(params)
    }

    fn run(
        &self,
        input: &Path,
        params: &DetextParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<DetextResult>, JobError> {
        if read_still(input, &ctx.limits)?.is_some() {
            return Err(JobError::permanent(
                ErrorCode::UnsupportedMedia,
                "the input is a still picture: VideoDetext takes a video",
            ));
        }
        let codec = codec(params);
        let scratch = sink.scratch(&format!("detext.{}", codec.extension()));
        let outcome = self.process_video(input, &scratch, params, ctx)?;
        let file = if outcome.encoded {
            let file = sink.plan("detext", codec.extension(), codec.content_type(), false)?;
            std::fs::rename(&scratch, &file.local).map_err(internal)?;
            file.location.to_string()
        } else {
            copy_source(input, sink, "detext")?
        };
        Ok(report(DetextResult { file, ..outcome }))
    }

    fn split(&self, params: &DetextParams) -> Split {
        match &params.found {
            // Nothing to remove: the source is copied as it is.
            Some(found) if found.targets.is_empty() && !params.always_encode => Split::Whole,
            _ => Split::Frames {
                warm_up_s: FILL_WARM_UP_S,
            },
        }
    }

    fn decide(
        &self,
        input: &Path,
        params: &DetextParams,
        ctx: &Context,
    ) -> Result<Option<serde_json::Value>, JobError> {
        if params.found.is_some() || params.roi.is_some() || !params.areas.is_empty() {
            return Ok(None);
        }
        if read_still(input, &ctx.limits)?.is_some() {
            return Ok(None);
        }
        // The caption band, from the same eight frames a single pass looks at.
        self.reader.decide(input, &reading(params, Roi::Auto), ctx)
    }

    fn gathers(&self, params: &DetextParams) -> Option<f64> {
        params
            .found
            .is_none()
            .then_some(CaptionExtraction::WARM_UP_S)
    }

    fn read_span(
        &self,
        input: &Path,
        params: &DetextParams,
        ctx: &Context,
    ) -> Result<serde_json::Value, JobError> {
        let info = VideoReader::open(input, &ctx.limits)?.info().clone();
        let (_, roi) = areas_of(params, (info.width, info.height))?;
        // The segment's progress is the captions'.
        let looks = Context {
            progress: Arc::new(NoProgress),
            ..ctx.clone()
        };
        let (read, sightings) = self.beside(input, params, &looks, || {
            self.reader.read_segment(input, &reading(params, roi), ctx)
        })?;
        serde_json::to_value(Gathered {
            read,
            frame: (info.width, info.height),
            sightings,
        })
        .map_err(internal)
    }

    fn settle(
        &self,
        params: &DetextParams,
        readings: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, JobError> {
        let mut frame = (0, 0);
        let mut parts = Vec::with_capacity(readings.len());
        let mut sightings = Vec::new();
        for (i, r) in readings.into_iter().enumerate() {
            let g: Gathered = serde_json::from_value(r).map_err(|e| {
                internal(format!(
                    "the captions read in segment {i} do not read back: {e}"
                ))
            })?;
            frame = g.frame;
            parts.push(g.read);
            sightings.extend(g.sightings);
        }
        let (areas, roi) = areas_of(params, frame)?;
        let read = CaptionExtraction::from_segments(&reading(params, roi), parts)?;
        let roi = read.roi;
        let found = found_in(read, &areas, frame, &sightings);
        Ok(serde_json::json!({ "Roi": roi, "Found": found }))
    }

    fn decided(
        &self,
        params: &DetextParams,
        decision: &serde_json::Value,
    ) -> Result<DetextParams, JobError> {
        let broken = |e: serde_json::Error| {
            internal(format!(
                "the captions decided for a split job do not read back: {e}"
            ))
        };
        let roi = match decision.get("Roi") {
            Some(r) => Some(serde_json::from_value(r.clone()).map_err(broken)?),
            None => params.roi,
        };
        let found = match decision.get("Found") {
            Some(f) => Some(serde_json::from_value(f.clone()).map_err(broken)?),
            None => params.found.clone(),
        };
        Ok(DetextParams {
            roi,
            found,
            ..params.clone()
        })
    }

    fn part_from_json(
        &self,
        message: String,
        data: serde_json::Value,
    ) -> Result<Report<DetextResult>, JobError> {
        crate::capabilities::matte_out::part_from_json(message, data)
    }

    fn merge(
        &self,
        params: &DetextParams,
        parts: Vec<Report<DetextResult>>,
        joined: &[Joined],
    ) -> Result<Report<DetextResult>, JobError> {
        let (first, video, _) = crate::capabilities::matte_out::joined_video(&parts, joined)?;
        let targets = params.found.as_ref().map_or(&[][..], |f| &f.targets[..]);
        let mut seen: Vec<Option<(f64, f64, u64)>> = vec![None; targets.len()];
        let (mut temporal, mut spatial) = (0u64, 0u64);
        for part in &parts {
            let Some(segment) = &part.result.segment else {
                continue;
            };
            temporal += segment.temporal;
            spatial += segment.spatial;
            for (all, s) in seen.iter_mut().zip(&segment.seen) {
                if let Some((a, b, n)) = *s {
                    *all = Some(all.map_or((a, b, n), |(x, y, m)| (x.min(a), y.max(b), m + n)));
                }
            }
        }
        Ok(report(DetextResult {
            file: video.location.to_string(),
            captions: removed(targets, &seen),
            frames: video.frames,
            frames_changed: parts.iter().map(|p| p.result.frames_changed).sum(),
            from_other_frames: share(temporal, spatial),
            segment: None,
            ..first.clone()
        }))
    }
}

/// The job's message for its result.
fn report(result: DetextResult) -> Report<DetextResult> {
    let message = if result.captions.is_empty() {
        format!(
            "no burned-in captions found{}",
            if result.encoded {
                "; re-encoded as asked"
            } else {
                "; the source is copied unchanged"
            }
        )
    } else {
        format!(
                "{} caption{} removed from {} of {} frames ({:.0} % of the pixels filled from other frames)",
                result.captions.len(),
                if result.captions.len() == 1 { "" } else { "s" },
                result.frames_changed,
                result.frames,
                result.from_other_frames * 100.0
            )
    };
    Report { message, result }
}

/// Seconds before a segment that its fill sees: what it remembers of the
/// background lasts `fill::MAX_AGE` frames (5 s at 24 fps; 10 s covers
/// 12 fps and more).
const FILL_WARM_UP_S: f64 = 10.0;

/// What a segment of a split job read for the gathering.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Gathered {
    read: SegmentRead,
    /// The coded frame size.
    frame: (u32, u32),
    /// The other text seen, with `Target: "all"`.
    #[serde(default)]
    sightings: Vec<Sighting>,
}

/// `CaptionExtraction`'s params for reading `roi` (or the band decided).
fn reading(params: &DetextParams, roi: Roi) -> CaptionExtractionParams {
    let roi = match params.roi {
        Some([[top, bottom], [left, right]]) => Roi::Fixed {
            top,
            bottom,
            left,
            right,
        },
        None => roi,
    };
    CaptionExtractionParams {
        roi,
        ..CaptionExtractionParams::default()
    }
}

/// A given area in pixels, with the seconds it applies to.
type Area = (Rect, (f64, f64));

/// The given areas in pixels of a `frame`, with their spans, and the
/// region that holds them all (the caption band when none is given).
///
/// # Errors
/// `InvalidParameter` for an area outside the frame.
fn areas_of(params: &DetextParams, frame: (u32, u32)) -> Result<(Vec<Area>, Roi), JobError> {
    let mut areas = Vec::new();
    for a in &params.areas {
        let [x, y, w, h] = a.pixels(frame).ok_or_else(|| {
            JobError::param(
                "Areas",
                format!(
                    "area {:?} lies outside the {}x{} frame",
                    a.rect, frame.0, frame.1
                ),
            )
        })?;
        areas.push((
            Rect { x, y, w, h },
            (a.start.unwrap_or(0.0), a.end.unwrap_or(f64::INFINITY)),
        ));
    }
    let roi = if areas.is_empty() {
        Roi::Auto
    } else {
        let (fw, fh) = (f64::from(frame.0), f64::from(frame.1));
        let x0 = areas.iter().map(|(r, _)| r.x).min().unwrap_or(0);
        let y0 = areas.iter().map(|(r, _)| r.y).min().unwrap_or(0);
        let x1 = areas
            .iter()
            .map(|(r, _)| r.x + r.w)
            .max()
            .unwrap_or(frame.0);
        let y1 = areas
            .iter()
            .map(|(r, _)| r.y + r.h)
            .max()
            .unwrap_or(frame.1);
        Roi::Fixed {
            top: f64::from(y0) / fh,
            bottom: f64::from(y1) / fh,
            left: f64::from(x0) / fw,
            right: f64::from(x1) / fw,
        }
    };
    Ok((areas, roi))
}

/// The captions to take away from what the first pass `read`: each
/// caption's box, grown by the outline's reach, within each given area;
/// then the other text `sighted` (with `Target: "all"`), linked over time,
/// where it is not a caption.
fn found_in(read: Extracted, areas: &[Area], frame: (u32, u32), sighted: &[Sighting]) -> Found {
    let reach = Reach::for_height(frame.1);
    // The outline reaches beyond the box OCR puts around the strokes.
    let margin = (reach.outline + reach.margin + 2) as u32;
    let mut targets = Vec::new();
    for c in read.captions {
        let (Some(x0), Some(y0), Some(x1), Some(y1)) = (
            c.lines.iter().map(|l| l.bbox[0]).min(),
            c.lines.iter().map(|l| l.bbox[1]).min(),
            c.lines.iter().map(|l| l.bbox[0] + l.bbox[2]).max(),
            c.lines.iter().map(|l| l.bbox[1] + l.bbox[3]).max(),
        ) else {
            continue;
        };
        let rect = Rect {
            x: x0,
            y: y0,
            w: x1.saturating_sub(x0),
            h: y1.saturating_sub(y0),
        }
        .grown(margin, frame);
        let anchors: Vec<TextMask> = read
            .anchors
            .iter()
            .filter(|a| a.start >= c.start - 1e-3 && a.end <= c.end + 1e-3)
            .map(|a| a.mask.clone())
            .collect();
        let target = |rect: Rect, span: (f64, f64), given: bool| Target {
            rect,
            start: c.start.max(span.0),
            end: c.end.min(span.1),
            text: c.text.clone(),
            given,
            anchors: anchors.clone(),
            span,
            path: Vec::new(),
        };
        if areas.is_empty() {
            targets.push(target(rect, (0.0, f64::INFINITY), false));
        }
        for &(area, span) in areas {
            if let Some(r) = rect.intersect(area) {
                if c.start <= span.1 && c.end >= span.0 {
                    targets.push(target(r, span, true));
                }
            }
        }
    }
    let text = other_text(sighted, areas, frame);
    targets.extend(text);
    let [x, y, w, h] = read.region;
    Found {
        targets,
        region: Rect { x, y, w, h },
        min_pixels: read.min_pixels,
    }
}

/// Targets for the text `sighted`, linked into tracks, each within each
/// given area and its span.
fn other_text(sighted: &[Sighting], areas: &[Area], frame: (u32, u32)) -> Vec<Target> {
    let reach = Reach::for_height(frame.1);
    let margin = (reach.outline + reach.margin) as u32;
    let mut targets = Vec::new();
    for track in scene::tracks(sighted) {
        let (Some(&(first, _)), Some(&(last, _))) = (track.path.first(), track.path.last()) else {
            continue;
        };
        let Some(rect) = track
            .path
            .iter()
            .map(|&(_, r)| r)
            .reduce(|a, b| {
                let (x0, y0) = (a.x.min(b.x), a.y.min(b.y));
                let (x1, y1) = ((a.x + a.w).max(b.x + b.w), (a.y + a.h).max(b.y + b.h));
                Rect {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                }
            })
            .map(|r| r.grown(margin + r.h / 2, frame))
        else {
            continue;
        };
        let target = |rect: Rect, span: (f64, f64), given: bool| Target {
            rect,
            start: (first - scene::STEP_S).max(span.0),
            end: (last + scene::STEP_S).min(span.1),
            text: track.text.clone(),
            given,
            anchors: Vec::new(),
            span,
            path: track.path.clone(),
        };
        if areas.is_empty() {
            targets.push(target(rect, (0.0, f64::INFINITY), false));
        }
        for &(area, span) in areas {
            if let Some(r) = rect.intersect(area) {
                if first - scene::STEP_S <= span.1 && last + scene::STEP_S >= span.0 {
                    targets.push(target(r, span, true));
                }
            }
        }
    }
    targets
}

/// The captions removed, from where each target was seen.
fn removed(targets: &[Target], seen: &[Option<(f64, f64, u64)>]) -> Vec<CaptionRemoved> {
    targets
        .iter()
        .zip(seen)
        .filter_map(|(t, seen)| {
            let (start, end, frames) = (*seen)?;
            Some(CaptionRemoved {
                start: round3(start),
                end: round3(end),
                rect: t.rect.array(),
                text: t.text.clone(),
                source: if t.given {
                    "given"
                } else if t.path.is_empty() {
                    "detected"
                } else {
                    "text"
                }
                .to_owned(),
                frames,
            })
        })
        .collect()
}

/// The share of the filled pixels filled from other frames.
fn share(temporal: u64, spatial: u64) -> f64 {
    let filled = temporal + spatial;
    if filled == 0 {
        0.0
    } else {
        round3(temporal as f64 / filled as f64)
    }
}

/// A caption to take away: where its mask may lie and when it shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    /// Where its pixels may be.
    pub rect: Rect,
    /// First second it shows.
    pub start: f64,
    /// For a detected caption, the first second it no longer shows; for a
    /// given area, the last second it applies to.
    pub end: f64,
    /// What it reads.
    pub text: String,
    /// Whether it was looked for inside `Areas`.
    pub given: bool,
    /// The text masks of the runs of frames it was read in.
    pub anchors: Vec<TextMask>,
    /// The span of the area it was found in, seconds.
    #[serde(with = "open_span")]
    pub span: (f64, f64),
    /// For text other than captions (`Target: "all"`): where it was at
    /// each look of the detector ([`scene::box_at`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<(f64, Rect)>,
}

/// How sure the first pass is that a caption is on screen at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shows {
    /// It was read there.
    Yes,
    /// Just before or after: only the frame's text mask can tell.
    Maybe,
    /// Far from it.
    No,
}

impl Target {
    /// Whether the caption shows at `time`, `frame` seconds apart.
    fn shows(&self, time: f64, frame: f64) -> Shows {
        let half = frame / 2.0;
        if time < self.span.0 - half || time > self.span.1 + half {
            Shows::No
        } else if time >= self.start - half && time < self.end - half {
            Shows::Yes
        } else if time >= self.start - LEAD && time < self.end + LEAD {
            Shows::Maybe
        } else {
            Shows::No
        }
    }
}

/// A span whose end may be open (infinite), as `[start, end or null]`.
mod open_span {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub fn serialize<S: Serializer>(span: &(f64, f64), s: S) -> Result<S::Ok, S::Error> {
        (span.0, span.1.is_finite().then_some(span.1)).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(f64, f64), D::Error> {
        let (start, end) = <(f64, Option<f64>)>::deserialize(d)?;
        Ok((start, end.unwrap_or(f64::INFINITY)))
    }
}

/// What the first pass found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Found {
    /// The captions.
    pub targets: Vec<Target>,
    /// The region searched, in pixels.
    pub region: Rect,
    /// Fewest text-mask pixels that show text in the region.
    pub min_pixels: u32,
}

impl Detext {
    /// The captions of `input`, read by the first pass over the whole
    /// frame's caption band, or over the given areas.
    ///
    /// # Errors
    /// Media errors; `InvalidParameter` for areas outside the frame.
    pub fn targets(
        &self,
        input: &Path,
        params: &DetextParams,
        ctx: &Context,
        looks: &Context,
    ) -> Result<Found, JobError> {
        if let Some(found) = &params.found {
            return Ok(found.clone());
        }
        let info = VideoReader::open(input, &ctx.limits)?.info().clone();
        let frame = (info.width, info.height);
        let (areas, roi) = areas_of(params, frame)?;
        let (read, sightings) = self.beside(input, params, looks, || {
            self.reader.extract(input, &reading(params, roi), ctx)
        })?;
        Ok(found_in(read, &areas, frame, &sightings))
    }

    /// What `read` (the captions) returns and, with `Target: "all"`,
    /// the text seen anywhere in the frame (in the span of `looks`, which
    /// also takes their progress), looked for on another thread
    /// meanwhile; no text otherwise.
    fn beside<T: Send>(
        &self,
        input: &Path,
        params: &DetextParams,
        looks: &Context,
        read: impl FnOnce() -> Result<T, JobError> + Send,
    ) -> Result<(T, Vec<Sighting>), JobError> {
        match params.target {
            TextTarget::Captions => Ok((read()?, Vec::new())),
            TextTarget::All => std::thread::scope(|s| {
                let other = s.spawn(|| scene::sample(self.reader.ocr(), input, looks));
                let read = read();
                let other = other.join().unwrap_or_else(|_| {
                    Err(internal("the text detector's thread stopped unexpectedly"))
                });
                Ok((read?, other?))
            }),
        }
    }

    /// Finds the captions of `input` and writes it without them to
    /// `output` (H.264 MP4 with the audio), unless none is found and
    /// `params.always_encode` is off (then nothing is written).
    ///
    /// # Errors
    /// Media errors; `InvalidParameter` for areas outside the frame.
    pub fn process_video(
        &self,
        input: &Path,
        output: &Path,
        params: &DetextParams,
        ctx: &Context,
    ) -> Result<DetextResult, JobError> {
        let info = VideoReader::open(input, &ctx.limits)?.info().clone();
        let seconds = ctx
            .span
            .map_or(info.duration_s, |s| s.end_s.min(info.duration_s) - s.warm_s);
        let expected = Passes::frames(seconds, info.frame_rate);
        // The captions read, the looks for other text (beside them, with
        // `Target: "all"`), and the edit.
        let looks_expected = if params.target == TextTarget::All && params.found.is_none() {
            expected
        } else {
            0
        };
        let passes = Arc::new(Passes::new(
            ctx.progress.clone(),
            &[
                if params.areas.is_empty() { expected } else { 0 },
                looks_expected,
                expected,
            ],
        ));
        let first = Context {
            progress: passes.pass(0),
            ..ctx.clone()
        };
        let looks = Context {
            progress: passes.pass(1),
            ..ctx.clone()
        };
        let Found {
            targets,
            region,
            min_pixels,
        } = self.targets(input, params, &first, &looks)?;
        passes.finish(0);
        passes.finish(1);
        let result = DetextResult {
            file: String::new(),
            captions: Vec::new(),
            encoded: false,
            width: info.width,
            height: info.height,
            frames: expected,
            frames_changed: 0,
            from_other_frames: 0.0,
            segment: None,
        };
        if targets.is_empty() && !params.always_encode {
            return Ok(result);
        }
        let frame_s = 1.0 / info.frame_rate.max(1.0);
        // Frames are filled a block at a time, once the frames after the
        // block have come, as many as the memory allows.
        let frame_bytes = f64::from(info.width) * f64::from(info.height) * 1.5;
        let block_frames = (HELD_BYTES / frame_bytes / 3.0)
            .min(BLOCK_S * info.frame_rate.max(1.0))
            .max(2.0)
            .floor();
        let block_s = block_frames * frame_s;
        // Whatever the frame rate says, no more than this many are held.
        let max_held = (HELD_BYTES / frame_bytes).max(4.0 * block_frames + 2.0) as usize;
        let mut remover = Remover {
            masker: Masker {
                targets: &targets,
                region,
                min_pixels,
                frame_s,
                reach: Reach::for_height(info.height),
                seen: vec![None; targets.len()],
                templates: vec![None; targets.len()],
            },
            // A segment's fill sees its warm-up; what is removed there is
            // the previous segment's to report.
            owns: &|time: f64| ctx.span.is_none_or(|s| s.outputs(time, frame_s / 2.0)),
            passes: &passes,
            band: None,
            last: None,
            held: VecDeque::new(),
            swept: None,
            block_s,
            max_held,
            both_ways: params.quality == Quality::Best,
            total: Filled::default(),
            changed: 0,
        };
        let done = edit_video_ahead(
            input,
            output,
            codec(params),
            &ctx.limits,
            &ctx.cancel,
            ctx.span.map(|s| (s, 3.0 * block_s)),
            &mut remover,
        )?;
        let Remover {
            masker: Masker { seen, .. },
            total,
            changed,
            ..
        } = remover;
        Ok(DetextResult {
            captions: removed(&targets, &seen),
            encoded: true,
            width: done.width,
            height: done.height,
            frames: done.frames,
            frames_changed: changed,
            from_other_frames: share(total.temporal, total.spatial),
            segment: ctx.span.map(|_| SegmentRemoved {
                seen,
                temporal: total.temporal,
                spatial: total.spatial,
            }),
            ..result
        })
    }
}

/// Most bytes of pictures held back to fill them with the frames after
/// them.
const HELD_BYTES: f64 = 192.0 * 1024.0 * 1024.0;
/// Longest block of frames filled together, seconds; as many seconds
/// after a block are looked at.
const BLOCK_S: f64 = 1.0;

/// Which pixels of each frame are a caption's.
struct Masker<'a> {
    targets: &'a [Target],
    region: Rect,
    min_pixels: u32,
    frame_s: f64,
    reach: Reach,
    /// Per target: first and last time removed, frames.
    seen: Vec<Option<(f64, f64, u64)>>,
    /// Per target: the text mask it showed.
    templates: Vec<Option<TextMask>>,
}

impl Masker<'_> {
    /// The band-sized mask of the captions on `picture` at `time`, if
    /// any shows; `owned` frames count as removed.
    fn mask(&mut self, picture: &Planar, time: f64, area: Rect, owned: bool) -> Option<Vec<bool>> {
        let frame_s = self.frame_s;
        let mut mask = vec![false; (area.w * area.h) as usize];
        let mut any = false;
        // The frame's text mask over the region, made when first needed.
        let mut text: Option<TextMask> = None;
        let frame = (picture.width, picture.height);
        // Room around a text box where the detector cut a letter short.
        let room = 1;
        // The captions masked in this frame: other text inside one is
        // that caption.
        let mut masked: Vec<Rect> = Vec::new();
        for ((t, seen), template) in self
            .targets
            .iter()
            .zip(self.seen.iter_mut())
            .zip(self.templates.iter_mut())
        {
            if !t.path.is_empty() {
                // Other text: what differs from the ground around where
                // it is now.
                let half = frame_s / 2.0;
                let now = time >= t.start - half && time < t.end - half;
                let here = if now {
                    scene::box_at(&t.path, time, room, frame)
                } else {
                    None
                }
                .and_then(|r| r.intersect(t.rect))
                .and_then(|r| r.intersect(area));
                if let Some(r) = here {
                    if scene::mask_text(picture, r, area, self.reach, &mut mask) {
                        // Inside a caption masked here, it is that caption
                        // (masked both ways, counted once).
                        if owned && !masked.iter().any(|c| mostly_inside(r, *c)) {
                            let s = seen.get_or_insert((time, time, 0));
                            s.1 = time;
                            s.2 += 1;
                        }
                        any = true;
                    }
                }
                continue;
            }
            let shows = t.shows(time, frame_s);
            if shows == Shows::No {
                continue;
            }
            let here = text_mask(picture, t.rect);
            match shows {
                Shows::No => continue,
                Shows::Yes => match template {
                    Some(k) => k.keep_near(&here),
                    None => *template = Some(here),
                },
                Shows::Maybe if time >= t.end - frame_s / 2.0 => {
                    // After the span it was read in: as long as its
                    // strokes stay.
                    if !template
                        .as_ref()
                        .is_some_and(|k| k.count() >= MIN_TEMPLATE && k.share_in(&here) >= STAYS)
                    {
                        continue;
                    }
                }
                Shows::Maybe => {
                    // Before it: from the frame the caption's run matched.
                    let m = text.get_or_insert_with(|| text_mask(picture, self.region));
                    if !(m.count() >= self.min_pixels
                        && t.anchors.iter().any(|a| a.share_in(m) >= STAYS))
                    {
                        continue;
                    }
                }
            }
            let Some(r) = t.rect.intersect(area) else {
                continue;
            };
            if mask_into(picture, r, area, self.reach, &mut mask) {
                masked.push(r);
                if owned {
                    let s = seen.get_or_insert((time, time, 0));
                    s.1 = time;
                    s.2 += 1;
                }
                any = true;
            }
        }
        any.then_some(mask)
    }
}

/// A frame waiting for the frames after it.
struct Held {
    picture: Planar,
    time: f64,
    mask: Option<Vec<bool>>,
    /// From the frame before (none for the first).
    motion: Option<Motion>,
    owned: bool,
}

/// The second pass: masks each frame as it comes, and fills a block of
/// frames once the frames after it have come, from the background seen
/// before (a band fed the frames forward) and after (a band fed the
/// block and the frames after it backward).
struct Remover<'a> {
    masker: Masker<'a>,
    owns: &'a (dyn Fn(f64) -> bool + Sync),
    passes: &'a Passes,
    band: Option<Band>,
    /// The last frame's band luma and mask.
    last: Option<(Vec<u8>, Vec<bool>)>,
    held: VecDeque<Held>,
    /// The next block's sweep (its index), made while the last was filled.
    swept: Option<(f64, Vec<Option<Recalled>>)>,
    /// Blocks start at multiples of this (the same frames whether the
    /// video is edited whole or in segments).
    block_s: f64,
    /// Most frames held (a frame rate that understates the real one
    /// would otherwise make blocks too long).
    max_held: usize,
    /// Whether the frames after a block are looked at too (`Quality:
    /// "best"`), or only those before it.
    both_ways: bool,
    total: Filled,
    changed: u64,
}

impl Remover<'_> {
    /// Fills the blocks whose following frames have all come (every
    /// block, at the end). While one block is filled, the next is swept
    /// backwards on another thread.
    fn release(&mut self, end: bool) -> Vec<(Planar, f64)> {
        let mut out = Vec::new();
        let Self {
            band,
            held,
            swept,
            total,
            changed,
            block_s,
            max_held,
            both_ways,
            masker,
            ..
        } = self;
        let Some(band) = band.as_mut() else {
            return out;
        };
        if !*both_ways {
            // From the frames before only: each frame as it comes.
            for mut h in held.drain(..) {
                let filled = band.process_with(&mut h.picture, h.mask.as_deref(), h.motion, None);
                tally(total, changed, &h, filled);
                out.push((h.picture, h.time));
            }
            return out;
        }
        let blocks = Blocks {
            length_s: *block_s,
            eps: masker.frame_s / 4.0,
        };
        while let Some(first) = held.front() {
            let b = blocks.of(first.time);
            // This block and the next two: the next is swept while this
            // one is filled, and looks at the one after it.
            let complete = held.back().is_some_and(|h| blocks.of(h.time) >= b + 3.0)
                || held.len() >= *max_held;
            if !end && !complete {
                break;
            }
            let recalled = match swept.take() {
                Some((k, r)) if k == b => r,
                _ => blocks.sweep(held, band.fresh()),
            };
            let mut block: Vec<Held> = held.drain(..recalled.len().min(held.len())).collect();
            let rest: &VecDeque<Held> = held;
            let fresh = band.fresh();
            let next = std::thread::scope(|scope| {
                let next = scope.spawn(|| {
                    rest.front()
                        .map(|f| (blocks.of(f.time), blocks.sweep(rest, fresh)))
                });
                for (h, r) in block.iter_mut().zip(&recalled) {
                    let filled =
                        band.process_with(&mut h.picture, h.mask.as_deref(), h.motion, r.as_ref());
                    tally(total, changed, h, filled);
                }
                next.join().ok().flatten()
            });
            *swept = next;
            out.extend(block.into_iter().map(|h| (h.picture, h.time)));
        }
        out
    }
}

/// Counts what was filled in `h` (when its frame is owned) into `total`
/// and the frames `changed`.
fn tally(total: &mut Filled, changed: &mut u64, h: &Held, filled: Filled) {
    if h.owned {
        total.temporal += filled.temporal;
        total.spatial += filled.spatial;
        *changed += u64::from(h.mask.is_some());
    }
}

/// Blocks of frames filled together: they start at multiples of
/// `length_s` (the same frames whether the video is edited whole or in
/// segments).
#[derive(Debug, Clone, Copy)]
struct Blocks {
    length_s: f64,
    eps: f64,
}

impl Blocks {
    fn of(self, time: f64) -> f64 {
        ((time + self.eps) / self.length_s).floor()
    }

    /// What `back` recalls behind the masks of the first block of `held`,
    /// fed that block and the next backwards; `None` for frames without
    /// a mask.
    fn sweep(self, held: &VecDeque<Held>, mut back: Band) -> Vec<Option<Recalled>> {
        let Some(first) = held.front() else {
            return Vec::new();
        };
        let b = self.of(first.time);
        let in_block = held.iter().take_while(|h| self.of(h.time) <= b).count();
        let looked = held
            .iter()
            .take_while(|h| self.of(h.time) <= b + 1.0)
            .count();
        let mut after: Vec<Option<Recalled>> = vec![None; in_block];
        if !held.iter().take(in_block).any(|h| h.mask.is_some()) {
            return after;
        }
        for j in (0..looked).rev() {
            let h = &held[j];
            // Backwards, the motion from the frame after.
            let motion = held
                .get(j + 1)
                .filter(|_| j + 1 < looked)
                .and_then(|next| next.motion)
                .map(Motion::reversed);
            let r = back.recall(&h.picture, h.mask.as_deref(), motion, j < in_block);
            if j < in_block && h.mask.is_some() {
                after[j] = Some(r);
            }
        }
        after
    }
}

impl FrameEditor for Remover<'_> {
    fn push(
        &mut self,
        picture: Planar,
        time: f64,
        index: u64,
    ) -> Result<Vec<(Planar, f64)>, MediaError> {
        self.passes.set(2, index + 1);
        if self.masker.targets.is_empty() {
            return Ok(vec![(picture, time)]);
        }
        let owned = (self.owns)(time);
        let area = self
            .band
            .get_or_insert_with(|| band_for(self.masker.targets, &picture, self.masker.reach))
            .rect();
        let mask = self.masker.mask(&picture, time, area, owned);
        let luma = self
            .band
            .as_ref()
            .map(|b| b.luma(&picture))
            .unwrap_or_default();
        let cover = mask.clone().unwrap_or_else(|| vec![false; luma.len()]);
        let (w, h) = (area.w as usize, area.h as usize);
        let motion = self
            .last
            .as_ref()
            .and_then(|(l, m)| motion(l, m, &luma, &cover, w, h));
        self.last = Some((luma, cover));
        self.held.push_back(Held {
            picture,
            time,
            mask,
            motion,
            owned,
        });
        Ok(self.release(false))
    }

    fn finish(&mut self) -> Result<Vec<(Planar, f64)>, MediaError> {
        Ok(self.release(true))
    }
}

/// Whether most of `r` lies inside `holder`.
fn mostly_inside(r: Rect, holder: Rect) -> bool {
    let inside = r
        .intersect(holder)
        .map_or(0.0, |i| f64::from(i.w) * f64::from(i.h));
    inside >= 0.6 * f64::from(r.w) * f64::from(r.h)
}

/// The text mask of `region` of a picture, as the first pass made it.
fn text_mask(picture: &Planar, region: Rect) -> TextMask {
    let fits = region.x + region.w <= picture.width && region.y + region.h <= picture.height;
    let r = if fits {
        region
    } else {
        Rect {
            x: 0,
            y: 0,
            w: 2,
            h: 2,
        }
    };
    TextMask::from_luma(
        &picture.planes[0],
        picture.width as usize,
        r.x as usize,
        r.y as usize,
        r.w as usize,
        r.h as usize,
    )
}

/// The band all captions lie in, with picture around them.
fn band_for(targets: &[Target], picture: &Planar, reach: Reach) -> Band {
    let frame = (picture.width, picture.height);
    let x0 = targets.iter().map(|t| t.rect.x).min().unwrap_or(0);
    let y0 = targets.iter().map(|t| t.rect.y).min().unwrap_or(0);
    let x1 = targets
        .iter()
        .map(|t| t.rect.x + t.rect.w)
        .max()
        .unwrap_or(0);
    let y1 = targets
        .iter()
        .map(|t| t.rect.y + t.rect.h)
        .max()
        .unwrap_or(0);
    let rect = Rect {
        x: x0.min(frame.0),
        y: y0.min(frame.1),
        w: x1.min(frame.0).saturating_sub(x0),
        h: y1.min(frame.1).saturating_sub(y0),
    }
    .grown(CONTEXT, frame);
    Band::new(rect, picture.shift, reach.outline + reach.margin)
}

/// Masks the caption strokes inside `r` (within the band `area`) into the
/// band's `mask`. False when too few strokes show there for a caption.
fn mask_into(picture: &Planar, r: Rect, area: Rect, reach: Reach, mask: &mut [bool]) -> bool {
    let (w, h) = (r.w as usize, r.h as usize);
    let pw = picture.width as usize;
    let mut luma = Vec::with_capacity(w * h);
    for y in r.y as usize..(r.y + r.h) as usize {
        let s = y * pw + r.x as usize;
        luma.extend_from_slice(&picture.planes[0][s..s + w]);
    }
    let (m, strokes) = caption_mask(&luma, w, h, reach);
    if strokes < (w * h / 1500).max(16) {
        return false;
    }
    or_into(mask, area, r, &m);
    true
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn internal(e: impl std::fmt::Display) -> JobError {
    JobError::permanent(ErrorCode::InternalError, e.to_string())
}

/// The output codec: H.264 at the job's CRF.
fn codec(params: &DetextParams) -> VideoCodec {
    VideoCodec::H264 {
        crf: params.crf.min(51),
        preset: match params.quality {
            Quality::Fast => X264Preset::Superfast,
            Quality::Best => X264Preset::Veryfast,
        },
    }
}
