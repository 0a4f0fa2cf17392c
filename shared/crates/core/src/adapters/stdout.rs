//! A [`Notifier`] for local runs: one JSON line per notification on stderr
//! (stdout carries the result).

use std::io::Write;

use crate::domain::Notification;
use crate::ports::{Notifier, StoreError};

/// Prints notifications as JSON lines on stderr, when enabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleNotifier {
    /// Whether to print at all.
    pub enabled: bool,
}

impl Notifier for ConsoleNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), StoreError> {
        if self.enabled {
            let line = serde_json::to_string(notification)
                .map_err(|e| StoreError::Unsupported(e.to_string()))?;
            let mut err = std::io::stderr().lock();
            writeln!(err, "{line}").map_err(|e| StoreError::Transient(e.to_string()))?;
        }
        Ok(())
    }
}
