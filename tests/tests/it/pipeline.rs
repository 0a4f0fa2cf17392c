//! End to end through a real moto server: S3 upload → bucket notification
//! in SQS → handler → covers and record in S3 → notification via SNS.

use std::sync::Arc;
use std::time::Duration;

use iprod::capabilities::cover::Cover;
use iprod_tests::{media, World};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_produces_covers_a_record_and_one_notification() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("input/my clip (1).mp4", &clip).await?;

    let records = world.receive(&world.queue_url, WAIT).await?;
    assert_eq!(records.len(), 1, "one bucket notification: {records:?}");
    let response = handler
        .handle(World::sqs_event(records.clone()), None)
        .await?;
    World::assert_no_retries(&response);

    let outputs = world.keys(&world.output_bucket).await?;
    let covers: Vec<&String> = outputs.iter().filter(|k| k.ends_with(".jpg")).collect();
    assert_eq!(
        covers.len(),
        2,
        "Count 2 from IPROD_JOB_PARAMS: {outputs:?}"
    );
    assert!(
        outputs.iter().all(|k| k.starts_with("output/my clip (1)/")),
        "the decoded key names the outputs: {outputs:?}"
    );
    let jpeg = world.read(&world.output_bucket, covers[0]).await?;
    assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");

    let states = world.records().await?;
    assert_eq!(states.len(), 1, "{states:?}");
    let record = states[0].clone();
    assert_eq!(record["State"], "Success", "{record}");
    assert_eq!(
        record["Result"]["Data"]["Covers"].as_array().map(Vec::len),
        Some(2)
    );
    let files = record["OutputFiles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        files
            .last()
            .and_then(Value::as_str)
            .is_some_and(|f| f.ends_with("-result.json")),
        "result JSON listed last: {files:?}"
    );

    let notes = world.notifications(WAIT).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["JobId"], record["JobId"]);
    assert_eq!(notes[0]["State"], "Success");
    assert_eq!(notes[0]["Type"], "IProduction");
    assert_eq!(notes[0]["_Attributes"]["FunctionName"]["Value"], "Cover");
    assert_eq!(notes[0]["_Attributes"]["State"]["Value"], "Success");

    // The same event again (S3 delivers at least once): nothing is redone.
    let again = handler.handle(World::sqs_event(records), None).await?;
    World::assert_no_retries(&again);
    let record_again = world
        .record(record["JobId"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(record_again["FinishTime"], record["FinishTime"]);
    assert!(world
        .notifications(Duration::from_millis(1500))
        .await?
        .is_empty());
    // The source is untouched.
    assert_eq!(
        world.keys(&world.input_bucket).await?,
        vec!["input/my clip (1).mp4"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_job_runs_with_its_own_params_output_and_user_data() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    // Outside the trigger prefix: no bucket notification.
    world.upload("library/clip.mp4", &clip).await?;
    let submitter = iprod::adapters::sqs::SqsSubmitter::new(world.sqs.clone(), &world.queue_url);
    let message = serde_json::json!({
        "FunctionName": "Cover",
        "Input": {"Type": "S3", "Media": format!("s3://{}/library/clip.mp4", world.input_bucket)},
        "Output": {"Type": "S3", "Media": format!("s3://{}/covers/{{source}}-{{sequenceId}}.png", world.output_bucket)},
        "JobParams": "{\"Count\":1,\"Format\":\"png\",\"Width\":160}",
        "UserData": "order-42",
    });
    submitter.submit(&message).await?;
    let records = world.receive(&world.queue_url, WAIT).await?;
    assert_eq!(records.len(), 1);
    let response = handler.handle(World::sqs_event(records), None).await?;
    World::assert_no_retries(&response);

    let outputs = world.keys(&world.output_bucket).await?;
    assert_eq!(
        outputs,
        vec!["covers/clip-1.png", "covers/clip-result.json"]
    );
    let png = world
        .read(&world.output_bucket, "covers/clip-1.png")
        .await?;
    assert_eq!(&png[1..4], b"PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width, 160);
    let notes = world.notifications(WAIT).await?;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["UserData"], "order-42");
    assert_eq!(notes[0]["State"], "Success");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_video_fails_with_a_clear_message_and_writes_no_output() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let dir = tempfile::tempdir()?;
    let corrupt = media::corrupt_clip(dir.path(), "broken.mp4")?;
    world.upload("input/broken.mp4", &corrupt).await?;
    let records = world.receive(&world.queue_url, WAIT).await?;
    let response = handler.handle(World::sqs_event(records), None).await?;
    World::assert_no_retries(&response);
    assert!(
        world.keys(&world.output_bucket).await?.is_empty(),
        "nothing half-written"
    );
    let states = world.records().await?;
    let record = states[0].clone();
    assert_eq!(record["State"], "Fail");
    assert_eq!(record["Code"], "InvalidMedia", "{record}");
    let message = record["Message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{record}");
    let notes = world.notifications(WAIT).await?;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["State"], "Fail");
    assert_eq!(notes[0]["Code"], "InvalidMedia");
    assert_eq!(
        world.keys(&world.input_bucket).await?,
        vec!["input/broken.mp4"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_missing_inputs_and_bad_outputs_fail_without_retry() -> anyhow::Result<()>
{
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let submitter = iprod::adapters::sqs::SqsSubmitter::new(world.sqs.clone(), &world.queue_url);
    submitter
        .submit(&serde_json::json!({"hello": "world"}))
        .await?;
    submitter
        .submit(&serde_json::json!({
            "FunctionName": "Cover",
            "Input": format!("s3://{}/input/nope.mp4", world.input_bucket),
        }))
        .await?;
    submitter
        .submit(&serde_json::json!({
            "FunctionName": "Cover",
            "Input": format!("s3://{}/input/x.mp4", world.input_bucket),
            "JobParams": {"Count": 99},
        }))
        .await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    submitter
        .submit(&serde_json::json!({
            "FunctionName": "Cover",
            "Input": format!("s3://{}/library/clip.mp4", world.input_bucket),
            "Output": "s3://no-such-bucket-for-iprod/covers/",
        }))
        .await?;
    let mut records = Vec::new();
    while records.len() < 4 {
        let got = world.receive(&world.queue_url, WAIT).await?;
        if got.is_empty() {
            break;
        }
        records.extend(got);
    }
    assert_eq!(records.len(), 4);
    let response = handler.handle(World::sqs_event(records), None).await?;
    World::assert_no_retries(&response);
    let mut codes: Vec<String> = Vec::new();
    for record in world.records().await? {
        assert_eq!(record["State"], "Fail", "{record}");
        codes.push(record["Code"].as_str().unwrap_or_default().to_owned());
        if record["Code"] == "InvalidParameter" {
            let message = record["Message"].as_str().unwrap_or_default();
            assert!(
                message.contains("Count") && message.contains("1..=20"),
                "{message}"
            );
        }
    }
    codes.sort();
    assert_eq!(
        codes,
        vec![
            "InputNotFound",
            "InvalidMessage",
            "InvalidOutput",
            "InvalidParameter"
        ]
    );
    let mut notes = Vec::new();
    while notes.len() < 4 {
        let got = world.notifications(WAIT).await?;
        if got.is_empty() {
            break;
        }
        notes.extend(got);
    }
    assert_eq!(notes.len(), 4, "one notification per failed job");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_is_recorded_as_queuing_then_runs_under_the_same_job_id() -> anyhow::Result<()>
{
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    let queue = iprod::adapters::sqs::SqsSubmitter::new(world.sqs.clone(), &world.queue_url);
    let config = world.config()?;
    let jobs = iprod::adapters::dynamodb::DynamoJobStore::new(
        world.dynamodb.clone(),
        &world.job_table,
        None,
    );
    let message = serde_json::json!({
        "FunctionName": "Cover",
        "Input": format!("s3://{}/library/clip.mp4", world.input_bucket),
    });
    let check = iprod::capabilities::check_params;
    let queued =
        iprod::submit::submit(&queue, &jobs, &message, Some(&config.default_output), check)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
    let record = world.record(queued.job_id.as_str()).await?;
    assert_eq!(record["State"], "Queuing");

    let records = world.receive(&world.queue_url, WAIT).await?;
    let response = handler.handle(World::sqs_event(records), None).await?;
    World::assert_no_retries(&response);
    let done = world.record(queued.job_id.as_str()).await?;
    assert_eq!(done["State"], "Success", "{done}");
    assert_eq!(
        done["CreateTime"], record["CreateTime"],
        "creation time kept"
    );
    let outputs = world.keys(&world.output_bucket).await?;
    assert!(
        outputs
            .iter()
            .all(|k| k.starts_with(&format!("output/clip/{}/", queued.job_id))),
        "default output with the JobId: {outputs:?}"
    );

    // An invalid message is refused at submission: nothing is queued.
    let input = format!("s3://{}/library/clip.mp4", world.input_bucket);
    for (bad, says) in [
        (
            serde_json::json!({"FunctionName": "Cover", "Input": "oss://b/k.mp4"}),
            "oss://",
        ),
        // What the function would refuse is refused before queueing: bad
        // params, for any function.
        (
            serde_json::json!({"FunctionName": "Cover", "Input": input, "JobParams": {"Count": 99}}),
            "JobParams.Count",
        ),
        (
            serde_json::json!({"FunctionName": "VideoMatting", "Input": input, "JobParams": {"Format": "mask", "bgcolor": "#000000"}}),
            "JobParams.Format",
        ),
    ] {
        let err = iprod::submit::submit(&queue, &jobs, &bad, Some(&config.default_output), check)
            .await
            .expect_err("refused");
        assert!(!err.retryable, "{bad}: {err}");
        assert!(err.message.contains(says), "{bad}: {}", err.message);
    }
    assert!(world
        .receive(&world.queue_url, Duration::from_millis(1500))
        .await?
        .is_empty());
    Ok(())
}
