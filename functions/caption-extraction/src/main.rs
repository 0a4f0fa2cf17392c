//! Lambda function `CaptionExtraction`: burned-in subtitles to SRT, WebVTT
//! and JSON. Wiring only; everything else is in the `iprod` crate.
//!
//! ONNX Runtime and the OCR models are loaded once, at cold start, from
//! `IPROD_MODELS` (the container image puts them in /opt/iprod/models); a
//! missing file stops the cold start with an error that names it.

use std::sync::Arc;

use iprod::capabilities::caption_extraction::CaptionExtraction;
use iprod::inference::ModelDir;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let capability = CaptionExtraction::load(&ModelDir::from_env())?;
    iprod::lambda::serve(Arc::new(capability)).await
}
