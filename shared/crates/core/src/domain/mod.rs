//! Value types shared by every capability and adapter: the job model, media
//! locations, limits and the `JobParams` reader. Each capability's own
//! params and result live in its slice (`capabilities/<name>/api.rs`).

pub mod error;
pub mod format;
pub mod job;
pub mod limits;
pub mod listing;
pub mod location;
pub mod message;
pub mod params;
pub mod span;

pub use error::{ErrorCode, JobError};
pub use format::ImageFormat;
pub use job::{
    format_time, FunctionName, Job, JobCode, JobId, JobRecord, JobResult, JobState, Lease,
    Notification, Outcome, RecordInput, RecordOutput,
};
pub use limits::Limits;
pub use listing::{JobFilter, JobPage};
pub use location::{MediaLocation, OutputTemplate};
pub use message::{SubmitMessage, SubmitMessageError};
pub use span::Span;
