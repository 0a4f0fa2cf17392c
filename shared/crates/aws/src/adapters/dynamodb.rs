//! DynamoDB as the [`JobStore`]: one item per job, keyed by `JobId`, its
//! state transitions conditional writes so that they hold across every
//! process that runs the function.
//!
//! An item keeps the attributes the conditions need (`State`, `Attempt`,
//! `LeaseUntil`), the ones lists go by (`FunctionName`, `CreateTime`, and
//! `ListKey`, the same on every item), the record itself as JSON
//! (`Record`), and `ExpiresAt` for the table's time to live.
//!
//! Lists read one of two global secondary indexes, newest first:
//! [`BY_FUNCTION`] (`FunctionName`, `CreateTime`) when the list names a
//! function, [`BY_TIME`] (`ListKey`, `CreateTime`) otherwise. A `State`
//! filter is applied by DynamoDB after the read, so a filtered page may
//! take several queries (at most [`MAX_QUERIES`]) and read more than it
//! returns.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::aws::classify;
use iprod_core::domain::{format_time, JobFilter, JobId, JobPage, JobRecord, JobState};
use iprod_core::ports::{Cancel, Claim, JobStore, Nonces, StoreError};

/// The index of jobs by function, newest first.
pub const BY_FUNCTION: &str = "ByFunction";
/// The index of all jobs by creation time.
pub const BY_TIME: &str = "ByCreateTime";
/// `ListKey` of every item: [`BY_TIME`]'s one partition.
const LIST_KEY: &str = "job";
/// Most queries one filtered page makes before it returns what it has.
pub const MAX_QUERIES: usize = 8;

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
            ("ListKey".into(), s(LIST_KEY)),
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

    /// The job record an item holds.
    fn record_of(&self, item: &Item) -> Result<JobRecord, StoreError> {
        let what = || match item.get("JobId") {
            Some(AttributeValue::S(id)) => format!("job record {id} in table {}", self.table),
            _ => format!("an item of table {}", self.table),
        };
        let Some(AttributeValue::S(json)) = item.get("Record") else {
            return Err(StoreError::Unsupported(format!("{} has no Record", what())));
        };
        serde_json::from_str(json)
            .map_err(|e| StoreError::Unsupported(format!("{} is not readable: {e}", what())))
    }

    fn what(&self, id: &JobId) -> String {
        format!("job record {id} in table {}", self.table)
    }
}

/// Nonces share the job table: an item whose `JobId` is `nonce#` and a
/// hash of the nonce (never a valid JobId, so never read as a job, and in
/// neither list index), removed by the table's time to live.
impl Nonces for DynamoJobStore {
    async fn first_use(&self, key: &str, expires: DateTime<Utc>) -> Result<bool, StoreError> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let id: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("JobId", s(&format!("nonce#{id}")))
            .item("ExpiresAt", n(expires.timestamp()))
            .condition_expression("attribute_not_exists(JobId)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(&e, &format!("the nonces in table {}", self.table))),
        }
    }
}

/// A list's `NextToken`: the last key a query evaluated, as hex of its
/// JSON (safe in a query string as it is).
fn encode_token(key: &Item) -> String {
    let strings: std::collections::BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    let json = serde_json::to_string(&strings).unwrap_or_default();
    json.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The start key a `NextToken` names, refused unless it is one this list
/// (same index, same partition) handed out.
fn decode_token(token: &str, partition_name: &str, partition: &str) -> Result<Item, StoreError> {
    let bad = || StoreError::BadToken(token.chars().take(64).collect());
    if token.len() > 2048 || token.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let expected = ["CreateTime", "JobId", partition_name];
    let shaped = map.len() == 3
        && expected.iter().all(|k| map.contains_key(*k))
        && map.get(partition_name).map(String::as_str) == Some(partition)
        && JobId::try_from(map["JobId"].clone()).is_ok()
        && DateTime::parse_from_rfc3339(&map["CreateTime"]).is_ok();
    if !shaped {
        return Err(bad());
    }
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
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
        out.item
            .as_ref()
            .map(|item| self.record_of(item))
            .transpose()
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

    async fn list(
        &self,
        filter: &JobFilter,
        max: usize,
        next_token: Option<&str>,
    ) -> Result<JobPage, StoreError> {
        let (index, partition_name, partition) = match filter.function {
            Some(f) => (BY_FUNCTION, "FunctionName", f.as_str()),
            None => (BY_TIME, "ListKey", LIST_KEY),
        };
        let mut start = next_token
            .map(|t| decode_token(t, partition_name, partition))
            .transpose()?;
        let mut condition = format!("{partition_name} = :p");
        let mut values: Vec<(&str, AttributeValue)> = vec![(":p", s(partition))];
        match (filter.from, filter.to) {
            (Some(from), Some(to)) => {
                condition.push_str(" AND CreateTime BETWEEN :from AND :to");
                values.push((":from", s(&format_time(from))));
                values.push((":to", s(&format_time(to))));
            }
            (Some(from), None) => {
                condition.push_str(" AND CreateTime >= :from");
                values.push((":from", s(&format_time(from))));
            }
            (None, Some(to)) => {
                condition.push_str(" AND CreateTime <= :to");
                values.push((":to", s(&format_time(to))));
            }
            (None, None) => {}
        }
        if let Some(state) = filter.state {
            values.push((":state", s(state.as_str())));
        }
        let mut records = Vec::new();
        for _ in 0..MAX_QUERIES {
            let remaining = max.saturating_sub(records.len()).max(1);
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&condition)
                .scan_index_forward(false)
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if filter.state.is_some() {
                query = query
                    .filter_expression("#state = :state")
                    .expression_attribute_names("#state", "State");
            }
            for (name, value) in &values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let out = query
                .send()
                .await
                .map_err(|e| classify(&e, &format!("the job list of table {}", self.table)))?;
            for item in out.items() {
                records.push(self.record_of(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || records.len() >= max {
                break;
            }
        }
        Ok(JobPage {
            records,
            next_token: start.as_ref().map(encode_token),
        })
    }

    async fn cancel(&self, id: &JobId, now: DateTime<Utc>) -> Result<Cancel, StoreError> {
        let Some(mut record) = self.get(id).await? else {
            return Ok(Cancel::Missing);
        };
        if !record.cancel(now) {
            return Ok(Cancel::TooLate(record));
        }
        let values = vec![(":queuing", s(JobState::Queuing.as_str()))];
        if self.put_if(&record, "#state = :queuing", values).await? {
            return Ok(Cancel::Cancelled(record));
        }
        // An attempt claimed it in between.
        match self.get(id).await? {
            Some(now_stored) => Ok(Cancel::TooLate(now_stored)),
            None => Ok(Cancel::Missing),
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
