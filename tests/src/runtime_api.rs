//! A minimal Lambda Runtime API (the HTTP interface a function binary polls
//! for invocations), enough to run a real function binary locally: it
//! hands out queued events and collects responses and errors.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the function posted back for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `/invocation/{id}/response`.
    Response(serde_json::Value),
    /// `/invocation/{id}/error` or `/init/error`.
    Error(String),
}

#[derive(Default)]
struct State {
    events: Vec<serde_json::Value>,
    outcomes: Vec<Outcome>,
    polls: Vec<Instant>,
}

/// The emulator; drop it to stop serving.
pub struct RuntimeApi {
    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    state: Arc<Mutex<State>>,
    posted: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("address", &self.address)
            .finish()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Serves `events`, one per `/invocation/next`, on a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(events: Vec<serde_json::Value>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let state = Arc::new(Mutex::new(State {
            events: events.into_iter().rev().collect(),
            outcomes: Vec::new(),
            polls: Vec::new(),
        }));
        let posted = Arc::new(Notify::new());
        let (s, p) = (state.clone(), posted.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, s.clone(), p.clone()));
            }
        });
        Ok(Self {
            address,
            state,
            posted,
            task,
        })
    }

    /// When the function first asked for an invocation (`/invocation/next`):
    /// the end of its cold start. Waits up to `timeout`.
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.posted.notified();
            let first = self
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .polls
                .first()
                .copied();
            if first.is_some() || tokio::time::Instant::now() >= deadline {
                return first;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Waits until `n` outcomes have been posted or `timeout` passes.
    pub async fn outcomes(&self, n: usize, timeout: Duration) -> Vec<Outcome> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.posted.notified();
            let current = self
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .outcomes
                .clone();
            if current.len() >= n || tokio::time::Instant::now() >= deadline {
                return current;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>, posted: Arc<Notify>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let response = if path.ends_with("/invocation/next") {
            let event = {
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                state.polls.push(Instant::now());
                state.events.pop()
            };
            posted.notify_waiters();
            match event {
                Some(event) => {
                    let deadline = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_millis() + 300_000)
                        .unwrap_or(0);
                    let body = event.to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Lambda-Runtime-Aws-Request-Id: req-{deadline}\r\n\
                         Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:cover\r\n\
                         Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
                // No more work: hold the poll, as Lambda does between events.
                None => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            }
        } else {
            let text = String::from_utf8_lossy(&body).into_owned();
            let outcome = if path.ends_with("/response") {
                Outcome::Response(
                    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
                )
            } else {
                Outcome::Error(text)
            };
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .outcomes
                .push(outcome);
            posted.notify_waiters();
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_owned()
        };
        if reader
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
