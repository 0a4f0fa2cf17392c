//! A served folder (`iprod serve`): the filesystem as the object store,
//! with links to the router's own `/files/` routes instead of presigned
//! URLs.

use std::path::{Path, PathBuf};

use iprod_core::adapters::fs::FsObjectStore;
use iprod_core::domain::MediaLocation;
use iprod_core::ports::{Links, ObjectMeta, ObjectStore, StoreError, UploadUrl};

/// Files under `root`, linked as `/files/<path relative to root>`.
#[derive(Debug, Clone)]
pub struct ServedFolder {
    root: PathBuf,
}

impl ServedFolder {
    /// Serves `root` (made absolute and canonical).
    ///
    /// # Errors
    /// When `root` does not exist.
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Ok(Self {
            root: root.canonicalize()?,
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn link(&self, location: &MediaLocation) -> Result<String, StoreError> {
        let MediaLocation::Local(path) = location else {
            return Err(StoreError::Unsupported(format!(
                "{location} is not in the served folder"
            )));
        };
        let relative = path.strip_prefix(&self.root).map_err(|_| {
            StoreError::Unsupported(format!("{location} is not in the served folder"))
        })?;
        let encoded: Vec<String> = relative
            .components()
            .map(|c| crate::alibaba::encode(&c.as_os_str().to_string_lossy()))
            .collect();
        Ok(format!("/files/{}", encoded.join("/")))
    }
}

impl ObjectStore for ServedFolder {
    async fn head(&self, location: &MediaLocation) -> Result<Option<ObjectMeta>, StoreError> {
        FsObjectStore.head(location).await
    }

    async fn download(&self, location: &MediaLocation, dest: &Path) -> Result<u64, StoreError> {
        FsObjectStore.download(location, dest).await
    }

    async fn upload(
        &self,
        src: &Path,
        location: &MediaLocation,
        content_type: &str,
    ) -> Result<(), StoreError> {
        FsObjectStore.upload(src, location, content_type).await
    }

    async fn put(
        &self,
        location: &MediaLocation,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        FsObjectStore.put(location, bytes, content_type).await
    }

    async fn get(&self, location: &MediaLocation) -> Result<Option<Vec<u8>>, StoreError> {
        FsObjectStore.get(location).await
    }

    async fn delete(&self, location: &MediaLocation) -> Result<(), StoreError> {
        FsObjectStore.delete(location).await
    }

    async fn list(&self, prefix: &MediaLocation) -> Result<Vec<MediaLocation>, StoreError> {
        FsObjectStore.list(prefix).await
    }
}

impl Links for ServedFolder {
    async fn upload_url(
        &self,
        location: &MediaLocation,
        content_type: &str,
        _valid: std::time::Duration,
    ) -> Result<UploadUrl, StoreError> {
        Ok(UploadUrl {
            url: self.link(location)?,
            method: "PUT".into(),
            headers: vec![("content-type".into(), content_type.into())],
        })
    }

    async fn download_url(
        &self,
        location: &MediaLocation,
        _valid: std::time::Duration,
    ) -> Result<String, StoreError> {
        self.link(location)
    }
}
