//! Published sample events (`tests/fixtures/events/`, sources in its
//! SOURCES.md) through the handler on moto: what is not a job is left
//! alone, every way AWS delivers an upload runs it, and one bad SQS record
//! fails only itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iprod::capabilities::cover::Cover;
use iprod_tests::{media, World};
use serde_json::{json, Value};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:cover";

async fn all_notifications(world: &World) -> anyhow::Result<Vec<Value>> {
    let mut notes = Vec::new();
    loop {
        let got = world.notifications(Duration::from_millis(1500)).await?;
        if got.is_empty() {
            return Ok(notes);
        }
        notes.extend(got);
    }
}

fn event(name: &str) -> anyhow::Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/events")
        .join(name);
    Ok(serde_json::from_slice(&std::fs::read(&path)?)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_are_not_jobs_leave_no_record_and_no_notification() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    for name in [
        "eventbridge-schedule.json",
        "apigw-request.json",
        "apigw-v2-request.json",
        "sns-subscription-confirmation.json",
        "sns-unsubscribe-confirmation.json",
    ] {
        let payload = event(name)?;
        let out = handler.handle(payload.clone(), None).await?;
        assert_eq!(out, json!({"Jobs": []}), "{name}");
        // The same, delivered as an SQS message body.
        let sqs = World::sqs_event(vec![World::sqs_record(
            &format!("m-{name}"),
            &payload.to_string(),
            1,
            QUEUE_ARN,
        )]);
        World::assert_no_retries(&handler.handle(sqs, None).await?);
    }
    assert!(world.records().await?.is_empty());
    assert!(all_notifications(&world).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_through_eventbridge_and_sns_run_their_jobs() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    // EventBridge keys are not URL-encoded: this one has a space, a colon
    // and a plus sign as they are.
    let raw_key = "input/take 1:2+b.mp4";
    world.upload(raw_key, &clip).await?;
    let mut bridge = event("eventbridge-s3-object-created.json")?;
    bridge["detail"]["bucket"]["name"] = json!(world.input_bucket);
    bridge["detail"]["object"]["key"] = json!(raw_key);
    let out = handler.handle(bridge.clone(), None).await?;
    let jobs = out["Jobs"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 1, "{out}");
    assert_eq!(jobs[0]["State"], "Success", "{out}");
    assert_eq!(
        jobs[0]["Input"]["Media"],
        format!("s3://{}/{raw_key}", world.input_bucket)
    );
    // The same event through an SQS target is the same job: not redone.
    let sqs = World::sqs_event(vec![World::sqs_record(
        "eventbridge",
        &bridge.to_string(),
        1,
        QUEUE_ARN,
    )]);
    World::assert_no_retries(&handler.handle(sqs, None).await?);

    // SNS delivered to the function, its message an S3 notification (keys
    // URL-encoded there).
    world.upload("input/sns clip.mp4", &clip).await?;
    let notification = json!({"Records": [{
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-12-06T10:00:00.000Z",
        "s3": {"bucket": {"name": world.input_bucket},
               "object": {"key": "input/sns+clip.mp4", "eTag": "e", "sequencer": "0A"}}
    }]});
    let mut sns = event("sns-event.json")?;
    sns["Records"][0]["Sns"]["Message"] = json!(notification.to_string());
    let out = handler.handle(sns, None).await?;
    let jobs = out["Jobs"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 1, "{out}");
    assert_eq!(jobs[0]["State"], "Success", "{out}");

    let records = world.records().await?;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(all_notifications(&world).await?.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_sqs_record_fails_only_itself() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    let mut batch = event("sqs-event.json")?;
    let mut good = batch["Records"][0].clone();
    good["body"] = json!(json!({
        "FunctionName": "Cover",
        "Input": format!("s3://{}/library/clip.mp4", world.input_bucket),
        "JobId": "good",
    })
    .to_string());
    // Attributes the handler never reads, broken: not the record's fault.
    good["messageAttributes"]["Attribute3"]["binaryValue"] = json!("%%% not base64 %%%");
    let mut broken = batch["Records"][0].clone();
    broken["messageId"] = json!("MessageID_2");
    broken["attributes"] = json!("not an object");
    batch["Records"] = json!([good, broken]);
    let response = handler.handle(batch, None).await?;
    World::assert_no_retries(&response);
    assert_eq!(world.record("good").await?["State"], "Success");
    let id = iprod::domain::JobId::derived(&["sqs", "MessageID_2"]);
    let record = world.record(id.as_str()).await?;
    assert_eq!(record["State"], "Fail");
    assert_eq!(record["Code"], "InvalidMessage");
    assert!(
        record["Message"]
            .as_str()
            .is_some_and(|m| m.contains("SQS record is malformed")),
        "{record}"
    );
    assert_eq!(all_notifications(&world).await?.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_batch_operations_run_each_task_and_get_their_answer_format() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/my clip.mp4", &clip).await?;

    // Schema 1.0: the bucket as an ARN, keys URL-encoded; one object is
    // missing.
    let mut v1 = event("s3-batch-1.0.json")?;
    let task = v1["tasks"][0].clone();
    let mut found = task.clone();
    found["s3BucketArn"] = json!(format!("arn:aws:s3:::{}", world.input_bucket));
    found["s3Key"] = json!("library/my+clip.mp4");
    let mut missing = found.clone();
    missing["taskId"] = json!("missing-task");
    missing["s3Key"] = json!("library/none.mp4");
    v1["tasks"] = json!([found, missing]);
    let answer = handler.handle(v1, None).await?;
    assert_eq!(answer["invocationSchemaVersion"], "1.0");
    assert_eq!(
        answer["invocationId"],
        "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo"
    );
    assert_eq!(answer["treatMissingKeysAs"], "PermanentFailure");
    let results = answer["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 2, "{answer}");
    assert_eq!(results[0]["taskId"], task["taskId"]);
    assert_eq!(results[0]["resultCode"], "Succeeded", "{answer}");
    assert_eq!(results[1]["taskId"], "missing-task");
    assert_eq!(results[1]["resultCode"], "PermanentFailure");
    assert!(
        results[1]["resultString"]
            .as_str()
            .is_some_and(|s| s.contains("InputNotFound")),
        "{answer}"
    );

    // Schema 2.0: the bucket by name, JobParams from the job's arguments.
    let mut v2 = event("s3-batch-2.0.json")?;
    v2["job"]["userArguments"] = json!({
        "JobParams": "{\"Count\":2}",
        "Output": format!("s3://{}/batch/", world.output_bucket),
    });
    v2["tasks"][0]["s3BucketName"] = json!(world.input_bucket);
    v2["tasks"][0]["s3Key"] = json!("library/my+clip.mp4");
    let answer = handler.handle(v2.clone(), None).await?;
    assert_eq!(answer["invocationSchemaVersion"], "2.0");
    assert_eq!(answer["results"][0]["resultCode"], "Succeeded", "{answer}");
    let covers: Vec<String> = world
        .keys(&world.output_bucket)
        .await?
        .into_iter()
        .filter(|k| k.starts_with("batch/") && k.ends_with(".jpg"))
        .collect();
    assert_eq!(covers.len(), 2, "Count 2 from userArguments: {covers:?}");
    // A retried task is the same job: done once.
    let again = handler.handle(v2, None).await?;
    assert_eq!(again["results"][0]["resultCode"], "Succeeded");
    assert_eq!(all_notifications(&world).await?.len(), 3);
    Ok(())
}
