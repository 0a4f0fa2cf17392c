//! Frame-level features from one STFT pass: a log-frequency spectral-flux
//! onset envelope (all bands, and the bass bands alone), frame energy and
//! a 12-bin chroma; and the signal at a quarter of the rate, for the
//! finer spectra that the bass register's pitch needs.

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

use super::{FFT_SIZE, HOP, SAMPLE_RATE};

/// [`Features::low`] keeps one value for this many samples.
pub const LOW_DECIMATION: usize = 4;

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
    /// Centre frequency of each log band, Hz.
    pub band_hz: Vec<f32>,
    /// The signal summed over blocks of [`LOW_DECIMATION`] samples
    /// (5.5 kHz): the block sum is a low-pass whose aliases are weak
    /// below a few hundred hertz, where bass notes are told apart.
    pub low: Vec<f32>,
}

/// One triangular filter: FFT bins and weights.
#[derive(Debug, Clone)]
struct Filter {
    bins: Vec<(usize, f32)>,
    /// Centre frequency, Hz.
    hz: f32,
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
            filters.push(Filter {
                bins,
                hz: (mid as f64 * bin_hz) as f32,
            });
        }
    }
    filters
}

/// The bins of an `fft_size`-point spectrum at `rate` between `lo` and
/// `hi` Hz, each with the pitch class (0 = C) of its centre frequency.
pub fn pitch_classes(fft_size: usize, rate: f64, lo: f64, hi: f64) -> Vec<(usize, usize)> {
    let bin_hz = rate / fft_size as f64;
    (0..=fft_size / 2)
        .filter_map(|b| {
            let f = b as f64 * bin_hz;
            (lo..hi).contains(&f).then(|| {
                let midi = 69.0 + 12.0 * (f / 440.0).log2();
                (b, (midi.round() as i64).rem_euclid(12) as usize)
            })
        })
        .collect()
}

/// A periodic Hann window of `n` points.
pub fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n as f32).cos())
        .collect()
}

/// Computes [`Features`] of `samples` (mono, [`SAMPLE_RATE`]).
pub fn features(samples: &[f32]) -> Features {
    let mut stream = FeatureStream::new();
    stream.push(samples);
    stream.finish()
}

/// [`features`] computed as the samples arrive (while they are still being
/// decoded): each frame as soon as its window is complete, the last ones,
/// zero-padded, at [`FeatureStream::finish`]. The result is the same.
pub struct FeatureStream {
    filters: Vec<Filter>,
    bass_bands: usize,
    /// The FFT bins between 55 Hz and 5 kHz and their pitch classes.
    chroma_of: Vec<(usize, usize)>,
    window: Vec<f32>,
    fft: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    buffer: Vec<f32>,
    spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
    mags: Vec<f32>,
    /// Samples not yet behind every future frame; `samples[0]` is sample
    /// `dropped` of the signal.
    samples: Vec<f32>,
    dropped: usize,
    next: usize,
    bands: Vec<f32>,
    energy: Vec<f32>,
    chroma: Vec<[f32; 12]>,
    low: Vec<f32>,
    /// The sum and count of the samples of the block not yet in `low`.
    block: (f32, usize),
}

impl std::fmt::Debug for FeatureStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureStream")
            .field("samples", &(self.dropped + self.samples.len()))
            .field("frames", &self.next)
            .finish_non_exhaustive()
    }
}

impl Default for FeatureStream {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureStream {
    /// An empty stream.
    pub fn new() -> Self {
        let n_bins = FFT_SIZE / 2 + 1;
        let filters = log_filterbank(30.0, 11_000.0, 12.0);
        let bin_hz = f64::from(SAMPLE_RATE) / FFT_SIZE as f64;
        let bass_bands = filters
            .iter()
            .take_while(|f| f.bins.iter().map(|b| b.0).max().unwrap_or(0) as f64 * bin_hz <= 250.0)
            .count()
            .max(1);
        let chroma_of = pitch_classes(FFT_SIZE, f64::from(SAMPLE_RATE), 55.0, 5000.0);
        let window = hann(FFT_SIZE);
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_SIZE);
        let scratch = vec![Complex32::new(0.0, 0.0); fft.get_scratch_len()];
        Self {
            filters,
            bass_bands,
            chroma_of,
            window,
            fft,
            buffer: vec![0f32; FFT_SIZE],
            spectrum: vec![Complex32::new(0.0, 0.0); n_bins],
            scratch,
            mags: vec![0f32; n_bins],
            samples: Vec::new(),
            dropped: 0,
            next: 0,
            bands: Vec::new(),
            energy: Vec::new(),
            chroma: Vec::new(),
            low: Vec::new(),
            block: (0.0, 0),
        }
    }

    /// Adds the next samples and computes every frame they complete.
    pub fn push(&mut self, samples: &[f32]) {
        // Complete the open block, then whole blocks, then open the next.
        let fill = ((LOW_DECIMATION - self.block.1) % LOW_DECIMATION).min(samples.len());
        let (head, rest) = samples.split_at(fill);
        self.block.0 = head.iter().fold(self.block.0, |acc, &x| acc + x);
        self.block.1 += fill;
        if self.block.1 == LOW_DECIMATION {
            self.low.push(self.block.0);
            self.block = (0.0, 0);
        }
        let blocks = rest.chunks_exact(LOW_DECIMATION);
        let tail = blocks.remainder();
        self.low.extend(blocks.map(|b| b.iter().sum::<f32>()));
        self.block.0 += tail.iter().sum::<f32>();
        self.block.1 += tail.len();
        self.samples.extend_from_slice(samples);
        while self.next * HOP + FFT_SIZE / 2 <= self.dropped + self.samples.len() {
            self.frame();
        }
        // Forget what no frame will read again.
        let needed = (self.next * HOP).saturating_sub(FFT_SIZE / 2);
        if needed > self.dropped + (1 << 16) {
            self.samples.drain(..needed - self.dropped);
            self.dropped = needed;
        }
    }

    /// The features of everything pushed.
    pub fn finish(mut self) -> Features {
        let frames = (self.dropped + self.samples.len()).div_ceil(HOP);
        while self.next < frames {
            self.frame();
        }
        let band_count = self.filters.len();
        let (onset, bass_onset) = superflux(&self.bands, band_count, self.bass_bands);
        if self.block.1 > 0 {
            self.low.push(self.block.0);
        }
        Features {
            fps: f64::from(SAMPLE_RATE) / HOP as f64,
            onset,
            bass_onset,
            energy: self.energy,
            chroma: self.chroma,
            bands: self.bands,
            band_count,
            band_hz: self.filters.iter().map(|f| f.hz).collect(),
            low: self.low,
        }
    }

    /// Computes frame `self.next`, centred on `next · HOP`, zero-padded
    /// past the samples pushed.
    fn frame(&mut self) {
        let samples = &self.samples;
        // Where the frame starts in `samples` (negative before the signal).
        let start = (self.next * HOP) as isize - (FFT_SIZE / 2) as isize - self.dropped as isize;
        let inside = usize::try_from(start)
            .ok()
            .and_then(|s| samples.get(s..s + FFT_SIZE));
        if let Some(part) = inside {
            for ((slot, &x), &w) in self.buffer.iter_mut().zip(part).zip(&self.window) {
                *slot = x * w;
            }
        } else {
            for (i, slot) in self.buffer.iter_mut().enumerate() {
                let idx = start + i as isize;
                let x = usize::try_from(idx)
                    .ok()
                    .and_then(|i| samples.get(i))
                    .copied()
                    .unwrap_or(0.0);
                *slot = x * self.window[i];
            }
        }
        // Sizes are fixed in `new`, so the transform cannot fail.
        let _ =
            self.fft
                .process_with_scratch(&mut self.buffer, &mut self.spectrum, &mut self.scratch);
        for (m, c) in self.mags.iter_mut().zip(self.spectrum.iter()) {
            *m = (c.re * c.re + c.im * c.im).sqrt();
        }
        let mut sum = 0f32;
        for filter in &self.filters {
            let v: f32 = filter.bins.iter().map(|&(b, w)| self.mags[b] * w).sum();
            let value = (1.0 + v).ln();
            self.bands.push(value);
            sum += value;
        }
        self.energy.push(sum / self.filters.len().max(1) as f32);
        let mut c = [0f32; 12];
        for &(b, pc) in &self.chroma_of {
            c[pc] += self.mags[b] * self.mags[b];
        }
        self.chroma.push(c);
        self.next += 1;
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
        for k in 0..count {
            let d = band_rise(prev, cur, k);
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

/// SuperFlux's rise of band `k` from frame `prev` to frame `cur`.
fn band_rise(prev: &[f32], cur: &[f32], k: usize) -> f32 {
    let lo = k.saturating_sub(1);
    let hi = (k + 1).min(cur.len() - 1);
    let reference = prev[lo..=hi].iter().copied().fold(f32::MIN, f32::max);
    (cur[k] - reference).max(0.0)
}

impl Features {
    /// The SuperFlux onset envelope of the log bands whose centres lie in
    /// `lo..hi` Hz (one register: kick, snare, cymbals).
    pub fn band_onset(&self, lo: f32, hi: f32) -> Vec<f32> {
        let count = self.band_count.max(1);
        let bands: Vec<usize> = (0..self.band_count)
            .filter(|&k| self.band_hz.get(k).is_some_and(|f| (lo..hi).contains(f)))
            .collect();
        let rows: Vec<&[f32]> = self.bands.chunks_exact(count).collect();
        std::iter::once(0.0)
            .chain(
                rows.windows(2)
                    .map(|w| bands.iter().map(|&k| band_rise(w[0], w[1], k)).sum()),
            )
            .take(rows.len())
            .collect()
    }
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
    fn features_streamed_in_pieces_equal_features_of_the_whole() {
        // Long enough that the stream forgets samples on the way.
        let x = clicks(97.0, 10.0);
        let whole = features(&x);
        let mut stream = FeatureStream::new();
        for piece in x.chunks(1000) {
            stream.push(piece);
        }
        assert_eq!(stream.finish(), whole);
    }

    #[test]
    fn a_low_burst_rises_in_the_low_register_only() {
        // Half a second of silence, then a 60 Hz tone faded in over 30 ms
        // (a hard start would be a click, which rises in every band).
        let n = SAMPLE_RATE as usize;
        let fade = 0.03 * SAMPLE_RATE as f32;
        let x: Vec<f32> = (0..n)
            .map(|i| {
                let since = i as f32 - (n / 2) as f32;
                let gain = if since < 0.0 {
                    0.0
                } else {
                    0.5 - 0.5 * (std::f32::consts::PI * (since / fade).min(1.0)).cos()
                };
                gain * (2.0 * std::f32::consts::PI * 60.0 * i as f32 / SAMPLE_RATE as f32).sin()
            })
            .collect();
        let f = features(&x);
        let (low, high) = (
            f.band_onset(0.0, 150.0),
            f.band_onset(3000.0, f32::INFINITY),
        );
        assert_eq!(low.len(), f.onset.len());
        // Up to 0.9 s: where the signal stops, the cut is a click.
        let end = (0.9 * f.fps) as usize;
        let peak = |v: &[f32]| v[..end].iter().copied().fold(0f32, f32::max);
        assert!(peak(&low) > 1.0, "low register: {}", peak(&low));
        assert!(
            peak(&high) < 0.1 * peak(&low),
            "high register: {}",
            peak(&high)
        );
        // The whole range is the onset envelope.
        let all = f.band_onset(0.0, f32::INFINITY);
        for (a, b) in all.iter().zip(&f.onset) {
            assert!((a - b).abs() < 1e-3 * b.max(1.0));
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
