//! `CaptionExtraction`: burned-in subtitles to SRT, WebVTT and JSON.
//!
//! How it reads:
//! 1. **Every frame, cheaply.** Each decoded frame's subtitle region is
//!    reduced to a text mask (bright pixels beside a dark outline, at half
//!    resolution, straight from the luma plane: no colour conversion).
//! 2. **Runs.** Consecutive frames whose masks agree show the same caption;
//!    a change that lasts 1/`fps` seconds starts a new run at its first
//!    frame, so cue times are frame-accurate and flicker is ignored.
//! 3. **OCR once per run**, on a second thread while decoding goes on:
//!    PP-OCRv6 detection on the region, then batched recognition of each
//!    line at full resolution.
//! 4. **Cues.** Lines that are not subtitles are dropped (low confidence,
//!    text of another size than the captions); neighbouring runs that read
//!    the same are one cue; two-line captions stay one cue.

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod cues;
pub mod mask;
pub mod runs;
pub mod segments;
pub mod spaces;
pub mod subtitle;

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;
use image::{imageops, RgbImage};

use super::{Capability, Context, OutputSink, Report, Split};
use crate::capabilities::caption_extraction::api::{
    Caption, CaptionExtractionParams, CaptionExtractionResult, CaptionFile, CaptionLine, Lang, Roi,
};
use crate::capabilities::caption_extraction::cues::{cues, split_languages, Reading};
use crate::capabilities::caption_extraction::mask::TextMask;
use crate::capabilities::caption_extraction::runs::{Run, Runs, Step};
use crate::capabilities::caption_extraction::segments::SpanReadings;
use crate::capabilities::caption_extraction::subtitle::{to_srt, to_vtt};
use crate::domain::{ErrorCode, FunctionName, JobError, Span};
use crate::inference::{available_threads, InferenceError, ModelDir};
use crate::media::{MediaError, SamplingMode, VideoReader};
use crate::ocr::words::Words;
use crate::ocr::{Ocr, TextBox, TextLine};

/// Widest image given to text detection, pixels.
const DETECT_WIDTH: f32 = 960.0;
/// Share of the detection scale at which a run's frame is first looked
/// at for text; only when some is found is it read at full scale. On the
/// development videos 0.3 and 0.4 lost nothing and 0.2 lost cues; at 0.4
/// a fading caption of a 480×270 clip went unseen (and its cue split in
/// two), so half the scale, a quarter of the cost.
const GLANCE: f32 = 0.5;
/// Widest frame given to text detection when looking for the caption
/// band (captions are large text).
const ROI_DETECT_WIDTH: f32 = 640.0;

/// The `CaptionExtraction` capability, with its models loaded.
#[derive(Debug, Clone)]
pub struct CaptionExtraction {
    ocr: Arc<Ocr>,
    words: Arc<Words>,
}

impl CaptionExtraction {
    /// Seconds before a segment that its reading sees: they settle the
    /// run splitter (a caption change or two).
    pub const WARM_UP_S: f64 = 5.0;

    /// Loads ONNX Runtime and the OCR models from `models` (cold start).
    ///
    /// # Errors
    /// [`InferenceError`] naming the missing or unusable file.
    pub fn load(models: &ModelDir) -> Result<Self, InferenceError> {
        Ok(Self {
            // Decoding runs beside OCR and takes the other half.
            ocr: Arc::new(Ocr::load(models, (available_threads() / 2).max(1))?),
            words: Arc::new(Words::load(models)?),
        })
    }

    /// The text detector and reader.
    pub fn ocr(&self) -> &Ocr {
        &self.ocr
    }

    /// Reads the captions of `input` (see [`extract`]).
    ///
    /// # Errors
    /// As [`extract`].
    pub fn extract(
        &self,
        input: &Path,
        params: &CaptionExtractionParams,
        ctx: &Context,
    ) -> Result<Extracted, JobError> {
        extract(&self.ocr, &self.words, input, params, ctx)
    }

    /// Reads the caption runs that begin in segment [`Context::span`] of
    /// `input`, with their text masks, for [`Self::from_segments`].
    ///
    /// # Errors
    /// As [`extract`].
    pub fn read_segment(
        &self,
        input: &Path,
        params: &CaptionExtractionParams,
        ctx: &Context,
    ) -> Result<SegmentRead, JobError> {
        let mut reader = VideoReader::open(input, &ctx.limits)?;
        let roi = region_of(&self.ocr, &mut reader, params)?;
        let slack = reader.half_frame();
        let pass = read_pass(&self.ocr, &self.words, &mut reader, roi, params, ctx)?;
        let span = ctx
            .span
            .unwrap_or_else(|| Span::new(0.0, f64::INFINITY, 0.0));
        let anchors = anchors_of(&pass)
            .into_iter()
            .filter(|a| span.outputs(a.start, slack))
            .collect();
        let region = [pass.rect.x, pass.rect.y, pass.rect.w, pass.rect.h];
        let min_pixels = pass.min_pixels;
        let runs = pass.runs.clone();
        let readings = to_readings(pass.runs, pass.read, pass.rect);
        Ok(SegmentRead {
            readings: SpanReadings::new(span, slack, pass.frames, pass.duration, &runs, readings),
            anchors,
            roi,
            region,
            min_pixels,
        })
    }

    /// What one pass over the whole video finds, from every segment's
    /// [`SegmentRead`] in time order.
    ///
    /// # Errors
    /// `InternalError` for no segment.
    pub fn from_segments(
        params: &CaptionExtractionParams,
        parts: Vec<SegmentRead>,
    ) -> Result<Extracted, JobError> {
        let Some(first) = parts.first() else {
            return Err(JobError::permanent(
                ErrorCode::InternalError,
                "no segment was read",
            ));
        };
        let (roi, region, min_pixels) = (first.roi, first.region, first.min_pixels);
        let mut anchors = Vec::new();
        let mut readings = Vec::with_capacity(parts.len());
        for part in parts {
            anchors.extend(part.anchors);
            readings.push(serde_json::to_value(part.readings).map_err(|e| {
                JobError::permanent(
                    ErrorCode::InternalError,
                    format!("a segment's readings: {e}"),
                )
            })?);
        }
        let joined = segments::join(readings)?;
        Ok(Extracted {
            captions: cues(joined.readings, params.track),
            roi,
            duration: joined.duration,
            frames: joined.frames,
            ocr_frames: joined.ocr_frames,
            region,
            min_pixels,
            anchors,
        })
    }
}

/// What one segment read, for [`CaptionExtraction::from_segments`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentRead {
    /// The runs that begin in it and what OCR read in them.
    pub readings: SpanReadings,
    /// Their text masks.
    pub anchors: Vec<Anchor>,
    /// The region read, fractions `[[top,bottom],[left,right]]`.
    pub roi: [[f64; 2]; 2],
    /// The region read in pixels, `[x, y, w, h]`.
    pub region: [u32; 4],
    /// Fewest text-mask pixels that show text in the region.
    pub min_pixels: u32,
}

impl Capability for CaptionExtraction {
    type Params = CaptionExtractionParams;
    type Output = CaptionExtractionResult;

    fn function(&self) -> FunctionName {
        FunctionName::CaptionExtraction
    }

    fn parse(&self, params: &serde_json::Value) -> Result<CaptionExtractionParams, JobError> {
        CaptionExtractionParams::try_from(params)
    }

    fn run(
        &self,
        input: &Path,
        params: &CaptionExtractionParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<CaptionExtractionResult>, JobError> {
        let extracted = self.extract(input, params, ctx)?;
        let result = write(
            &extracted.captions,
            Stats {
                roi: extracted.roi,
                duration: extracted.duration,
                frames: extracted.frames,
                ocr_frames: extracted.ocr_frames,
            },
            params,
            sink,
        )?;
        Ok(report(result))
    }

    fn split(&self, _params: &CaptionExtractionParams) -> Split {
        Split::Readings {
            warm_up_s: Self::WARM_UP_S,
        }
    }

    fn decide(
        &self,
        input: &Path,
        params: &CaptionExtractionParams,
        ctx: &Context,
    ) -> Result<Option<serde_json::Value>, JobError> {
        if params.roi.bounds().is_some() {
            return Ok(None);
        }
        let mut reader = VideoReader::open(input, &ctx.limits)?;
        let roi = region_of(&self.ocr, &mut reader, params)?;
        Ok(Some(serde_json::json!({ "Roi": roi })))
    }

    fn decided(
        &self,
        params: &CaptionExtractionParams,
        decision: &serde_json::Value,
    ) -> Result<CaptionExtractionParams, JobError> {
        let roi: [[f64; 2]; 2] = serde_json::from_value(decision["Roi"].clone()).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("the decided caption region {decision}: {e}"),
            )
        })?;
        Ok(CaptionExtractionParams {
            roi: Roi::Fixed {
                top: roi[0][0],
                bottom: roi[0][1],
                left: roi[1][0],
                right: roi[1][1],
            },
            ..params.clone()
        })
    }

    fn read_span(
        &self,
        input: &Path,
        params: &CaptionExtractionParams,
        ctx: &Context,
    ) -> Result<serde_json::Value, JobError> {
        let read = self.read_segment(input, params, ctx)?.readings;
        serde_json::to_value(read).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("serialising a segment's readings: {e}"),
            )
        })
    }

    fn conclude(
        &self,
        params: &CaptionExtractionParams,
        readings: Vec<serde_json::Value>,
        sink: &mut OutputSink,
        _ctx: &Context,
    ) -> Result<Report<CaptionExtractionResult>, JobError> {
        let joined = segments::join(readings)?;
        let result = write(
            &cues(joined.readings, params.track),
            Stats {
                roi: params.roi.bounds().unwrap_or(FALLBACK),
                duration: joined.duration,
                frames: joined.frames,
                ocr_frames: joined.ocr_frames,
            },
            params,
            sink,
        )?;
        Ok(report(result))
    }
}

/// The job's message for its result.
fn report(result: CaptionExtractionResult) -> Report<CaptionExtractionResult> {
    let roi = format_roi(&result.roi);
    let message = if result.captions.is_empty() {
        format!("no captions found in region {roi}: the video shows no burned-in subtitles there (roi \"auto\" searches the whole frame); the subtitle files are empty")
    } else {
        format!(
            "{} captions in region {roi} ({} of {} frames read)",
            result.captions.len(),
            result.ocr_frames,
            result.frames
        )
    };
    Report { message, result }
}

fn format_roi(r: &[[f64; 2]; 2]) -> String {
    format!(
        "[[{:.2},{:.2}],[{:.2},{:.2}]]",
        r[0][0], r[0][1], r[1][0], r[1][1]
    )
}

/// What a pass over the video found.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// The cues.
    pub captions: Vec<Caption>,
    /// The region searched, fractions `[[top,bottom],[left,right]]`.
    pub roi: [[f64; 2]; 2],
    /// Video duration, seconds.
    pub duration: f64,
    /// Frames decoded.
    pub frames: u64,
    /// Frames read by OCR.
    pub ocr_frames: u64,
    /// The region searched in pixels, `[x, y, w, h]`.
    pub region: [u32; 4],
    /// Fewest text-mask pixels that show text in the region.
    pub min_pixels: u32,
    /// Each run of frames that showed text, with the mask its frames
    /// matched: what a caption looks like in [`TextMask`] terms.
    pub anchors: Vec<Anchor>,
}

/// A run of frames showing the same text, and its text mask.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Anchor {
    /// First frame's time, seconds.
    pub start: f64,
    /// Time of the first frame after the run, seconds.
    pub end: f64,
    /// The mask its frames matched.
    pub mask: TextMask,
}

/// A region in coded pixels (even-aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

fn rect_of(roi: [[f64; 2]; 2], width: u32, height: u32) -> Rect {
    let even = |v: f64| ((v.round() as u32) / 2) * 2;
    let y = even(roi[0][0] * f64::from(height)).min(height.saturating_sub(4));
    let x = even(roi[1][0] * f64::from(width)).min(width.saturating_sub(4));
    let h = even((roi[0][1] - roi[0][0]) * f64::from(height)).clamp(4, height - y);
    let w = even((roi[1][1] - roi[1][0]) * f64::from(width)).clamp(4, width - x);
    Rect { x, y, w, h }
}

/// The part of region `r` around text bounds `b` (region pixels), with a
/// margin of a text line's height.
fn text_part(r: Rect, b: (usize, usize, usize, usize)) -> Rect {
    let margin = 32u32;
    let (bx, by, bw, bh) = (b.0 as u32, b.1 as u32, b.2 as u32, b.3 as u32);
    let x0 = bx.saturating_sub(margin) & !1;
    let y0 = by.saturating_sub(margin) & !1;
    let x1 = (bx + bw + margin).min(r.w);
    let y1 = (by + bh + margin).min(r.h);
    Rect {
        x: r.x + x0,
        y: r.y + y0,
        w: (x1 - x0).max(4),
        h: (y1 - y0).max(4),
    }
}

fn luma_plane(format: Pixel) -> bool {
    matches!(
        format,
        Pixel::YUV420P
            | Pixel::YUVJ420P
            | Pixel::YUV422P
            | Pixel::YUVJ422P
            | Pixel::YUV444P
            | Pixel::YUVJ444P
            | Pixel::YUV440P
            | Pixel::YUVJ440P
            | Pixel::YUV411P
            | Pixel::YUV410P
            | Pixel::NV12
            | Pixel::NV21
            | Pixel::GRAY8
            | Pixel::YUVA420P
    )
}

fn mask_of(reader: &mut VideoReader, f: &frame::Video, r: Rect) -> Result<TextMask, MediaError> {
    if luma_plane(f.format()) {
        return Ok(TextMask::from_luma(
            f.data(0),
            f.stride(0),
            r.x as usize,
            r.y as usize,
            r.w as usize,
            r.h as usize,
        ));
    }
    // Other pixel formats (RGB, high bit depth): through RGB.
    let rgb = reader.to_rgb(f, f.width(), f.height())?;
    let crop = imageops::crop_imm(&rgb, r.x, r.y, r.w, r.h).to_image();
    let luma: Vec<u8> = crop
        .pixels()
        .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8)
        .collect();
    Ok(TextMask::from_luma(
        &luma,
        r.w as usize,
        0,
        0,
        r.w as usize,
        r.h as usize,
    ))
}

fn ocr_error(e: &InferenceError) -> JobError {
    JobError::retryable(ErrorCode::InternalError, e.to_string())
}

/// Finds the band where text recurs: detection on eight frames spread
/// over the video; the band holding the most line-time wins. `None` when
/// no text was seen. Each frame is a cheap sample near its time, scaled
/// to the detector's size by the converter, and detected on another
/// thread while the next one is decoded.
fn find_roi(ocr: &Ocr, reader: &mut VideoReader) -> Result<Option<[[f64; 2]; 2]>, JobError> {
    let info = reader.info().clone();
    let (w, h) = (info.width, info.height);
    let samples = 8;
    let scale = (ROI_DETECT_WIDTH / w as f32).min(1.0);
    let round32 = |v: u32| ((v as f32 * scale / 32.0).round() as u32).max(1) * 32;
    let (dw, dh) = (round32(w), round32(h));
    let (sx, sy) = (w as f32 / dw as f32, h as f32 / dh as f32);
    let (to_detect, frames) = mpsc::sync_channel::<RgbImage>(1);
    let (found, sampled) = std::thread::scope(|scope| {
        let worker = scope.spawn(move || -> Result<Vec<TextBox>, InferenceError> {
            let mut found = Vec::new();
            for rgb in frames {
                found.extend(ocr.detect(&rgb, 1.0)?);
            }
            Ok(found)
        });
        let sampled = (0..samples).try_for_each(|k| {
            let t = info.duration_s * (f64::from(k) + 0.5) / f64::from(samples);
            let Ok(f) = reader.sample_near(t) else {
                return Ok(());
            };
            // A closed channel: the detector failed, and says why.
            let _ = to_detect.send(reader.to_rgb(&f, dw, dh)?);
            Ok::<(), MediaError>(())
        });
        drop(to_detect);
        let found = worker.join().unwrap_or_else(|_| {
            Err(InferenceError::Run {
                name: "text detector".into(),
                detail: "its thread stopped unexpectedly".into(),
            })
        });
        (found, sampled)
    });
    sampled?;
    let found = found.map_err(|e| ocr_error(&e))?;
    reader.rewind()?;
    let boxes = found.into_iter().map(|b| TextBox {
        x0: b.x0 * sx,
        x1: b.x1 * sx,
        y0: b.y0 * sy,
        y1: b.y1 * sy,
        ..b
    });
    Ok(band_of(boxes, w, h))
}

/// The tallest a caption line may be, as a share of the frame's height:
/// a taller "line" is a patch of picture the detector took for text
/// (a flat saturated area, say), and would outweigh every caption.
const MAX_LINE_HEIGHT: f32 = 0.2;

/// The band of a `w`×`h` frame where caption lines recur, from the text
/// boxes found on its samples (frame pixels): the densest band of three
/// line heights by line width, widened by one line each way. Only wide,
/// roughly centred boxes of a line's height count, and a box found again
/// where it was on another sample counts once: captions change, while a
/// title or a programme's name shown all along stays in place, and would
/// otherwise outweigh them. `None` without any.
fn band_of(boxes: impl IntoIterator<Item = TextBox>, w: u32, h: u32) -> Option<[[f64; 2]; 2]> {
    let mut rows = vec![0f32; h as usize];
    let mut heights = Vec::new();
    let mut counted: Vec<TextBox> = Vec::new();
    // Boxes of the same text in the same place differ by a pixel or two.
    let same = 0.005 * w.max(h) as f32 + 1.0;
    for b in boxes {
        // Captions are wide and roughly centred.
        let centre = (b.x0 + b.x1) / 2.0 / w as f32;
        if !(0.25..=0.75).contains(&centre)
            || b.width() < 2.0 * b.height()
            || b.height() > MAX_LINE_HEIGHT * h as f32
        {
            continue;
        }
        let again = counted.iter().any(|c| {
            [c.x0 - b.x0, c.x1 - b.x1, c.y0 - b.y0, c.y1 - b.y1]
                .iter()
                .all(|d| d.abs() <= same)
        });
        if again {
            continue;
        }
        counted.push(b);
        heights.push(b.height());
        let (top, bottom) = (
            b.y0.max(0.0) as usize,
            (b.y1.max(0.0) as usize).min(h as usize),
        );
        for row in rows.iter_mut().take(bottom).skip(top) {
            *row += b.width();
        }
    }
    if heights.is_empty() {
        return None;
    }
    heights.sort_by(f32::total_cmp);
    let line = heights[heights.len() / 2];
    let band = (3.0 * line) as usize;
    let mut best = (0usize, 0f32);
    let mut acc: f32 = rows.iter().take(band).sum();
    for top in 0..rows.len().saturating_sub(band) {
        if acc > best.1 {
            best = (top, acc);
        }
        acc += rows[top + band] - rows[top];
    }
    let top = (best.0 as f32 - line).max(0.0) / h as f32;
    let bottom = ((best.0 + band) as f32 + line).min(h as f32) / h as f32;
    Some([[f64::from(top), f64::from(bottom)], [0.0, 1.0]])
}

/// Where captions are read when `roi` is `"auto"` and no text was seen.
const FALLBACK: [[f64; 2]; 2] = [[0.75, 1.0], [0.0, 1.0]];

/// The region to read: the params' own, or the band where text recurs.
fn region_of(
    ocr: &Ocr,
    reader: &mut VideoReader,
    params: &CaptionExtractionParams,
) -> Result<[[f64; 2]; 2], JobError> {
    Ok(match params.roi.bounds() {
        Some(fixed) => fixed,
        None => find_roi(ocr, reader)?.unwrap_or(FALLBACK),
    })
}

/// Reads the captions of `input`.
///
/// # Errors
/// Media errors (corrupt, no video, limits); `Timeout` when cancelled;
/// a retryable `InternalError` when inference fails.
fn extract(
    ocr: &Ocr,
    words: &Words,
    input: &Path,
    params: &CaptionExtractionParams,
    ctx: &Context,
) -> Result<Extracted, JobError> {
    let mut reader = VideoReader::open(input, &ctx.limits)?;
    let roi = region_of(ocr, &mut reader, params)?;
    let pass = read_pass(ocr, words, &mut reader, roi, params, ctx)?;
    let anchors = anchors_of(&pass);
    let ocr_frames = pass.read.len() as u64;
    let readings = to_readings(pass.runs, pass.read, pass.rect);
    Ok(Extracted {
        captions: cues(readings, params.track),
        roi,
        duration: pass.duration,
        frames: pass.frames,
        ocr_frames,
        region: [pass.rect.x, pass.rect.y, pass.rect.w, pass.rect.h],
        min_pixels: pass.min_pixels,
        anchors,
    })
}

/// The text masks of the runs of a pass.
fn anchors_of(pass: &Pass) -> Vec<Anchor> {
    pass.masks
        .iter()
        .filter_map(|(id, mask)| {
            let run = pass.runs.iter().find(|r| r.id == *id)?;
            Some(Anchor {
                start: run.start,
                end: run.end,
                mask: mask.clone(),
            })
        })
        .collect()
}

/// What one pass over the video (or over [`Context::span`] of it) saw.
struct Pass {
    /// Every run seen, in order.
    runs: Vec<Run>,
    /// What OCR read, by run id: the runs the pass owns.
    read: Vec<(usize, Vec<TextLine>)>,
    /// The mask each text run was matched against, by run id.
    masks: Vec<(usize, TextMask)>,
    /// Frames decoded (those the span outputs, for a segment).
    frames: u64,
    rect: Rect,
    min_pixels: u32,
    duration: f64,
}

/// One pass over the frames of `roi`: runs, and OCR once per text run.
///
/// With a span in `ctx`, decoding starts at its warm-up; frames count and
/// runs are read only where the span owns them (a run by its first
/// frame); decoding goes on for one confirmation time past its end, so
/// that a run that begins just before the end is recognised here.
///
/// # Errors
/// As [`extract`].
fn read_pass(
    ocr: &Ocr,
    words: &Words,
    reader: &mut VideoReader,
    roi: [[f64; 2]; 2],
    params: &CaptionExtractionParams,
    ctx: &Context,
) -> Result<Pass, JobError> {
    let info = reader.info().clone();
    let slack = reader.half_frame();
    let rect = rect_of(roi, info.width, info.height);
    let scale = (DETECT_WIDTH / rect.w as f32).min(1.0);
    let latin = params.lang == Lang::English;
    // English words set without spaces are split, except where the
    // captions may be in other Latin-script languages.
    let english_words = params.lang != Lang::Multilingual;
    // Masks of fewer pixels than a short word hold no caption.
    let min_pixels = ((rect.w as usize * rect.h as usize / 4) / 2000).max(24) as u32;
    let mut runs = Runs::new(1.0 / params.fps, min_pixels);
    let mut frames = 0u64;
    let (from_s, until_s) = ctx.span.map_or((0.0, f64::INFINITY), |s| {
        (s.warm_s, s.end_s + 1.0 / params.fps + 8.0 * slack)
    });
    let owns = |t: f64| ctx.span.is_none_or(|s| s.outputs(t, slack));
    let (first_s, length) = if until_s.is_finite() {
        (from_s, (until_s - from_s).max(1e-3))
    } else {
        (from_s, (info.duration_s - from_s).max(1e-3))
    };

    let (to_ocr, jobs) = mpsc::sync_channel::<(usize, Rect, RgbImage)>(4);
    let (readings, results) = std::thread::scope(|scope| {
        let worker = scope.spawn(
            move || -> Result<Vec<(usize, Vec<TextLine>)>, InferenceError> {
                let mut out = Vec::new();
                for (id, part, crop) in jobs {
                    // Most runs the cheap mask flags show the detector no
                    // text (bright edges of the picture): a look at half
                    // the scale, at a quarter of the cost, says so.
                    let mut lines = if ocr.detect(&crop, scale * GLANCE)?.is_empty() {
                        Vec::new()
                    } else {
                        ocr.read(&crop, scale, latin)?
                    };
                    for l in &mut lines {
                        spaces::restore(l, &crop);
                        if english_words {
                            words.restore(l);
                        }
                        // Into the region's coordinates.
                        let (dx, dy) = ((part.x - rect.x) as f32, (part.y - rect.y) as f32);
                        l.bbox.x0 += dx;
                        l.bbox.x1 += dx;
                        l.bbox.y0 += dy;
                        l.bbox.y1 += dy;
                        for x in &mut l.positions {
                            *x += dx;
                        }
                    }
                    out.push((id, lines));
                }
                Ok(out)
            },
        );
        let decoded =
            reader.for_each_frame_between(from_s, until_s, SamplingMode::All, |reader, f| {
                if ctx.cancelled() {
                    return Err(MediaError::Cancelled);
                }
                if owns(f.time_s) {
                    frames += 1;
                }
                let mask = mask_of(reader, f.frame, rect)?;
                let bounds = mask.bounds();
                let step = runs.push(f.time_s, mask);
                let read_here = runs.open_start().is_some_and(owns);
                if let (Step::Capture { id }, true) = (step, read_here) {
                    // Only the part of the region with text in it, with room
                    // for the outline and for detection's context.
                    let part = bounds.map_or(rect, |b| text_part(rect, b));
                    let rgb = reader.to_rgb(f.frame, info.width, info.height)?;
                    let crop = imageops::crop_imm(&rgb, part.x, part.y, part.w, part.h).to_image();
                    if to_ocr.send((id, part, crop)).is_err() {
                        // The worker stopped on an error; it is reported below.
                        return Ok(ControlFlow::Break(()));
                    }
                }
                if frames % 64 == 0 {
                    ctx.progress
                        .update(((f.time_s - first_s) / length).clamp(0.0, 0.95));
                }
                Ok(ControlFlow::Continue(()))
            });
        drop(to_ocr);
        let read = worker.join().unwrap_or_else(|_| {
            Err(InferenceError::Run {
                name: "ocr".into(),
                detail: "the OCR thread panicked".into(),
            })
        });
        (read, decoded)
    });
    results?;
    let read = readings.map_err(|e| ocr_error(&e))?;
    let (runs, masks) = runs.finish_with_anchors();
    Ok(Pass {
        runs,
        read,
        masks,
        frames,
        rect,
        min_pixels,
        duration: info.duration_s,
    })
}

fn to_readings(runs: Vec<Run>, mut read: Vec<(usize, Vec<TextLine>)>, rect: Rect) -> Vec<Reading> {
    read.sort_by_key(|(id, _)| *id);
    runs.into_iter()
        .filter(|r| r.text)
        .map(|run| {
            let lines = read
                .binary_search_by_key(&run.id, |(id, _)| *id)
                .map(|i| {
                    read[i]
                        .1
                        .iter()
                        .map(|l| CaptionLine {
                            text: l.text.clone(),
                            bbox: [
                                rect.x + l.bbox.x0 as u32,
                                rect.y + l.bbox.y0 as u32,
                                l.bbox.width().round() as u32,
                                l.bbox.height().round() as u32,
                            ],
                            confidence: (f64::from(l.confidence) * 1000.0).round() / 1000.0,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Reading { run, lines }
        })
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What the result says besides the cues.
#[derive(Debug, Clone, Copy)]
struct Stats {
    roi: [[f64; 2]; 2],
    duration: f64,
    frames: u64,
    ocr_frames: u64,
}

fn write(
    captions: &[Caption],
    stats: Stats,
    params: &CaptionExtractionParams,
    sink: &mut OutputSink,
) -> Result<CaptionExtractionResult, JobError> {
    let captions: Vec<Caption> = captions
        .iter()
        .map(|c| Caption {
            start: round3(c.start),
            end: round3(c.end),
            ..c.clone()
        })
        .collect();
    let mut files = Vec::new();
    let mut put = |language: &'static str,
                   format: &'static str,
                   content_type: &'static str,
                   body: String|
     -> Result<(), JobError> {
        let file = sink.plan(language, format, content_type, false)?;
        std::fs::write(&file.local, body).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("writing {}: {e}", file.local.display()),
            )
        })?;
        files.push(CaptionFile {
            format,
            language,
            file: file.location.to_string(),
        });
        Ok(())
    };
    let tracks: Vec<(&'static str, Vec<Caption>)> = if params.sep {
        let (zh, en) = split_languages(&captions);
        vec![("zh", zh), ("en", en)]
    } else {
        vec![("caption", captions.clone())]
    };
    for (language, cues) in &tracks {
        put(
            language,
            "srt",
            "application/x-subrip",
            to_srt(cues, &params.formatter),
        )?;
        put(language, "vtt", "text/vtt", to_vtt(cues))?;
    }
    let result = CaptionExtractionResult {
        captions,
        files: Vec::new(),
        roi: stats.roi,
        duration: round3(stats.duration),
        frames: stats.frames,
        ocr_frames: stats.ocr_frames,
    };
    put(
        "caption",
        "json",
        "application/json",
        serde_json::to_string_pretty(&result.captions).unwrap_or_default(),
    )?;
    Ok(CaptionExtractionResult { files, ..result })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(x0: f32, y0: f32, x1: f32, y1: f32) -> TextBox {
        TextBox {
            x0,
            y0,
            x1,
            y1,
            score: 0.9,
        }
    }

    #[test]
    fn the_band_is_where_caption_lines_recur() {
        // Two captions at the top of a 640×360 frame on five samples.
        let lines = (0..5).map(|k| line(260.0 - k as f32, 6.0, 380.0, 46.0));
        let band = band_of(lines, 640, 360).expect("a band");
        assert!(
            band[0][0] < 0.02 && (0.3..0.45).contains(&band[0][1]),
            "{band:?}"
        );
        assert_eq!(
            band_of([line(0.0, 300.0, 120.0, 340.0)], 640, 360),
            None,
            "off centre"
        );
        assert_eq!(
            band_of([line(280.0, 300.0, 340.0, 340.0)], 640, 360),
            None,
            "not wide"
        );
    }

    #[test]
    fn a_patch_of_picture_taken_for_text_does_not_move_the_band() {
        // A flat bright area the detector scored as text: wider than
        // twice its height, centred, and far taller than a line.
        let mut boxes: Vec<TextBox> = (0..5).map(|_| line(260.0, 6.0, 380.0, 46.0)).collect();
        boxes.push(line(160.0, 138.0, 640.0, 360.0));
        let band = band_of(boxes, 640, 360).expect("a band");
        assert!(band[0][0] < 0.02 && band[0][1] < 0.45, "{band:?}");
    }

    #[test]
    fn a_title_shown_all_along_counts_once_and_captions_that_change_win() {
        // A 1280×720 video: a wide title in the middle on four samples,
        // two different captions at the bottom on two.
        let mut boxes = Vec::new();
        for _ in 0..4 {
            boxes.push(line(304.0, 305.0, 960.0, 357.0));
            boxes.push(line(526.0, 366.0, 738.0, 416.0));
        }
        boxes.push(line(443.0, 584.0, 837.0, 655.0));
        boxes.push(line(280.0, 585.0, 1006.0, 653.0));
        let band = band_of(boxes, 1280, 720).expect("a band");
        assert!(band[0][0] > 0.5 && band[0][1] > 0.95, "{band:?}");
    }
}
