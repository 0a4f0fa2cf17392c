//! The moto server (S3, SQS, SNS and DynamoDB, on one port) the integration tests talk
//! to: the one named by `IPROD_TEST_ENDPOINT` when set (CI starts one),
//! otherwise one started here on a free port and stopped when the test
//! process exits.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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
