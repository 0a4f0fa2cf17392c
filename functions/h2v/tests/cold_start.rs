//! The real `h2v` binary refuses to start without its models
//! and says which file is missing.

use std::process::Command;

#[test]
fn a_cold_start_without_the_models_fails_and_names_the_missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_h2v"))
        .env("IPROD_MODELS", dir.path())
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&dir.path().display().to_string()) && stderr.contains("fetch-models"),
        "{stderr}"
    );
}
