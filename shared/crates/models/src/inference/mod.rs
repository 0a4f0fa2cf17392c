//! ONNX Runtime, loaded dynamically from a library file (the one shipped
//! in the PyPI `onnxruntime` wheel) so that nothing links it at build time
//! and a missing library is an error at cold start, not a crash; and the
//! model folder that `scripts/fetch-models` fills from the manifest.

pub mod manifest;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

pub use manifest::{manifest, Manifest, ModelSpec};
use ort::environment::Environment;
use ort::session::Session;

/// Why the runtime or a model could not be made ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InferenceError {
    /// The shared library is missing, unreadable or of an unusable version.
    #[error("cannot load ONNX Runtime from {path}: {detail}")]
    Library {
        /// The library path tried.
        path: PathBuf,
        /// What the loader said.
        detail: String,
    },
    /// A model file is missing, of the wrong size, or not a usable model.
    #[error("model {name} at {path}: {detail}")]
    Model {
        /// The manifest name.
        name: String,
        /// The file tried.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// Running a model failed.
    #[error("inference with {name} failed: {detail}")]
    Run {
        /// The manifest name.
        name: String,
        /// What ONNX Runtime said.
        detail: String,
    },
}

static LOADED: OnceLock<Result<Environment, InferenceError>> = OnceLock::new();

/// Loads ONNX Runtime from `library` once per process and returns its
/// environment; later calls return the first outcome.
///
/// # Errors
/// [`InferenceError::Library`] naming the path when it cannot be loaded.
pub fn load_runtime(library: &Path) -> Result<&'static Environment, InferenceError> {
    let outcome = LOADED.get_or_init(|| {
        if !library.is_file() {
            return Err(InferenceError::Library {
                path: library.to_owned(),
                detail: "no such file (run scripts/fetch-models)".into(),
            });
        }
        let err = |detail: String| InferenceError::Library {
            path: library.to_owned(),
            detail,
        };
        ort::init_from(library)
            .map_err(|e| err(e.to_string()))?
            .with_name("iprod")
            .build()
            .map_err(|e| err(e.to_string()))
    });
    match outcome {
        Ok(env) => Ok(env),
        Err(e) => Err(e.clone()),
    }
}

/// The folder holding the runtime library and the model files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    dir: PathBuf,
}

impl ModelDir {
    /// A model folder at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `IPROD_MODELS`, else `$XDG_CACHE_HOME/iprod/models`, else
    /// `~/.cache/iprod/models` (where `scripts/fetch-models` puts them).
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`ModelDir::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        if let Some(dir) = get("IPROD_MODELS") {
            return Self::new(dir);
        }
        let cache = get("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| get("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        Self::new(cache.join("iprod").join("models"))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Loads ONNX Runtime from this folder (once per process).
    ///
    /// # Errors
    /// [`InferenceError::Library`] naming the path.
    pub fn load_runtime(&self) -> Result<&'static Environment, InferenceError> {
        load_runtime(&self.dir.join(&manifest().runtime.file))
    }

    /// The checked file of model `name`: present with the manifest's size.
    ///
    /// # Errors
    /// [`InferenceError::Model`] naming the model and the path.
    pub fn model_file(&self, name: &str) -> Result<(PathBuf, &'static ModelSpec), InferenceError> {
        let Some(spec) = manifest().model(name) else {
            return Err(InferenceError::Model {
                name: name.to_owned(),
                path: self.dir.clone(),
                detail: "not in the manifest".into(),
            });
        };
        let path = self.dir.join(&spec.file);
        let err = |detail: String| InferenceError::Model {
            name: name.to_owned(),
            path: path.clone(),
            detail,
        };
        let meta =
            std::fs::metadata(&path).map_err(|e| err(format!("{e} (run scripts/fetch-models)")))?;
        if meta.len() != spec.bytes {
            return Err(err(format!(
                "{} bytes, expected {} (run scripts/fetch-models)",
                meta.len(),
                spec.bytes
            )));
        }
        Ok((path, spec))
    }

    /// Loads the runtime and opens model `name` as a session using
    /// `threads` threads for one inference.
    ///
    /// # Errors
    /// [`InferenceError`] naming the library or model.
    pub fn session(&self, name: &str, threads: usize) -> Result<Model, InferenceError> {
        let env = self.load_runtime()?;
        let (path, spec) = self.model_file(name)?;
        let err = |detail: String| InferenceError::Model {
            name: name.to_owned(),
            path: path.clone(),
            detail,
        };
        let session = Session::builder(env)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| err(e.to_string()))?
            // Idle inference threads sleep instead of spinning: between runs
            // the cores go to the decoder and the encoder working beside
            // them (spinning made reframing a quarter slower).
            .with_intra_op_spinning(false)
            .map_err(|e| err(e.to_string()))?
            .commit_from_file(&path)
            .map_err(|e| err(e.to_string()))?;
        let inputs: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_owned())
            .collect();
        let outputs: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_owned())
            .collect();
        if (!spec.inputs.is_empty() && inputs != spec.inputs)
            || (!spec.outputs.is_empty() && outputs != spec.outputs)
        {
            return Err(err(format!(
                "inputs {inputs:?} and outputs {outputs:?}; the manifest says {:?} and {:?}",
                spec.inputs, spec.outputs
            )));
        }
        // Inputs after the first with a fixed shape (recurrent states) start
        // at zero on every run.
        let states: Vec<(String, Vec<i64>)> = session
            .inputs()
            .iter()
            .skip(1)
            .filter_map(|i| {
                let shape: Vec<i64> = i.dtype().tensor_shape()?.iter().copied().collect();
                shape
                    .iter()
                    .all(|&d| d > 0)
                    .then(|| (i.name().to_owned(), shape))
            })
            .collect();
        let metadata = session
            .metadata()
            .ok()
            .and_then(|m| {
                m.custom_keys().ok().map(|keys| {
                    keys.into_iter()
                        .filter_map(|k| m.custom(&k).map(|v| (k, v)))
                        .collect::<Vec<_>>()
                })
            })
            .unwrap_or_default();
        Ok(Model {
            name: name.to_owned(),
            session: Mutex::new(session),
            metadata,
            states,
        })
    }
}

/// One output of a run: its shape and values.
pub type Output = (Vec<usize>, Vec<f32>);

/// One opened model. Runs are serialised (a session runs one inference at a
/// time; each run uses the session's thread pool).
#[derive(Debug)]
pub struct Model {
    name: String,
    session: Mutex<Session>,
    metadata: Vec<(String, String)>,
    /// Further inputs fed with zeros: name and shape.
    states: Vec<(String, Vec<i64>)>,
}

impl Model {
    /// Its manifest name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A custom metadata value of the model file.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Runs the model on one `f32` tensor of `shape` and returns the first
    /// output's shape and values.
    ///
    /// # Errors
    /// [`InferenceError::Run`].
    pub fn run_f32(
        &self,
        shape: &[usize],
        data: &[f32],
    ) -> Result<(Vec<usize>, Vec<f32>), InferenceError> {
        self.run_f32_outputs(shape, data, 1)
            .map(|mut all| all.swap_remove(0))
    }

    /// Runs the model on one `f32` tensor of `shape` (its first input; any
    /// further inputs, the initial states of a recurrent network, are
    /// zeros) and returns the shapes and values of its first `count`
    /// outputs.
    ///
    /// # Errors
    /// [`InferenceError::Run`], also when the model has fewer outputs.
    pub fn run_f32_outputs(
        &self,
        shape: &[usize],
        data: &[f32],
        count: usize,
    ) -> Result<Vec<Output>, InferenceError> {
        let err = |e: &dyn std::fmt::Display| InferenceError::Run {
            name: self.name.clone(),
            detail: e.to_string(),
        };
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        // A view of the caller's data: no copy before the run.
        let tensor = ort::value::TensorRef::from_array_view((dims, data)).map_err(|e| err(&e))?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| err(&"a previous run panicked"))?;
        let outputs = if self.states.is_empty() {
            session.run(ort::inputs![tensor])
        } else {
            let first = session.inputs()[0].name().to_owned();
            let mut feed: Vec<(String, ort::session::SessionInputValue<'_>)> =
                vec![(first, tensor.into())];
            for (name, shape) in &self.states {
                let zeros = vec![0f32; shape.iter().product::<i64>() as usize];
                let state =
                    ort::value::Tensor::from_array((shape.clone(), zeros)).map_err(|e| err(&e))?;
                feed.push((name.clone(), state.into()));
            }
            session.run(feed)
        }
        .map_err(|e| err(&e))?;
        if outputs.len() < count.max(1) {
            return Err(err(&format!("{} outputs, {count} wanted", outputs.len())));
        }
        (0..count.max(1))
            .map(|i| {
                let (shape, values) = outputs[i]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| err(&e))?;
                Ok((
                    shape.iter().map(|&d| d.max(0) as usize).collect(),
                    values.to_vec(),
                ))
            })
            .collect()
    }
}

/// Threads to give one inference: the CPUs this process may use.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_the_library_is_an_error_that_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("libonnxruntime.so.1.32.0");
        std::fs::write(&fake, b"not a shared library").expect("write");
        let err = load_runtime(&fake).expect_err("not a library");
        assert!(
            err.to_string().contains("libonnxruntime.so.1.32.0"),
            "{err}"
        );
        // The outcome is kept: a second call does not retry.
        assert!(load_runtime(Path::new("/elsewhere")).is_err());
    }

    #[test]
    fn the_model_folder_comes_from_iprod_models_then_the_user_cache() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            ModelDir::from_lookup(env(&[("IPROD_MODELS", "/opt/m"), ("HOME", "/h")])).path(),
            Path::new("/opt/m")
        );
        assert_eq!(
            ModelDir::from_lookup(env(&[("HOME", "/h")])).path(),
            Path::new("/h/.cache/iprod/models")
        );
        assert_eq!(
            ModelDir::from_lookup(env(&[("XDG_CACHE_HOME", "/c"), ("HOME", "/h")])).path(),
            Path::new("/c/iprod/models")
        );
    }

    #[test]
    fn a_missing_or_truncated_model_file_is_named_with_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let models = ModelDir::new(dir.path());
        let err = models
            .model_file("ppocr-v6-det-small")
            .expect_err("missing");
        let text = err.to_string();
        assert!(
            text.contains("ppocr-v6-det-small") && text.contains("fetch-models"),
            "{text}"
        );
        std::fs::write(dir.path().join("PP-OCRv6_det_small.onnx"), b"short").expect("write");
        let err = models
            .model_file("ppocr-v6-det-small")
            .expect_err("truncated");
        assert!(err.to_string().contains("5 bytes"), "{err}");
        assert!(models.model_file("unknown").is_err());
    }
}
