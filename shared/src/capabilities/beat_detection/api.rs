//! What an `AudioBeatDetection` job takes and gives: its params and result.

use serde::Serialize;

use crate::domain::error::JobError;
use crate::domain::params::{Param, ParamDefault, ParamReader, ParamsSpec};

/// `JobParams` of `AudioBeatDetection`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BeatDetectionParams {
    /// Slowest tempo to consider, BPM (20–300, default 55).
    pub min_bpm: f64,
    /// Fastest tempo to consider, BPM (20–300, default 215).
    pub max_bpm: f64,
    /// Analyse from this time, seconds.
    pub start_time: Option<f64>,
    /// Analyse up to this time, seconds.
    pub end_time: Option<f64>,
    /// Which method finds the beats.
    pub model: BeatModel,
}

/// The method behind `AudioBeatDetection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BeatModel {
    /// Spectral-flux onsets and an HMM over beat period and phase: pure
    /// DSP, permissively licensed (the default).
    #[serde(rename = "default")]
    Default,
    /// madmom's joint beat/downbeat networks (weights CC BY-NC-SA 4.0,
    /// non-commercial; only when asked for and installed).
    #[serde(rename = "madmom")]
    Madmom,
}

impl Default for BeatDetectionParams {
    fn default() -> Self {
        Self {
            min_bpm: 55.0,
            max_bpm: 215.0,
            start_time: None,
            end_time: None,
            model: BeatModel::Default,
        }
    }
}

/// `MinBpm`, shared with `MusicSegmentDetect`.
pub const MIN_BPM: Param = Param::number("MinBpm", 20.0, 300.0, "Slowest tempo to consider, BPM.")
    .default(ParamDefault::Number(55.0));
/// `MaxBpm`.
pub const MAX_BPM: Param = Param::number("MaxBpm", 20.0, 300.0, "Fastest tempo to consider, BPM.")
    .default(ParamDefault::Number(215.0));
/// `StartTime`.
pub const START_TIME: Param = Param::number(
    "StartTime",
    0.0,
    86_400.0,
    "Analyse from this time, seconds (default: the start).",
);
/// `EndTime`.
pub const END_TIME: Param = Param::number(
    "EndTime",
    0.0,
    86_400.0,
    "Analyse up to this time, seconds (default: the end).",
);
/// The rules between the tempo and time keys.
pub const TEMPO_RULES: &[&str] = &[
    "MaxBpm is at least 1.2 x MinBpm",
    "EndTime is after StartTime and within the audio",
];

/// What `AudioBeatDetection` takes in `JobParams`.
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        MIN_BPM,
        MAX_BPM,
        START_TIME,
        END_TIME,
        Param::choice(
            "Model",
            &["default", "madmom"],
            "default: spectral flux and an HMM, permissive; madmom: neural networks, weights CC BY-NC-SA 4.0, only where installed by opt-in.",
        )
        .default(ParamDefault::Text("default")),
    ],
    rules: TEMPO_RULES,
};

impl TryFrom<&serde_json::Value> for BeatDetectionParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        Self::read(params, &PARAMS)
    }
}

impl BeatDetectionParams {
    /// Reads `params` against `spec` ([`PARAMS`], or a narrower one with
    /// the same keys).
    ///
    /// # Errors
    /// `InvalidParameter` naming the key.
    pub fn read(params: &serde_json::Value, spec: &'static ParamsSpec) -> Result<Self, JobError> {
        let mut r = ParamReader::new(params, spec)?;
        let d = Self::default();
        let parsed = Self {
            min_bpm: r.number("MinBpm")?.unwrap_or(d.min_bpm),
            max_bpm: r.number("MaxBpm")?.unwrap_or(d.max_bpm),
            start_time: r.number("StartTime")?,
            end_time: r.number("EndTime")?,
            model: r
                .choice("Model", |v| match v {
                    "default" => Some(BeatModel::Default),
                    "madmom" => Some(BeatModel::Madmom),
                    _ => None,
                })?
                .unwrap_or(d.model),
        };
        r.finish()?;
        if parsed.max_bpm < parsed.min_bpm * 1.2 {
            return Err(JobError::param(
                "MaxBpm",
                format!(
                    "{} must be at least 1.2 x MinBpm ({})",
                    parsed.max_bpm, parsed.min_bpm
                ),
            ));
        }
        if let Some(e) = parsed.end_time {
            let s = parsed.start_time.unwrap_or(0.0);
            if e <= s {
                return Err(JobError::param(
                    "EndTime",
                    format!("{e} must be after StartTime ({s}; 0 when not given)"),
                ));
            }
        }
        Ok(parsed)
    }
}

/// A point of the tempo curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TempoPoint {
    /// Seconds.
    pub time: f64,
    /// Local tempo, BPM.
    pub bpm: f64,
}

/// Result of `AudioBeatDetection`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BeatDetectionResult {
    /// Beat times, seconds (3 decimals).
    pub beat_list: Vec<f64>,
    /// Downbeat (first beat of each bar) times, seconds.
    pub down_beat_list: Vec<f64>,
    /// Position of each beat of `BeatList` in its bar, 1 = downbeat.
    pub beat_positions: Vec<u8>,
    /// Global tempo, BPM.
    pub bpm: f64,
    /// Local tempo over time (for music whose tempo drifts).
    pub tempo_curve: Vec<TempoPoint>,
    /// `3/4` or `4/4`.
    pub time_signature: String,
    /// How clearly the beats stand out (0–1).
    pub confidence: f64,
    /// How clearly the bar grid stands out (0–1).
    pub downbeat_confidence: f64,
    /// Seconds of audio analysed.
    pub duration: f64,
    /// The beat times as a text file (`time<TAB>position` per line).
    pub file: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempo_ranges_and_times_are_checked() {
        assert_eq!(
            BeatDetectionParams::try_from(&serde_json::json!({})).expect("defaults"),
            BeatDetectionParams::default()
        );
        let p = BeatDetectionParams::try_from(&serde_json::json!({"MinBpm": 80, "MaxBpm": 160}))
            .expect("valid");
        assert_eq!((p.min_bpm, p.max_bpm), (80.0, 160.0));
        for bad in [
            serde_json::json!({"MinBpm": 0}),
            serde_json::json!({"MinBpm": 120, "MaxBpm": 100}),
            serde_json::json!({"StartTime": 10, "EndTime": 5}),
            serde_json::json!({"EndTime": 0}),
            serde_json::json!({"StartTime": 3, "EndTime": 3}),
            serde_json::json!({"MinBpm": 60, "minbpm": 70}),
            serde_json::json!({"Bpm": 120}),
        ] {
            assert!(BeatDetectionParams::try_from(&bad).is_err(), "{bad}");
        }
    }
}
