//! Load with faults: jobs submitted through SQS to moto and taken by
//! concurrent handler tasks the way Lambda's SQS integration takes them
//! (visibility timeout, partial batch failures, a redrive policy into a
//! dead-letter queue that the function also drains), with a share of all
//! AWS calls failing at random (through a fault proxy) and some deliveries
//! duplicated. Reports jobs lost, run twice at once, stuck, notifications
//! missing or doubled, and throughput.
//!
//! ```sh
//! cargo run -p iprod-tests --example load -- [--jobs 500] [--workers 4] \
//!     [--fail 0.05] [--duplicate 0.02] [--seed 7] [--sdk-attempts 3]
//! ```
//! Uses the moto server of `IPROD_TEST_ENDPOINT`, or starts one.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use iprod::capabilities::beat_detection::BeatDetection;
use iprod::capabilities::{CapabilityOutput, Context, DynCapability, OutputSink, ParsedParams};
use iprod::domain::{FunctionName, JobError};
use iprod_tests::proxy::FaultProxy;
use iprod_tests::{music, World, REGION};
use serde_json::json;

/// Seconds a received message stays invisible; an attempt's deadline (and
/// so its lease) ends a second before it, which leaves the capability 9 s
/// after the 10 s the pipeline keeps back to record a timeout.
const VISIBILITY_S: i32 = 20;

struct Args {
    jobs: usize,
    workers: usize,
    fail: f64,
    duplicate: f64,
    seed: u64,
    sdk_attempts: u32,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        jobs: 500,
        workers: 4,
        fail: 0.05,
        duplicate: 0.02,
        seed: 7,
        sdk_attempts: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--jobs" => a.jobs = value.parse()?,
            "--workers" => a.workers = value.parse()?,
            "--fail" => a.fail = value.parse()?,
            "--duplicate" => a.duplicate = value.parse()?,
            "--seed" => a.seed = value.parse()?,
            "--sdk-attempts" => a.sdk_attempts = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

/// A run of the capability: which job (from its input), when.
#[derive(Debug, Clone, Copy)]
struct Run {
    job: usize,
    start: Instant,
    end: Instant,
}

/// Beat detection, noting each run; a job's input carries its number in
/// its first sample.
struct Counting {
    inner: BeatDetection,
    runs: Mutex<Vec<Run>>,
}

impl DynCapability for Counting {
    fn function(&self) -> FunctionName {
        DynCapability::function(&self.inner)
    }

    fn serves(&self, function: FunctionName) -> bool {
        DynCapability::serves(&self.inner, function)
    }

    fn parse(&self, params: &serde_json::Value) -> Result<ParsedParams, JobError> {
        DynCapability::parse(&self.inner, params)
    }

    fn run(
        &self,
        input: &Path,
        params: &ParsedParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<CapabilityOutput, JobError> {
        let start = Instant::now();
        let job = std::fs::read(input)
            .ok()
            .and_then(|b| b.get(44..46).map(|s| i16::from_le_bytes([s[0], s[1]])))
            .map_or(usize::MAX, |n| n as usize);
        let out = DynCapability::run(&self.inner, input, params, sink, ctx);
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Run {
                job,
                start,
                end: Instant::now(),
            });
        out
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    out.attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("queue without ARN")
}

/// Receives, hands to the handler, deletes what it took; `duplicate` of
/// the deliveries are handed to a second handler task at once.
#[allow(clippy::too_many_arguments)]
async fn worker(
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    handler: Arc<iprod::lambda::AwsHandler>,
    duplicate: f64,
    seed: u64,
    duplicated: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut random = seed | 1;
    while !stop.load(Ordering::SeqCst) {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(1)
            .wait_time_seconds(1)
            .visibility_timeout(VISIBILITY_S)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        for m in out.messages.unwrap_or_default() {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                .collect();
            let event = World::sqs_event(vec![json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            })]);
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            let deadline = Instant::now() + Duration::from_secs(VISIBILITY_S as u64 - 1);
            let twin = ((random >> 11) as f64 / (1u64 << 53) as f64) < duplicate;
            let response = if twin {
                duplicated.fetch_add(1, Ordering::SeqCst);
                let (a, b) = tokio::join!(
                    handler.handle(event.clone(), Some(deadline)),
                    handler.handle(event, Some(deadline))
                );
                // The delivery is deleted when either took it.
                match (a, b) {
                    (Ok(a), Ok(_)) if a["batchItemFailures"] == json!([]) => Ok(a),
                    (_, b) => b,
                }
            } else {
                handler.handle(event, Some(deadline)).await
            };
            let taken = response.is_ok_and(|r| r["batchItemFailures"] == json!([]));
            if taken {
                if let Some(handle) = &m.receipt_handle {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
        }
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let world = World::new().await?;
    let proxy = FaultProxy::start(&world.endpoint).await?;
    let dir = tempfile::tempdir()?;

    // One short song per job, told apart by its first sample.
    let piece = music::piece(120.0, 120.0, 3.0, 4, false, 0.0);
    print!("uploading {} inputs ... ", a.jobs);
    for i in 0..a.jobs {
        let mut samples = piece.samples.clone();
        samples[0] = i as f32 / 32767.0;
        let path = dir.path().join("in.wav");
        music::write_wav(&path, &samples)?;
        world.upload(&format!("library/{i}.wav"), &path).await?;
    }
    println!("done");

    let sqs = world.sqs.clone();
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{}-load-dlq", world.job_table))
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{}-load", world.job_table))
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}).to_string(),
        )
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let queue_arn = queue_arn(&sqs, &queue_url).await?;

    let sdk =
        iprod::adapters::aws::static_sdk_config(&proxy.endpoint, REGION, "testing", "testing")
            .await
            .to_builder()
            // The SDK's own retries (3 tries by default); 1 sends every
            // injected fault to the job layer.
            .retry_config(
                aws_config::retry::RetryConfig::standard().with_max_attempts(a.sdk_attempts),
            )
            .build();
    let mut config = world.config_with("{}")?;
    config.dead_letter_arn = Some(dlq_arn.clone());
    config.lease_margin = Duration::ZERO;
    let counting = Arc::new(Counting {
        inner: BeatDetection::default(),
        runs: Mutex::new(Vec::new()),
    });
    let handler = Arc::new(iprod::lambda::aws_handler_with(
        &sdk,
        &config,
        counting.clone(),
    ));

    let submitter = iprod::adapters::sqs::SqsSubmitter::new(sqs.clone(), &queue_url);
    for i in 0..a.jobs {
        submitter
            .submit(&json!({
                "FunctionName": "AudioBeatDetection",
                "Input": format!("s3://{}/library/{i}.wav", world.input_bucket),
                "JobId": format!("load-{i}"),
            }))
            .await?;
    }
    proxy.fail_at_random(a.fail, a.seed);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let duplicated = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..a.workers {
        tasks.spawn(worker(
            sqs.clone(),
            queue_url.clone(),
            queue_arn.clone(),
            handler.clone(),
            a.duplicate,
            a.seed + w as u64 * 7919,
            duplicated.clone(),
            stop.clone(),
        ));
    }
    tasks.spawn(worker(
        sqs.clone(),
        dlq_url.clone(),
        dlq_arn.clone(),
        handler.clone(),
        0.0,
        a.seed,
        duplicated.clone(),
        stop.clone(),
    ));

    // Until every job is final and both queues are empty, or time is up.
    let limit = Duration::from_secs(600);
    let mut finished_at = None;
    while started.elapsed() < limit {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let records = world.records().await?;
        let done = records
            .iter()
            .filter(|r| r["State"] == "Success" || r["State"] == "Fail")
            .count();
        let mut waiting = 0;
        for url in [&queue_url, &dlq_url] {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await?
                .attributes
                .unwrap_or_default();
            for v in attrs.values() {
                waiting += v.parse::<usize>().unwrap_or(0);
            }
        }
        if done == a.jobs && finished_at.is_none() {
            finished_at = Some(started.elapsed());
        }
        if done == a.jobs && waiting == 0 {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    while tasks.join_next().await.is_some() {}
    let elapsed = finished_at.unwrap_or_else(|| started.elapsed());

    let records = world.records().await?;
    let mut states: HashMap<String, usize> = HashMap::new();
    let mut codes: HashMap<String, usize> = HashMap::new();
    for r in &records {
        *states
            .entry(r["State"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
        if r["State"] == "Fail" {
            *codes
                .entry(r["Code"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    let lost = a.jobs - records.len();
    let stuck = records
        .iter()
        .filter(|r| r["State"] != "Success" && r["State"] != "Fail")
        .count();
    let runs = counting
        .runs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut by_job: HashMap<usize, Vec<Run>> = HashMap::new();
    for run in runs.iter().copied() {
        by_job.entry(run.job).or_default().push(run);
    }
    let overlapping = by_job
        .values()
        .filter(|r| {
            r.iter().enumerate().any(|(i, x)| {
                r.iter()
                    .skip(i + 1)
                    .any(|y| x.start < y.end && y.start < x.end)
            })
        })
        .count();
    let rerun = by_job.values().filter(|r| r.len() > 1).count();
    let mut notes: HashMap<String, usize> = HashMap::new();
    loop {
        let got = world.notifications(Duration::from_millis(1500)).await?;
        if got.is_empty() {
            break;
        }
        for n in got {
            *notes
                .entry(n["JobId"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    let unnotified = records
        .iter()
        .filter(|r| !notes.contains_key(r["JobId"].as_str().unwrap_or_default()))
        .count();
    let notified_twice = notes.values().filter(|n| **n > 1).count();
    println!(
        "jobs {}  workers {}  SDK tries {}  AWS calls {} ({} failed, {:.1} %)  duplicated deliveries {}",
        a.jobs,
        a.workers,
        a.sdk_attempts,
        proxy.requests(),
        proxy.faults(),
        proxy.faults() as f64 * 100.0 / proxy.requests().max(1) as f64,
        duplicated.load(Ordering::SeqCst)
    );
    println!("states {states:?}  fail codes {codes:?}");
    println!(
        "lost {lost}  stuck {stuck}  run twice at once {overlapping}  run again after a fault {rerun}  \
         without notification {unnotified}  notified twice {notified_twice}"
    );
    println!(
        "throughput {:.1} jobs/s ({} jobs in {:.1} s)",
        a.jobs as f64 / elapsed.as_secs_f64(),
        a.jobs,
        elapsed.as_secs_f64()
    );
    // A second notification needs two faults on one job (its "notified"
    // mark not written, then a duplicate delivery): reported, not refused.
    anyhow::ensure!(
        lost == 0 && stuck == 0 && overlapping == 0 && unnotified == 0,
        "the job layer lost, stuck, ran twice at once or left unnotified some jobs"
    );
    Ok(())
}
