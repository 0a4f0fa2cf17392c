//! Lambda function `VideoH2V` / `ImageH2V`: a landscape video or picture
//! re-framed to portrait (or any aspect) by a virtual camera that follows
//! the subject. Wiring only; everything else is in the `iprod` crate.
//!
//! ONNX Runtime and the face and saliency models are loaded once, at cold
//! start, from `IPROD_MODELS` (the container image puts them in
//! /opt/iprod/models); a missing file stops the cold start with an error
//! that names it.

use std::sync::Arc;

use iprod::capabilities::h2v::H2v;
use iprod::inference::ModelDir;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let capability = H2v::load(&ModelDir::from_env())?;
    iprod::lambda::serve(Arc::new(capability)).await
}
