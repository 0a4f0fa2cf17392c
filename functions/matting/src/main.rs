//! Lambda function `VideoMatting` / `ImageMatting`: people cut out of a
//! picture or a video with a soft alpha, no screen needed. Wiring only;
//! everything else is in the `iprod` crate.
//!
//! ONNX Runtime and the person model are loaded once, at cold start, from
//! `IPROD_MODELS` (the container image puts them in /opt/iprod/models); a
//! missing file stops the cold start with an error that names it.

use std::sync::Arc;

use iprod::capabilities::matting::Matting;
use iprod::inference::ModelDir;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let capability = Matting::load(&ModelDir::from_env())?;
    iprod::lambda::serve(Arc::new(capability)).await
}
