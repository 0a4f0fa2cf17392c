//! A [`JobStore`] on top of any [`ObjectStore`]: one JSON object per job
//! under a root (`s3://state/jobs/<JobId>.json`, or a local folder).

use crate::domain::{JobId, JobRecord, MediaLocation};
use crate::ports::{JobStore, ObjectStore, StoreError};

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

    async fn put(&self, record: &JobRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| StoreError::Unsupported(format!("serialising job record: {e}")))?;
        self.objects
            .put(&self.location(&record.job_id), bytes, "application/json")
            .await
    }
}
