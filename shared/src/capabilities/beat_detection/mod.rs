//! `AudioBeatDetection`: beats, downbeats, tempo and meter of music.
//!
//! Audio is decoded to mono 22.05 kHz; a log-frequency SuperFlux onset
//! envelope drives a hidden Markov model over beat period and phase
//! (Viterbi-decoded), within ±35% of the global tempo that an
//! autocorrelation with a log-normal tempo prior picks inside
//! `MinBpm`–`MaxBpm`. Downbeats come from the bar phase and meter whose
//! beats carry the most harmonic (chroma) change, bass onsets and accent.
//!
//! With `Model: "madmom"` (opt-in: non-commercial weights), madmom's joint
//! beat/downbeat networks give the frame-wise probabilities instead, and
//! the same trackers decode them.

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod madmom;
pub mod rnn;
pub mod tempo;
pub mod tracker;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use super::{Capability, Context, OutputSink, Report};
use crate::audio::features::{FeatureStream, Features};
use crate::audio::SAMPLE_RATE;
use crate::capabilities::beat_detection::api::{
    BeatDetectionParams, BeatDetectionResult, BeatModel, TempoPoint,
};
use crate::capabilities::beat_detection::madmom::{RhythmNet, Windowed};
use crate::capabilities::beat_detection::tracker::{
    track, track_activations, BeatTrack, TrackerSettings,
};
use crate::domain::{ErrorCode, FunctionName, JobError};
use crate::inference::{InferenceError, ModelDir};
use crate::media::decode_mono_stream;

/// The `AudioBeatDetection` capability. The default method needs no model;
/// the opt-in networks are opened on the first job that asks for them.
#[derive(Debug)]
pub struct BeatDetection {
    models: ModelDir,
    net: OnceLock<Result<Arc<RhythmNet>, InferenceError>>,
}

impl Default for BeatDetection {
    /// Models (only for `Model: "madmom"`) from `IPROD_MODELS`.
    fn default() -> Self {
        Self::new(ModelDir::from_env())
    }
}

impl BeatDetection {
    /// The capability, with opt-in models looked for in `models`.
    pub fn new(models: ModelDir) -> Self {
        Self {
            models,
            net: OnceLock::new(),
        }
    }

    /// The beats of `input` by the method `params` names, the seconds
    /// analysed and where they start in the source.
    ///
    /// # Errors
    /// Media errors; `InvalidParameter` (Model) when the opt-in networks
    /// are not installed; `Timeout` when cancelled.
    pub fn beats(
        &self,
        input: &Path,
        params: &BeatDetectionParams,
        ctx: &Context,
    ) -> Result<Beats, JobError> {
        match params.model {
            BeatModel::Default => {
                let a = analyse(input, params, ctx)?;
                Ok(Beats {
                    track: a.track,
                    duration: a.duration,
                    offset: a.offset,
                    loudest_db: a.loudest_db,
                })
            }
            BeatModel::Madmom => analyse_neural(self.net()?.as_ref(), input, params, ctx),
        }
    }

    /// Opens the opt-in networks now instead of at the first job that
    /// needs them.
    ///
    /// # Errors
    /// As [`BeatDetection::beats`] when they are not installed.
    pub fn warm_up(&self) -> Result<(), JobError> {
        self.net().map(|_| ())
    }

    /// The opt-in networks, opened once.
    fn net(&self) -> Result<Arc<RhythmNet>, JobError> {
        self.net
            .get_or_init(|| RhythmNet::load(&self.models).map(Arc::new))
            .clone()
            .map_err(|e| {
                JobError::param(
                    "Model",
                    format!(
                        "\"madmom\" is not available in this deployment ({e}); its weights are \
                         CC BY-NC-SA 4.0 (non-commercial) and are installed only on request: \
                         scripts/fetch-models --opt-in madmom"
                    ),
                )
            })
    }
}

impl Capability for BeatDetection {
    type Params = BeatDetectionParams;
    type Output = BeatDetectionResult;

    fn function(&self) -> FunctionName {
        FunctionName::AudioBeatDetection
    }

    fn parse(&self, params: &serde_json::Value) -> Result<BeatDetectionParams, JobError> {
        BeatDetectionParams::try_from(params)
    }

    fn run(
        &self,
        input: &Path,
        params: &BeatDetectionParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<BeatDetectionResult>, JobError> {
        let Beats {
            track,
            duration,
            offset,
            loudest_db,
        } = self.beats(input, params, ctx)?;
        ctx.progress.update(0.9);
        let file = sink.plan("beats", "txt", "text/plain", false)?;
        let result = to_result(track.as_ref(), duration, offset, file.location.to_string());
        write_text(&file.local, &result)?;
        let message = match &track {
            None if loudest_db < LOUDNESS_FLOOR_DB => format!(
                "no beats: the audio is silence or noise (its loudest half second is {} dBFS, under the floor of {LOUDNESS_FLOOR_DB} dBFS)",
                if loudest_db.is_finite() { format!("{loudest_db:.0}") } else { "-inf".to_owned() }
            ),
            None => "no beats: the audio has no rhythmic onsets".to_owned(),
            Some(t) => format!(
                "{} beats at {:.1} BPM in {}",
                t.beats.len(),
                t.bpm,
                result.time_signature
            ),
        };
        Ok(Report { message, result })
    }
}

/// Seconds of audio the networks' activations are taken from at once
/// (the opt-in path), and the audio they see on either side of it. A song
/// of up to 6 minutes is one window, run whole; longer audio keeps the
/// memory of one window (about 1 GB at most, where 30 minutes run whole
/// took 4 GB). The networks' memory fades over seconds, so a window's
/// frames differ from a whole run's by little (a test measures it).
pub const NEURAL_WINDOW_S: f64 = 300.0;
/// See [`NEURAL_WINDOW_S`].
pub const NEURAL_CONTEXT_S: f64 = 30.0;

/// Below this level (the RMS of the loudest half second, dBFS) audio is
/// silence or noise: no beats are looked for. Music sits around -20 dBFS;
/// -60 dBFS is the noise floor of 10-bit audio.
pub const LOUDNESS_FLOOR_DB: f64 = -60.0;

/// The beats of a file, by either method.
#[derive(Debug)]
pub struct Beats {
    /// The beats, when there is a rhythm to follow.
    pub track: Option<BeatTrack>,
    /// Seconds analysed.
    pub duration: f64,
    /// Where the analysed audio starts in the source, seconds.
    pub offset: f64,
    /// RMS of the loudest half second, dBFS.
    pub loudest_db: f64,
}

/// The RMS level of the loudest block of samples, fed piece by piece.
#[derive(Debug, Default)]
struct LoudnessMeter {
    sum: f64,
    n: usize,
    loudest: f64,
}

impl LoudnessMeter {
    /// Half a second at the analysis rate.
    const BLOCK: usize = SAMPLE_RATE as usize / 2;

    fn push(&mut self, samples: &[f32]) {
        for &x in samples {
            self.sum += f64::from(x) * f64::from(x);
            self.n += 1;
            if self.n == Self::BLOCK {
                self.close();
            }
        }
    }

    fn close(&mut self) {
        if self.n > 0 {
            self.loudest = self.loudest.max(self.sum / self.n as f64);
        }
        self.sum = 0.0;
        self.n = 0;
    }

    /// The level of the loudest block, dBFS (`-inf` for digital silence).
    fn finish(mut self) -> f64 {
        self.close();
        10.0 * self.loudest.log10()
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
    /// RMS of the loudest half second, dBFS; under
    /// [`LOUDNESS_FLOOR_DB`] no beats are tracked.
    pub loudest_db: f64,
}

/// Decodes `input` (the `StartTime`–`EndTime` part), computes features and
/// tracks beats within the tempo range of `params`.
///
/// # Errors
/// Media errors (corrupt, no audio, limits); `Timeout` when cancelled.
pub fn analyse(
    input: &Path,
    params: &BeatDetectionParams,
    ctx: &Context,
) -> Result<Analysis, JobError> {
    let started = std::time::Instant::now();
    // The spectrogram is computed beside the decoder.
    let (decoded, f) = streamed(input, SAMPLE_RATE, params, ctx.limits, |pieces| {
        let mut stream = FeatureStream::new();
        let mut meter = LoudnessMeter::default();
        for chunk in pieces {
            meter.push(&chunk);
            stream.push(&chunk);
        }
        (stream.finish(), meter.finish())
    });
    let (f, loudest_db) = f;
    let audio = decoded?;
    if ctx.cancelled() {
        return Err(JobError::permanent(ErrorCode::Timeout, "cancelled"));
    }
    ctx.progress.update(0.6);
    let analysed_ms = started.elapsed().as_secs_f64() * 1e3;
    let track = if loudest_db < LOUDNESS_FLOOR_DB {
        None
    } else {
        track(&f, &settings(params))
    };
    tracing::debug!(
        analysed_ms,
        tracked_ms = started.elapsed().as_secs_f64() * 1e3 - analysed_ms,
        seconds = audio.duration_s(),
        "beat analysis"
    );
    Ok(Analysis {
        track,
        features: f,
        duration: audio.duration_s(),
        offset: audio.offset_s,
        loudest_db,
    })
}

/// Decodes `input` (the part `params` names) to mono at `rate` on a
/// thread of its own and hands its samples to `consume` in pieces of
/// about 1.5 s as they come: what the decoder said, and what `consume`
/// returned.
fn streamed<T: Send>(
    input: &Path,
    rate: u32,
    params: &BeatDetectionParams,
    limits: crate::domain::Limits,
    consume: impl FnOnce(std::sync::mpsc::Receiver<Vec<f32>>) -> T + Send,
) -> (Result<crate::media::StreamInfo, JobError>, T) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<f32>>(8);
    let (decoded, out) = std::thread::scope(|scope| {
        let decoder = scope.spawn(move || {
            const PIECE: usize = 1 << 16;
            let mut piece: Vec<f32> = Vec::with_capacity(PIECE);
            let info = decode_mono_stream(
                input,
                rate,
                &limits,
                params.start_time,
                params.end_time,
                &mut |chunk| {
                    piece.extend_from_slice(chunk);
                    if piece.len() >= PIECE {
                        // The receiver only stops early when it panicked.
                        let _ = tx.send(std::mem::replace(&mut piece, Vec::with_capacity(PIECE)));
                    }
                },
            );
            let _ = tx.send(piece);
            info
        });
        let out = consume(rx);
        (decoder.join(), out)
    });
    let decoded = match decoded {
        Ok(info) => info.map_err(JobError::from),
        Err(_) => Err(JobError::permanent(
            ErrorCode::InternalError,
            "the audio decoder thread panicked",
        )),
    };
    (decoded, out)
}

/// The tracker within the tempo range of `params`.
fn settings(params: &BeatDetectionParams) -> TrackerSettings {
    TrackerSettings {
        min_bpm: params.min_bpm,
        max_bpm: params.max_bpm,
        prior_bpm: TrackerSettings::default()
            .prior_bpm
            .clamp(params.min_bpm, params.max_bpm),
        ..TrackerSettings::default()
    }
}

/// The opt-in path: decodes at the networks' rate, runs them and tracks
/// their probabilities.
///
/// # Errors
/// Media errors; `InternalError` when inference fails; `Timeout` when
/// cancelled.
fn analyse_neural(
    net: &RhythmNet,
    input: &Path,
    params: &BeatDetectionParams,
    ctx: &Context,
) -> Result<Beats, JobError> {
    // Run through the networks window by window as it is decoded: the
    // audio is never held whole.
    let (decoded, ran) = streamed(input, rnn::SAMPLE_RATE, params, ctx.limits, |pieces| {
        let mut meter = LoudnessMeter::default();
        let mut windows = Windowed::new(net, NEURAL_WINDOW_S, NEURAL_CONTEXT_S);
        let mut failed = None;
        for chunk in pieces {
            if failed.is_some() || ctx.cancelled() {
                // Drained so that the decoder is not left blocked.
                continue;
            }
            meter.push(&chunk);
            if let Err(e) = windows.push(&chunk) {
                failed = Some(e);
            }
        }
        let ran = match failed {
            Some(e) => Err(e),
            None => windows.finish(),
        };
        ran.map(|act| (act, meter.finish()))
    });
    let audio = decoded?;
    if ctx.cancelled() {
        return Err(JobError::permanent(ErrorCode::Timeout, "cancelled"));
    }
    let (act, loudest_db) =
        ran.map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))?;
    if loudest_db < LOUDNESS_FLOOR_DB {
        return Ok(Beats {
            track: None,
            duration: audio.duration_s(),
            offset: audio.offset_s,
            loudest_db,
        });
    }
    ctx.progress.update(0.8);
    // The networks fire on beats, hardly on subdivisions: a clear peak
    // between two tracked beats is a skipped beat.
    let settings = TrackerSettings {
        skip_ratio: 0.5,
        ..settings(params)
    };
    let track = track_activations(&act.beat, &act.downbeat, rnn::FPS, &settings);
    Ok(Beats {
        track,
        duration: audio.duration_s(),
        offset: audio.offset_s,
        loudest_db,
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
) -> BeatDetectionResult {
    let Some(t) = track else {
        return BeatDetectionResult {
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
    BeatDetectionResult {
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

fn write_text(path: &Path, result: &BeatDetectionResult) -> Result<(), JobError> {
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
