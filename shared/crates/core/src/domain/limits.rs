//! Limits checked before any decoding, so that a hostile or absurd input is
//! refused cheaply instead of exhausting the sandbox.

use serde::{Deserialize, Serialize};

/// Upper bounds on what one job may read. Defaults suit a 10 GiB Lambda
/// `/tmp` and its 15-minute deadline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest input object, in bytes.
    pub max_input_bytes: u64,
    /// Longest media duration, in seconds.
    pub max_duration_s: f64,
    /// Largest video frame, in pixels (width × height).
    pub max_frame_pixels: u64,
    /// Largest output a job may write in its work folder, in bytes: a
    /// long job's joined video is written there whole before it is
    /// stored.
    #[serde(default = "default_max_output_bytes")]
    pub max_output_bytes: u64,
}

fn default_max_output_bytes() -> u64 {
    Limits::default().max_output_bytes
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 8 * 1024 * 1024 * 1024,
            max_duration_s: 4.0 * 3600.0,
            max_frame_pixels: 8192 * 4320,
            // The 10 GiB of /tmp, less room for the audio and the rest.
            max_output_bytes: 9 * 1024 * 1024 * 1024,
        }
    }
}
