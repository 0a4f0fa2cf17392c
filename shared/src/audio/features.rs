//! Frame-level features from one STFT pass: a log-frequency spectral-flux
//! onset envelope (all bands, and the bass bands alone), frame energy and
//! a 12-bin chroma.

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

use super::{FFT_SIZE, HOP, SAMPLE_RATE};

/// Features of a signal, one value (or vector) per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Frames per second.
    pub fps: f64,
    /// Spectral flux over log-frequency bands (onset strength), ≥ 0.
    pub onset: Vec<f32>,
    /// Spectral flux of the bands below 250 Hz (kick, bass), ≥ 0.
    pub bass_onset: Vec<f32>,
    /// Frame energy (mean log-magnitude over bands).
    pub energy: Vec<f32>,
    /// Chroma: 12 energies per frame (C, C#, … B), row-major.
    pub chroma: Vec<[f32; 12]>,
    /// Log-band magnitudes (timbre), row-major, `bands` per frame.
    pub bands: Vec<f32>,
    /// Number of log bands per frame.
    pub band_count: usize,
}

/// One triangular filter: FFT bins and weights.
#[derive(Debug, Clone)]
struct Filter {
    bins: Vec<(usize, f32)>,
}

/// Triangular filters spaced `per_octave` to the octave from `fmin` to
/// `fmax` Hz, each at least one FFT bin wide.
fn log_filterbank(fmin: f64, fmax: f64, per_octave: f64) -> Vec<Filter> {
    let bin_hz = f64::from(SAMPLE_RATE) / FFT_SIZE as f64;
    let n_bins = FFT_SIZE / 2 + 1;
    let mut centres: Vec<f64> = Vec::new();
    let mut f = fmin;
    while f <= fmax {
        centres.push(f / bin_hz);
        f *= 2f64.powf(1.0 / per_octave);
    }
    // Merge centres closer than one bin (low frequencies).
    let mut merged: Vec<f64> = Vec::new();
    for c in centres {
        let c = c.round();
        if merged.last().is_none_or(|&last| c > last) && (c as usize) < n_bins {
            merged.push(c);
        }
    }
    let mut filters = Vec::new();
    for w in merged.windows(3) {
        let (lo, mid, hi) = (w[0] as usize, w[1] as usize, w[2] as usize);
        let mut bins = Vec::new();
        for b in lo..=hi {
            let weight = if b <= mid {
                (b - lo) as f32 / (mid - lo).max(1) as f32
            } else {
                (hi - b) as f32 / (hi - mid).max(1) as f32
            };
            if weight > 0.0 {
                bins.push((b, weight));
            }
        }
        if !bins.is_empty() {
            filters.push(Filter { bins });
        }
    }
    filters
}

/// Computes [`Features`] of `samples` (mono, [`SAMPLE_RATE`]).
pub fn features(samples: &[f32]) -> Features {
    let fps = f64::from(SAMPLE_RATE) / HOP as f64;
    let n_bins = FFT_SIZE / 2 + 1;
    let filters = log_filterbank(30.0, 11_000.0, 12.0);
    let bin_hz = f64::from(SAMPLE_RATE) / FFT_SIZE as f64;
    let bass_bands = filters
        .iter()
        .take_while(|f| f.bins.iter().map(|b| b.0).max().unwrap_or(0) as f64 * bin_hz <= 250.0)
        .count()
        .max(1);
    let band_count = filters.len();
    // Pitch class of each FFT bin between 55 Hz and 5 kHz.
    let chroma_of: Vec<Option<usize>> = (0..n_bins)
        .map(|b| {
            let f = b as f64 * bin_hz;
            (55.0..5000.0).contains(&f).then(|| {
                let midi = 69.0 + 12.0 * (f / 440.0).log2();
                (midi.round() as i64).rem_euclid(12) as usize
            })
        })
        .collect();
    let window: Vec<f32> = (0..FFT_SIZE)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / FFT_SIZE as f32).cos())
        .collect();
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_SIZE);
    let frames = if samples.is_empty() {
        0
    } else {
        samples.len().div_ceil(HOP)
    };
    let mut buffer = vec![0f32; FFT_SIZE];
    let mut spectrum = vec![Complex32::new(0.0, 0.0); n_bins];
    let mut scratch = vec![Complex32::new(0.0, 0.0); fft.get_scratch_len()];
    let mut mags = vec![0f32; n_bins];
    let mut bands = vec![0f32; frames * band_count];
    let mut energy = Vec::with_capacity(frames);
    let mut chroma = Vec::with_capacity(frames);
    for t in 0..frames {
        // Frames are centred on t·HOP, zero-padded at the edges.
        let centre = t * HOP;
        for (i, slot) in buffer.iter_mut().enumerate() {
            let idx = (centre + i) as isize - (FFT_SIZE / 2) as isize;
            let x = if idx >= 0 && (idx as usize) < samples.len() {
                samples[idx as usize]
            } else {
                0.0
            };
            *slot = x * window[i];
        }
        // Sizes are fixed above, so the transform cannot fail.
        let _ = fft.process_with_scratch(&mut buffer, &mut spectrum, &mut scratch);
        for (m, c) in mags.iter_mut().zip(spectrum.iter()) {
            *m = c.norm();
        }
        let row = &mut bands[t * band_count..(t + 1) * band_count];
        let mut sum = 0f32;
        for (value, filter) in row.iter_mut().zip(filters.iter()) {
            let v: f32 = filter.bins.iter().map(|&(b, w)| mags[b] * w).sum();
            *value = (1.0 + v).ln();
            sum += *value;
        }
        energy.push(sum / band_count.max(1) as f32);
        let mut c = [0f32; 12];
        for (b, pc) in chroma_of.iter().enumerate() {
            if let Some(pc) = pc {
                c[*pc] += mags[b] * mags[b];
            }
        }
        chroma.push(c);
    }
    let (onset, bass_onset) = superflux(&bands, band_count, bass_bands);
    Features {
        fps,
        onset,
        bass_onset,
        energy,
        chroma,
        bands,
        band_count,
    }
}

/// SuperFlux (Böck & Widmer 2013): positive difference of each band
/// against the maximum of its neighbours one frame back, which ignores
/// vibrato and slow glides. Returns the sum over all bands and over the
/// lowest `bass` bands.
fn superflux(bands: &[f32], count: usize, bass: usize) -> (Vec<f32>, Vec<f32>) {
    let frames = bands.len() / count.max(1);
    let mut onset = vec![0f32; frames];
    let mut low = vec![0f32; frames];
    for t in 1..frames {
        let prev = &bands[(t - 1) * count..t * count];
        let cur = &bands[t * count..(t + 1) * count];
        let (mut all, mut b) = (0f32, 0f32);
        for (k, &value) in cur.iter().enumerate() {
            let lo = k.saturating_sub(1);
            let hi = (k + 1).min(count - 1);
            let reference = prev[lo..=hi].iter().copied().fold(f32::MIN, f32::max);
            let d = (value - reference).max(0.0);
            all += d;
            if k < bass {
                b += d;
            }
        }
        onset[t] = all;
        low[t] = b;
    }
    (onset, low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clicks(bpm: f64, seconds: f64) -> Vec<f32> {
        let n = (seconds * f64::from(SAMPLE_RATE)) as usize;
        let period = 60.0 / bpm * f64::from(SAMPLE_RATE);
        let mut out = vec![0f32; n];
        let mut t = 0.0;
        while (t as usize) < n {
            for i in 0..200 {
                if let Some(s) = out.get_mut(t as usize + i) {
                    *s = (1.0 - i as f32 / 200.0) * ((i as f32) * 0.9).sin();
                }
            }
            t += period;
        }
        out
    }

    #[test]
    fn onsets_peak_at_clicks() {
        let x = clicks(120.0, 4.0);
        let f = features(&x);
        let fps = f.fps;
        // The strongest frames are within one frame of a click.
        let mut idx: Vec<usize> = (0..f.onset.len()).collect();
        idx.sort_by(|&a, &b| f.onset[b].total_cmp(&f.onset[a]));
        for &i in idx.iter().take(6) {
            let t = i as f64 / fps;
            let nearest = (t / 0.5).round() * 0.5;
            assert!((t - nearest).abs() < 1.5 / fps, "peak at {t}");
        }
    }

    #[test]
    fn chroma_finds_the_pitch_class_of_a_tone() {
        let n = SAMPLE_RATE as usize;
        let a440: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / SAMPLE_RATE as f32).sin())
            .collect();
        let f = features(&a440);
        let c = f.chroma[f.chroma.len() / 2];
        let best = (0..12).max_by(|&a, &b| c[a].total_cmp(&c[b])).unwrap_or(0);
        assert_eq!(best, 9, "A is pitch class 9: {c:?}");
    }
}
