//! Listing jobs: which records a list asks for, and one page of them,
//! newest first.

use chrono::{DateTime, Utc};

use super::error::JobError;
use super::job::{FunctionName, JobRecord, JobState};

/// Most records one page holds.
pub const MAX_PAGE: usize = 100;

/// Which jobs a list asks for; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    /// Only jobs of this function.
    pub function: Option<FunctionName>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs created at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only jobs created at or before this time.
    pub to: Option<DateTime<Utc>>,
}

impl JobFilter {
    /// Whether `record` is one the filter asks for.
    pub fn matches(&self, record: &JobRecord) -> bool {
        self.function.is_none_or(|f| f == record.function_name)
            && self.state.is_none_or(|s| s == record.state)
            && self.from.is_none_or(|t| record.create_time >= t)
            && self.to.is_none_or(|t| record.create_time <= t)
    }

    /// Checks that `from` is not after `to`.
    ///
    /// # Errors
    /// `InvalidParameter` naming `From`.
    pub fn check(&self) -> Result<(), JobError> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if from > to => Err(JobError::param(
                "From",
                format!("{from} is after To ({to})"),
            )),
            _ => Ok(()),
        }
    }
}

/// One page of a list, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobPage {
    /// The records.
    pub records: Vec<JobRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next_token: Option<String>,
}
