//! Audio decoding: any stream FFmpeg reads (audio files, the audio track
//! of a video) to mono `f32` at a fixed rate, downmixed and resampled by
//! FFmpeg's swresample.

use std::path::Path;

use ffmpeg_next::format::sample::Type as SampleType;
use ffmpeg_next::format::Sample;
use ffmpeg_next::software::resampling;
use ffmpeg_next::util::frame;
use ffmpeg_next::{media, ChannelLayout, Packet};

use super::MediaError;
use iprod_core::domain::Limits;

/// Decoded mono audio.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioBuffer {
    /// Samples in -1…1.
    pub samples: Vec<f32>,
    /// Sample rate of `samples`, Hz.
    pub sample_rate: u32,
    /// Channels of the source stream.
    pub source_channels: u16,
    /// Sample rate of the source stream, Hz.
    pub source_rate: u32,
    /// Where `samples` start in the source, seconds.
    pub offset_s: f64,
}

impl AudioBuffer {
    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// What [`decode_mono_stream`] decoded, besides the samples it handed on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamInfo {
    /// Sample rate of the samples handed on, Hz.
    pub sample_rate: u32,
    /// Channels of the source stream.
    pub source_channels: u16,
    /// Sample rate of the source stream, Hz.
    pub source_rate: u32,
    /// Where the samples handed on start in the source, seconds.
    pub offset_s: f64,
    /// How many samples were handed on.
    pub samples: usize,
}

impl StreamInfo {
    /// Length of what was handed on, seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples as f64 / f64::from(self.sample_rate.max(1))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct ResamplerKey {
    format: Sample,
    layout: ChannelLayout,
    rate: u32,
}

/// Decodes the best audio stream of `path` to mono at `sample_rate`,
/// keeping `[start_s, end_s)` when given.
///
/// # Errors
/// `Open` for unreadable files, `NoStream` without audio, `Limit` over the
/// duration limit, `Corrupt` when nothing decodes.
pub fn decode_mono(
    path: &Path,
    sample_rate: u32,
    limits: &Limits,
    start_s: Option<f64>,
    end_s: Option<f64>,
) -> Result<AudioBuffer, MediaError> {
    let mut samples = Vec::new();
    let info = decode_mono_stream(path, sample_rate, limits, start_s, end_s, &mut |chunk| {
        samples.extend_from_slice(chunk);
    })?;
    Ok(AudioBuffer {
        samples,
        sample_rate,
        source_channels: info.source_channels,
        source_rate: info.source_rate,
        offset_s: info.offset_s,
    })
}

/// [`decode_mono`], handing the samples to `sink` in order as they are
/// decoded instead of keeping them (so that analysis can run beside the
/// decoder). On an error, `sink` may have had part of the audio.
///
/// # Errors
/// As [`decode_mono`].
pub fn decode_mono_stream(
    path: &Path,
    sample_rate: u32,
    limits: &Limits,
    start_s: Option<f64>,
    end_s: Option<f64>,
    sink: &mut dyn FnMut(&[f32]),
) -> Result<StreamInfo, MediaError> {
    super::init();
    let mut input = crate::input::open(path, limits)?;
    let stream = input
        .streams()
        .best(media::Type::Audio)
        .ok_or_else(|| MediaError::NoStream {
            path: path.to_owned(),
            kind: "audio",
        })?;
    let index = stream.index();
    let time_base = f64::from(stream.time_base());
    let stream_start = if stream.start_time() == ffmpeg_next::ffi::AV_NOPTS_VALUE {
        0
    } else {
        stream.start_time()
    };
    let container_duration = if input.duration() > 0 {
        input.duration() as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE)
    } else {
        0.0
    };
    if container_duration > limits.max_duration_s {
        return Err(MediaError::Limit {
            what: "the duration",
            actual: format!("{container_duration:.1} s"),
            limit: format!("{:.0} s", limits.max_duration_s),
        });
    }
    let context = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|source| MediaError::Ffmpeg {
            context: "reading codec parameters",
            source,
        })?;
    let codec_id = stream.parameters().id();
    let mut decoder = context
        .decoder()
        .audio()
        .map_err(|_| MediaError::UnsupportedCodec {
            codec: format!("{codec_id:?}").to_lowercase(),
        })?;
    let source_channels = decoder.channels();
    let source_rate = decoder.rate();

    let start = start_s.unwrap_or(0.0).max(0.0);
    if container_duration > 0.0 && start >= container_duration {
        return Err(MediaError::StartPastEnd {
            start,
            duration: container_duration,
        });
    }
    let end = end_s.unwrap_or(f64::INFINITY);
    let max_samples = (limits.max_duration_s * f64::from(sample_rate)) as usize;
    // Samples produced so far; those in [from, to) are handed on.
    let from = (start * f64::from(sample_rate)) as usize;
    let to = if end.is_finite() {
        ((end * f64::from(sample_rate)) as usize).max(from)
    } else {
        usize::MAX
    };
    let mut trim = Trim {
        from,
        to,
        produced: 0,
        handed: 0,
    };
    // A late start is sought, half a second early, instead of decoded up
    // to; the first frame's timestamp then says where its samples lie.
    let mut positioned = true;
    if start > 1.0 {
        let ts = ((start - 0.5) * f64::from(ffmpeg_next::ffi::AV_TIME_BASE)) as i64;
        positioned = input.seek(ts, ..ts).is_err();
    }
    let mut resampler: Option<(ResamplerKey, resampling::Context)> = None;
    let mut decoded = frame::Audio::empty();
    let mut frames = 0u64;
    let mut last_error: Option<ffmpeg_next::Error> = None;
    let mut packet = Packet::empty();
    let mut eof = false;
    let mut done = false;
    while !done {
        if !eof {
            match crate::read_packet(&mut packet, &mut input) {
                Ok(()) if packet.stream() != index => continue,
                Ok(()) => {
                    if let Err(e) = decoder.send_packet(&packet) {
                        last_error = Some(e);
                        continue;
                    }
                }
                Err(ffmpeg_next::Error::Eof) => {
                    eof = true;
                    let _ = decoder.send_eof();
                }
                Err(ffmpeg_next::Error::InvalidData) => continue,
                Err(e) => {
                    last_error = Some(e);
                    eof = true;
                    let _ = decoder.send_eof();
                }
            }
        }
        loop {
            match decoder.receive_frame(&mut decoded) {
                Ok(()) => {
                    frames += 1;
                    if !positioned {
                        positioned = true;
                        let landed = decoded
                            .timestamp()
                            .or_else(|| decoded.pts())
                            .map(|pts| (pts - stream_start) as f64 * time_base)
                            .map(|at| (at.max(0.0) * f64::from(sample_rate)) as usize);
                        match landed {
                            Some(at) if at <= trim.from => trim.produced = at,
                            _ => {
                                // No timestamp to go by, or the seek went
                                // past the start: decode from the top.
                                decoder.flush();
                                input
                                    .seek(i64::MIN, ..0)
                                    .map_err(|source| MediaError::Ffmpeg {
                                        context: "seeking back to the start",
                                        source,
                                    })?;
                                break;
                            }
                        }
                    }
                    if decoded.channel_layout().is_empty() {
                        decoded.set_channel_layout(ChannelLayout::default(i32::from(
                            decoded.channels().max(1),
                        )));
                    }
                    let key = ResamplerKey {
                        format: decoded.format(),
                        layout: decoded.channel_layout(),
                        rate: decoded.rate(),
                    };
                    if resampler.as_ref().map(|(k, _)| *k) != Some(key) {
                        let ctx = resampling::Context::get(
                            key.format,
                            key.layout,
                            key.rate,
                            Sample::F32(SampleType::Packed),
                            ChannelLayout::MONO,
                            sample_rate,
                        )
                        .map_err(|source| MediaError::Ffmpeg {
                            context: "creating a resampler",
                            source,
                        })?;
                        resampler = Some((key, ctx));
                    }
                    if let Some((_, ctx)) = resampler.as_mut() {
                        let capacity = decoded.samples() * sample_rate as usize
                            / key.rate.max(1) as usize
                            + 256;
                        let mut out = frame::Audio::new(
                            Sample::F32(SampleType::Packed),
                            capacity,
                            ChannelLayout::MONO,
                        );
                        ctx.run(&decoded, &mut out)
                            .map_err(|source| MediaError::Ffmpeg {
                                context: "resampling",
                                source,
                            })?;
                        trim.feed(&out.plane::<f32>(0)[..out.samples()], sink);
                    }
                    let have = trim.produced as f64 / f64::from(sample_rate);
                    if have >= end || trim.produced > max_samples {
                        done = true;
                        break;
                    }
                }
                Err(ffmpeg_next::Error::Other {
                    errno: ffmpeg_next::util::error::EAGAIN,
                }) => break,
                Err(ffmpeg_next::Error::Eof) => {
                    done = true;
                    break;
                }
                Err(e) => {
                    last_error = Some(e);
                    break;
                }
            }
        }
    }
    if let Some((_, ctx)) = resampler.as_mut() {
        loop {
            let mut out =
                frame::Audio::new(Sample::F32(SampleType::Packed), 4096, ChannelLayout::MONO);
            match ctx.flush(&mut out) {
                Ok(_) if out.samples() > 0 => {
                    trim.feed(&out.plane::<f32>(0)[..out.samples()], sink);
                }
                _ => break,
            }
        }
    }
    if frames == 0 {
        return Err(MediaError::Corrupt {
            kind: "audio",
            detail: match last_error {
                Some(e) => format!("no frame decodes ({e})"),
                None => "the stream holds no samples".into(),
            },
        });
    }
    if trim.handed == 0 && start > 0.0 && trim.produced <= trim.from {
        // A container that did not say how long it is.
        return Err(MediaError::StartPastEnd {
            start,
            duration: trim.produced as f64 / f64::from(sample_rate),
        });
    }
    if trim.produced > max_samples {
        return Err(MediaError::Limit {
            what: "the duration",
            actual: format!("over {:.0} s", limits.max_duration_s),
            limit: format!("{:.0} s", limits.max_duration_s),
        });
    }
    Ok(StreamInfo {
        sample_rate,
        source_channels,
        source_rate,
        offset_s: start,
        samples: trim.handed,
    })
}

/// Hands on the part of the produced samples inside `[from, to)`.
struct Trim {
    from: usize,
    to: usize,
    produced: usize,
    handed: usize,
}

impl Trim {
    fn feed(&mut self, chunk: &[f32], sink: &mut dyn FnMut(&[f32])) {
        let (lo, hi) = (self.produced, self.produced + chunk.len());
        self.produced = hi;
        let (a, b) = (self.from.clamp(lo, hi) - lo, self.to.clamp(lo, hi) - lo);
        if b > a {
            sink(&chunk[a..b]);
            self.handed += b - a;
        }
    }
}
