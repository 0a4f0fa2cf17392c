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
#[cfg(feature = "delogo")]
pub mod delogo;
#[cfg(feature = "detext")]
pub mod detext;
#[cfg(feature = "green-screen")]
pub mod green_screen;
#[cfg(feature = "h2v")]
pub mod h2v;
#[cfg(feature = "green-screen")]
pub mod matte_out;
#[cfg(feature = "matting")]
pub mod matting;
#[cfg(feature = "music-segment")]
pub mod music_segment;

use std::sync::Arc;

pub use iprod_core::capability::*;

use crate::domain::params::ParamsSpec;
use crate::domain::{ErrorCode, FunctionName, JobError};

/// The description of what `function` takes in `JobParams`, when this build
/// implements it: the one its parser reads against, shown by
/// `iprod params` and published as a JSON Schema.
pub fn params_spec(function: FunctionName) -> Option<&'static ParamsSpec> {
    match function {
        #[cfg(feature = "cover")]
        FunctionName::Cover => Some(&cover::api::PARAMS),
        #[cfg(feature = "green-screen")]
        FunctionName::VideoGreenScreenMatting => Some(&green_screen::api::PARAMS),
        #[cfg(feature = "beat-detection")]
        FunctionName::AudioBeatDetection => Some(&beat_detection::api::PARAMS),
        #[cfg(feature = "music-segment")]
        FunctionName::MusicSegmentDetect => Some(&music_segment::api::PARAMS),
        #[cfg(feature = "caption-extraction")]
        FunctionName::CaptionExtraction => Some(&caption_extraction::api::PARAMS),
        #[cfg(feature = "h2v")]
        FunctionName::VideoH2V | FunctionName::ImageH2V => Some(&h2v::api::PARAMS),
        #[cfg(feature = "delogo")]
        FunctionName::VideoDelogo | FunctionName::ImageDelogo => Some(&delogo::api::PARAMS),
        #[cfg(feature = "detext")]
        FunctionName::VideoDetext => Some(&detext::api::PARAMS),
        #[cfg(feature = "matting")]
        FunctionName::VideoMatting | FunctionName::ImageMatting => Some(&matting::api::PARAMS),
        _ => None,
    }
}

/// Checks `params` for `function` as the function itself will, without
/// loading its models: what a submission is refused for before it is
/// queued.
///
/// # Errors
/// `UnsupportedFunction` when this build lacks `function`;
/// `InvalidParameter` naming the key otherwise.
pub fn check_params(function: FunctionName, params: &serde_json::Value) -> Result<(), JobError> {
    match function {
        #[cfg(feature = "cover")]
        FunctionName::Cover => cover::api::CoverParams::try_from(params).map(drop),
        #[cfg(feature = "green-screen")]
        FunctionName::VideoGreenScreenMatting => {
            green_screen::api::GreenScreenParams::try_from(params).map(drop)
        }
        #[cfg(feature = "beat-detection")]
        FunctionName::AudioBeatDetection => {
            beat_detection::api::BeatDetectionParams::try_from(params).map(drop)
        }
        #[cfg(feature = "music-segment")]
        FunctionName::MusicSegmentDetect => {
            music_segment::api::MusicSegmentParams::try_from(params).map(drop)
        }
        #[cfg(feature = "caption-extraction")]
        FunctionName::CaptionExtraction => {
            caption_extraction::api::CaptionExtractionParams::try_from(params).map(drop)
        }
        #[cfg(feature = "h2v")]
        FunctionName::VideoH2V | FunctionName::ImageH2V => {
            h2v::api::H2vParams::try_from(params).map(drop)
        }
        #[cfg(feature = "delogo")]
        FunctionName::VideoDelogo | FunctionName::ImageDelogo => {
            delogo::api::DelogoParams::try_from(params).map(drop)
        }
        #[cfg(feature = "detext")]
        FunctionName::VideoDetext => detext::api::DetextParams::try_from(params).map(drop),
        #[cfg(feature = "matting")]
        FunctionName::VideoMatting | FunctionName::ImageMatting => {
            matting::api::MattingParams::try_from(params).map(drop)
        }
        other => Err(unavailable(other)),
    }
}

fn unavailable(function: FunctionName) -> JobError {
    JobError::permanent(
        ErrorCode::UnsupportedFunction,
        format!("FunctionName {function} is not available in this build"),
    )
}

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
        #[cfg(feature = "delogo")]
        FunctionName::VideoDelogo | FunctionName::ImageDelogo => Ok(Arc::new(delogo::Delogo)),
        #[cfg(feature = "matting")]
        FunctionName::VideoMatting | FunctionName::ImageMatting => {
            matting::Matting::load(&crate::inference::ModelDir::from_env())
                .map(|c| Arc::new(c) as Arc<dyn DynCapability>)
                .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string()))
        }
        #[cfg(feature = "detext")]
        FunctionName::VideoDetext => detext::Detext::load(&crate::inference::ModelDir::from_env())
            .map(|c| Arc::new(c) as Arc<dyn DynCapability>)
            .map_err(|e| JobError::permanent(ErrorCode::InternalError, e.to_string())),
        other => Err(unavailable(other)),
    }
}
