//! SQS for submitting jobs: puts a `SubmitIProductionJob` message on a
//! function's queue.

use std::collections::HashMap;

use super::aws::classify;
use iprod_core::domain::FunctionName;
use iprod_core::ports::{Dispatch, JobQueue, StoreError};

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

/// Each function's queue, for the HTTP API.
#[derive(Debug, Clone, Default)]
pub struct SqsDispatch {
    queues: HashMap<FunctionName, SqsSubmitter>,
}

impl SqsDispatch {
    /// Queues from `FunctionName=queue-url` pairs, comma-separated
    /// (`IPROD_QUEUES`).
    ///
    /// # Errors
    /// Naming the pair that is not one, or the unknown FunctionName.
    pub fn parse(client: &aws_sdk_sqs::Client, pairs: &str) -> Result<Self, String> {
        let mut queues = HashMap::new();
        for pair in pairs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, url) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not FunctionName=queue-url"))?;
            let function: FunctionName = name
                .parse()
                .map_err(|e: iprod_core::domain::JobError| e.message)?;
            queues.insert(function, SqsSubmitter::new(client.clone(), url.trim()));
        }
        Ok(Self { queues })
    }
}

impl Dispatch for SqsDispatch {
    fn serves(&self, function: FunctionName) -> bool {
        self.queues.contains_key(&function)
    }

    async fn send(
        &self,
        function: FunctionName,
        body: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let queue = self.queues.get(&function).ok_or_else(|| {
            StoreError::Unsupported(format!("no queue for FunctionName {function}"))
        })?;
        queue.submit(body).await.map(drop)
    }
}
