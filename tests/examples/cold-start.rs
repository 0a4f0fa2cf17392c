//! Measures function binaries the way Lambda starts them: each is run
//! against the runtime API emulator with a complete configuration, and its
//! cold start is the time from process start to its first request for an
//! invocation. Also prints each binary's size and how many shared
//! libraries it loads (`ldd`).
//!
//! ```sh
//! cargo run -p iprod-tests --example cold-start -- [--runs N] BINARY...
//! ```
//! Runs alternate between the binaries; the median is reported.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iprod_tests::runtime_api::RuntimeApi;

fn shared_libraries(binary: &PathBuf) -> anyhow::Result<usize> {
    let out = Command::new("ldd").arg(binary).output()?;
    anyhow::ensure!(out.status.success(), "ldd {} failed", binary.display());
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("=>") || l.trim_start().starts_with('/'))
        .count())
}

async fn cold_start(binary: &PathBuf) -> anyhow::Result<Duration> {
    let api = RuntimeApi::start(Vec::new()).await?;
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("IPROD_STATE_BUCKET", "state")
        .env(
            "IPROD_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:events",
        )
        .env("IPROD_OUTPUT", "s3://out/{source}/")
        .env("IPROD_INPUT_BUCKET", "in")
        .env("IPROD_INPUT_PREFIX", format!("input/{name}/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let polled = api.first_poll(Duration::from_secs(30)).await;
    let _ = child.kill();
    let _ = child.wait();
    match polled {
        Some(at) => Ok(at.duration_since(started)),
        None => anyhow::bail!("{} never asked for an invocation", binary.display()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let mut runs = 15usize;
    let mut binaries = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs);
        } else {
            binaries.push(PathBuf::from(arg));
        }
    }
    anyhow::ensure!(
        !binaries.is_empty(),
        "usage: cold-start [--runs N] BINARY..."
    );
    let mut times = vec![Vec::new(); binaries.len()];
    for _ in 0..runs {
        for (binary, t) in binaries.iter().zip(times.iter_mut()) {
            t.push(cold_start(binary).await?.as_secs_f64() * 1000.0);
        }
    }
    println!("binary\tbytes\tshared_libs\tcold_start_ms_median\tmin\tmax");
    for (binary, mut t) in binaries.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        println!(
            "{}\t{}\t{}\t{:.1}\t{:.1}\t{:.1}",
            binary.display(),
            std::fs::metadata(binary)?.len(),
            shared_libraries(binary)?,
            t[t.len() / 2],
            t[0],
            t[t.len() - 1]
        );
    }
    Ok(())
}
