//! Pixel work on RGB buffers: image statistics, quality measures,
//! perceptual hashes, resizing. Pure functions, no I/O.

pub mod hash;
pub mod quality;
pub mod regions;
pub mod resize;
