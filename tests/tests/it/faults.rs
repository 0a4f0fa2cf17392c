//! Faults injected by a proxy between the function and moto: S3, DynamoDB
//! and SNS failing on the first and on the last attempt, the endpoint
//! dying mid-job, the attempt killed mid-job. Deliveries are replayed as
//! SQS would make them (the receive count rising, then the dead-letter
//! queue). After each, the one job is `Success` with all its outputs and
//! one notification, or `Fail` with no outputs and one notification.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iprod::capabilities::cover::Cover;
use iprod::lambda::{aws_handler_with, AwsHandler};
use iprod_tests::proxy::{Call, Fault, FaultProxy};
use iprod_tests::{media, World, REGION};
use serde_json::{json, Value};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:cover";
const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:cover-dlq";
/// An attempt's time: the capability gets this less the 10 s the pipeline
/// keeps back; the job's lease ends with it.
const ATTEMPT: Duration = Duration::from_secs(20);

struct Scene {
    world: World,
    proxy: FaultProxy,
    handler: AwsHandler,
    body: String,
}

async fn scene() -> anyhow::Result<Scene> {
    let world = World::new().await?;
    let proxy = FaultProxy::start(&world.endpoint).await?;
    let sdk =
        iprod::adapters::aws::static_sdk_config(&proxy.endpoint, REGION, "testing", "testing")
            .await
            .to_builder()
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .build();
    let mut config = world.config()?;
    config.dead_letter_arn = Some(DLQ_ARN.to_owned());
    config.lease_margin = Duration::ZERO;
    let handler = aws_handler_with(&sdk, &config, Arc::new(Cover));
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    let body = json!({
        "FunctionName": "Cover",
        "Input": format!("s3://{}/library/clip.mp4", world.input_bucket),
        "JobId": "job",
    })
    .to_string();
    Ok(Scene {
        world,
        proxy,
        handler,
        body,
    })
}

fn delivery(body: &str, receive: u32, source: &str) -> Value {
    World::sqs_event(vec![World::sqs_record("message-1", body, receive, source)])
}

fn retried(response: &Value) -> bool {
    response["batchItemFailures"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

/// Waits until no live attempt holds the job, as the queue's visibility
/// timeout (longer than any attempt) makes a redelivery wait.
async fn visibility_timeout(scene: &Scene) -> anyhow::Result<()> {
    let record = scene.world.records().await?.into_iter().next();
    let until = record
        .as_ref()
        .and_then(|r| r["Lease"]["Until"].as_str())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    if let Some(until) = until {
        let left = until.with_timezone(&chrono::Utc) - chrono::Utc::now();
        if let Ok(left) = left.to_std() {
            tokio::time::sleep(left + Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Delivers the message from receive count `first` on, as SQS would,
/// then to the dead-letter handler until it takes it.
async fn deliver(scene: &Scene, first: u32) -> anyhow::Result<()> {
    for receive in first..=3 {
        if receive > first {
            visibility_timeout(scene).await?;
        }
        let deadline = Instant::now() + ATTEMPT;
        let event = delivery(&scene.body, receive, QUEUE_ARN);
        if !retried(&scene.handler.handle(event, Some(deadline)).await?) {
            return Ok(());
        }
    }
    dead_letters(scene).await
}

async fn dead_letters(scene: &Scene) -> anyhow::Result<()> {
    for _ in 0..5 {
        visibility_timeout(scene).await?;
        let event = delivery(&scene.body, 1, DLQ_ARN);
        if !retried(&scene.handler.handle(event, None).await?) {
            return Ok(());
        }
    }
    anyhow::bail!("the dead letter was never taken")
}

/// The one job's end: its state, after checking the invariant.
async fn check(scene: &Scene, name: &str) -> anyhow::Result<String> {
    let world = &scene.world;
    let records = world.records().await?;
    anyhow::ensure!(records.len() == 1, "{name}: {records:?}");
    let record = &records[0];
    let state = record["State"].as_str().unwrap_or_default().to_owned();
    let mut outputs = world.keys(&world.output_bucket).await?;
    outputs.sort();
    let mut notes = Vec::new();
    loop {
        let got = world.notifications(Duration::from_millis(1200)).await?;
        if got.is_empty() {
            break;
        }
        notes.extend(got);
    }
    anyhow::ensure!(
        notes.len() == 1,
        "{name}: {} notifications: {notes:?}",
        notes.len()
    );
    anyhow::ensure!(notes[0]["State"] == record["State"], "{name}: {notes:?}");
    anyhow::ensure!(record.get("PendingFiles").is_none(), "{name}: {record}");
    match state.as_str() {
        "Success" => {
            let prefix = format!("s3://{}/", world.output_bucket);
            let mut listed: Vec<String> = record["OutputFiles"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|f| f.as_str()?.strip_prefix(&prefix).map(str::to_owned))
                .collect();
            listed.sort();
            anyhow::ensure!(
                listed.len() >= 2 && listed == outputs,
                "{name}: outputs {outputs:?}, record {listed:?}"
            );
        }
        "Fail" => anyhow::ensure!(outputs.is_empty(), "{name}: outputs left {outputs:?}"),
        other => anyhow::bail!("{name}: state {other}: {record}"),
    }
    Ok(state)
}

/// A scenario: its name, the receive count of its first delivery, the
/// fault, and the end state it must reach.
type Case = (
    &'static str,
    u32,
    Box<dyn FnOnce(&FaultProxy) + Send>,
    &'static str,
);

/// One fault, then the deliveries; returns the end state.
async fn run(name: &str, first: u32, inject: impl FnOnce(&FaultProxy)) -> anyhow::Result<String> {
    let scene = scene().await?;
    inject(&scene.proxy);
    deliver(&scene, first).await?;
    anyhow::ensure!(scene.proxy.faults() > 0, "{name}: no fault was injected");
    let state = check(&scene, name).await?;
    Ok(format!("{name}: {state}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_ends_in_success_with_outputs_or_fail_without_and_one_notification(
) -> anyhow::Result<()> {
    // Three failures in a row exhaust the SDK's own three tries.
    let unavailable =
        |call: Call, skip: usize| move |p: &FaultProxy| p.fail(call, skip, 3, Fault::Unavailable);
    let mut tasks = tokio::task::JoinSet::new();
    let cases: Vec<Case> = vec![
        (
            "s3 get, first attempt",
            1,
            Box::new(unavailable(Call::S3Get, 0)),
            "Success",
        ),
        (
            "s3 get, last attempt",
            3,
            Box::new(unavailable(Call::S3Get, 0)),
            "Fail",
        ),
        (
            "s3 put, first attempt",
            1,
            Box::new(unavailable(Call::S3Put, 1)),
            "Success",
        ),
        (
            "s3 put, last attempt",
            3,
            Box::new(unavailable(Call::S3Put, 1)),
            "Fail",
        ),
        (
            "dynamodb get, first attempt",
            1,
            Box::new(unavailable(Call::DynamoGet, 0)),
            "Success",
        ),
        (
            "dynamodb get, last attempt",
            3,
            Box::new(unavailable(Call::DynamoGet, 0)),
            "Fail",
        ),
        (
            "dynamodb claim, first attempt",
            1,
            Box::new(unavailable(Call::DynamoPut, 0)),
            "Success",
        ),
        (
            "dynamodb final write, first attempt",
            1,
            Box::new(unavailable(Call::DynamoPut, 2)),
            "Success",
        ),
        (
            "dynamodb final write, last attempt",
            3,
            Box::new(unavailable(Call::DynamoPut, 2)),
            "Fail",
        ),
        (
            "dynamodb notified mark",
            1,
            Box::new(unavailable(Call::DynamoPut, 3)),
            "Success",
        ),
        (
            "sns, first attempt",
            1,
            Box::new(unavailable(Call::SnsPublish, 0)),
            "Success",
        ),
        (
            "sns, last attempt",
            3,
            Box::new(unavailable(Call::SnsPublish, 0)),
            "Success",
        ),
        (
            "endpoint dies during uploads, first attempt",
            1,
            Box::new(|p: &FaultProxy| p.die_at(Call::S3Put, 1, 12)),
            "Success",
        ),
        (
            "endpoint dies during uploads, last attempt",
            3,
            Box::new(|p: &FaultProxy| p.die_at(Call::S3Put, 1, 12)),
            "Fail",
        ),
    ];
    for (name, first, inject, want) in cases {
        tasks.spawn(async move {
            let got = run(name, first, inject).await?;
            anyhow::ensure!(got.ends_with(want), "{got}, expected {want}");
            Ok::<String, anyhow::Error>(got)
        });
    }
    let mut problems = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok(line) => println!("{line}"),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// The attempt stops dead mid-job (its future dropped: nothing more is
/// written, as when the process is killed). A later delivery, once the
/// attempt's lease has ended, runs the job again; on the last attempt the
/// dead-letter handler ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_killed_mid_job_is_run_again_or_ended_by_its_dead_letter() -> anyhow::Result<()>
{
    for (first, want) in [(1, "Success"), (3, "Fail")] {
        let scene = Arc::new(scene().await?);
        let s = scene.clone();
        let attempt = tokio::spawn(async move {
            let event = delivery(&s.body, first, QUEUE_ARN);
            s.handler
                .handle(event, Some(Instant::now() + ATTEMPT))
                .await
        });
        // Kill it once it holds the job.
        let started = Instant::now();
        loop {
            let held = scene.world.records().await?.first().cloned();
            if held.is_some_and(|r| r["State"] == "Analyzing") {
                break;
            }
            anyhow::ensure!(started.elapsed() < ATTEMPT, "the job never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        attempt.abort();
        let _ = attempt.await;
        // SQS shows the message again after its visibility timeout, longer
        // than any attempt; the lease has ended by then.
        visibility_timeout(&scene).await?;
        if first < 3 {
            deliver(&scene, first + 1).await?;
        } else {
            dead_letters(&scene).await?;
        }
        let state = check(&scene, &format!("killed at attempt {first}")).await?;
        assert_eq!(state, want);
        if want == "Fail" {
            let record = scene.world.record("job").await?;
            assert_eq!(record["Code"], "Abandoned", "{record}");
        }
    }
    Ok(())
}
