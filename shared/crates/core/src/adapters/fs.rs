//! The local filesystem as an [`ObjectStore`] (CLI runs). Serves local
//! paths only.

use std::path::{Path, PathBuf};

use crate::domain::MediaLocation;
use crate::ports::{ObjectMeta, ObjectStore, StoreError};

/// Reads and writes local files.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsObjectStore;

fn local(location: &MediaLocation) -> Result<&Path, StoreError> {
    match location {
        MediaLocation::Local(path) => Ok(path),
        other => Err(StoreError::Unsupported(format!(
            "{other} is not a local path (the local runner reads and writes files only)"
        ))),
    }
}

fn io_error(e: &std::io::Error, path: &Path) -> StoreError {
    match e.kind() {
        std::io::ErrorKind::NotFound => StoreError::NotFound(path.display().to_string()),
        std::io::ErrorKind::PermissionDenied => {
            StoreError::AccessDenied(path.display().to_string())
        }
        _ => StoreError::Transient(format!("{}: {e}", path.display())),
    }
}

async fn ensure_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_error(&e, parent))?;
    }
    Ok(())
}

impl ObjectStore for FsObjectStore {
    async fn head(&self, location: &MediaLocation) -> Result<Option<ObjectMeta>, StoreError> {
        let path = local(location)?;
        match tokio::fs::metadata(path).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectMeta { size: meta.len() })),
            Ok(meta) if meta.is_dir() => Err(StoreError::NotAFile(path.display().to_string())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&e, path)),
        }
    }

    async fn download(&self, location: &MediaLocation, dest: &Path) -> Result<u64, StoreError> {
        let path = local(location)?;
        tokio::fs::copy(path, dest)
            .await
            .map_err(|e| io_error(&e, path))
    }

    async fn upload(
        &self,
        src: &Path,
        location: &MediaLocation,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        let path = local(location)?;
        ensure_parent(path).await?;
        tokio::fs::copy(src, path)
            .await
            .map(|_| ())
            .map_err(|e| io_error(&e, path))
    }

    async fn put(
        &self,
        location: &MediaLocation,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        let path = local(location)?;
        ensure_parent(path).await?;
        // Write then rename, so a reader never sees half a file.
        let tmp: PathBuf = path.with_extension("partial");
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| io_error(&e, &tmp))?;
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(|e| io_error(&e, path))
    }

    async fn get(&self, location: &MediaLocation) -> Result<Option<Vec<u8>>, StoreError> {
        let path = local(location)?;
        match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&e, path)),
        }
    }

    async fn delete(&self, location: &MediaLocation) -> Result<(), StoreError> {
        let path = local(location)?;
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&e, path)),
        }
    }
    async fn list(&self, prefix: &MediaLocation) -> Result<Vec<MediaLocation>, StoreError> {
        let root = local(prefix)?.to_path_buf();
        let mut found = Vec::new();
        let mut folders = vec![root];
        while let Some(folder) = folders.pop() {
            let mut entries = match tokio::fs::read_dir(&folder).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&e, &folder)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| io_error(&e, &folder))?
            {
                // Links are not followed: a listing stays inside its folder.
                match entry.file_type().await {
                    Ok(t) if t.is_dir() => folders.push(entry.path()),
                    Ok(t) if t.is_file() => found.push(MediaLocation::Local(entry.path())),
                    _ => {}
                }
            }
        }
        Ok(found)
    }
}
