//! Burned-in subtitle extraction, the parts that need no model: the text
//! mask that gates OCR, the frame-accurate run splitter, the cue builder
//! and the subtitle file formats.

pub mod cues;
pub mod mask;
pub mod runs;
pub mod subtitle;
