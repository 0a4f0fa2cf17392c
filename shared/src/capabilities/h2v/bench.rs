//! `iprod bench h2v`: re-framing to 9:16 on composites whose subject path
//! is known and on the videos of a folder (no subject truth: path
//! smoothness and time only). The composites: a real face moving over
//! still backgrounds (steady walk, pacing, stop-and-go, a cut, a small
//! far face), and subjects without a face (a horse, a cat's head, a cup)
//! cut out with their alpha and moving over moving footage (`--footage`:
//! the first 10 s of a video that are one shot, else a pan across a
//! photograph). Reported per clip: the share of frames whose subject box
//! is wholly inside the window (ours, and a static centre crop's), the
//! cuts reported against the true ones, the path's jerk (mean |third
//! difference| of the window centre within shots, px/frame³) against the
//! subject's own, and wall time against FFmpeg's static centre
//! `crop`+`scale` with the same encoder settings, run in the same
//! command.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::bench::composite::{
    blend, clip, coffee, cutout, frame, head, opaque_box, stripes, try_clip, Cutout, Footage, PATCH,
};
use crate::bench::ffmpeg;
use crate::capabilities::h2v::api::H2vParams;
use crate::capabilities::h2v::path::jerk;
use crate::capabilities::h2v::H2v;
use crate::capabilities::{Capability, Context, OutputSink};
use crate::domain::OutputTemplate;
use crate::inference::ModelDir;

/// A composite: its name, length, and the head's centre and scale at a
/// time (and which background: 0 coffee, 1 stripes).
struct Composite {
    name: &'static str,
    seconds: f64,
    scale: f32,
    at: fn(f64) -> (f32, f32, usize),
}

fn smooth(u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    u * u * (3.0 - 2.0 * u)
}

const COMPOSITES: [Composite; 5] = [
    Composite {
        name: "walk",
        seconds: 6.0,
        scale: 1.0,
        at: |t| ((200.0 + 880.0 * t / 6.0) as f32, 360.0, 0),
    },
    Composite {
        name: "pace",
        seconds: 8.0,
        scale: 1.0,
        at: |t| {
            let tau = std::f64::consts::TAU;
            (
                (640.0 + 420.0 * (tau * t / 4.0).sin()) as f32,
                (360.0 + 40.0 * (tau * t / 3.0).sin()) as f32,
                0,
            )
        },
    },
    Composite {
        name: "stop-go",
        seconds: 8.0,
        scale: 1.0,
        at: |t| {
            let x = if t < 2.0 {
                250.0
            } else if t < 4.0 {
                250.0 + 650.0 * smooth((t - 2.0) / 2.0)
            } else if t < 6.0 {
                900.0
            } else {
                900.0 - 400.0 * smooth((t - 6.0) / 2.0)
            };
            (x as f32, 360.0, 0)
        },
    },
    Composite {
        name: "two-shots",
        seconds: 6.0,
        scale: 1.0,
        at: |t| {
            if t < 3.0 {
                ((300.0 + 20.0 * t) as f32, 360.0, 0)
            } else {
                ((1000.0 - 30.0 * (t - 3.0)) as f32, 330.0, 1)
            }
        },
    },
    Composite {
        name: "far",
        seconds: 6.0,
        scale: 0.5,
        at: |t| ((1000.0 - 700.0 * t / 6.0) as f32, 300.0, 0),
    },
];

/// A subject without a face moving over footage: its centre at a time.
struct Moving {
    name: &'static str,
    subject: Cutout,
    width: u32,
    at: fn(f64) -> (f32, f32),
}

/// The length of the composites over footage.
const MOVING_S: f64 = 10.0;

const MOVING: [Moving; 4] = [
    // Walks back and forth, turning at each end, with a stride's bob.
    Moving {
        name: "horse-pace",
        subject: Cutout::Horse,
        width: 260,
        at: |t| {
            let tau = std::f64::consts::TAU;
            (
                (640.0 + 430.0 * (tau * t / 5.0).sin()) as f32,
                (470.0 + 6.0 * (tau * 2.0 * t).sin()) as f32,
            )
        },
    },
    // Small and far, across the frame.
    Moving {
        name: "horse-far",
        subject: Cutout::Horse,
        width: 110,
        at: |t| ((1150.0 - 100.0 * t) as f32, 430.0),
    },
    Moving {
        name: "cat-stop-go",
        subject: Cutout::Cat,
        width: 240,
        at: |t| {
            let x = if t < 2.0 {
                250.0
            } else if t < 4.5 {
                250.0 + 750.0 * smooth((t - 2.0) / 2.5)
            } else if t < 6.5 {
                1000.0
            } else {
                1000.0 - 550.0 * smooth((t - 6.5) / 2.5)
            };
            (x as f32, 380.0)
        },
    },
    // Drifts across while rising and falling.
    Moving {
        name: "cup-drift",
        subject: Cutout::Cup,
        width: 220,
        at: |t| {
            let tau = std::f64::consts::TAU;
            (
                (250.0 + 800.0 * smooth(t / MOVING_S)) as f32,
                (360.0 + 120.0 * (tau * t / 4.0).sin()) as f32,
            )
        },
    },
];

/// Whether a subject moving along `at` faces left at `t` (it turns to
/// where it goes).
fn faces_left(at: fn(f64) -> (f32, f32), t: f64) -> bool {
    let mut dt = 0.04;
    while dt < 4.0 {
        let dx = at(t + dt).0 - at(t).0;
        if dx.abs() > 0.01 {
            return dx < 0.0;
        }
        dt *= 2.0;
    }
    false
}

/// What a clip's figures are compared with.
struct Truth<'a> {
    /// The subject's span along the window's axis at a time.
    span: &'a dyn Fn(f64) -> (f32, f32),
    /// Its centre along that axis (not rounded to pixels).
    centre: &'a dyn Fn(f64) -> f32,
    /// How many cuts the clip has.
    cuts: usize,
}

/// One clip's figures.
struct Row {
    name: String,
    frames: usize,
    /// Ours, the static centre crop's.
    inside: Option<(f64, f64)>,
    /// Reported, true.
    cuts: (usize, Option<usize>),
    jerk: f64,
    /// Of the subject's own centre.
    true_jerk: Option<f64>,
    ours_s: f64,
    peer_s: f64,
}

/// Runs the benchmark on the composites and on every video in `dir`.
///
/// # Errors
/// When the models, fixtures or ffmpeg are missing, or a run fails.
pub fn run(
    dir: Option<&Path>,
    footage: Option<(&Path, f64)>,
    out: &Path,
    runs: usize,
) -> anyhow::Result<()> {
    let runs = runs.max(1);
    std::fs::create_dir_all(out)?;
    let reframe = H2v::load(&ModelDir::from_env())?;
    let params = H2vParams::default();
    let mut rows = Vec::new();

    let (coffee, stripes) = (coffee()?, stripes());
    for c in &COMPOSITES {
        let face = head(c.scale)?;
        let path = out.join(format!("{}.mp4", c.name));
        let at = c.at;
        clip(&path, c.seconds, |i| {
            let (x, y, bg) = at(f64::from(i) / 25.0);
            frame(if bg == 0 { &coffee } else { &stripes }, &face, x, y)
        })?;
        let truth = |t: f64| {
            let (x, _, _) = at(t);
            let half = PATCH.0 as f32 * c.scale / 2.0;
            (x - half, x + half)
        };
        let centre = |t: f64| at(t).0;
        let truth = Truth {
            span: &truth,
            centre: &centre,
            cuts: usize::from(c.name == "two-shots"),
        };
        rows.push(measure(
            &reframe,
            &params,
            &path,
            c.name,
            Some(&truth),
            out,
            runs,
        )?);
    }
    let faces = rows.len();
    let background = Footage::new(
        footage.map(|f| f.0),
        footage.map_or(0.0, |f| f.1),
        MOVING_S,
        out,
    )?;
    let cuts = background.cuts(MOVING_S);
    for m in &MOVING {
        let subject = cutout(m.subject, m.width)?;
        let mirrored = image::imageops::flip_horizontal(&subject);
        let (left, _, right, _) = opaque_box(&subject);
        let path = out.join(format!("{}.mp4", m.name));
        let at = m.at;
        let turns = m.subject == Cutout::Horse;
        try_clip(&path, MOVING_S, |i| {
            let t = f64::from(i) / 25.0;
            let (x, y) = at(t);
            let look = if turns && faces_left(at, t) {
                &mirrored
            } else {
                &subject
            };
            Ok(blend(&background.frame(i)?, look, x, y))
        })?;
        let width = subject.width();
        let span = |t: f64| {
            let (x, _) = at(t);
            let x0 = (x - width as f32 / 2.0).round();
            // The mirrored subject's opaque columns are mirrored too.
            let (a, b) = if turns && faces_left(at, t) {
                (width - right, width - left)
            } else {
                (left, right)
            };
            (x0 + a as f32, x0 + b as f32)
        };
        let centre = |t: f64| at(t).0;
        let truth = Truth {
            span: &span,
            centre: &centre,
            cuts,
        };
        rows.push(measure(
            &reframe,
            &params,
            &path,
            m.name,
            Some(&truth),
            out,
            runs,
        )?);
    }
    if let Some(dir) = dir {
        let mut videos: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["mp4", "mov", "webm", "mkv"].contains(&e.to_ascii_lowercase().as_str())
                })
            })
            .collect();
        videos.sort();
        for v in videos {
            let name = v
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            rows.push(measure(&reframe, &params, &v, &name, None, out, runs)?);
        }
    }

    println!(
        "times: median of {runs} alternating runs each; footage under the subjects without a face: {}",
        footage.map_or("a pan across the coffee photograph".to_owned(), |(f, from)| format!(
            "{} from {from} s ({cuts} cuts by FFmpeg's scene score)",
            f.display()
        ))
    );
    println!(
        "{:<32} {:>6} {:>9} {:>9} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "clip",
        "frames",
        "inside",
        "centre",
        "cuts",
        "jerk",
        "subject",
        "iprod s",
        "ffmpeg s",
        "ratio"
    );
    for r in &rows {
        print_row(r);
    }
    for (name, group) in [
        ("faces", &rows[..faces]),
        (
            "no face",
            &rows[faces..rows.len().min(faces + MOVING.len())],
        ),
        ("all", &rows[..]),
    ] {
        print_row(&total(name, group));
    }
    Ok(())
}

fn print_row(r: &Row) {
    let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1} %", 100.0 * v));
    let cuts = match r.cuts {
        (ours, Some(truth)) => format!("{ours}/{truth}"),
        (ours, None) => ours.to_string(),
    };
    println!(
        "{:<32} {:>6} {:>9} {:>9} {:>6} {:>8.4} {:>8} {:>8.2} {:>8.2} {:>6.2}x",
        r.name,
        r.frames,
        pct(r.inside.map(|i| i.0)),
        pct(r.inside.map(|i| i.1)),
        cuts,
        r.jerk,
        r.true_jerk.map_or("-".to_owned(), |j| format!("{j:.4}")),
        r.ours_s,
        r.peer_s,
        r.ours_s / r.peer_s.max(1e-9)
    );
}

/// The rows of `group` together: shares weighted by frames, jerks the
/// mean over clips, times summed.
fn total(name: &str, group: &[Row]) -> Row {
    let with_truth: Vec<&Row> = group.iter().filter(|r| r.inside.is_some()).collect();
    let frames: usize = with_truth.iter().map(|r| r.frames).sum();
    let weighted = |pick: fn(&(f64, f64)) -> f64| {
        with_truth
            .iter()
            .filter_map(|r| r.inside.as_ref().map(|i| pick(i) * r.frames as f64))
            .sum::<f64>()
            / frames.max(1) as f64
    };
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let true_jerks: Vec<f64> = group.iter().filter_map(|r| r.true_jerk).collect();
    Row {
        name: name.to_owned(),
        frames: group.iter().map(|r| r.frames).sum(),
        inside: (!with_truth.is_empty()).then(|| (weighted(|i| i.0), weighted(|i| i.1))),
        cuts: (
            group.iter().map(|r| r.cuts.0).sum(),
            group.iter().map(|r| r.cuts.1).sum(),
        ),
        jerk: mean(group.iter().map(|r| r.jerk).collect()),
        true_jerk: (!true_jerks.is_empty()).then(|| mean(true_jerks)),
        ours_s: group.iter().map(|r| r.ours_s).sum(),
        peer_s: group.iter().map(|r| r.peer_s).sum(),
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    reframe: &H2v,
    params: &H2vParams,
    video: &Path,
    name: &str,
    truth: Option<&Truth<'_>>,
    out: &Path,
    runs: usize,
) -> anyhow::Result<Row> {
    let ctx = Context::default();
    let work = out.join(format!("{name}.out"));
    std::fs::create_dir_all(&work)?;
    // What a job sending only `Aspect` and `Crf` runs with.
    let job_params = H2vParams::try_from(&params_json(params))
        .map_err(|e| anyhow::anyhow!("{name}: {}", e.message))?;
    let plan = reframe
        .plan(video, params, &ctx)
        .map_err(|e| anyhow::anyhow!("{name}: {}", e.message))?;
    // The same window sizes, fixed at the centre, by FFmpeg.
    let g = plan.geometry;
    let filter = format!(
        "crop={}:{}:(iw-{})/2:(ih-{})/2,scale={}:{}",
        g.window.0, g.window.1, g.window.0, g.window.1, g.output.0, g.output.1
    );
    let peer_out = work.join("ffmpeg-centre.mp4");
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let template = OutputTemplate::parse(&format!("{}/", work.display()))?;
        let mut sink = OutputSink::new(&work, template, "clip", 0, "bench");
        let start = Instant::now();
        reframe
            .run(video, &job_params, &mut sink, &ctx)
            .map_err(|e| anyhow::anyhow!("{name}: {}", e.message))?;
        ours.push(start.elapsed().as_secs_f64());

        let start = Instant::now();
        ffmpeg(&[
            "-i",
            &video.to_string_lossy(),
            "-vf",
            &filter,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            &params.crf.to_string(),
            "-c:a",
            "aac",
            &peer_out.to_string_lossy(),
        ])?;
        peer.push(start.elapsed().as_secs_f64());
    }
    let (ours_s, peer_s) = (median(&mut ours), median(&mut peer));

    // Jerk within shots (the jump at a cut is wanted), frame-weighted.
    let starts: Vec<usize> = plan
        .shots
        .iter()
        .map(|s| plan.times.partition_point(|&t| t < s.start - 1e-6))
        .chain(std::iter::once(plan.times.len()))
        .collect();
    let mut jerk_sum = 0.0;
    for pair in starts.windows(2) {
        // The camera's own path (rendering then snaps it to even pixels).
        let centres = &plan.path[pair[0]..pair[1]];
        jerk_sum += jerk(centres) * centres.len() as f64;
    }
    let inside = truth.map(|truth| {
        let centre_x = (g.source.0 - g.window.0) / 2;
        let (mut ours, mut centre) = (0usize, 0usize);
        for (i, &t) in plan.times.iter().enumerate() {
            let (a, b) = (truth.span)(t);
            let w = plan.window(i);
            let fits = |x: u32| a >= x as f32 - 0.5 && b <= (x + w.width) as f32 + 0.5;
            ours += usize::from(fits(w.x));
            centre += usize::from(fits(centre_x));
        }
        let n = plan.times.len().max(1) as f64;
        (ours as f64 / n, centre as f64 / n)
    });
    // The subject's own jerk, within the same shots.
    let true_jerk = truth.map(|truth| {
        let mut sum = 0.0;
        for pair in starts.windows(2) {
            let centres: Vec<f32> = plan.times[pair[0]..pair[1]]
                .iter()
                .map(|&t| (truth.centre)(t))
                .collect();
            sum += jerk(&centres) * centres.len() as f64;
        }
        sum / plan.times.len().max(1) as f64
    });
    Ok(Row {
        name: name.to_owned(),
        frames: plan.times.len(),
        inside,
        cuts: (plan.shots.len().saturating_sub(1), truth.map(|t| t.cuts)),
        jerk: jerk_sum / plan.times.len().max(1) as f64,
        true_jerk,
        ours_s,
        peer_s,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn params_json(params: &H2vParams) -> serde_json::Value {
    serde_json::json!({
        "Aspect": format!("{}:{}", params.aspect.0, params.aspect.1),
        "Crf": params.crf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::composite::SIZE;

    #[test]
    fn the_composite_paths_stay_in_the_frame() {
        for c in &COMPOSITES {
            for k in 0..=(c.seconds * 25.0) as u32 {
                let (x, y, _) = (c.at)(f64::from(k) / 25.0);
                let half = PATCH.0 as f32 * c.scale / 2.0;
                assert!(
                    x - half >= 0.0 && x + half <= SIZE.0 as f32,
                    "{} {k}",
                    c.name
                );
                assert!(y > 0.0 && y < SIZE.1 as f32);
            }
        }
    }

    #[test]
    fn the_subjects_without_a_face_stay_in_the_frame_and_turn_where_they_go() {
        for m in &MOVING {
            for k in 0..=(MOVING_S * 25.0) as u32 {
                let (x, y) = (m.at)(f64::from(k) / 25.0);
                let half = m.width as f32 / 2.0;
                assert!(
                    x - half >= 0.0 && x + half <= SIZE.0 as f32,
                    "{} {k}",
                    m.name
                );
                assert!(
                    y - half * 0.8 > 0.0 && y + half * 0.8 < SIZE.1 as f32,
                    "{} {k}",
                    m.name
                );
            }
        }
        let pace = MOVING[0].at;
        assert!(!faces_left(pace, 0.0));
        assert!(faces_left(pace, 2.5));
        assert!(!faces_left(pace, 5.0));
        // Standing still, it faces where it goes next.
        assert!(faces_left(MOVING[2].at, 5.0));
    }
}
