//! Lambda events to jobs, written once for every function.
//!
//! A function receives one of:
//! - an S3 `ObjectCreated` event (direct trigger);
//! - an SQS event whose bodies are S3 notifications (bucket → queue), SNS
//!   envelopes of those, or job messages (`SubmitIProductionJob` bodies);
//! - a job message invoked directly.
//!
//! S3-triggered jobs get a deterministic JobId (bucket, key, version or
//! ETag, FunctionName), so a duplicate event finds the job already done.
//! SQS batches report retryable failures only (`batchItemFailures`); a
//! malformed message becomes a `Fail` job with a notification, not a retry.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, LambdaEvent};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::adapters::aws;
use crate::adapters::dynamodb::DynamoJobStore;
use crate::adapters::s3::S3ObjectStore;
use crate::adapters::sns::SnsNotifier;
use iprod_core::capability::DynCapability;
use iprod_core::config::LambdaConfig;
use iprod_core::domain::{
    ErrorCode, FunctionName, Job, JobError, JobId, JobRecord, JobState, MediaLocation,
    OutputTemplate, SubmitMessage,
};
use iprod_core::pipeline::{Pipeline, PipelineSettings, RunOptions, Scope};
use iprod_core::ports::{JobStore, Links, LongJobs, Notifier, ObjectStore, Segmenter};

#[path = "steps.rs"]
mod steps;

/// How events become jobs.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// Output for jobs that name none.
    pub default_output: OutputTemplate,
    /// Params of S3-triggered jobs.
    pub default_params: Value,
    /// Only keys under this prefix trigger work.
    pub input_prefix: String,
    /// The queue's `maxReceiveCount`.
    pub max_receive_count: u32,
    /// The function's dead-letter queue: its messages end their jobs.
    pub dead_letter_arn: Option<String>,
    /// Seconds of input per segment of a long job.
    pub segment_s: f64,
    /// Inputs longer than this run in segments.
    pub split_above_s: f64,
}

impl From<&LambdaConfig> for EventSettings {
    fn from(c: &LambdaConfig) -> Self {
        Self {
            default_output: c.default_output.clone(),
            default_params: c.default_params.clone(),
            input_prefix: c.input_prefix.clone(),
            max_receive_count: c.max_receive_count,
            dead_letter_arn: c.dead_letter_arn.clone(),
            segment_s: c.segment_s,
            split_above_s: c.split_above_s,
        }
    }
}

/// Turns events into jobs and runs them through a pipeline.
pub struct Handler<O, J, N> {
    pipeline: Pipeline<O, J, N>,
    capability: Arc<dyn DynCapability>,
    events: EventSettings,
    /// Cuts and joins long media (the steps of a long job's state machine).
    segmenter: Option<Arc<dyn Segmenter>>,
    /// Starts the state machine of long jobs (with a segmenter).
    long_jobs: Option<Arc<dyn LongJobs>>,
}

impl<O, J, N> std::fmt::Debug for Handler<O, J, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("function", &self.capability.function())
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// The handler every deployed function uses: S3, DynamoDB job records, SNS.
pub type AwsHandler = Handler<S3ObjectStore, DynamoJobStore, SnsNotifier>;

/// Builds the AWS clients and handler from `config`, with credentials
/// and region from the environment.
pub async fn aws_handler(config: &LambdaConfig, capability: Arc<dyn DynCapability>) -> AwsHandler {
    let sdk = aws::sdk_config(config.endpoint_url.as_deref()).await;
    aws_handler_with(&sdk, config, capability)
}

/// Builds the handler from an SDK configuration made by the caller.
pub fn aws_handler_with(
    sdk: &aws_config::SdkConfig,
    config: &LambdaConfig,
    capability: Arc<dyn DynCapability>,
) -> AwsHandler {
    let path_style = config.endpoint_url.is_some();
    let objects = S3ObjectStore::new(aws::s3_client(sdk, path_style));
    let jobs = DynamoJobStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.job_table.clone(),
        Some(config.job_ttl),
    );
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(sdk), config.topic_arn.clone());
    let long_jobs = config.state_machine_arn.clone().map(|arn| {
        crate::adapters::sfn::SfnLongJobs::new(aws_sdk_sfn::Client::new(sdk), objects.clone(), arn)
    });
    let handler = Handler::new(
        Pipeline {
            objects,
            jobs,
            notifier,
            settings: PipelineSettings {
                limits: config.limits,
                work_dir: config.work_dir.clone(),
                protected: config.protected(),
                inputs: Scope::Buckets(config.input_buckets.clone()),
                outputs: Scope::Buckets(config.output_buckets.clone()),
                lease_margin: config.lease_margin,
                ..PipelineSettings::default()
            },
        },
        capability,
        EventSettings::from(config),
    );
    match long_jobs {
        Some(long_jobs) => handler.with_long_jobs(Arc::new(long_jobs)),
        None => handler,
    }
}

/// Runs a function: reads the configuration once, builds the clients once,
/// then serves invocations until the sandbox is recycled.
///
/// # Errors
/// A configuration error at cold start (naming the variable), or a runtime
/// API failure.
pub async fn serve(capability: Arc<dyn DynCapability>) -> Result<(), lambda_runtime::Error> {
    serve_with(capability, None).await
}

/// [`serve`], taking the steps of long jobs with `segmenter`.
///
/// # Errors
/// As [`serve`].
pub async fn serve_with(
    capability: Arc<dyn DynCapability>,
    segmenter: Option<Arc<dyn Segmenter>>,
) -> Result<(), lambda_runtime::Error> {
    iprod_core::telemetry::init(true, "info");
    let config = LambdaConfig::from_env()?;
    let mut handler = Box::pin(aws_handler(&config, capability)).await;
    if let Some(segmenter) = segmenter {
        handler = handler.with_segmenter(segmenter);
    }
    let handler = Arc::new(handler);
    // The job future is boxed: its type is deep enough to overflow the
    // compiler's layout query depth inside the runtime's generic loop.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        let job: std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Value, lambda_runtime::Diagnostic>> + Send>,
        > = Box::pin(async move {
            let deadline = deadline_instant(event.context.deadline);
            handler
                .handle(event.payload, deadline)
                .await
                .map_err(diagnostic)
        });
        job
    }))
    .await
}

/// A failed invocation as Lambda reports it: `errorType` says whether a
/// retry may help (`iprod.Retryable`, which a long job's state machine
/// retries) or not (`iprod.Permanent`); `errorMessage` is `CODE: message`.
fn diagnostic(e: JobError) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: if e.retryable {
            "iprod.Retryable"
        } else {
            "iprod.Permanent"
        }
        .to_owned(),
        error_message: e.to_string(),
    }
}

fn deadline_instant(deadline_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    (deadline_ms > now_ms).then(|| Instant::now() + Duration::from_millis(deadline_ms - now_ms))
}

// S3 records are parsed leniently: S3-compatible servers (and moto) leave
// out fields that real S3 sends, such as `userIdentity`.
#[derive(Debug, Deserialize)]
struct S3Notification {
    #[serde(rename = "Records", default)]
    records: Vec<S3Record>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    #[serde(default)]
    event_source: Option<String>,
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    s3: S3Entity,
    /// Whether the key is URL-encoded, as in S3's own notifications; keys
    /// in EventBridge events are not.
    #[serde(skip, default = "encoded")]
    key_encoded: bool,
}

fn encoded() -> bool {
    true
}

impl S3Record {
    /// The record of an EventBridge "Object Created" event from S3.
    fn from_eventbridge(event: &Value) -> Option<Self> {
        let detail = event.get("detail")?;
        let object = detail.get("object")?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            event_source: Some("aws:s3".into()),
            event_name: Some(format!(
                "ObjectCreated:{}",
                text(detail, "reason").unwrap_or_else(|| "Put".into())
            )),
            event_time: text(event, "time"),
            s3: S3Entity {
                bucket: S3Bucket {
                    name: text(detail.get("bucket")?, "name")?,
                },
                object: S3Object {
                    key: text(object, "key")?,
                    e_tag: text(object, "etag"),
                    version_id: text(object, "version-id"),
                    sequencer: text(object, "sequencer"),
                },
            },
            key_encoded: false,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Debug, Clone, Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Object {
    key: String,
    #[serde(default, rename = "eTag")]
    e_tag: Option<String>,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

/// Decodes an S3 event key: `+` is a space, `%XX` a byte.
pub fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// One record of an SQS event: a message, or what is left of one that
/// does not parse.
enum SqsRecord {
    Message(Box<SqsMessage>),
    Broken {
        message_id: Option<String>,
        error: String,
    },
}

/// An SQS event read record by record: message attributes (which the
/// handler does not use) are dropped, and a record that still does not
/// parse is that record's problem, never the batch's.
fn sqs_records(payload: Value) -> Vec<SqsRecord> {
    let records = match payload {
        Value::Object(mut map) => match map.remove("Records") {
            Some(Value::Array(records)) => records,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    records
        .into_iter()
        .map(|mut record| {
            if let Some(map) = record.as_object_mut() {
                map.remove("messageAttributes");
            }
            let message_id = record
                .get("messageId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match serde_json::from_value::<SqsMessage>(record) {
                Ok(message) => SqsRecord::Message(Box::new(message)),
                Err(e) => SqsRecord::Broken {
                    message_id,
                    error: e.to_string(),
                },
            }
        })
        .collect()
}

/// A message's body and id (`unknown` when it has none).
fn body_and_id(message: &SqsMessage) -> (&str, &str) {
    (
        message.body.as_deref().unwrap_or_default(),
        message.message_id.as_deref().unwrap_or("unknown"),
    )
}

/// What an SQS body or invocation payload holds.
#[derive(Debug)]
enum Payload {
    S3(Vec<S3Record>),
    Job(Box<SubmitMessage>),
    /// Nothing to do (S3 test event, other event types).
    Ignore(&'static str),
    /// Not a job; with the JobId it named, when that one is valid.
    Malformed(JobError, Option<JobId>),
}

fn classify_body(body: &str) -> Payload {
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => {
            return Payload::Malformed(
                JobError::permanent(
                    ErrorCode::InvalidMessage,
                    format!("message body is not JSON: {e}"),
                ),
                None,
            )
        }
    };
    classify_value(value)
}

fn classify_value(value: Value) -> Payload {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Payload::Ignore("S3 test event");
    }
    // An SNS envelope (bucket → topic → queue): unwrap and look inside;
    // SNS's own messages about the subscription are not jobs.
    match value.get("Type").and_then(Value::as_str) {
        Some("Notification") => {
            if let Some(inner) = value.get("Message").and_then(Value::as_str) {
                return classify_body(inner);
            }
        }
        Some("SubscriptionConfirmation" | "UnsubscribeConfirmation") => {
            return Payload::Ignore("SNS subscription message");
        }
        _ => {}
    }
    // EventBridge: S3's "Object Created" is an upload; any other event
    // (a schedule, another service) is not a job.
    if let (Some(source), Some(kind)) = (
        value.get("source").and_then(Value::as_str),
        value.get("detail-type").and_then(Value::as_str),
    ) {
        if source == "aws.s3" && kind == "Object Created" {
            return match S3Record::from_eventbridge(&value) {
                Some(record) => Payload::S3(vec![record]),
                None => Payload::Malformed(
                    JobError::permanent(
                        ErrorCode::InvalidMessage,
                        "EventBridge S3 event has no bucket or object key",
                    ),
                    None,
                ),
            };
        }
        return Payload::Ignore("EventBridge event that is not an S3 upload");
    }
    // HTTP events (API Gateway, function URLs) belong to the API function.
    if value.get("httpMethod").is_some()
        || value.get("requestContext").is_some()
        || value.get("routeKey").is_some()
    {
        return Payload::Ignore("HTTP event");
    }
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        // SNS delivered to the function: one record, its message inside.
        let sns = records
            .first()
            .and_then(|r| r.get("EventSource"))
            .and_then(Value::as_str)
            == Some("aws:sns");
        if sns {
            return match records.as_slice() {
                [record] => match record.pointer("/Sns/Message").and_then(Value::as_str) {
                    Some(message) => classify_body(message),
                    None => Payload::Malformed(
                        JobError::permanent(ErrorCode::InvalidMessage, "SNS event has no Message"),
                        None,
                    ),
                },
                _ => Payload::Malformed(
                    JobError::permanent(
                        ErrorCode::InvalidMessage,
                        format!(
                            "SNS event with {} records (SNS delivers one)",
                            records.len()
                        ),
                    ),
                    None,
                ),
            };
        }
        let is_s3 = records
            .first()
            .and_then(|r| r.get("eventSource"))
            .and_then(Value::as_str)
            == Some("aws:s3");
        if !is_s3 {
            return Payload::Malformed(
                JobError::permanent(
                    ErrorCode::InvalidMessage,
                    "event has Records, but they are not S3 records",
                ),
                None,
            );
        }
        return match serde_json::from_value::<S3Notification>(value) {
            Ok(n) => Payload::S3(n.records),
            Err(e) => Payload::Malformed(
                JobError::permanent(
                    ErrorCode::InvalidMessage,
                    format!("S3 event is malformed: {e}"),
                ),
                None,
            ),
        };
    }
    if value.get("FunctionName").is_some() {
        return match SubmitMessage::from_value(value.clone()) {
            Ok(m) => Payload::Job(Box::new(m)),
            Err(e) => {
                let id = value
                    .get("JobId")
                    .and_then(Value::as_str)
                    .and_then(|id| JobId::try_from(id.to_owned()).ok());
                Payload::Malformed(e, id)
            }
        };
    }
    Payload::Malformed(
        JobError::permanent(
            ErrorCode::InvalidMessage,
            "message is neither an S3 event nor a job message (no FunctionName)",
        ),
        None,
    )
}

impl<O: ObjectStore + Links, J: JobStore, N: Notifier> Handler<O, J, N> {
    /// A handler running `capability` through `pipeline`.
    pub fn new(
        pipeline: Pipeline<O, J, N>,
        capability: Arc<dyn DynCapability>,
        events: EventSettings,
    ) -> Self {
        Self {
            pipeline,
            capability,
            events,
            segmenter: None,
            long_jobs: None,
        }
    }

    /// The same handler, handing jobs over `EventSettings::split_above_s`
    /// to the state machine `long_jobs` starts (once it has a segmenter).
    #[must_use]
    pub fn with_long_jobs(mut self, long_jobs: Arc<dyn LongJobs>) -> Self {
        self.long_jobs = Some(long_jobs);
        self
    }

    /// When jobs are handed to the state machine of long jobs.
    fn long(&self) -> Option<iprod_core::pipeline::Long> {
        Some(iprod_core::pipeline::Long {
            jobs: self.long_jobs.clone()?,
            segmenter: self.segmenter.clone()?,
            above_s: self.events.split_above_s,
        })
    }

    /// The same handler, taking the steps of long jobs with `segmenter`.
    #[must_use]
    pub fn with_segmenter(mut self, segmenter: Arc<dyn Segmenter>) -> Self {
        self.segmenter = Some(segmenter);
        self
    }

    /// The pipeline (tests read its stores).
    pub fn pipeline(&self) -> &Pipeline<O, J, N> {
        &self.pipeline
    }

    fn function(&self) -> FunctionName {
        self.capability.function()
    }

    /// Handles any invocation payload. Returns the records of the jobs run
    /// (`{"Jobs": [...]}`), or an SQS batch response for SQS events.
    ///
    /// # Errors
    /// A retryable error for a direct (non-SQS) invocation, so that Lambda
    /// retries the event.
    pub async fn handle(
        &self,
        payload: Value,
        deadline: Option<Instant>,
    ) -> Result<Value, JobError> {
        let from_sqs = payload
            .get("Records")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(|r| r.get("eventSource"))
            .and_then(Value::as_str)
            == Some("aws:sqs");
        if from_sqs {
            let response = self.handle_records(sqs_records(payload), deadline).await;
            return serde_json::to_value(response).map_err(|e| {
                JobError::permanent(
                    ErrorCode::InternalError,
                    format!("serialising the batch response: {e}"),
                )
            });
        }
        if let Some(step) = payload.get("Step").and_then(Value::as_str) {
            let step = step.to_owned();
            return self.handle_step(&step, payload, deadline).await;
        }
        if payload.get("invocationSchemaVersion").is_some() && payload.get("tasks").is_some() {
            return Ok(self.handle_batch(&payload, deadline).await);
        }
        let raw = payload.to_string();
        let records = self
            .handle_payload(
                classify_value(payload),
                &raw,
                "invoke",
                None,
                deadline,
                true,
            )
            .await?;
        Ok(json!({ "Jobs": records }))
    }

    /// An S3 Batch Operations invocation (schema 1.0 or 2.0): each task's
    /// object is a job, answered in Batch Operations' format. A task whose
    /// job failed for good is a `PermanentFailure`; one that hit a
    /// transient fault a `TemporaryFailure`, which Batch Operations tries
    /// again. In 2.0, `userArguments` may hold `JobParams` (a JSON object
    /// as text) and `Output`; otherwise the function's upload defaults
    /// apply. A task's JobId comes from the batch job and the object, so a
    /// retried task is not redone and a new batch job runs again.
    async fn handle_batch(&self, payload: &Value, deadline: Option<Instant>) -> Value {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let version = text(payload, "invocationSchemaVersion").unwrap_or_else(|| "1.0".into());
        let invocation = text(payload, "invocationId").unwrap_or_default();
        let batch_job = payload
            .pointer("/job/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let arguments = payload
            .pointer("/job/userArguments")
            .cloned()
            .unwrap_or(Value::Null);
        let options = RunOptions {
            deadline,
            last_attempt: false,
            ..RunOptions::default()
        };
        let mut results = Vec::new();
        let tasks = payload
            .get("tasks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for task in &tasks {
            let task_id = text(task, "taskId").unwrap_or_default();
            let (code, detail) = match self.batch_job(task, &batch_job, &arguments) {
                Err(e) => ("PermanentFailure", format!("{}: {}", e.code, e.message)),
                Ok(job) => {
                    let id = job.id.clone();
                    match self
                        .pipeline
                        .run(self.capability.clone(), job, options.clone())
                        .await
                    {
                        Ok(record) if record.state == JobState::Success => (
                            "Succeeded",
                            format!("JobId {id}: {}", record.message.unwrap_or_default()),
                        ),
                        Ok(record) => (
                            "PermanentFailure",
                            format!(
                                "JobId {id}: {}: {}",
                                record.code.map(|c| c.as_str()).unwrap_or_default(),
                                record.message.unwrap_or_default()
                            ),
                        ),
                        Err(e) => (
                            "TemporaryFailure",
                            format!("JobId {id}: {}: {}", e.code, e.message),
                        ),
                    }
                }
            };
            results.push(json!({"taskId": task_id, "resultCode": code, "resultString": detail}));
        }
        json!({
            "invocationSchemaVersion": version,
            "treatMissingKeysAs": "PermanentFailure",
            "invocationId": invocation,
            "results": results,
        })
    }

    /// The job of one S3 Batch Operations task.
    fn batch_job(&self, task: &Value, batch_job: &str, arguments: &Value) -> Result<Job, JobError> {
        let invalid = |m: &str| JobError::permanent(ErrorCode::InvalidMessage, m.to_owned());
        let bucket = task
            .get("s3BucketName")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                task.get("s3BucketArn")
                    .and_then(Value::as_str)
                    .and_then(|arn| arn.rsplit(":::").next())
                    .map(str::to_owned)
            })
            .filter(|b| !b.is_empty())
            .ok_or_else(|| invalid("the task names no bucket"))?;
        let key = task
            .get("s3Key")
            .and_then(Value::as_str)
            .map(decode_key)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| invalid("the task names no object key"))?;
        let version = task
            .get("s3VersionId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let function = self.function();
        let params = match arguments.get("JobParams") {
            Some(Value::String(text)) => serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    JobError::permanent(
                        ErrorCode::InvalidParameter,
                        "userArguments JobParams must be a JSON object (as text)",
                    )
                })?,
            Some(other) => other.clone(),
            None => self.events.default_params.clone(),
        };
        let output = match arguments.get("Output").and_then(Value::as_str) {
            Some(template) => OutputTemplate::parse(template)?,
            None => self.events.default_output.clone(),
        };
        Ok(Job {
            id: JobId::derived(&[
                "s3-batch",
                batch_job,
                &bucket,
                &key,
                version,
                function.as_str(),
            ]),
            function,
            input: MediaLocation::S3 { bucket, key },
            output,
            params,
            user_data: None,
            create_time: Utc::now(),
        })
    }

    /// Handles an SQS batch; messages whose job hit a retryable error are
    /// reported for retry, the rest are done (succeeded or failed for good).
    pub async fn handle_sqs(&self, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
        let records = event
            .records
            .into_iter()
            .map(|m| SqsRecord::Message(Box::new(m)))
            .collect();
        self.handle_records(records, deadline).await
    }

    async fn handle_records(
        &self,
        records: Vec<SqsRecord>,
        deadline: Option<Instant>,
    ) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in records {
            let message = match record {
                SqsRecord::Message(message) => message,
                SqsRecord::Broken { message_id, error } => {
                    let error = JobError::permanent(
                        ErrorCode::InvalidMessage,
                        format!("SQS record is malformed: {error}"),
                    );
                    let job_id = message_id
                        .as_deref()
                        .map_or_else(JobId::random, |m| JobId::derived(&["sqs", m]));
                    tracing::warn!(code = error.code.as_str(), error = %error.message, "malformed SQS record");
                    let rejected = self.rejected(job_id, "", &error);
                    if self.pipeline.reject(rejected).await.is_err() {
                        if let Some(id) = message_id {
                            response.add_failure(id);
                        }
                    }
                    continue;
                }
            };
            let id = message.message_id.clone().unwrap_or_default();
            let dead = self.events.dead_letter_arn.is_some()
                && message.event_source_arn == self.events.dead_letter_arn;
            let handled = if dead {
                self.handle_dead_letter(&message, deadline).await
            } else {
                self.handle_message(&message, deadline).await
            };
            if let Err(e) = handled {
                tracing::warn!(message_id = %id, code = e.code.as_str(), error = %e.message, "message will be retried");
                response.add_failure(id);
            }
        }
        response
    }

    async fn handle_message(
        &self,
        message: &SqsMessage,
        deadline: Option<Instant>,
    ) -> Result<Vec<JobRecord>, JobError> {
        let (body, id) = body_and_id(message);
        let receive_count: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let last = receive_count >= self.events.max_receive_count;
        self.handle_payload(classify_body(body), body, id, Some(id), deadline, last)
            .await
    }

    /// A message that exhausted its attempts: each of its jobs ends (see
    /// [`Pipeline::dead_letter`]).
    async fn handle_dead_letter(
        &self,
        message: &SqsMessage,
        deadline: Option<Instant>,
    ) -> Result<Vec<JobRecord>, JobError> {
        let (body, id) = body_and_id(message);
        let fallback = JobId::derived(&["sqs", id]);
        let records: Vec<JobRecord> = match classify_body(body) {
            Payload::Ignore(_) => Vec::new(),
            Payload::Malformed(error, named) => {
                vec![self.rejected(named.unwrap_or(fallback), body, &error)]
            }
            Payload::Job(message) => {
                let id = message.job_id.clone().unwrap_or(fallback);
                match message.into_job(id.clone(), Some(&self.events.default_output), Utc::now()) {
                    Ok(job) => vec![JobRecord::new(&job, JobState::Queuing)],
                    Err(error) => vec![self.rejected(id, body, &error)],
                }
            }
            Payload::S3(records) => records
                .iter()
                .filter_map(|r| self.s3_job(r))
                .map(|job| JobRecord::new(&job, JobState::Queuing))
                .collect(),
        };
        let mut done = Vec::new();
        for record in records {
            done.push(self.pipeline.dead_letter(record, deadline).await?);
        }
        Ok(done)
    }

    async fn handle_payload(
        &self,
        payload: Payload,
        raw: &str,
        origin: &str,
        message_id: Option<&str>,
        deadline: Option<Instant>,
        last_attempt: bool,
    ) -> Result<Vec<JobRecord>, JobError> {
        let options = RunOptions {
            deadline,
            last_attempt,
            long: self.long(),
            ..RunOptions::default()
        };
        match payload {
            Payload::Ignore(what) => {
                tracing::info!(origin, what, "ignored");
                Ok(Vec::new())
            }
            Payload::Malformed(error, named) => {
                let id = match (named, message_id) {
                    (Some(id), _) => id,
                    (None, Some(m)) => JobId::derived(&["sqs", m]),
                    (None, None) => JobId::random(),
                };
                tracing::warn!(origin, code = error.code.as_str(), error = %error.message, "malformed event");
                let record = self.rejected(id, raw, &error);
                Ok(vec![self.pipeline.reject(record).await?])
            }
            Payload::Job(message) => {
                let fallback = match (&message.job_id, message_id) {
                    (Some(id), _) => id.clone(),
                    (None, Some(m)) => JobId::derived(&["sqs", m]),
                    (None, None) => JobId::random(),
                };
                let job = message.into_job(
                    fallback.clone(),
                    Some(&self.events.default_output),
                    Utc::now(),
                );
                match job {
                    Ok(job) => Ok(vec![
                        self.pipeline
                            .run(self.capability.clone(), job, options)
                            .await?,
                    ]),
                    Err(error) => {
                        let record = self.rejected(fallback, raw, &error);
                        Ok(vec![self.pipeline.reject(record).await?])
                    }
                }
            }
            Payload::S3(records) => {
                let mut done = Vec::new();
                let mut retry: Option<JobError> = None;
                for record in records {
                    let Some(job) = self.s3_job(&record) else {
                        continue;
                    };
                    match self
                        .pipeline
                        .run(self.capability.clone(), job, options.clone())
                        .await
                    {
                        Ok(r) => done.push(r),
                        Err(e) => retry = Some(e),
                    }
                }
                match retry {
                    Some(e) => Err(e),
                    None => Ok(done),
                }
            }
        }
    }

    fn s3_job(&self, record: &S3Record) -> Option<Job> {
        let name = record.event_name.as_deref().unwrap_or("ObjectCreated:Put");
        if record
            .event_source
            .as_deref()
            .is_some_and(|s| s != "aws:s3")
            || !name.contains("ObjectCreated")
        {
            tracing::info!(event = name, "not an ObjectCreated event; ignored");
            return None;
        }
        let bucket = record.s3.bucket.name.clone();
        let key = if record.key_encoded {
            decode_key(&record.s3.object.key)
        } else {
            record.s3.object.key.clone()
        };
        if !key.starts_with(&self.events.input_prefix) || key.ends_with('/') {
            tracing::info!(%bucket, %key, prefix = %self.events.input_prefix, "key outside the input prefix; ignored");
            return None;
        }
        // The object's version (or ETag) and the event's sequencer: a
        // duplicate delivery of one event maps to the job already done, a
        // new upload (even of the same bytes, after a failure) to a new job.
        let object = &record.s3.object;
        let version = object
            .version_id
            .as_deref()
            .or(object.e_tag.as_deref())
            .unwrap_or_default();
        let sequencer = object.sequencer.as_deref().unwrap_or_default();
        let function = self.function();
        let id = JobId::derived(&["s3", &bucket, &key, version, sequencer, function.as_str()]);
        let create_time = record
            .event_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        Some(Job {
            id,
            function,
            input: MediaLocation::S3 { bucket, key },
            output: self.events.default_output.clone(),
            params: self.events.default_params.clone(),
            user_data: None,
            create_time,
        })
    }

    fn rejected(&self, id: JobId, raw: &str, error: &JobError) -> JobRecord {
        JobRecord::unparsed(id, self.function(), raw, error.clone(), Utc::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(
            decode_key("input/my+clip%281%29.mp4"),
            "input/my clip(1).mp4"
        );
        assert_eq!(decode_key("input%2Fa%2Bb.mp4"), "input/a+b.mp4");
        assert_eq!(decode_key("input/%E4%B8%AD.mp4"), "input/中.mp4");
    }

    #[test]
    fn a_new_upload_is_a_new_job_and_a_duplicate_event_is_not() {
        use iprod_core::capability::{Capability, Context, OutputSink, Report};
        struct Nothing;
        impl Capability for Nothing {
            type Params = ();
            type Output = ();
            fn function(&self) -> FunctionName {
                FunctionName::Cover
            }
            fn parse(&self, _: &Value) -> Result<(), JobError> {
                Ok(())
            }
            fn run(
                &self,
                _: &std::path::Path,
                _: &(),
                _: &mut OutputSink,
                _: &Context,
            ) -> Result<Report<()>, JobError> {
                Ok(Report {
                    message: String::new(),
                    result: (),
                })
            }
        }
        let handler = Handler::new(
            Pipeline {
                objects: iprod_core::adapters::memory::MemoryObjectStore::default(),
                jobs: iprod_core::adapters::records::ObjectJobStore::new(
                    iprod_core::adapters::memory::MemoryObjectStore::default(),
                    MediaLocation::Local("/jobs".into()),
                ),
                notifier: iprod_core::adapters::memory::MemoryNotifier::default(),
                settings: PipelineSettings::default(),
            },
            Arc::new(Nothing),
            EventSettings {
                default_output: OutputTemplate::parse("s3://out/").expect("valid"),
                default_params: json!({}),
                input_prefix: "in/".into(),
                max_receive_count: 3,
                dead_letter_arn: None,
                segment_s: 300.0,
                split_above_s: 600.0,
            },
        );
        let record = |sequencer: &str| -> S3Record {
            serde_json::from_value(json!({
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "b"},
                       "object": {"key": "in/a.mp4", "eTag": "same-bytes", "sequencer": sequencer}}
            }))
            .expect("record")
        };
        let id = |r: &S3Record| handler.s3_job(r).map(|j| j.id);
        assert_eq!(id(&record("0A")), id(&record("0A")), "a duplicate delivery");
        assert_ne!(
            id(&record("0A")),
            id(&record("0B")),
            "the same bytes uploaded again"
        );
    }

    #[test]
    fn bodies_are_told_apart() {
        assert!(matches!(
            classify_body(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#),
            Payload::Ignore(_)
        ));
        assert!(matches!(classify_body("{"), Payload::Malformed(..)));
        assert!(matches!(
            classify_body(r#"{"hello":1}"#),
            Payload::Malformed(..)
        ));
        assert!(matches!(
            classify_body(r#"{"FunctionName":"Cover","Input":"s3://b/k.mp4"}"#),
            Payload::Job(_)
        ));
        let s3 = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"in/a+b.mp4","eTag":"e"}}}]}"#;
        match classify_body(s3) {
            Payload::S3(records) => assert_eq!(records[0].s3.object.key, "in/a+b.mp4"),
            other => panic!("{other:?}"),
        }
        let wrapped = json!({"Type": "Notification", "Message": s3}).to_string();
        assert!(matches!(classify_body(&wrapped), Payload::S3(_)));
    }
}
