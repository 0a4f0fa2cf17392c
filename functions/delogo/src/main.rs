//! Lambda function `VideoDelogo` / `ImageDelogo`: static logos and
//! watermarks found and removed. Wiring only; everything else is in the
//! `iprod` crate.

use std::sync::Arc;

use iprod::capabilities::delogo::Delogo;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    iprod::lambda::serve(Arc::new(Delogo)).await
}
