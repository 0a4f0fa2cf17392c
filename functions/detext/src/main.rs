//! Lambda function `VideoDetext`: burned-in captions found and removed.
//! Wiring only; everything else is in the `iprod` crate.
//!
//! ONNX Runtime and the OCR models (which find the captions) are loaded
//! once, at cold start, from `IPROD_MODELS`; a missing file stops the cold
//! start with an error that names it.

use std::sync::Arc;

use iprod::capabilities::detext::Detext;
use iprod::inference::ModelDir;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let capability = Detext::load(&ModelDir::from_env())?;
    iprod::lambda::serve(Arc::new(capability)).await
}
