//! Logging setup: JSON lines in Lambda (CloudWatch parses the fields),
//! compact text on stderr for the CLI, coloured only on a terminal.
//! `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(json: bool, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .without_time()
            .try_init()
    } else {
        use std::io::IsTerminal;
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .compact()
            .try_init()
    };
}
