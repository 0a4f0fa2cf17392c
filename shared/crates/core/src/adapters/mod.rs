//! Implementations of the [`crate::ports`] that need no cloud SDK: the
//! local filesystem and console for the CLI, job records over any object
//! store, and memory for unit tests. The AWS ones are in `iprod-aws`.

pub mod fs;
pub mod memory;
pub mod records;
pub mod stdout;
