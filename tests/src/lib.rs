//! Helpers for the integration tests: a real moto server (S3, SQS, SNS on
//! one port) and a per-test set of buckets, queues and topic wired the way
//! `template.yaml` wires them.
//!
//! The server is the one named by `IPROD_TEST_ENDPOINT` when set (CI starts
//! one), otherwise one started here on a free port and stopped when the
//! test process exits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use iprod::capabilities::Capability;
use iprod::config::LambdaConfig;
use iprod::lambda::{aws_handler_with, AwsHandler};

/// The region every test uses.
pub const REGION: &str = "us-east-1";

struct Server {
    endpoint: String,
    // Holds the pipe whose closing stops the server when this process exits.
    _guard: Option<Mutex<Child>>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

fn moto_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

fn start_server() -> Result<Server, String> {
    if let Ok(endpoint) = std::env::var("IPROD_TEST_ENDPOINT") {
        return Ok(Server {
            endpoint,
            _guard: None,
        });
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("finding a free port: {e}"))?
        .port();
    let binary = moto_binary();
    // The shell stops moto when our end of its stdin closes, i.e. when the
    // test process exits for any reason.
    let script = format!(
        "\"{}\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid",
        binary.display()
    );
    let child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Server {
                endpoint,
                _guard: Some(Mutex::new(child)),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{} did not listen on port {port} within 30 s (install it with `pip install 'moto[server]'` or run scripts/setup)",
        binary.display()
    ))
}

/// The endpoint of the moto server, starting it on first use.
///
/// # Panics
/// When no server can be started (the message says how to get one).
pub fn endpoint() -> String {
    let server = SERVER.get_or_init(start_server);
    match server {
        Ok(s) => s.endpoint.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// A unique, lower-case name for this test's resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid_like()[..12])
}

fn uuid_like() -> String {
    iprod::domain::JobId::random().as_str().to_owned()
}

/// One test's world: input/output/state buckets, the function's queue fed
/// by the input bucket's notifications, the topic, and a queue subscribed
/// to the topic to read notifications back.
#[derive(Debug, Clone)]
pub struct World {
    /// moto endpoint.
    pub endpoint: String,
    /// SDK configuration pointing at moto.
    pub sdk: aws_config::SdkConfig,
    /// S3 client (path style).
    pub s3: aws_sdk_s3::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// Input bucket (uploads under `input/` trigger the function).
    pub input_bucket: String,
    /// Output bucket.
    pub output_bucket: String,
    /// Job records bucket.
    pub state_bucket: String,
    /// The function's queue.
    pub queue_url: String,
    /// Notifications topic.
    pub topic_arn: String,
    /// Queue subscribed to the topic.
    pub notes_url: String,
}

impl World {
    /// Creates every resource on the moto server.
    ///
    /// # Errors
    /// When moto refuses a call.
    pub async fn new() -> anyhow::Result<Self> {
        let endpoint = endpoint();
        let sdk =
            iprod::adapters::aws::static_sdk_config(&endpoint, REGION, "testing", "testing").await;
        let s3 = iprod::adapters::aws::s3_client(&sdk, true);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let id = unique("t");
        let input_bucket = format!("{id}-input");
        let output_bucket = format!("{id}-output");
        let state_bucket = format!("{id}-state");
        for bucket in [&input_bucket, &output_bucket, &state_bucket] {
            s3.create_bucket()
                .bucket(bucket)
                .send()
                .await
                .context("create_bucket")?;
        }
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{id}-cover"))
            .send()
            .await
            .context("create_queue")?
            .queue_url
            .unwrap_or_default();
        let cover_arn = queue_arn(&sqs, &queue_url).await?;
        s3.put_bucket_notification_configuration()
            .bucket(&input_bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .queue_arn(&cover_arn)
                            .events(Event::S3ObjectCreated)
                            .filter(
                                NotificationConfigurationFilter::builder()
                                    .key(
                                        S3KeyFilter::builder()
                                            .filter_rules(
                                                FilterRule::builder()
                                                    .name(FilterRuleName::Prefix)
                                                    .value("input/")
                                                    .build(),
                                            )
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build()
                            .context("queue configuration")?,
                    )
                    .build(),
            )
            .send()
            .await
            .context("put_bucket_notification_configuration")?;
        let topic_arn = sns
            .create_topic()
            .name(format!("{id}-events"))
            .send()
            .await
            .context("create_topic")?
            .topic_arn
            .unwrap_or_default();
        let notes_url = sqs
            .create_queue()
            .queue_name(format!("{id}-notes"))
            .send()
            .await
            .context("create_queue notes")?
            .queue_url
            .unwrap_or_default();
        let notes_arn = queue_arn(&sqs, &notes_url).await?;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(notes_arn)
            .send()
            .await
            .context("subscribe")?;
        let world = Self {
            endpoint,
            sdk,
            s3,
            sqs,
            sns,
            input_bucket,
            output_bucket,
            state_bucket,
            queue_url,
            topic_arn,
            notes_url,
        };
        // S3 sends a test event when notifications are configured; drain it.
        let _ = world
            .receive(&world.queue_url.clone(), Duration::from_millis(300))
            .await;
        Ok(world)
    }

    /// The function configuration a deployment would have.
    ///
    /// # Errors
    /// When the configuration is invalid.
    pub fn config(&self) -> anyhow::Result<LambdaConfig> {
        self.config_with(r#"{"Count":2}"#)
    }

    /// The configuration with `job_params` for S3-triggered jobs.
    ///
    /// # Errors
    /// When the configuration is invalid.
    pub fn config_with(&self, job_params: &str) -> anyhow::Result<LambdaConfig> {
        let pairs = [
            ("IPROD_STATE_BUCKET", self.state_bucket.clone()),
            (
                "IPROD_OUTPUT",
                format!("s3://{}/output/{{source}}/{{jobId}}/", self.output_bucket),
            ),
            ("IPROD_TOPIC_ARN", self.topic_arn.clone()),
            ("IPROD_INPUT_BUCKET", self.input_bucket.clone()),
            ("IPROD_INPUT_PREFIX", "input/".to_owned()),
            ("IPROD_JOB_PARAMS", job_params.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ];
        LambdaConfig::from_lookup(|k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.clone())
        })
        .map_err(|e| anyhow::anyhow!(e))
    }

    /// The handler a deployed function would run.
    ///
    /// # Errors
    /// When the configuration is invalid.
    pub fn handler(&self, capability: Arc<dyn Capability>) -> anyhow::Result<AwsHandler> {
        let params = match capability.function() {
            iprod::domain::FunctionName::Cover => r#"{"Count":2}"#,
            _ => "{}",
        };
        Ok(aws_handler_with(
            &self.sdk,
            &self.config_with(params)?,
            capability,
        ))
    }

    /// Uploads a local file to the input bucket.
    ///
    /// # Errors
    /// When the upload fails.
    pub async fn upload(&self, key: &str, path: &std::path::Path) -> anyhow::Result<()> {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(path).await?;
        self.s3
            .put_object()
            .bucket(&self.input_bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .context("put_object")?;
        Ok(())
    }

    /// Receives messages from `queue_url` until some arrive or `wait` ends,
    /// as they would reach a Lambda function (an SQS event's records, with
    /// `ApproximateReceiveCount`).
    ///
    /// # Errors
    /// When SQS refuses the call.
    pub async fn receive(
        &self,
        queue_url: &str,
        wait: Duration,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let start = Instant::now();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .context("receive_message")?;
            let messages = out.messages.unwrap_or_default();
            if !messages.is_empty() {
                let mut records = Vec::new();
                for m in messages {
                    if let Some(handle) = &m.receipt_handle {
                        self.sqs
                            .delete_message()
                            .queue_url(queue_url)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .context("delete_message")?;
                    }
                    let attributes: serde_json::Map<String, serde_json::Value> = m
                        .attributes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k.as_str().to_owned(), serde_json::Value::String(v)))
                        .collect();
                    records.push(serde_json::json!({
                        "messageId": m.message_id,
                        "receiptHandle": m.receipt_handle,
                        "body": m.body,
                        "attributes": attributes,
                        "messageAttributes": {},
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cover",
                        "awsRegion": REGION,
                    }));
                }
                return Ok(records);
            }
            if start.elapsed() >= wait {
                return Ok(Vec::new());
            }
        }
    }

    /// Notifications published so far, as the JSON messages inside the SNS
    /// envelopes, with the envelope's message attributes under
    /// `_Attributes`.
    ///
    /// # Errors
    /// When SQS refuses the call or a body is not an SNS envelope.
    pub async fn notifications(&self, wait: Duration) -> anyhow::Result<Vec<serde_json::Value>> {
        let records = self.receive(&self.notes_url.clone(), wait).await?;
        let mut out = Vec::new();
        for record in records {
            let body = record["body"].as_str().unwrap_or_default();
            let envelope: serde_json::Value = serde_json::from_str(body).context("SNS envelope")?;
            let mut message: serde_json::Value =
                serde_json::from_str(envelope["Message"].as_str().unwrap_or_default())
                    .context("notification body")?;
            message["_Attributes"] = envelope["MessageAttributes"].clone();
            out.push(message);
        }
        Ok(out)
    }

    /// Keys in a bucket (all of them).
    ///
    /// # Errors
    /// When S3 refuses the call.
    pub async fn keys(&self, bucket: &str) -> anyhow::Result<Vec<String>> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .context("list_objects_v2")?;
        let mut keys: Vec<String> = out
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Reads an object as bytes.
    ///
    /// # Errors
    /// When the object is missing.
    pub async fn read(&self, bucket: &str, key: &str) -> anyhow::Result<Vec<u8>> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("get_object {bucket}/{key}"))?;
        Ok(out.body.collect().await?.into_bytes().to_vec())
    }

    /// Asserts that an SQS batch response asks for no retry.
    ///
    /// # Panics
    /// When it lists a failed message.
    pub fn assert_no_retries(response: &serde_json::Value) {
        assert_eq!(
            response["batchItemFailures"],
            serde_json::json!([]),
            "no message should be retried: {response}"
        );
    }

    /// An SQS event (as Lambda delivers it) holding `records`.
    pub fn sqs_event(records: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({ "Records": records })
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .context("get_queue_attributes")?;
    match out.attributes.and_then(|a| {
        a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .cloned()
    }) {
        Some(arn) => Ok(arn),
        None => bail!("queue {url} has no ARN"),
    }
}

/// Makes media files for tests with the `ffmpeg` tool.
pub mod media {
    use std::path::{Path, PathBuf};

    pub use iprod::bench::synth::{generated_clip, Defects};

    /// A short 320×180 H.264 clip of FFmpeg's test pattern with a tone.
    ///
    /// # Errors
    /// When ffmpeg fails.
    pub fn small_clip(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        let out = path.to_string_lossy().into_owned();
        iprod::bench::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=s=320x180:r=25",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:sample_rate=44100",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-c:a",
            "aac",
            "-shortest",
            &out,
        ])?;
        Ok(path)
    }

    /// A file that claims to be an MP4 but is garbage after a valid start.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn corrupt_clip(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let good = small_clip(dir, "good-for-corrupt.mp4")?;
        let mut bytes = std::fs::read(good)?;
        let keep = bytes.len() / 3;
        bytes.truncate(keep);
        for (i, b) in bytes.iter_mut().enumerate().skip(64) {
            *b = b.wrapping_mul(31).wrapping_add(i as u8);
        }
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    }
}

/// A minimal Lambda Runtime API (the HTTP interface a function binary polls
/// for invocations), enough to run a real function binary locally: it
/// hands out queued events and collects responses and errors.
pub mod runtime_api {
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
                let event = state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .events
                    .pop();
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
}

/// Synthesized music whose beats are known.
pub mod music {
    use std::path::{Path, PathBuf};

    /// Sample rate of the synthesized signals.
    pub const RATE: u32 = 44_100;

    /// A signal and the truth about it.
    #[derive(Debug, Clone)]
    pub struct Piece {
        /// Mono samples at [`RATE`].
        pub samples: Vec<f32>,
        /// Beat times, seconds.
        pub beats: Vec<f64>,
        /// Position of each beat in its bar (1 = downbeat).
        pub positions: Vec<u8>,
    }

    /// A decaying tone burst (a "click" with pitch) added at `at` seconds.
    fn add_note(out: &mut [f32], at: f64, freq: f64, gain: f32, length_s: f64) {
        let start = (at * f64::from(RATE)) as usize;
        let len = (length_s * f64::from(RATE)) as usize;
        for i in 0..len {
            let Some(s) = out.get_mut(start + i) else {
                break;
            };
            let t = i as f64 / f64::from(RATE);
            let env = (-t * 18.0).exp() as f32;
            *s += gain * env * (2.0 * std::f64::consts::PI * freq * t).sin() as f32;
        }
    }

    /// Beats whose interval goes from `60/bpm_start` to `60/bpm_end` over
    /// `seconds`, `meter` beats to the bar. Each bar has a bass note on its
    /// downbeat and its own chord (so harmony changes at bar lines), a
    /// click on every beat, and optionally swung off-beat clicks and noise.
    pub fn piece(
        bpm_start: f64,
        bpm_end: f64,
        seconds: f64,
        meter: u8,
        swing: bool,
        noise: f32,
    ) -> Piece {
        let n = (seconds * f64::from(RATE)) as usize;
        let mut samples = vec![0f32; n];
        let (mut beats, mut positions) = (Vec::new(), Vec::new());
        let chords: [[f64; 3]; 4] = [
            [261.63, 329.63, 392.0],
            [220.0, 261.63, 329.63],
            [174.61, 220.0, 261.63],
            [196.0, 246.94, 293.66],
        ];
        let mut t = 0.5;
        let mut k = 0usize;
        while t < seconds - 0.3 {
            let bpm = bpm_start + (bpm_end - bpm_start) * (t / seconds);
            let period = 60.0 / bpm;
            let position = (k % meter as usize) as u8 + 1;
            let bar = k / meter as usize;
            beats.push(t);
            positions.push(position);
            add_note(&mut samples, t, 2000.0, 0.25, 0.03);
            if position == 1 {
                add_note(
                    &mut samples,
                    t,
                    55.0 * (1.0 + (bar % 2) as f64 * 0.5),
                    0.6,
                    0.4,
                );
            }
            // The bar's chord, struck on every beat, changes with the bar.
            for &f in &chords[bar % 4] {
                add_note(&mut samples, t, f, 0.12, 0.25);
            }
            if swing {
                add_note(&mut samples, t + period * 2.0 / 3.0, 2500.0, 0.1, 0.02);
            }
            t += period;
            k += 1;
        }
        if noise > 0.0 {
            let mut state = 0x2545F491u32;
            for s in &mut samples {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *s += noise * ((state as f32 / u32::MAX as f32) * 2.0 - 1.0);
            }
        }
        let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs())).max(1e-6);
        samples.iter_mut().for_each(|s| *s *= 0.9 / peak);
        Piece {
            samples,
            beats,
            positions,
        }
    }

    /// Writes mono 16-bit PCM WAV at [`RATE`].
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_wav(path: &Path, samples: &[f32]) -> std::io::Result<()> {
        let data_len = (samples.len() * 2) as u32;
        let mut bytes = Vec::with_capacity(44 + data_len as usize);
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&RATE.to_le_bytes());
        bytes.extend_from_slice(&(RATE * 2).to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            bytes.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
        }
        std::fs::write(path, bytes)
    }

    /// Writes `piece` as WAV, then converts it with ffmpeg when `args`
    /// (output options such as `-ac 6 -ar 96000`) are given.
    ///
    /// # Errors
    /// When writing or ffmpeg fails.
    pub fn render(
        dir: &Path,
        name: &str,
        samples: &[f32],
        args: &[&str],
    ) -> anyhow::Result<PathBuf> {
        let wav = dir.join(format!("{name}.src.wav"));
        write_wav(&wav, samples)?;
        if args.is_empty() {
            return Ok(wav);
        }
        let ext = args.last().copied().unwrap_or("wav");
        let out = dir.join(format!("{name}.{ext}"));
        let mut all: Vec<&str> = vec!["-i"];
        let wav_text = wav.to_string_lossy().into_owned();
        all.push(&wav_text);
        all.extend_from_slice(&args[..args.len() - 1]);
        let out_text = out.to_string_lossy().into_owned();
        all.push(&out_text);
        iprod::bench::ffmpeg(&all)?;
        Ok(out)
    }

    /// Beat F-measure with a ±70 ms window (one-to-one matching), all beats.
    pub fn f_measure(truth: &[f64], found: &[f64]) -> f64 {
        if truth.is_empty() || found.is_empty() {
            return 0.0;
        }
        let mut used = vec![false; found.len()];
        let mut hits = 0usize;
        for &t in truth {
            let best = found
                .iter()
                .enumerate()
                .filter(|(i, f)| !used[*i] && (**f - t).abs() <= 0.07)
                .min_by(|a, b| (a.1 - t).abs().total_cmp(&(b.1 - t).abs()));
            if let Some((i, _)) = best {
                used[i] = true;
                hits += 1;
            }
        }
        let p = hits as f64 / found.len() as f64;
        let r = hits as f64 / truth.len() as f64;
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// Synthesized songs with a known form.
pub mod song {
    use super::music::RATE;

    /// One part of a song: its chords (one per bar, as frequencies), how
    /// loud, and how many times the chord cycle plays.
    #[derive(Debug, Clone)]
    pub struct Part {
        /// Chords, one per bar.
        pub chords: Vec<[f64; 3]>,
        /// Gain of the chords and melody.
        pub gain: f32,
        /// Melody octave multiplier (2.0 = an octave up).
        pub register: f64,
        /// Times the chord cycle repeats.
        pub cycles: usize,
        /// Name (`verse`, `chorus`, …).
        pub name: &'static str,
    }

    /// Renders `parts` in order at `bpm` in 4/4: bass on each downbeat,
    /// the chord on every beat, a melody note on every eighth from the
    /// chord. Returns the samples and each part's `(name, start, end)`.
    pub fn render(parts: &[Part], bpm: f64) -> (Vec<f32>, Vec<(&'static str, f64, f64)>) {
        let beat = 60.0 / bpm;
        let bars: usize = parts.iter().map(|p| p.chords.len() * p.cycles).sum();
        let total = 1.0 + bars as f64 * 4.0 * beat + 1.0;
        let mut out = vec![0f32; (total * f64::from(RATE)) as usize];
        let mut spans = Vec::new();
        let mut t = 1.0;
        let note = |out: &mut Vec<f32>, at: f64, f: f64, gain: f32, len: f64| {
            let start = (at * f64::from(RATE)) as usize;
            for i in 0..(len * f64::from(RATE)) as usize {
                let Some(s) = out.get_mut(start + i) else {
                    break;
                };
                let x = i as f64 / f64::from(RATE);
                *s += gain
                    * (-x * 6.0).exp() as f32
                    * (2.0 * std::f64::consts::PI * f * x).sin() as f32;
            }
        };
        for part in parts {
            let start = t;
            for _ in 0..part.cycles {
                for chord in &part.chords {
                    note(&mut out, t, chord[0] / 4.0, part.gain, 4.0 * beat);
                    for b in 0..4 {
                        let at = t + b as f64 * beat;
                        for &f in chord {
                            note(&mut out, at, f, part.gain * 0.3, beat);
                        }
                        for e in 0..2 {
                            let f = chord[(b * 2 + e) % 3] * part.register;
                            note(
                                &mut out,
                                at + e as f64 * beat / 2.0,
                                f,
                                part.gain * 0.4,
                                beat / 2.0,
                            );
                        }
                    }
                    t += 4.0 * beat;
                }
            }
            spans.push((part.name, start, t));
        }
        let peak = out.iter().fold(0f32, |m, s| m.max(s.abs())).max(1e-6);
        out.iter_mut().for_each(|s| *s *= 0.9 / peak);
        (out, spans)
    }

    /// Intro, verse, chorus, verse, chorus, outro: the chorus louder,
    /// higher and on its own progression.
    pub fn pop_song() -> (Vec<f32>, Vec<(&'static str, f64, f64)>) {
        let (c, am, f, g, em, dm) = (
            [261.63, 329.63, 392.0],
            [220.0, 261.63, 329.63],
            [174.61, 220.0, 261.63],
            [196.0, 246.94, 293.66],
            [164.81, 196.0, 246.94],
            [146.83, 174.61, 220.0],
        );
        let verse = Part {
            chords: vec![am, em, f, c],
            gain: 0.5,
            register: 1.0,
            cycles: 2,
            name: "verse",
        };
        let chorus = Part {
            chords: vec![f, g, c, am],
            gain: 1.0,
            register: 2.0,
            cycles: 2,
            name: "chorus",
        };
        let intro = Part {
            chords: vec![dm, g],
            gain: 0.4,
            register: 1.0,
            cycles: 2,
            name: "intro",
        };
        let outro = Part {
            chords: vec![dm, c],
            gain: 0.4,
            register: 1.0,
            cycles: 2,
            name: "outro",
        };
        render(
            &[intro, verse.clone(), chorus.clone(), verse, chorus, outro],
            100.0,
        )
    }
}

/// Clips with subtitles burned in by FFmpeg's `subtitles` filter (libass),
/// whose truth is the SRT written here.
pub mod subtitles {
    use std::path::{Path, PathBuf};

    use iprod::captions::subtitle::to_srt;
    use iprod::domain::captions::Caption;

    /// The font for Latin and Chinese text (Debian `fonts-wqy-microhei`).
    pub const FONT: &str = "WenQuanYi Micro Hei";

    /// The cues as captions.
    pub fn captions(cues: &[(f64, f64, &str)]) -> Vec<Caption> {
        cues.iter()
            .map(|&(start, end, text)| Caption {
                start,
                end,
                text: text.to_owned(),
                lines: Vec::new(),
            })
            .collect()
    }

    /// Burns `cues` into a `seconds`-long 640×360 24 fps H.264 clip over a
    /// moving, noisy gradient. `style` is libass `force_style` (font, size,
    /// `Alignment=6` for the top of the frame: SSA numbering). Returns the clip and the
    /// SRT that was burned.
    ///
    /// # Errors
    /// When ffmpeg fails.
    pub fn burn(
        dir: &Path,
        name: &str,
        cues: &[(f64, f64, &str)],
        seconds: f64,
        style: &str,
    ) -> anyhow::Result<(PathBuf, PathBuf)> {
        let srt = dir.join(format!("{name}.srt"));
        std::fs::write(&srt, to_srt(&captions(cues), ""))?;
        let clip = dir.join(format!("{name}.mp4"));
        let filter = if cues.is_empty() {
            "noise=alls=8:allf=t".to_owned()
        } else {
            format!(
                "noise=alls=8:allf=t,subtitles={}:force_style='FontName={FONT},FontSize=20{}{style}'",
                srt.display(),
                if style.is_empty() { "" } else { "," }
            )
        };
        // A fixed seed: the gradient's colours are otherwise random, and
        // the clips would differ from run to run.
        iprod::bench::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("gradients=s=640x360:r=24:speed=0.03:seed=1:d={seconds}"),
            "-vf",
            &filter,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            &clip.to_string_lossy(),
        ])?;
        Ok((clip, srt))
    }
}

/// Green- and blue-screen clips with a known foreground.
pub mod screens {
    use std::path::{Path, PathBuf};

    use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
    use iprod::media::encode::{VideoCodec, VideoFormat, VideoWriter, X264Preset};

    /// Frame size.
    pub const SIZE: (u32, u32) = (320, 180);

    /// The true alpha of frame `i`: a disc with a soft (3 px) edge moving
    /// right.
    pub fn alpha(i: u32) -> GrayImage {
        let (cx, cy, r) = (100.0 + 2.0 * i as f32, 90.0, 45.0);
        GrayImage::from_fn(SIZE.0, SIZE.1, |x, y| {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            Luma([((r + 1.5 - d) / 3.0 * 255.0).clamp(0.0, 255.0) as u8])
        })
    }

    /// Frame `i`: a warm grey subject (with some green spill near its
    /// edge) over a screen of `screen` colour lit brighter on the left,
    /// with sensor noise.
    pub fn frame(i: u32, screen: [u8; 3]) -> RgbImage {
        let a = alpha(i);
        let mut seed = 0x2545_f491u32.wrapping_add(i);
        RgbImage::from_fn(SIZE.0, SIZE.1, |x, y| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed % 9) as f32 - 4.0;
            let light = 1.1 - 0.3 * x as f32 / SIZE.0 as f32;
            let bg = screen.map(|c| f32::from(c) * light);
            let fg = [170.0, 140.0, 125.0];
            let t = f32::from(a.get_pixel(x, y)[0]) / 255.0;
            let px: Vec<u8> = (0..3)
                .map(|c| (fg[c] * t + bg[c] * (1.0 - t) + noise).clamp(0.0, 255.0) as u8)
                .collect();
            Rgb([px[0], px[1], px[2]])
        })
    }

    /// A 2 s 25 fps H.264 clip of [`frame`]s with a 440 Hz tone (AAC).
    ///
    /// # Errors
    /// When ffmpeg or the encoder fails.
    pub fn clip(dir: &Path, name: &str, screen: [u8; 3]) -> anyhow::Result<PathBuf> {
        let tone = dir.join(format!("{name}-tone.m4a"));
        iprod::bench::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=2",
            "-c:a",
            "aac",
            &tone.to_string_lossy(),
        ])?;
        let path = dir.join(format!("{name}.mp4"));
        let codec = VideoCodec::H264 {
            crf: 18,
            preset: X264Preset::Veryfast,
        };
        let mut w = VideoWriter::create(
            &path,
            codec,
            VideoFormat::new(SIZE.0, SIZE.1, 25.0),
            Some(&tone),
        )?;
        for i in 0..50 {
            let rgb = frame(i, screen);
            let rgba = RgbaImage::from_fn(SIZE.0, SIZE.1, |x, y| {
                let p = rgb.get_pixel(x, y);
                Rgba([p[0], p[1], p[2], 255])
            });
            w.push(&rgba, f64::from(i) / 25.0)?;
        }
        w.finish()?;
        Ok(path)
    }
}

/// A test picture fetched by `scripts/fetch-models --fixtures`.
///
/// # Panics
/// When the file is missing: run `scripts/setup` first.
pub fn fixture(name: &str) -> PathBuf {
    #[allow(clippy::expect_used)]
    iprod::bench::composite::fixture(name).expect("run scripts/fetch-models --fixtures")
}

/// Clips for re-framing: a real face moving over real or textured
/// backgrounds.
pub use iprod::bench::composite as faces;

/// Runs `capability` on `input` with `params` (checked first) into the
/// folder `out`; returns the output and the local path of each file it
/// planned, in order.
///
/// # Errors
/// The capability's error; `InternalError` when `out` cannot be made.
pub fn run_capability(
    capability: &dyn iprod::capabilities::Capability,
    input: &Path,
    params: &serde_json::Value,
    out: &Path,
    ctx: &iprod::capabilities::Context,
) -> Result<(iprod::capabilities::CapabilityOutput, Vec<PathBuf>), iprod::domain::JobError> {
    use iprod::domain::{ErrorCode, JobError, OutputTemplate};
    let internal =
        |e: &dyn std::fmt::Display| JobError::permanent(ErrorCode::InternalError, e.to_string());
    std::fs::create_dir_all(out).map_err(|e| internal(&e))?;
    let template =
        OutputTemplate::parse(&format!("{}/", out.display())).map_err(|e| internal(&e))?;
    let mut sink = iprod::capabilities::OutputSink::new(out, template, "clip", 0, "job");
    capability.check(params)?;
    let output = capability.run(input, params, &mut sink, ctx)?;
    Ok((
        output,
        sink.into_files().into_iter().map(|f| f.local).collect(),
    ))
}

/// The frame of `video` shown at `time` s, decoded by the `ffmpeg` tool
/// (through `png`).
///
/// # Errors
/// When ffmpeg fails or writes no picture.
pub fn frame_at(video: &Path, time: f64, png: &Path) -> anyhow::Result<image::RgbImage> {
    iprod::bench::ffmpeg(&[
        "-ss",
        &format!("{time}"),
        "-i",
        &video.to_string_lossy(),
        "-frames:v",
        "1",
        &png.to_string_lossy(),
    ])?;
    Ok(image::open(png)?.to_rgb8())
}
