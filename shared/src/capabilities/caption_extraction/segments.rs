//! `CaptionExtraction` over a long video in segments
//! ([`Split::Readings`](crate::capability::Split::Readings)): the caption
//! region is found once over the whole video, each segment reads the runs
//! that begin in it, and the cues are made once from every segment's
//! readings, so that a caption on screen across a cut is one cue and the
//! choice of which lines are captions (their typical height) is the whole
//! video's.

use serde::{Deserialize, Serialize};

use super::api::CaptionLine;
use super::cues::Reading;
use super::runs::Run;
use crate::domain::{ErrorCode, JobError, Span};

/// What one segment read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpanReadings {
    /// Frames of the segment.
    pub frames: u64,
    /// Frames read by OCR: one per text run that begins in the segment.
    pub ocr_frames: u64,
    /// The video's duration, seconds.
    pub duration: f64,
    /// The text runs that begin in the segment, with what OCR read.
    pub readings: Vec<SpanReading>,
    /// Whether the last of them was still on screen when the segment
    /// stopped reading (its end is then the next segment's to say).
    pub open: bool,
    /// The text run on screen when the segment begins, seen from its
    /// warm-up: how long the previous segment's last caption lasts.
    pub carried: Option<Carried>,
}

/// A text run and its lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpanReading {
    /// First frame's time, seconds.
    pub start: f64,
    /// Time of the first frame after it, seconds.
    pub end: f64,
    /// What OCR read, top to bottom.
    pub lines: Vec<CaptionLine>,
}

/// The run a segment begins inside.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Carried {
    /// Time of the first frame after it, seconds.
    pub end: f64,
    /// Whether it was still on screen when the segment stopped reading.
    pub open: bool,
}

impl SpanReadings {
    /// What the segment of `span` read, from its runs (every run it saw,
    /// in order) and what OCR read in those it owns (that begin in it).
    pub fn new(
        span: Span,
        slack: f64,
        frames: u64,
        duration: f64,
        runs: &[Run],
        mut readings: Vec<Reading>,
    ) -> Self {
        let last = runs.last();
        readings.retain(|r| span.outputs(r.run.start, slack));
        let open = match (readings.last(), last) {
            (Some(reading), Some(last)) => reading.run.id == last.id,
            _ => false,
        };
        let carried = runs
            .iter()
            .find(|r| r.start < span.start_s - slack && r.end > span.start_s + slack)
            .filter(|r| r.text)
            .map(|r| Carried {
                end: r.end,
                open: last.is_some_and(|l| l.id == r.id),
            });
        Self {
            frames,
            ocr_frames: readings.len() as u64,
            duration,
            readings: readings
                .into_iter()
                .map(|r| SpanReading {
                    start: r.run.start,
                    end: r.run.end,
                    lines: r.lines,
                })
                .collect(),
            open,
            carried,
        }
    }
}

/// Every segment's readings (in time order) as the readings of one pass:
/// a caption still on screen when its segment stopped lasts as long as
/// the next segment saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The readings, in time order.
    pub readings: Vec<Reading>,
    /// Frames, summed.
    pub frames: u64,
    /// Frames read by OCR, summed.
    pub ocr_frames: u64,
    /// The video's duration.
    pub duration: f64,
}

/// Joins segments' readings (JSON of [`SpanReadings`], in time order).
///
/// # Errors
/// `InternalError` for JSON that is not a segment's readings.
pub fn join(parts: Vec<serde_json::Value>) -> Result<Joined, JobError> {
    let mut out = Joined {
        readings: Vec::new(),
        frames: 0,
        ocr_frames: 0,
        duration: 0.0,
    };
    let mut open = false;
    for (i, part) in parts.into_iter().enumerate() {
        let part: SpanReadings = serde_json::from_value(part).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("the readings of segment {i}: {e}"),
            )
        })?;
        if open {
            open = false;
            if let (Some(carried), Some(last)) = (part.carried, out.readings.last_mut()) {
                last.run.end = last.run.end.max(carried.end);
                open = carried.open;
            }
        }
        if !part.readings.is_empty() {
            open = part.open;
        }
        out.frames += part.frames;
        out.ocr_frames += part.ocr_frames;
        out.duration = part.duration;
        for r in part.readings {
            let id = out.readings.len();
            out.readings.push(Reading {
                run: Run {
                    id,
                    start: r.start,
                    end: r.end,
                    text: true,
                },
                lines: r.lines,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: usize, start: f64, end: f64, text: bool) -> Run {
        Run {
            id,
            start,
            end,
            text,
        }
    }

    fn reading(r: Run, text: &str) -> Reading {
        Reading {
            run: r,
            lines: vec![CaptionLine {
                text: text.into(),
                bbox: [0, 0, 10, 10],
                confidence: 0.9,
            }],
        }
    }

    #[test]
    fn a_caption_across_a_cut_is_one_reading_as_long_as_the_next_segment_saw_it() {
        // Segment 0 (0–10 s, read on to 10.4 s): "a" 2–4, "b" from 9 s,
        // still on when it stops.
        let runs0 = [
            run(0, 0.0, 2.0, false),
            run(1, 2.0, 4.0, true),
            run(2, 4.0, 9.0, false),
            run(3, 9.0, 10.4, true),
        ];
        let first = SpanReadings::new(
            Span::new(0.0, 10.0, 0.0),
            0.02,
            250,
            20.0,
            &runs0,
            vec![
                reading(runs0[1].clone(), "a"),
                reading(runs0[3].clone(), "b"),
            ],
        );
        assert!(first.open);
        assert_eq!(first.ocr_frames, 2);
        // Segment 1 (10–20 s, warm-up from 5 s): "b" seen from 9 s to
        // 11.5 s; "c" 15–16 s begins in it; a run from the warm-up that
        // ended before 10 s is the previous segment's.
        let runs1 = [
            run(0, 5.0, 9.0, false),
            run(1, 9.0, 11.5, true),
            run(2, 11.5, 15.0, false),
            run(3, 15.0, 16.0, true),
            run(4, 16.0, 20.0, false),
        ];
        let second = SpanReadings::new(
            Span::new(10.0, 20.0, 5.0),
            0.02,
            250,
            20.0,
            &runs1,
            vec![
                reading(runs1[1].clone(), "b"),
                reading(runs1[3].clone(), "c"),
            ],
        );
        assert!(!second.open);
        assert_eq!(second.ocr_frames, 1);
        assert_eq!(
            second.carried,
            Some(Carried {
                end: 11.5,
                open: false
            })
        );
        let joined = join(vec![
            serde_json::to_value(&first).expect("json"),
            serde_json::to_value(&second).expect("json"),
        ])
        .expect("join");
        let spans: Vec<(f64, f64)> = joined
            .readings
            .iter()
            .map(|r| (r.run.start, r.run.end))
            .collect();
        assert_eq!(spans, vec![(2.0, 4.0), (9.0, 11.5), (15.0, 16.0)]);
        assert_eq!(joined.frames, 500);
        assert_eq!(joined.ocr_frames, 3);
    }

    #[test]
    fn a_caption_longer_than_a_segment_runs_on_through_it() {
        let open_at = |start: f64, end: f64| SpanReadings {
            frames: 100,
            ocr_frames: 0,
            duration: 30.0,
            readings: Vec::new(),
            open: false,
            carried: Some(Carried {
                end,
                open: start < 20.0,
            }),
        };
        let first = SpanReadings {
            frames: 100,
            ocr_frames: 1,
            duration: 30.0,
            readings: vec![SpanReading {
                start: 8.0,
                end: 10.4,
                lines: Vec::new(),
            }],
            open: true,
            carried: None,
        };
        let joined = join(vec![
            serde_json::to_value(first).expect("json"),
            serde_json::to_value(open_at(10.0, 20.4)).expect("json"),
            serde_json::to_value(open_at(20.0, 24.0)).expect("json"),
        ])
        .expect("join");
        assert_eq!(joined.readings.len(), 1);
        assert_eq!(joined.readings[0].run.end, 24.0);
        assert!(join(vec![serde_json::json!({"Frames": "many"})]).is_err());
    }
}
