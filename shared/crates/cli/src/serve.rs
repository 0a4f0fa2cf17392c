//! `iprod serve`: the HTTP API on localhost, running submitted jobs in this
//! process, a few at a time, through the same pipeline as `iprod run`.
//!
//! Over a folder (no AWS at all): inputs are files under it, named by
//! relative path; job records live in `<root>/.iprod/jobs/`; outputs go to
//! `<root>/out/<source>/<FunctionName>/<JobId>/` unless a job names its own
//! folder (inside the root).
//!
//! Over AWS or an AWS-compatible endpoint (`AWS_ENDPOINT_URL`): a job table,
//! an input and an output bucket, and optionally a topic, as a deployed
//! stack has them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use iprod::adapters::fs::FsObjectStore;
use iprod::adapters::records::ObjectJobStore;
use iprod::adapters::stdout::ConsoleNotifier;
use iprod::capabilities::{self, DynCapability};
use iprod::domain::{FunctionName, JobId, MediaLocation, OutputTemplate, SubmitMessage};
use iprod::pipeline::{Pipeline, PipelineSettings, RunOptions};
use iprod::ports::StoreError;
use iprod_api::alibaba::{AccessKeys, Signatures};
use iprod_api::local::ServedFolder;
use iprod_api::{router, Api, Dispatch, Inputs, Settings};

/// Runs submitted jobs in this process, at most `slots` at once.
pub struct InProcess<O, J, N> {
    pipeline: Arc<Pipeline<O, J, N>>,
    slots: Arc<tokio::sync::Semaphore>,
    loaded: Arc<Mutex<HashMap<FunctionName, Arc<dyn DynCapability>>>>,
}

impl<O, J, N> Clone for InProcess<O, J, N> {
    fn clone(&self) -> Self {
        Self {
            pipeline: self.pipeline.clone(),
            slots: self.slots.clone(),
            loaded: self.loaded.clone(),
        }
    }
}

impl<O, J, N> std::fmt::Debug for InProcess<O, J, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl<O, J, N> InProcess<O, J, N> {
    /// Jobs through `pipeline`, `jobs_at_once` at a time.
    pub fn new(pipeline: Pipeline<O, J, N>, jobs_at_once: usize) -> Self {
        Self {
            pipeline: Arc::new(pipeline),
            slots: Arc::new(tokio::sync::Semaphore::new(jobs_at_once.max(1))),
            loaded: Arc::default(),
        }
    }

    /// The capability of `function`, loaded once.
    fn capability(&self, function: FunctionName) -> Result<Arc<dyn DynCapability>, StoreError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = loaded.get(&function) {
            return Ok(c.clone());
        }
        let c =
            capabilities::for_function(function).map_err(|e| StoreError::Unsupported(e.message))?;
        loaded.insert(function, c.clone());
        Ok(c)
    }
}

impl<O, J, N> Dispatch for InProcess<O, J, N>
where
    O: iprod::ports::ObjectStore + 'static,
    J: iprod::ports::JobStore + 'static,
    N: iprod::ports::Notifier + 'static,
{
    fn serves(&self, function: FunctionName) -> bool {
        capabilities::params_spec(function).is_some()
    }

    async fn send(
        &self,
        function: FunctionName,
        body: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let message = SubmitMessage::parse(&body.to_string())
            .map_err(|e| StoreError::Unsupported(e.message))?;
        let job = message
            .into_job(JobId::random(), None, chrono::Utc::now())
            .map_err(|e| StoreError::Unsupported(e.message))?;
        // Loaded before answering: a function whose models are missing
        // fails the submission, not later in the background.
        let capability = self.capability(function)?;
        let this = self.clone();
        tokio::spawn(async move {
            let Ok(_slot) = this.slots.clone().acquire_owned().await else {
                return;
            };
            let id = job.id.clone();
            match this
                .pipeline
                .run(capability, job, RunOptions::default())
                .await
            {
                Ok(record) => eprintln!(
                    "job {id} {function}: {}{}",
                    record.state.as_str(),
                    record
                        .message
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ),
                Err(e) => eprintln!("job {id} {function}: not run: {e}"),
            }
        });
        Ok(())
    }
}

/// The API over `root`, running jobs in this process.
///
/// # Errors
/// When `root` is not a folder.
pub fn app(
    root: &Path,
    jobs_at_once: usize,
    signatures: Signatures,
) -> anyhow::Result<axum::Router> {
    let root = root
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("{}: {e}", root.display()))?;
    anyhow::ensure!(root.is_dir(), "{} is not a folder", root.display());
    let records = ObjectJobStore::new(
        FsObjectStore,
        MediaLocation::Local(root.join(".iprod").join("jobs")),
    );
    let pipeline = Pipeline {
        objects: FsObjectStore,
        jobs: records.clone(),
        notifier: ConsoleNotifier { enabled: false },
        settings: PipelineSettings::default(),
    };
    let default_outputs = FunctionName::ALL
        .into_iter()
        .filter_map(|f| {
            let folder = format!("{}/out/{{source}}/{f}/{{jobId}}/", root.display());
            OutputTemplate::parse(&folder).ok().map(|t| (f, t))
        })
        .collect();
    let dispatch = InProcess::new(pipeline, jobs_at_once);
    Ok(router(Api {
        jobs: records,
        dispatch,
        objects: ServedFolder::new(&root)?,
        settings: Settings {
            inputs: Inputs::Folder(root.clone()),
            outputs: Inputs::Folder(root),
            default_outputs,
            check: capabilities::check_params,
            schema: schema_of,
            signatures,
        },
    }))
}

fn schema_of(function: FunctionName) -> Option<serde_json::Value> {
    capabilities::params_spec(function)
        .map(|s| s.json_schema(function.as_str(), function.summary()))
}

/// Where `iprod serve` keeps jobs and media.
#[derive(Debug, Clone)]
pub enum Over {
    /// A folder, no AWS.
    Folder(PathBuf),
    /// AWS (or `AWS_ENDPOINT_URL`): the stack's resources.
    Aws {
        /// The job table.
        job_table: String,
        /// Where inputs are read.
        input_bucket: String,
        /// Where outputs are written.
        output_bucket: String,
        /// Where notifications go; none printed to the log instead.
        topic_arn: Option<String>,
    },
}

/// The API over AWS resources, running jobs in this process.
///
/// # Errors
/// When no AWS region is configured.
pub async fn aws_app(
    job_table: &str,
    input_bucket: &str,
    output_bucket: &str,
    topic_arn: Option<&str>,
    jobs_at_once: usize,
    signatures: Signatures,
) -> anyhow::Result<axum::Router> {
    use iprod::adapters::aws;
    use iprod::adapters::dynamodb::DynamoJobStore;
    use iprod::adapters::s3::S3ObjectStore;
    use iprod::adapters::sns::SnsNotifier;
    use iprod::pipeline::Scope;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let sdk = aws::sdk_config(endpoint.as_deref()).await;
    anyhow::ensure!(
        sdk.region().is_some(),
        "no AWS region is configured; set AWS_REGION"
    );
    let objects = S3ObjectStore::new(aws::s3_client(&sdk, endpoint.is_some()));
    let jobs = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), job_table, None);
    let settings = PipelineSettings {
        inputs: Scope::Buckets(vec![input_bucket.to_owned()]),
        outputs: Scope::Buckets(vec![output_bucket.to_owned()]),
        ..PipelineSettings::default()
    };
    let notifier = topic_arn.map(|t| SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), t));
    let output = OutputTemplate::parse(&format!(
        "s3://{output_bucket}/output/{{source}}/{{jobId}}/"
    ))
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let default_outputs = FunctionName::ALL
        .into_iter()
        .map(|f| (f, output.clone()))
        .collect();
    let api_settings = Settings {
        inputs: Inputs::Buckets(vec![input_bucket.to_owned()]),
        outputs: Inputs::Buckets(vec![output_bucket.to_owned()]),
        default_outputs,
        check: capabilities::check_params,
        schema: schema_of,
        signatures,
    };
    Ok(match notifier {
        Some(notifier) => router(Api {
            jobs: jobs.clone(),
            dispatch: InProcess::new(
                Pipeline {
                    objects: objects.clone(),
                    jobs,
                    notifier,
                    settings,
                },
                jobs_at_once,
            ),
            objects,
            settings: api_settings,
        }),
        None => router(Api {
            jobs: jobs.clone(),
            dispatch: InProcess::new(
                Pipeline {
                    objects: objects.clone(),
                    jobs,
                    notifier: ConsoleNotifier { enabled: false },
                    settings,
                },
                jobs_at_once,
            ),
            objects,
            settings: api_settings,
        }),
    })
}

/// `iprod serve`: binds `addr` and serves until Ctrl-C.
///
/// # Errors
/// When the folder or AWS is unusable or the address cannot be bound.
pub async fn serve(addr: SocketAddr, over: Over, jobs_at_once: usize) -> anyhow::Result<()> {
    // Alibaba-form requests are checked against IPROD_ACCESS_KEYS
    // (`id:secret,...`) when it is set.
    let signatures = match std::env::var("IPROD_ACCESS_KEYS") {
        Ok(keys) if !keys.trim().is_empty() => {
            Signatures::Keys(AccessKeys::parse(&keys).map_err(anyhow::Error::msg)?)
        }
        _ => Signatures::Any,
    };
    let open = signatures == Signatures::Any;
    let (app, what) = match &over {
        Over::Folder(root) => (
            app(root, jobs_at_once, signatures)?,
            format!("{} (inputs by path relative to it; outputs in out/)", root.display()),
        ),
        Over::Aws { job_table, input_bucket, output_bucket, topic_arn } => (
            aws_app(job_table, input_bucket, output_bucket, topic_arn.as_deref(), jobs_at_once, signatures).await?,
            format!("table {job_table}, inputs in s3://{input_bucket}/, outputs in s3://{output_bucket}/"),
        ),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    let local = listener.local_addr()?;
    eprintln!("iprod serve: http://{local}/ over {what}; Ctrl-C stops");
    if open {
        eprintln!(
            "iprod serve: Alibaba-form requests (POST /?Action=...) are accepted with any signature; set IPROD_ACCESS_KEYS=id:secret to check them"
        );
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
