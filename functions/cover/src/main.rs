//! Lambda function `Cover`: ranked cover frames of a video.
//! Wiring only; everything else is in the `iprod` crate.

use std::sync::Arc;

use iprod::capabilities::cover::Cover;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    iprod::lambda::serve(Arc::new(Cover)).await
}
