//! Lambda function `VideoGreenScreenMatting`: green- and blue-screen keying
//! with real alpha. Wiring only; everything else is in the `iprod` crate.

use std::sync::Arc;

use iprod::capabilities::green_screen::GreenScreen;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    iprod::lambda::serve(Arc::new(GreenScreen)).await
}
