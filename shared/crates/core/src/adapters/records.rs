//! A [`JobStore`] on top of any [`ObjectStore`]: one JSON object per job
//! under a root (a local folder for `iprod run`, memory in unit tests).
//!
//! Its conditional writes read, check and write: they are exact within one
//! process, which is all a local run has. Deployed functions keep records
//! in DynamoDB, whose conditions hold across processes.

use chrono::{DateTime, Utc};

use crate::domain::{JobId, JobRecord, MediaLocation};
use crate::ports::{Claim, JobStore, ObjectStore, StoreError};

/// Job records kept as JSON objects under `root`.
#[derive(Debug, Clone)]
pub struct ObjectJobStore<O> {
    objects: O,
    root: MediaLocation,
}

impl<O: ObjectStore> ObjectJobStore<O> {
    /// Records go under `root` (a bucket prefix or a folder).
    pub fn new(objects: O, root: MediaLocation) -> Self {
        Self { objects, root }
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
