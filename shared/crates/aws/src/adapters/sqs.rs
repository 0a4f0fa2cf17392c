//! SQS for submitting jobs: puts a `SubmitIProductionJob` message on a
//! function's queue.

use super::aws::classify;
use iprod_core::ports::{JobQueue, StoreError};

/// Submits job messages to one queue.
#[derive(Debug, Clone)]
pub struct SqsSubmitter {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsSubmitter {
    /// Submits to `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends one job message; returns the SQS message id.
    ///
    /// # Errors
    /// A [`StoreError`] classified by status.
    pub async fn submit(&self, message: &serde_json::Value) -> Result<String, StoreError> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(message.to_string())
            .send()
            .await
            .map_err(|e| classify(&e, &self.queue_url))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

impl JobQueue for SqsSubmitter {
    async fn send(&self, body: &serde_json::Value) -> Result<String, StoreError> {
        self.submit(body).await
    }
}
