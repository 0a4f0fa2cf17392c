//! Lambda function `Cover`: ranked cover frames of a video.
//! Wiring only; everything else is in the `iprod` crate.

use std::sync::Arc;

use iprod::capabilities::cover::Cover;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime_error::Error> {
    iprod::lambda::serve(Arc::new(Cover)).await
}

mod lambda_runtime_error {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
}
