//! The input of the joint beat and downbeat networks of Böck, Krebs &
//! Widmer (ISMIR 2016), as their madmom implementation computes it: three
//! magnitude spectrograms at 100 frames a second (frames of 1024, 2048 and
//! 4096 samples at 44.1 kHz, Hann windows), each through a logarithmic
//! triangular filterbank (3, 6 and 12 bands to the octave, 30 Hz–17 kHz,
//! area-normalised filters), `log10(1 + x)`, with its positive difference
//! to the frame where the window has fallen to half appended. The networks
//! themselves run elsewhere (they are model files); this is plain DSP.

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

/// Sample rate the networks were trained at.
pub const SAMPLE_RATE: u32 = 44_100;
/// Frames a second of the input and of the activations.
pub const FPS: f64 = 100.0;
/// Samples between frames (441 at 44.1 kHz).
const HOP: f64 = SAMPLE_RATE as f64 / FPS;
/// [`HOP`] as a count.
pub const HOP_SAMPLES: usize = HOP as usize;
/// Frame sizes and bands per octave of the three spectrograms.
const LAYOUT: [(usize, usize); 3] = [(1024, 3), (2048, 6), (4096, 12)];
const FMIN: f64 = 30.0;
const FMAX: f64 = 17_000.0;
const FREF: f64 = 440.0;

/// Network input: `frames` rows of `dims` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Row-major values.
    pub values: Vec<f32>,
    /// Number of frames (rows).
    pub frames: usize,
    /// Values per frame (columns).
    pub dims: usize,
}

/// Centre frequencies spaced `per_octave` to the octave around `FREF`,
/// within `FMIN`–`FMAX`.
fn log_frequencies(per_octave: usize) -> Vec<f64> {
    let b = per_octave as f64;
    let left = ((FMIN / FREF).log2() * b).floor() as i64;
    let right = ((FMAX / FREF).log2() * b).ceil() as i64;
    (left..right)
        .map(|k| FREF * 2f64.powf(k as f64 / b))
        .filter(|&f| (FMIN..=FMAX).contains(&f))
        .collect()
}

/// The FFT bin nearest each frequency (ties to the upper bin), once each.
fn unique_bins(frequencies: &[f64], bin_hz: f64, n_bins: usize) -> Vec<usize> {
    let mut bins: Vec<usize> = frequencies
        .iter()
        .map(|&f| {
            // First bin at or above f, kept inside 1..n_bins-1.
            let above = ((f / bin_hz).ceil() as usize).clamp(1, n_bins - 1);
            let (left, right) = ((above - 1) as f64 * bin_hz, above as f64 * bin_hz);
            if f - left < right - f {
                above - 1
            } else {
                above
            }
        })
        .collect();
    bins.dedup();
    bins
}

/// The filterbank as `(first bin, weights)` per band: overlapping
/// triangles over consecutive bin triples, each normalised to unit area;
/// where two filters of a band overlap the larger weight is kept.
fn filterbank(frame_size: usize, per_octave: usize) -> Vec<(usize, Vec<f32>)> {
    let n_bins = frame_size / 2;
    let bin_hz = f64::from(SAMPLE_RATE) / frame_size as f64;
    let bins = unique_bins(&log_frequencies(per_octave), bin_hz, n_bins);
    bins.windows(3)
        .map(|w| {
            let (start, mut centre, mut stop) = (w[0], w[1], w[2]);
            if stop - start < 2 {
                centre = start;
                stop = start + 1;
            }
            let rise = centre - start;
            let fall = stop - centre;
            let mut data: Vec<f64> = (0..rise).map(|i| i as f64 / rise as f64).collect();
            data.extend((0..fall).map(|i| 1.0 - i as f64 / fall as f64));
            let sum: f64 = data.iter().sum();
            let stop = stop.min(n_bins);
            (
                start,
                data[..stop - start]
                    .iter()
                    .map(|v| (v / sum) as f32)
                    .collect(),
            )
        })
        .collect()
}

/// Frames back to which the difference is taken: where the window first
/// exceeds half its height, as a whole number of hops (at least one).
fn diff_frames(window: &[f32]) -> usize {
    let peak = window.iter().copied().fold(0f32, f32::max);
    let first = window.iter().position(|&w| w > 0.5 * peak).unwrap_or(0);
    let samples = window.len() as f64 / 2.0 - first as f64;
    ((samples / HOP).round() as usize).max(1)
}

/// One spectrogram of the input: `bands` log-magnitudes per frame followed
/// by their positive differences.
fn spectrogram(
    samples: &[f32],
    frames: usize,
    frame_size: usize,
    per_octave: usize,
) -> (Vec<f32>, usize) {
    let filters = filterbank(frame_size, per_octave);
    let bands = filters.len();
    // numpy's symmetric Hann window.
    let window: Vec<f32> = (0..frame_size)
        .map(|i| {
            0.5 - 0.5
                * (2.0 * std::f64::consts::PI * i as f64 / (frame_size - 1) as f64).cos() as f32
        })
        .collect();
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(frame_size);
    let mut buffer = vec![0f32; frame_size];
    let mut spectrum = vec![Complex32::new(0.0, 0.0); frame_size / 2 + 1];
    let mut scratch = vec![Complex32::new(0.0, 0.0); fft.get_scratch_len()];
    let mut mags = vec![0f32; frame_size / 2];
    let mut spec = vec![0f32; frames * bands];
    for t in 0..frames {
        let start = (t as f64 * HOP) as isize - (frame_size / 2) as isize;
        for (i, slot) in buffer.iter_mut().enumerate() {
            let idx = start + i as isize;
            let x = if idx >= 0 && (idx as usize) < samples.len() {
                samples[idx as usize]
            } else {
                0.0
            };
            *slot = x * window[i];
        }
        // Sizes are fixed above, so the transform cannot fail.
        let _ = fft.process_with_scratch(&mut buffer, &mut spectrum, &mut scratch);
        for (m, c) in mags.iter_mut().zip(&spectrum) {
            *m = (c.re * c.re + c.im * c.im).sqrt();
        }
        let row = &mut spec[t * bands..(t + 1) * bands];
        for (value, (first, weights)) in row.iter_mut().zip(&filters) {
            let v: f32 = weights
                .iter()
                .zip(&mags[*first..])
                .map(|(w, m)| w * m)
                .sum();
            *value = (1.0 + v).log10();
        }
    }
    let back = diff_frames(&window);
    let mut out = vec![0f32; frames * bands * 2];
    for t in 0..frames {
        let row = &mut out[t * bands * 2..(t + 1) * bands * 2];
        let cur = &spec[t * bands..(t + 1) * bands];
        row[..bands].copy_from_slice(cur);
        if t >= back {
            let prev = &spec[(t - back) * bands..(t - back + 1) * bands];
            for (d, (c, p)) in row[bands..].iter_mut().zip(cur.iter().zip(prev)) {
                *d = (c - p).max(0.0);
            }
        }
    }
    (out, bands * 2)
}

/// The network input of `samples` (mono, [`SAMPLE_RATE`]): one frame every
/// 10 ms, as many as there are hops that start inside the signal.
pub fn input(samples: &[f32]) -> Input {
    let frames = (samples.len() as f64 / HOP).ceil() as usize;
    let parts: Vec<(Vec<f32>, usize)> = LAYOUT
        .iter()
        .map(|&(size, per_octave)| spectrogram(samples, frames, size, per_octave))
        .collect();
    let dims: usize = parts.iter().map(|p| p.1).sum();
    let mut values = Vec::with_capacity(frames * dims);
    for t in 0..frames {
        for (part, width) in &parts {
            values.extend_from_slice(&part[t * width..(t + 1) * width]);
        }
    }
    Input {
        values,
        frames,
        dims,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_filterbanks_give_madmoms_157_bands() {
        let bands: Vec<usize> = LAYOUT
            .iter()
            .map(|&(size, per_octave)| filterbank(size, per_octave).len())
            .collect();
        assert_eq!(bands.iter().sum::<usize>(), 157, "{bands:?}");
        // Every filter sums to one.
        for (first, weights) in filterbank(4096, 12) {
            let sum: f32 = weights.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "filter at {first}: {sum}");
        }
    }

    #[test]
    fn differences_reach_back_one_or_two_frames() {
        let hann = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (n - 1) as f32).cos())
                .collect()
        };
        assert_eq!(diff_frames(&hann(1024)), 1);
        assert_eq!(diff_frames(&hann(2048)), 1);
        assert_eq!(diff_frames(&hann(4096)), 2);
    }

    #[test]
    fn a_second_of_audio_gives_a_hundred_frames_of_314_values() {
        let tone: Vec<f32> = (0..SAMPLE_RATE as usize)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / SAMPLE_RATE as f32).sin())
            .collect();
        let x = input(&tone);
        assert_eq!((x.frames, x.dims), (100, 314));
        assert!(x.values.iter().all(|v| v.is_finite() && *v >= 0.0));
    }
}
