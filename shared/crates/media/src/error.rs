use std::path::PathBuf;

use iprod_core::domain::{ErrorCode, JobError};

/// What can go wrong reading or writing media.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// FFmpeg could not open or understand the file at all.
    #[error("cannot read `{path}` as media: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// FFmpeg's reason.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// The file is of a kind that is never read: playlists, text, and
    /// other formats that can name other files or addresses.
    #[error("`{path}` would be read by FFmpeg's `{format}` demuxer, which is not allowed: only plain media files are read (no playlists, text, image sequences or formats that refer to other files)")]
    Refused {
        /// The file.
        path: PathBuf,
        /// FFmpeg's name of its format.
        format: String,
    },
    /// The file has no stream of the kind needed.
    #[error("`{path}` has no {kind} stream")]
    NoStream {
        /// The file.
        path: PathBuf,
        /// `video` or `audio`.
        kind: &'static str,
    },
    /// No decoder for the stream's codec.
    #[error("no decoder for codec `{codec}`")]
    UnsupportedCodec {
        /// Codec name as FFmpeg reports it.
        codec: String,
    },
    /// The stream is damaged beyond use (no frame could be decoded).
    #[error("the {kind} stream could not be decoded: {detail}")]
    Corrupt {
        /// `video` or `audio`.
        kind: &'static str,
        /// What happened.
        detail: String,
    },
    /// The input is over a configured limit.
    #[error("{what} is {actual}, over the limit of {limit}")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// The input's value.
        actual: String,
        /// The limit.
        limit: String,
    },
    /// The part asked for starts at or after the end of the media.
    #[error("the start time, {start:.1} s, is at or past the end of the media ({duration:.1} s)")]
    StartPastEnd {
        /// The start asked for, seconds.
        start: f64,
        /// How long the media is, seconds.
        duration: f64,
    },
    /// The job was cancelled (deadline near).
    #[error("cancelled")]
    Cancelled,
    /// An FFmpeg call failed in a way that is not the input's fault.
    #[error("{context}: {source}")]
    Ffmpeg {
        /// What was being done.
        context: &'static str,
        /// FFmpeg's reason.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// Encoding an image failed.
    #[error("encoding {format}: {detail}")]
    Encode {
        /// Target format.
        format: &'static str,
        /// What happened.
        detail: String,
    },
    /// Filesystem error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl From<MediaError> for JobError {
    fn from(e: MediaError) -> Self {
        let code = match &e {
            MediaError::Open { .. } | MediaError::Corrupt { .. } | MediaError::Refused { .. } => {
                ErrorCode::InvalidMedia
            }
            MediaError::NoStream { .. } | MediaError::UnsupportedCodec { .. } => {
                ErrorCode::UnsupportedMedia
            }
            MediaError::Limit { .. } => ErrorCode::LimitExceeded,
            MediaError::StartPastEnd { .. } => ErrorCode::InvalidParameter,
            MediaError::Cancelled => ErrorCode::Timeout,
            MediaError::Ffmpeg { .. } | MediaError::Encode { .. } | MediaError::Io { .. } => {
                ErrorCode::InternalError
            }
        };
        JobError::permanent(code, e.to_string())
    }
}
