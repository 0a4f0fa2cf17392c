//! The real `cover` binary, run against a Lambda Runtime API emulator and
//! a moto server: configuration from the environment, one invocation, the
//! response posted back, outputs in S3.

use std::process::{Command, Stdio};
use std::time::Duration;

use iprod_tests::runtime_api::{Outcome, RuntimeApi};
use iprod_tests::{media, World, REGION};

fn function_env(world: &World, api: &RuntimeApi) -> anyhow::Result<Vec<(String, String)>> {
    let config = world.config()?;
    Ok(vec![
        ("AWS_LAMBDA_RUNTIME_API".into(), api.address.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), "cover".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "3008".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_ENDPOINT_URL".into(), world.endpoint.clone()),
        ("IPROD_JOB_TABLE".into(), world.job_table.clone()),
        ("IPROD_TOPIC_ARN".into(), world.topic_arn.clone()),
        (
            "IPROD_OUTPUT".into(),
            config.default_output.as_str().to_owned(),
        ),
        ("IPROD_INPUT_BUCKET".into(), world.input_bucket.clone()),
        ("IPROD_INPUT_PREFIX".into(), "input/".into()),
    ])
}

/// Runs the `cover` binary until it has answered every one of `events`
/// (or `timeout` passes), then stops it; returns its answers in order.
async fn serve(
    world: &World,
    events: Vec<serde_json::Value>,
    timeout: Duration,
) -> anyhow::Result<Vec<Outcome>> {
    let count = events.len();
    let api = RuntimeApi::start(events).await?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cover"))
        .env_clear()
        .envs(function_env(world, &api)?)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let outcomes = api.outcomes(count, timeout).await;
    let _ = child.kill();
    let _ = child.wait();
    Ok(outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_serves_an_invocation_from_the_runtime_api() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    let message = serde_json::json!({
        "FunctionName": "Cover",
        "Input": format!("s3://{}/library/clip.mp4", world.input_bucket),
        "Output": format!("s3://{}/bin/{{source}}.jpg", world.output_bucket),
    });
    let outcomes = serve(&world, vec![message], Duration::from_secs(60)).await?;
    let Some(Outcome::Response(response)) = outcomes.first() else {
        anyhow::bail!("expected a response, got {outcomes:?}");
    };
    assert_eq!(response["Jobs"][0]["State"], "Success", "{response}");
    assert_eq!(
        world.keys(&world.output_bucket).await?,
        vec!["bin/clip-result.json", "bin/clip.jpg"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_variable_stops_the_cold_start_and_is_named() -> anyhow::Result<()> {
    let world = World::new().await?;
    let api = RuntimeApi::start(Vec::new()).await?;
    let env: Vec<(String, String)> = function_env(&world, &api)?
        .into_iter()
        .filter(|(k, _)| k != "IPROD_TOPIC_ARN")
        .collect();
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_cover"))
            .env_clear()
            .envs(env)
            .output(),
    )
    .await??;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("IPROD_TOPIC_ARN"), "{stderr}");
    Ok(())
}

fn fixture(name: &str) -> anyhow::Result<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/events")
        .join(name);
    Ok(serde_json::from_slice(&std::fs::read(path)?)?)
}

/// The binary takes every way AWS delivers an upload, answers S3 Batch
/// Operations in their format, and leaves events that are not jobs alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_takes_eventbridge_sns_and_batch_events_and_ignores_the_rest(
) -> anyhow::Result<()> {
    use serde_json::json;
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("input/a clip.mp4", &clip).await?;
    let mut bridge = fixture("eventbridge-s3-object-created.json")?;
    bridge["detail"]["bucket"]["name"] = json!(world.input_bucket);
    bridge["detail"]["object"]["key"] = json!("input/a clip.mp4");
    let mut sns = fixture("sns-event.json")?;
    sns["Records"][0]["Sns"]["Message"] = json!(json!({"Records": [{
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": world.input_bucket},
               "object": {"key": "input/a+clip.mp4", "eTag": "e", "sequencer": "0B"}}
    }]})
    .to_string());
    let mut batch = fixture("s3-batch-1.0.json")?;
    batch["tasks"][0]["s3BucketArn"] = json!(format!("arn:aws:s3:::{}", world.input_bucket));
    batch["tasks"][0]["s3Key"] = json!("input/a+clip.mp4");
    let schedule = fixture("eventbridge-schedule.json")?;
    let outcomes = serve(
        &world,
        vec![bridge, sns, batch, schedule],
        Duration::from_secs(120),
    )
    .await?;
    let responses: Vec<serde_json::Value> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Response(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(responses.len(), 4, "{outcomes:?}");
    assert_eq!(
        responses[0]["Jobs"][0]["State"], "Success",
        "{}",
        responses[0]
    );
    assert_eq!(
        responses[1]["Jobs"][0]["State"], "Success",
        "{}",
        responses[1]
    );
    assert_eq!(
        responses[2]["results"][0]["resultCode"], "Succeeded",
        "{}",
        responses[2]
    );
    assert_eq!(responses[3], json!({"Jobs": []}));
    assert_eq!(world.records().await?.len(), 3);
    Ok(())
}

/// Every log line of a job carries its JobId and FunctionName, so that
/// CloudWatch Logs Insights can select one job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_of_a_job_names_its_job_id_and_function() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    let message = serde_json::json!({
        "FunctionName": "Cover",
        "Input": format!("s3://{}/library/clip.mp4", world.input_bucket),
        "JobId": "logged-job",
    });
    let api = RuntimeApi::start(vec![message]).await?;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cover"))
        .env_clear()
        .envs(function_env(&world, &api)?)
        // The capability's own lines too (it logs its candidates at debug).
        .env("RUST_LOG", "info,iprod=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let outcomes = api.outcomes(1, Duration::from_secs(60)).await;
    assert!(
        matches!(outcomes.first(), Some(Outcome::Response(_))),
        "{outcomes:?}"
    );
    // Give the last line time to be written, then stop the function.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().unwrap_or_default();
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let output = child.wait_with_output().await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let job_lines: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| {
            let message = l["fields"]["message"].as_str().unwrap_or_default();
            message.starts_with("job ") || l["fields"]["time_s"].is_number()
        })
        .collect();
    assert!(
        job_lines.iter().any(|l| l["fields"]["time_s"].is_number()),
        "the capability's lines: {stderr}"
    );
    assert!(job_lines.len() >= 3, "job started and ended: {stderr}");
    for line in job_lines {
        assert_eq!(line["span"]["job_id"], "logged-job", "{line}");
        assert_eq!(line["span"]["function"], "Cover", "{line}");
    }
    Ok(())
}
