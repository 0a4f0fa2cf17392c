//! Long jobs handed to Step Functions: [`LongJobs`] over the state machine
//! of `statemachines/long-job.asl.json`, inputs read through presigned S3
//! URLs.

use iprod_core::domain::{Job, MediaLocation};
use iprod_core::ports::{BoxFuture, Links, LongJobs, StoreError};
use serde_json::json;

use super::s3::S3ObjectStore;

/// How long an input URL for probing stays valid.
const PROBE_URL_LIFE: std::time::Duration = std::time::Duration::from_secs(900);

/// Starts executions of one state machine.
#[derive(Debug, Clone)]
pub struct SfnLongJobs {
    sfn: aws_sdk_sfn::Client,
    objects: S3ObjectStore,
    state_machine_arn: String,
}

impl SfnLongJobs {
    /// Starts executions of `state_machine_arn`; presigns with `objects`.
    pub fn new(
        sfn: aws_sdk_sfn::Client,
        objects: S3ObjectStore,
        state_machine_arn: String,
    ) -> Self {
        Self {
            sfn,
            objects,
            state_machine_arn,
        }
    }
}

impl LongJobs for SfnLongJobs {
    fn read_url<'a>(
        &'a self,
        location: &'a MediaLocation,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(self.objects.download_url(location, PROBE_URL_LIFE))
    }

    fn start<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            let input = json!({ "Job": job }).to_string();
            let started = self
                .sfn
                .start_execution()
                .state_machine_arn(&self.state_machine_arn)
                .name(job.id.as_str())
                .input(input)
                .send()
                .await;
            match started {
                Ok(out) => Ok(out.execution_arn),
                // The same job started before (a second delivery): that
                // execution runs it.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(aws_sdk_sfn::operation::start_execution::StartExecutionError::is_execution_already_exists) =>
                {
                    Ok(format!(
                        "{}:{}",
                        self.state_machine_arn.replacen(":stateMachine:", ":execution:", 1),
                        job.id
                    ))
                }
                Err(e) => Err(StoreError::Transient(format!(
                    "starting the state machine of long jobs: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                ))),
            }
        })
    }
}
