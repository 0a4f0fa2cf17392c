//! Lambda function `AudioBeatDetection`: beats, downbeats, tempo and meter.
//! Wiring only; everything else is in the `iprod` crate.

use std::sync::Arc;

use iprod::capabilities::beat_detection::BeatDetection;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    iprod::lambda::serve(Arc::new(BeatDetection::default())).await
}
