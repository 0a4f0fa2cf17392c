//! Where media is read from and written to: `s3://bucket/key` or a local
//! path, and the Output template with its placeholders.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, JobError};

/// A media object: in S3 or on the local filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaLocation {
    /// An object in an S3 bucket. `key` is decoded (no `%2F`, no `+`).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key, decoded.
        key: String,
    },
    /// A file or folder on the local filesystem (CLI, tests).
    Local(PathBuf),
}

impl MediaLocation {
    /// Parses `s3://bucket/key`, `file:///path` or a plain path.
    ///
    /// # Errors
    /// A permanent error naming `what` when the URI has an unknown scheme
    /// or an empty bucket.
    pub fn parse(uri: &str, what: &str) -> Result<Self, JobError> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err(JobError::permanent(
                ErrorCode::InvalidMessage,
                format!("{what} is empty"),
            ));
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(JobError::permanent(
                    ErrorCode::InvalidMessage,
                    format!("{what} `{uri}` has no bucket"),
                ));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        if let Some(path) = uri.strip_prefix("file://") {
            return Ok(Self::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = uri.split_once("://") {
            return Err(JobError::permanent(
                ErrorCode::InvalidMessage,
                format!("{what} `{uri}`: scheme `{scheme}://` is not supported (use s3:// or a local path)"),
            ));
        }
        Ok(Self::Local(PathBuf::from(uri)))
    }

    /// The last path segment (`clip.mp4` for `s3://b/in/clip.mp4`).
    pub fn file_name(&self) -> &str {
        match self {
            Self::S3 { key, .. } => key.rsplit('/').next().unwrap_or(key),
            Self::Local(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
        }
    }

    /// The file name without its extension: the `{source}` placeholder.
    pub fn stem(&self) -> &str {
        let name = self.file_name();
        match name.rfind('.') {
            Some(dot) if dot > 0 => &name[..dot],
            _ => name,
        }
    }

    /// `Type` in the Alibaba-style `{Type, Media}` shape.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::S3 { .. } => "S3",
            Self::Local(_) => "Local",
        }
    }

    /// Appends a relative path (`a/b.jpg`) to this location.
    pub fn join(&self, relative: &str) -> Self {
        match self {
            Self::S3 { bucket, key } => {
                let key = if key.is_empty() || key.ends_with('/') {
                    format!("{key}{relative}")
                } else {
                    format!("{key}/{relative}")
                };
                Self::S3 {
                    bucket: bucket.clone(),
                    key,
                }
            }
            Self::Local(path) => Self::Local(path.join(relative)),
        }
    }
}

impl fmt::Display for MediaLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Self::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A location as jobs, records and notifications write it:
/// `{"Type": "S3", "Media": "s3://bucket/key"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TypedMedia {
    /// `S3` or `Local`; ignored when read.
    #[serde(default)]
    pub(crate) r#type: String,
    /// The URI (or template).
    pub(crate) media: String,
}

impl Serialize for MediaLocation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TypedMedia {
            r#type: self.kind().to_owned(),
            media: self.to_string(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for MediaLocation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shape = TypedMedia::deserialize(d)?;
        Self::parse(&shape.media, "Media").map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// The placeholders an Output template may use.
pub const PLACEHOLDERS: [&str; 5] = [
    "{source}",
    "{timestamp}",
    "{sequenceId}",
    "{resultType}",
    "{jobId}",
];

/// An Output location with placeholders, checked when the job is parsed.
///
/// A template that ends in `/` names a folder: files go into it as
/// `{source}-{resultType}.{ext}`, with `-{sequenceId}` when there are
/// several of that type, and the result JSON as `{source}-result.json`. Otherwise the template names the file; the extension
/// is always the one of the format written, and `-{sequenceId}` is added
/// when a job writes several files and the template does not say how to
/// tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutputTemplate(String);

/// The values placeholders expand to for one output file.
#[derive(Debug, Clone, Copy)]
pub struct OutputVars<'a> {
    /// Input file name without extension.
    pub source: &'a str,
    /// Job creation time, Unix seconds.
    pub timestamp: i64,
    /// 1-based index of the file among the job's outputs, or `result`.
    pub sequence_id: &'a str,
    /// Kind of output (`cover`, `zh`, `en`, `result`...).
    pub result_type: &'a str,
    /// The JobId.
    pub job_id: &'a str,
    /// Extension of the format written, without the dot.
    pub extension: &'a str,
    /// Whether the job writes more than one file of this result type.
    pub several: bool,
}

impl OutputTemplate {
    /// Checks the template: a known scheme and only known placeholders.
    ///
    /// # Errors
    /// `InvalidOutput` naming the unknown placeholder or scheme.
    pub fn parse(template: &str) -> Result<Self, JobError> {
        MediaLocation::parse(template, "Output")
            .map_err(|e| JobError::permanent(ErrorCode::InvalidOutput, e.message))?;
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let tail = &rest[open..];
            let close = tail.find('}').ok_or_else(|| {
                JobError::permanent(
                    ErrorCode::InvalidOutput,
                    format!("Output `{template}` has an unclosed `{{`"),
                )
            })?;
            let placeholder = &tail[..=close];
            if !PLACEHOLDERS.contains(&placeholder) {
                return Err(JobError::permanent(
                    ErrorCode::InvalidOutput,
                    format!(
                        "Output `{template}` uses unknown placeholder {placeholder}; known: {}",
                        PLACEHOLDERS.join(" ")
                    ),
                ));
            }
            rest = &tail[close + 1..];
        }
        Ok(Self(template.trim().to_owned()))
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bucket every expansion writes to, when the template names one
    /// without placeholders.
    pub fn bucket(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("s3://")?;
        let bucket = rest.split_once('/').map_or(rest, |(b, _)| b);
        (!bucket.contains('{')).then_some(bucket)
    }

    /// The location of one output file.
    ///
    /// # Errors
    /// `InvalidOutput` when the expanded location is not a valid URI.
    pub fn expand(&self, vars: &OutputVars<'_>) -> Result<MediaLocation, JobError> {
        let mut text = self.0.clone();
        if text.ends_with('/') {
            text.push_str("{source}");
            if vars.result_type != "result" && !vars.result_type.is_empty() {
                text.push_str("-{resultType}");
            }
            if vars.several {
                text.push_str("-{sequenceId}");
            }
        } else {
            text = strip_extension(&text).to_owned();
            if vars.several && !text.contains("{sequenceId}") {
                text.push_str("-{sequenceId}");
            }
        }
        let expanded = text
            .replace("{source}", vars.source)
            .replace("{timestamp}", &vars.timestamp.to_string())
            .replace("{sequenceId}", vars.sequence_id)
            .replace("{resultType}", vars.result_type)
            .replace("{jobId}", vars.job_id);
        let with_ext = format!("{expanded}.{}", vars.extension);
        MediaLocation::parse(&with_ext, "Output")
            .map_err(|e| JobError::permanent(ErrorCode::InvalidOutput, e.message))
    }
}

/// Drops a trailing `.ext` from the last segment, if it has one.
fn strip_extension(text: &str) -> &str {
    let last_slash = text.rfind('/').map_or(0, |i| i + 1);
    match text[last_slash..].rfind('.') {
        Some(dot) if dot > 0 && !text[last_slash + dot..].contains('}') => {
            &text[..last_slash + dot]
        }
        _ => text,
    }
}

/// Whether `path` is inside `dir` (both local).
pub fn path_is_inside(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(seq: &'a str, ext: &'a str, several: bool) -> OutputVars<'a> {
        OutputVars {
            source: "clip",
            timestamp: 1_700_000_000,
            sequence_id: seq,
            result_type: "cover",
            job_id: "j1",
            extension: ext,
            several,
        }
    }

    #[test]
    fn s3_uris_split_into_bucket_and_key() {
        let loc = MediaLocation::parse("s3://media/in/a b.mp4", "Input").expect("valid");
        assert_eq!(
            loc,
            MediaLocation::S3 {
                bucket: "media".into(),
                key: "in/a b.mp4".into()
            }
        );
        assert_eq!(loc.stem(), "a b");
    }

    #[test]
    fn unknown_schemes_are_rejected_by_name() {
        let err = MediaLocation::parse("oss://b/k.mp4", "Input").expect_err("oss");
        assert!(err.message.contains("oss://"), "{}", err.message);
        assert!(MediaLocation::parse("s3:///k", "Input").is_err());
        assert!(MediaLocation::parse("  ", "Input").is_err());
    }

    #[test]
    fn placeholders_expand_and_the_format_decides_the_extension() {
        let t =
            OutputTemplate::parse("s3://out/{source}/{timestamp}-{sequenceId}.png").expect("valid");
        let loc = t.expand(&vars("2", "jpg", true)).expect("expands");
        assert_eq!(loc.to_string(), "s3://out/clip/1700000000-2.jpg");
    }

    #[test]
    fn a_folder_template_gets_source_type_and_sequence() {
        let t = OutputTemplate::parse("s3://out/covers/").expect("valid");
        let loc = t.expand(&vars("1", "jpg", true)).expect("expands");
        assert_eq!(loc.to_string(), "s3://out/covers/clip-cover-1.jpg");
    }

    #[test]
    fn several_files_without_sequence_placeholder_stay_apart() {
        let t = OutputTemplate::parse("s3://out/{source}.jpg").expect("valid");
        let a = t.expand(&vars("1", "jpg", true)).expect("expands");
        let b = t.expand(&vars("2", "jpg", true)).expect("expands");
        assert_ne!(a, b);
        let single = t.expand(&vars("1", "jpg", false)).expect("expands");
        assert_eq!(single.to_string(), "s3://out/clip.jpg");
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let err = OutputTemplate::parse("s3://out/{sourc}.jpg").expect_err("typo");
        assert_eq!(err.code, ErrorCode::InvalidOutput);
        assert!(err.message.contains("{sourc}"));
        assert!(OutputTemplate::parse("s3://out/{source.jpg").is_err());
    }
}
