//! ONNX Runtime, loaded dynamically from a library file (the one shipped
//! in the PyPI `onnxruntime` wheel) so that nothing links it at build time
//! and a missing library is an error at cold start, not a crash.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why the runtime could not be made ready.
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
}

static LOADED: OnceLock<Result<PathBuf, InferenceError>> = OnceLock::new();

/// Loads ONNX Runtime from `library` once per process; later calls return
/// the first outcome.
///
/// # Errors
/// [`InferenceError::Library`] naming the path when it cannot be loaded.
pub fn load_runtime(library: &Path) -> Result<&'static Path, InferenceError> {
    let outcome = LOADED.get_or_init(|| {
        if !library.is_file() {
            return Err(InferenceError::Library {
                path: library.to_owned(),
                detail: "no such file".into(),
            });
        }
        ort::init_from(library)
            .map(|_| library.to_owned())
            .map_err(|e| InferenceError::Library {
                path: library.to_owned(),
                detail: e.to_string(),
            })
    });
    match outcome {
        Ok(path) => Ok(path.as_path()),
        Err(e) => Err(e.clone()),
    }
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
}
