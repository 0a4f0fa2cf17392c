//! A stretch of an input's timeline: the unit a long job is split into.

use serde::{Deserialize, Serialize};

/// The part of an input one segment of a job covers: the frames shown
/// from `start_s` (inclusive) to `end_s` (exclusive), in seconds from the
/// start of the stream. Work that carries state from frame to frame sees
/// the frames from `warm_s` on, so that its state at `start_s` is what
/// it would have been in a run over the whole input; only those from
/// `start_s` on are written.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Span {
    /// Where decoding begins (at or before `start_s`).
    pub warm_s: f64,
    /// The first output frame's time.
    pub start_s: f64,
    /// Where the next segment begins (infinite for the last).
    #[serde(with = "open_end")]
    pub end_s: f64,
}

impl Span {
    /// The span from `start_s` to `end_s`, warmed up over the `warm_up_s`
    /// before it (never before the stream's start).
    pub fn new(start_s: f64, end_s: f64, warm_up_s: f64) -> Self {
        Self {
            warm_s: (start_s - warm_up_s.max(0.0)).max(0.0),
            start_s,
            end_s,
        }
    }

    /// Whether a frame shown at `time_s` is output by this segment, with
    /// `slack` seconds of tolerance for timestamps rounded to a time base
    /// (half a frame): every frame belongs to exactly one of a run of
    /// adjacent spans.
    pub fn outputs(&self, time_s: f64, slack: f64) -> bool {
        time_s >= self.start_s - slack && time_s < self.end_s - slack
    }

    /// Whether a frame at `time_s` is seen at all (warm-up or output).
    pub fn sees(&self, time_s: f64, slack: f64) -> bool {
        time_s >= self.warm_s - slack && time_s < self.end_s - slack
    }

    /// Whether a frame at `time_s` comes after the span (decoding can stop).
    pub fn is_past(&self, time_s: f64, slack: f64) -> bool {
        time_s >= self.end_s - slack
    }
}

/// An infinite end is written as `null` (JSON has no infinity).
mod open_end {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub fn serialize<S: Serializer>(end: &f64, s: S) -> Result<S::Ok, S::Error> {
        if end.is_finite() {
            s.serialize_f64(*end)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_frame_belongs_to_one_of_adjacent_spans() {
        let spans = [
            Span::new(0.0, 2.0, 1.0),
            Span::new(2.0, 4.04, 1.0),
            Span::new(4.04, f64::INFINITY, 1.0),
        ];
        let slack = 0.02;
        for i in 0..250 {
            // 25 fps, timestamps rounded to the millisecond
            let t = (f64::from(i) * 0.04 * 1000.0).round() / 1000.0 + 0.0004;
            let owners = spans.iter().filter(|s| s.outputs(t, slack)).count();
            assert_eq!(owners, 1, "frame at {t}");
        }
        assert!(spans[1].sees(1.2, slack) && !spans[1].outputs(1.2, slack));
        assert!(!spans[1].sees(0.96, slack));
        assert!(spans[1].is_past(4.04, slack) && !spans[2].is_past(1e9, slack));
        assert_eq!(spans[0].warm_s, 0.0);
    }

    #[test]
    fn an_open_end_round_trips_through_json_as_null() {
        let span = Span::new(10.0, f64::INFINITY, 2.0);
        let json = serde_json::to_value(span).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({"WarmS": 8.0, "StartS": 10.0, "EndS": null})
        );
        let back: Span = serde_json::from_value(json).expect("parse");
        assert_eq!(back, span);
    }
}
