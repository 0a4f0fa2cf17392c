//! The virtual camera of one shot, along the axis being cropped: where the
//! crop window starts at every frame.
//!
//! As AutoFlip does, the camera is one of three kinds, tried in order:
//! stationary (one position keeps every subject inside), panning (a
//! constant-speed move does), else tracking: a smooth path fitted to where
//! the subject wants the window, with a penalty on its second difference
//! (acceleration) solved exactly over the whole shot, so it neither
//! jitters nor lags, then pushed inside the positions that keep the
//! subject in frame.

pub use crate::capabilities::h2v::api::Camera;

/// What one analysed frame asks of the window start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Seconds.
    pub time: f64,
    /// The start that centres the subject.
    pub want: f32,
    /// The smallest start that keeps the subject inside.
    pub lo: f32,
    /// The largest start that keeps the subject inside.
    pub hi: f32,
}

/// Solves the camera for frames at `times` (ascending) from `targets`
/// (ascending, not empty), with window starts limited to `range`;
/// `smoothing_s` is the shortest period of motion the tracking path
/// follows.
pub fn solve(
    times: &[f64],
    targets: &[Target],
    range: (f32, f32),
    smoothing_s: f64,
) -> (Camera, Vec<f32>) {
    let clamp = |v: f32| v.clamp(range.0, range.1.max(range.0));
    let targets: Vec<Target> = targets
        .iter()
        .map(|t| {
            let (lo, hi) = (clamp(t.lo), clamp(t.hi));
            Target {
                time: t.time,
                want: clamp(t.want),
                lo: lo.min(hi),
                hi: hi.max(lo),
            }
        })
        .collect();
    if targets.is_empty() || times.is_empty() {
        return (
            Camera::Stationary,
            vec![clamp(0.5 * (range.0 + range.1)); times.len()],
        );
    }
    // Stationary: one start inside every target's interval.
    let lo = targets.iter().map(|t| t.lo).fold(f32::MIN, f32::max);
    let hi = targets.iter().map(|t| t.hi).fold(f32::MAX, f32::min);
    if lo <= hi {
        let mut wants: Vec<f32> = targets.iter().map(|t| t.want).collect();
        wants.sort_by(f32::total_cmp);
        let x = wants[wants.len() / 2].clamp(lo, hi);
        return (Camera::Stationary, vec![x; times.len()]);
    }
    // Panning: the least-squares line through the wanted starts, else
    // through the middles of the allowed intervals, the narrow ones
    // weighing most (the wanted starts bend where the frame's edge stops
    // them; the intervals narrow there).
    let middles: Vec<Target> = targets
        .iter()
        .map(|t| Target {
            want: 0.5 * (t.lo + t.hi),
            ..*t
        })
        .collect();
    let by_width = |t: &Target| 1.0 / f64::from((t.hi - t.lo).max(1.0)).powi(2);
    for (a, b) in [line(&targets, |_| 1.0), line(&middles, by_width)]
        .into_iter()
        .flatten()
    {
        let at = |t: f64| (a + b * t) as f32;
        if targets.iter().all(|t| {
            let x = at(t.time);
            x >= t.lo - 0.5 && x <= t.hi + 0.5
        }) {
            return (
                Camera::Panning,
                times.iter().map(|&t| clamp(at(t))).collect(),
            );
        }
    }
    (Camera::Tracking, track(times, &targets, smoothing_s, clamp))
}

/// The least-squares line `(a, b)` (start = a + b·time) through the
/// targets' wanted starts, each weighing `weight`.
fn line(targets: &[Target], weight: impl Fn(&Target) -> f64) -> Option<(f64, f64)> {
    if targets.len() < 2 {
        return None;
    }
    let n: f64 = targets.iter().map(&weight).sum();
    let mean =
        |f: &dyn Fn(&Target) -> f64| targets.iter().map(|t| weight(t) * f(t)).sum::<f64>() / n;
    let mt = mean(&|t| t.time);
    let mx = mean(&|t| f64::from(t.want));
    let stt = mean(&|t| (t.time - mt).powi(2));
    if stt <= 0.0 {
        return None;
    }
    let stx = mean(&|t| (t.time - mt) * (f64::from(t.want) - mx));
    let b = stx / stt;
    Some((mx - b * mt, b))
}

/// Linear interpolation of the targets at `time` (held at the ends).
fn at(targets: &[Target], time: f64) -> (f32, f32, f32) {
    let k = targets.partition_point(|t| t.time <= time);
    let pick = |t: &Target| (t.want, t.lo, t.hi);
    if k == 0 {
        return pick(&targets[0]);
    }
    if k == targets.len() {
        return pick(&targets[k - 1]);
    }
    let (a, b) = (&targets[k - 1], &targets[k]);
    let u = ((time - a.time) / (b.time - a.time).max(1e-9)) as f32;
    let mix = |p: f32, q: f32| p + (q - p) * u;
    (mix(a.want, b.want), mix(a.lo, b.lo), mix(a.hi, b.hi))
}

fn track(
    times: &[f64],
    targets: &[Target],
    smoothing_s: f64,
    clamp: impl Fn(f32) -> f32,
) -> Vec<f32> {
    let n = times.len();
    let per_frame: Vec<(f32, f32, f32)> = times.iter().map(|&t| at(targets, t)).collect();
    if n < 3 {
        return per_frame.iter().map(|p| clamp(p.0)).collect();
    }
    let fps = (n - 1) as f64 / (times[n - 1] - times[0]).max(1e-6);
    // Second-difference penalty whose cut-off period is `smoothing_s`.
    let lambda = (smoothing_s * fps / std::f64::consts::TAU).powi(4);
    let mut y: Vec<f64> = per_frame.iter().map(|p| f64::from(p.0)).collect();
    let mut w = vec![1.0f64; n];
    let mut x = whittaker(&y, &w, lambda);
    // Where the smooth path would cut the subject, pull it to the edge of
    // what keeps the subject in and solve again.
    for _ in 0..6 {
        let mut changed = false;
        for i in 0..n {
            let (_, lo, hi) = per_frame[i];
            let (lo, hi) = (f64::from(lo), f64::from(hi));
            if x[i] < lo - 0.25 {
                y[i] = lo;
                w[i] = 200.0;
                changed = true;
            } else if x[i] > hi + 0.25 {
                y[i] = hi;
                w[i] = 200.0;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        x = whittaker(&y, &w, lambda);
    }
    x.iter()
        .zip(&per_frame)
        .map(|(&v, &(_, lo, hi))| clamp((v as f32).clamp(lo, hi)))
        .collect()
}

/// Minimises Σ wᵢ(xᵢ − yᵢ)² + λ Σ (xᵢ₋₁ − 2xᵢ + xᵢ₊₁)²: a symmetric
/// positive-definite pentadiagonal system, solved by LDLᵀ in O(n).
pub fn whittaker(y: &[f64], w: &[f64], lambda: f64) -> Vec<f64> {
    let n = y.len();
    if n < 3 {
        return y.to_vec();
    }
    // A = W + λ DᵀD, bands: a0 (diagonal), a1, a2 (above it).
    let mut a0 = vec![0f64; n];
    let mut a1 = vec![0f64; n];
    let mut a2 = vec![0f64; n];
    for i in 0..n - 2 {
        // Row of D: (1, -2, 1) at i, i+1, i+2.
        let d = [1.0, -2.0, 1.0];
        for p in 0..3 {
            a0[i + p] += lambda * d[p] * d[p];
            if p + 1 < 3 {
                a1[i + p] += lambda * d[p] * d[p + 1];
            }
            if p + 2 < 3 {
                a2[i + p] += lambda * d[p] * d[p + 2];
            }
        }
    }
    for i in 0..n {
        a0[i] += w[i];
    }
    // LDLᵀ with L unit lower, bands l1, l2.
    let mut dd = vec![0f64; n];
    let mut l1 = vec![0f64; n];
    let mut l2 = vec![0f64; n];
    for i in 0..n {
        let mut di = a0[i];
        if i >= 1 {
            di -= l1[i - 1] * l1[i - 1] * dd[i - 1];
        }
        if i >= 2 {
            di -= l2[i - 2] * l2[i - 2] * dd[i - 2];
        }
        dd[i] = di.max(1e-12);
        if i + 1 < n {
            let mut v = a1[i];
            if i >= 1 {
                v -= l1[i - 1] * l2[i - 1] * dd[i - 1];
            }
            l1[i] = v / dd[i];
        }
        if i + 2 < n {
            l2[i] = a2[i] / dd[i];
        }
    }
    let mut z: Vec<f64> = (0..n).map(|i| w[i] * y[i]).collect();
    for i in 0..n {
        if i >= 1 {
            z[i] -= l1[i - 1] * z[i - 1];
        }
        if i >= 2 {
            z[i] -= l2[i - 2] * z[i - 2];
        }
    }
    for (zi, di) in z.iter_mut().zip(&dd) {
        *zi /= di;
    }
    for i in (0..n).rev() {
        if i + 1 < n {
            z[i] -= l1[i] * z[i + 1];
        }
        if i + 2 < n {
            z[i] -= l2[i] * z[i + 2];
        }
    }
    z
}

/// Mean |third difference| of a path: jerk, in pixels per frame³.
pub fn jerk(path: &[f32]) -> f64 {
    if path.len() < 4 {
        return 0.0;
    }
    path.windows(4)
        .map(|w| f64::from((w[3] - 3.0 * w[2] + 3.0 * w[1] - w[0]).abs()))
        .sum::<f64>()
        / (path.len() - 3) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 / 25.0).collect()
    }

    fn target(time: f64, want: f32, slack: f32) -> Target {
        Target {
            time,
            want,
            lo: want - slack,
            hi: want + slack,
        }
    }

    #[test]
    fn whittaker_keeps_a_line_and_solves_the_system() {
        let y: Vec<f64> = (0..50).map(|i| 3.0 * f64::from(i) + 7.0).collect();
        let x = whittaker(&y, &vec![1.0; 50], 1000.0);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-6, "{a} {b}");
        }
    }

    #[test]
    fn a_subject_that_stays_put_gets_a_still_camera() {
        let targets: Vec<Target> = (0..10)
            .map(|k| target(k as f64 * 0.2, 300.0 + (k % 3) as f32 * 4.0, 50.0))
            .collect();
        let (camera, path) = solve(&frames(50), &targets, (0.0, 1000.0), 1.5);
        assert_eq!(camera, Camera::Stationary);
        assert!(path.iter().all(|&x| x == path[0]));
        assert!((path[0] - 304.0).abs() < 5.0);
    }

    #[test]
    fn a_steady_walk_out_to_the_frame_edge_is_still_a_pan() {
        // Walking left at 100 px/s from where the window cannot be
        // centred on it (its wanted start is past the frame's edge): the
        // wanted starts bend there, the allowed intervals do not.
        let range = (0.0, 874.0);
        let targets: Vec<Target> = (0..20)
            .map(|k| {
                let t = k as f64 * 0.5;
                let left = 1096.0 - 100.0 * t as f32;
                Target {
                    time: t,
                    want: (left + 52.0 - 203.0).clamp(range.0, range.1),
                    lo: (left + 104.0 - 405.0).max(range.0),
                    hi: left.min(range.1),
                }
            })
            .collect();
        let (camera, path) = solve(&frames(250), &targets, range, 1.5);
        assert_eq!(camera, Camera::Panning);
        let speed = path[1] - path[0];
        assert!(path
            .windows(2)
            .all(|w| (w[1] - w[0] - speed).abs() < 1e-3 || w[1] == 0.0));
    }

    #[test]
    fn steady_motion_is_a_pan_and_erratic_motion_is_tracked_smoothly() {
        let targets: Vec<Target> = (0..25)
            .map(|k| target(k as f64 * 0.2, 100.0 + 40.0 * k as f32, 30.0))
            .collect();
        let (camera, _) = solve(&frames(125), &targets, (0.0, 2000.0), 1.5);
        assert_eq!(camera, Camera::Panning);

        // Left, then back right: no single speed fits.
        let targets: Vec<Target> = (0..25)
            .map(|k| {
                let t = k as f32 * 0.2;
                let want = 600.0 + 300.0 * (t * 1.2).sin();
                target(f64::from(t), want, 60.0)
            })
            .collect();
        let times = frames(125);
        let (camera, path) = solve(&times, &targets, (0.0, 2000.0), 1.5);
        assert_eq!(camera, Camera::Tracking);
        for t in &targets {
            let i = (t.time * 25.0).round() as usize;
            if i < path.len() {
                assert!(path[i] >= t.lo - 0.01 && path[i] <= t.hi + 0.01, "{i}");
            }
        }
        // Smooth: far less jerk than following the samples frame by frame.
        let naive: Vec<f32> = times.iter().map(|&t| at(&targets, t).0).collect();
        assert!(
            jerk(&path) < 0.2 * jerk(&naive),
            "{} {}",
            jerk(&path),
            jerk(&naive)
        );
    }

    #[test]
    fn the_window_stays_within_the_frame() {
        let targets = [target(0.0, -50.0, 10.0), target(1.0, 5000.0, 10.0)];
        let (_, path) = solve(&frames(25), &targets, (0.0, 800.0), 1.5);
        assert!(path.iter().all(|&x| (0.0..=800.0).contains(&x)));
    }
}
