//! `Cover`: the N best frames of a video as images.
//!
//! How it picks:
//! 1. **Candidates, cheaply.** Long videos: decode keyframes only (encoders
//!    put keyframes at scene cuts, and nothing else is decoded). Short
//!    videos, or too few keyframes: one sequential pass that decodes
//!    reference frames only, without deblocking, and analyses one frame per
//!    interval. Each candidate is scaled to 320 px wide for analysis.
//! 2. **Score.** Hard rejections first (black, white, blank/flat). Then a
//!    weighted score of sharpness (Laplacian variance) and detail (edge
//!    density) relative to the video's own best frames, so that a blurred
//!    or mid-transition frame loses to sharp ones; plus contrast,
//!    exposure, luma entropy and colourfulness.
//! 3. **Pick.** Best first, skipping near-duplicates (perceptual hash and
//!    mean colour close to a pick) and frames too close in time to a pick.
//! 4. **Write.** Each pick is decoded again, frame-accurately and at full
//!    quality, scaled to `Width`/`Height`, rotated upright, and written.

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;

use std::ops::ControlFlow;
use std::path::Path;

use image::RgbImage;

use super::{Capability, Context, OutputSink, Report};
use crate::capabilities::cover::api::{CoverItem, CoverParams, CoverResult};
use crate::domain::{FunctionName, JobError};
use crate::media::image_out::write_image;
use crate::media::{MediaError, SamplingMode, VideoReader};
use crate::vision::hash::{colour_layout, dhash, distance, layout_distance, mean_rgb};
use crate::vision::quality::{frame_stats, FrameStats};
use crate::vision::resize::{cover_crop, target_size};

/// Analysis width in pixels.
const ANALYSIS_WIDTH: u32 = 320;
/// Candidates wanted at least (more for larger `Count`).
const MIN_CANDIDATES: usize = 24;

/// The `Cover` capability.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cover;

impl Capability for Cover {
    type Params = CoverParams;
    type Output = CoverResult;

    fn function(&self) -> FunctionName {
        FunctionName::Cover
    }

    fn parse(&self, params: &serde_json::Value) -> Result<CoverParams, JobError> {
        CoverParams::try_from(params)
    }

    fn run(
        &self,
        input: &Path,
        params: &CoverParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<CoverResult>, JobError> {
        let result = covers(input, params, sink, ctx)?;
        let message = match result.covers.len() {
            0 => "no usable frame: every frame is black, white or blank".to_owned(),
            n if n < params.count as usize => format!(
                "{n} of {} covers: the video has no more distinct usable frames",
                params.count
            ),
            1 => "1 cover".to_owned(),
            n => format!("{n} covers"),
        };
        Ok(Report { message, result })
    }
}

/// A frame considered as a cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Presentation time, seconds.
    pub time_s: f64,
    /// Measures at analysis size.
    pub stats: FrameStats,
    /// Perceptual hash.
    pub hash: u64,
    /// Mean colour (0–255).
    pub colour: [f64; 3],
    /// Colour layout (4×4 grid of mean colours).
    pub layout: [f32; 48],
}

/// Runs `Cover` on a local video file.
///
/// # Errors
/// Media errors (corrupt, no video, limits) and output errors.
pub fn covers(
    input: &Path,
    params: &CoverParams,
    sink: &mut OutputSink,
    ctx: &Context,
) -> Result<CoverResult, JobError> {
    let mut reader = VideoReader::open(input, &ctx.limits)?;
    let candidates = analyse(&mut reader, params.count as usize, ctx)?;
    let rejected = candidates
        .iter()
        .filter(|c| c.stats.reject().is_some())
        .count();
    let picks = rank(&candidates, params.count as usize, reader.info().duration_s);
    if tracing::enabled!(tracing::Level::DEBUG) {
        for (c, score) in candidates.iter().zip(scores(&candidates)) {
            tracing::debug!(
                time_s = c.time_s,
                score,
                reject = ?c.stats.reject(),
                sharpness = c.stats.sharpness,
                edges = c.stats.edge_density,
                contrast = c.stats.contrast,
                colour = c.stats.colourfulness,
                luma = c.stats.mean_luma,
                entropy = c.stats.entropy,
                "candidate"
            );
        }
    }

    let info = reader.info().clone();
    let (dw, dh) = info.display_size();
    let (tw, th) = target_size(dw, dh, params.width, params.height);
    let (scale_to, crop) = if params.width.is_some() && params.height.is_some() {
        let (size, offset) = cover_crop(dw, dh, tw, th);
        (size, Some(offset))
    } else {
        ((tw, th), None)
    };
    let coded = if info.rotation.swaps_axes() {
        (scale_to.1, scale_to.0)
    } else {
        scale_to
    };
    let several = picks.len() > 1;
    let mut items = Vec::with_capacity(picks.len());
    for (index, score) in picks {
        if ctx.cancelled() {
            return Err(MediaError::Cancelled.into());
        }
        let cand = &candidates[index];
        let frame = reader.frame_at(cand.time_s)?;
        let rgb = reader.to_rgb(&frame, coded.0, coded.1)?;
        let mut img = info.rotation.apply(rgb);
        if let Some((x, y)) = crop {
            img = image::imageops::crop_imm(&img, x, y, tw, th).to_image();
        }
        let file = sink.plan(
            "cover",
            params.format.extension(),
            params.format.content_type(),
            several,
        )?;
        write_image(&img, &file.local, params.format, params.quality)?;
        items.push(CoverItem {
            score: (score * 1000.0).round() / 1000.0,
            time: (cand.time_s * 1000.0).round().max(0.0) as u64,
            file: file.location.to_string(),
            width: img.width(),
            height: img.height(),
        });
    }
    ctx.progress.update(1.0);
    Ok(CoverResult {
        covers: items,
        candidates: candidates.len(),
        rejected,
        duration: (info.duration_s * 1000.0).round() / 1000.0,
    })
}

/// Collects candidates: keyframes for long videos, a sampled sequential
/// pass where keyframes are too few.
///
/// # Errors
/// Media errors; `Timeout` when cancelled.
pub fn analyse(
    reader: &mut VideoReader,
    count: usize,
    ctx: &Context,
) -> Result<Vec<Candidate>, JobError> {
    let need = MIN_CANDIDATES.max(4 * count);
    let duration = reader.info().duration_s;
    let (w, h) = (reader.info().width, reader.info().height);
    let aw = ANALYSIS_WIDTH.min(w).max(2);
    let ah = ((f64::from(h) * f64::from(aw) / f64::from(w.max(1))).round() as u32).max(2);
    let mut candidates: Vec<Candidate> = Vec::new();

    // Keyframes alone suffice when the video is long enough to hold many.
    let try_keyframes = duration >= need as f64 * 2.0;
    if try_keyframes {
        reader.for_each_frame(SamplingMode::KeyframesOnly, |r, f| {
            if ctx.cancelled() {
                return Err(MediaError::Cancelled);
            }
            let img = r.to_rgb(f.frame, aw, ah)?;
            candidates.push(candidate(f.time_s, &img));
            if duration > 0.0 {
                ctx.progress
                    .update(0.9 * (f.time_s / duration).clamp(0.0, 1.0));
            }
            Ok(ControlFlow::Continue(()))
        })?;
    }
    if candidates.len() >= need {
        return Ok(thin(candidates, need * 4));
    }

    if try_keyframes {
        reader.rewind()?;
    }
    let interval = if duration > 0.0 {
        duration / (need as f64 * 2.0)
    } else {
        0.2
    };
    let mut next = 0.0;
    let keyframes = candidates.clone();
    let progress_base = if try_keyframes { 0.45 } else { 0.0 };
    reader.set_fast_analysis(true);
    let mut keyframe_cursor = 0;
    reader.for_each_frame(SamplingMode::ReferenceOnly, |r, f| {
        if ctx.cancelled() {
            return Err(MediaError::Cancelled);
        }
        if f.time_s + 1e-6 < next && !f.frame.is_key() {
            return Ok(ControlFlow::Continue(()));
        }
        while keyframe_cursor < keyframes.len()
            && keyframes[keyframe_cursor].time_s < f.time_s - 1e-6
        {
            keyframe_cursor += 1;
        }
        let already = keyframes
            .get(keyframe_cursor)
            .is_some_and(|k| (k.time_s - f.time_s).abs() < 1e-3);
        if !already {
            let img = r.to_rgb(f.frame, aw, ah)?;
            candidates.push(candidate(f.time_s, &img));
        }
        next = f.time_s + interval;
        if duration > 0.0 {
            let done = (f.time_s / duration).clamp(0.0, 1.0);
            ctx.progress
                .update(progress_base + (0.9 - progress_base) * done);
        }
        Ok(ControlFlow::Continue(()))
    })?;
    reader.set_fast_analysis(false);
    candidates.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    Ok(thin(candidates, need * 4))
}

/// Keeps at most `max` candidates, evenly spread in time.
fn thin(candidates: Vec<Candidate>, max: usize) -> Vec<Candidate> {
    if candidates.len() <= max {
        return candidates;
    }
    let step = candidates.len() as f64 / max as f64;
    (0..max)
        .filter_map(|i| candidates.get((i as f64 * step) as usize).cloned())
        .collect()
}

fn candidate(time_s: f64, img: &RgbImage) -> Candidate {
    Candidate {
        time_s,
        stats: frame_stats(img),
        hash: dhash(img),
        colour: mean_rgb(img),
        layout: colour_layout(img),
    }
}

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let idx = ((values.len() - 1) as f64 * p).round() as usize;
    values[idx.min(values.len() - 1)]
}

/// Scores every candidate (0–1). Rejected frames score 0. Sharpness and
/// detail are relative to the video's own sharp frames.
pub fn scores(candidates: &[Candidate]) -> Vec<f64> {
    let usable: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.stats.reject().is_none())
        .collect();
    let sharp_ref = percentile(usable.iter().map(|c| c.stats.sharpness).collect(), 0.9).max(1.0);
    let edge_ref = percentile(usable.iter().map(|c| c.stats.edge_density).collect(), 0.9).max(1e-3);
    candidates
        .iter()
        .map(|c| {
            let s = &c.stats;
            if s.reject().is_some() {
                return 0.0;
            }
            // A third as sharp as the video's sharpest frames counts as
            // sharp: beyond that, busy texture should not beat a clear
            // subject on a smooth background.
            let sharp = (s.sharpness / (0.35 * sharp_ref)).min(1.0);
            let detail = (s.edge_density / (0.5 * edge_ref)).min(1.0);
            let contrast = (s.contrast / 0.22).min(1.0);
            let colour = (s.colourfulness / 90.0).min(1.0);
            let exposure = (1.0 - ((s.mean_luma - 0.5).abs() - 0.2).max(0.0) / 0.3).clamp(0.0, 1.0)
                * (1.0 - 2.0 * s.clipped).clamp(0.0, 1.0);
            let entropy = ((s.entropy - 2.0) / 3.5).clamp(0.0, 1.0);
            let mut score = 0.30 * sharp
                + 0.15 * detail
                + 0.15 * contrast
                + 0.10 * colour
                + 0.20 * exposure
                + 0.10 * entropy;
            // Clearly softer than the video's sharp frames: blurred, or
            // caught in a transition.
            if sharp < 0.3 {
                score *= 0.5;
            }
            score.clamp(0.0, 1.0)
        })
        .collect()
}

/// The same picture: same structure and colours.
fn near_duplicate(a: &Candidate, b: &Candidate) -> bool {
    let colour = a
        .colour
        .iter()
        .zip(b.colour.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    distance(a.hash, b.hash) <= 10 && colour < 24.0
}

/// Probably the same shot: the colours sit in the same places and the
/// structure is close (a pan or zoom within one scene).
fn same_shot(a: &Candidate, b: &Candidate) -> bool {
    layout_distance(&a.layout, &b.layout) < 26.0 && distance(a.hash, b.hash) <= 28
}

/// Picks up to `count` candidates, best first: `(index, score)`. No pick
/// is a rejected frame or a near-duplicate of another pick. Picks come from
/// different shots and are kept apart in time while there are enough
/// candidates to allow it; then the best remaining distinct frames fill up.
pub fn rank(candidates: &[Candidate], count: usize, duration_s: f64) -> Vec<(usize, f64)> {
    let scores = scores(candidates);
    let mut order: Vec<usize> = (0..candidates.len()).filter(|&i| scores[i] > 0.0).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let min_gap = if count > 1 {
        duration_s / (count as f64 * 3.0)
    } else {
        0.0
    };
    let mut picks: Vec<usize> = Vec::new();
    for (gap, distinct_shots) in [(min_gap, true), (0.0, false)] {
        for &i in &order {
            if picks.len() >= count {
                break;
            }
            let clash = picks.iter().any(|&p| {
                let (a, b) = (&candidates[p], &candidates[i]);
                p == i
                    || near_duplicate(a, b)
                    || (distinct_shots && same_shot(a, b))
                    || (a.time_s - b.time_s).abs() < gap
            });
            if !clash {
                picks.push(i);
            }
        }
    }
    picks.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    picks.into_iter().map(|i| (i, scores[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(time_s: f64, img: &RgbImage) -> Candidate {
        candidate(time_s, img)
    }

    fn pattern(seed: u32) -> RgbImage {
        RgbImage::from_fn(160, 90, |x, y| {
            let v = (x * (3 + seed) + y * (5 + 2 * seed)) % 255;
            image::Rgb([
                v as u8,
                ((v * 7 + seed * 40) % 255) as u8,
                ((x * y + seed) % 255) as u8,
            ])
        })
    }

    #[test]
    fn black_blurred_and_duplicate_frames_are_not_picked() {
        let black = RgbImage::from_pixel(160, 90, image::Rgb([2, 2, 2]));
        let sharp_a = pattern(1);
        let sharp_b = pattern(7);
        let blurred = image::imageops::blur(&pattern(3), 6.0);
        let cands = vec![
            cand(0.0, &black),
            cand(1.0, &sharp_a),
            cand(2.0, &sharp_a),
            cand(3.0, &blurred),
            cand(4.0, &sharp_b),
            cand(5.0, &black),
        ];
        let picks = rank(&cands, 3, 6.0);
        let times: Vec<f64> = picks.iter().map(|&(i, _)| cands[i].time_s).collect();
        assert!(
            !times.contains(&0.0) && !times.contains(&5.0),
            "black: {times:?}"
        );
        assert!(
            !(times.contains(&1.0) && times.contains(&2.0)),
            "duplicate: {times:?}"
        );
        assert!(times.contains(&4.0), "{times:?}");
        // The blurred frame is only allowed as the last resort.
        if let Some(pos) = times.iter().position(|&t| t == 3.0) {
            assert_eq!(pos, times.len() - 1);
        }
    }

    #[test]
    fn an_all_black_video_yields_no_pick() {
        let black = RgbImage::from_pixel(160, 90, image::Rgb([0, 0, 0]));
        let cands = vec![cand(0.0, &black), cand(1.0, &black)];
        assert!(rank(&cands, 2, 2.0).is_empty());
    }
}
