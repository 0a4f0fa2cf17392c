//! iprod: serverless intelligent production for video and audio.
//!
//! The processing crate every function binary and the `iprod` command-line
//! tool share. It holds the capabilities, one slice each under
//! [`capabilities`], and re-exports the crates they are built on, each
//! behind the features that need it:
//!
//! - `iprod-core`: [`domain`], [`ports`], [`pipeline`], [`config`] and the
//!   capability contract (always);
//! - `iprod-aws`: the AWS [`adapters`] and [`lambda`] (feature `aws`);
//! - `iprod-media`: FFmpeg [`media`] and pixel work [`vision`];
//! - `iprod-dsp`: music DSP, as [`audio`];
//! - `iprod-models`: ONNX Runtime [`inference`], [`ocr`] and [`detect`].
//!
//! A function enables the feature of its capability (`cover`,
//! `beat-detection`, `music-segment`, `caption-extraction`, `green-screen`,
//! `h2v`) and `aws`, and links nothing the others need.

pub mod capabilities;

pub use iprod_core::{config, domain, pipeline, ports, split, submit, telemetry};

/// Implementations of the [`ports`]: filesystem, console, memory and job
/// records over any object store; S3, SQS and SNS with the `aws` feature.
pub mod adapters {
    #[cfg(feature = "aws")]
    pub use iprod_aws::adapters::*;
    pub use iprod_core::adapters::*;
}

/// The Lambda side: [`lambda::serve`] runs a function.
#[cfg(feature = "aws")]
pub mod lambda {
    pub use iprod_aws::lambda::*;

    /// Runs a function: its jobs from S3, SQS and direct invocations, and
    /// the steps of its long jobs' state machine (with FFmpeg where this
    /// build decodes video).
    ///
    /// # Errors
    /// A configuration error at cold start, or a runtime API failure.
    pub async fn serve(
        capability: std::sync::Arc<dyn crate::capabilities::DynCapability>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        #[cfg(feature = "video")]
        let segmenter: Option<std::sync::Arc<dyn crate::ports::Segmenter>> =
            Some(std::sync::Arc::new(crate::media::join::FfmpegSegmenter));
        #[cfg(not(feature = "video"))]
        let segmenter = None;
        iprod_aws::lambda::serve_with(capability, segmenter).await
    }
}

#[cfg(feature = "api")]
pub mod http;

#[cfg(feature = "media")]
pub use iprod_media as media;
#[cfg(feature = "video")]
pub use iprod_media::vision;

#[cfg(feature = "audio")]
pub use iprod_dsp as audio;

#[cfg(feature = "onnx")]
pub use iprod_models::inference;
#[cfg(feature = "vision-models")]
pub use iprod_models::{detect, ocr};

#[cfg(feature = "bench")]
pub mod bench;
