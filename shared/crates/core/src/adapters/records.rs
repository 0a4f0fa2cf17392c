//! A [`JobStore`] on top of any [`ObjectStore`]: one JSON object per job
//! under a root (a local folder for `iprod run`, memory in unit tests).
//!
//! Its conditional writes read, check and write: they are exact within one
//! process, which is all a local run has. Deployed functions keep records
//! in DynamoDB, whose conditions hold across processes.

use chrono::{DateTime, Utc};

use crate::domain::{format_time, JobFilter, JobId, JobPage, JobRecord, MediaLocation};
use crate::ports::{Cancel, Claim, JobStore, Nonces, ObjectStore, StoreError};

/// Job records kept as JSON objects under `root`.
#[derive(Debug, Clone)]
pub struct ObjectJobStore<O> {
    objects: O,
    root: MediaLocation,
    /// Nonces seen, with when they expire (this process's memory: a
    /// local server is one process).
    nonces: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, DateTime<Utc>>>>,
}

impl<O: ObjectStore> ObjectJobStore<O> {
    /// Records go under `root` (a bucket prefix or a folder).
    pub fn new(objects: O, root: MediaLocation) -> Self {
        Self {
            objects,
            root,
            nonces: std::sync::Arc::default(),
        }
    }

    /// Where the record of `id` lives.
    pub fn location(&self, id: &JobId) -> MediaLocation {
        self.root.join(&format!("{id}.json"))
    }

    async fn write(&self, record: &JobRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| StoreError::Unsupported(format!("serialising job record: {e}")))?;
        self.objects
            .put(&self.location(&record.job_id), bytes, "application/json")
            .await
    }
}

impl<O: ObjectStore> JobStore for ObjectJobStore<O> {
    async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        let Some(bytes) = self.objects.get(&self.location(id)).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Unsupported(format!("job record {id} is not readable: {e}")))
    }

    async fn create(&self, record: &JobRecord) -> Result<bool, StoreError> {
        if self.get(&record.job_id).await?.is_some() {
            return Ok(false);
        }
        self.write(record).await.map(|()| true)
    }

    async fn claim(&self, record: &JobRecord, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        match self.get(&record.job_id).await? {
            Some(existing) if existing.state.is_final() => Ok(Claim::Finished(existing)),
            Some(existing) if !existing.claimable(now) => Ok(Claim::Held(existing)),
            _ => self.write(record).await.map(|()| Claim::Started),
        }
    }

    async fn update(&self, record: &JobRecord, attempt: &str) -> Result<(), StoreError> {
        match self.get(&record.job_id).await? {
            Some(existing) if existing.held_by(attempt) => self.write(record).await,
            _ => Err(StoreError::Conflict(format!(
                "job {} is no longer held by this attempt",
                record.job_id
            ))),
        }
    }

    /// Reads every record under the root: fine for the few thousand jobs of
    /// a local run, not for a deployment (DynamoDB keeps an index).
    async fn list(
        &self,
        filter: &JobFilter,
        max: usize,
        next_token: Option<&str>,
    ) -> Result<JobPage, StoreError> {
        let after = next_token.map(parse_token).transpose()?;
        let mut records = Vec::new();
        for location in self.objects.list(&self.root).await? {
            if !location.to_string().ends_with(".json") {
                continue;
            }
            let Some(bytes) = self.objects.get(&location).await? else {
                continue;
            };
            // Other JSON beside the records (none is written there) is
            // not a job.
            if let Ok(record) = serde_json::from_slice::<JobRecord>(&bytes) {
                if filter.matches(&record) {
                    records.push(record);
                }
            }
        }
        let key = |r: &JobRecord| (format_time(r.create_time), r.job_id.to_string());
        records.sort_by_key(|r| std::cmp::Reverse(key(r)));
        if let Some(after) = after {
            records.retain(|r| key(r) < after);
        }
        let more = records.len() > max;
        records.truncate(max);
        let next_token = more
            .then(|| {
                records.last().map(|r| {
                    let (t, id) = key(r);
                    format!("{t}|{id}")
                })
            })
            .flatten();
        Ok(JobPage {
            records,
            next_token,
        })
    }

    async fn cancel(&self, id: &JobId, now: DateTime<Utc>) -> Result<Cancel, StoreError> {
        let Some(mut record) = self.get(id).await? else {
            return Ok(Cancel::Missing);
        };
        if !record.cancel(now) {
            return Ok(Cancel::TooLate(record));
        }
        self.write(&record).await?;
        Ok(Cancel::Cancelled(record))
    }

    async fn settle(&self, record: &JobRecord) -> Result<(), StoreError> {
        match self.get(&record.job_id).await? {
            Some(existing) if existing.state == record.state => self.write(record).await,
            _ => Err(StoreError::Conflict(format!(
                "job {} changed before it was marked notified",
                record.job_id
            ))),
        }
    }
}

impl<O: ObjectStore> Nonces for ObjectJobStore<O> {
    async fn first_use(&self, key: &str, expires: DateTime<Utc>) -> Result<bool, StoreError> {
        let now = Utc::now();
        let mut seen = self
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, until| *until > now);
        Ok(seen.insert(key.to_owned(), expires).is_none())
    }
}

/// The position a local list's `NextToken` names: `CreateTime|JobId` of the
/// last record of the page before.
fn parse_token(token: &str) -> Result<(String, String), StoreError> {
    token
        .split_once('|')
        .filter(|(t, id)| {
            chrono::DateTime::parse_from_rfc3339(t).is_ok()
                && JobId::try_from(id.to_string()).is_ok()
        })
        .map(|(t, id)| (t.to_owned(), id.to_owned()))
        .ok_or_else(|| StoreError::BadToken(token.chars().take(64).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryObjectStore;
    use crate::domain::{Job, JobState, OutputTemplate};

    fn record(n: i64, function: &str) -> JobRecord {
        let start = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .expect("time")
            .to_utc();
        let job = Job {
            id: JobId::try_from(format!("job-{n:02}")).expect("id"),
            function: function.parse().expect("function"),
            input: MediaLocation::parse("s3://in/a.mp4", "Input").expect("input"),
            output: OutputTemplate::parse("s3://out/").expect("output"),
            params: serde_json::json!({}),
            user_data: None,
            create_time: start + chrono::Duration::minutes(n),
        };
        JobRecord::new(&job, JobState::Queuing)
    }

    #[tokio::test]
    async fn local_lists_page_newest_first_and_cancel_only_queued_jobs() {
        let root = MediaLocation::parse("s3://state/jobs/", "root").expect("root");
        let store = ObjectJobStore::new(MemoryObjectStore::default(), root);
        for n in 0..7 {
            let f = if n % 2 == 0 { "Cover" } else { "VideoH2V" };
            assert!(store.create(&record(n, f)).await.expect("create"));
        }
        let mut ids = Vec::new();
        let mut token = None;
        loop {
            let page = store
                .list(&JobFilter::default(), 3, token.as_deref())
                .await
                .expect("page");
            ids.extend(page.records.iter().map(|r| r.job_id.to_string()));
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        let want: Vec<String> = (0..7).rev().map(|n| format!("job-{n:02}")).collect();
        assert_eq!(ids, want);
        let covers = JobFilter {
            function: Some("Cover".parse().expect("name")),
            ..JobFilter::default()
        };
        let page = store.list(&covers, 10, None).await.expect("page");
        assert_eq!(page.records.len(), 4);
        assert!(page.next_token.is_none());
        assert!(matches!(
            store.list(&covers, 10, Some("nonsense")).await,
            Err(StoreError::BadToken(_))
        ));

        let id = JobId::try_from("job-03".to_owned()).expect("id");
        assert!(matches!(
            store.cancel(&id, Utc::now()).await.expect("cancel"),
            Cancel::Cancelled(r) if r.state == JobState::Fail
        ));
        assert!(matches!(
            store.cancel(&id, Utc::now()).await.expect("cancel"),
            Cancel::TooLate(_)
        ));
        let missing = JobId::try_from("job-99".to_owned()).expect("id");
        assert_eq!(
            store.cancel(&missing, Utc::now()).await.expect("cancel"),
            Cancel::Missing
        );
    }
}
