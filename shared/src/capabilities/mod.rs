//! One slice per capability: its `Capability` implementation (`mod.rs`),
//! its params and result (`api.rs`), its algorithm files and its benchmark
//! (`bench.rs`, feature `bench`). The contract they fulfil is
//! `iprod_core::capability`, re-exported here.

#[cfg(feature = "beat-detection")]
pub mod beat_detection;
#[cfg(feature = "caption-extraction")]
pub mod caption_extraction;
#[cfg(feature = "cover")]
pub mod cover;
#[cfg(feature = "green-screen")]
pub mod green_screen;
#[cfg(feature = "h2v")]
pub mod h2v;
#[cfg(feature = "music-segment")]
pub mod music_segment;

use std::sync::Arc;

pub use iprod_core::capability::*;

use crate::domain::{ErrorCode, FunctionName, JobError};

/// The capability serving `function` in this build, if any.
///
/// # Errors
/// `UnsupportedFunction` for names this build does not implement.
pub fn for_function(function: FunctionName) -> Result<Arc<dyn DynCapability>, JobError> {
    match function {
        #[cfg(feature = "cover")]
        FunctionName::Cover => Ok(Arc::new(cover::Cover)),
        #[cfg(feature = "green-screen")]
        FunctionName::VideoGreenScreenMatting => Ok(Arc::new(green_screen::GreenScreen)),
        #[cfg(feature = "beat-detection")]
        FunctionName::AudioBeatDetection => Ok(Arc::new(beat_detection::BeatDetection::default())),
        #[cfg(feature = "music-segment")]
        FunctionName::MusicSegmentDetect => Ok(Arc::new(music_segment::MusicSegment)),
        #[cfg(feature = "caption-extraction")]
        FunctionName::CaptionExtraction => {
            caption_extraction::CaptionExtraction::load(&crate::inference::ModelDir::from_env())
                .map(|c| Arc::new(c) as Arc<dyn DynCapability>)
                .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))
        }
        #[cfg(feature = "h2v")]
        FunctionName::VideoH2V | FunctionName::ImageH2V => {
            h2v::H2v::load(&crate::inference::ModelDir::from_env())
                .map(|c| Arc::new(c) as Arc<dyn DynCapability>)
                .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))
        }
        other => Err(JobError::permanent(
            ErrorCode::UnsupportedFunction,
            format!("FunctionName {other} is not available in this build"),
        )),
    }
}
