//! The real `api` binary, run against a Lambda Runtime API emulator and a
//! moto server: API Gateway (HTTP API, payload 2.0) events in, HTTP
//! responses out, the job recorded and queued.

use std::process::{Command, Stdio};
use std::time::Duration;

use iprod_tests::runtime_api::{Outcome, RuntimeApi};
use iprod_tests::{media, World, REGION};
use serde_json::{json, Value};

/// The sample event (events/api-submit.json) as `method path?query` with
/// `body`.
fn event(method: &str, path: &str, query: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/api-submit.json"
    ))?;
    let mut event: Value = serde_json::from_str(&sample)?;
    event["routeKey"] = json!(format!("{method} {path}"));
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!(query);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    Ok(event)
}

async fn serve(world: &World, events: Vec<Value>) -> anyhow::Result<Vec<Outcome>> {
    let count = events.len();
    let api = RuntimeApi::start(events).await?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_api"))
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", api.address.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", "api".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_ENDPOINT_URL", world.endpoint.clone()),
            ("IPROD_JOB_TABLE", world.job_table.clone()),
            ("IPROD_QUEUES", format!("Cover={}", world.queue_url)),
            (
                "IPROD_OUTPUT",
                format!("s3://{}/output/{{source}}/{{jobId}}/", world.output_bucket),
            ),
            ("IPROD_INPUT_BUCKETS", world.input_bucket.clone()),
            ("IPROD_OUTPUT_BUCKETS", world.output_bucket.clone()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let outcomes = api.outcomes(count, Duration::from_secs(30)).await;
    let _ = child.kill();
    let _ = child.wait();
    Ok(outcomes)
}

fn http(outcome: Option<&Outcome>) -> anyhow::Result<(u64, Value)> {
    let Some(Outcome::Response(response)) = outcome else {
        anyhow::bail!("expected a response, got {outcome:?}");
    };
    let body = response["body"].as_str().unwrap_or_default();
    Ok((
        response["statusCode"].as_u64().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_binary_answers_api_gateway_events() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    let input = format!("s3://{}/library/clip.mp4", world.input_bucket);
    let events = vec![
        event(
            "POST",
            "/jobs",
            "",
            Some(json!({"FunctionName": "Cover", "Input": input, "JobId": "api-1"})),
        )?,
        event("GET", "/jobs/api-1", "", None)?,
        event("GET", "/jobs", "FunctionName=Cover&MaxResults=5", None)?,
        event(
            "POST",
            "/jobs",
            "",
            Some(json!({"FunctionName": "Cover", "Input": "s3://elsewhere/x.mp4"})),
        )?,
    ];
    let outcomes = serve(&world, events).await?;
    let (status, submitted) = http(outcomes.first())?;
    assert_eq!(status, 200, "{submitted}");
    assert_eq!(submitted["JobId"], "api-1");
    let (status, job) = http(outcomes.get(1))?;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["Job"]["State"], "Queuing");
    let (_, list) = http(outcomes.get(2))?;
    assert_eq!(list["Jobs"][0]["JobId"], "api-1", "{list}");
    let (status, refused) = http(outcomes.get(3))?;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["Code"], "AccessDenied");
    let queued = world
        .receive(&world.queue_url, Duration::from_secs(10))
        .await?;
    assert_eq!(queued.len(), 1);
    Ok(())
}
