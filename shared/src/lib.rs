//! iprod: serverless intelligent production for video and audio.
//!
//! The processing crate shared by every Lambda function and the `iprod`
//! command-line tool. [`domain`] holds the value types, [`capabilities`]
//! the pure media work, [`pipeline`] runs one job through the [`ports`],
//! [`adapters`] implement the ports (S3, SQS, SNS, filesystem, memory), and
//! `lambda` turns Lambda events into jobs.

pub mod adapters;
#[cfg(feature = "audio")]
pub mod audio;
#[cfg(feature = "bench")]
pub mod bench;
pub mod capabilities;
pub mod config;
#[cfg(all(feature = "video", feature = "onnx"))]
pub mod detect;
pub mod domain;
#[cfg(feature = "onnx")]
pub mod inference;
#[cfg(feature = "aws")]
pub mod lambda;
#[cfg(feature = "media")]
pub mod media;
#[cfg(all(feature = "video", feature = "onnx"))]
pub mod ocr;
pub mod pipeline;
pub mod ports;
pub mod submit;
pub mod telemetry;
#[cfg(feature = "video")]
pub mod vision;
