//! `iprod`: run any capability on local files, exactly as the Lambda
//! functions do, and benchmark capabilities against peer tools.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use iprod::adapters::fs::FsObjectStore;
use iprod::adapters::records::ObjectJobStore;
use iprod::adapters::stdout::ConsoleNotifier;
use iprod::capabilities::{self, Progress};
use iprod::domain::{FunctionName, Job, JobId, JobState, MediaLocation, OutputTemplate};
use iprod::pipeline::{Pipeline, PipelineSettings, RunOptions};

/// Serverless intelligent production for video and audio, on your machine.
///
/// `iprod run` runs one job with the same pipeline as the Lambda
/// functions, reading and writing local files instead of S3. The result
/// JSON (the job record) goes to stdout; logs and progress go to stderr.
#[derive(Debug, Parser)]
#[command(name = "iprod", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a capability on a local file.
    ///
    /// Example: iprod run Cover clip.mp4 --params '{"Count":3}' --out out/
    Run {
        /// Capability, e.g. Cover.
        function: String,
        /// Input media file.
        input: PathBuf,
        /// JobParams as a JSON object, e.g. '{"Count":3,"Format":"png"}'.
        #[arg(long, short, default_value = "{}")]
        params: String,
        /// Folder for the outputs and the result JSON.
        #[arg(long, short, default_value = "out")]
        out: PathBuf,
        /// Also print the notification a deployed function would send (stderr).
        #[arg(long)]
        notify: bool,
    },
    /// Measure quality and speed against peer tools, in the same run.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Cover vs `ffmpeg -vf thumbnail`: wall time on each video of DIR (and
    /// on generated clips with injected black, blurred and frozen frames),
    /// and whether any injected bad frame was picked.
    Cover {
        /// Folders or files of videos (e.g. an eval set). Generated clips
        /// are always included.
        paths: Vec<PathBuf>,
        /// Covers per video.
        #[arg(long, default_value_t = 3)]
        count: u32,
        /// Timed runs per tool and file (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn update(&self, fraction: f64) {
        self.0
            .set_position((fraction.clamp(0.0, 1.0) * 1000.0) as u64);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    iprod::telemetry::init(false, "warn");
    match cli.command {
        Command::Run {
            function,
            input,
            params,
            out,
            notify,
        } => run(&function, input, &params, out, notify).await,
        Command::Bench {
            what: Bench::Cover { paths, count, runs },
        } => match iprod::bench::cover::run(&paths, count, runs) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn run(function: &str, input: PathBuf, params: &str, out: PathBuf, notify: bool) -> ExitCode {
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    let function: FunctionName = match function.parse() {
        Ok(f) => f,
        Err(e) => return fail(e.message),
    };
    let capability = match capabilities::for_function(function) {
        Ok(c) => c,
        Err(e) => return fail(e.message),
    };
    let params: serde_json::Value = match serde_json::from_str(params) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => return fail("--params must be a JSON object".into()),
        Err(e) => return fail(format!("--params is not JSON: {e}")),
    };
    let out = std::path::absolute(&out).unwrap_or(out);
    let input = std::path::absolute(&input).unwrap_or(input);
    let output = match OutputTemplate::parse(&format!("{}/", out.display())) {
        Ok(t) => t,
        Err(e) => return fail(e.message),
    };
    let pipeline = Pipeline {
        objects: FsObjectStore,
        jobs: ObjectJobStore::new(
            FsObjectStore,
            MediaLocation::Local(out.join(".iprod").join("jobs")),
        ),
        notifier: ConsoleNotifier { enabled: notify },
        settings: PipelineSettings::default(),
    };
    let job = Job {
        id: JobId::random(),
        function,
        input: MediaLocation::Local(input),
        output,
        params,
        user_data: None,
        create_time: chrono::Utc::now(),
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {percent}% {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(function.to_string());
        bar
    } else {
        ProgressBar::hidden()
    };
    let options = RunOptions {
        progress: Arc::new(Bar(bar.clone())),
        ..RunOptions::default()
    };
    let record = pipeline.run(capability, job, options).await;
    bar.finish_and_clear();
    match record {
        Ok(record) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&record).unwrap_or_default()
            );
            if record.state == JobState::Success {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(e.to_string()),
    }
}
