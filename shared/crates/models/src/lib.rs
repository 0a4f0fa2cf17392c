//! iprod's models: ONNX Runtime, loaded at run time from the library the
//! PyPI wheel ships, the sha256-pinned model manifest and folder, and (with
//! the `vision` feature) text detection and recognition (PP-OCR) and face
//! and salient-object detection.

#[cfg(feature = "vision")]
pub mod detect;
pub mod inference;
#[cfg(feature = "vision")]
pub mod ocr;
