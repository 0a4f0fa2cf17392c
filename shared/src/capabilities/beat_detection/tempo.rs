//! Global tempo from the onset envelope: autocorrelation weighted by a
//! log-normal prior on tempo, searched within the allowed BPM range.

/// Normalises an onset envelope into a beat "activation" in 0–0.95: the
/// local mean (±`window` frames) is removed, negative values dropped, and
/// the result scaled by its 98th percentile.
pub fn activation(onset: &[f32], window: usize) -> Vec<f32> {
    let n = onset.len();
    if n == 0 {
        return Vec::new();
    }
    let mut prefix = vec![0f64; n + 1];
    for (i, &v) in onset.iter().enumerate() {
        prefix[i + 1] = prefix[i] + f64::from(v);
    }
    let detrended: Vec<f32> = (0..n)
        .map(|i| {
            let lo = i.saturating_sub(window);
            let hi = (i + window + 1).min(n);
            let mean = (prefix[hi] - prefix[lo]) / (hi - lo) as f64;
            (f64::from(onset[i]) - mean).max(0.0) as f32
        })
        .collect();
    let mut sorted = detrended.clone();
    sorted.sort_by(f32::total_cmp);
    let reference = sorted[((n - 1) as f64 * 0.98) as usize].max(1e-6);
    detrended
        .iter()
        .map(|&v| (v / reference).clamp(0.0, 0.95))
        .collect()
}

/// Autocorrelation of `x` at lags `0..=max_lag`, normalised by lag 0.
pub fn autocorrelation(x: &[f32], max_lag: usize) -> Vec<f64> {
    let n = x.len();
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n.max(1) as f64;
    let centred: Vec<f64> = x.iter().map(|&v| f64::from(v) - mean).collect();
    let mut out = vec![0f64; max_lag + 1];
    for (lag, slot) in out.iter_mut().enumerate() {
        if lag >= n {
            break;
        }
        *slot = centred[..n - lag]
            .iter()
            .zip(&centred[lag..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / (n - lag) as f64;
    }
    let zero = out[0].max(1e-12);
    out.iter_mut().for_each(|v| *v /= zero);
    out
}

/// The most likely tempo (BPM) of an activation at `fps` frames a second,
/// between `min_bpm` and `max_bpm`. Each candidate beat period is scored
/// by the autocorrelation at its first four multiples (a comb: the true
/// beat period lines up with the bar, a dotted or triplet period does
/// not), weighted by a log-normal prior centred on `prior_bpm` (one octave
/// wide), and refined to a fraction of a frame.
pub fn estimate_bpm(
    activation: &[f32],
    fps: f64,
    min_bpm: f64,
    max_bpm: f64,
    prior_bpm: f64,
) -> Option<f64> {
    let min_lag = (60.0 * fps / max_bpm).floor().max(1.0) as usize;
    let max_lag = (60.0 * fps / min_bpm).ceil() as usize;
    const MULTIPLES: usize = 4;
    if activation.len() < max_lag * 2 {
        return None;
    }
    let acf = autocorrelation(activation, (max_lag + 1) * MULTIPLES);
    let at = |lag: f64| -> f64 {
        let i = lag.floor() as usize;
        let frac = lag - i as f64;
        match (acf.get(i), acf.get(i + 1)) {
            (Some(a), Some(b)) => a * (1.0 - frac) + b * frac,
            (Some(a), None) => *a,
            _ => 0.0,
        }
    };
    let comb = |lag: f64| -> f64 {
        (1..=MULTIPLES)
            .map(|k| {
                // The peak may sit a frame off at the k-th multiple.
                let centre = lag * k as f64;
                [centre - 1.0, centre, centre + 1.0]
                    .iter()
                    .map(|&l| at(l))
                    .fold(f64::MIN, f64::max)
            })
            .sum::<f64>()
            / MULTIPLES as f64
    };
    let weight = |lag: f64| {
        let bpm = 60.0 * fps / lag;
        let octaves = (bpm / prior_bpm).log2();
        (-0.5 * octaves * octaves).exp()
    };
    // Search in quarter-frame steps: periods are rarely whole frames.
    let steps = ((max_lag - min_lag) * 4).max(1);
    let best = (0..=steps)
        .map(|s| min_lag as f64 + s as f64 / 4.0)
        .filter(|&lag| at(lag) > 0.0)
        .max_by(|&a, &b| (comb(a) * weight(a)).total_cmp(&(comb(b) * weight(b))))?;
    Some(60.0 * fps / best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulses(period: f64, frames: usize) -> Vec<f32> {
        let mut x = vec![0f32; frames];
        let mut t = 0.0;
        while (t as usize) < frames {
            x[t as usize] = 1.0;
            t += period;
        }
        x
    }

    #[test]
    fn a_pulse_train_gives_its_tempo() {
        let fps = 86.13;
        let x = pulses(60.0 * fps / 100.0, 2000);
        let bpm = estimate_bpm(&x, fps, 40.0, 240.0, 120.0).expect("tempo");
        assert!((bpm - 100.0).abs() < 1.5, "{bpm}");
        // The range decides between octaves.
        let bpm = estimate_bpm(&x, fps, 40.0, 80.0, 120.0).expect("tempo");
        assert!((bpm - 50.0).abs() < 1.0, "{bpm}");
    }
}
