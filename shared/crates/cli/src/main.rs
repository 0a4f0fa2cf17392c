//! `iprod`: run any capability on local files, exactly as the Lambda
//! functions do, and benchmark capabilities against peer tools.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `println!` that does not panic when stdout is closed (`iprod run … |
/// head`): what cannot be written is dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod hostile;
mod segments;
mod serve;
mod store;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use iprod::adapters::aws;
use iprod::adapters::dynamodb::DynamoJobStore;
use iprod::adapters::fs::FsObjectStore;
use iprod::adapters::records::ObjectJobStore;
use iprod::adapters::s3::S3ObjectStore;
use iprod::adapters::sqs::SqsSubmitter;
use iprod::adapters::stdout::ConsoleNotifier;
use iprod::capabilities::{self, Progress};
use iprod::domain::{
    ErrorCode, FunctionName, Job, JobCode, JobId, JobState, MediaLocation, OutputTemplate,
};
use iprod::pipeline::{Pipeline, PipelineSettings, RunOptions};
use iprod::ports::JobStore;
use iprod::split::Segments;

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
    #[command(
        after_help = "What each function does: iprod functions. The JobParams keys of one: iprod params <FUNCTION>."
    )]
    Run {
        /// Capability (any case).
        #[arg(value_parser = function_names(), ignore_case = true)]
        function: String,
        /// Input media: a file, or an `s3://bucket/key` object (AWS
        /// credentials, region and `AWS_ENDPOINT_URL` from the environment).
        input: String,
        /// JobParams as a JSON object, e.g. '{"Count":3,"Format":"png"}'.
        #[arg(long, short, default_value = "{}")]
        params: String,
        /// Folder for the outputs and the result JSON; each job writes
        /// under `<out>/<source>/<FunctionName>/`.
        #[arg(long, short, default_value = "out")]
        out: PathBuf,
        /// Also print the notification a deployed function would send (stderr).
        #[arg(long)]
        notify: bool,
        /// Print the process's peak resident memory when done (stderr,
        /// `peak_rss_kb=N`).
        #[arg(long)]
        peak_memory: bool,
        /// Cut a video into up to N segments on keyframes, run them on
        /// threads and join the results without re-encoding (the plan a
        /// deployed stack runs over many Lambdas). Functions whose work
        /// cannot be split run whole. Without it, a local video longer
        /// than IPROD_SPLIT_ABOVE_SECONDS (default 600) is split into two
        /// segments per core when the function splits; `--segments 1`
        /// runs it whole.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=4096))]
        segments: Option<u16>,
        /// Segments run at once (default: one per core).
        #[arg(long, value_name = "N", requires = "segments", value_parser = clap::value_parser!(u16).range(1..=256))]
        workers: Option<u16>,
    },
    /// List every FunctionName, what it does, and whether this build runs
    /// it (a function whose models are missing says which).
    Functions {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show what a function takes in JobParams: every key, its type and
    /// range, its default and meaning; the same description the function
    /// checks params against.
    ///
    /// Example: iprod params Cover; iprod params Cover --json (a JSON Schema)
    Params {
        /// Capability (any case); leave out with --schemas.
        #[arg(value_parser = function_names(), ignore_case = true, required_unless_present = "schemas")]
        function: Option<String>,
        /// Print the JSON Schema (draft 2020-12) instead of a table.
        #[arg(long)]
        json: bool,
        /// Write every available function's JSON Schema to
        /// `DIR/<FunctionName>.json` (the repository keeps them in `schemas/`).
        #[arg(long, value_name = "DIR", conflicts_with = "function")]
        schemas: Option<PathBuf>,
        /// With --schemas: check that DIR holds exactly the current
        /// schemas instead of writing them (exit 1 when not).
        #[arg(long, requires = "schemas")]
        check: bool,
    },
    /// Serve the HTTP API and the console on localhost, running jobs in this
    /// process: over a folder (no AWS; inputs are files under it, named by
    /// relative path; results go to `<root>/out/`), or over AWS resources
    /// with --job-table (AWS_ENDPOINT_URL for a compatible endpoint).
    ///
    /// Example: iprod serve --root media/ then
    /// curl -d '{"FunctionName":"Cover","Input":"clip.mp4"}' localhost:8080/jobs
    Serve {
        /// Port to listen on (0: any free port, printed at start).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on; the default takes connections from this
        /// machine only.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// The folder jobs read from and write to; nothing outside it is
        /// read or written.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Jobs run at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Over AWS (or `AWS_ENDPOINT_URL`) instead of a folder: the job
        /// table (with --input-bucket and --output-bucket).
        #[arg(long, requires_all = ["input_bucket", "output_bucket"])]
        job_table: Option<String>,
        /// With --job-table: the bucket inputs are read from.
        #[arg(long, requires = "job_table")]
        input_bucket: Option<String>,
        /// With --job-table: the bucket outputs are written to.
        #[arg(long, requires = "job_table")]
        output_bucket: Option<String>,
        /// With --job-table: the SNS topic for notifications.
        #[arg(long, requires = "job_table")]
        topic_arn: Option<String>,
    },
    /// Submit a job message to a deployed function's queue
    /// (`SubmitIProductionJob`): checks its FunctionName and JobParams as
    /// `run` does, records the job as Queuing and prints its record, with
    /// the JobId to query. AWS credentials, region and `AWS_ENDPOINT_URL`
    /// come from the environment.
    Submit {
        /// File with the job message (JSON), or `-` for stdin.
        message: PathBuf,
        /// The function's queue (stack output CoverQueueUrl).
        #[arg(long)]
        queue_url: String,
        /// The job table (stack output JobTable).
        #[arg(long)]
        job_table: String,
    },
    /// Print a job's record (`QueryIProductionJob`).
    Query {
        /// The JobId printed by `submit` or carried by a notification.
        job_id: String,
        /// The job table (stack output JobTable).
        #[arg(long)]
        job_table: String,
    },
    /// Measure quality and speed against peer tools, in the same run.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Long video in segments: a green-screen clip made with lavfi (not
    /// stored) keyed in one pass and in segments on 1, 2, 4 and 8 worker
    /// threads, each its own `iprod run`: wall time, speed-up over one pass,
    /// peak memory; every run must write the same frames.
    Segments {
        /// Minutes of video.
        #[arg(long, default_value_t = 120.0)]
        minutes: f64,
        /// Frame height (16:9).
        #[arg(long, default_value_t = 1080)]
        height: u32,
        /// Segments of the split runs.
        #[arg(long, default_value_t = 8)]
        segments: u16,
        /// Worker counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
        workers: Vec<u16>,
    },
    /// CaptionExtraction on videos with the `.srt` burned into them: CER,
    /// WER, cue timing (±0.25 s), missing and extra cues, and wall time
    /// against `ffmpeg -f null` decoding in the same run; then RapidOCR's
    /// Python pipeline (the peer) when `scripts/bench-captions` made its venv.
    #[command(alias = "captions")]
    CaptionExtraction {
        /// Folder of `<name>.mp4` + `<name>.srt`.
        dir: PathBuf,
        /// Frames examined per second.
        #[arg(long, default_value_t = 5.0)]
        fps: f64,
        /// Where the found subtitles are written.
        #[arg(long, default_value = "out/bench-captions")]
        out: PathBuf,
        /// Python with rapidocr (the peer); skipped when missing.
        #[arg(long, default_value = ".venv-bench/bin/python")]
        python: PathBuf,
        /// The peer script.
        #[arg(long, default_value = "scripts/bench/captions_peer.py")]
        script: PathBuf,
    },
    /// MusicSegmentDetect on songs with `<name>.chorus.lab` and
    /// `<name>.sections*.lab` annotations: chorus hit rate (start within
    /// 3 s, half overlap), song hit, precision, section boundary hit rates
    /// at 0.5 s and 3 s, and wall time; then pychorus on the same songs.
    #[command(alias = "chorus")]
    MusicSegment {
        /// Folder of annotations (and audio, unless --audio says where).
        dir: PathBuf,
        /// Folder with the audio files, when not beside the annotations.
        #[arg(long)]
        audio: Option<PathBuf>,
        /// Keep each song's result (`<name>.json`) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Ids of the songs (named `<group>_<id>` or `<id>`) the constants
        /// were chosen on: means are also given for them and for the rest.
        #[arg(long)]
        tuned: Option<String>,
        /// Python with pychorus and librosa (the peers); skipped when missing.
        #[arg(long, default_value = ".venv-bench/bin/python")]
        python: PathBuf,
        /// The peer script.
        #[arg(long, default_value = "scripts/bench/chorus_peer.py")]
        script: PathBuf,
    },
    /// AudioBeatDetection vs librosa (or, with `--model madmom`, vs madmom)
    /// on audio with `<name>.beats` annotations: F-measure, CMLt, AMLt
    /// (mir_eval), downbeat F, and wall time of both in the same run. Needs
    /// `scripts/bench-music`'s venv.
    #[command(alias = "beats")]
    BeatDetection {
        /// Folder of audio files and their `.beats` files.
        dir: PathBuf,
        /// `default`, or `madmom` (the opt-in networks, against madmom).
        #[arg(long, default_value = "default")]
        model: String,
        /// Cut every file into excerpts of this many seconds (e.g. 30, as
        /// GTZAN's clips) and analyse each on its own.
        #[arg(long)]
        excerpt: Option<f64>,
        /// Keep our beats (`<name>.beats`) and timings here; `.beats` files
        /// already there are removed first.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Python with librosa and mir_eval.
        #[arg(long, default_value = ".venv-bench/bin/python")]
        python: PathBuf,
        /// Python with madmom: madmom joins the same run as a second peer.
        #[arg(long)]
        madmom_python: Option<PathBuf>,
        /// Ids of the files (named `<group>_<id>`) the constants were chosen
        /// on, comma-separated: means are printed for them and the rest.
        #[arg(long)]
        tuned: Option<String>,
        /// The peer script.
        #[arg(long, default_value = "scripts/bench/beats_peer.py")]
        script: PathBuf,
    },
    /// Green-screen keying vs FFmpeg `chromakey`+`despill` (best of a
    /// sweep per file) on images/videos with `<name>.gt_alpha.png`: SAD,
    /// MSE, gradient error, and wall time producing the same VP9+alpha WebM.
    #[command(alias = "keying")]
    GreenScreen {
        /// Folder of `<name>.png` / `<name>.mp4` + `<name>.gt_alpha.png`.
        dir: PathBuf,
    },
    /// VideoDelogo on videos with a logo over known clean footage (DIR:
    /// `boxes.tsv`, the videos, `<prefix>_clean.mp4`, the logo PNGs; more
    /// are made from them): IoU of the box found, false logos, luma PSNR
    /// and SSIM in the box and over the frame against the clean video, and
    /// wall time, beside FFmpeg `delogo` and `removelogo` given the true
    /// box and mask.
    #[command(alias = "logo")]
    Delogo {
        /// Folder of `boxes.tsv`, videos, the clean video and logo PNGs.
        dir: PathBuf,
    },
    /// VideoDetext on captioned videos beside the same video without
    /// captions (DIR: `bbb_sintel_clean.mp4`, the captioned videos and
    /// their SRTs; more are made from them): luma PSNR and SSIM inside the
    /// true caption mask and over the band, characters still read,
    /// flicker, and wall time against FFmpeg's decode, beside OpenCV Telea
    /// and FFmpeg `delogo` given the true mask.
    #[command(alias = "captions-removal")]
    Detext {
        /// Folder of the clean video, captioned videos and SRTs.
        dir: PathBuf,
        /// Where the made videos and outputs are written.
        #[arg(long, default_value = "out/bench-detext")]
        out: PathBuf,
        /// Python with OpenCV, for the Telea peer.
        #[arg(long, default_value = ".venv-bench-cv/bin/python")]
        python: PathBuf,
        /// The Telea peer script.
        #[arg(long, default_value = "scripts/bench/telea_peer.py")]
        script: PathBuf,
        /// Only these videos (by name, comma-separated: bbb_sintel,
        /// bbb_vse, serif_yellow_shadow, top_wqy, sintel_480p,
        /// title_card, title_plain).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// VideoMatting/ImageMatting against true alpha, beside rembg's
    /// U²-Net-p and MediaPipe's selfie segmentation (general, landscape):
    /// SAD, MSE, gradient and connectivity error on DIR's pictures
    /// (<name>/image.png, <name>/alpha.png), and the same with dtSSD and
    /// wall time (against FFmpeg's VP9-with-alpha encode) on videos made
    /// here. `scripts/bench-matting` makes the peers' venv.
    Matting {
        /// Folder of <name>/image.png and <name>/alpha.png pairs.
        dir: PathBuf,
        /// Where the made videos and the alphas are written.
        #[arg(long, default_value = "out/bench-matting")]
        out: PathBuf,
        /// Python with rembg and MediaPipe (scripts/bench-matting).
        #[arg(long, default_value = ".venv-bench-matting/bin/python")]
        python: PathBuf,
        /// The peers' script.
        #[arg(long, default_value = "scripts/bench/matting_peer.py")]
        script: PathBuf,
        /// A video whose first frame is the made clips' background
        /// (default: the coffee photograph).
        #[arg(long)]
        background: Option<PathBuf>,
    },
    /// VideoH2V to 9:16 on composites with a known subject path (and the
    /// videos of DIR): frames with the subject wholly inside the window
    /// (ours and a static centre crop), path jerk, and wall time against
    /// FFmpeg's static centre crop+scale with the same encoder settings.
    H2v {
        /// Folder of extra videos (no subject truth: jerk and time only).
        dir: Option<PathBuf>,
        /// A video under the subjects without a face: its 10 s from
        /// `--footage-from` (default: a pan across the coffee photograph).
        #[arg(long)]
        footage: Option<PathBuf>,
        /// Where the footage starts, in seconds.
        #[arg(long, default_value_t = 0.0)]
        footage_from: f64,
        /// Where the composites and outputs are written.
        #[arg(long, default_value = "out/bench-h2v")]
        out: PathBuf,
        /// Runs of ours and of FFmpeg per clip, alternating; the median
        /// time of each is reported (one slow run on a shared machine
        /// does not decide the ratio).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Peak memory of every function on every media case of the hostile
    /// corpus (`scripts/hostile-corpus`), each job in its own process,
    /// against the function's Lambda memory; fails on a wrong Code or a
    /// case over the limit.
    Hostile {
        /// The corpus (made here when it has no cases.json).
        #[arg(long, default_value = "out/hostile-corpus")]
        corpus: PathBuf,
        /// The function crates, for their memory.
        #[arg(long, default_value = "functions")]
        functions: PathBuf,
    },
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
    // The SDK's own warnings (a region looked for on EC2 metadata, a
    // missing config file) are noise here: a failure is said in one line.
    iprod::telemetry::init(
        false,
        "warn,aws_config=error,aws_runtime=error,aws_smithy_runtime=error",
    );
    match cli.command {
        Command::Run {
            function,
            input,
            params,
            out,
            notify,
            peak_memory,
            segments,
            workers,
        } => {
            let segments = segments.map(|parts| Segments {
                parts: usize::from(parts),
                workers: workers.map_or_else(
                    || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                    usize::from,
                ),
                segmenter: Arc::new(iprod::media::join::FfmpegSegmenter),
            });
            let code = run(&function, input, &params, out, notify, segments).await;
            if peak_memory {
                eprintln!("peak_rss_kb={}", hostile::peak_rss_kb().unwrap_or(0));
            }
            code
        }
        Command::Functions { json } => functions(json),
        Command::Serve {
            port,
            bind,
            root,
            jobs,
            job_table,
            input_bucket,
            output_bucket,
            topic_arn,
        } => match serve::serve(
            (bind, port).into(),
            match (job_table, input_bucket, output_bucket) {
                (Some(job_table), Some(input_bucket), Some(output_bucket)) => serve::Over::Aws {
                    job_table,
                    input_bucket,
                    output_bucket,
                    topic_arn,
                },
                _ => serve::Over::Folder(root),
            },
            jobs,
        )
        .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Params {
            function,
            json,
            schemas,
            check,
        } => match (function, schemas) {
            (_, Some(dir)) => write_schemas(&dir, check),
            (Some(function), None) => params(&function, json),
            (None, None) => ExitCode::from(2),
        },
        Command::Submit {
            message,
            queue_url,
            job_table,
        } => report(submit(&message, &queue_url, &job_table).await),
        Command::Query { job_id, job_table } => report(query(&job_id, &job_table).await),
        Command::Bench { what } => {
            let outcome = match what {
                Bench::CaptionExtraction {
                    dir,
                    fps,
                    out,
                    python,
                    script,
                } => iprod::capabilities::caption_extraction::bench::run(
                    &dir, fps, &out, &python, &script,
                ),
                Bench::Hostile { corpus, functions } => hostile::run(&corpus, &functions),
                Bench::Segments {
                    minutes,
                    height,
                    segments,
                    workers,
                } => segments::run(&segments::Options {
                    minutes,
                    height,
                    segments,
                    workers,
                }),
                Bench::GreenScreen { dir } => iprod::capabilities::green_screen::bench::run(&dir),
                Bench::Delogo { dir } => iprod::capabilities::delogo::bench::run(&dir),
                Bench::Detext {
                    dir,
                    out,
                    python,
                    script,
                    only,
                } => iprod::capabilities::detext::bench::run(&dir, &out, &python, &script, &only),
                Bench::Matting {
                    dir,
                    out,
                    python,
                    script,
                    background,
                } => iprod::capabilities::matting::bench::run(
                    &dir,
                    &out,
                    &python,
                    &script,
                    background.as_deref(),
                ),
                Bench::H2v {
                    dir,
                    footage,
                    footage_from,
                    out,
                    runs,
                } => iprod::capabilities::h2v::bench::run(
                    dir.as_deref(),
                    footage.as_deref().map(|f| (f, footage_from)),
                    &out,
                    runs,
                ),
                Bench::Cover { paths, count, runs } => {
                    iprod::capabilities::cover::bench::run(&paths, count, runs)
                }
                Bench::BeatDetection {
                    dir,
                    model,
                    excerpt,
                    out,
                    python,
                    madmom_python,
                    tuned,
                    script,
                } => iprod::capabilities::beat_detection::api::BeatDetectionParams::try_from(
                    &serde_json::json!({ "Model": model }),
                )
                .map_err(|e| anyhow::anyhow!(e.message))
                .and_then(|p| {
                    iprod::capabilities::beat_detection::bench::run(
                        &dir,
                        &iprod::capabilities::beat_detection::bench::Options {
                            model: p.model,
                            excerpt,
                            keep: out.as_deref(),
                            python: &python,
                            madmom_python: madmom_python.as_deref(),
                            tuned: tuned.as_deref(),
                            script: &script,
                        },
                    )
                }),
                Bench::MusicSegment {
                    dir,
                    audio,
                    out,
                    tuned,
                    python,
                    script,
                } => iprod::capabilities::music_segment::bench::run(
                    &dir,
                    &iprod::capabilities::music_segment::bench::Options {
                        audio_dir: audio.as_deref(),
                        keep: out.as_deref(),
                        tuned: tuned.as_deref(),
                        python: &python,
                        script: &script,
                    },
                ),
            };
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn report(outcome: anyhow::Result<serde_json::Value>) -> ExitCode {
    match outcome {
        Ok(value) => {
            say!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn job_store(job_table: &str) -> (aws_config::SdkConfig, DynamoJobStore) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let sdk = aws::sdk_config(endpoint.as_deref()).await;
    let jobs = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), job_table, None);
    (sdk, jobs)
}

async fn submit(
    message: &std::path::Path,
    queue_url: &str,
    job_table: &str,
) -> anyhow::Result<serde_json::Value> {
    let text = if message == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(message)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", message.display()))?
    };
    let body: serde_json::Value = serde_json::from_str(&text)?;
    let (sdk, jobs) = job_store(job_table).await;
    let queue = SqsSubmitter::new(aws_sdk_sqs::Client::new(&sdk), queue_url);
    let record = iprod::submit::submit(&queue, &jobs, &body, None, capabilities::check_params)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(serde_json::to_value(record)?)
}

async fn query(job_id: &str, job_table: &str) -> anyhow::Result<serde_json::Value> {
    let id = JobId::try_from(job_id.to_owned()).map_err(|e| anyhow::anyhow!(e))?;
    let (_, jobs) = job_store(job_table).await;
    match jobs.get(&id).await? {
        Some(record) => Ok(serde_json::to_value(record)?),
        None => anyhow::bail!("no job {job_id} in table {job_table}"),
    }
}

/// `iprod functions`: every FunctionName, its summary, and whether this
/// build (and its models) can run it.
fn functions(json: bool) -> ExitCode {
    let rows: Vec<(FunctionName, Result<(), String>)> = FunctionName::ALL
        .into_iter()
        .map(|f| {
            (
                f,
                capabilities::for_function(f)
                    .map(|_| ())
                    .map_err(|e| e.message),
            )
        })
        .collect();
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(f, available)| {
                serde_json::json!({
                    "FunctionName": f.as_str(),
                    "Summary": f.summary(),
                    "Available": available.is_ok(),
                    "Reason": available.as_ref().err(),
                })
            })
            .collect();
        say!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else {
        for (f, available) in &rows {
            let status = match available {
                Ok(()) => "available".to_owned(),
                Err(reason) if reason.contains("not available in this build") => {
                    "not in this build".to_owned()
                }
                Err(reason) => format!("unavailable: {reason}"),
            };
            say!("{:<24} {}\n{:<24} ({status})", f.as_str(), f.summary(), "");
        }
    }
    ExitCode::SUCCESS
}

/// The FunctionNames, for `clap` to check and list in `--help`.
fn function_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(FunctionName::ALL.map(FunctionName::as_str))
}

/// The JSON Schema of `function`'s params, as written to `schemas/`.
fn schema_text(function: FunctionName) -> Option<String> {
    let spec = capabilities::params_spec(function)?;
    let schema = spec.json_schema(function.as_str(), function.summary());
    serde_json::to_string_pretty(&schema)
        .ok()
        .map(|text| text + "\n")
}

/// `iprod params <FunctionName>`: the table, or the JSON Schema.
fn params(function: &str, json: bool) -> ExitCode {
    let function: FunctionName = match function.parse() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}", e.message);
            return ExitCode::from(2);
        }
    };
    let Some(spec) = capabilities::params_spec(function) else {
        eprintln!("error: FunctionName {function} is not available in this build");
        return ExitCode::from(2);
    };
    if json {
        print!("{}", schema_text(function).unwrap_or_default());
    } else {
        say!("{function}: {}\n", function.summary());
        print!("{spec}");
        say!(
            "\nKeys match in any case; numbers and flags may also be given as strings. Give them as --params '{{\"Key\": value}}'."
        );
    }
    ExitCode::SUCCESS
}

/// `iprod params --schemas DIR [--check]`.
fn write_schemas(dir: &std::path::Path, check: bool) -> ExitCode {
    let wanted: Vec<(String, String)> = FunctionName::ALL
        .into_iter()
        .filter_map(|f| Some((format!("{f}.json"), schema_text(f)?)))
        .collect();
    if !check {
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            wanted
                .iter()
                .try_for_each(|(name, text)| std::fs::write(dir.join(name), text))
        });
        return match written {
            Ok(()) => {
                eprintln!("wrote {} schemas to {}", wanted.len(), dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: writing {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let mut stale = Vec::new();
    for (name, text) in &wanted {
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    let present = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for name in present {
        if !wanted.iter().any(|(w, _)| *w == name) {
            stale.push(format!("{name} (no such function in this build)"));
        }
    }
    if stale.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} is not current: {}; run `iprod params --schemas {}`",
            dir.display(),
            stale.join(", "),
            dir.display()
        );
        ExitCode::FAILURE
    }
}

/// Where `iprod run` reads its input, and the store that reaches it: a
/// local path, or an S3 object through a client made from the environment.
/// Segments for a local input longer than `IPROD_SPLIT_ABOVE_SECONDS`
/// (600 by default) whose function splits with these params: two per
/// core, on every core. `None` to run it whole.
fn long_input(
    capability: &dyn capabilities::DynCapability,
    params: &serde_json::Value,
    input: &MediaLocation,
) -> Option<Segments> {
    use iprod::ports::Segmenter;
    let MediaLocation::Local(path) = input else {
        return None;
    };
    let above_s = std::env::var("IPROD_SPLIT_ABOVE_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(600.0);
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let parsed = capability.parse(params).ok()?;
    capability.plan_warm_up_s(&parsed)?;
    let segmenter = iprod::media::join::FfmpegSegmenter;
    let duration = segmenter
        .duration(path, &PipelineSettings::default().limits)
        .ok()?;
    if workers < 2 || duration <= above_s {
        return None;
    }
    eprintln!(
        "{}: {duration:.0} s is longer than {above_s:.0} s (IPROD_SPLIT_ABOVE_SECONDS): \
         running in up to {} segments on {workers} threads (--segments 1 runs it whole)",
        capability.function(),
        2 * workers
    );
    Some(Segments {
        parts: 2 * workers,
        workers,
        segmenter: Arc::new(segmenter),
    })
}

async fn input_location(input: &str) -> Result<(MediaLocation, store::LocalOrS3), String> {
    if input.starts_with("s3://") {
        let location = MediaLocation::parse(input, "input").map_err(|e| e.message)?;
        let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
        let sdk = aws::sdk_config(endpoint.as_deref()).await;
        if sdk.region().is_none() {
            return Err(format!(
                "{input}: no AWS region is configured; set AWS_REGION (or AWS_PROFILE with a region) to read from S3"
            ));
        }
        let s3 = S3ObjectStore::new(aws::s3_client(&sdk, endpoint.is_some()));
        return Ok((location, store::LocalOrS3 { s3: Some(s3) }));
    }
    if let Some((scheme, _)) = input.split_once("://") {
        return Err(format!(
            "{input}: {scheme}:// inputs are not read (a URL can point anywhere); download the file, or give a local path or an s3:// URI"
        ));
    }
    let path = PathBuf::from(input);
    let path = std::path::absolute(&path).unwrap_or(path);
    Ok((MediaLocation::Local(path), store::LocalOrS3::default()))
}

/// The name of the first SIGINT or SIGTERM received.
async fn signal_received() -> String {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT".to_owned(),
            _ = term.recv() => "SIGTERM".to_owned(),
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT".to_owned()
        }
    }
}

async fn run(
    function: &str,
    input: String,
    params: &str,
    out: PathBuf,
    notify: bool,
    segments: Option<Segments>,
) -> ExitCode {
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
    let (input, objects) = match input_location(&input).await {
        Ok(found) => found,
        Err(message) => return fail(message),
    };
    let segments = segments.or_else(|| long_input(capability.as_ref(), &params, &input));
    // Each input and function has a folder of its own: runs of several
    // functions on one file, or of one function on files of one name in
    // different folders, do not overwrite each other's results.
    let folder = format!(
        "{}/{{source}}/{function}/",
        out.display().to_string().trim_end_matches('/')
    );
    let output = match OutputTemplate::parse(&folder) {
        Ok(t) => t,
        Err(e) => return fail(e.message),
    };
    let pipeline = Pipeline {
        objects,
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
        input,
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
    // Ctrl-C or SIGTERM ends the job as Fail (Interrupted) with its work
    // folder removed, instead of leaving it Analyzing.
    let (stop_tx, stop) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        let reason = signal_received().await;
        let _ = stop_tx.send(Some(reason));
    });
    let options = RunOptions {
        progress: Arc::new(Bar(bar.clone())),
        stop: Some(stop),
        segments,
        ..RunOptions::default()
    };
    let record = pipeline.run(capability, job, options).await;
    bar.finish_and_clear();
    match record {
        Ok(record) => {
            say!(
                "{}",
                serde_json::to_string_pretty(&record).unwrap_or_default()
            );
            match (record.state, record.code) {
                (JobState::Success, _) => ExitCode::SUCCESS,
                (_, Some(JobCode::Error(ErrorCode::Interrupted))) => ExitCode::from(130),
                _ => ExitCode::FAILURE,
            }
        }
        Err(e) => fail(e.to_string()),
    }
}
