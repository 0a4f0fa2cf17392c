//! A fault-injecting HTTP proxy in front of moto: the AWS SDK talks to it
//! as to any endpoint; chosen requests are answered `503 Service
//! Unavailable` or have their connection dropped, the rest are passed on
//! unchanged. One request per connection: every response closes it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// S3 `GetObject`.
    S3Get,
    /// S3 `PutObject` (uploads of outputs).
    S3Put,
    /// DynamoDB `PutItem`.
    DynamoPut,
    /// DynamoDB `GetItem`.
    DynamoGet,
    /// SNS `Publish`.
    SnsPublish,
    /// Every request.
    Any,
}

/// What a faulty request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `503 Service Unavailable`.
    Unavailable,
    /// The connection is closed without an answer (the endpoint died).
    Drop,
}

#[derive(Debug, Clone)]
struct Rule {
    call: Call,
    skip: usize,
    fail: usize,
    fault: Fault,
    /// Once it fires, every request of any kind fails this many times.
    then_all: usize,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    all: usize,
    all_fault: Option<Fault>,
    /// Fails this share of all requests at random (`503`).
    random_rate: f64,
    random: u64,
    requests: usize,
}

/// The proxy; dropped, it stops accepting.
#[derive(Debug)]
pub struct FaultProxy {
    /// Its `http://127.0.0.1:port`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    faults: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`).
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let state = Arc::new(Mutex::new(State::default()));
        let faults = Arc::new(AtomicUsize::new(0));
        let (s, f) = (state.clone(), faults.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, f, up) = (s.clone(), f.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &up, &s, &f).await;
                });
            }
        });
        Ok(Self {
            endpoint,
            state,
            faults,
            task,
        })
    }

    /// Fails the `fail` requests of `call` that follow the next `skip`.
    pub fn fail(&self, call: Call, skip: usize, fail: usize, fault: Fault) {
        self.lock().rules.push(Rule {
            call,
            skip,
            fail,
            fault,
            then_all: 0,
        });
    }

    /// After `skip` requests of `call` pass, the endpoint dies: that one
    /// and the next `count - 1` requests of any kind are dropped.
    pub fn die_at(&self, call: Call, skip: usize, count: usize) {
        self.lock().rules.push(Rule {
            call,
            skip,
            fail: 0,
            fault: Fault::Drop,
            then_all: count,
        });
    }

    /// Fails `rate` (0–1) of all requests at random from now on, with a
    /// seeded generator.
    pub fn fail_at_random(&self, rate: f64, seed: u64) {
        let mut state = self.lock();
        state.random_rate = rate;
        state.random = seed | 1;
    }

    /// How many requests were seen so far.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// How many requests were failed so far.
    pub fn faults(&self) -> usize {
        self.faults.load(Ordering::SeqCst)
    }

    /// Removes every rule that has not fired yet.
    pub fn heal(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.all = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The call a request is, from its head and body.
fn classify(head: &str, body: &[u8]) -> Vec<Call> {
    let lower = head.to_ascii_lowercase();
    let first = lower.lines().next().unwrap_or_default();
    let mut calls = vec![Call::Any];
    if let Some(target) = lower
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-target:"))
        .map(str::trim)
    {
        if target.ends_with(".putitem") {
            calls.push(Call::DynamoPut);
        } else if target.ends_with(".getitem") {
            calls.push(Call::DynamoGet);
        }
        return calls;
    }
    if first.starts_with("post ") && String::from_utf8_lossy(body).contains("Action=Publish") {
        calls.push(Call::SnsPublish);
        return calls;
    }
    // S3, path style: /bucket/key.
    let path = first.split(' ').nth(1).unwrap_or_default();
    let object = path
        .trim_start_matches('/')
        .split('?')
        .next()
        .is_some_and(|p| p.contains('/') && !p.ends_with('/'));
    if object && first.starts_with("put ") && !path.contains("x-id=copyobject") {
        calls.push(Call::S3Put);
    } else if object && first.starts_with("get ") {
        calls.push(Call::S3Get);
    }
    calls
}

/// The fault for a request of `calls`, if any (and counts the request).
fn decide(state: &Mutex<State>, calls: &[Call]) -> Option<Fault> {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.requests += 1;
    if state.random_rate > 0.0 {
        // xorshift64
        let mut x = state.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.random = x;
        if (x >> 11) as f64 / (1u64 << 53) as f64 <= state.random_rate {
            return Some(Fault::Unavailable);
        }
    }
    if state.all > 0 {
        state.all -= 1;
        return state.all_fault;
    }
    let mut fired = None;
    for rule in &mut state.rules {
        if !calls.contains(&rule.call) {
            continue;
        }
        if rule.skip > 0 {
            rule.skip -= 1;
            continue;
        }
        if rule.then_all > 0 {
            fired = Some((Fault::Drop, rule.then_all));
            rule.then_all = 0;
            break;
        }
        if rule.fail > 0 {
            rule.fail -= 1;
            return Some(rule.fault);
        }
    }
    if let Some((fault, count)) = fired {
        state.all = count - 1;
        state.all_fault = Some(fault);
        return Some(fault);
    }
    None
}

async fn read_request(stream: &mut TcpStream) -> anyhow::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let lower = head.to_ascii_lowercase();
    let length: usize = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let chunked = lower.contains("transfer-encoding: chunked");
    let mut body = buf[head_end..].to_vec();
    loop {
        let done = if chunked {
            body.ends_with(b"0\r\n\r\n")
        } else {
            body.len() >= length
        };
        if done {
            break;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, body)))
}

async fn serve(
    mut client: TcpStream,
    upstream: &str,
    state: &Mutex<State>,
    faults: &AtomicUsize,
) -> anyhow::Result<()> {
    let Some((head, body)) = read_request(&mut client).await? else {
        return Ok(());
    };
    match decide(state, &classify(&head, &body)) {
        Some(Fault::Drop) => {
            faults.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        Some(Fault::Unavailable) => {
            faults.fetch_add(1, Ordering::SeqCst);
            let text = "<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>";
            let response = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            client.write_all(response.as_bytes()).await?;
            return Ok(());
        }
        None => {}
    }
    // One request per upstream connection, closed after the answer.
    let mut rewritten = String::new();
    for line in head.trim_end_matches("\r\n\r\n").split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("Connection: close\r\n\r\n");
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(rewritten.as_bytes()).await?;
    server.write_all(&body).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    client.write_all(&response).await?;
    client.shutdown().await?;
    Ok(())
}
