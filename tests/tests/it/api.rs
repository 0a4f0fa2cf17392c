//! The HTTP API end to end on moto: `POST /jobs` records the job in
//! DynamoDB and queues it on its function's SQS queue; the function runs
//! it; `GET /jobs/{JobId}` and the list show the outcome; SNS says it once.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use iprod::capabilities::cover::Cover;
use iprod::http::ApiConfig;
use iprod_tests::{media, World};

use serde_json::{json, Value};
use tower::ServiceExt;

const WAIT: Duration = Duration::from_secs(10);

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn app(world: &World) -> anyhow::Result<axum::Router> {
    // The Alibaba form's keys, in Secrets Manager.
    let secret = aws_sdk_secretsmanager::Client::new(&world.sdk)
        .create_secret()
        .name(format!("{}-keys", world.job_table))
        .secret_string(r#"{"AKID": "SECRET"}"#)
        .send()
        .await?
        .arn
        .unwrap_or_default();
    let config = ApiConfig::from_lookup(|name| match name {
        "IPROD_ACCESS_KEYS_SECRET" => Some(secret.clone()),
        "IPROD_JOB_TABLE" => Some(world.job_table.clone()),
        "IPROD_QUEUES" => Some(format!("Cover={}", world.queue_url)),
        "IPROD_OUTPUT" => Some(format!(
            "s3://{}/output/{{source}}/{{jobId}}/",
            world.output_bucket
        )),
        "IPROD_INPUT_BUCKETS" => Some(world.input_bucket.clone()),
        "IPROD_OUTPUT_BUCKETS" => Some(world.output_bucket.clone()),
        "AWS_ENDPOINT_URL" => Some(world.endpoint.clone()),
        _ => None,
    })
    .map_err(anyhow::Error::msg)?;
    let signatures = iprod::http::signatures(&world.sdk, &config)
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(
        matches!(signatures, iprod::http::Signatures::Keys(_)),
        "{signatures:?}"
    );
    iprod::http::app(&world.sdk, &config, signatures).map_err(anyhow::Error::msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_submitted_over_http_runs_and_is_queried_listed_and_notified() -> anyhow::Result<()> {
    let world = World::new().await?;
    let app = app(&world).await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    let input = format!("s3://{}/library/clip.mp4", world.input_bucket);

    // Refused at the door: nothing recorded or queued.
    let (status, answer) = call(&app, "POST", "/jobs", Some(json!({"FunctionName": "Cover", "Input": format!("s3://{}/library/none.mp4", world.input_bucket)}))).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = call(
        &app,
        "POST",
        "/jobs",
        Some(json!({"FunctionName": "VideoH2V", "Input": input})),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["Code"], "UnsupportedFunction");
    let (status, answer) = call(
        &app,
        "POST",
        "/jobs",
        Some(json!({"FunctionName": "Cover", "Input": input, "JobParams": {"Count": 0}})),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    let (status, answer) = call(
        &app,
        "POST",
        "/jobs",
        Some(json!({"FunctionName": "Cover", "Input": input, "JobParams": {"Count": 2}})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let id = answer["JobId"].as_str().unwrap_or_default().to_owned();
    let (_, queued) = call(&app, "GET", &format!("/jobs/{id}"), None).await?;
    assert_eq!(queued["Job"]["State"], "Queuing", "{queued}");

    let records = world.receive(&world.queue_url, WAIT).await?;
    assert_eq!(records.len(), 1, "only the accepted job was queued");
    let handler = world.handler(Arc::new(Cover))?;
    let response = handler.handle(World::sqs_event(records), None).await?;
    World::assert_no_retries(&response);

    let (_, done) = call(&app, "GET", &format!("/jobs/{id}"), None).await?;
    assert_eq!(done["Job"]["State"], "Success", "{done}");
    assert_eq!(
        done["Job"]["Result"]["Data"]["Covers"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let (_, list) = call(&app, "GET", "/jobs?FunctionName=Cover&State=Success", None).await?;
    assert_eq!(list["Jobs"][0]["JobId"], id.as_str(), "{list}");
    let notes = world.notifications(WAIT).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["JobId"], id.as_str());

    // A queued job cancelled over HTTP is announced by its function,
    // not run.
    let (_, answer) = call(
        &app,
        "POST",
        "/jobs",
        Some(json!({"FunctionName": "Cover", "Input": input})),
    )
    .await?;
    let second = answer["JobId"].as_str().unwrap_or_default().to_owned();
    let (status, cancelled) = call(&app, "POST", &format!("/jobs/{second}/cancel"), None).await?;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let records = world.receive(&world.queue_url, WAIT).await?;
    let response = handler.handle(World::sqs_event(records), None).await?;
    World::assert_no_retries(&response);
    let (_, after) = call(&app, "GET", &format!("/jobs/{second}"), None).await?;
    assert_eq!(after["Job"]["Code"], "Cancelled", "{after}");
    assert!(
        after["Job"]["OutputFiles"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{after}"
    );
    let notes = world.notifications(WAIT).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["Code"], "Cancelled");
    let (status, _) = call(&app, "POST", &format!("/jobs/{id}/cancel"), None).await?;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a finished job is not cancelled"
    );
    Ok(())
}
