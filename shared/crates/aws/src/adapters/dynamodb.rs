//! DynamoDB as the [`JobStore`]: one item per job, keyed by `JobId`, its
//! state transitions conditional writes so that they hold across every
//! process that runs the function.
//!
//! An item keeps the attributes the conditions need (`State`, `Attempt`,
//! `LeaseUntil`), the ones a console lists by (`FunctionName`,
//! `CreateTime`), the record itself as JSON (`Record`), and `ExpiresAt`
//! for the table's time to live.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::aws::classify;
use iprod_core::domain::{format_time, JobId, JobRecord, JobState};
use iprod_core::ports::{Claim, JobStore, StoreError};

/// Job records in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Option<Duration>,
}

type Item = HashMap<String, AttributeValue>;

/// The condition under which a new attempt may start: no record, or an
/// unfinished one that no live lease holds.
const CLAIMABLE: &str = "attribute_not_exists(JobId) OR (#state IN (:queuing, :analyzing) \
                         AND (attribute_not_exists(LeaseUntil) OR LeaseUntil <= :now))";
/// The condition under which an attempt writes: it holds the record.
const HELD: &str = "#state IN (:queuing, :analyzing) AND Attempt = :attempt";

impl DynamoJobStore {
    /// Records in `table`; each expires `ttl` after its creation when set
    /// (the table's time to live reads `ExpiresAt`).
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        ttl: Option<Duration>,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            ttl,
        }
    }

    fn item(&self, record: &JobRecord) -> Result<Item, StoreError> {
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::Unsupported(format!("serialising job record: {e}")))?;
        let mut item = Item::from([
            ("JobId".into(), s(record.job_id.as_str())),
            ("State".into(), s(record.state.as_str())),
            ("FunctionName".into(), s(record.function_name.as_str())),
            ("CreateTime".into(), s(&format_time(record.create_time))),
            ("Notified".into(), AttributeValue::Bool(record.notified)),
            ("Record".into(), AttributeValue::S(json)),
        ]);
        if let Some(lease) = &record.lease {
            item.insert("Attempt".into(), s(&lease.attempt));
            item.insert("LeaseUntil".into(), n(lease.until.timestamp_millis()));
        }
        if let Some(ttl) = self.ttl {
            let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(3650));
            item.insert(
                "ExpiresAt".into(),
                n((record.create_time + ttl).timestamp()),
            );
        }
        Ok(item)
    }

    /// Puts `record` under `condition`; `Ok(false)` when the condition
    /// does not hold.
    async fn put_if(
        &self,
        record: &JobRecord,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(record)?))
            .condition_expression(condition);
        if condition.contains("#state") {
            request = request.expression_attribute_names("#state", "State");
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(&e, &self.what(&record.job_id))),
        }
    }

    fn what(&self, id: &JobId) -> String {
        format!("job record {id} in table {}", self.table)
    }
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(number: i64) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

fn unfinished() -> Vec<(&'static str, AttributeValue)> {
    vec![
        (":queuing", s(JobState::Queuing.as_str())),
        (":analyzing", s(JobState::Analyzing.as_str())),
    ]
}

impl JobStore for DynamoJobStore {
    async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("JobId", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e, &self.what(id)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let json = match item.get("Record") {
            Some(AttributeValue::S(json)) => json,
            _ => {
                return Err(StoreError::Unsupported(format!(
                    "{} has no Record",
                    self.what(id)
                )))
            }
        };
        serde_json::from_str(json)
            .map(Some)
            .map_err(|e| StoreError::Unsupported(format!("{} is not readable: {e}", self.what(id))))
    }

    async fn create(&self, record: &JobRecord) -> Result<bool, StoreError> {
        self.put_if(record, "attribute_not_exists(JobId)", Vec::new())
            .await
    }

    async fn claim(&self, record: &JobRecord, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        let mut values = unfinished();
        values.push((":now", n(now.timestamp_millis())));
        if self.put_if(record, CLAIMABLE, values).await? {
            return Ok(Claim::Started);
        }
        match self.get(&record.job_id).await? {
            Some(existing) if existing.state.is_final() => Ok(Claim::Finished(existing)),
            Some(existing) => Ok(Claim::Held(existing)),
            // Deleted in between (time to live): try once more.
            None => Ok(if self.create(record).await? {
                Claim::Started
            } else {
                Claim::Held(record.clone())
            }),
        }
    }

    async fn update(&self, record: &JobRecord, attempt: &str) -> Result<(), StoreError> {
        let mut values = unfinished();
        values.push((":attempt", s(attempt)));
        if self.put_if(record, HELD, values).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "job {} is no longer held by this attempt",
                record.job_id
            )))
        }
    }

    async fn settle(&self, record: &JobRecord) -> Result<(), StoreError> {
        let values = vec![(":state", s(record.state.as_str()))];
        if self.put_if(record, "#state = :state", values).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "job {} changed before it was marked notified",
                record.job_id
            )))
        }
    }
}
