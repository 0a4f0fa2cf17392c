//! Lambda function `api`: the HTTP API behind API Gateway.
//! Wiring only; everything else is in the `iprod` and `iprod-api` crates.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    iprod::http::serve().await
}
