//! The integration tests, one binary: each module covers one capability or
//! one path through the system, against real media and a real moto server
//! (S3, SQS, SNS and DynamoDB over HTTP). One binary links FFmpeg, ONNX Runtime and the
//! AWS SDK once instead of once per file.

mod api;
mod beat_detection;
mod caption_extraction;
mod cover;
mod delogo;
mod detect;
mod detext;
mod encode;
mod events;
mod faults;
mod green_screen;
mod h2v;
mod hostile;
mod jobs;
mod matting;
mod music_segment;
mod pipeline;
mod sample_events;
mod segments;
