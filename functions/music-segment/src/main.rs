//! Lambda function `MusicSegmentDetect`: every chorus and all sections.
//! Wiring only; everything else is in the `iprod` crate.

use std::sync::Arc;

use iprod::capabilities::music_segment::MusicSegment;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    iprod::lambda::serve(Arc::new(MusicSegment)).await
}
