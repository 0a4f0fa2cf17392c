//! Video decoding: open, probe, walk frames (all, reference-only or
//! keyframes-only), seek to an exact frame, convert to RGB.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ffmpeg_next::codec::{self, threading};
use ffmpeg_next::format::{self, Pixel};
use ffmpeg_next::software::scaling;
use ffmpeg_next::util::frame;
use ffmpeg_next::Discard;
use ffmpeg_next::{media, Packet, Rational};
use image::RgbImage;

use super::colour::Colour;
use super::MediaError;
use iprod_core::domain::Limits;

/// Clockwise rotation to apply to decoded frames for display, from the
/// stream's display matrix (phones record portrait video this way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Rotation {
    /// Upright.
    #[default]
    None,
    /// 90° clockwise.
    Cw90,
    /// Upside down.
    Cw180,
    /// 270° clockwise (90° counter-clockwise).
    Cw270,
}

impl Rotation {
    /// From a display-matrix angle in degrees, as `ffmpeg` autorotate reads it.
    pub fn from_degrees(theta: f64) -> Self {
        let t = theta.rem_euclid(360.0);
        if (t - 90.0).abs() < 1.0 {
            Self::Cw90
        } else if (t - 180.0).abs() < 1.0 {
            Self::Cw180
        } else if (t - 270.0).abs() < 1.0 {
            Self::Cw270
        } else {
            Self::None
        }
    }

    /// Whether width and height swap for display.
    pub fn swaps_axes(self) -> bool {
        matches!(self, Self::Cw90 | Self::Cw270)
    }

    /// Rotates an upright-coded image for display.
    pub fn apply(self, img: RgbImage) -> RgbImage {
        match self {
            Self::None => img,
            Self::Cw90 => image::imageops::rotate90(&img),
            Self::Cw180 => image::imageops::rotate180(&img),
            Self::Cw270 => image::imageops::rotate270(&img),
        }
    }
}

/// What a probe learns about the video stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoInfo {
    /// Coded width, pixels.
    pub width: u32,
    /// Coded height, pixels.
    pub height: u32,
    /// Display rotation.
    pub rotation: Rotation,
    /// Duration in seconds (0 when unknown).
    pub duration_s: f64,
    /// Average frame rate (0 when unknown).
    pub frame_rate: f64,
    /// Codec name.
    pub codec: String,
    /// Colour matrix, range and tags.
    pub colour: Colour,
}

impl VideoInfo {
    /// Width and height as displayed (after rotation).
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation.swaps_axes() {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// Which frames the decoder produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplingMode {
    /// Every frame.
    All,
    /// Frames other codecs may reference (skips most B-frames: cheaper).
    ReferenceOnly,
    /// Keyframes only: very cheap, since nothing else is decoded.
    KeyframesOnly,
}

/// One decoded frame, with its presentation time.
pub struct DecodedFrame<'a> {
    /// The frame, in the decoder's pixel format.
    pub frame: &'a frame::Video,
    /// Presentation time, seconds from the stream start.
    pub time_s: f64,
}

impl std::fmt::Debug for DecodedFrame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedFrame")
            .field("time_s", &self.time_s)
            .field("width", &self.frame.width())
            .field("height", &self.frame.height())
            .finish()
    }
}

/// The main video stream of `input` (read from `path`).
///
/// # Errors
/// `NoStream` when it has none.
pub(crate) fn best_video<'a>(
    input: &'a format::context::Input,
    path: &Path,
) -> Result<format::stream::Stream<'a>, MediaError> {
    input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| MediaError::NoStream {
            path: path.to_owned(),
            kind: "video",
        })
}

/// An open video file: a demuxer and a decoder for its main video stream.
pub struct VideoReader {
    path: PathBuf,
    input: format::context::Input,
    stream_index: usize,
    decoder: codec::decoder::Video,
    time_base: Rational,
    start_pts: i64,
    info: VideoInfo,
    scaler: Option<(ScalerKey, scaling::Context)>,
    limits: Limits,
    /// Whether the deblocking filter is skipped (kept across a reopen).
    fast: bool,
}

impl std::fmt::Debug for VideoReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoReader")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScalerKey {
    format: Pixel,
    width: u32,
    height: u32,
    out_width: u32,
    out_height: u32,
}

impl VideoReader {
    /// Opens `path`, picks its best video stream and checks `limits`.
    ///
    /// # Errors
    /// `Open` for a file FFmpeg cannot read, `NoStream` when there is no
    /// video, `UnsupportedCodec`, or `Limit`.
    pub fn open(path: &Path, limits: &Limits) -> Result<Self, MediaError> {
        super::init();
        let input = crate::input::open(path, limits)?;
        let stream = best_video(&input, path)?;
        let stream_index = stream.index();
        let time_base = stream.time_base();
        let start_pts = if stream.start_time() == ffmpeg_next::ffi::AV_NOPTS_VALUE {
            0
        } else {
            stream.start_time()
        };
        let rotation = Rotation::from_degrees(display_rotation(&stream));
        let frame_rate = f64::from(stream.avg_frame_rate());
        let stream_duration = if stream.duration() > 0 {
            stream.duration() as f64 * f64::from(time_base)
        } else {
            0.0
        };
        let container_duration = if input.duration() > 0 {
            input.duration() as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE)
        } else {
            0.0
        };
        let duration_s = if stream_duration > 0.0 {
            stream_duration
        } else {
            container_duration
        };

        let mut context =
            codec::context::Context::from_parameters(stream.parameters()).map_err(|source| {
                MediaError::Ffmpeg {
                    context: "reading codec parameters",
                    source,
                }
            })?;
        let codec_id = stream.parameters().id();
        if ffmpeg_next::decoder::find(codec_id).is_none() {
            return Err(MediaError::UnsupportedCodec {
                codec: format!("{codec_id:?}"),
            });
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        context.set_threading(threading::Config {
            kind: threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
        let decoder = context
            .decoder()
            .video()
            .map_err(|source| MediaError::Open {
                path: path.to_owned(),
                source,
            })?;
        let info = VideoInfo {
            width: decoder.width(),
            height: decoder.height(),
            rotation,
            duration_s,
            frame_rate,
            codec: format!("{codec_id:?}").to_lowercase(),
            colour: Colour::from_tags(
                decoder.color_space(),
                decoder.color_range(),
                decoder.color_primaries(),
                decoder.color_transfer_characteristic(),
                decoder.height(),
                is_jpeg(decoder.format()),
            ),
        };
        if info.width == 0 || info.height == 0 {
            return Err(MediaError::Corrupt {
                kind: "video",
                detail: "the stream has no frame size".into(),
            });
        }
        let pixels = u64::from(info.width) * u64::from(info.height);
        if pixels > limits.max_frame_pixels {
            return Err(MediaError::Limit {
                what: "the frame size",
                actual: format!("{}x{}", info.width, info.height),
                limit: format!("{} pixels", limits.max_frame_pixels),
            });
        }
        if info.duration_s > limits.max_duration_s {
            return Err(MediaError::Limit {
                what: "the duration",
                actual: format!("{:.1} s", info.duration_s),
                limit: format!("{:.0} s", limits.max_duration_s),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            input,
            stream_index,
            decoder,
            time_base,
            start_pts,
            info,
            scaler: None,
            limits: *limits,
            fast: false,
        })
    }

    /// Opens the file again at its start: for streams that cannot seek
    /// (raw H.264 and other elementary streams have no index).
    fn reopen(&mut self) -> Result<(), MediaError> {
        let mut fresh = Self::open(&self.path, &self.limits)?;
        if self.fast {
            fresh.skip_deblocking();
        }
        fresh.scaler = self.scaler.take();
        *self = fresh;
        Ok(())
    }

    /// Decodes cheaper pictures from now on, for analysis rather than for
    /// display: the in-loop deblocking filter is skipped (H.264, HEVC,
    /// VP8…), so frames come out blockier, with about a third less
    /// decoding work.
    pub fn skip_deblocking(&mut self) {
        self.fast = true;
        self.decoder.skip_loop_filter(codec::discard::Discard::All);
    }

    /// What the probe found.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    fn set_mode(&mut self, mode: SamplingMode) {
        self.decoder.skip_frame(match mode {
            SamplingMode::All => Discard::Default,
            SamplingMode::ReferenceOnly => Discard::NonReference,
            SamplingMode::KeyframesOnly => Discard::NonKey,
        });
    }

    fn time_of(&self, frame: &frame::Video) -> f64 {
        let pts = frame.timestamp().or(frame.pts()).unwrap_or(self.start_pts);
        (pts - self.start_pts) as f64 * f64::from(self.time_base)
    }

    /// Half a frame at the stream's rate: the slack for comparing frame
    /// times, which are rounded to the time base.
    pub fn half_frame(&self) -> f64 {
        if self.info.frame_rate > 0.0 {
            0.5 / self.info.frame_rate
        } else {
            0.001
        }
    }

    /// [`Self::for_each_frame`] over the frames from `from_s` (decoding
    /// from the keyframe at or before it; from the current position for
    /// 0) up to, not including, `until_s`.
    ///
    /// # Errors
    /// As [`Self::for_each_frame`] and [`Self::seek_before`].
    pub fn for_each_frame_between(
        &mut self,
        from_s: f64,
        until_s: f64,
        mode: SamplingMode,
        mut visit: impl FnMut(&mut Self, &DecodedFrame<'_>) -> Result<ControlFlow<()>, MediaError>,
    ) -> Result<(), MediaError> {
        if from_s > 0.0 {
            self.seek_before(from_s)?;
        }
        let slack = self.half_frame();
        self.for_each_frame(mode, |reader, f| {
            if f.time_s >= until_s - slack {
                return Ok(ControlFlow::Break(()));
            }
            if f.time_s < from_s - slack {
                return Ok(ControlFlow::Continue(()));
            }
            visit(reader, f)
        })
    }

    /// Decodes from the current position to the end, calling `visit` for
    /// each frame produced under `mode` until it breaks. Damaged packets
    /// are skipped; a stream of which nothing decodes is an error.
    ///
    /// # Errors
    /// `Corrupt` when no frame at all could be decoded; whatever `visit`
    /// returns.
    pub fn for_each_frame(
        &mut self,
        mode: SamplingMode,
        mut visit: impl FnMut(&mut Self, &DecodedFrame<'_>) -> Result<ControlFlow<()>, MediaError>,
    ) -> Result<(), MediaError> {
        self.set_mode(mode);
        let mut decoded = frame::Video::empty();
        let mut frames = 0u64;
        let mut bad_packets = 0u64;
        let mut last_error: Option<ffmpeg_next::Error> = None;
        let mut packet = Packet::empty();
        let mut eof = false;
        loop {
            if !eof {
                match crate::read_packet(&mut packet, &mut self.input) {
                    Ok(()) => {
                        if packet.stream() != self.stream_index {
                            continue;
                        }
                        if let Err(e) = self.decoder.send_packet(&packet) {
                            bad_packets += 1;
                            last_error = Some(e);
                            continue;
                        }
                    }
                    Err(ffmpeg_next::Error::Eof) => {
                        eof = true;
                        // Nothing left to send: flush so buffered frames come out.
                        let _ = self.decoder.send_eof();
                    }
                    Err(ffmpeg_next::Error::InvalidData) => {
                        bad_packets += 1;
                        continue;
                    }
                    Err(e) => {
                        // A read error mid-file (truncation): decode what we have.
                        last_error = Some(e);
                        eof = true;
                        let _ = self.decoder.send_eof();
                    }
                }
            }
            loop {
                match self.decoder.receive_frame(&mut decoded) {
                    Ok(()) => {
                        frames += 1;
                        let time_s = self.time_of(&decoded);
                        let flow = visit(
                            self,
                            &DecodedFrame {
                                frame: &decoded,
                                time_s,
                            },
                        )?;
                        if flow.is_break() {
                            return Ok(());
                        }
                    }
                    Err(ffmpeg_next::Error::Other {
                        errno: ffmpeg_next::util::error::EAGAIN,
                    }) => break,
                    Err(ffmpeg_next::Error::Eof) => {
                        if frames == 0 {
                            return Err(MediaError::Corrupt {
                                kind: "video",
                                detail: match last_error {
                                    Some(e) => format!("{bad_packets} damaged packets ({e})"),
                                    None => "the stream holds no frames".into(),
                                },
                            });
                        }
                        return Ok(());
                    }
                    Err(e) => {
                        bad_packets += 1;
                        last_error = Some(e);
                        break;
                    }
                }
            }
        }
    }

    /// Seeks to the keyframe at or before `time_s`, then decodes forward
    /// and returns the first frame at or after `time_s` (frame-accurate).
    ///
    /// # Errors
    /// `Corrupt` when nothing decodes there; a stream that cannot seek is
    /// decoded from its start.
    pub fn frame_at(&mut self, time_s: f64) -> Result<frame::Video, MediaError> {
        self.seek_before(time_s)?;
        self.first_from(time_s, SamplingMode::All)
    }

    /// Decodes forward (frames of `mode`) to the first frame at or after
    /// `time_s`, else the last before it.
    fn first_from(&mut self, time_s: f64, mode: SamplingMode) -> Result<frame::Video, MediaError> {
        let mut found: Option<frame::Video> = None;
        let mut last: Option<frame::Video> = None;
        // Half a frame of slack: timestamps are rounded to the time base.
        let slack = self.half_frame();
        self.for_each_frame(mode, |_, f| {
            if f.time_s + slack >= time_s {
                found = Some(f.frame.clone());
                return Ok(ControlFlow::Break(()));
            }
            last = Some(f.frame.clone());
            Ok(ControlFlow::Continue(()))
        })?;
        found.or(last).ok_or_else(|| MediaError::Corrupt {
            kind: "video",
            detail: format!("no frame decodes at {time_s:.3} s"),
        })
    }

    /// A cheap sample near `time_s`, for analysis: the first frame at or
    /// after it that other frames refer to (else the last before it),
    /// decoded from the keyframe before it without the frames nothing
    /// refers to and without deblocking, so reaching a time deep in a
    /// long group of pictures costs a fraction of [`Self::frame_at`].
    ///
    /// # Errors
    /// As [`Self::frame_at`].
    pub fn sample_near(&mut self, time_s: f64) -> Result<frame::Video, MediaError> {
        let fast = self.fast;
        self.decoder.skip_loop_filter(Discard::All);
        let found = self
            .seek_before(time_s)
            .and_then(|()| self.first_from(time_s, SamplingMode::ReferenceOnly));
        self.set_mode(SamplingMode::All);
        if !fast {
            self.decoder.skip_loop_filter(Discard::Default);
        }
        found
    }

    /// Moves to the keyframe at or before `time_s`, so that decoding from
    /// here is exact at `time_s` (a stream that cannot seek is opened
    /// again at its start).
    ///
    /// # Errors
    /// As [`VideoReader::open`], when the file must be opened again.
    pub fn seek_before(&mut self, time_s: f64) -> Result<(), MediaError> {
        let ts = ((time_s.max(0.0) + self.start_seconds())
            * f64::from(ffmpeg_next::ffi::AV_TIME_BASE)) as i64;
        if self.input.seek(ts, ..ts).is_ok() {
            self.decoder.flush();
            Ok(())
        } else {
            // No index to seek by: decode forward from the start.
            self.reopen()
        }
    }

    /// The time of the keyframe at or before `time_s`, read from the
    /// container's index without decoding (`None` when the stream cannot
    /// seek or has no packet there).
    ///
    /// # Errors
    /// As [`VideoReader::open`], when the file must be opened again.
    pub fn keyframe_before(&mut self, time_s: f64) -> Result<Option<f64>, MediaError> {
        let ts = ((time_s.max(0.0) + self.start_seconds())
            * f64::from(ffmpeg_next::ffi::AV_TIME_BASE)) as i64;
        if self.input.seek(ts, ..ts).is_err() {
            return Ok(None);
        }
        self.decoder.flush();
        let mut packet = Packet::empty();
        loop {
            match crate::read_packet(&mut packet, &mut self.input) {
                Ok(()) if packet.stream() == self.stream_index => {
                    let Some(pts) = packet.pts().or(packet.dts()) else {
                        return Ok(None);
                    };
                    let time = (pts - self.start_pts) as f64 * f64::from(self.time_base);
                    return Ok(packet.is_key().then_some(time));
                }
                Ok(()) | Err(ffmpeg_next::Error::InvalidData) => {}
                Err(_) => return Ok(None),
            }
        }
    }

    /// Goes back to the start of the stream (opening it again when it
    /// cannot seek).
    ///
    /// # Errors
    /// As [`VideoReader::open`].
    pub fn rewind(&mut self) -> Result<(), MediaError> {
        if self
            .input
            .seek(i64::MIN, ..)
            .or_else(|_| self.input.seek(0, ..0))
            .is_ok()
        {
            self.decoder.flush();
            Ok(())
        } else {
            self.reopen()
        }
    }

    /// Skips the deblocking filter while decoding: faster, slightly blockier
    /// frames. For analysis passes only.
    pub fn set_fast_analysis(&mut self, fast: bool) {
        self.fast = fast;
        self.decoder
            .skip_loop_filter(if fast { Discard::All } else { Discard::Default });
    }

    fn start_seconds(&self) -> f64 {
        self.start_pts as f64 * f64::from(self.time_base)
    }

    /// Converts a decoded frame to packed RGB at `width`×`height` (coded
    /// orientation), honouring the frame's stride.
    ///
    /// # Errors
    /// `Ffmpeg` when no scaler exists for the frame's format.
    pub fn to_rgb(
        &mut self,
        frame: &frame::Video,
        width: u32,
        height: u32,
    ) -> Result<RgbImage, MediaError> {
        let key = ScalerKey {
            format: frame.format(),
            width: frame.width(),
            height: frame.height(),
            out_width: width.max(1),
            out_height: height.max(1),
        };
        if self.scaler.as_ref().map(|(k, _)| *k) != Some(key) {
            let flags = if key.out_width < key.width / 2 {
                scaling::Flags::AREA
            } else {
                scaling::Flags::BICUBIC
            };
            let mut ctx = scaling::Context::get(
                key.format,
                key.width,
                key.height,
                Pixel::RGB24,
                key.out_width,
                key.out_height,
                flags,
            )
            .map_err(|source| MediaError::Ffmpeg {
                context: "creating a scaler",
                source,
            })?;
            let colour = if frame.color_space() == ffmpeg_next::util::color::Space::Unspecified {
                self.info.colour
            } else {
                Colour::from_tags(
                    frame.color_space(),
                    frame.color_range(),
                    frame.color_primaries(),
                    frame.color_transfer_characteristic(),
                    frame.height(),
                    is_jpeg(frame.format()),
                )
            };
            colour.set_decoding(&mut ctx);
            self.scaler = Some((key, ctx));
        }
        let mut rgb = frame::Video::empty();
        if let Some((_, scaler)) = self.scaler.as_mut() {
            scaler
                .run(frame, &mut rgb)
                .map_err(|source| MediaError::Ffmpeg {
                    context: "scaling",
                    source,
                })?;
        }
        Ok(packed_rgb(&rgb))
    }

    /// The file this reader decodes.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Copies an RGB24 frame row by row (FFmpeg pads rows to its stride).
/// The `yuvj*` formats: full range whatever the tags say.
fn is_jpeg(format: Pixel) -> bool {
    matches!(
        format,
        Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P | Pixel::YUVJ440P | Pixel::YUVJ411P
    )
}

fn packed_rgb(rgb: &frame::Video) -> RgbImage {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let stride = rgb.stride(0);
    let data = rgb.data(0);
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        out.extend_from_slice(&data[row * stride..row * stride + w * 3]);
    }
    RgbImage::from_raw(w as u32, h as u32, out).unwrap_or_default()
}

/// The display-matrix rotation of a stream in degrees (clockwise, as the
/// `ffmpeg` tool's autorotate computes it), 0 when there is none.
fn display_rotation(stream: &format::stream::Stream<'_>) -> f64 {
    for side in stream.side_data() {
        if side.kind() != codec::packet::side_data::Type::DisplayMatrix {
            continue;
        }
        let data = side.data();
        if data.len() < 36 {
            continue;
        }
        let m: Vec<f64> = data
            .chunks_exact(4)
            .take(9)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])) / 65536.0)
            .collect();
        let scale0 = m[0].hypot(m[3]);
        let scale1 = m[1].hypot(m[4]);
        if scale0 == 0.0 || scale1 == 0.0 {
            return 0.0;
        }
        // av_display_rotation_get returns the counter-clockwise angle; the
        // ffmpeg tool negates it to get the clockwise turn to apply.
        let ccw = -(m[1] / scale1).atan2(m[0] / scale0).to_degrees();
        return -ccw.round();
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_angles_snap_to_quarter_turns() {
        assert_eq!(Rotation::from_degrees(90.0), Rotation::Cw90);
        assert_eq!(Rotation::from_degrees(-90.0), Rotation::Cw270);
        assert_eq!(Rotation::from_degrees(180.4), Rotation::Cw180);
        assert_eq!(Rotation::from_degrees(0.0), Rotation::None);
        assert!(Rotation::Cw270.swaps_axes());
    }
}
