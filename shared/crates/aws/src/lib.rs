//! iprod on AWS: the S3, SQS and SNS adapters and the Lambda handler that
//! turns S3 events, SQS messages and direct invokes into jobs.

pub mod adapters;
pub mod lambda;
