//! The job layer against DynamoDB, S3, SQS and SNS on moto: records change
//! state by conditional writes, and a job touches only the buckets its
//! function is configured for.

use std::sync::Arc;
use std::time::Duration;

use iprod::capabilities::cover::Cover;
use iprod_tests::{media, World};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

async fn run_messages(world: &World, messages: &[Value]) -> anyhow::Result<Value> {
    let handler = world.handler(Arc::new(Cover))?;
    let submitter = iprod::adapters::sqs::SqsSubmitter::new(world.sqs.clone(), &world.queue_url);
    for message in messages {
        submitter.submit(message).await?;
    }
    let mut records = Vec::new();
    while records.len() < messages.len() {
        let got = world.receive(&world.queue_url, WAIT).await?;
        if got.is_empty() {
            break;
        }
        records.extend(got);
    }
    assert_eq!(records.len(), messages.len());
    Ok(handler.handle(World::sqs_event(records), None).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deliveries_at_once_do_the_work_once() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = Arc::new(world.handler(Arc::new(Cover))?);
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("input/clip.mp4", &clip).await?;
    let records = world.receive(&world.queue_url, WAIT).await?;
    assert_eq!(records.len(), 1);
    let event = World::sqs_event(records);
    let (a, b) = tokio::join!(
        handler.handle(event.clone(), None),
        handler.handle(event.clone(), None)
    );
    let retried: usize = [a?, b?]
        .iter()
        .map(|r| r["batchItemFailures"].as_array().map_or(0, Vec::len))
        .sum();
    let notes = world.notifications(WAIT).await?;
    assert_eq!(notes.len(), 1, "one notification: {notes:?}");
    assert_eq!(notes[0]["State"], "Success");
    let records = world.records().await?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["State"], "Success");
    assert!(records[0].get("Lease").is_none(), "{}", records[0]);
    // The table's time to live removes the record 90 days after creation.
    let items = world
        .dynamodb
        .scan()
        .table_name(&world.job_table)
        .send()
        .await?
        .items
        .unwrap_or_default();
    let expires: i64 = items[0]
        .get("ExpiresAt")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    let created = chrono::DateTime::parse_from_rfc3339(
        records[0]["CreateTime"].as_str().unwrap_or_default(),
    )?;
    assert_eq!(expires - created.timestamp(), 90 * 86_400);
    // Either the second delivery found the job running (and asks to be
    // retried later) or found it finished; never did it run it again.
    assert!(retried <= 1);
    let covers = world.keys(&world.output_bucket).await?;
    assert_eq!(covers.iter().filter(|k| k.ends_with(".jpg")).count(), 2);
    // The retried delivery, later, finds the job done.
    let again = handler.handle(event, None).await?;
    World::assert_no_retries(&again);
    assert!(world
        .notifications(Duration::from_millis(1500))
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reads_only_input_buckets_and_writes_only_output_buckets() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    // A bucket of the same account that the function is not configured for.
    let foreign = format!("{}-foreign", world.input_bucket);
    world.s3.create_bucket().bucket(&foreign).send().await?;
    let body = aws_sdk_s3::primitives::ByteStream::from_path(&clip).await?;
    world
        .s3
        .put_object()
        .bucket(&foreign)
        .key("secret.mp4")
        .body(body)
        .send()
        .await?;
    let input = format!("s3://{}/library/clip.mp4", world.input_bucket);
    let cases = [
        (
            "foreign-input",
            json!({"FunctionName": "Cover", "Input": format!("s3://{foreign}/secret.mp4")}),
            "AccessDenied",
        ),
        (
            "local-input",
            json!({"FunctionName": "Cover", "Input": "file:///etc/passwd"}),
            "AccessDenied",
        ),
        (
            "foreign-output",
            json!({"FunctionName": "Cover", "Input": input, "Output": format!("s3://{foreign}/covers/")}),
            "InvalidOutput",
        ),
        (
            "input-bucket-output",
            json!({"FunctionName": "Cover", "Input": input, "Output": format!("s3://{}/library/", world.input_bucket)}),
            "InvalidOutput",
        ),
    ];
    let messages: Vec<Value> = cases
        .iter()
        .map(|(id, m, _)| {
            let mut m = m.clone();
            m["JobId"] = json!(id);
            m
        })
        .collect();
    let response = run_messages(&world, &messages).await?;
    World::assert_no_retries(&response);
    for (id, _, code) in &cases {
        let record = world.record(id).await?;
        assert_eq!(record["State"], "Fail", "{record}");
        assert_eq!(record["Code"], *code, "{id}: {record}");
    }
    let message = world.record("foreign-input").await?["Message"].clone();
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains(&foreign) && m.contains(&world.input_bucket)),
        "names the input and the buckets allowed: {message}"
    );
    // Nothing was written anywhere but where allowed.
    assert!(world.keys(&world.output_bucket).await?.is_empty());
    assert_eq!(world.keys(&foreign).await?, vec!["secret.mp4"]);
    assert_eq!(
        world.keys(&world.input_bucket).await?,
        vec!["library/clip.mp4"]
    );
    assert!(!world.notifications(WAIT).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_to_a_bucket_not_configured_is_refused() -> anyhow::Result<()> {
    let world = World::new().await?;
    let handler = world.handler(Arc::new(Cover))?;
    let event = json!({"Records": [{
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "someone-elses-bucket"},
               "object": {"key": "input/clip.mp4", "eTag": "e1"}}
    }]});
    let out = handler.handle(event, None).await?;
    let jobs = out["Jobs"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 1, "{out}");
    assert_eq!(jobs[0]["State"], "Fail");
    assert_eq!(jobs[0]["Code"], "AccessDenied", "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_cannot_overwrite_the_record_of_another_job() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "clip.mp4")?;
    world.upload("library/clip.mp4", &clip).await?;
    let input = format!("s3://{}/library/clip.mp4", world.input_bucket);
    let first =
        json!({"FunctionName": "Cover", "Input": input, "JobId": "victim", "UserData": "mine"});
    World::assert_no_retries(&run_messages(&world, &[first]).await?);
    let victim = world.record("victim").await?;
    assert_eq!(victim["State"], "Success");
    // The same JobId with other content, and a malformed message with it.
    let second = json!({"FunctionName": "Cover", "Input": input, "JobId": "victim", "UserData": "theirs",
                        "JobParams": {"Count": 5}});
    let third = json!({"FunctionName": "Cover", "Input": "s3://", "JobId": "victim"});
    World::assert_no_retries(&run_messages(&world, &[second, third]).await?);
    let after = world.record("victim").await?;
    assert_eq!(after, victim, "the finished record is never rewritten");
    let notes = world.notifications(WAIT).await?;
    assert_eq!(
        notes.iter().filter(|n| n["JobId"] == "victim").count(),
        1,
        "{notes:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_ends_a_job_whose_process_died_and_removes_its_partial_files(
) -> anyhow::Result<()> {
    use iprod::domain::{FunctionName, Job, JobId, JobRecord, JobState, Lease, MediaLocation};
    use iprod::ports::{Claim, JobStore};

    let world = World::new().await?;
    let dlq_url = world
        .sqs
        .create_queue()
        .queue_name(format!("{}-dlq", world.job_table))
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = "arn:aws:sqs:us-east-1:123456789012:cover-dlq";
    let mut config = world.config()?;
    config.dead_letter_arn = Some(dlq_arn.to_owned());
    let handler = iprod::lambda::aws_handler_with(&world.sdk, &config, Arc::new(Cover));
    let jobs = iprod::adapters::dynamodb::DynamoJobStore::new(
        world.dynamodb.clone(),
        &world.job_table,
        None,
    );
    let input = format!("s3://{}/library/clip.mp4", world.input_bucket);
    let partial = format!("s3://{}/covers/clip-1.jpg", world.output_bucket);
    world
        .s3
        .put_object()
        .bucket(&world.output_bucket)
        .key("covers/clip-1.jpg")
        .body(b"half a jpeg".to_vec().into())
        .send()
        .await?;
    // Two jobs whose attempts held them: one died (its lease has ended),
    // one is still running.
    let now = chrono::Utc::now();
    for (id, until) in [
        ("killed", now - chrono::Duration::seconds(1)),
        ("running", now + chrono::Duration::minutes(10)),
    ] {
        let job = Job {
            id: JobId::try_from(id.to_owned())?,
            function: FunctionName::Cover,
            input: MediaLocation::parse(&input, "Input")?,
            output: config.default_output.clone(),
            params: json!({}),
            user_data: None,
            create_time: now,
        };
        let mut record = JobRecord::new(&job, JobState::Analyzing);
        record.lease = Some(Lease::new(until));
        if id == "killed" {
            record.pending_files = vec![partial.clone()];
        }
        assert_eq!(jobs.claim(&record, now).await?, Claim::Started);
    }
    let submitter = iprod::adapters::sqs::SqsSubmitter::new(world.sqs.clone(), &dlq_url);
    for id in ["killed", "running"] {
        submitter
            .submit(&json!({"FunctionName": "Cover", "Input": input, "JobId": id}))
            .await?;
    }
    let mut records = Vec::new();
    while records.len() < 2 {
        let got = world.receive(&dlq_url, WAIT).await?;
        if got.is_empty() {
            break;
        }
        records.extend(got);
    }
    for record in &mut records {
        record["eventSourceARN"] = json!(dlq_arn);
    }
    let response = handler
        .handle(World::sqs_event(records.clone()), None)
        .await?;
    assert_eq!(
        response["batchItemFailures"].as_array().map(Vec::len),
        Some(1),
        "the running job's dead letter waits: {response}"
    );
    let killed = world.record("killed").await?;
    assert_eq!(killed["State"], "Fail", "{killed}");
    assert_eq!(killed["Code"], "Abandoned");
    let message = killed["Message"].as_str().unwrap_or_default();
    assert!(
        message.contains("killed, out of memory or out of time"),
        "{message}"
    );
    assert!(killed.get("PendingFiles").is_none() && killed.get("Lease").is_none());
    assert!(
        world.keys(&world.output_bucket).await?.is_empty(),
        "the partial file is gone"
    );
    assert_eq!(world.record("running").await?["State"], "Analyzing");
    let notes = world.notifications(WAIT).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["JobId"], "killed");
    assert_eq!(notes[0]["Code"], "Abandoned");
    // A second delivery of the dead letter changes nothing.
    handler.handle(World::sqs_event(records), None).await?;
    assert!(world
        .notifications(Duration::from_millis(1500))
        .await?
        .is_empty());
    assert_eq!(
        world.record("killed").await?["FinishTime"],
        killed["FinishTime"]
    );
    Ok(())
}

/// A `Queuing` record of `function` created `minutes` after a fixed time.
fn queued(function: &str, minutes: i64, n: usize) -> anyhow::Result<iprod::domain::JobRecord> {
    use iprod::domain::{Job, JobId, JobRecord, JobState, MediaLocation, OutputTemplate};
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")?.to_utc();
    let job = Job {
        id: JobId::try_from(format!("list-{n:03}"))?,
        function: function.parse()?,
        input: MediaLocation::parse("s3://in/clip.mp4", "Input")?,
        output: OutputTemplate::parse("s3://out/{source}/")?,
        params: json!({}),
        user_data: None,
        create_time: start + chrono::Duration::minutes(minutes),
    };
    Ok(JobRecord::new(&job, JobState::Queuing))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_newest_first_by_function_state_and_time_and_cancel_only_queued_jobs(
) -> anyhow::Result<()> {
    use iprod::adapters::dynamodb::DynamoJobStore;
    use iprod::domain::{JobFilter, JobState};
    use iprod::ports::{Cancel, JobStore};
    let world = World::new().await?;
    let jobs = DynamoJobStore::new(world.dynamodb.clone(), &world.job_table, None);
    // 25 jobs a minute apart: Cover, Cover, AudioBeatDetection, ...
    let functions = ["Cover", "Cover", "AudioBeatDetection"];
    for n in 0..25 {
        let record = queued(functions[n % 3], n as i64, n)?;
        assert!(jobs.create(&record).await?);
    }
    // A signed request's nonce is good once, and is not a job: lists below
    // do not see it.
    use iprod::ports::Nonces;
    let until = chrono::Utc::now() + chrono::Duration::minutes(30);
    assert!(jobs.first_use("AKID:nonce-1", until).await?);
    assert!(!jobs.first_use("AKID:nonce-1", until).await?);
    assert!(jobs.first_use("AKID:nonce-2", until).await?);
    // Every job, newest first, in pages of 10: 10, 10, 5, then no token.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = jobs
            .list(&JobFilter::default(), 10, token.as_deref())
            .await?;
        pages += 1;
        seen.extend(page.records.iter().map(|r| r.job_id.to_string()));
        token = page.next_token;
        if token.is_none() || pages > 5 {
            break;
        }
    }
    let want: Vec<String> = (0..25).rev().map(|n| format!("list-{n:03}")).collect();
    assert_eq!(seen, want);
    assert!(pages <= 4, "{pages} pages");

    // By function, and within a time range.
    let filter = JobFilter {
        function: Some("AudioBeatDetection".parse()?),
        from: Some(chrono::DateTime::parse_from_rfc3339("2026-12-01T10:05:00Z")?.to_utc()),
        to: Some(chrono::DateTime::parse_from_rfc3339("2026-12-01T10:14:00Z")?.to_utc()),
        ..JobFilter::default()
    };
    let page = jobs.list(&filter, 10, None).await?;
    let ids: Vec<String> = page.records.iter().map(|r| r.job_id.to_string()).collect();
    assert_eq!(ids, ["list-014", "list-011", "list-008", "list-005"]);

    // Cancel: a queued job becomes Fail/Cancelled; a started one is left.
    let id = iprod::domain::JobId::try_from("list-024".to_owned())?;
    let Cancel::Cancelled(cancelled) = jobs.cancel(&id, chrono::Utc::now()).await? else {
        anyhow::bail!("list-024 was queuing");
    };
    assert_eq!(cancelled.state, JobState::Fail);
    assert_eq!(
        cancelled.code.map(iprod::domain::JobCode::as_str),
        Some("Cancelled")
    );
    assert_eq!(world.record("list-024").await?["State"], "Fail");
    assert!(matches!(
        jobs.cancel(&id, chrono::Utc::now()).await?,
        Cancel::TooLate(_)
    ));
    let started = iprod::domain::JobId::try_from("list-023".to_owned())?;
    let mut record = jobs.get(&started).await?.expect("record");
    record.state = JobState::Analyzing;
    record.lease = Some(iprod::domain::Lease::new(
        chrono::Utc::now() + chrono::Duration::minutes(5),
    ));
    assert!(matches!(
        jobs.claim(&record, chrono::Utc::now()).await?,
        iprod::ports::Claim::Started
    ));
    let Cancel::TooLate(left) = jobs.cancel(&started, chrono::Utc::now()).await? else {
        anyhow::bail!("a started job is not cancelled");
    };
    assert_eq!(left.state, JobState::Analyzing);
    let missing = iprod::domain::JobId::try_from("list-999".to_owned())?;
    assert_eq!(
        jobs.cancel(&missing, chrono::Utc::now()).await?,
        Cancel::Missing
    );

    // A state filter reads past what it drops: the one Fail job, then none.
    let failed = JobFilter {
        state: Some(JobState::Fail),
        ..JobFilter::default()
    };
    let page = jobs.list(&failed, 5, None).await?;
    let ids: Vec<String> = page.records.iter().map(|r| r.job_id.to_string()).collect();
    assert_eq!(ids, ["list-024"]);

    // A token from another list, or made up, is refused by name.
    let cover = JobFilter {
        function: Some("Cover".parse()?),
        ..JobFilter::default()
    };
    let first = jobs.list(&cover, 2, None).await?;
    let token = first.next_token.expect("more Cover jobs");
    let err = jobs
        .list(&JobFilter::default(), 2, Some(&token))
        .await
        .expect_err("token of another index");
    assert!(
        matches!(err, iprod::ports::StoreError::BadToken(_)),
        "{err}"
    );
    assert!(jobs.list(&cover, 2, Some("7b7d")).await.is_err());
    Ok(())
}
