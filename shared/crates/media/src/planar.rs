//! Pictures as three 8-bit planes, and the two passes that work on them
//! without an RGB round trip: [`sample_frames`] (a few frames spread over
//! a video, for analysis) and [`edit_video`] (every frame changed in place
//! and re-encoded, the audio carried over).
//!
//! A decoded limited-range `yuv420p` frame with no rotation is taken as it
//! is, so pixels a pass leaves alone reach the encoder bit for bit; any
//! other frame is turned upright through RGB and converted to `yuv420p`
//! with the source's matrix.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame::Video;
use image::RgbImage;

use super::encode::{VideoCodec, VideoFormat, VideoWriter};
use super::process::{finished, joined, open_announcing, stopped, Processed, YuvCropper};
use super::{MediaError, SamplingMode, VideoInfo, VideoReader};
use iprod_core::domain::{Limits, Span};

/// Three 8-bit planes: Y, U, V (4:2:0 when `shift` is 1) or R, G, B
/// (`shift` 0, all full size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planar {
    /// Width of plane 0.
    pub width: u32,
    /// Height of plane 0.
    pub height: u32,
    /// Planes 1 and 2 are `width >> shift` (rounded up) wide and high.
    pub shift: u32,
    /// The planes, rows packed (no stride).
    pub planes: [Vec<u8>; 3],
}

impl Planar {
    /// The size of plane `i`.
    pub fn plane_size(&self, i: usize) -> (u32, u32) {
        if i == 0 || self.shift == 0 {
            (self.width, self.height)
        } else {
            (
                (self.width + 1) >> self.shift,
                (self.height + 1) >> self.shift,
            )
        }
    }

    /// The subsampling shift of plane `i`.
    pub fn plane_shift(&self, i: usize) -> u32 {
        if i == 0 {
            0
        } else {
            self.shift
        }
    }

    /// An RGB image as three full-size planes.
    pub fn from_rgb(image: &RgbImage) -> Self {
        let (width, height) = image.dimensions();
        let mut planes: [Vec<u8>; 3] = Default::default();
        for p in &mut planes {
            p.reserve(image.as_raw().len() / 3);
        }
        for px in image.pixels() {
            for (plane, v) in planes.iter_mut().zip(px.0) {
                plane.push(v);
            }
        }
        Self {
            width,
            height,
            shift: 0,
            planes,
        }
    }

    /// Back to an RGB image (`shift` 0 only; otherwise `None`).
    pub fn to_rgb(&self) -> Option<RgbImage> {
        if self.shift != 0 {
            return None;
        }
        let [r, g, b] = &self.planes;
        let raw = r
            .iter()
            .zip(g)
            .zip(b)
            .flat_map(|((&r, &g), &b)| [r, g, b])
            .collect();
        RgbImage::from_raw(self.width, self.height, raw)
    }

    /// The planes of a `yuv420p` frame.
    fn from_yuv420(frame: &Video) -> Self {
        let (width, height) = (frame.width(), frame.height());
        let mut out = Self {
            width,
            height,
            shift: 1,
            planes: Default::default(),
        };
        for i in 0..3 {
            let (w, h) = out.plane_size(i);
            let (w, h) = (w as usize, h as usize);
            let stride = frame.stride(i);
            let data = frame.data(i);
            let mut plane = Vec::with_capacity(w * h);
            for row in 0..h {
                plane.extend_from_slice(&data[row * stride..row * stride + w]);
            }
            out.planes[i] = plane;
        }
        out
    }

    /// A `yuv420p` frame of the top-left `width`×`height` (even) part.
    fn to_yuv420(&self, width: u32, height: u32) -> Video {
        let mut frame = Video::new(Pixel::YUV420P, width, height);
        for i in 0..3 {
            let (sw, _) = self.plane_size(i);
            let shift = self.plane_shift(i);
            let (w, h) = ((width >> shift) as usize, (height >> shift) as usize);
            let stride = frame.stride(i);
            let data = frame.data_mut(i);
            for row in 0..h {
                let s = row * sw as usize;
                data[row * stride..row * stride + w].copy_from_slice(&self.planes[i][s..s + w]);
            }
        }
        frame
    }
}

/// Turns decoded frames into upright `yuv420p` [`Planar`]s.
#[derive(Default)]
struct Upright {
    scaler: Option<ffmpeg_next::software::scaling::Context>,
}

impl Upright {
    fn convert(
        &mut self,
        reader: &mut VideoReader,
        frame: &Video,
        info: &VideoInfo,
    ) -> Result<Planar, MediaError> {
        if YuvCropper::takes(frame, info) {
            return Ok(Planar::from_yuv420(frame));
        }
        let rgb = info
            .rotation
            .apply(reader.to_rgb(frame, info.width, info.height)?);
        let (w, h) = rgb.dimensions();
        if self
            .scaler
            .as_ref()
            .is_none_or(|s| s.input().width != w || s.input().height != h)
        {
            let mut ctx = ffmpeg_next::software::scaling::Context::get(
                Pixel::RGB24,
                w,
                h,
                Pixel::YUV420P,
                w,
                h,
                ffmpeg_next::software::scaling::Flags::BICUBIC,
            )
            .map_err(|source| MediaError::Ffmpeg {
                context: "creating a scaler",
                source,
            })?;
            info.colour.set_encoding(&mut ctx);
            self.scaler = Some(ctx);
        }
        let mut packed = Video::new(Pixel::RGB24, w, h);
        let stride = packed.stride(0);
        let row = w as usize * 3;
        for (y, src) in rgb.as_raw().chunks_exact(row).enumerate() {
            packed.data_mut(0)[y * stride..y * stride + row].copy_from_slice(src);
        }
        let mut yuv = Video::empty();
        if let Some(s) = self.scaler.as_mut() {
            s.run(&packed, &mut yuv)
                .map_err(|source| MediaError::Ffmpeg {
                    context: "converting colours",
                    source,
                })?;
        }
        Ok(Planar::from_yuv420(&yuv))
    }
}

/// How [`sample_frames_by`] reaches its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleBy {
    /// One pass over the reference frames of the whole video.
    Pass,
    /// A seek before each sample, decoding reference frames from the
    /// keyframe before it: a small part of a long video.
    Seeks,
}

/// Samples this far apart (seconds) are reached by seeking: a pass would
/// decode far more than the keyframe interval between two of them.
pub const SEEK_BETWEEN_SAMPLES_S: f64 = 10.0;

/// Up to `count` frames spread evenly over `input` (the first reference
/// frame at or after each of `count` evenly spaced times), upright, with
/// their times. Only reference frames are decoded (cheaper; B-frames are
/// skipped). Samples [`SEEK_BETWEEN_SAMPLES_S`] or more apart are reached
/// by seeking, which finds the same frames.
///
/// # Errors
/// Media errors from opening or decoding; `Cancelled` when `cancel` is set.
pub fn sample_frames(
    input: &Path,
    limits: &Limits,
    cancel: &AtomicBool,
    count: usize,
) -> Result<(VideoInfo, Vec<(f64, Planar)>), MediaError> {
    let mut reader = VideoReader::open(input, limits)?;
    let duration = reader.info().duration_s.max(0.0);
    let mut by = SampleBy::Pass;
    if duration / count.max(1) as f64 >= SEEK_BETWEEN_SAMPLES_S {
        // Only a file with an index to seek by (else every seek would
        // decode from the start).
        if reader.keyframe_before(duration / 2.0)?.is_some() {
            by = SampleBy::Seeks;
        }
        reader.rewind()?;
    }
    sample_with(reader, cancel, count, by)
}

/// [`sample_frames`], reaching the frames `by` a pass or by seeks.
///
/// # Errors
/// As [`sample_frames`].
pub fn sample_frames_by(
    input: &Path,
    limits: &Limits,
    cancel: &AtomicBool,
    count: usize,
    by: SampleBy,
) -> Result<(VideoInfo, Vec<(f64, Planar)>), MediaError> {
    sample_with(VideoReader::open(input, limits)?, cancel, count, by)
}

fn sample_with(
    mut reader: VideoReader,
    cancel: &AtomicBool,
    count: usize,
    by: SampleBy,
) -> Result<(VideoInfo, Vec<(f64, Planar)>), MediaError> {
    let info = reader.info().clone();
    let duration = info.duration_s.max(0.0);
    let count = count.max(1);
    let step = duration / count as f64;
    let mut upright = Upright::default();
    let mut out: Vec<(f64, Planar)> = Vec::with_capacity(count);
    if by == SampleBy::Seeks && step > 0.0 {
        for k in 0..count {
            let target = (k as f64 + 0.5) * step;
            let after = out.last().map_or(f64::NEG_INFINITY, |(t, _)| *t);
            reader.seek_before(target)?;
            let mut found = None;
            reader.for_each_frame(SamplingMode::ReferenceOnly, |reader, f| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(MediaError::Cancelled);
                }
                if f.time_s + 1e-6 < target || f.time_s <= after {
                    return Ok(ControlFlow::Continue(()));
                }
                found = Some((f.time_s, upright.convert(reader, f.frame, &info)?));
                Ok(ControlFlow::Break(()))
            })?;
            match found {
                Some(sample) => out.push(sample),
                // Past the last frame.
                None => break,
            }
        }
        return Ok((info, out));
    }
    reader.for_each_frame(SamplingMode::ReferenceOnly, |reader, f| {
        if cancel.load(Ordering::Relaxed) {
            return Err(MediaError::Cancelled);
        }
        let next = (out.len() as f64 + 0.5) * step;
        if step > 0.0 && f.time_s + 1e-6 < next {
            return Ok(ControlFlow::Continue(()));
        }
        out.push((f.time_s, upright.convert(reader, f.frame, &info)?));
        Ok(if out.len() >= count {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })?;
    Ok((info, out))
}

/// Frames waiting between two stages.
const QUEUE: usize = 3;

/// An edit that may hold frames back before they are encoded (to look
/// at the frames after them).
pub trait FrameEditor: Send {
    /// Takes the next frame (with its time and index, in order) and gives
    /// back, in order, the frames that are done.
    ///
    /// # Errors
    /// Whatever stops the edit.
    fn push(
        &mut self,
        picture: Planar,
        time: f64,
        index: u64,
    ) -> Result<Vec<(Planar, f64)>, MediaError>;

    /// The input has ended: the frames still held, in order.
    ///
    /// # Errors
    /// Whatever stops the edit.
    fn finish(&mut self) -> Result<Vec<(Planar, f64)>, MediaError>;
}

/// A [`FrameEditor`] that edits each frame as it comes.
struct InPlace<F>(F);

impl<F> FrameEditor for InPlace<F>
where
    F: FnMut(&mut Planar, f64, u64) -> Result<(), MediaError> + Send,
{
    fn push(
        &mut self,
        mut picture: Planar,
        time: f64,
        index: u64,
    ) -> Result<Vec<(Planar, f64)>, MediaError> {
        (self.0)(&mut picture, time, index)?;
        Ok(vec![(picture, time)])
    }

    fn finish(&mut self) -> Result<Vec<(Planar, f64)>, MediaError> {
        Ok(Vec::new())
    }
}

/// Decodes every frame of `input` upright as `yuv420p`, lets `edit` change
/// it in place (with its time and index) and encodes it as `codec` (a
/// `yuv420p` codec) with the input's audio. Odd sizes lose their last row
/// or column. With a `span`, only its frames are encoded, without audio;
/// `edit` sees its warm-up's frames too (from the keyframe before it).
///
/// # Errors
/// Media errors from decoding or encoding; `Cancelled` when `cancel` is
/// set; whatever `edit` returns.
pub fn edit_video(
    input: &Path,
    output: &Path,
    codec: VideoCodec,
    limits: &Limits,
    cancel: &AtomicBool,
    span: Option<Span>,
    edit: impl FnMut(&mut Planar, f64, u64) -> Result<(), MediaError> + Send,
) -> Result<Processed, MediaError> {
    edit_video_ahead(
        input,
        output,
        codec,
        limits,
        cancel,
        span.map(|s| (s, 0.0)),
        &mut InPlace(edit),
    )
}

/// [`edit_video`] through an `editor` that may hold frames back. With a
/// span, decoding goes on `ahead_s` past its end, so the editor sees the
/// frames after the span's last (they are not encoded).
///
/// # Errors
/// As [`edit_video`].
pub fn edit_video_ahead(
    input: &Path,
    output: &Path,
    codec: VideoCodec,
    limits: &Limits,
    cancel: &AtomicBool,
    span: Option<(Span, f64)>,
    editor: &mut dyn FrameEditor,
) -> Result<Processed, MediaError> {
    let (span, ahead_s) = span.map_or((None, 0.0), |(s, a)| (Some(s), a));
    let (to_edit, decoded) = mpsc::sync_channel::<(Planar, f64)>(QUEUE);
    let (to_encoder, edited) = mpsc::sync_channel::<(Planar, f64)>(QUEUE);
    std::thread::scope(|scope| {
        let (info_tx, info_rx) = mpsc::sync_channel(1);
        let decoder = scope.spawn(move || -> Result<(), MediaError> {
            let (mut reader, info) = open_announcing(input, limits, &info_tx)?;
            let mut upright = Upright::default();
            // A segment's edits begin at its warm-up; only its own
            // frames are encoded (below).
            let (from_s, until_s) =
                span.map_or((0.0, f64::INFINITY), |s| (s.warm_s, s.end_s + ahead_s));
            reader.for_each_frame_between(from_s, until_s, SamplingMode::All, |reader, f| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(MediaError::Cancelled);
                }
                let planar = upright.convert(reader, f.frame, &info)?;
                Ok(if to_edit.send((planar, f.time_s)).is_err() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
        });
        let Ok(Some(info)) = info_rx.recv() else {
            drop(to_encoder);
            return joined(decoder, "decoding").and(Err(stopped()));
        };
        let slack = if info.frame_rate > 0.0 {
            0.5 / info.frame_rate
        } else {
            0.001
        };
        let encoder = scope.spawn(move || -> Result<Processed, MediaError> {
            let mut writer: Option<VideoWriter> = None;
            let (mut last_time, mut size) = (0.0, (0, 0));
            for (picture, time) in edited {
                if writer.is_none() {
                    size = (picture.width & !1, picture.height & !1);
                    let format = VideoFormat {
                        colour: info.colour,
                        ..VideoFormat::new(size.0, size.1, info.frame_rate)
                    };
                    // A segment's part has no audio: the join adds the
                    // source's once.
                    let audio_from = if span.is_some() { None } else { Some(input) };
                    writer = Some(VideoWriter::create(output, codec, format, audio_from)?);
                }
                if let Some(w) = writer.as_mut() {
                    w.push_yuv(picture.to_yuv420(size.0, size.1), time)?;
                }
                last_time = time;
            }
            let Some(w) = writer else {
                return Err(MediaError::Corrupt {
                    kind: "video",
                    detail: "no frame decoded".into(),
                });
            };
            finished(w, size, last_time, info.frame_rate)
        });
        let mut failed = None;
        let send = |ready: Vec<(Planar, f64)>| -> bool {
            for (picture, time) in ready {
                if span.is_some_and(|s| !s.outputs(time, slack)) {
                    // The warm-up's frames settle the edit and are dropped.
                    continue;
                }
                if to_encoder.send((picture, time)).is_err() {
                    return false;
                }
            }
            true
        };
        let mut open = true;
        for (index, (picture, time)) in (0u64..).zip(decoded) {
            match editor.push(picture, time, index) {
                Ok(ready) => {
                    if !send(ready) {
                        open = false;
                        break;
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if open && failed.is_none() {
            match editor.finish() {
                Ok(ready) => {
                    send(ready);
                }
                Err(e) => failed = Some(e),
            }
        }
        drop(to_encoder);
        let decoded = joined(decoder, "decoding");
        let encoded = joined(encoder, "encoding");
        if let Some(e) = failed {
            return Err(e);
        }
        decoded?;
        encoded
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trips_through_planes() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, (x * y) as u8]));
        let p = Planar::from_rgb(&img);
        assert_eq!(p.plane_size(2), (5, 3));
        assert_eq!(p.planes[1][5 + 2], 1);
        assert_eq!(p.to_rgb(), Some(img));
    }

    #[test]
    fn chroma_planes_are_half_size_rounded_up() {
        let p = Planar {
            width: 5,
            height: 3,
            shift: 1,
            planes: [vec![0; 15], vec![0; 6], vec![0; 6]],
        };
        assert_eq!(p.plane_size(1), (3, 2));
        assert_eq!(p.plane_shift(1), 1);
        assert!(p.to_rgb().is_none());
    }
}
