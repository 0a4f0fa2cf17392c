//! The hostile corpus (`scripts/hostile-corpus`) against every function,
//! through the deployed handler on moto: each case ends with the Code it
//! names, one notification per job, nothing written where it must not be,
//! no temp path in a message, and no panic or retry.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use iprod::capabilities;
use iprod::domain::{FunctionName, JobId};
use iprod_tests::World;
use serde_json::{json, Value};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:queue";

fn corpus(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/hostile-corpus");
    let status = std::process::Command::new("python3")
        .arg(script)
        .arg(dir)
        .status()?;
    anyhow::ensure!(status.success(), "scripts/hostile-corpus failed");
    let cases: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("cases.json"))?)?;
    Ok(cases)
}

fn fill(text: &str, vars: &BTreeMap<&str, String>) -> String {
    vars.iter().fold(text.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

fn fill_value(value: &Value, vars: &BTreeMap<&str, String>) -> Value {
    match value {
        Value::String(s) => Value::String(fill(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|v| fill_value(v, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), fill_value(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_ends_every_hostile_case_with_its_code() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cases = corpus(dir.path())?;
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let functions: Vec<FunctionName> = FunctionName::ALL
        .into_iter()
        .filter(|f| capabilities::for_function(*f).is_ok())
        .collect();
    let mut failures = Vec::new();
    let mut runs = 0;
    for function in functions {
        let capability = capabilities::for_function(function).map_err(|e| anyhow::anyhow!(e))?;
        let world = World::new().await?;
        let handler = world.handler(Arc::clone(&capability))?;
        let foreign = format!("{}-foreign", world.input_bucket);
        world.s3.create_bucket().bucket(&foreign).send().await?;
        world
            .s3
            .put_object()
            .bucket(&foreign)
            .key("secret.mp4")
            .body(b"secret".to_vec().into())
            .send()
            .await?;
        for file in std::fs::read_dir(dir.path().join("media"))? {
            let path = file?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            world
                .upload(&format!("library/{}", name.unwrap_or_default()), &path)
                .await?;
        }
        let other = if function == FunctionName::Cover {
            FunctionName::AudioBeatDetection
        } else {
            FunctionName::Cover
        };
        let vars = BTreeMap::from([
            ("function", function.as_str().to_owned()),
            ("other", other.as_str().to_owned()),
            ("input", world.input_bucket.clone()),
            ("output", world.output_bucket.clone()),
            ("foreign", foreign.clone()),
            ("key", "library/text.txt".to_owned()),
        ]);
        let mut jobs = 0;
        let mut successes: HashSet<String> = HashSet::new();
        for case in &cases {
            if let Some(only) = case["only"].as_array() {
                if !only.iter().any(|f| f == function.as_str()) {
                    continue;
                }
            }
            runs += 1;
            let name = case["name"].as_str().unwrap_or_default();
            let want = iprod::bench::hostile_expected(case, function);
            let tag = format!("{function}/{name}");
            let records: Vec<Value> = match case["kind"].as_str() {
                Some("media") => {
                    let job_id = format!("{}-{name}", function.as_str().to_lowercase());
                    let mut body = json!({
                        "FunctionName": function.as_str(),
                        "Input": format!("s3://{}/library/{}", world.input_bucket, case["file"].as_str().unwrap_or_default()),
                        "JobId": job_id,
                    });
                    if !case["params"].is_null() {
                        body["JobParams"] = fill_value(&case["params"], &vars);
                    }
                    let event = World::sqs_event(vec![World::sqs_record(
                        &tag,
                        &body.to_string(),
                        1,
                        QUEUE_ARN,
                    )]);
                    World::assert_no_retries(&handler.handle(event, None).await?);
                    vec![world.record(&job_id).await?]
                }
                Some("message") => {
                    let body = fill(case["body"].as_str().unwrap_or_default(), &vars);
                    let message_id = format!("{}-{name}", function.as_str());
                    let event =
                        World::sqs_event(vec![World::sqs_record(&message_id, &body, 1, QUEUE_ARN)]);
                    World::assert_no_retries(&handler.handle(event, None).await?);
                    let id = JobId::derived(&["sqs", &message_id]);
                    vec![world.record(id.as_str()).await?]
                }
                Some("event") => {
                    let payload = fill_value(&case["payload"], &vars);
                    let out = handler.handle(payload, None).await?;
                    out["Jobs"].as_array().cloned().unwrap_or_default()
                }
                other => anyhow::bail!("{tag}: unknown kind {other:?}"),
            };
            let got: Vec<String> = records
                .iter()
                .map(|r| r["Code"].as_str().unwrap_or_default().to_owned())
                .collect();
            let ok = if want == "Ignored" {
                got.is_empty()
            } else {
                got == [want.clone()]
            };
            if !ok {
                failures.push(format!("{tag}: expected {want}, got {got:?} {records:?}"));
            }
            for record in &records {
                jobs += 1;
                let message = record["Message"].as_str().unwrap_or_default();
                if message.is_empty() || message.contains("/tmp/") {
                    failures.push(format!("{tag}: message {message:?}"));
                }
                let state = if record["Code"] == "Success" {
                    successes.insert(record["JobId"].as_str().unwrap_or_default().to_owned());
                    "Success"
                } else {
                    "Fail"
                };
                if record["State"] != state {
                    failures.push(format!("{tag}: state {}", record["State"]));
                }
            }
        }
        // Outputs only of the jobs that succeeded; nothing in the other
        // buckets but what was uploaded.
        for key in world.keys(&world.output_bucket).await? {
            if !successes.iter().any(|id| key.contains(id.as_str())) {
                failures.push(format!("{function}: output {key} of a failed job"));
            }
        }
        assert_eq!(world.keys(&foreign).await?, vec!["secret.mp4"]);
        assert!(world
            .keys(&world.input_bucket)
            .await?
            .iter()
            .all(|k| k.starts_with("library/")));
        let mut notes = 0;
        loop {
            let got = world
                .notifications(Duration::from_millis(1500))
                .await?
                .len();
            if got == 0 {
                break;
            }
            notes += got;
        }
        if notes != jobs {
            failures.push(format!("{function}: {notes} notifications for {jobs} jobs"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}
