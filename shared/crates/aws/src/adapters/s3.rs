//! S3 as an [`ObjectStore`]. Serves `s3://` locations only; objects are
//! streamed to and from disk, never held whole in memory.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::AsyncWriteExt;

use super::aws::classify;
use iprod_core::domain::MediaLocation;
use iprod_core::ports::{ObjectMeta, ObjectStore, StoreError};

/// An S3 bucket store.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
}

impl S3ObjectStore {
    /// Wraps a client (see [`super::aws::s3_client`]).
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }

    async fn get_object(
        &self,
        location: &MediaLocation,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        let (bucket, key) = s3(location)?;
        self.client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&e, &location.to_string()))
    }
}

fn s3(location: &MediaLocation) -> Result<(&str, &str), StoreError> {
    match location {
        MediaLocation::S3 { bucket, key } if !key.is_empty() => Ok((bucket, key)),
        MediaLocation::S3 { bucket, .. } => Err(StoreError::Unsupported(format!(
            "s3://{bucket}/ names a bucket, not an object"
        ))),
        MediaLocation::Local(path) => Err(StoreError::Unsupported(format!(
            "{} is a local path; in Lambda, inputs and outputs are s3:// URIs",
            path.display()
        ))),
    }
}

impl ObjectStore for S3ObjectStore {
    async fn head(&self, location: &MediaLocation) -> Result<Option<ObjectMeta>, StoreError> {
        let (bucket, key) = s3(location)?;
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                size: out.content_length().unwrap_or(0).max(0) as u64,
            })),
            Err(e) => match classify(&e, &location.to_string()) {
                StoreError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn download(&self, location: &MediaLocation, dest: &Path) -> Result<u64, StoreError> {
        let mut body = self.get_object(location).await?.body;
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| StoreError::Transient(format!("{}: {e}", dest.display())))?;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| StoreError::Transient(format!("reading {location}: {e}")))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| StoreError::Transient(format!("{}: {e}", dest.display())))?;
            written += chunk.len() as u64;
        }
        file.flush()
            .await
            .map_err(|e| StoreError::Transient(format!("{}: {e}", dest.display())))?;
        Ok(written)
    }

    async fn upload(
        &self,
        src: &Path,
        location: &MediaLocation,
        content_type: &str,
    ) -> Result<(), StoreError> {
        let (bucket, key) = s3(location)?;
        let body = ByteStream::from_path(src)
            .await
            .map_err(|e| StoreError::Transient(format!("{}: {e}", src.display())))?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e, &location.to_string()))
    }

    async fn put(
        &self,
        location: &MediaLocation,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        let (bucket, key) = s3(location)?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e, &location.to_string()))
    }

    async fn get(&self, location: &MediaLocation) -> Result<Option<Vec<u8>>, StoreError> {
        match self.get_object(location).await {
            Ok(out) => out
                .body
                .collect()
                .await
                .map(|b| Some(b.into_bytes().to_vec()))
                .map_err(|e| StoreError::Transient(format!("reading {location}: {e}"))),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn delete(&self, location: &MediaLocation) -> Result<(), StoreError> {
        let (bucket, key) = s3(location)?;
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e, &location.to_string()))
    }

    async fn list(&self, prefix: &MediaLocation) -> Result<Vec<MediaLocation>, StoreError> {
        let (bucket, key) = s3(prefix)?;
        let mut found = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(key)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(&e, &prefix.to_string()))?;
            found.extend(page.contents().iter().filter_map(|o| {
                o.key().map(|k| MediaLocation::S3 {
                    bucket: bucket.to_owned(),
                    key: k.to_owned(),
                })
            }));
        }
        Ok(found)
    }
}

impl iprod_core::ports::Links for S3ObjectStore {
    async fn upload_url(
        &self,
        location: &MediaLocation,
        content_type: &str,
        valid: std::time::Duration,
    ) -> Result<iprod_core::ports::UploadUrl, StoreError> {
        let (bucket, key) = s3(location)?;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(valid)
            .map_err(|e| StoreError::Unsupported(e.to_string()))?;
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| StoreError::Transient(format!("presigning {location}: {e}")))?;
        Ok(iprod_core::ports::UploadUrl {
            url: request.uri().to_owned(),
            method: request.method().to_owned(),
            headers: request
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }

    async fn download_url(
        &self,
        location: &MediaLocation,
        valid: std::time::Duration,
    ) -> Result<String, StoreError> {
        let (bucket, key) = s3(location)?;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(valid)
            .map_err(|e| StoreError::Unsupported(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| StoreError::Transient(format!("presigning {location}: {e}")))?;
        Ok(request.uri().to_owned())
    }
}
