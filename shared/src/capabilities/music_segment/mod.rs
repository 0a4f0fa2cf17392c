//! `MusicSegmentDetect`: every chorus and all sections of a song.
//!
//! Beats and bars come from the beat tracker; recurring phrases of the
//! beat-synchronous chroma are the labelled sections, the rest is cut
//! where a self-similarity matrix changes (Foote novelty), and the chorus
//! is the loudest group of sections that comes back (see [`structure`]).

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod structure;

use std::path::Path;

use super::{Capability, Context, OutputSink, Report};
use crate::capabilities::music_segment::api::{
    MusicSegmentParams, MusicSegmentResult, SectionItem, TimeRange, MAX_SEGMENT_S,
};
use crate::capabilities::music_segment::structure::{sections, Section, StructureSettings};
use crate::domain::Limits;
use crate::domain::{FunctionName, JobError};

/// The `MusicSegmentDetect` capability.
#[derive(Debug, Clone, Copy, Default)]
pub struct MusicSegment;

impl Capability for MusicSegment {
    type Params = MusicSegmentParams;
    type Output = MusicSegmentResult;

    fn function(&self) -> FunctionName {
        FunctionName::MusicSegmentDetect
    }

    fn parse(&self, params: &serde_json::Value) -> Result<MusicSegmentParams, JobError> {
        MusicSegmentParams::try_from(params)
    }

    fn run(
        &self,
        input: &Path,
        params: &MusicSegmentParams,
        _sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<MusicSegmentResult>, JobError> {
        let result = analyse(input, params, ctx)?;
        let message = match result.chorus_list.len() {
            0 if result.sections.is_empty() => {
                "no sections: the audio is too short, silent or without a steady beat".to_owned()
            }
            0 => format!(
                "no chorus: {} sections, none repeated enough to be a chorus",
                result.sections.len()
            ),
            n => format!("{n} choruses in {} sections", result.sections.len()),
        };
        Ok(Report { message, result })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn letter(group: usize) -> String {
    let mut n = group;
    let mut s = String::new();
    loop {
        s.insert(0, char::from(b'A' + (n % 26) as u8));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s
}

/// Decodes, tracks beats and finds the sections.
///
/// # Errors
/// Media errors (corrupt, no audio, limits).
pub fn analyse(
    input: &Path,
    params: &MusicSegmentParams,
    ctx: &Context,
) -> Result<MusicSegmentResult, JobError> {
    // Without an end, the whole file must fit the structure analysis.
    let bounded;
    let ctx = if params.beats.end_time.is_none() && ctx.limits.max_duration_s > MAX_SEGMENT_S {
        bounded = Context {
            limits: Limits {
                max_duration_s: MAX_SEGMENT_S,
                ..ctx.limits
            },
            ..ctx.clone()
        };
        &bounded
    } else {
        ctx
    };
    let analysis = crate::capabilities::beat_detection::analyse(input, &params.beats, ctx)?;
    let (f, offset) = (&analysis.features, analysis.offset);
    let beat_track = analysis.track.as_ref();
    let found: Vec<Section> = match beat_track {
        Some(t) => {
            let frames: Vec<usize> = t
                .beats
                .iter()
                .map(|b| (b * f.fps).round() as usize)
                .collect();
            sections(f, &frames, &t.positions, &StructureSettings::default())
        }
        None => Vec::new(),
    };
    let duration = analysis.duration;
    let last = found.len().saturating_sub(1);
    let items: Vec<SectionItem> = found
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let repeated = found.iter().filter(|o| o.group == s.group).count() > 1;
            // Choruses before and after: a passage heard once between them
            // is the bridge.
            let chorus_before = found[..k].iter().filter(|o| o.chorus).count();
            let chorus_after = found[k + 1..].iter().any(|o| o.chorus);
            let kind = if s.chorus {
                "chorus"
            } else if s.verse {
                "verse"
            } else if k == 0 && !repeated {
                "intro"
            } else if k == last && !repeated {
                "outro"
            } else if !repeated && chorus_before >= 2 && chorus_after {
                "bridge"
            } else {
                "section"
            };
            SectionItem {
                start: round3(s.start + offset),
                end: round3(s.end + offset),
                label: letter(s.group),
                kind: kind.to_owned(),
            }
        })
        .collect();
    // Consecutive chorus sections form one chorus.
    let mut choruses: Vec<TimeRange> = Vec::new();
    for s in items.iter().filter(|s| s.kind == "chorus") {
        match choruses.last_mut() {
            Some(last) if (s.start - last.end).abs() < 0.05 => last.end = s.end,
            _ => choruses.push(TimeRange {
                start: s.start,
                end: s.end,
            }),
        }
    }
    Ok(MusicSegmentResult {
        chorus_list: choruses,
        sections: items,
        bpm: beat_track
            .as_ref()
            .map_or(0.0, |t| (t.bpm * 10.0).round() / 10.0),
        duration: round3(duration),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_run_a_to_z_then_aa() {
        assert_eq!(letter(0), "A");
        assert_eq!(letter(25), "Z");
        assert_eq!(letter(26), "AA");
    }
}
