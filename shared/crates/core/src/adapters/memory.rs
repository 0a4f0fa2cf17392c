//! In-memory ports for unit tests of the pipeline and event handling.
//! Integration tests use the real protocol (moto) instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::{MediaLocation, Notification};
use crate::ports::{Links, Notifier, ObjectMeta, ObjectStore, StoreError, UploadUrl};

/// Objects in a map keyed by URI. Clones share the same map.
#[derive(Debug, Clone, Default)]
pub struct MemoryObjectStore {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemoryObjectStore {
    /// Stores `bytes` at `uri`.
    pub fn insert(&self, uri: &str, bytes: Vec<u8>) {
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uri.to_owned(), bytes);
    }

    /// The URIs held, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// The bytes at `uri`.
    pub fn bytes(&self, uri: &str) -> Option<Vec<u8>> {
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uri)
            .cloned()
    }

    fn write(&self, location: &MediaLocation, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.insert(&location.to_string(), bytes);
        Ok(())
    }
}

impl ObjectStore for MemoryObjectStore {
    async fn head(&self, location: &MediaLocation) -> Result<Option<ObjectMeta>, StoreError> {
        Ok(self.bytes(&location.to_string()).map(|b| ObjectMeta {
            size: b.len() as u64,
        }))
    }

    async fn download(&self, location: &MediaLocation, dest: &Path) -> Result<u64, StoreError> {
        let bytes = self
            .bytes(&location.to_string())
            .ok_or_else(|| StoreError::NotFound(location.to_string()))?;
        std::fs::write(dest, &bytes).map_err(|e| StoreError::Transient(e.to_string()))?;
        Ok(bytes.len() as u64)
    }

    async fn upload(
        &self,
        src: &Path,
        location: &MediaLocation,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        let bytes = std::fs::read(src).map_err(|e| StoreError::Transient(e.to_string()))?;
        self.write(location, bytes)
    }

    async fn put(
        &self,
        location: &MediaLocation,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        self.write(location, bytes)
    }

    async fn get(&self, location: &MediaLocation) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.bytes(&location.to_string()))
    }

    async fn delete(&self, location: &MediaLocation) -> Result<(), StoreError> {
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&location.to_string());
        Ok(())
    }

    async fn list(&self, prefix: &MediaLocation) -> Result<Vec<MediaLocation>, StoreError> {
        let prefix = prefix.to_string();
        Ok(self
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .filter_map(|k| MediaLocation::parse(&k, "key").ok())
            .collect())
    }
}

/// Collects notifications. Clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct MemoryNotifier {
    sent: Arc<Mutex<Vec<Notification>>>,
    failing: Arc<AtomicUsize>,
}

impl MemoryNotifier {
    /// Notifications sent so far.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes the next `n` notifications fail with a transient error.
    pub fn fail_next(&self, n: usize) {
        self.failing.store(n, Ordering::SeqCst);
    }
}

impl Notifier for MemoryNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), StoreError> {
        if self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Transient("injected publish failure".into()));
        }
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notification.clone());
        Ok(())
    }
}

/// Links into the map, for tests of what hands links out
/// (`memory.invalid` never resolves).
impl Links for MemoryObjectStore {
    async fn upload_url(
        &self,
        location: &MediaLocation,
        content_type: &str,
        valid: std::time::Duration,
    ) -> Result<UploadUrl, StoreError> {
        Ok(UploadUrl {
            url: format!(
                "https://memory.invalid/{location}?put&expires={}",
                valid.as_secs()
            ),
            method: "PUT".into(),
            headers: vec![("content-type".into(), content_type.into())],
        })
    }

    async fn download_url(
        &self,
        location: &MediaLocation,
        valid: std::time::Duration,
    ) -> Result<String, StoreError> {
        Ok(format!(
            "https://memory.invalid/{location}?expires={}",
            valid.as_secs()
        ))
    }
}
