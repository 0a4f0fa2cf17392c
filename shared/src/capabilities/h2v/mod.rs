//! `VideoH2V` / `ImageH2V`: a landscape picture re-framed to portrait (or
//! any aspect) by a virtual camera that follows the subject.
//!
//! Video runs in two passes. The analysis pass decodes every frame once:
//! a cheap signature of each frame finds the cuts, and frames sampled a
//! few times a second (and the first of every shot) go to the detectors
//! (faces, else the salient object, else motion), each stage on its own
//! thread. Per shot the camera is solved over the whole shot
//! ([`crate::capabilities::h2v::path`]): stationary, panning or smoothly tracking,
//! never cutting the subject. The render pass crops every frame along
//! that path, scales it and encodes H.264 with the source's audio; it runs
//! alongside the analysis and renders each shot as soon as its camera is
//! solved. When the subject cannot fit the new frame (a face wider than
//! the window), the video is padded instead and the result says so.

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod cuts;
pub mod path;
mod track;

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use image::imageops::FilterType;
use image::{GrayImage, RgbImage, RgbaImage};

use super::{Capability, Context, Joined, OutputSink, Passes, Report, Split};
use crate::capabilities::h2v::api::{
    Camera, FillMode, H2vParams, H2vResult, ShotResult, SubjectHint, Window,
};
use crate::capabilities::h2v::cuts::{CutDetector, Signature};
use crate::capabilities::h2v::path::{solve, Target};
use crate::capabilities::h2v::track::Tracker;
use crate::detect::face::FaceDetector;
use crate::detect::saliency::Saliency;
use crate::detect::Rect;
use crate::domain::{ErrorCode, FunctionName, JobError, Span};
use crate::inference::{available_threads, InferenceError, ModelDir};
use crate::media::encode::{VideoCodec, X264Preset};
use crate::media::image_out::{read_still, write_image};
use crate::media::process::{crop_video, transform_video, Crop, Processed};
use crate::media::{MediaError, SamplingMode, VideoReader};

/// Seconds between analysed frames.
const SAMPLE_EVERY_S: f64 = 0.5;
/// Seconds between saliency maps (the costlier model) within a shot.
const SALIENCY_EVERY_S: f64 = 3.0;
/// Seconds a saliency map may wait while the object it found is clearly
/// followed.
const SURE_MAP_EVERY_S: f64 = 6.0;
/// Seconds after a saliency map before an object lost is looked for
/// with another.
const LOST_MAP_AFTER_S: f64 = 1.0;
/// Seconds between searches of the whole frame for faces (in between,
/// faces are looked for where they were).
const FULL_SEARCH_EVERY_S: f64 = 1.5;
/// Seconds within which a face makes the saliency map of a frame without
/// one unnecessary.
const FACE_NEAR_S: f64 = 1.0;
/// Size of the thumbnails that tell whether the picture changed.
const THUMB: (u32, u32) = (32, 18);
/// At most this share of a thumbnail changed: the same picture, whose
/// saliency map need not be computed again.
const SAME_PICTURE_CHANGE: f32 = 0.1;
/// Longest side of the frames the detectors see.
const ANALYSIS_SIDE: u32 = 640;
/// Longest side of the output when no size is asked for.
const DEFAULT_LONG_SIDE: u32 = 1920;
/// Shortest period of motion the camera follows, seconds.
const SMOOTHING_S: f64 = 1.5;

/// The `VideoH2V` / `ImageH2V` capability.
#[derive(Debug, Clone)]
pub struct H2v {
    faces: Arc<FaceDetector>,
    saliency: Arc<Saliency>,
}

impl H2v {
    /// Loads ONNX Runtime and the face and saliency models (cold start).
    ///
    /// # Errors
    /// [`InferenceError`] naming the missing or unusable file.
    pub fn load(models: &ModelDir) -> Result<Self, InferenceError> {
        let threads = available_threads();
        Ok(Self {
            // BlazeFace is too small to share: a second thread makes each
            // 4-ms run no faster and costs half as much CPU again.
            faces: Arc::new(FaceDetector::load(models, 1)?),
            saliency: Arc::new(Saliency::load(models, threads)?),
        })
    }
}

impl Capability for H2v {
    type Params = H2vParams;
    type Output = H2vResult;

    fn function(&self) -> FunctionName {
        FunctionName::VideoH2V
    }

    fn serves(&self, function: FunctionName) -> bool {
        matches!(function, FunctionName::VideoH2V | FunctionName::ImageH2V)
    }

    fn parse(&self, params: &serde_json::Value) -> Result<H2vParams, JobError> {
        H2vParams::try_from(params)
    }

    fn run(
        &self,
        input: &Path,
        params: &H2vParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<H2vResult>, JobError> {
        let (result, note) = match read_still(input, &ctx.limits)? {
            Some(image) => self.image(&image, params, sink)?,
            None => self.video(input, params, sink, ctx)?,
        };
        Ok(report(result, params, note))
    }

    fn split(&self, _params: &H2vParams) -> Split {
        // Rendering carries nothing from frame to frame: the camera is
        // decided first, over the whole video.
        Split::Frames { warm_up_s: 0.0 }
    }

    fn gathers(&self, params: &H2vParams) -> Option<f64> {
        (params.mode == FillMode::Crop && params.decided.is_none()).then_some(GATHER_WARM_UP_S)
    }

    fn read_span(
        &self,
        input: &Path,
        params: &H2vParams,
        ctx: &Context,
    ) -> Result<serde_json::Value, JobError> {
        let info = VideoReader::open(input, &ctx.limits)?.info().clone();
        let slack = 0.5 / info.frame_rate.max(1.0);
        let size = info.display_size();
        let geometry = Geometry::new(size, params);
        let span = ctx
            .span
            .unwrap_or_else(|| Span::new(0.0, f64::INFINITY, 0.0));
        let mut shots = Vec::new();
        self.analyse_shots(input, &geometry, params, ctx, |ShotSeen { shot, seen }| {
            let first = shot.times.first().copied().unwrap_or(0.0);
            // Its first frame is a cut this segment saw, or the video's
            // first frame; else it goes on from the previous segment.
            let cut = (shot.start > 0 || span.warm_s <= 0.0) && first >= span.start_s - slack;
            let owned = |t: f64| span.outputs(t, slack);
            let times: Vec<f64> = shot.times.iter().copied().filter(|&t| owned(t)).collect();
            if !times.is_empty() {
                shots.push(ShotReading {
                    cut,
                    times,
                    seen: seen
                        .iter()
                        .filter(|s| owned(s.time))
                        .map(SeenWire::from)
                        .collect(),
                });
            }
            ControlFlow::Continue(())
        })?;
        serde_json::to_value(Gathered { size, shots }).map_err(|e| {
            JobError::permanent(ErrorCode::InternalError, format!("a segment's shots: {e}"))
        })
    }

    fn settle(
        &self,
        params: &H2vParams,
        readings: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, JobError> {
        let mut size = (0, 0);
        // The shots of the whole video: a segment's first shot goes on
        // from the previous segment's last unless it begins with a cut.
        let mut shots: Vec<(Vec<f64>, Vec<Seen>)> = Vec::new();
        for (i, r) in readings.into_iter().enumerate() {
            let part: Gathered = serde_json::from_value(r).map_err(|e| {
                JobError::permanent(
                    ErrorCode::InternalError,
                    format!("the shots read in segment {i} do not read back: {e}"),
                )
            })?;
            size = part.size;
            for shot in part.shots {
                let seen = shot.seen.into_iter().map(Seen::from);
                match shots.last_mut() {
                    Some((times, all)) if !shot.cut => {
                        times.extend(shot.times);
                        all.extend(seen);
                    }
                    _ => shots.push((shot.times, seen.collect())),
                }
            }
        }
        let geometry = Geometry::new(size, params);
        let mut decided = Decided::default();
        let starts: Vec<Option<f64>> = shots.iter().map(|(t, _)| t.first().copied()).collect();
        for (k, (times, mut seen)) in shots.into_iter().enumerate() {
            for s in &mut seen {
                s.frame = times.partition_point(|&t| t < s.time - 1e-6) as u64;
            }
            let shot = ShotEnd {
                start: 0,
                times,
                next: starts.get(k + 1).copied().flatten(),
                back: 1.0,
            };
            let plan = camera(ShotSeen { shot, seen }, &geometry);
            decided.too_wide = decided.too_wide.or(plan.too_wide);
            decided.times.extend(plan.times);
            decided.starts.extend(plan.path);
            decided.shots.push(plan.result);
        }
        serde_json::to_value(decided)
            .map_err(|e| JobError::permanent(ErrorCode::InternalError, format!("the camera: {e}")))
    }

    fn decided(
        &self,
        params: &H2vParams,
        decision: &serde_json::Value,
    ) -> Result<H2vParams, JobError> {
        let decided: Decided = serde_json::from_value(decision.clone()).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("the camera decided for a split job does not read back: {e}"),
            )
        })?;
        Ok(H2vParams {
            decided: Some(Arc::new(decided)),
            ..params.clone()
        })
    }

    fn part_from_json(
        &self,
        message: String,
        data: serde_json::Value,
    ) -> Result<Report<H2vResult>, JobError> {
        crate::capabilities::matte_out::part_from_json(message, data)
    }

    fn merge(
        &self,
        params: &H2vParams,
        parts: Vec<Report<H2vResult>>,
        joined: &[Joined],
    ) -> Result<Report<H2vResult>, JobError> {
        let (first, video, duration) =
            crate::capabilities::matte_out::joined_video(&parts, joined)?;
        let note = params
            .decided
            .as_ref()
            .and_then(|d| d.too_wide)
            .map(|t| too_wide_note(t, params));
        let result = H2vResult {
            file: video.location.to_string(),
            duration,
            ..first.clone()
        };
        Ok(report(result, params, note))
    }
}

/// Seconds before a segment that its analysis sees: the cut detector's
/// history, so that a cut on its first frame is found.
const GATHER_WARM_UP_S: f64 = 2.0;

/// The camera decided over the whole video for a split job.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Decided {
    /// Every frame's time.
    pub times: Vec<f64>,
    /// Every frame's window start along the long axis (source pixels).
    pub starts: Vec<f32>,
    /// The shots of the result.
    pub shots: Vec<ShotResult>,
    /// When a subject first did not fit the window: the video is padded.
    pub too_wide: Option<f64>,
}

impl Decided {
    /// The window start of the frame at `time`.
    fn start_at(&self, time: f64) -> f32 {
        let i = self.times.partition_point(|&t| t < time - 1e-4);
        self.starts
            .get(i.min(self.starts.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    }
}

/// What a segment's analysis saw, for the camera of the whole video.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Gathered {
    /// The upright frame size.
    size: (u32, u32),
    shots: Vec<ShotReading>,
}

/// A shot, or the part of one, a segment owns.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ShotReading {
    /// Whether it begins with a cut (or the video), not in the middle
    /// of the previous segment's last shot.
    cut: bool,
    /// Every frame's time.
    times: Vec<f64>,
    seen: Vec<SeenWire>,
}

/// [`Seen`] as JSON.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SeenWire {
    time: f64,
    keep: Option<[f32; 4]>,
    focus: Option<(f32, f32)>,
    subject: String,
}

/// Every subject a frame may show.
const SUBJECTS: [&str; 5] = ["face", "faces", "salient", "motion", "centre"];

impl From<&Seen> for SeenWire {
    fn from(s: &Seen) -> Self {
        Self {
            time: s.time,
            keep: s.keep.map(|r| [r.x, r.y, r.w, r.h]),
            focus: s.focus,
            subject: s.subject.to_owned(),
        }
    }
}

impl From<SeenWire> for Seen {
    fn from(s: SeenWire) -> Self {
        Self {
            time: s.time,
            frame: 0,
            keep: s.keep.map(|[x, y, w, h]| Rect { x, y, w, h }),
            focus: s.focus,
            subject: SUBJECTS
                .into_iter()
                .find(|k| *k == s.subject)
                .unwrap_or("centre"),
            faces: None,
        }
    }
}

/// What a padded video says about a subject too wide for the window.
fn too_wide_note(t: f64, params: &H2vParams) -> String {
    format!(
        "the subject at {t:.1} s is wider than a {}:{} window, so the whole picture is padded instead of cropped",
        params.aspect.0, params.aspect.1
    )
}

/// The job's message for its result.
fn report(result: H2vResult, params: &H2vParams, note: Option<String>) -> Report<H2vResult> {
    let followed: Vec<&str> = {
        let mut names: Vec<&str> = result.shots.iter().map(|s| s.subject.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    };
    let message = format!(
        "{} {}x{} ({}:{}), {} shot{}, following {}{}",
        match result.mode {
            FillMode::Crop => "cropped to",
            FillMode::Pad => "padded to",
        },
        result.width,
        result.height,
        params.aspect.0,
        params.aspect.1,
        result.shots.len(),
        if result.shots.len() == 1 { "" } else { "s" },
        followed.join(", "),
        note.map(|n| format!("; {n}")).unwrap_or_default()
    );
    Report { message, result }
}

/// The crop window's size in the source and the output size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Upright source size.
    pub source: (u32, u32),
    /// Crop window size in the source.
    pub window: (u32, u32),
    /// Output size.
    pub output: (u32, u32),
}

/// What the camera does over a whole video.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Sizes.
    pub geometry: Geometry,
    /// Every frame's time.
    pub times: Vec<f64>,
    /// Every frame's window start along the moving axis.
    pub path: Vec<f32>,
    /// Per shot, as the result reports it.
    pub shots: Vec<ShotResult>,
    /// When the subject first did not fit the window, if ever.
    pub too_wide: Option<f64>,
}

impl Plan {
    /// The window of frame `index`.
    pub fn window(&self, index: usize) -> Window {
        let start = self
            .path
            .get(index)
            .or(self.path.last())
            .copied()
            .unwrap_or(0.0);
        let time = self.times.get(index).copied().unwrap_or(0.0);
        self.geometry.window_at(start, time)
    }
}

impl Geometry {
    /// The window and output sizes for a `source`-sized picture.
    pub fn new(source: (u32, u32), params: &H2vParams) -> Self {
        let (sw, sh) = source;
        let (aw, ah) = match (params.width, params.height) {
            (Some(w), Some(h)) => (w, h),
            _ => params.aspect,
        };
        let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
        let target = f64::from(aw) / f64::from(ah);
        let source_ratio = f64::from(sw) / f64::from(sh);
        let window = if (source_ratio / target - 1.0).abs() < 0.01 {
            (sw, sh)
        } else if source_ratio > target {
            (even(f64::from(sh) * target).min(sw), sh)
        } else {
            (sw, even(f64::from(sw) / target).min(sh))
        };
        let output = match (params.width, params.height) {
            (Some(w), Some(h)) => (w, h),
            (Some(w), None) => (w, even(f64::from(w) / target)),
            (None, Some(h)) => (even(f64::from(h) * target), h),
            (None, None) => {
                let long = window.0.max(window.1);
                let scale = (f64::from(DEFAULT_LONG_SIDE) / f64::from(long)).min(1.0);
                (
                    even(f64::from(window.0) * scale),
                    even(f64::from(window.1) * scale),
                )
            }
        };
        Self {
            source,
            window,
            output,
        }
    }

    /// The same window in a copy of the source scaled to `size` (for
    /// deciding what fits at analysis size).
    fn scaled_to(&self, size: (u32, u32)) -> Self {
        let f = size.0 as f32 / self.source.0.max(1) as f32;
        let scale = |v: u32| ((v as f32 * f).round() as u32).max(1);
        Self {
            source: size,
            window: (scale(self.window.0), scale(self.window.1)),
            output: self.output,
        }
    }

    /// Whether the window moves left-right (else up-down).
    fn horizontal(&self) -> bool {
        self.window.0 < self.source.0
    }

    /// The window's extent and the source's along the moving axis.
    fn extent(&self) -> (f32, f32) {
        if self.horizontal() {
            (self.window.0 as f32, self.source.0 as f32)
        } else {
            (self.window.1 as f32, self.source.1 as f32)
        }
    }

    /// The window at `start` along the moving axis.
    /// The window whose start along the moving axis is `start`.
    pub fn window_at(&self, start: f32, time: f64) -> Window {
        let (extent, total) = self.extent();
        let s = start.clamp(0.0, (total - extent).max(0.0)).round() as u32;
        let (x, y) = if self.horizontal() { (s, 0) } else { (0, s) };
        Window {
            time: (time * 1000.0).round() / 1000.0,
            x,
            y,
            width: self.window.0,
            height: self.window.1,
        }
    }
}

/// What one analysed frame shows.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    time: f64,
    frame: u64,
    /// Boxes that must stay in frame (source pixels).
    keep: Option<Rect>,
    /// Where the window should be centred (source pixels, both axes).
    focus: Option<(f32, f32)>,
    subject: &'static str,
    /// The faces seen, together (detector pixels), to look near next time.
    faces: Option<Rect>,
}

/// The subject of a frame, from faces: everyone when the group fits the
/// window, else the most prominent face (the one followed before, when
/// it is still there).
fn from_faces(faces: &[Rect], geometry: &Geometry, previous: Option<(f32, f32)>) -> Option<Seen> {
    if faces.is_empty() {
        return None;
    }
    // Hair above, chin and shoulders below, ears on the sides.
    let grow = |r: &Rect| Rect {
        x: r.x - 0.35 * r.w,
        y: r.y - 0.45 * r.h,
        w: 1.7 * r.w,
        h: 1.75 * r.h,
    };
    let (extent, _) = geometry.extent();
    let along = |r: &Rect| if geometry.horizontal() { r.w } else { r.h };
    let group = faces
        .iter()
        .map(grow)
        .reduce(|a, b| a.union(&b))
        .filter(|g| along(g) <= extent);
    if let Some(g) = group {
        return Some(Seen {
            time: 0.0,
            frame: 0,
            keep: Some(g),
            focus: Some(g.centre()),
            subject: if faces.len() == 1 { "face" } else { "faces" },
            faces: None,
        });
    }
    let prominence = |r: &Rect| {
        let near = previous.map_or(1.0, |(px, py)| {
            let (cx, cy) = r.centre();
            let d = ((cx - px).powi(2) + (cy - py).powi(2)).sqrt();
            if d < 1.5 * r.w {
                2.0
            } else {
                1.0
            }
        });
        r.area() * near
    };
    let main = faces
        .iter()
        .max_by(|a, b| prominence(a).total_cmp(&prominence(b)))?;
    let grown = grow(main);
    Some(Seen {
        time: 0.0,
        frame: 0,
        keep: Some(if along(&grown) <= extent {
            grown
        } else {
            *main
        }),
        focus: Some(main.centre()),
        subject: "face",
        faces: None,
    })
}

/// A sampled frame at analysis size.
struct Sample {
    index: usize,
    time: f64,
    small: RgbImage,
    shot_start: bool,
}

/// A sampled frame without a face, waiting for its saliency map: faces
/// come first, so the map is computed only when no face shows up soon
/// after either.
struct Pending {
    sample: Sample,
    thumb: GrayImage,
}

/// What the detectors remember from one sample to the next within a shot.
#[derive(Default)]
struct Follower {
    /// The whole frame is searched now and then; in between, faces are
    /// followed where they were.
    next_full: f64,
    near: Option<Rect>,
    /// When a face was last seen in the shot (or the shot began).
    last_face: f64,
    previous_focus: Option<(f32, f32)>,
    previous_gray: Option<GrayImage>,
    pending: Vec<Pending>,
}

impl Follower {
    /// What `sample` shows (boxes in analysis pixels), and the earlier
    /// samples that waited long enough for a face to want their saliency
    /// map now (`maps`).
    fn see(
        &mut self,
        reframe: &H2v,
        sample: Sample,
        geometry: &Geometry,
        hint: SubjectHint,
        maps: &mut Vec<Pending>,
    ) -> Result<Option<Seen>, JobError> {
        if sample.shot_start {
            self.finish(maps);
            *self = Self {
                next_full: sample.time,
                last_face: sample.time,
                ..Self::default()
            };
        }
        let mut seen = None;
        let gray = image::DynamicImage::ImageRgb8(sample.small.clone()).to_luma8();
        let motion = self.previous_gray.as_ref().map(|p| difference(p, &gray));
        let full_search = sample.time + 1e-6 >= self.next_full;
        // Long without a face, faces are looked for at the full searches
        // only (the salient object is followed in between).
        let faces_due = hint == SubjectHint::Face
            || full_search
            || self.near.is_some()
            || sample.time - self.last_face < FULL_SEARCH_EVERY_S - 1e-6;
        let look = Look {
            small: &sample.small,
            scale: 1.0,
            previous: self.previous_focus,
            saliency_due: false,
            motion: motion.as_ref(),
            full_search,
            faces_due,
            near: self.near,
        };
        let found = reframe.detect(&look, &geometry.scaled_to(sample.small.dimensions()), hint)?;
        if full_search {
            // Twice as far apart in a shot long without a face.
            let faceless = sample.time - self.last_face >= 2.0 * FULL_SEARCH_EVERY_S - 1e-6;
            self.next_full = sample.time + FULL_SEARCH_EVERY_S * if faceless { 2.0 } else { 1.0 };
        }
        self.near = found.as_ref().and_then(|s| s.faces);
        let now = sample.time;
        match found {
            Some(mut s) => {
                if s.faces.is_some() {
                    self.pending.retain(|p| p.sample.time < now - FACE_NEAR_S);
                    self.last_face = now;
                }
                s.time = now;
                s.frame = sample.index as u64;
                self.previous_focus = s.focus;
                seen = Some(s);
            }
            None if matches!(hint, SubjectHint::Auto | SubjectHint::Person) => {
                // Nothing stands out in a flat picture (black, a fade).
                let thumb = image::imageops::resize(&gray, THUMB.0, THUMB.1, FilterType::Triangle);
                if !is_flat(&thumb) {
                    self.pending.push(Pending { sample, thumb });
                }
            }
            None => {}
        }
        self.previous_gray = Some(gray);
        // Samples that waited long enough without a face get their map.
        let ready = self
            .pending
            .iter()
            .take_while(|p| p.sample.time < now - FACE_NEAR_S - 1e-6)
            .count();
        maps.extend(self.pending.drain(..ready));
        Ok(seen)
    }

    /// The samples still waiting for their map (at the end of a shot).
    fn finish(&mut self, maps: &mut Vec<Pending>) {
        maps.append(&mut self.pending);
    }
}

/// The salient object of the samples without a face, on a thread of its
/// own while the faces of later samples are looked for: a saliency map
/// now and then, and in between the object it found is followed from
/// sample to sample ([`Tracker`]).
#[derive(Default)]
struct Mapper {
    /// The last map's frame in this shot (a thumbnail) and what it showed,
    /// while nothing is followed: while the picture stays the same, so
    /// does the answer.
    last: Option<(GrayImage, Option<Seen>)>,
    tracker: Option<Tracker>,
    /// When the next map is due, and when the last one was made.
    next_map: f64,
    last_map: f64,
    /// Maps in a row whose salient object was not the one followed.
    elsewhere: u32,
}

impl Mapper {
    /// The salient object of a waiting sample.
    fn map(
        &mut self,
        reframe: &H2v,
        Pending { sample, thumb }: Pending,
        geometry: &Geometry,
    ) -> Result<Option<Seen>, JobError> {
        let now = sample.time;
        let geometry = geometry.scaled_to(sample.small.dimensions());
        let mut sure = false;
        let followed = self.tracker.as_mut().and_then(|t| {
            let (rect, score) = t.follow(&sample.small, now);
            sure = score >= track::SURE_SCORE;
            (score >= track::MIN_SCORE).then_some(rect)
        });
        let lost = self.tracker.is_some() && followed.is_none();
        if lost {
            self.tracker = None;
        }
        let at = |seen: Seen| Seen {
            time: now,
            frame: sample.index as u64,
            ..seen
        };
        // A map is due now and then, but waits while the object followed
        // is clearly matched.
        let due =
            now + 1e-6 >= self.next_map && !(sure && now - self.last_map < SURE_MAP_EVERY_S - 1e-6);
        // A lost object is looked for again at once, unless a map was
        // just made (a scene where nothing can be followed costs a map a
        // second at most).
        let look_again = lost && now - self.last_map >= LOST_MAP_AFTER_S - 1e-6;
        if !due && !look_again {
            return Ok(followed.map(|r| at(salient_seen(r, &geometry))));
        }
        self.next_map = now + SALIENCY_EVERY_S;
        self.last_map = now;
        if followed.is_none() {
            let unchanged = self
                .last
                .as_ref()
                .filter(|(before, _)| changed_share(before, &thumb) <= SAME_PICTURE_CHANGE);
            if let Some((_, before)) = unchanged {
                return Ok(before.clone().map(at));
            }
        }
        let map = reframe.saliency.map(&sample.small).map_err(inference)?;
        let blobs = map.blobs(SALIENT);
        let overlaps = |b: &Rect| followed.is_some_and(|r| b.iou(&r) > 0.0);
        let touched = blobs.iter().any(|(b, _)| overlaps(b));
        // The object followed, as the map outlines it now (not a part of
        // it that happens to stand out more).
        let outlined = followed.and_then(|r| {
            blobs
                .iter()
                .find(|(b, _)| overlaps(b) && b.area() >= 0.7 * r.area())
                .map(|(b, _)| *b)
        });
        let chosen = match followed {
            Some(_) if outlined.is_some() => {
                self.elsewhere = 0;
                outlined
            }
            // The map stands out elsewhere while the object followed is
            // clearly still there: a flicker, unless it stays.
            Some(r) if sure && (self.elsewhere == 0 || touched) => {
                self.elsewhere = if touched { 0 } else { self.elsewhere + 1 };
                return Ok(Some(at(salient_seen(r, &geometry))));
            }
            _ => {
                self.elsewhere = 0;
                main_blob(&blobs)
            }
        };
        let found = chosen.map(|region| salient_seen(region, &geometry));
        // Something wider than the window is scenery, not a subject to
        // follow.
        self.tracker = found
            .as_ref()
            .and_then(|f| f.keep)
            .and_then(|region| Tracker::new(&sample.small, region, now, |x, y| map.at(x, y)));
        self.last = self.tracker.is_none().then(|| (thumb, found.clone()));
        Ok(found.map(at))
    }
}

/// Values at least this share of the saliency map's peak are salient.
const SALIENT: f32 = 0.5;

/// The salient object of a map's blobs: the largest, when what stands out
/// holds most of the map's mass.
fn main_blob(blobs: &[(Rect, f32)]) -> Option<Rect> {
    let standing_out: f32 = blobs.iter().map(|b| b.1).sum();
    (standing_out > 0.5)
        .then(|| blobs.first().map(|b| b.0))
        .flatten()
}

/// A salient object at `region` (analysis pixels).
fn salient_seen(region: Rect, geometry: &Geometry) -> Seen {
    let (extent, _) = geometry.extent();
    Seen {
        time: 0.0,
        frame: 0,
        keep: (along(&region, geometry) <= extent).then_some(region),
        focus: Some(region.centre()),
        subject: "salient",
        faces: None,
    }
}

/// From the decoding thread to the face detector.
enum Decoded {
    Sample(Sample),
    /// The end of the shot that began at frame `start`.
    ShotEnd(ShotEnd),
}

/// One shot's frames, passed down the analysis threads behind its samples.
struct ShotEnd {
    /// Index of the shot's first frame in the video.
    start: usize,
    /// Every frame's time.
    times: Vec<f64>,
    /// The next shot's first frame time (`None` for the last shot).
    next: Option<f64>,
    /// Analysis pixels → source pixels.
    back: f32,
}

/// From the face detector to the saliency thread.
enum Waiting {
    Map(Pending),
    /// A shot's end and what its faces (and motion) showed.
    ShotEnd(ShotEnd, Vec<Seen>),
}

/// One analysed shot (boxes in source pixels), in order.
struct ShotSeen {
    shot: ShotEnd,
    seen: Vec<Seen>,
}

/// The camera path as far as it is solved, shared with the renderer.
#[derive(Default)]
struct SolvedPath {
    /// Window starts of the frames solved so far, and whether that is all.
    state: Mutex<(Vec<f32>, bool)>,
    more: Condvar,
}

impl SolvedPath {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<f32>, bool)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next shot's window starts.
    fn extend(&self, path: &[f32]) {
        self.lock().0.extend_from_slice(path);
        self.more.notify_all();
    }

    /// No more shots: frames past the end keep the last window.
    fn finish(&self) {
        self.lock().1 = true;
        self.more.notify_all();
    }

    /// Frame `index`'s window start, once its shot is solved.
    fn at(&self, index: usize) -> f32 {
        let mut state = self.lock();
        while state.0.len() <= index && !state.1 {
            state = self
                .more
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state
            .0
            .get(index)
            .or(state.0.last())
            .copied()
            .unwrap_or(0.0)
    }
}

/// One shot's camera, ready to render.
struct ShotPlan {
    times: Vec<f64>,
    path: Vec<f32>,
    result: ShotResult,
    /// When the subject first did not fit the window in this shot.
    too_wide: Option<f64>,
}

/// One analysed frame, as the detectors get it.
struct Look<'a> {
    /// The frame at analysis size.
    small: &'a RgbImage,
    /// Analysis pixels → source pixels.
    scale: f32,
    /// The focus of the previous analysed frame of the shot.
    previous: Option<(f32, f32)>,
    /// Whether a saliency map may be computed for this frame.
    saliency_due: bool,
    /// Change since the previous analysed frame.
    motion: Option<&'a GrayImage>,
    /// Whether the whole frame is searched for faces, small ones too
    /// (tiles of a wide frame); else around `near` when given, and the
    /// whole frame for large faces only.
    full_search: bool,
    /// Whether faces are looked for at all.
    faces_due: bool,
    /// Where faces were at the previous analysed frame (detector pixels).
    near: Option<Rect>,
}

impl H2v {
    /// Faces in the `side`-pixel square of `small` centred (as far as the
    /// frame allows) on `centre`, zoomed to the detector's input.
    fn faces_around(
        &self,
        small: &RgbImage,
        (cx, cy): (f32, f32),
        side: u32,
    ) -> Result<Vec<Rect>, JobError> {
        let side = side.min(small.width()).min(small.height()).max(1);
        let x = ((cx - side as f32 / 2.0).max(0.0) as u32).min(small.width() - side);
        let y = ((cy - side as f32 / 2.0).max(0.0) as u32).min(small.height() - side);
        let zoom = image::imageops::crop_imm(small, x, y, side, side).to_image();
        Ok(self
            .faces
            .detect_with(&zoom, false)
            .map_err(inference)?
            .into_iter()
            .map(|f| Rect {
                x: f.rect.x + x as f32,
                y: f.rect.y + y as f32,
                ..f.rect
            })
            .collect())
    }

    /// The salient object of `small` (boxes scaled by `scale`), when one
    /// stands out.
    fn salient(
        &self,
        small: &RgbImage,
        scale: f32,
        geometry: &Geometry,
    ) -> Result<Option<Seen>, JobError> {
        let map = self.saliency.map(small).map_err(inference)?;
        Ok(main_blob(&map.blobs(SALIENT))
            .map(|region| salient_seen(region.scaled(scale, scale), geometry)))
    }

    fn detect(
        &self,
        look: &Look<'_>,
        geometry: &Geometry,
        hint: SubjectHint,
    ) -> Result<Option<Seen>, JobError> {
        let Look {
            small,
            scale,
            previous,
            saliency_due,
            motion,
            full_search,
            faces_due,
            near,
        } = *look;
        let to_source = |r: Rect| r.scaled(scale, scale);
        let found = |faces: Vec<Rect>| {
            let together = faces.iter().copied().reduce(|a, b| a.union(&b));
            let faces: Vec<Rect> = faces.into_iter().map(to_source).collect();
            from_faces(&faces, geometry, previous).map(|s| Seen {
                faces: together,
                ..s
            })
        };
        if matches!(hint, SubjectHint::Auto | SubjectHint::Face) && faces_due {
            // Between full searches, faces are looked for where they were,
            // zoomed in: one small run instead of the whole frame and tiles.
            if let (Some(near), false) = (near, full_search) {
                let side = (near.w.max(near.h) * 5.0)
                    .clamp(96.0, small.width().min(small.height()) as f32)
                    as u32;
                if let Some(seen) = found(self.faces_around(small, near.centre(), side)?) {
                    return Ok(Some(seen));
                }
            }
            // Tiles too when due, or when the face followed was lost.
            let faces: Vec<Rect> = self
                .faces
                .detect_with(small, full_search || near.is_some())
                .map_err(inference)?
                .into_iter()
                .map(|f| f.rect)
                .collect();
            if let Some(seen) = found(faces) {
                return Ok(Some(seen));
            }
            // Something small moving over a still background may be a
            // far-away person: look again, zoomed in where it moves.
            let compact = motion
                .and_then(|m| motion_blob(m, small))
                .filter(|&(_, _, spread)| spread < 0.1 * small.width().max(small.height()) as f32);
            if let Some((mx, my, _)) = compact {
                let side = (small.width().min(small.height()) / 2).max(16);
                if let Some(seen) = found(self.faces_around(small, (mx, my), side)?) {
                    return Ok(Some(seen));
                }
            }
        }
        if matches!(hint, SubjectHint::Auto | SubjectHint::Person) && saliency_due {
            if let Some(seen) = self.salient(small, scale, geometry)? {
                return Ok(Some(seen));
            }
        }
        if hint == SubjectHint::Motion {
            if let Some(focus) = motion.and_then(|m| motion_centre(m, small)) {
                return Ok(Some(Seen {
                    time: 0.0,
                    frame: 0,
                    keep: None,
                    focus: Some((focus.0 * scale, focus.1 * scale)),
                    subject: "motion",
                    faces: None,
                }));
            }
        }
        Ok(None)
    }

    /// Analyses `input` shot by shot, in a pipeline of threads: one
    /// decodes every frame (signatures, cuts, small copies of the sampled
    /// frames), one looks for faces, one computes saliency maps, and this
    /// one solves each shot's camera as soon as the shot is analysed and
    /// hands it to `on_shot` (which may stop the analysis).
    fn analyse(
        &self,
        input: &Path,
        geometry: &Geometry,
        params: &H2vParams,
        ctx: &Context,
        mut on_shot: impl FnMut(ShotPlan) -> ControlFlow<()>,
    ) -> Result<(), JobError> {
        self.analyse_shots(input, geometry, params, ctx, |shot| {
            on_shot(camera(shot, geometry))
        })
    }

    /// [`Self::analyse`] up to what each shot showed, before its camera
    /// is solved (over [`Context::span`] and its warm-up, for a segment).
    fn analyse_shots(
        &self,
        input: &Path,
        geometry: &Geometry,
        params: &H2vParams,
        ctx: &Context,
        mut on_shot: impl FnMut(ShotSeen) -> ControlFlow<()>,
    ) -> Result<(), JobError> {
        let (to_detect, samples) = std::sync::mpsc::sync_channel::<Decoded>(4);
        let (to_map, waiting) = std::sync::mpsc::sync_channel::<Waiting>(8);
        let (to_plan, analysed) = std::sync::mpsc::sync_channel::<ShotSeen>(2);
        std::thread::scope(|scope| {
            let decoding = scope.spawn(move || self.decode_samples(input, ctx, &to_detect));
            let detecting = scope.spawn(move || -> Result<(), JobError> {
                let mut follower = Follower::default();
                let (mut seen, mut maps) = (Vec::new(), Vec::new());
                for decoded in samples.iter() {
                    let end = match decoded {
                        Decoded::Sample(sample) => {
                            seen.extend(follower.see(
                                self,
                                sample,
                                geometry,
                                params.subject,
                                &mut maps,
                            )?);
                            None
                        }
                        Decoded::ShotEnd(end) => {
                            follower.finish(&mut maps);
                            Some(end)
                        }
                    };
                    // A closed channel: a later stage stopped.
                    let mut sent = maps.drain(..).all(|p| to_map.send(Waiting::Map(p)).is_ok());
                    if let Some(end) = end {
                        let found = std::mem::take(&mut seen);
                        sent = sent && to_map.send(Waiting::ShotEnd(end, found)).is_ok();
                    }
                    if !sent {
                        break;
                    }
                }
                Ok(())
            });
            let mapping = scope.spawn(move || -> Result<(), JobError> {
                let mut mapper = Mapper::default();
                let mut mapped = Vec::new();
                for waiting in waiting.iter() {
                    match waiting {
                        Waiting::Map(pending) => {
                            mapped.extend(mapper.map(self, pending, geometry)?);
                        }
                        Waiting::ShotEnd(shot, mut seen) => {
                            mapper = Mapper::default();
                            seen.append(&mut mapped);
                            seen.sort_by(|a, b| a.time.total_cmp(&b.time));
                            let back = shot.back;
                            for s in &mut seen {
                                s.keep = s.keep.map(|r| r.scaled(back, back));
                                s.focus = s.focus.map(|(x, y)| (x * back, y * back));
                            }
                            if to_plan.send(ShotSeen { shot, seen }).is_err() {
                                break;
                            }
                        }
                    }
                }
                Ok(())
            });
            let mut shots = 0;
            for shot in analysed.iter() {
                shots += 1;
                if on_shot(shot).is_break() {
                    break;
                }
            }
            // Stops the threads still running when `on_shot` stopped early.
            drop(analysed);
            let panicked = |stage: &str| {
                JobError::permanent(
                    ErrorCode::InternalError,
                    format!("the {stage} thread panicked"),
                )
            };
            // The first stage that failed has the reason; the later ones
            // only saw their input end.
            decoding
                .join()
                .map_err(|_| panicked("decoding"))?
                .map_err(JobError::from)?;
            detecting.join().map_err(|_| panicked("face detection"))??;
            mapping.join().map_err(|_| panicked("saliency"))??;
            if shots == 0 {
                return Err(JobError::permanent(
                    ErrorCode::InvalidMedia,
                    "no frame decoded",
                ));
            }
            Ok(())
        })
    }

    /// The decoding stage of [`Self::analyse`]: samples a few times a
    /// second and at every cut, and the end of every shot.
    fn decode_samples(
        &self,
        input: &Path,
        ctx: &Context,
        to_detect: &std::sync::mpsc::SyncSender<Decoded>,
    ) -> Result<(), MediaError> {
        let mut reader = VideoReader::open(input, &ctx.limits)?;
        reader.skip_deblocking();
        let info = reader.info().clone();
        let (dw, dh) = info.display_size();
        let scale = (ANALYSIS_SIDE as f32 / dw.max(dh) as f32).min(1.0);
        let small_display = (
            ((dw as f32 * scale).round() as u32).max(2),
            ((dh as f32 * scale).round() as u32).max(2),
        );
        let small_coded = if info.rotation.swaps_axes() {
            (small_display.1, small_display.0)
        } else {
            small_display
        };
        let back = dw as f32 / small_display.0 as f32;
        let mut cuts_found = CutDetector::new();
        let (mut index, mut start, mut times) = (0usize, 0usize, Vec::new());
        let mut next_sample = 0.0;
        let mut stopped = false;
        let (from_s, until_s) = ctx
            .span
            .map_or((0.0, f64::INFINITY), |s| (s.warm_s, s.end_s));
        reader.for_each_frame_between(from_s, until_s, SamplingMode::All, |reader, f| {
            if ctx.cancelled() {
                return Err(MediaError::Cancelled);
            }
            if info.duration_s > 0.0 {
                ctx.progress.update(f.time_s / info.duration_s);
            }
            let frame = f.frame;
            let cut = cuts_found.push(Signature::of_luma(
                frame.data(0),
                frame.width() as usize,
                frame.height() as usize,
                frame.stride(0),
            ));
            let this = index;
            index += 1;
            if cut && !times.is_empty() {
                let end = ShotEnd {
                    start,
                    times: std::mem::take(&mut times),
                    next: Some(f.time_s),
                    back,
                };
                if to_detect.send(Decoded::ShotEnd(end)).is_err() {
                    stopped = true;
                    return Ok(ControlFlow::Break(()));
                }
            }
            if cut {
                start = this;
                next_sample = f.time_s;
            }
            times.push(f.time_s);
            if f.time_s + 1e-6 < next_sample {
                return Ok(ControlFlow::Continue(()));
            }
            next_sample = f.time_s + SAMPLE_EVERY_S;
            let small = info
                .rotation
                .apply(reader.to_rgb(frame, small_coded.0, small_coded.1)?);
            let sample = Sample {
                index: this,
                time: f.time_s,
                small,
                shot_start: cut || this == 0,
            };
            Ok(if to_detect.send(Decoded::Sample(sample)).is_err() {
                stopped = true;
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        if !stopped && !times.is_empty() {
            // A closed channel here only means a later stage stopped.
            let _ = to_detect.send(Decoded::ShotEnd(ShotEnd {
                start,
                times,
                next: None,
                back,
            }));
        }
        Ok(())
    }

    /// The analysis pass and the camera: the window for every frame of
    /// `input`, per shot, without rendering anything.
    ///
    /// # Errors
    /// Media errors and inference failures.
    pub fn plan(&self, input: &Path, params: &H2vParams, ctx: &Context) -> Result<Plan, JobError> {
        let info = VideoReader::open(input, &ctx.limits)?.info().clone();
        let geometry = Geometry::new(info.display_size(), params);
        let mut plan = Plan {
            geometry,
            times: Vec::new(),
            path: Vec::new(),
            shots: Vec::new(),
            too_wide: None,
        };
        self.analyse(input, &geometry, params, ctx, |shot| {
            plan.times.extend(shot.times);
            plan.path.extend(shot.path);
            plan.shots.push(shot.result);
            plan.too_wide = plan.too_wide.or(shot.too_wide);
            ControlFlow::Continue(())
        })?;
        Ok(plan)
    }

    /// Crops the video along the camera, rendering each shot as soon as
    /// its analysis is done (the renderer waits for frames whose camera is
    /// not solved yet); pads it instead when asked, or when a subject
    /// turns out wider than the window.
    fn video(
        &self,
        input: &Path,
        params: &H2vParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<(H2vResult, Option<String>), JobError> {
        let info = VideoReader::open(input, &ctx.limits)?.info().clone();
        let geometry = Geometry::new(info.display_size(), params);
        let codec = VideoCodec::H264 {
            crf: params.crf,
            preset: X264Preset::Veryfast,
        };
        let file = sink.plan("h2v", codec.extension(), codec.content_type(), false)?;
        let result = |done: Processed, mode, shots| H2vResult {
            file: file.location.to_string(),
            width: done.width,
            height: done.height,
            mode,
            duration: round3(done.duration_s),
            shots,
        };
        // Padding shows the whole picture: nothing to follow, no analysis.
        let whole = || {
            vec![ShotResult {
                start: 0.0,
                end: round3(info.duration_s),
                camera: Camera::Stationary,
                subject: "whole picture".to_owned(),
                keyframes: Vec::new(),
            }]
        };
        if params.mode == FillMode::Pad {
            let done = self.pad_video(input, &file.local, codec, geometry.output, ctx)?;
            return Ok((result(done, FillMode::Pad, whole()), None));
        }
        if let Some(decided) = params.decided.clone() {
            // The camera was decided over the whole video: render only.
            if let Some(t) = decided.too_wide {
                let done = self.pad_video(input, &file.local, codec, geometry.output, ctx)?;
                let note = too_wide_note(t, params);
                return Ok((result(done, FillMode::Pad, whole()), Some(note)));
            }
            let (from, until) = ctx.span.map_or((0.0, info.duration_s), |s| {
                (s.start_s, s.end_s.min(info.duration_s))
            });
            let done = crop_video(
                input,
                &file.local,
                codec,
                &ctx.limits,
                &ctx.cancel,
                Crop {
                    window: geometry.window,
                    output: geometry.output,
                    position: |_, time: f64| {
                        ctx.progress
                            .update((time - from) / (until - from).max(1e-3));
                        let w = geometry.window_at(decided.start_at(time), 0.0);
                        (w.x, w.y)
                    },
                    span: ctx.span,
                },
            )?;
            return Ok((result(done, FillMode::Crop, decided.shots.clone()), None));
        }
        // Two passes over every frame, side by side: the analysis (which
        // reports media time) and the render (which counts frames).
        let frames = Passes::frames(info.duration_s, info.frame_rate);
        let passes = Arc::new(Passes::new(ctx.progress.clone(), &[frames, frames]));
        let analysis_ctx = Context {
            progress: passes.pass(0),
            ..ctx.clone()
        };
        let solved = SolvedPath::default();
        let stop = AtomicBool::new(false);
        let (mut shots, mut too_wide) = (Vec::new(), None);
        let (analysed, rendered) = std::thread::scope(|scope| {
            let rendering = scope.spawn(|| {
                crop_video(
                    input,
                    &file.local,
                    codec,
                    &ctx.limits,
                    &stop,
                    Crop {
                        window: geometry.window,
                        output: geometry.output,
                        span: None,
                        position: |index: u64, _| {
                            if ctx.cancelled() {
                                stop.store(true, Ordering::Relaxed);
                            }
                            passes.set(1, index + 1);
                            let w = geometry.window_at(solved.at(index as usize), 0.0);
                            (w.x, w.y)
                        },
                    },
                )
            });
            // A panic here must still release the renderer (below), or the
            // scope would wait for it forever.
            let analysed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.analyse(input, &geometry, params, &analysis_ctx, |shot| {
                    if shot.too_wide.is_some() {
                        too_wide = shot.too_wide;
                        return ControlFlow::Break(());
                    }
                    solved.extend(&shot.path);
                    shots.push(shot.result);
                    ControlFlow::Continue(())
                })
            }))
            .unwrap_or_else(|_| {
                Err(JobError::permanent(
                    ErrorCode::InternalError,
                    "the analysis panicked",
                ))
            });
            if analysed.is_err() || too_wide.is_some() {
                stop.store(true, Ordering::Relaxed);
            }
            solved.finish();
            (analysed, rendering.join())
        });
        analysed?;
        if let Some(t) = too_wide {
            let note = too_wide_note(t, params);
            let done = self.pad_video(input, &file.local, codec, geometry.output, ctx)?;
            return Ok((result(done, FillMode::Pad, whole()), Some(note)));
        }
        let done = rendered.map_err(|_| {
            JobError::permanent(ErrorCode::InternalError, "the rendering thread panicked")
        })??;
        Ok((result(done, FillMode::Crop, shots), None))
    }

    /// The whole picture in the output frame over a blurred, scaled copy.
    fn pad_video(
        &self,
        input: &Path,
        output_path: &Path,
        codec: VideoCodec,
        output: (u32, u32),
        ctx: &Context,
    ) -> Result<Processed, JobError> {
        let info = VideoReader::open(input, &ctx.limits)?.info().clone();
        let progress = Passes::new(
            ctx.progress.clone(),
            &[Passes::frames(info.duration_s, info.frame_rate)],
        );
        Ok(transform_video(
            input,
            output_path,
            codec,
            &ctx.limits,
            &ctx.cancel,
            ctx.span,
            |frame, _, index| {
                progress.set(0, index + 1);
                Ok(rgba(&pad(&frame, output)))
            },
        )?)
    }

    fn image(
        &self,
        image: &RgbImage,
        params: &H2vParams,
        sink: &mut OutputSink,
    ) -> Result<(H2vResult, Option<String>), JobError> {
        let geometry = Geometry::new(image.dimensions(), params);
        let (dw, dh) = image.dimensions();
        let scale = (ANALYSIS_SIDE as f32 / dw.max(dh) as f32).min(1.0);
        let small = image::imageops::resize(
            image,
            ((dw as f32 * scale).round() as u32).max(2),
            ((dh as f32 * scale).round() as u32).max(2),
            FilterType::Triangle,
        );
        let back = dw as f32 / small.width() as f32;
        let hint = if params.subject == SubjectHint::Motion {
            SubjectHint::Auto
        } else {
            params.subject
        };
        let look = Look {
            small: &small,
            scale: back,
            previous: None,
            saliency_due: true,
            motion: None,
            full_search: true,
            faces_due: true,
            near: None,
        };
        let seen = self.detect(&look, &geometry, hint)?;
        let (extent, total) = geometry.extent();
        let range = (0.0, (total - extent).max(0.0));
        let too_wide = seen
            .as_ref()
            .and_then(|s| s.keep)
            .is_some_and(|r| along(&r, &geometry) > extent);
        let start = seen.as_ref().map_or(range.1 / 2.0, |s| {
            let t = target(s, &geometry, range);
            t.want.clamp(t.lo.min(t.hi), t.hi.max(t.lo))
        });
        let mode = if too_wide { FillMode::Pad } else { params.mode };
        let window = geometry.window_at(start, 0.0);
        let out = match mode {
            FillMode::Crop => crop(image, &window, geometry.output),
            FillMode::Pad => pad(image, geometry.output),
        };
        let file = sink.plan(
            "h2v",
            params.format.extension(),
            params.format.content_type(),
            false,
        )?;
        write_image(&out, &file.local, params.format, 90)?;
        let note = (too_wide && params.mode == FillMode::Crop).then(|| {
            format!(
                "the subject is wider than a {}:{} window, so the whole picture is padded instead of cropped",
                params.aspect.0, params.aspect.1
            )
        });
        Ok((
            H2vResult {
                file: file.location.to_string(),
                width: out.width(),
                height: out.height(),
                mode,
                duration: 0.0,
                shots: vec![ShotResult {
                    start: 0.0,
                    end: 0.0,
                    camera: Camera::Stationary,
                    subject: seen.as_ref().map_or("centre", |s| s.subject).to_owned(),
                    keyframes: vec![window],
                }],
            },
            note,
        ))
    }
}

/// The camera of one analysed shot: stationary at the centre when
/// nothing was seen, else solved over the whole shot.
fn camera(ShotSeen { shot, seen }: ShotSeen, geometry: &Geometry) -> ShotPlan {
    let (extent, total) = geometry.extent();
    let range = (0.0, (total - extent).max(0.0));
    let seen: Vec<&Seen> = seen.iter().collect();
    let targets: Vec<Target> = seen.iter().map(|s| target(s, geometry, range)).collect();
    let too_wide = seen
        .iter()
        .find(|s| s.keep.is_some_and(|r| along(&r, geometry) > extent))
        .map(|s| s.time);
    let times = &shot.times;
    let (camera, path) = if targets.is_empty() {
        (Camera::Stationary, vec![range.1 / 2.0; times.len()])
    } else {
        solve(times, &targets, range, SMOOTHING_S)
    };
    let mut keyframes = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for (i, &t) in times.iter().enumerate() {
        let at_sample = seen.iter().any(|s| s.frame as usize == shot.start + i);
        if (i == 0 || at_sample) && t - last >= 0.5 - 1e-6 {
            keyframes.push(geometry.window_at(path[i], t));
            last = t;
        }
    }
    let first = times.first().copied().unwrap_or(0.0);
    let end = shot
        .next
        .unwrap_or_else(|| times.last().copied().unwrap_or(first) + frame_step(times));
    ShotPlan {
        result: ShotResult {
            start: round3(first),
            end: round3(end),
            camera,
            subject: dominant(&seen).to_owned(),
            keyframes,
        },
        times: shot.times,
        path,
        too_wide,
    }
}

fn inference(e: InferenceError) -> JobError {
    JobError::permanent(ErrorCode::InternalError, e.to_string())
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn frame_step(times: &[f64]) -> f64 {
    if times.len() >= 2 {
        (times[times.len() - 1] - times[0]) / (times.len() - 1) as f64
    } else {
        0.04
    }
}

fn along(r: &Rect, geometry: &Geometry) -> f32 {
    if geometry.horizontal() {
        r.w
    } else {
        r.h
    }
}

/// What the window start should be for `seen`, and the starts that keep
/// its subject inside.
fn target(seen: &Seen, geometry: &Geometry, range: (f32, f32)) -> Target {
    let (extent, _) = geometry.extent();
    let pick = |p: (f32, f32)| if geometry.horizontal() { p.0 } else { p.1 };
    let want = seen.focus.map_or(range.1 / 2.0, |f| pick(f) - extent / 2.0);
    let (lo, hi) = match seen.keep {
        Some(r) if along(&r, geometry) <= extent => {
            let (a, b) = if geometry.horizontal() {
                (r.x, r.right())
            } else {
                (r.y, r.bottom())
            };
            (b - extent, a)
        }
        _ => (range.0, range.1),
    };
    Target {
        time: seen.time,
        want,
        lo,
        hi,
    }
}

/// The subject most frames of a shot followed.
fn dominant(seen: &[&Seen]) -> &'static str {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for s in seen {
        match counts.iter_mut().find(|(k, _)| *k == s.subject) {
            Some((_, n)) => *n += 1,
            None => counts.push((s.subject, 1)),
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(_, n)| n)
        .map_or("centre", |(k, _)| k)
}

/// The share of thumbnail pixels whose brightness changed by more than
/// a few levels between `a` and `b` (same size).
fn changed_share(a: &GrayImage, b: &GrayImage) -> f32 {
    let changed = a
        .pixels()
        .zip(b.pixels())
        .filter(|(p, q)| p[0].abs_diff(q[0]) > 12)
        .count();
    changed as f32 / b.len().max(1) as f32
}

/// Whether a thumbnail is nearly one flat tone (black, a fade), where
/// nothing can stand out.
fn is_flat(thumb: &GrayImage) -> bool {
    let n = thumb.len().max(1) as f32;
    let mean = thumb.pixels().map(|p| f32::from(p[0])).sum::<f32>() / n;
    let var = thumb
        .pixels()
        .map(|p| (f32::from(p[0]) - mean).powi(2))
        .sum::<f32>()
        / n;
    var.sqrt() < 4.0
}

/// |a − b| per pixel.
fn difference(a: &GrayImage, b: &GrayImage) -> GrayImage {
    GrayImage::from_fn(b.width(), b.height(), |x, y| {
        let p = if x < a.width() && y < a.height() {
            a.get_pixel(x, y)[0]
        } else {
            0
        };
        image::Luma([p.abs_diff(b.get_pixel(x, y)[0])])
    })
}

/// The centre of the pixels that changed (above the frame's noise).
fn motion_centre(diff: &GrayImage, frame: &RgbImage) -> Option<(f32, f32)> {
    motion_blob(diff, frame).map(|(x, y, _)| (x, y))
}

/// The centre of the pixels that changed and their spread (standard
/// deviation of their distance from it, pixels).
fn motion_blob(diff: &GrayImage, frame: &RgbImage) -> Option<(f32, f32, f32)> {
    let (mut sx, mut sy, mut sxx, mut syy, mut n) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in diff.enumerate_pixels() {
        if p[0] > 24 {
            let w = f64::from(p[0]);
            let (x, y) = (f64::from(x), f64::from(y));
            sx += x * w;
            sy += y * w;
            sxx += x * x * w;
            syy += y * y * w;
            n += w;
        }
    }
    let pixels = f64::from(frame.width()) * f64::from(frame.height());
    if n <= pixels * 0.002 * 24.0 {
        return None;
    }
    let (cx, cy) = (sx / n, sy / n);
    let spread = ((sxx / n - cx * cx) + (syy / n - cy * cy)).max(0.0).sqrt();
    Some((cx as f32, cy as f32, spread as f32))
}

/// The window of `frame`, scaled to `output`.
fn crop(frame: &RgbImage, window: &Window, output: (u32, u32)) -> RgbImage {
    let w = window.width.min(frame.width());
    let h = window.height.min(frame.height());
    let x = window.x.min(frame.width() - w);
    let y = window.y.min(frame.height() - h);
    let part = image::imageops::crop_imm(frame, x, y, w, h).to_image();
    if (w, h) == output {
        part
    } else {
        image::imageops::resize(&part, output.0, output.1, FilterType::Triangle)
    }
}

/// The whole frame scaled to fit `output`, over a blurred, darkened copy
/// of itself scaled to cover it.
fn pad(frame: &RgbImage, output: (u32, u32)) -> RgbImage {
    let (fw, fh) = frame.dimensions();
    let (ow, oh) = output;
    // Background: tiny, then stretched back (a wide blur for little work).
    let ((cw, ch), (cx, cy)) = crate::vision::resize::cover_crop(fw, fh, ow, oh);
    let tiny_w = (cw / 24).max(2);
    let tiny_h = (ch / 24).max(2);
    let tiny = image::imageops::resize(frame, tiny_w, tiny_h, FilterType::Triangle);
    let mut canvas = image::imageops::resize(&tiny, cw, ch, FilterType::Triangle);
    canvas = image::imageops::crop_imm(&canvas, cx, cy, ow, oh).to_image();
    for p in canvas.pixels_mut() {
        for c in 0..3 {
            p[c] = (u16::from(p[c]) * 3 / 5) as u8;
        }
    }
    let fit = (ow as f32 / fw as f32).min(oh as f32 / fh as f32);
    let (sw, sh) = (
        ((fw as f32 * fit).round() as u32).clamp(1, ow),
        ((fh as f32 * fit).round() as u32).clamp(1, oh),
    );
    let scaled = image::imageops::resize(frame, sw, sh, FilterType::Triangle);
    image::imageops::replace(
        &mut canvas,
        &scaled,
        i64::from((ow - sw) / 2),
        i64::from((oh - sh) / 2),
    );
    canvas
}

fn rgba(rgb: &RgbImage) -> RgbaImage {
    let mut out = Vec::with_capacity(rgb.len() / 3 * 4);
    for p in rgb.pixels() {
        out.extend_from_slice(&[p[0], p[1], p[2], 255]);
    }
    RgbaImage::from_raw(rgb.width(), rgb.height(), out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renderer_waits_for_each_shot_and_keeps_the_last_window_after_the_end() {
        let solved = SolvedPath::default();
        std::thread::scope(|scope| {
            let renderer = scope.spawn(|| (0..5).map(|i| solved.at(i)).collect::<Vec<f32>>());
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(!renderer.is_finished(), "frame 0 is not solved yet");
            solved.extend(&[1.0, 2.0]);
            solved.extend(&[3.0]);
            solved.finish();
            assert_eq!(
                renderer.join().expect("renderer"),
                [1.0, 2.0, 3.0, 3.0, 3.0]
            );
        });
    }

    #[test]
    fn geometry_crops_the_long_axis_and_never_upscales_by_default() {
        let p = H2vParams::default();
        let g = Geometry::new((1920, 1080), &p);
        assert_eq!(g.window, (608, 1080));
        assert_eq!(g.output, (608, 1080));
        assert!(g.horizontal());
        let g = Geometry::new((3840, 2160), &p);
        assert_eq!(g.window, (1216, 2160));
        assert_eq!(g.output, (1080, 1920));
        // Already portrait: the whole frame.
        let g = Geometry::new((1080, 1920), &p);
        assert_eq!(g.window, (1080, 1920));
        // Asked for: upscaled.
        let p = H2vParams {
            width: Some(1080),
            ..H2vParams::default()
        };
        assert_eq!(Geometry::new((1280, 720), &p).output, (1080, 1920));
        // Square from portrait: the window moves up and down.
        let p = H2vParams {
            aspect: (1, 1),
            ..H2vParams::default()
        };
        let g = Geometry::new((1080, 1920), &p);
        assert_eq!(g.window, (1080, 1080));
        assert!(!g.horizontal());
    }

    #[test]
    fn a_picture_is_the_same_until_a_tenth_of_it_changes() {
        let before = GrayImage::from_fn(THUMB.0, THUMB.1, |x, y| {
            image::Luma([(x * 7 + y * 3) as u8])
        });
        // Noise and a small thing moving: the same picture.
        let mut after = before.clone();
        for (i, p) in after.pixels_mut().enumerate() {
            p[0] = p[0].saturating_add((i % 9) as u8);
        }
        for x in 0..5 {
            for y in 0..5 {
                after.put_pixel(x, y, image::Luma([255]));
            }
        }
        assert!(changed_share(&before, &after) <= SAME_PICTURE_CHANGE);
        // A third of it repainted: another picture.
        for x in 0..THUMB.0 / 3 {
            for y in 0..THUMB.1 {
                after.put_pixel(x, y, image::Luma([250]));
            }
        }
        assert!(changed_share(&before, &after) > SAME_PICTURE_CHANGE);
    }

    #[test]
    fn black_and_faded_frames_are_flat_a_scene_is_not() {
        assert!(is_flat(&GrayImage::new(THUMB.0, THUMB.1)));
        let faded = GrayImage::from_fn(THUMB.0, THUMB.1, |x, _| image::Luma([20 + (x % 3) as u8]));
        assert!(is_flat(&faded));
        let scene = GrayImage::from_fn(THUMB.0, THUMB.1, |x, y| {
            image::Luma([if (x / 8 + y / 6) % 2 == 0 { 40 } else { 90 }])
        });
        assert!(!is_flat(&scene));
    }

    #[test]
    fn a_group_that_fits_is_kept_whole_else_the_main_face() {
        let g = Geometry::new((1920, 1080), &H2vParams::default());
        let face = |x: f32, w: f32| Rect {
            x,
            y: 300.0,
            w,
            h: w,
        };
        let seen =
            from_faces(&[face(800.0, 100.0), face(1000.0, 100.0)], &g, None).expect("a subject");
        assert_eq!(seen.subject, "faces");
        let seen =
            from_faces(&[face(100.0, 100.0), face(1500.0, 160.0)], &g, None).expect("a subject");
        assert_eq!(seen.subject, "face");
        assert!((seen.focus.expect("focus").0 - 1580.0).abs() < 1.0);
        // The face followed before wins over a slightly bigger one.
        let seen = from_faces(
            &[face(100.0, 100.0), face(1500.0, 120.0)],
            &g,
            Some((150.0, 350.0)),
        )
        .expect("a subject");
        assert!((seen.focus.expect("focus").0 - 150.0).abs() < 1.0);
    }
}
