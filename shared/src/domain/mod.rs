//! Value types shared by every capability and adapter: the job model, media
//! locations, limits and the typed params/results of each capability.

pub mod captions;
pub mod cover;
pub mod error;
pub mod format;
pub mod job;
pub mod limits;
pub mod location;
pub mod matting;
pub mod message;
pub mod music;
pub mod params;
pub mod reframe;

pub use error::{ErrorCode, JobError};
pub use format::ImageFormat;
pub use job::{FunctionName, Job, JobId, JobRecord, JobResult, JobState, Notification};
pub use limits::Limits;
pub use location::{MediaLocation, OutputTemplate};
pub use message::{SubmitMessage, SubmitMessageError};
