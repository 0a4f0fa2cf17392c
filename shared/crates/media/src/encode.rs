//! Writing video: H.264 in MP4 (`yuv420p`, faststart), VP9 with alpha in
//! WebM (`yuva420p`, the format Alibaba returns for mattes) and ProRes 4444
//! with alpha in MOV. Frames come in as RGBA with their presentation time
//! (variable frame rates are kept); the source's audio is carried over:
//! stream-copied when the container takes its codec, otherwise re-encoded
//! (AAC for MP4/MOV, Opus for WebM), and interleaved with the video as it
//! is written, so memory stays bounded.

use std::path::{Path, PathBuf};

use ffmpeg_next::codec::{self, Id};
use ffmpeg_next::format::{self, Pixel, Sample};
use ffmpeg_next::software::{resampling, scaling};
use ffmpeg_next::util::channel_layout::ChannelLayout;
use ffmpeg_next::{encoder, frame, media, Dictionary, Packet, Rational};
use image::RgbaImage;

use super::colour::Colour;
use super::MediaError;

/// Time base of the video encoder: 1/90000 s (any frame timing fits).
const VIDEO_TB: Rational = Rational(1, 90_000);

/// What to encode the video as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 (libx264) in MP4, `yuv420p`, no alpha.
    H264 {
        /// Constant rate factor, 0–51 (lower is better).
        crf: u8,
        /// x264 preset: speed against size.
        preset: X264Preset,
    },
    /// VP9 (libvpx) in WebM with an alpha channel (`yuva420p`).
    Vp9Alpha {
        /// Constant quality, 0–63 (lower is better).
        crf: u8,
    },
    /// ProRes 4444 (`prores_ks`, `yuva444p10le`) in MOV, with alpha.
    ProRes4444,
    /// Animated WebP (libwebp, lossy with alpha), looping, no audio: for
    /// previews.
    AnimatedWebp {
        /// Quality, 0–100 (higher is better).
        quality: u8,
    },
}

/// x264 presets offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X264Preset {
    /// `ultrafast`.
    Ultrafast,
    /// `superfast`.
    Superfast,
    /// `veryfast`.
    Veryfast,
    /// `fast`.
    Fast,
    /// `medium`.
    Medium,
    /// `slow`.
    Slow,
}

impl X264Preset {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ultrafast => "ultrafast",
            Self::Superfast => "superfast",
            Self::Veryfast => "veryfast",
            Self::Fast => "fast",
            Self::Medium => "medium",
            Self::Slow => "slow",
        }
    }
}

impl VideoCodec {
    /// The container format name.
    pub fn container(self) -> &'static str {
        match self {
            Self::H264 { .. } => "mp4",
            Self::Vp9Alpha { .. } => "webm",
            Self::ProRes4444 => "mov",
            Self::AnimatedWebp { .. } => "webp",
        }
    }

    /// File extension (same as the container name).
    pub fn extension(self) -> &'static str {
        self.container()
    }

    /// MIME type of the file.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::H264 { .. } => "video/mp4",
            Self::Vp9Alpha { .. } => "video/webm",
            Self::ProRes4444 => "video/quicktime",
            Self::AnimatedWebp { .. } => "image/webp",
        }
    }

    /// Whether the container carries audio.
    pub fn takes_audio(self) -> bool {
        !matches!(self, Self::AnimatedWebp { .. })
    }

    /// Whether the output keeps an alpha channel.
    pub fn has_alpha(self) -> bool {
        !matches!(self, Self::H264 { .. })
    }

    fn encoder_name(self) -> &'static str {
        match self {
            Self::H264 { .. } => "libx264",
            Self::Vp9Alpha { .. } => "libvpx-vp9",
            Self::ProRes4444 => "prores_ks",
            Self::AnimatedWebp { .. } => "libwebp_anim",
        }
    }

    fn pixel(self) -> Pixel {
        match self {
            Self::H264 { .. } => Pixel::YUV420P,
            Self::Vp9Alpha { .. } | Self::AnimatedWebp { .. } => Pixel::YUVA420P,
            Self::ProRes4444 => Pixel::YUVA444P10LE,
        }
    }

    fn options(self) -> Dictionary<'static> {
        let mut d = Dictionary::new();
        match self {
            Self::H264 { crf, preset } => {
                d.set("crf", &crf.to_string());
                d.set("preset", preset.as_str());
            }
            Self::Vp9Alpha { crf } => {
                d.set("crf", &crf.to_string());
                d.set("b", "0");
                d.set("deadline", "realtime");
                d.set("cpu-used", "8");
                d.set("row-mt", "1");
                d.set("auto-alt-ref", "0");
            }
            Self::ProRes4444 => {
                d.set("profile", "4444");
                d.set("vendor", "apl0");
            }
            Self::AnimatedWebp { quality } => {
                d.set("quality", &quality.min(100).to_string());
                d.set("lossless", "0");
                d.set("compression_level", "3");
            }
        }
        d
    }

    /// The muxer's options: MP4 and MOV with their index first (playable
    /// while downloading), WebP looping.
    pub(crate) fn header_options(self) -> Dictionary<'static> {
        let mut options = Dictionary::new();
        match self.container() {
            "mp4" | "mov" => options.set("movflags", "+faststart"),
            "webp" => options.set("loop", "0"),
            _ => {}
        }
        options
    }

    /// The codec family whose files are of MIME type `content_type`, for
    /// work that copies their streams (its quality settings are moot).
    pub fn of_content_type(content_type: &str) -> Option<Self> {
        match content_type {
            "video/mp4" => Some(Self::H264 {
                crf: 23,
                preset: X264Preset::Veryfast,
            }),
            "video/webm" => Some(Self::Vp9Alpha { crf: 30 }),
            "video/quicktime" => Some(Self::ProRes4444),
            _ => None,
        }
    }

    /// Audio codecs the container takes as they are.
    fn copies(self, id: Id) -> bool {
        match self {
            Self::H264 { .. } => matches!(id, Id::AAC | Id::MP3 | Id::AC3 | Id::EAC3 | Id::ALAC),
            Self::Vp9Alpha { .. } => matches!(id, Id::OPUS | Id::VORBIS),
            Self::ProRes4444 => matches!(
                id,
                Id::AAC | Id::ALAC | Id::MP3 | Id::PCM_S16LE | Id::PCM_S24LE
            ),
            Self::AnimatedWebp { .. } => false,
        }
    }

    /// The audio encoder used when the source's codec cannot be copied.
    fn audio_encoder(self) -> (&'static str, i32) {
        match self {
            Self::Vp9Alpha { .. } => ("libopus", 48_000),
            _ => ("aac", 0),
        }
    }
}

pub(crate) fn ff(context: &'static str) -> impl Fn(ffmpeg_next::Error) -> MediaError {
    move |source| MediaError::Ffmpeg { context, source }
}

/// Audio carried from a source file into the output.
pub(crate) struct AudioTrack {
    input: format::context::Input,
    stream_index: usize,
    in_tb: Rational,
    out_index: usize,
    mode: AudioMode,
    /// Time (s) of the last packet taken from the source.
    read_to: f64,
    done: bool,
}

enum AudioMode {
    Copy,
    Transcode(Box<Transcoder>),
}

struct Transcoder {
    decoder: codec::decoder::Audio,
    resampler: resampling::Context,
    encoder: encoder::Audio,
    frame_size: usize,
    layout: ChannelLayout,
    rate: i32,
    pending: Vec<Vec<f32>>,
    next_pts: i64,
    /// Whether the encoder takes interleaved samples (one plane).
    packed: bool,
}

/// The frames a writer takes: size, nominal rate and colour description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoFormat {
    /// Width in pixels (even for the 4:2:0 codecs).
    pub width: u32,
    /// Height in pixels (even for the 4:2:0 codecs).
    pub height: u32,
    /// Nominal frames per second (frame times are kept as given).
    pub frame_rate: f64,
    /// Colour matrix and tags, usually the source's.
    pub colour: Colour,
}

impl VideoFormat {
    /// `width`×`height` at `frame_rate`, BT.601 colour.
    pub fn new(width: u32, height: u32, frame_rate: f64) -> Self {
        Self {
            width,
            height,
            frame_rate,
            colour: Colour::default(),
        }
    }
}

/// Writes one video file, frame by frame.
pub struct VideoWriter {
    path: PathBuf,
    codec: VideoCodec,
    output: format::context::Output,
    encoder: encoder::Video,
    scaler: scaling::Context,
    width: u32,
    height: u32,
    audio: Option<AudioTrack>,
    last_pts: Option<i64>,
    /// Nominal frame duration in encoder ticks.
    frame_ticks: i64,
    frames: u64,
}

impl std::fmt::Debug for VideoWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoWriter")
            .field("path", &self.path)
            .field("codec", &self.codec)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl VideoWriter {
    /// Creates `path` for frames of `format` (RGB converted to YUV with
    /// its colour matrix, which the stream is tagged with), with the audio
    /// of `audio_from` when it has any.
    ///
    /// # Errors
    /// `Encode` for unusable sizes; `Ffmpeg` when an encoder or the muxer
    /// cannot be set up.
    pub fn create(
        path: &Path,
        codec: VideoCodec,
        format: VideoFormat,
        audio_from: Option<&Path>,
    ) -> Result<Self, MediaError> {
        super::init();
        let VideoFormat {
            width,
            height,
            frame_rate,
            colour,
        } = format;
        if width < 2
            || height < 2
            || (codec.pixel() != Pixel::YUVA444P10LE && (width % 2 == 1 || height % 2 == 1))
        {
            return Err(MediaError::Encode {
                format: codec.container(),
                detail: format!("{width}x{height}: sizes must be even and at least 2"),
            });
        }
        let mut output =
            format::output_as(path, codec.container()).map_err(ff("creating the output"))?;
        let global_header = output
            .format()
            .flags()
            .contains(format::Flags::GLOBAL_HEADER);
        let found = encoder::find_by_name(codec.encoder_name()).ok_or(MediaError::Encode {
            format: codec.container(),
            detail: format!("this FFmpeg has no {} encoder", codec.encoder_name()),
        })?;
        let mut video = codec::context::Context::new_with_codec(found)
            .encoder()
            .video()
            .map_err(ff("creating the video encoder"))?;
        video.set_width(width);
        video.set_height(height);
        video.set_format(codec.pixel());
        video.set_time_base(VIDEO_TB);
        let rate = if frame_rate.is_finite() && frame_rate > 0.0 {
            frame_rate
        } else {
            25.0
        };
        video.set_frame_rate(Some(Rational::from(rate)));
        colour.tag_encoder(&mut video);
        // 0: the encoder's own choice, as the ffmpeg command's default
        // (x264 runs 1.5 threads a core: a few per cent faster than one).
        video.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        if global_header {
            video.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = video
            .open_as_with(found, codec.options())
            .map_err(ff("opening the video encoder"))?;
        {
            let mut stream = output
                .add_stream(found)
                .map_err(ff("adding the video stream"))?;
            stream.set_parameters(&encoder);
            stream.set_time_base(VIDEO_TB);
        }
        let audio = match audio_from {
            Some(source) if codec.takes_audio() => {
                AudioTrack::open(source, codec, &mut output, global_header)?
            }
            _ => None,
        };
        output
            .write_header_with(codec.header_options())
            .map_err(ff("writing the header"))?;
        let mut scaler = scaling::Context::get(
            Pixel::RGBA,
            width,
            height,
            codec.pixel(),
            width,
            height,
            scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT,
        )
        .map_err(ff("creating the colour converter"))?;
        colour.set_encoding(&mut scaler);
        Ok(Self {
            path: path.to_owned(),
            codec,
            output,
            encoder,
            scaler,
            width,
            height,
            audio,
            last_pts: None,
            frame_ticks: (f64::from(VIDEO_TB.denominator()) / rate).round() as i64,
            frames: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Encodes `image` (RGBA, the writer's size) shown at `time_s`.
    /// Frames must come in time order; one that would not advance the
    /// timeline is dropped.
    ///
    /// # Errors
    /// `Encode` for a wrongly sized image; `Ffmpeg` when encoding fails.
    pub fn push(&mut self, image: &RgbaImage, time_s: f64) -> Result<(), MediaError> {
        self.check_size(image.width(), image.height())?;
        let Some(pts) = self.next_pts(time_s) else {
            return Ok(());
        };
        let mut rgba = frame::Video::new(Pixel::RGBA, self.width, self.height);
        let stride = rgba.stride(0);
        let row = self.width as usize * 4;
        let raw = image.as_raw();
        let data = rgba.data_mut(0);
        for y in 0..self.height as usize {
            data[y * stride..y * stride + row].copy_from_slice(&raw[y * row..(y + 1) * row]);
        }
        let mut converted = frame::Video::empty();
        self.scaler
            .run(&rgba, &mut converted)
            .map_err(ff("converting colours"))?;
        self.send(converted, pts, time_s)
    }

    /// Encodes a frame already in the encoder's pixel format and colours
    /// (e.g. a decoded `yuv420p` frame, cropped), shown at `time_s`: no
    /// colour conversion at all.
    ///
    /// # Errors
    /// `Encode` for a frame of another size or format; `Ffmpeg` when
    /// encoding fails.
    pub fn push_yuv(&mut self, mut yuv: frame::Video, time_s: f64) -> Result<(), MediaError> {
        self.check_size(yuv.width(), yuv.height())?;
        if yuv.format() != self.codec.pixel() {
            return Err(MediaError::Encode {
                format: self.codec.container(),
                detail: format!(
                    "frame is {:?}, the encoder takes {:?}",
                    yuv.format(),
                    self.codec.pixel()
                ),
            });
        }
        let Some(pts) = self.next_pts(time_s) else {
            return Ok(());
        };
        // The encoder's own tags apply, not the decoder's leftovers.
        yuv.set_kind(ffmpeg_next::picture::Type::None);
        self.send(yuv, pts, time_s)
    }

    /// The pixel format `push_yuv` takes.
    pub fn pixel_format(&self) -> Pixel {
        self.codec.pixel()
    }

    fn check_size(&self, width: u32, height: u32) -> Result<(), MediaError> {
        if (width, height) == (self.width, self.height) {
            return Ok(());
        }
        Err(MediaError::Encode {
            format: self.codec.container(),
            detail: format!(
                "frame is {width}x{height}, the video {}x{}",
                self.width, self.height
            ),
        })
    }

    /// The frame's timestamp, or `None` when it would not advance the
    /// timeline (it is dropped).
    fn next_pts(&mut self, time_s: f64) -> Option<i64> {
        let pts = (time_s.max(0.0) * f64::from(VIDEO_TB.denominator())).round() as i64;
        if self.last_pts.is_some_and(|last| pts <= last) {
            return None;
        }
        self.last_pts = Some(pts);
        Some(pts)
    }

    fn send(
        &mut self,
        mut converted: frame::Video,
        pts: i64,
        time_s: f64,
    ) -> Result<(), MediaError> {
        converted.set_pts(Some(pts));
        self.encoder
            .send_frame(&converted)
            .map_err(ff("encoding video"))?;
        self.frames += 1;
        self.drain_video()?;
        if let Some(audio) = &mut self.audio {
            audio.pump(&mut self.output, Some(time_s + 0.5))?;
        }
        Ok(())
    }

    fn drain_video(&mut self) -> Result<(), MediaError> {
        let tb = self.output.stream(0).map_or(VIDEO_TB, |s| s.time_base());
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            if packet.duration() <= 0 {
                // The muxer takes the last frame's duration from here.
                packet.set_duration(self.frame_ticks);
            }
            packet.rescale_ts(VIDEO_TB, tb);
            packet
                .write_interleaved(&mut self.output)
                .map_err(ff("writing video"))?;
        }
        Ok(())
    }

    /// Flushes the encoders, copies the rest of the audio and closes the
    /// file.
    ///
    /// # Errors
    /// `Encode` when no frame was written; `Ffmpeg` when writing fails.
    pub fn finish(mut self) -> Result<PathBuf, MediaError> {
        if self.frames == 0 {
            return Err(MediaError::Encode {
                format: self.codec.container(),
                detail: "no frames to write".into(),
            });
        }
        self.encoder.send_eof().map_err(ff("flushing video"))?;
        self.drain_video()?;
        if let Some(audio) = &mut self.audio {
            audio.pump(&mut self.output, None)?;
            audio.flush(&mut self.output)?;
        }
        self.output
            .write_trailer()
            .map_err(ff("writing the trailer"))?;
        Ok(self.path)
    }
}

impl AudioTrack {
    pub(crate) fn open(
        source: &Path,
        codec: VideoCodec,
        output: &mut format::context::Output,
        global_header: bool,
    ) -> Result<Option<Self>, MediaError> {
        // The source was opened under the job's limits before; only the
        // allow-lists matter here.
        let input = crate::input::open(source, &iprod_core::domain::Limits::default())?;
        let Some(stream) = input.streams().best(media::Type::Audio) else {
            return Ok(None);
        };
        let stream_index = stream.index();
        let in_tb = stream.time_base();
        let params = stream.parameters();
        let out_index = output.nb_streams() as usize;
        let mode = if codec.copies(params.id()) {
            let mut out = output
                .add_stream(encoder::find(Id::None))
                .map_err(ff("adding the audio stream"))?;
            out.set_parameters(params);
            out.set_time_base(in_tb);
            AudioMode::Copy
        } else {
            let decoder = codec::context::Context::from_parameters(params)
                .and_then(|c| c.decoder().audio())
                .map_err(ff("opening the audio decoder"))?;
            let (name, fixed_rate) = codec.audio_encoder();
            let found = encoder::find_by_name(name).ok_or(MediaError::Encode {
                format: codec.container(),
                detail: format!("this FFmpeg has no {name} encoder"),
            })?;
            let layout = if decoder.channels() == 1 {
                ChannelLayout::MONO
            } else {
                ChannelLayout::STEREO
            };
            let rate = if fixed_rate > 0 {
                fixed_rate
            } else {
                decoder.rate() as i32
            };
            let mut enc = codec::context::Context::new_with_codec(found)
                .encoder()
                .audio()
                .map_err(ff("creating the audio encoder"))?;
            // Planar float where the encoder takes it (aac), else packed
            // float (libopus takes only interleaved samples; FFmpeg lets a
            // planar format through for mono only).
            let planar = Sample::F32(format::sample::Type::Planar);
            let packed = found
                .audio()
                .ok()
                .and_then(|a| a.formats())
                .is_some_and(|mut formats| !formats.any(|f| f == planar));
            enc.set_rate(rate);
            enc.set_channel_layout(layout);
            enc.set_format(if packed {
                Sample::F32(format::sample::Type::Packed)
            } else {
                planar
            });
            enc.set_bit_rate(if layout == ChannelLayout::MONO {
                96_000
            } else {
                160_000
            });
            enc.set_time_base(Rational(1, rate));
            if global_header {
                enc.set_flags(codec::Flags::GLOBAL_HEADER);
            }
            let encoder = enc
                .open_as_with(found, Dictionary::new())
                .map_err(ff("opening the audio encoder"))?;
            {
                let mut out = output
                    .add_stream(found)
                    .map_err(ff("adding the audio stream"))?;
                out.set_parameters(&encoder);
                out.set_time_base(Rational(1, rate));
            }
            let in_layout = if decoder.channel_layout().is_empty() {
                ChannelLayout::default(i32::from(decoder.channels()))
            } else {
                decoder.channel_layout()
            };
            let resampler = resampling::Context::get(
                decoder.format(),
                in_layout,
                decoder.rate(),
                Sample::F32(format::sample::Type::Planar),
                layout,
                rate as u32,
            )
            .map_err(ff("creating the audio resampler"))?;
            let frame_size = (encoder.frame_size() as usize).max(1);
            AudioMode::Transcode(Box::new(Transcoder {
                decoder,
                resampler,
                encoder,
                frame_size,
                layout,
                rate,
                pending: vec![Vec::new(); layout.channels() as usize],
                next_pts: 0,
                packed,
            }))
        };
        Ok(Some(Self {
            input,
            stream_index,
            in_tb,
            out_index,
            mode,
            read_to: f64::NEG_INFINITY,
            done: false,
        }))
    }

    /// Moves source audio up to `until` seconds (all of it for `None`).
    pub(crate) fn pump(
        &mut self,
        output: &mut format::context::Output,
        until: Option<f64>,
    ) -> Result<(), MediaError> {
        let out_tb = output
            .stream(self.out_index)
            .map_or(self.in_tb, |s| s.time_base());
        let mut packet = Packet::empty();
        while !self.done && until.is_none_or(|u| self.read_to < u) {
            match crate::read_packet(&mut packet, &mut self.input) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => {
                    self.done = true;
                    break;
                }
                // A damaged packet: skip it.
                Err(_) => continue,
            }
            if packet.stream() != self.stream_index {
                continue;
            }
            if let Some(pts) = packet.pts().or(packet.dts()) {
                self.read_to = pts as f64 * f64::from(self.in_tb);
            }
            match &mut self.mode {
                AudioMode::Copy => {
                    packet.set_stream(self.out_index);
                    packet.set_position(-1);
                    packet.rescale_ts(self.in_tb, out_tb);
                    packet
                        .write_interleaved(output)
                        .map_err(ff("writing audio"))?;
                }
                AudioMode::Transcode(t) => {
                    if t.decoder.send_packet(&packet).is_ok() {
                        t.decode(output, self.out_index, out_tb)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self, output: &mut format::context::Output) -> Result<(), MediaError> {
        let out_tb = output
            .stream(self.out_index)
            .map_or(self.in_tb, |s| s.time_base());
        if let AudioMode::Transcode(t) = &mut self.mode {
            let _ = t.decoder.send_eof();
            t.decode(output, self.out_index, out_tb)?;
            t.drain_resampler()?;
            t.emit(output, self.out_index, out_tb, true)?;
            t.encoder.send_eof().map_err(ff("flushing audio"))?;
            t.drain(output, self.out_index, out_tb)?;
        }
        Ok(())
    }
}

impl Transcoder {
    fn decode(
        &mut self,
        output: &mut format::context::Output,
        index: usize,
        tb: Rational,
    ) -> Result<(), MediaError> {
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            // Room for everything this input gives at the output rate, and
            // what the resampler holds back: a frame sized to the input
            // alone is too small when the rate goes up, and the excess
            // would pile up inside the resampler and be lost at the end.
            let input_rate = decoded.rate().max(1);
            let room = decoded.samples() as u64 * self.rate as u64 / u64::from(input_rate)
                + self.held_back()
                + 64;
            let mut resampled = self.output_frame(room as usize);
            self.resampler
                .run(&decoded, &mut resampled)
                .map_err(ff("resampling audio"))?;
            self.take(&resampled);
            self.emit(output, index, tb, false)?;
        }
        Ok(())
    }

    /// Takes the samples the resampler still holds (its filter delay) into
    /// the pending samples; called once, at the end.
    fn drain_resampler(&mut self) -> Result<(), MediaError> {
        loop {
            let mut resampled = self.output_frame(self.held_back() as usize + 64);
            self.resampler
                .flush(&mut resampled)
                .map_err(ff("flushing the audio resampler"))?;
            if resampled.samples() == 0 {
                return Ok(());
            }
            self.take(&resampled);
        }
    }

    /// Samples the resampler holds, at the output rate.
    fn held_back(&self) -> u64 {
        self.resampler
            .delay()
            .map_or(0, |d| u64::try_from(d.output).unwrap_or(0))
    }

    /// An allocated frame of `capacity` samples in the encoder's format.
    fn output_frame(&self, capacity: usize) -> frame::Audio {
        let mut f = frame::Audio::new(
            Sample::F32(format::sample::Type::Planar),
            capacity.max(1),
            self.layout,
        );
        f.set_rate(self.rate as u32);
        f
    }

    fn take(&mut self, resampled: &frame::Audio) {
        let n = resampled.samples();
        for (ch, pending) in self.pending.iter_mut().enumerate() {
            pending.extend_from_slice(&resampled.plane::<f32>(ch)[..n]);
        }
    }

    /// Encodes whole frames of pending samples (and, at the end, the
    /// rest padded with silence).
    fn emit(
        &mut self,
        output: &mut format::context::Output,
        index: usize,
        tb: Rational,
        last: bool,
    ) -> Result<(), MediaError> {
        loop {
            let available = self.pending.first().map_or(0, Vec::len);
            if available == 0 || (available < self.frame_size && !last) {
                return Ok(());
            }
            let take = available.min(self.frame_size);
            let mut f = if self.packed {
                let mut f = frame::Audio::new(
                    Sample::F32(format::sample::Type::Packed),
                    self.frame_size,
                    self.layout,
                );
                let channels = self.pending.len();
                let data = f.data_mut(0);
                data.fill(0);
                for (ch, pending) in self.pending.iter().enumerate() {
                    for (i, v) in pending[..take].iter().enumerate() {
                        let at = (i * channels + ch) * 4;
                        data[at..at + 4].copy_from_slice(&v.to_ne_bytes());
                    }
                }
                f
            } else {
                let mut f = frame::Audio::new(
                    Sample::F32(format::sample::Type::Planar),
                    self.frame_size,
                    self.layout,
                );
                for (ch, pending) in self.pending.iter().enumerate() {
                    let plane = f.plane_mut::<f32>(ch);
                    plane[..take].copy_from_slice(&pending[..take]);
                    plane[take..].fill(0.0);
                }
                f
            };
            for pending in &mut self.pending {
                pending.drain(..take);
            }
            f.set_rate(self.rate as u32);
            f.set_pts(Some(self.next_pts));
            self.next_pts += self.frame_size as i64;
            self.encoder.send_frame(&f).map_err(ff("encoding audio"))?;
            self.drain(output, index, tb)?;
        }
    }

    fn drain(
        &mut self,
        output: &mut format::context::Output,
        index: usize,
        tb: Rational,
    ) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(index);
            packet.rescale_ts(Rational(1, self.rate), tb);
            packet
                .write_interleaved(output)
                .map_err(ff("writing audio"))?;
        }
        Ok(())
    }
}
