//! SNS as the [`Notifier`]: one message per finished job, with
//! `FunctionName` and `State` message attributes for subscription filters.

use aws_sdk_sns::types::MessageAttributeValue;

use super::aws::classify;
use iprod_core::domain::Notification;
use iprod_core::ports::{Notifier, StoreError};

/// Publishes to one topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// Publishes to `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, StoreError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| StoreError::Unsupported(e.to_string()))
}

impl Notifier for SnsNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), StoreError> {
        let body = serde_json::to_string(notification)
            .map_err(|e| StoreError::Unsupported(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body)
            .message_attributes(
                "FunctionName",
                attribute(notification.function_name.as_str())?,
            )
            .message_attributes("State", attribute(notification.state.as_str())?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e, &self.topic_arn))
    }
}
