//! Music DSP in pure Rust shared by the music capabilities: spectrograms,
//! onset envelopes, chroma. Works on mono `f32` samples; knows nothing of
//! files. Beat tracking lives in `capabilities::beat_detection`, song
//! structure in `capabilities::music_segment`.

pub mod features;

/// Analysis sample rate: audio is decoded to this before any DSP.
pub const SAMPLE_RATE: u32 = 22_050;
/// FFT size (46 ms at 22.05 kHz).
pub const FFT_SIZE: usize = 1024;
/// Hop between frames (11.6 ms at 22.05 kHz: 86.13 frames a second).
pub const HOP: usize = 256;

/// `values` less their mean, over their standard deviation (population;
/// never divided by less than 1e-9, so a constant gives zeros).
pub fn zscore(values: &[f64]) -> Vec<f64> {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-9);
    values.iter().map(|v| (v - mean) / sd).collect()
}

/// Frames per second of every envelope at the analysis settings.
pub fn frame_rate() -> f64 {
    f64::from(SAMPLE_RATE) / HOP as f64
}
