//! `iprod bench hostile`: the peak memory of every function on every media
//! case of the hostile corpus, each run in its own process (`iprod run
//! --peak-memory`, the kernel's high-water mark of its resident set),
//! against the memory the function is given in Lambda.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;
use iprod::capabilities;
use iprod::domain::FunctionName;

/// Lambda's memory when a function's Cargo.toml names none (the template's
/// Globals).
const DEFAULT_MEMORY_MB: u64 = 3008;

/// Runs the bench; an error when a case ends with another Code than the
/// corpus names or over its function's memory.
///
/// # Errors
/// When the corpus cannot be made or read, or a run goes wrong.
pub fn run(corpus: &Path, functions_dir: &Path) -> anyhow::Result<()> {
    if !corpus.join("cases.json").exists() {
        let status = Command::new("python3")
            .arg("scripts/hostile-corpus")
            .arg(corpus)
            .status()
            .context("running scripts/hostile-corpus (run from the repository root)")?;
        anyhow::ensure!(status.success(), "scripts/hostile-corpus failed");
    }
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(corpus.join("cases.json"))?)?;
    let memory = memory_by_function(functions_dir);
    let exe = std::env::current_exe()?;
    let out = tempfile::tempdir()?;
    let mut problems = Vec::new();
    say!(
        "{:<26} {:<26} {:<18} {:>8} {:>8}",
        "function",
        "case",
        "code",
        "peak MB",
        "limit MB"
    );
    for function in FunctionName::ALL {
        if capabilities::for_function(function).is_err() {
            continue;
        }
        let limit = memory
            .get(function.as_str())
            .copied()
            .unwrap_or(DEFAULT_MEMORY_MB);
        let mut worst: (u64, String) = (0, String::new());
        // Local runs read any file and take params as an object only: the
        // cases about scope and message shape belong to the handler test.
        let local = |c: &&serde_json::Value| {
            c["kind"] == "media"
                && (c["params"].is_null() || c["params"].is_object())
                && c["expect"] != "AccessDenied"
        };
        for case in cases.iter().filter(local) {
            if let Some(only) = case["only"].as_array() {
                if !only.iter().any(|f| f == function.as_str()) {
                    continue;
                }
            }
            let name = case["name"].as_str().unwrap_or_default();
            let file = corpus
                .join("media")
                .join(case["file"].as_str().unwrap_or_default());
            let params = if case["params"].is_null() {
                "{}".to_owned()
            } else {
                case["params"].to_string()
            };
            let (code, peak_kb) = measure(&exe, function, &file, &params, out.path())?;
            let peak_mb = peak_kb.div_ceil(1024);
            let want = iprod::bench::hostile_expected(case, function);
            say!(
                "{:<26} {:<26} {:<18} {:>8} {:>8}",
                function.as_str(),
                name,
                code,
                peak_mb,
                limit
            );
            if code != want {
                problems.push(format!("{function}/{name}: {code}, expected {want}"));
            }
            if peak_mb >= limit {
                problems.push(format!("{function}/{name}: {peak_mb} MB of {limit} MB"));
            }
            if peak_mb > worst.0 {
                worst = (peak_mb, name.to_owned());
            }
        }
        say!(
            "{:<26} peak {} MB ({}), {:.0} % of its {} MB",
            function.as_str(),
            worst.0,
            worst.1,
            worst.0 as f64 * 100.0 / limit as f64,
            limit
        );
    }
    if problems.is_empty() {
        say!("every case ended with its code, under its function's memory");
        Ok(())
    } else {
        anyhow::bail!("{}", problems.join("\n"))
    }
}

/// Runs one job in a child `iprod run`; returns its Code and peak RSS (KB).
fn measure(
    exe: &Path,
    function: FunctionName,
    file: &Path,
    params: &str,
    out: &Path,
) -> anyhow::Result<(String, u64)> {
    let (record, peak_kb) = measure_run(exe, function, file, params, out, &[])?;
    let code = record["Code"].as_str().unwrap_or("(no record)").to_owned();
    Ok((code, peak_kb))
}

/// Runs `iprod run` as a child process (with `extra` arguments): its job
/// record and its peak resident memory, KB.
///
/// # Errors
/// When the child cannot run or prints no peak memory.
pub fn measure_run(
    exe: &Path,
    function: FunctionName,
    file: &Path,
    params: &str,
    out: &Path,
    extra: &[String],
) -> anyhow::Result<(serde_json::Value, u64)> {
    let output = Command::new(exe)
        .arg("run")
        .arg(function.as_str())
        .arg(file)
        .args(["--peak-memory", "--params", params, "--out"])
        .arg(out)
        .args(extra)
        .stdin(Stdio::null())
        .output()?;
    let record: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak_kb = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
        .and_then(|v| v.trim().parse().ok())
        .context("the run printed no peak_rss_kb")?;
    Ok((record, peak_kb))
}

/// This process's peak resident set (`VmHWM`), KB.
pub fn peak_rss_kb() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// FunctionName → `memory-mb` from `functions/*/Cargo.toml`.
fn memory_by_function(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let manifest: PathBuf = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .and_then(|rest| rest.trim_start().strip_prefix('='))
                .map(|v| v.trim().to_owned())
        };
        let memory = value("memory-mb")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MEMORY_MB);
        if let Some(names) = value("function-names") {
            for name in names.trim_matches(|c| c == '[' || c == ']').split(',') {
                out.insert(name.trim().trim_matches('"').to_owned(), memory);
            }
        }
    }
    out
}
