//! `iprod serve`: the HTTP API on localhost over a folder, no AWS at all.
//! Inputs are files under the folder, named by relative path; job records
//! live in `<root>/.iprod/jobs/`; outputs go to
//! `<root>/out/<source>/<FunctionName>/<JobId>/` unless a job names its
//! own folder (inside the root). Submitted jobs run in this process, a
//! few at a time, through the same pipeline as `iprod run`.

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

type LocalPipeline = Pipeline<FsObjectStore, ObjectJobStore<FsObjectStore>, ConsoleNotifier>;

/// Runs submitted jobs in this process, at most `slots` at once.
#[derive(Clone)]
pub struct InProcess {
    pipeline: Arc<LocalPipeline>,
    slots: Arc<tokio::sync::Semaphore>,
    loaded: Arc<Mutex<HashMap<FunctionName, Arc<dyn DynCapability>>>>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl InProcess {
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

impl Dispatch for InProcess {
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
    let pipeline = Arc::new(Pipeline {
        objects: FsObjectStore,
        jobs: records.clone(),
        notifier: ConsoleNotifier { enabled: false },
        settings: PipelineSettings::default(),
    });
    let default_outputs = FunctionName::ALL
        .into_iter()
        .filter_map(|f| {
            let folder = format!("{}/out/{{source}}/{f}/{{jobId}}/", root.display());
            OutputTemplate::parse(&folder).ok().map(|t| (f, t))
        })
        .collect();
    let dispatch = InProcess {
        pipeline,
        slots: Arc::new(tokio::sync::Semaphore::new(jobs_at_once.max(1))),
        loaded: Arc::default(),
    };
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

/// `iprod serve`: binds `addr` and serves until Ctrl-C.
///
/// # Errors
/// When the folder is unusable or the address cannot be bound.
pub async fn serve(addr: SocketAddr, root: PathBuf, jobs_at_once: usize) -> anyhow::Result<()> {
    // Alibaba-form requests are checked against IPROD_ACCESS_KEYS
    // (`id:secret,...`) when it is set.
    let signatures = match std::env::var("IPROD_ACCESS_KEYS") {
        Ok(keys) if !keys.trim().is_empty() => {
            Signatures::Keys(AccessKeys::parse(&keys).map_err(anyhow::Error::msg)?)
        }
        _ => Signatures::Any,
    };
    let open = signatures == Signatures::Any;
    let app = app(&root, jobs_at_once, signatures)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    let local = listener.local_addr()?;
    eprintln!(
        "iprod serve: http://{local}/ over {} (inputs by path relative to it; outputs in out/); Ctrl-C stops",
        root.display()
    );
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
