//! What a `MusicSegmentDetect` job takes and gives: its params and result.

use serde::Serialize;

use crate::capabilities::beat_detection::api::{
    BeatDetectionParams, END_TIME, MAX_BPM, MIN_BPM, START_TIME,
};
use crate::domain::error::JobError;
use crate::domain::params::{Param, ParamDefault, ParamsSpec};

/// `JobParams` of `MusicSegmentDetect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MusicSegmentParams {
    /// Tempo range for the beat grid the sections snap to.
    pub beats: BeatDetectionParams,
}

/// What `MusicSegmentDetect` takes in `JobParams`: the beat tracker's
/// tempo and time range, default tracker only.
pub static PARAMS: ParamsSpec = ParamsSpec {
    params: &[
        MIN_BPM,
        MAX_BPM,
        START_TIME,
        END_TIME,
        Param::choice(
            "Model",
            &["default"],
            "The beat tracker the sections snap to: the default one only.",
        )
        .default(ParamDefault::Text("default")),
    ],
    rules: &[
        "MaxBpm is at least 1.2 x MinBpm",
        "EndTime is after StartTime and within the audio",
        "At most 1800 s of audio is analysed: longer audio needs StartTime and EndTime",
    ],
};

/// Longest audio `MusicSegmentDetect` analyses, seconds: its similarity
/// matrices grow with the square of the beats (about 0.7 GB at 30 min of
/// fast music).
pub const MAX_SEGMENT_S: f64 = 1800.0;

impl TryFrom<&serde_json::Value> for MusicSegmentParams {
    type Error = JobError;

    fn try_from(params: &serde_json::Value) -> Result<Self, Self::Error> {
        let beats = BeatDetectionParams::read(params, &PARAMS)?;
        if let Some(end) = beats.end_time {
            let length = end - beats.start_time.unwrap_or(0.0);
            if length > MAX_SEGMENT_S {
                return Err(JobError::param(
                    "EndTime",
                    format!(
                        "{length:.0} s after StartTime: MusicSegmentDetect analyses at most {MAX_SEGMENT_S:.0} s"
                    ),
                ));
            }
        }
        Ok(Self { beats })
    }
}

/// A time range, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeRange {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// One labelled section.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectionItem {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Repetition label: sections with the same letter repeat the same
    /// music.
    pub label: String,
    /// `intro`, `chorus`, `outro`, or `section`.
    pub kind: String,
}

/// Result of `MusicSegmentDetect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MusicSegmentResult {
    /// Every chorus, in order (empty when none was found).
    pub chorus_list: Vec<TimeRange>,
    /// All sections, in order.
    pub sections: Vec<SectionItem>,
    /// Tempo of the beat grid, BPM.
    pub bpm: f64,
    /// Seconds analysed.
    pub duration: f64,
}
