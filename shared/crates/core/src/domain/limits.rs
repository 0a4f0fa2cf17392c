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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 8 * 1024 * 1024 * 1024,
            max_duration_s: 4.0 * 3600.0,
            max_frame_pixels: 8192 * 4320,
        }
    }
}
