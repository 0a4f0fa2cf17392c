//! The [`iprod_core::ports`] on AWS: S3 objects, DynamoDB job records, SQS
//! job submission, SNS notifications, and the SDK configuration they share.

pub mod aws;
pub mod dynamodb;
pub mod s3;
pub mod sfn;
pub mod sns;
pub mod sqs;
