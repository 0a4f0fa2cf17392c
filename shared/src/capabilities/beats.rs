//! `AudioBeatDetection`: beats, downbeats, tempo and meter of music.
//!
//! Audio is decoded to mono 22.05 kHz; a log-frequency SuperFlux onset
//! envelope drives a hidden Markov model over beat period and phase
//! (Viterbi-decoded), within ±35% of the global tempo that an
//! autocorrelation with a log-normal tempo prior picks inside
//! `MinBpm`–`MaxBpm`. Downbeats come from the bar phase and meter whose
//! beats carry the most harmonic (chroma) change, bass onsets and accent.

use std::io::Write;
use std::path::Path;

use super::{Capability, CapabilityOutput, Context, OutputSink};
use crate::audio::beats::{track, BeatTrack, TrackerSettings};
use crate::audio::features::{features, Features};
use crate::audio::SAMPLE_RATE;
use crate::domain::music::{BeatParams, BeatResult, TempoPoint};
use crate::domain::{ErrorCode, FunctionName, JobError};
use crate::media::decode_mono;

/// The `AudioBeatDetection` capability.
#[derive(Debug, Clone, Copy, Default)]
pub struct BeatDetection;

impl Capability for BeatDetection {
    fn function(&self) -> FunctionName {
        FunctionName::AudioBeatDetection
    }

    fn check(&self, params: &serde_json::Value) -> Result<(), JobError> {
        BeatParams::try_from(params).map(|_| ())
    }

    fn run(
        &self,
        input: &Path,
        params: &serde_json::Value,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<CapabilityOutput, JobError> {
        let params = BeatParams::try_from(params)?;
        let Analysis {
            track,
            duration,
            offset,
            ..
        } = analyse(input, &params, ctx)?;
        ctx.progress.update(0.9);
        let file = sink.plan("beats", "txt", "text/plain", false)?;
        let result = to_result(track.as_ref(), duration, offset, file.location.to_string());
        write_text(&file.local, &result)?;
        let message = match &track {
            None => "no beats: the audio is silent or has no rhythmic onsets".to_owned(),
            Some(t) => format!(
                "{} beats at {:.1} BPM in {}",
                t.beats.len(),
                t.bpm,
                result.time_signature
            ),
        };
        Ok(CapabilityOutput {
            message,
            data: serde_json::to_value(&result).unwrap_or_default(),
        })
    }
}

/// What one analysis pass over a file produces.
#[derive(Debug)]
pub struct Analysis {
    /// The beats, when there is a rhythm to follow.
    pub track: Option<BeatTrack>,
    /// The frame features the beats were found in.
    pub features: Features,
    /// Seconds analysed.
    pub duration: f64,
    /// Where the analysed audio starts in the source, seconds.
    pub offset: f64,
}

/// Decodes `input` (the `StartTime`–`EndTime` part), computes features and
/// tracks beats within the tempo range of `params`.
///
/// # Errors
/// Media errors (corrupt, no audio, limits); `Timeout` when cancelled.
pub fn analyse(input: &Path, params: &BeatParams, ctx: &Context) -> Result<Analysis, JobError> {
    let started = std::time::Instant::now();
    let audio = decode_mono(
        input,
        SAMPLE_RATE,
        &ctx.limits,
        params.start_time,
        params.end_time,
    )?;
    if ctx.cancelled() {
        return Err(JobError::permanent(ErrorCode::Timeout, "cancelled"));
    }
    ctx.progress.update(0.3);
    let decoded_ms = started.elapsed().as_secs_f64() * 1e3;
    let f = features(&audio.samples);
    ctx.progress.update(0.6);
    let features_ms = started.elapsed().as_secs_f64() * 1e3 - decoded_ms;
    let settings = TrackerSettings {
        min_bpm: params.min_bpm,
        max_bpm: params.max_bpm,
        prior_bpm: TrackerSettings::default()
            .prior_bpm
            .clamp(params.min_bpm, params.max_bpm),
        ..TrackerSettings::default()
    };
    let track = track(&f, &settings);
    tracing::debug!(
        decoded_ms,
        features_ms,
        tracked_ms = started.elapsed().as_secs_f64() * 1e3 - decoded_ms - features_ms,
        seconds = audio.duration_s(),
        "beat analysis"
    );
    Ok(Analysis {
        track,
        features: f,
        duration: audio.duration_s(),
        offset: audio.offset_s,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The result JSON of a track (times shifted by `offset`).
pub fn to_result(
    track: Option<&BeatTrack>,
    duration: f64,
    offset: f64,
    file: String,
) -> BeatResult {
    let Some(t) = track else {
        return BeatResult {
            beat_list: Vec::new(),
            down_beat_list: Vec::new(),
            beat_positions: Vec::new(),
            bpm: 0.0,
            tempo_curve: Vec::new(),
            time_signature: "4/4".into(),
            confidence: 0.0,
            downbeat_confidence: 0.0,
            duration: round3(duration),
            file,
        };
    };
    let beats: Vec<f64> = t.beats.iter().map(|b| round3(b + offset)).collect();
    BeatResult {
        down_beat_list: beats
            .iter()
            .zip(t.positions.iter())
            .filter(|(_, &p)| p == 1)
            .map(|(b, _)| *b)
            .collect(),
        beat_list: beats,
        beat_positions: t.positions.clone(),
        bpm: (t.bpm * 10.0).round() / 10.0,
        tempo_curve: t
            .tempo_curve
            .iter()
            .map(|&(time, bpm)| TempoPoint {
                time: round3(time + offset),
                bpm,
            })
            .collect(),
        time_signature: format!("{}/4", t.meter),
        confidence: round3(t.confidence),
        downbeat_confidence: round3(t.downbeat_confidence),
        duration: round3(duration),
        file,
    }
}

fn write_text(path: &Path, result: &BeatResult) -> Result<(), JobError> {
    let io = |e: std::io::Error| {
        JobError::permanent(
            ErrorCode::InternalError,
            format!("writing {}: {e}", path.display()),
        )
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for (time, position) in result.beat_list.iter().zip(result.beat_positions.iter()) {
        writeln!(out, "{time:.3}\t{position}").map_err(io)?;
    }
    out.flush().map_err(io)
}
