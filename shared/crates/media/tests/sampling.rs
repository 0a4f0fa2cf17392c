//! Frames sampled over a long video by seeking are the frames one pass
//! over it samples: the same times, the same pixels.
#![cfg(feature = "video")]

use std::process::Command;
use std::sync::atomic::AtomicBool;

use iprod_core::domain::Limits;
use iprod_media::planar::{sample_frames_by, SampleBy};

#[test]
fn samples_reached_by_seeking_are_the_frames_a_pass_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("moving.mp4");
    // 40 s, a keyframe every second, B-frames (skipped: not references).
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=s=320x180:r=25:d=40")
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-bf", "2",
        ])
        .arg(&clip)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let cancel = AtomicBool::new(false);
    let limits = Limits::default();
    for count in [4, 7, 64] {
        let (_, pass) = sample_frames_by(&clip, &limits, &cancel, count, SampleBy::Pass)
            .expect("a pass samples");
        let (_, seeks) = sample_frames_by(&clip, &limits, &cancel, count, SampleBy::Seeks)
            .expect("seeks sample");
        assert_eq!(pass.len(), count.min(pass.len()));
        let times = |s: &[(f64, iprod_media::planar::Planar)]| -> Vec<f64> {
            s.iter().map(|(t, _)| *t).collect()
        };
        assert_eq!(times(&seeks), times(&pass), "{count} samples");
        for ((t, a), (_, b)) in pass.iter().zip(&seeks) {
            assert!(a == b, "the frame at {t} s differs ({count} samples)");
        }
    }
}
