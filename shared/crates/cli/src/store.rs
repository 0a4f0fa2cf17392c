//! Where `iprod run` reads and writes: local files, and S3 objects when an
//! input is an `s3://` URI (credentials, region and `AWS_ENDPOINT_URL` from
//! the environment).

use std::path::Path;

use iprod::adapters::fs::FsObjectStore;
use iprod::adapters::s3::S3ObjectStore;
use iprod::domain::MediaLocation;
use iprod::ports::{ObjectMeta, ObjectStore, StoreError};

/// Local files, and S3 when a client was made.
#[derive(Debug, Clone, Default)]
pub struct LocalOrS3 {
    /// The S3 side, made only for a run that reads from S3.
    pub s3: Option<S3ObjectStore>,
}

impl LocalOrS3 {
    fn s3(&self, location: &MediaLocation) -> Result<&S3ObjectStore, StoreError> {
        self.s3.as_ref().ok_or_else(|| {
            StoreError::Unsupported(format!("{location}: this run has no S3 client"))
        })
    }
}

impl ObjectStore for LocalOrS3 {
    async fn head(&self, location: &MediaLocation) -> Result<Option<ObjectMeta>, StoreError> {
        match location {
            MediaLocation::Local(_) => FsObjectStore.head(location).await,
            MediaLocation::S3 { .. } => self.s3(location)?.head(location).await,
        }
    }

    async fn download(&self, location: &MediaLocation, dest: &Path) -> Result<u64, StoreError> {
        match location {
            MediaLocation::Local(_) => FsObjectStore.download(location, dest).await,
            MediaLocation::S3 { .. } => self.s3(location)?.download(location, dest).await,
        }
    }

    async fn upload(
        &self,
        src: &Path,
        location: &MediaLocation,
        content_type: &str,
    ) -> Result<(), StoreError> {
        match location {
            MediaLocation::Local(_) => FsObjectStore.upload(src, location, content_type).await,
            MediaLocation::S3 { .. } => {
                self.s3(location)?.upload(src, location, content_type).await
            }
        }
    }

    async fn put(
        &self,
        location: &MediaLocation,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        match location {
            MediaLocation::Local(_) => FsObjectStore.put(location, bytes, content_type).await,
            MediaLocation::S3 { .. } => self.s3(location)?.put(location, bytes, content_type).await,
        }
    }

    async fn get(&self, location: &MediaLocation) -> Result<Option<Vec<u8>>, StoreError> {
        match location {
            MediaLocation::Local(_) => FsObjectStore.get(location).await,
            MediaLocation::S3 { .. } => self.s3(location)?.get(location).await,
        }
    }

    async fn delete(&self, location: &MediaLocation) -> Result<(), StoreError> {
        match location {
            MediaLocation::Local(_) => FsObjectStore.delete(location).await,
            MediaLocation::S3 { .. } => self.s3(location)?.delete(location).await,
        }
    }

    async fn list(&self, prefix: &MediaLocation) -> Result<Vec<MediaLocation>, StoreError> {
        match prefix {
            MediaLocation::Local(_) => FsObjectStore.list(prefix).await,
            MediaLocation::S3 { .. } => self.s3(prefix)?.list(prefix).await,
        }
    }
}
