//! Long videos in segments: where to cut (on keyframes, found from the
//! container's index without decoding) and how to join the segments'
//! videos again (their packets copied, nothing re-encoded, the source's
//! audio added once), so that the joined file is the one a single pass
//! would have written.

use std::path::{Path, PathBuf};

use ffmpeg_next::{encoder, Packet};
use iprod_core::domain::{Limits, Span};

use super::encode::{ff, AudioTrack, VideoCodec};
use super::process::Processed;
use super::video::best_video;
use super::{MediaError, VideoReader};

/// Cuts `input`'s timeline into at most `parts` spans of about equal
/// length, each starting on a keyframe (so a segment's decoding starts
/// where its output does, unless it warms up over the `warm_up_s`
/// before). Cuts that would make a segment shorter than a second are
/// dropped; a stream that cannot seek is one span.
///
/// # Errors
/// As [`VideoReader::open`].
pub fn plan(
    input: &Path,
    limits: &Limits,
    parts: usize,
    warm_up_s: f64,
) -> Result<Vec<Span>, MediaError> {
    plan_by(input, limits, |_| parts, warm_up_s)
}

/// [`plan`] with segments of about `segment_s` seconds.
///
/// # Errors
/// As [`plan`].
pub fn plan_every(
    input: &Path,
    limits: &Limits,
    segment_s: f64,
    warm_up_s: f64,
) -> Result<Vec<Span>, MediaError> {
    plan_by(
        input,
        limits,
        |duration| (duration / segment_s.max(1.0)).ceil().max(1.0) as usize,
        warm_up_s,
    )
}

/// [`plan`] into `parts(duration)` segments: the input is opened once.
fn plan_by(
    input: &Path,
    limits: &Limits,
    parts: impl Fn(f64) -> usize,
    warm_up_s: f64,
) -> Result<Vec<Span>, MediaError> {
    let mut reader = VideoReader::open(input, limits)?;
    let duration = reader.info().duration_s;
    let parts = parts(duration);
    let mut cuts = vec![0.0];
    if duration > 0.0 {
        for k in 1..parts.max(1) {
            let nominal = duration * k as f64 / parts as f64;
            let Some(keyframe) = reader.keyframe_before(nominal)? else {
                continue;
            };
            let last = cuts.last().copied().unwrap_or(0.0);
            if keyframe >= last + 1.0 && keyframe <= duration - 1.0 {
                cuts.push(keyframe);
            }
        }
    }
    Ok(cuts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = cuts.get(i + 1).copied().unwrap_or(f64::INFINITY);
            Span::new(start, end, warm_up_s)
        })
        .collect())
}

/// Joins `parts`, videos of adjacent spans written with the same
/// settings by [`crate::process::transform_video`], into `output` (of the
/// container of `family`) by copying their packets, and adds the audio
/// of `audio_from` as a single pass would.
///
/// # Errors
/// `Corrupt` when a part has no video, was encoded differently from the
/// first, or overlaps the one before; FFmpeg errors reading or writing.
pub fn join_parts(
    parts: &[PathBuf],
    audio_from: Option<&Path>,
    output: &Path,
    family: VideoCodec,
) -> Result<Processed, MediaError> {
    super::init();
    let Some(first) = parts.first() else {
        return Err(mismatch("there are no parts to join"));
    };
    // The parts were written here; only the allow-lists matter.
    let limits = Limits::default();
    let reference = crate::input::open(first, &limits)?;
    let (width, height, params) = {
        let stream = best_video(&reference, first)?;
        let p = stream.parameters();
        let decoder = ffmpeg_next::codec::context::Context::from_parameters(p.clone())
            .and_then(|c| c.decoder().video())
            .map_err(ff("reading the first part's parameters"))?;
        (decoder.width(), decoder.height(), p)
    };
    let mut out = ffmpeg_next::format::output_as(output, family.container())
        .map_err(ff("creating the output"))?;
    let global_header = out
        .format()
        .flags()
        .contains(ffmpeg_next::format::Flags::GLOBAL_HEADER);
    let out_tb = {
        let stream = best_video(&reference, first)?;
        let mut video = out
            .add_stream(encoder::find(ffmpeg_next::codec::Id::None))
            .map_err(ff("adding the video stream"))?;
        video.set_parameters(params);
        video.set_time_base(stream.time_base());
        // WebM's `alpha_mode` says the VP9 carries alpha.
        video.set_metadata(stream.metadata().to_owned());
        stream.time_base()
    };
    let mut audio = match audio_from {
        Some(source) => AudioTrack::open(source, family, &mut out, global_header)?,
        None => None,
    };
    out.write_header_with(family.header_options())
        .map_err(ff("writing the header"))?;
    let out_tb = out.stream(0).map_or(out_tb, |s| s.time_base());
    // The muxer takes the last frame's duration from its packet (else it
    // ends the track, and its edit list, a frame early).
    let frame_ticks = {
        let rate = f64::from(best_video(&reference, first)?.avg_frame_rate());
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            25.0
        };
        (f64::from(out_tb.denominator()) / f64::from(out_tb.numerator().max(1)) / rate).round()
            as i64
    };
    let reference_extradata = extradata(&reference, first)?;
    let mut frames = 0u64;
    let mut last_dts: Option<i64> = None;
    let mut end_ts = 0i64;
    for part in parts {
        let mut input = crate::input::open(part, &limits)?;
        if extradata(&input, part)? != reference_extradata {
            return Err(mismatch(format!(
                "{} was encoded with other settings than {}",
                part.display(),
                first.display()
            )));
        }
        let (index, in_tb) = {
            let s = best_video(&input, part)?;
            (s.index(), s.time_base())
        };
        let mut packet = Packet::empty();
        loop {
            match crate::read_packet(&mut packet, &mut input) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => break,
                Err(e) => {
                    return Err(MediaError::Ffmpeg {
                        context: "reading a part",
                        source: e,
                    })
                }
            }
            if packet.stream() != index {
                continue;
            }
            packet.set_stream(0);
            packet.set_position(-1);
            packet.rescale_ts(in_tb, out_tb);
            if packet.duration() <= 0 {
                packet.set_duration(frame_ticks);
            }
            if let (Some(dts), Some(last)) = (packet.dts(), last_dts) {
                if dts <= last {
                    return Err(mismatch(format!(
                        "{} starts before the part before it ends",
                        part.display()
                    )));
                }
            }
            last_dts = packet.dts().or(last_dts);
            let pts = packet.pts().or(packet.dts()).unwrap_or(0);
            end_ts = end_ts.max(pts + packet.duration().max(0));
            frames += 1;
            packet
                .write_interleaved(&mut out)
                .map_err(ff("writing video"))?;
            if let Some(audio) = &mut audio {
                let time = pts as f64 * f64::from(out_tb);
                audio.pump(&mut out, Some(time + 0.5))?;
            }
        }
    }
    if frames == 0 {
        return Err(mismatch("the parts hold no video"));
    }
    if let Some(audio) = &mut audio {
        audio.pump(&mut out, None)?;
        audio.flush(&mut out)?;
    }
    out.write_trailer().map_err(ff("writing the trailer"))?;
    Ok(Processed {
        frames,
        width,
        height,
        duration_s: end_ts as f64 * f64::from(out_tb),
    })
}

/// The codec's global header (SPS/PPS for H.264): parts joined must
/// share it.
fn extradata(
    input: &ffmpeg_next::format::context::Input,
    path: &Path,
) -> Result<(ffmpeg_next::codec::Id, Vec<u8>), MediaError> {
    let stream = best_video(input, path)?;
    let params = stream.parameters();
    let decoder = ffmpeg_next::codec::context::Context::from_parameters(params.clone())
        .map_err(ff("reading a part's parameters"))?;
    Ok((params.id(), extradata_of(&decoder)))
}

#[allow(unsafe_code)]
fn extradata_of(context: &ffmpeg_next::codec::context::Context) -> Vec<u8> {
    // SAFETY: `extradata` is null or points at `extradata_size` bytes the
    // context owns, alive as long as `context`; they are copied out here.
    unsafe {
        let ctx = context.as_ptr();
        let data = (*ctx).extradata;
        let size = (*ctx).extradata_size;
        if data.is_null() || size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(data, size as usize).to_vec()
        }
    }
}

fn mismatch(detail: impl Into<String>) -> MediaError {
    MediaError::Corrupt {
        kind: "video",
        detail: detail.into(),
    }
}

/// [`iprod_core::ports::Segmenter`] with FFmpeg: [`plan`] and
/// [`join_parts`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FfmpegSegmenter;

impl iprod_core::ports::Segmenter for FfmpegSegmenter {
    fn duration(&self, input: &Path, limits: &Limits) -> Result<f64, iprod_core::domain::JobError> {
        Ok(VideoReader::open(input, limits)?.info().duration_s)
    }

    fn plan(
        &self,
        input: &Path,
        limits: &Limits,
        parts: usize,
        warm_up_s: f64,
    ) -> Result<Vec<Span>, iprod_core::domain::JobError> {
        Ok(plan(input, limits, parts, warm_up_s)?)
    }

    fn plan_every(
        &self,
        input: &Path,
        limits: &Limits,
        segment_s: f64,
        warm_up_s: f64,
    ) -> Result<Vec<Span>, iprod_core::domain::JobError> {
        Ok(plan_every(input, limits, segment_s, warm_up_s)?)
    }

    fn join(
        &self,
        parts: &[PathBuf],
        audio_from: &Path,
        output: &Path,
        content_type: &str,
    ) -> Result<(u64, f64), iprod_core::domain::JobError> {
        let family = VideoCodec::of_content_type(content_type).ok_or_else(|| {
            iprod_core::domain::JobError::permanent(
                iprod_core::domain::ErrorCode::InternalError,
                format!("{content_type} files cannot be joined"),
            )
        })?;
        let done = join_parts(parts, Some(audio_from), output, family)?;
        Ok((done.frames, done.duration_s))
    }
}
