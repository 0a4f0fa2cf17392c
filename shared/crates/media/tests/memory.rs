//! Reading a file keeps a packet or two in memory, not the file: a reader
//! that kept every packet it had read would need as much memory as the
//! input is large, and a long video would not fit in a function's memory.
#![cfg(all(target_os = "linux", feature = "video"))]

use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;

use iprod_core::domain::Limits;
use iprod_media::{decode_mono, SamplingMode, VideoReader};

/// Anonymous memory of this process, bytes.
fn anonymous() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Lossless noise with a tone: tens of megabytes in a few seconds.
fn big_clip(path: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("nullsrc=s=640x360:r=25:d=12,geq=random(1)*255:128:128")
        .args(["-f", "lavfi", "-i", "sine=f=440:d=12"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "0",
            "-g",
            "25",
        ])
        .args(["-c:a", "aac", "-shortest"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
}

#[test]
fn decoding_a_file_holds_a_few_packets_not_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("noise.mp4");
    big_clip(&clip);
    let size = std::fs::metadata(&clip).expect("clip").len();
    assert!(size > 40 << 20, "the clip is only {size} bytes");

    let before = anonymous();
    let mut reader = VideoReader::open(&clip, &Limits::default()).expect("opens");
    let mut keyframes = 0;
    reader
        .for_each_frame(SamplingMode::KeyframesOnly, |_, _| {
            keyframes += 1;
            Ok(ControlFlow::Continue(()))
        })
        .expect("decodes");
    let grown = anonymous().saturating_sub(before);
    assert_eq!(keyframes, 12);
    assert!(
        grown < size / 4,
        "reading {size} bytes of video kept {grown} bytes"
    );
    drop(reader);

    // The audio of the same file: every video packet is read past.
    let before = anonymous();
    let audio = decode_mono(&clip, 22_050, &Limits::default(), None, None).expect("audio");
    let grown = anonymous().saturating_sub(before);
    assert!(audio.samples.len() > 11 * 22_050);
    assert!(
        grown < size / 4,
        "reading the audio of {size} bytes kept {grown} bytes"
    );
}
