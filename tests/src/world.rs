//! One test's world: buckets, job table, queues and topic wired the way
//! `template.yaml` wires them, and the handler of a function over them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use iprod::capabilities::DynCapability;
use iprod::config::LambdaConfig;
use iprod::lambda::{aws_handler_with, AwsHandler};

use crate::server::{endpoint, unique};

/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// One test's world: input/output buckets, the job table, the function's queue fed
/// by the input bucket's notifications, the topic, and a queue subscribed
/// to the topic to read notifications back.
#[derive(Debug, Clone)]
pub struct World {
    /// moto endpoint.
    pub endpoint: String,
    /// SDK configuration pointing at moto.
    pub sdk: aws_config::SdkConfig,
    /// S3 client (path style).
    pub s3: aws_sdk_s3::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// Input bucket (uploads under `input/` trigger the function).
    pub input_bucket: String,
    /// Output bucket.
    pub output_bucket: String,
    /// DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Job records table.
    pub job_table: String,
    /// The function's queue.
    pub queue_url: String,
    /// Notifications topic.
    pub topic_arn: String,
    /// Queue subscribed to the topic.
    pub notes_url: String,
}

impl World {
    /// Creates every resource on the moto server.
    ///
    /// # Errors
    /// When moto refuses a call.
    pub async fn new() -> anyhow::Result<Self> {
        let endpoint = endpoint();
        let sdk =
            iprod::adapters::aws::static_sdk_config(&endpoint, REGION, "testing", "testing").await;
        let s3 = iprod::adapters::aws::s3_client(&sdk, true);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let id = unique("t");
        let input_bucket = format!("{id}-input");
        let output_bucket = format!("{id}-output");
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let job_table = format!("{id}-jobs");
        create_job_table(&dynamodb, &job_table).await?;
        for bucket in [&input_bucket, &output_bucket] {
            s3.create_bucket()
                .bucket(bucket)
                .send()
                .await
                .context("create_bucket")?;
        }
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{id}-cover"))
            .send()
            .await
            .context("create_queue")?
            .queue_url
            .unwrap_or_default();
        let cover_arn = queue_arn(&sqs, &queue_url).await?;
        s3.put_bucket_notification_configuration()
            .bucket(&input_bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .queue_arn(&cover_arn)
                            .events(Event::S3ObjectCreated)
                            .filter(
                                NotificationConfigurationFilter::builder()
                                    .key(
                                        S3KeyFilter::builder()
                                            .filter_rules(
                                                FilterRule::builder()
                                                    .name(FilterRuleName::Prefix)
                                                    .value("input/")
                                                    .build(),
                                            )
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build()
                            .context("queue configuration")?,
                    )
                    .build(),
            )
            .send()
            .await
            .context("put_bucket_notification_configuration")?;
        let topic_arn = sns
            .create_topic()
            .name(format!("{id}-events"))
            .send()
            .await
            .context("create_topic")?
            .topic_arn
            .unwrap_or_default();
        let notes_url = sqs
            .create_queue()
            .queue_name(format!("{id}-notes"))
            .send()
            .await
            .context("create_queue notes")?
            .queue_url
            .unwrap_or_default();
        let notes_arn = queue_arn(&sqs, &notes_url).await?;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(notes_arn)
            .send()
            .await
            .context("subscribe")?;
        let world = Self {
            endpoint,
            sdk,
            s3,
            sqs,
            sns,
            input_bucket,
            output_bucket,
            dynamodb,
            job_table,
            queue_url,
            topic_arn,
            notes_url,
        };
        // S3 sends a test event when notifications are configured; drain it.
        let _ = world
            .receive(&world.queue_url.clone(), Duration::from_millis(300))
            .await;
        Ok(world)
    }

    /// The function configuration a deployment would have.
    ///
    /// # Errors
    /// When the configuration is invalid.
    pub fn config(&self) -> anyhow::Result<LambdaConfig> {
        self.config_with(r#"{"Count":2}"#)
    }

    /// The configuration with `job_params` for S3-triggered jobs.
    ///
    /// # Errors
    /// When the configuration is invalid.
    pub fn config_with(&self, job_params: &str) -> anyhow::Result<LambdaConfig> {
        let pairs = [
            ("IPROD_JOB_TABLE", self.job_table.clone()),
            (
                "IPROD_OUTPUT",
                format!("s3://{}/output/{{source}}/{{jobId}}/", self.output_bucket),
            ),
            ("IPROD_TOPIC_ARN", self.topic_arn.clone()),
            ("IPROD_INPUT_BUCKET", self.input_bucket.clone()),
            ("IPROD_INPUT_PREFIX", "input/".to_owned()),
            ("IPROD_JOB_PARAMS", job_params.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ];
        LambdaConfig::from_lookup(|k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.clone())
        })
        .map_err(|e| anyhow::anyhow!(e))
    }

    /// The handler a deployed function would run.
    ///
    /// # Errors
    /// When the configuration is invalid.
    pub fn handler(&self, capability: Arc<dyn DynCapability>) -> anyhow::Result<AwsHandler> {
        let params = match capability.function() {
            iprod::domain::FunctionName::Cover => r#"{"Count":2}"#,
            _ => "{}",
        };
        Ok(aws_handler_with(
            &self.sdk,
            &self.config_with(params)?,
            capability,
        ))
    }

    /// Uploads a local file to the input bucket.
    ///
    /// # Errors
    /// When the upload fails.
    pub async fn upload(&self, key: &str, path: &std::path::Path) -> anyhow::Result<()> {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(path).await?;
        self.s3
            .put_object()
            .bucket(&self.input_bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .context("put_object")?;
        Ok(())
    }

    /// Receives messages from `queue_url` until some arrive or `wait` ends,
    /// as they would reach a Lambda function (an SQS event's records, with
    /// `ApproximateReceiveCount`).
    ///
    /// # Errors
    /// When SQS refuses the call.
    pub async fn receive(
        &self,
        queue_url: &str,
        wait: Duration,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let start = Instant::now();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .context("receive_message")?;
            let messages = out.messages.unwrap_or_default();
            if !messages.is_empty() {
                let mut records = Vec::new();
                for m in messages {
                    if let Some(handle) = &m.receipt_handle {
                        self.sqs
                            .delete_message()
                            .queue_url(queue_url)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .context("delete_message")?;
                    }
                    let attributes: serde_json::Map<String, serde_json::Value> = m
                        .attributes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k.as_str().to_owned(), serde_json::Value::String(v)))
                        .collect();
                    records.push(serde_json::json!({
                        "messageId": m.message_id,
                        "receiptHandle": m.receipt_handle,
                        "body": m.body,
                        "attributes": attributes,
                        "messageAttributes": {},
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cover",
                        "awsRegion": REGION,
                    }));
                }
                return Ok(records);
            }
            if start.elapsed() >= wait {
                return Ok(Vec::new());
            }
        }
    }

    /// Notifications published so far, as the JSON messages inside the SNS
    /// envelopes, with the envelope's message attributes under
    /// `_Attributes`.
    ///
    /// # Errors
    /// When SQS refuses the call or a body is not an SNS envelope.
    pub async fn notifications(&self, wait: Duration) -> anyhow::Result<Vec<serde_json::Value>> {
        let records = self.receive(&self.notes_url.clone(), wait).await?;
        let mut out = Vec::new();
        for record in records {
            let body = record["body"].as_str().unwrap_or_default();
            let envelope: serde_json::Value = serde_json::from_str(body).context("SNS envelope")?;
            let mut message: serde_json::Value =
                serde_json::from_str(envelope["Message"].as_str().unwrap_or_default())
                    .context("notification body")?;
            message["_Attributes"] = envelope["MessageAttributes"].clone();
            out.push(message);
        }
        Ok(out)
    }

    /// Keys in a bucket (all of them).
    ///
    /// # Errors
    /// When S3 refuses the call.
    pub async fn keys(&self, bucket: &str) -> anyhow::Result<Vec<String>> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .context("list_objects_v2")?;
        let mut keys: Vec<String> = out
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Every job record in the table (not the nonces beside them), as
    /// JSON, ordered by JobId.
    ///
    /// # Errors
    /// When DynamoDB refuses the call or a record is not JSON.
    pub async fn records(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let out = self
            .dynamodb
            .scan()
            .table_name(&self.job_table)
            .consistent_read(true)
            .send()
            .await
            .context("scan")?;
        let mut records = Vec::new();
        for item in out.items.unwrap_or_default() {
            // Signed requests' nonces share the table; they are not jobs.
            let id = item.get("JobId").and_then(|v| v.as_s().ok());
            if id.is_some_and(|id| id.starts_with("nonce#")) {
                continue;
            }
            let json = item
                .get("Record")
                .and_then(|v| v.as_s().ok())
                .context("item without Record")?;
            records.push(serde_json::from_str::<serde_json::Value>(json)?);
        }
        records.sort_by_key(|r| r["JobId"].as_str().unwrap_or_default().to_owned());
        Ok(records)
    }

    /// The record of `job_id`.
    ///
    /// # Errors
    /// When there is none.
    pub async fn record(&self, job_id: &str) -> anyhow::Result<serde_json::Value> {
        self.records()
            .await?
            .into_iter()
            .find(|r| r["JobId"] == job_id)
            .with_context(|| format!("no record of job {job_id}"))
    }

    /// Reads an object as bytes.
    ///
    /// # Errors
    /// When the object is missing.
    pub async fn read(&self, bucket: &str, key: &str) -> anyhow::Result<Vec<u8>> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("get_object {bucket}/{key}"))?;
        Ok(out.body.collect().await?.into_bytes().to_vec())
    }

    /// Asserts that an SQS batch response asks for no retry.
    ///
    /// # Panics
    /// When it lists a failed message.
    pub fn assert_no_retries(response: &serde_json::Value) {
        assert_eq!(
            response["batchItemFailures"],
            serde_json::json!([]),
            "no message should be retried: {response}"
        );
    }

    /// One SQS record as Lambda delivers it: `body` under `message_id`,
    /// received `receive_count` times, from the queue `source_arn`.
    pub fn sqs_record(
        message_id: &str,
        body: &str,
        receive_count: u32,
        source_arn: &str,
    ) -> serde_json::Value {
        serde_json::json!({
            "messageId": message_id,
            "receiptHandle": "handle",
            "body": body,
            "attributes": {"ApproximateReceiveCount": receive_count.to_string()},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": source_arn,
            "awsRegion": REGION,
        })
    }

    /// An SQS event (as Lambda delivers it) holding `records`.
    pub fn sqs_event(records: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({ "Records": records })
    }
}

/// The job table as the template makes it: keyed by `JobId`, with a time
/// to live on `ExpiresAt`.
///
/// # Errors
/// When DynamoDB refuses the call.
pub async fn create_job_table(client: &aws_sdk_dynamodb::Client, name: &str) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    use iprod::adapters::dynamodb::{BY_FUNCTION, BY_TIME};
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    // As template.yaml's JobTable: the job, and the two list indexes.
    let index = |index: &str, partition: &str| -> anyhow::Result<GlobalSecondaryIndex> {
        Ok(GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key(partition, KeyType::Hash)?)
            .key_schema(key("CreateTime", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()?)
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("JobId")?)
        .attribute_definitions(attribute("FunctionName")?)
        .attribute_definitions(attribute("CreateTime")?)
        .attribute_definitions(attribute("ListKey")?)
        .key_schema(key("JobId", KeyType::Hash)?)
        .global_secondary_indexes(index(BY_FUNCTION, "FunctionName")?)
        .global_secondary_indexes(index(BY_TIME, "ListKey")?)
        .send()
        .await
        .context("create_table")?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ExpiresAt")
                .build()?,
        )
        .send()
        .await
        .context("update_time_to_live")?;
    Ok(())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .context("get_queue_attributes")?;
    match out.attributes.and_then(|a| {
        a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .cloned()
    }) {
        Some(arn) => Ok(arn),
        None => bail!("queue {url} has no ARN"),
    }
}
