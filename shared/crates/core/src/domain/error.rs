//! The error a job ends with: a stable `Code`, a human `Message`, and whether
//! trying again could help.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable, machine-readable reason a job failed. Serialised as the `Code`
/// field of the job record and of the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The event or message could not be understood.
    InvalidMessage,
    /// A `JobParams` key is unknown, of the wrong type or out of range.
    InvalidParameter,
    /// `FunctionName` is unknown or not served by this function.
    UnsupportedFunction,
    /// The input object or file does not exist.
    InputNotFound,
    /// The input could not be read as media (corrupt, truncated, no stream).
    InvalidMedia,
    /// The input is media, but of a kind this capability does not handle.
    UnsupportedMedia,
    /// The input is over a configured limit (bytes, duration, pixels).
    LimitExceeded,
    /// The output location is unusable (bad URI, would overwrite the input or
    /// re-trigger the function).
    InvalidOutput,
    /// Access to storage was refused.
    AccessDenied,
    /// A transient fault (network, throttling, 5xx). Retried.
    ServiceUnavailable,
    /// The job ran out of time.
    Timeout,
    /// Another attempt of the same job is running. Retried.
    JobBusy,
    /// The job was stopped by a signal (Ctrl-C on a local run).
    Interrupted,
    /// The job's process died (killed, out of memory, out of time) on its
    /// last attempt; its message went to the dead-letter queue.
    Abandoned,
    /// The job was cancelled while it was still queued.
    Cancelled,
    /// A bug or an unexpected state.
    InternalError,
}

impl ErrorCode {
    /// The code as written in job records (`"InvalidMedia"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidMessage => "InvalidMessage",
            Self::InvalidParameter => "InvalidParameter",
            Self::UnsupportedFunction => "UnsupportedFunction",
            Self::InputNotFound => "InputNotFound",
            Self::InvalidMedia => "InvalidMedia",
            Self::UnsupportedMedia => "UnsupportedMedia",
            Self::LimitExceeded => "LimitExceeded",
            Self::InvalidOutput => "InvalidOutput",
            Self::AccessDenied => "AccessDenied",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::Timeout => "Timeout",
            Self::JobBusy => "JobBusy",
            Self::Interrupted => "Interrupted",
            Self::Abandoned => "Abandoned",
            Self::Cancelled => "Cancelled",
            Self::InternalError => "InternalError",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job did not succeed. Permanent errors (the input's fault) end the
/// job as `Fail`; retryable ones (the world's fault) are retried by the
/// queue and only become `Fail` on the last attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct JobError {
    /// Stable reason.
    pub code: ErrorCode,
    /// What went wrong, naming the key, object or limit involved.
    pub message: String,
    /// Whether the same job may succeed if tried again.
    pub retryable: bool,
}

impl JobError {
    /// A permanent error: the input, params or event are at fault.
    pub fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: false,
        }
    }

    /// A transient error: storage, network or throttling.
    pub fn retryable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: true,
        }
    }

    /// Shorthand for an `InvalidParameter` error naming `key`.
    pub fn param(key: &str, problem: impl fmt::Display) -> Self {
        Self::permanent(
            ErrorCode::InvalidParameter,
            format!("JobParams.{key}: {problem}"),
        )
    }
}
