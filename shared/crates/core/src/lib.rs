//! iprod's core: what every function shares and nothing heavy links.
//!
//! [`domain`] holds the value types (jobs, records, locations, limits, the
//! `JobParams` reader), [`capability`] the contract a capability fulfils,
//! [`pipeline`] runs one job through the [`ports`], and [`adapters`]
//! implements the ports that need no cloud SDK (filesystem, console, memory,
//! records over any object store). No FFmpeg, ONNX Runtime or AWS SDK here.

pub mod adapters;
pub mod capability;
pub mod config;
pub mod domain;
pub mod fanout;
pub mod pipeline;
pub mod ports;
pub mod split;
pub mod submit;
pub mod telemetry;
