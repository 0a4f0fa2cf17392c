//! Every route of the API through the router, over in-memory ports: what
//! it accepts, what it refuses and how it says so.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use iprod_api::{router, Api, Dispatch, Inputs, Settings};
use iprod_core::adapters::memory::MemoryObjectStore;
use iprod_core::adapters::records::ObjectJobStore;
use iprod_core::domain::{FunctionName, JobError, MediaLocation, OutputTemplate};
use iprod_core::ports::StoreError;

/// Queues in memory: what each function was sent.
#[derive(Debug, Clone, Default)]
struct Queues {
    sent: Arc<Mutex<Vec<(FunctionName, Value)>>>,
    down: bool,
}

impl Dispatch for Queues {
    fn serves(&self, function: FunctionName) -> bool {
        matches!(
            function,
            FunctionName::Cover | FunctionName::AudioBeatDetection
        )
    }

    async fn send(&self, function: FunctionName, body: &Value) -> Result<(), StoreError> {
        if self.down {
            return Err(StoreError::Transient("queue unreachable".into()));
        }
        self.sent
            .lock()
            .expect("lock")
            .push((function, body.clone()));
        Ok(())
    }
}

/// Count 1..=20 for Cover; anything for the rest.
fn check(function: FunctionName, params: &Value) -> Result<(), JobError> {
    match (function, params.get("Count")) {
        (FunctionName::Cover, Some(n)) if !(1..=20).contains(&n.as_i64().unwrap_or(0)) => Err(
            JobError::param("Count", format!("{n} is out of range 1..=20")),
        ),
        _ => Ok(()),
    }
}

fn schema(function: FunctionName) -> Option<Value> {
    (function == FunctionName::Cover).then(|| json!({"type": "object"}))
}

struct Fixture {
    app: axum::Router,
    queues: Queues,
}

fn fixture(inputs: Inputs, queues: Queues) -> Fixture {
    keyed_fixture(inputs, queues, iprod_api::alibaba::Signatures::Any)
}

fn keyed_fixture(
    inputs: Inputs,
    queues: Queues,
    signatures: iprod_api::alibaba::Signatures,
) -> Fixture {
    let objects = MemoryObjectStore::default();
    objects.insert("s3://in/clips/a.mp4", b"media".to_vec());
    let jobs = ObjectJobStore::new(
        objects.clone(),
        MediaLocation::parse("s3://state/jobs/", "root").expect("root"),
    );
    let default_outputs = HashMap::from([(
        FunctionName::Cover,
        OutputTemplate::parse("s3://out/cover/{source}/").expect("output"),
    )]);
    let app = router(Api {
        jobs,
        dispatch: queues.clone(),
        objects,
        settings: Settings {
            inputs,
            outputs: Inputs::Buckets(vec!["out".into()]),
            default_outputs,
            check,
            schema,
            signatures,
        },
    });
    Fixture { app, queues }
}

/// The API over a served folder, `root`.
fn folder_fixture(root: &std::path::Path) -> Fixture {
    let objects = iprod_api::local::ServedFolder::new(root).expect("folder");
    let queues = Queues::default();
    let app = router(Api {
        jobs: ObjectJobStore::new(
            iprod_core::adapters::fs::FsObjectStore,
            MediaLocation::Local(objects.root().join(".iprod/jobs")),
        ),
        dispatch: queues.clone(),
        objects: objects.clone(),
        settings: Settings {
            inputs: Inputs::Folder(objects.root().to_path_buf()),
            outputs: Inputs::Folder(objects.root().to_path_buf()),
            default_outputs: HashMap::from([(
                FunctionName::Cover,
                OutputTemplate::parse(&format!("{}/out/{{source}}/", objects.root().display()))
                    .expect("output"),
            )]),
            check,
            schema,
            signatures: iprod_api::alibaba::Signatures::Any,
        },
    });
    Fixture { app, queues }
}

fn deployed() -> Fixture {
    fixture(Inputs::Buckets(vec!["in".into()]), Queues::default())
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(
        json["RequestId"].as_str().is_some_and(|id| id.len() == 36),
        "{json}"
    );
    (status, json)
}

async fn submit(app: &axum::Router, body: Value) -> (StatusCode, Value) {
    call(app, "POST", "/jobs", Some(body)).await
}

#[tokio::test]
async fn a_submission_is_checked_recorded_queued_and_queryable() {
    let f = deployed();
    let (status, answer) = submit(
        &f.app,
        json!({"FunctionName": "Cover", "Input": "s3://in/clips/a.mp4", "JobParams": {"Count": 3}, "UserData": "order-7"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let id = answer["JobId"].as_str().expect("JobId").to_owned();

    let sent = f.queues.sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, FunctionName::Cover);
    assert_eq!(sent[0].1["JobId"], id.as_str());
    assert_eq!(
        sent[0].1["Output"], "s3://out/cover/{source}/",
        "the default output"
    );
    assert_eq!(sent[0].1["JobParams"]["Count"], 3);

    let (status, answer) = call(&f.app, "GET", &format!("/jobs/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Job"]["State"], "Queuing");
    assert_eq!(answer["Job"]["UserData"], "order-7");

    let (status, answer) = call(&f.app, "GET", &format!("/jobs?JobIds={id},nope"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Jobs"][0]["JobId"], id.as_str());
    assert_eq!(answer["NonExistJobIds"], json!(["nope"]));
}

#[tokio::test]
async fn what_a_function_would_refuse_is_refused_at_the_door_and_nothing_is_queued() {
    let f = deployed();
    let cases = [
        (
            json!({"FunctionName": "Thumbnail", "Input": "s3://in/clips/a.mp4"}),
            StatusCode::BAD_REQUEST,
            "UnsupportedFunction",
            "Thumbnail",
        ),
        (
            json!({"FunctionName": "VideoDelogo", "Input": "s3://in/clips/a.mp4"}),
            StatusCode::BAD_REQUEST,
            "UnsupportedFunction",
            "not deployed",
        ),
        (
            json!({"FunctionName": "Cover", "Input": "s3://in/clips/a.mp4", "JobParams": {"Count": 99}}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Count",
        ),
        (
            json!({"FunctionName": "Cover", "Input": "s3://in/clips/missing.mp4"}),
            StatusCode::NOT_FOUND,
            "InputNotFound",
            "missing.mp4",
        ),
        (
            json!({"FunctionName": "Cover", "Input": "s3://other/clips/a.mp4"}),
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "s3://other",
        ),
        (
            json!({"FunctionName": "Cover", "Input": "https://example.com/a.mp4"}),
            StatusCode::BAD_REQUEST,
            "InvalidMessage",
            "https://",
        ),
        (
            json!({"FunctionName": "Cover", "Input": "/etc/passwd"}),
            StatusCode::BAD_REQUEST,
            "InvalidMessage",
            "/etc/passwd",
        ),
        (
            json!({"FunctionName": "AudioBeatDetection", "Input": "s3://in/clips/a.mp4"}),
            StatusCode::BAD_REQUEST,
            "InvalidOutput",
            "Output",
        ),
        (
            json!({"FunctionName": "Cover"}),
            StatusCode::BAD_REQUEST,
            "InvalidMessage",
            "Input",
        ),
        (
            json!(["not", "an", "object"]),
            StatusCode::BAD_REQUEST,
            "InvalidMessage",
            "",
        ),
    ];
    for (body, status, code, says) in cases {
        let (got, answer) = submit(&f.app, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["Code"], code, "{body}: {answer}");
        assert!(
            answer["Message"].as_str().is_some_and(|m| m.contains(says)),
            "{body}: {answer}"
        );
    }
    assert!(f.queues.sent.lock().expect("lock").is_empty());
    let (_, list) = call(&f.app, "GET", "/jobs", None).await;
    assert_eq!(list["Jobs"], json!([]), "nothing recorded either");

    // Not JSON, and too large.
    let request = Request::builder()
        .method("POST")
        .uri("/jobs")
        .body(Body::from(vec![b'x'; 300 * 1024]))
        .expect("request");
    let response = f.app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_job_that_cannot_be_queued_is_not_left_queuing() {
    let f = fixture(
        Inputs::Buckets(vec!["in".into()]),
        Queues {
            down: true,
            ..Queues::default()
        },
    );
    let (status, answer) = submit(
        &f.app,
        json!({"FunctionName": "Cover", "Input": "s3://in/clips/a.mp4", "JobId": "try-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    let (_, answer) = call(&f.app, "GET", "/jobs/try-1", None).await;
    assert_eq!(answer["Job"]["State"], "Fail", "{answer}");
}

#[tokio::test]
async fn lists_page_and_filter_and_cancel_refuses_started_jobs() {
    let f = deployed();
    let mut ids = Vec::new();
    for n in 0..5 {
        let (_, answer) = submit(
            &f.app,
            json!({"FunctionName": "Cover", "Input": "s3://in/clips/a.mp4", "JobId": format!("job-{n}")}),
        )
        .await;
        ids.push(answer["JobId"].as_str().expect("id").to_owned());
        // Distinct creation times (records keep milliseconds).
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let (status, first) = call(&f.app, "GET", "/jobs?MaxResults=2&FunctionName=cover", None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let token = first["NextToken"].as_str().expect("a next page");
    assert_eq!(first["Jobs"][0]["JobId"], "job-4", "newest first");
    let (_, second) = call(
        &f.app,
        "GET",
        &format!("/jobs?MaxResults=2&NextToken={token}"),
        None,
    )
    .await;
    assert_eq!(second["Jobs"][0]["JobId"], "job-2");

    let (status, answer) = call(&f.app, "POST", "/jobs/job-1/cancel", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["Job"]["State"], "Fail");
    assert_eq!(answer["Job"]["Code"], "Cancelled");
    let (status, answer) = call(&f.app, "POST", "/jobs/job-1/cancel", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["Code"], "JobStarted");
    let (status, _) = call(&f.app, "POST", "/jobs/nope/cancel", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, failed) = call(&f.app, "GET", "/jobs?State=Fail", None).await;
    assert_eq!(failed["Jobs"].as_array().map(Vec::len), Some(1), "{failed}");

    for (query, names) in [
        ("State=Done", "State"),
        ("MaxResults=0", "MaxResults"),
        ("MaxResults=101", "MaxResults"),
        ("From=yesterday", "From"),
        ("From=2026-12-06T10:00:00Z&To=2026-12-05T10:00:00Z", "From"),
        ("FunctionName=Thumbnail", "FunctionName"),
        ("NextToken=forged", "NextToken"),
        ("Colour=red", "Colour"),
    ] {
        let (status, answer) = call(&f.app, "GET", &format!("/jobs?{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert!(
            answer["Message"]
                .as_str()
                .is_some_and(|m| m.contains(names)),
            "{query}: {answer}"
        );
    }
    let (status, answer) = call(&f.app, "GET", "/jobs/..%2F..%2Fetc%2Fpasswd", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
}

#[tokio::test]
async fn a_served_folder_gives_out_files_inside_it_only() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("clips")).expect("mkdir");
    std::fs::write(root.path().join("clips/a.mp4"), b"media").expect("write");
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret.mp4"), b"secret").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        outside.path().join("secret.mp4"),
        root.path().join("link.mp4"),
    )
    .expect("symlink");
    let Fixture { app, queues } = folder_fixture(root.path());
    let (status, answer) = submit(
        &app,
        json!({"FunctionName": "Cover", "Input": "clips/a.mp4"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let sent = queues.sent.lock().expect("lock").clone();
    let input = sent[0].1["Input"].as_str().expect("input").to_owned();
    assert!(
        input.ends_with("clips/a.mp4") && input.starts_with('/'),
        "{input}"
    );
    for given in [
        "../secret.mp4",
        "clips/../../secret.mp4",
        &outside.path().join("secret.mp4").display().to_string(),
        "link.mp4",
        "file:///etc/passwd",
        "s3://in/clips/a.mp4",
    ] {
        let (status, answer) = submit(&app, json!({"FunctionName": "Cover", "Input": given})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{given}: {answer}");
        assert_eq!(answer["Code"], "AccessDenied", "{given}: {answer}");
    }
    for output in ["../elsewhere/", "/tmp/x/", "s3://out/x/", "link.mp4/x/"] {
        let (status, answer) = submit(
            &app,
            json!({"FunctionName": "Cover", "Input": "clips/a.mp4", "Output": output}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{output}: {answer}");
    }
    let (status, answer) = submit(
        &app,
        json!({"FunctionName": "Cover", "Input": "clips/a.mp4", "Output": "results/{source}/"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let sent = queues.sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 2);
    let output = sent[1].1["Output"].as_str().expect("output");
    assert!(
        output.starts_with('/') && output.ends_with("results/{source}/"),
        "{output}"
    );
}

#[tokio::test]
async fn functions_lists_what_is_routed_with_its_params_schema() {
    let f = deployed();
    let (status, answer) = call(&f.app, "GET", "/functions", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = answer["Functions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|f| f["FunctionName"].as_str())
        .collect();
    assert_eq!(names, ["Cover", "AudioBeatDetection"]);
    assert_eq!(answer["Functions"][0]["Params"]["type"], "object");
}

async fn raw(app: &axum::Router, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, bytes.to_vec())
}

#[tokio::test]
async fn uploads_get_a_link_and_an_input_name_outside_the_processing_prefixes() {
    let f = deployed();
    let (status, answer) = call(
        &f.app,
        "POST",
        "/uploads",
        Some(json!({"FileName": "../../My Clip (1).mp4", "ContentType": "video/mp4"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let input = answer["Input"].as_str().expect("input");
    assert!(
        input.starts_with("s3://in/uploads/") && input.ends_with("/My_Clip__1_.mp4"),
        "{input}"
    );
    assert_eq!(answer["Upload"]["Method"], "PUT");
    assert!(
        answer["Upload"]["Url"]
            .as_str()
            .is_some_and(|u| u.contains(input)),
        "{answer}"
    );
    assert_eq!(answer["Upload"]["Headers"]["content-type"], "video/mp4");
    let (status, _) = call(&f.app, "GET", "/files/clips/a.mp4", None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deployment serves no files"
    );
}

#[tokio::test]
async fn a_served_folder_takes_uploads_and_gives_files_inside_it_only() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("clips")).expect("mkdir");
    std::fs::write(root.path().join("clips/a.mp4"), b"media").expect("write");
    std::fs::create_dir_all(root.path().join(".iprod/jobs")).expect("mkdir");
    std::fs::write(root.path().join(".iprod/jobs/x.json"), b"{}").expect("write");
    let Fixture { app, .. } = folder_fixture(root.path());
    let (status, answer) = call(
        &app,
        "POST",
        "/uploads",
        Some(json!({"FileName": "new.mp4"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let input = answer["Input"].as_str().expect("input").to_owned();
    let url = answer["Upload"]["Url"].as_str().expect("url").to_owned();
    assert_eq!(url, format!("/files/{input}"));
    let (status, _) = raw(&app, "PUT", &url, b"uploaded bytes".to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, bytes) = raw(&app, "GET", &url, Vec::new()).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, &b"uploaded bytes"[..])
    );
    // Ranges, so that a video can be sought in.
    let request = Request::builder()
        .uri(&url)
        .header("range", "bytes=9-13")
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let part = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&part[..], b"bytes");
    let (status, _) = raw(&app, "PUT", &url, b"again".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an upload never overwrites");
    for (method, uri) in [
        ("PUT", "/files/clips/b.mp4"),
        ("PUT", "/files/uploads/..%2F..%2Fescape.mp4"),
        ("PUT", "/files/uploads/x/..%2F..%2Fclips%2Fa.mp4"),
        ("GET", "/files/..%2F..%2Fetc%2Fpasswd"),
        ("GET", "/files/.iprod/jobs/x.json"),
        ("GET", "/files/clips"),
    ] {
        let (status, body) = raw(&app, method, uri, b"x".to_vec()).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{method} {uri}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert_eq!(
        std::fs::read(root.path().join("clips/a.mp4")).expect("read"),
        b"media"
    );

    // The uploaded file is an input; the job's record links to it.
    let (status, answer) = submit(&app, json!({"FunctionName": "Cover", "Input": input})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let id = answer["JobId"].as_str().expect("id");
    let (_, job) = call(&app, "GET", &format!("/jobs/{id}"), None).await;
    let links: Vec<&str> = job["Links"]
        .as_object()
        .expect("links")
        .values()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(links, [url.as_str()], "{job}");
}

/// A version 1.0 signature of `params` with `secret`, as the older SDKs
/// make it.
fn sign_v1(params: &mut Vec<(String, String)>, secret: &str) {
    use base64::Engine;
    use hmac::Mac;
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let encode = |s: &str| percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string();
    let mut sorted = params.clone();
    sorted.sort();
    let canonical: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let to_sign = format!("POST&%2F&{}", encode(&canonical.join("&")));
    let mut mac =
        hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("key");
    mac.update(to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    params.push(("Signature".into(), signature));
}

#[tokio::test]
async fn a_signed_alibaba_request_is_accepted_once() {
    let Fixture { app, queues } = keyed_fixture(
        Inputs::Buckets(vec!["in".into()]),
        Queues::default(),
        iprod_api::alibaba::Signatures::Keys(
            iprod_api::alibaba::AccessKeys::parse("AKID:SECRET").expect("keys"),
        ),
    );
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut params: Vec<(String, String)> = [
        ("Action", "SubmitIProductionJob"),
        ("FunctionName", "Cover"),
        ("Input", "oss://in/clips/a.mp4"),
        ("Version", "2014-06-18"),
        ("Format", "JSON"),
        ("Timestamp", now.as_str()),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "5f1c0c5e-7e2b-4c55-9d0a-1b2c3d4e5f60"),
        ("AccessKeyId", "AKID"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    sign_v1(&mut params, "SECRET");
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    let uri = format!("/?{}", query.join("&"));
    let (status, answer) = call(&app, "POST", &uri, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["Result"], "");
    let (status, answer) = call(&app, "POST", &uri, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["Code"], "SignatureNonceUsed");
    assert_eq!(
        queues.sent.lock().expect("lock").len(),
        1,
        "the replay queued nothing"
    );
}
