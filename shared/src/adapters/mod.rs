//! Implementations of the [`crate::ports`]: AWS (S3, SQS, SNS), the local
//! filesystem and console for the CLI, and memory for unit tests.

#[cfg(feature = "aws")]
pub mod aws;
pub mod fs;
pub mod memory;
pub mod records;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(feature = "aws")]
pub mod sns;
#[cfg(feature = "aws")]
pub mod sqs;
pub mod stdout;
