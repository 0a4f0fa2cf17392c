//! The HTTP API of iprod: submit, query, list and cancel jobs.
//!
//! One [`axum::Router`] serves it everywhere: the `api` Lambda function
//! behind API Gateway, and `iprod serve` on a laptop. It talks only through
//! ports: the job store (DynamoDB, or files), the functions' queues
//! ([`Dispatch`]: SQS, or jobs run in-process) and the object store (to
//! check that an input exists before a job is queued).
//!
//! | route | does |
//! |---|---|
//! | `POST /jobs` | submit a job message; `{RequestId, JobId}` |
//! | `GET /jobs/{JobId}` | one job's record |
//! | `GET /jobs?JobIds=a,b` | several records, and the ids not found |
//! | `GET /jobs?FunctionName=&State=&From=&To=&MaxResults=&NextToken=` | a page of jobs, newest first |
//! | `POST /jobs/{JobId}/cancel` | cancel a job still `Queuing` |
//! | `GET /functions` | every FunctionName this API routes, its summary and params schema |
//! | `POST /uploads` | where a browser may upload an input without credentials |
//! | `GET`/`PUT /files/{path}` | a served folder's files (`iprod serve` only) |
//! | `POST /` or `GET /?Action=` | Alibaba's RPC form: `SubmitIProductionJob`, `QueryIProductionJob` ([`alibaba`]) |
//! | `GET /` | the web console (`console/`, built into the binary) |
//!
//! Every answer carries a `RequestId`; an error is `{RequestId, Code,
//! Message}` with an HTTP status that fits the code.

pub mod alibaba;
pub mod local;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use iprod_core::domain::listing::MAX_PAGE;
use iprod_core::domain::{
    ErrorCode, FunctionName, JobError, JobFilter, JobId, JobRecord, JobState, MediaLocation,
    OutputTemplate, SubmitMessage,
};
pub use iprod_core::ports::Dispatch;
use iprod_core::ports::{Cancel, JobStore, Links, Nonces, ObjectStore, StoreError};
use iprod_core::submit::CheckParams;

/// Largest request body: an SQS message's limit.
pub const MAX_BODY: usize = 256 * 1024;
/// Largest upload to a served folder (`PUT /files/uploads/...`).
pub const MAX_UPLOAD: usize = 4 << 30;
/// How long upload and download links work.
pub const LINK_VALID: std::time::Duration = std::time::Duration::from_secs(3600);
/// Where uploads land, under the first input bucket or the served folder:
/// outside the prefixes whose uploads start jobs by themselves.
pub const UPLOAD_PREFIX: &str = "uploads/";
/// Records per list page when `MaxResults` is not given.
pub const DEFAULT_PAGE: usize = 20;
/// Most ids one `GET /jobs?JobIds=` takes (as Alibaba's query).
pub const MAX_JOB_IDS: usize = 10;

/// Where jobs may read inputs, or write outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inputs {
    /// Objects in these buckets (a deployed stack's input, or output,
    /// buckets).
    Buckets(Vec<String>),
    /// Files under this folder, named by their path relative to it
    /// (`iprod serve --root`); nothing outside it, links included.
    Folder(PathBuf),
}

/// What the API needs to know besides its ports.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where inputs may come from.
    pub inputs: Inputs,
    /// Where a message's own `Output` may point.
    pub outputs: Inputs,
    /// The output of a job whose message has none, per function.
    pub default_outputs: HashMap<FunctionName, OutputTemplate>,
    /// Checks a function's params as the function will.
    pub check: CheckParams,
    /// A function's params as a JSON Schema, when it has one.
    pub schema: fn(FunctionName) -> Option<Value>,
    /// How Alibaba-form requests are authenticated.
    pub signatures: alibaba::Signatures,
}

/// The API over its ports.
#[derive(Debug)]
pub struct Api<J, D, O> {
    /// Job records.
    pub jobs: J,
    /// The functions' queues.
    pub dispatch: D,
    /// Inputs, to check they exist.
    pub objects: O,
    /// Everything else.
    pub settings: Settings,
}

/// The router serving `api`.
pub fn router<J, D, O>(api: Api<J, D, O>) -> Router
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    Router::new()
        .route("/jobs", post(submit::<J, D, O>).get(jobs::<J, D, O>))
        .route("/jobs/{job_id}", get(job::<J, D, O>))
        .route("/jobs/{job_id}/cancel", post(cancel::<J, D, O>))
        .route("/functions", get(functions::<J, D, O>))
        .route("/", post(rpc::<J, D, O>).get(root::<J, D, O>))
        .route("/console.js", get(|| asset("console.js")))
        .route("/console.css", get(|| asset("console.css")))
        .route("/sigv4.js", get(|| asset("sigv4.js")))
        .route("/uploads", post(uploads::<J, D, O>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .route(
            "/files/{*path}",
            get(file_get::<J, D, O>)
                .put(file_put::<J, D, O>)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .with_state(Arc::new(api))
}

type Shared<J, D, O> = State<Arc<Api<J, D, O>>>;

/// An answer that is an error: `{RequestId, Code, Message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    fn not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "JobNotFound", format!("no job {id}"))
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        let status = match e.code {
            ErrorCode::InputNotFound => StatusCode::NOT_FOUND,
            ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
            ErrorCode::JobBusy => StatusCode::CONFLICT,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            _ if e.retryable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.code.as_str(), e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        JobError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = %self.code, message = %self.message, "request failed");
        }
        let body = json!({
            "RequestId": request_id(),
            "Code": self.code,
            "Message": self.message,
        });
        (self.status, Json(body)).into_response()
    }
}

/// A new request id, as Alibaba writes them.
fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// A success answer: `fields` with the `RequestId`.
fn answer(mut fields: serde_json::Map<String, Value>) -> Response {
    fields.insert("RequestId".into(), request_id().into());
    Json(Value::Object(fields)).into_response()
}

fn record_json(record: &JobRecord) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}

fn job_id(id: &str) -> Result<JobId, ApiError> {
    JobId::try_from(id.to_owned()).map_err(|_| ApiError::not_found(id))
}

impl Inputs {
    /// Where `given` is, when it is somewhere jobs may read.
    fn resolve(&self, given: &MediaLocation) -> Result<MediaLocation, ApiError> {
        let refused = |why: String| ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", why);
        match (self, given) {
            (Self::Buckets(buckets), MediaLocation::S3 { bucket, .. }) => {
                if buckets.iter().any(|b| b == bucket) {
                    Ok(given.clone())
                } else {
                    Err(refused(format!(
                        "Input {given} is not in an input bucket of this stack ({})",
                        buckets.join(", ")
                    )))
                }
            }
            (Self::Buckets(_), MediaLocation::Local(path)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidMessage",
                format!("Input {} is not an s3:// URI", path.display()),
            )),
            (Self::Folder(root), MediaLocation::Local(path)) => confined(root, path)
                .map(MediaLocation::Local)
                .ok_or_else(|| {
                    refused(format!(
                        "Input {} is not a file path inside the served folder",
                        path.display()
                    ))
                }),
            (Self::Folder(_), MediaLocation::S3 { .. }) => Err(refused(format!(
                "Input {given}: this server reads files under its folder only"
            ))),
        }
    }

    /// The output template `given` stands for, when it points somewhere
    /// jobs may write.
    fn resolve_output(&self, given: &OutputTemplate) -> Result<OutputTemplate, ApiError> {
        let refused = |why: String| ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", why);
        match self {
            Self::Buckets(buckets) => match given.bucket() {
                Some(bucket) if buckets.iter().any(|b| b == bucket) => Ok(given.clone()),
                _ => Err(refused(format!(
                    "Output {} is not in an output bucket of this stack ({})",
                    given.as_str(),
                    buckets.join(", ")
                ))),
            },
            Self::Folder(root) => {
                let relative = Path::new(given.as_str());
                let inside = relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
                    && !given.as_str().contains("://");
                // The deepest folder that exists must be inside (no link
                // leads out); the rest is made by the job.
                let existing = relative
                    .ancestors()
                    .map(|a| root.join(a))
                    .find(|p| p.exists())
                    .and_then(|p| p.canonicalize().ok());
                let root = root.canonicalize().ok();
                match (inside, existing, root) {
                    (true, Some(existing), Some(root)) if existing.starts_with(&root) => {
                        OutputTemplate::parse(&root.join(relative).display().to_string())
                            .map_err(ApiError::from)
                    }
                    _ => Err(refused(format!(
                        "Output {} is not a folder path inside the served folder",
                        given.as_str()
                    ))),
                }
            }
        }
    }
}

/// `relative` under `root`, when it names something there: plain names
/// only (no `..`, no root, no drive), and no link leading out.
fn confined(root: &Path, relative: &Path) -> Option<PathBuf> {
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let root = root.canonicalize().ok()?;
    let path = root.join(relative).canonicalize().ok()?;
    path.starts_with(&root).then_some(path)
}

async fn submit<J, D, O>(State(api): Shared<J, D, O>, body: Bytes) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidMessage",
            "the body is not UTF-8 JSON",
        )
    })?;
    let id = submit_message(&api, text).await?;
    let mut fields = serde_json::Map::new();
    fields.insert("JobId".into(), id.as_str().into());
    Ok(answer(fields))
}

/// Checks a job message as its function will, records it `Queuing` and
/// queues it; its JobId.
async fn submit_message<J, D, O>(api: &Api<J, D, O>, text: &str) -> Result<JobId, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    let mut message = SubmitMessage::parse(text)?;
    let function = message.function;
    if !api.dispatch.serves(function) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedFunction",
            format!("FunctionName {function} is not deployed here"),
        ));
    }
    (api.settings.check)(function, &message.params)?;
    message.input = api.settings.inputs.resolve(&message.input)?;
    message.output = message
        .output
        .map(|o| api.settings.outputs.resolve_output(&o))
        .transpose()?;
    if api.objects.head(&message.input).await?.is_none() {
        return Err(JobError::permanent(
            ErrorCode::InputNotFound,
            format!("Input {} does not exist", message.input),
        )
        .into());
    }
    let default_output = api.settings.default_outputs.get(&function);
    let job = message.into_job(JobId::random(), default_output, Utc::now())?;
    let record = JobRecord::new(&job, JobState::Queuing);
    if !api.jobs.create(&record).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "InvalidMessage",
            format!(
                "JobId {} is already in use; leave JobId out to get a new one",
                job.id
            ),
        ));
    }
    // The message the function gets names exactly what was checked here.
    let mut queued = serde_json::Map::new();
    queued.insert("FunctionName".into(), function.as_str().into());
    queued.insert("JobId".into(), job.id.as_str().into());
    queued.insert("Input".into(), job.input.to_string().into());
    queued.insert("Output".into(), job.output.as_str().into());
    queued.insert("JobParams".into(), job.params.clone());
    if let Some(user_data) = &job.user_data {
        queued.insert("UserData".into(), user_data.clone().into());
    }
    if let Err(e) = api.dispatch.send(function, &Value::Object(queued)).await {
        // Not queued: the record must not stay Queuing for ever.
        if let Err(cancel) = api.jobs.cancel(&job.id, Utc::now()).await {
            tracing::warn!(job_id = %job.id, error = %cancel, "could not close an unqueued job");
        }
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("the job could not be queued ({e}); try again"),
        ));
    }
    tracing::info!(job_id = %job.id, function = %function, "job submitted");
    Ok(job.id)
}

async fn job<J, D, O>(
    State(api): Shared<J, D, O>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    let record = api
        .jobs
        .get(&job_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found(&id))?;
    // Links a browser can follow without credentials: the input and each
    // output file.
    let mut links = serde_json::Map::new();
    let mut locations: Vec<String> = vec![record_json(&record)["Input"]["Media"]
        .as_str()
        .unwrap_or_default()
        .to_owned()];
    locations.extend(record.output_files.iter().cloned());
    for uri in locations {
        let Ok(location) = MediaLocation::parse(&uri, "file") else {
            continue;
        };
        match api.objects.download_url(&location, LINK_VALID).await {
            Ok(url) => {
                links.insert(uri, url.into());
            }
            Err(e) => tracing::debug!(file = %uri, error = %e, "no link"),
        }
    }
    let mut fields = serde_json::Map::new();
    fields.insert("Job".into(), record_json(&record));
    fields.insert("Links".into(), Value::Object(links));
    Ok(answer(fields))
}

/// `POST /uploads` `{FileName, ContentType}`: where to put a new input,
/// and the `Input` to name it by.
async fn uploads<J, D, O>(State(api): Shared<J, D, O>, body: Bytes) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let name = asked["FileName"].as_str().unwrap_or_default();
    let content_type = asked["ContentType"]
        .as_str()
        .filter(|t| t.len() <= 128 && t.chars().all(|c| c.is_ascii_graphic() || c == ' '))
        .unwrap_or("application/octet-stream");
    let file = safe_name(name);
    let folder = format!(
        "{UPLOAD_PREFIX}{}/{}",
        Utc::now().format("%Y-%m-%d"),
        uuid::Uuid::new_v4().simple()
    );
    let location = match &api.settings.inputs {
        Inputs::Buckets(buckets) => {
            let bucket = buckets.first().ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "no input bucket is configured",
                )
            })?;
            MediaLocation::S3 {
                bucket: bucket.clone(),
                key: format!("{folder}/{file}"),
            }
        }
        Inputs::Folder(root) => MediaLocation::Local(root.join(&folder).join(&file)),
    };
    let upload = api
        .objects
        .upload_url(&location, content_type, LINK_VALID)
        .await?;
    let input = match (&api.settings.inputs, &location) {
        (Inputs::Folder(_), MediaLocation::Local(_)) => format!("{folder}/{file}"),
        _ => location.to_string(),
    };
    let headers: serde_json::Map<String, Value> = upload
        .headers
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    let mut fields = serde_json::Map::new();
    fields.insert("Input".into(), input.into());
    fields.insert(
        "Upload".into(),
        json!({"Url": upload.url, "Method": upload.method, "Headers": headers, "ExpiresIn": LINK_VALID.as_secs()}),
    );
    Ok(answer(fields))
}

/// A file name safe on any store: letters, digits, `.`, `-`, `_`; at
/// most 100 characters; never hidden.
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "upload".to_owned()
    } else {
        cleaned
    }
}

/// The served folder, for the `/files/` routes.
fn folder<J, D, O>(api: &Api<J, D, O>) -> Result<&Path, ApiError> {
    match &api.settings.inputs {
        Inputs::Folder(root) => Ok(root),
        Inputs::Buckets(_) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "files are served by iprod serve only; a deployment gives presigned links",
        )),
    }
}

async fn file_get<J, D, O>(
    State(api): Shared<J, D, O>,
    UrlPath(path): UrlPath<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    use tower::ServiceExt;
    let root = folder(&api)?;
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no file {path} here"),
        )
    };
    let file = confined(root, Path::new(&path)).ok_or_else(missing)?;
    if file.starts_with(root.join(".iprod")) || !file.is_file() {
        return Err(missing());
    }
    // tower-http serves it: content type, Range requests (a video can be
    // sought in), conditional GETs.
    let served = tower_http::services::ServeFile::new(&file)
        .oneshot(request)
        .await
        .map_err(|_| missing())?;
    Ok(served.map(axum::body::Body::new))
}

async fn file_put<J, D, O>(
    State(api): Shared<J, D, O>,
    UrlPath(path): UrlPath<String>,
    body: axum::body::Body,
) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    use tokio::io::AsyncWriteExt;
    let root = folder(&api)?.to_path_buf();
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "{path}: uploads go to a new file under {UPLOAD_PREFIX} (ask POST /uploads where)"
            ),
        )
    };
    let relative = Path::new(&path);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !plain || !path.starts_with(UPLOAD_PREFIX) || relative.components().count() < 2 {
        return Err(refused());
    }
    let file = root.join(relative);
    if tokio::fs::symlink_metadata(&file).await.is_ok() {
        return Err(refused());
    }
    let parent = file.parent().ok_or_else(refused)?;
    tokio::fs::create_dir_all(parent).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            e.to_string(),
        )
    })?;
    // The folder made must still be inside (no link on the way).
    if confined(&root, parent.strip_prefix(&root).unwrap_or(parent)).is_none() {
        return Err(refused());
    }
    let mut out = tokio::fs::File::create_new(&file)
        .await
        .map_err(|_| refused())?;
    let mut stream = body.into_data_stream();
    let failed = |e: String| ApiError::new(StatusCode::BAD_REQUEST, "UploadFailed", e);
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&file).await;
                return Err(failed(e.to_string()));
            }
        };
        out.write_all(&chunk)
            .await
            .map_err(|e| failed(e.to_string()))?;
    }
    out.flush().await.map_err(|e| failed(e.to_string()))?;
    let mut fields = serde_json::Map::new();
    fields.insert("Input".into(), path.clone().into());
    Ok(answer(fields))
}

/// `GET /jobs`: several jobs by id, or a page of a list.
async fn jobs<J, D, O>(
    State(api): Shared<J, D, O>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    let param = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let known = [
        "JobIds",
        "FunctionName",
        "State",
        "From",
        "To",
        "MaxResults",
        "NextToken",
    ];
    if let Some(unknown) = query
        .keys()
        .find(|k| !known.iter().any(|n| n.eq_ignore_ascii_case(k)))
    {
        return Err(bad_query(
            unknown,
            format!("unknown parameter; known: {}", known.join(", ")),
        ));
    }
    if let Some(ids) = param("JobIds") {
        let ids: Vec<&str> = ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if ids.len() > MAX_JOB_IDS {
            return Err(bad_query(
                "JobIds",
                format!("{} ids; at most {MAX_JOB_IDS}", ids.len()),
            ));
        }
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for id in ids {
            let record = match JobId::try_from(id.to_owned()) {
                Ok(job_id) => api.jobs.get(&job_id).await?,
                Err(_) => None,
            };
            match record {
                Some(r) => found.push(record_json(&r)),
                None => missing.push(Value::from(id)),
            }
        }
        let mut fields = serde_json::Map::new();
        fields.insert("Jobs".into(), found.into());
        fields.insert("NonExistJobIds".into(), missing.into());
        return Ok(answer(fields));
    }
    let time = |key: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        param(key)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.to_utc())
                    .map_err(|_| {
                        bad_query(
                            key,
                            format!("`{v}` is not an RFC 3339 time, e.g. 2026-12-06T10:00:00Z"),
                        )
                    })
            })
            .transpose()
    };
    let filter = JobFilter {
        function: param("FunctionName")
            .map(str::parse::<FunctionName>)
            .transpose()
            .map_err(|e| bad_query("FunctionName", e.message))?,
        state: param("State")
            .map(|s| {
                serde_json::from_value::<JobState>(Value::from(s)).map_err(|_| {
                    bad_query(
                        "State",
                        format!("`{s}`; one of Queuing, Analyzing, Success, Fail"),
                    )
                })
            })
            .transpose()?,
        from: time("From")?,
        to: time("To")?,
    };
    filter.check()?;
    let max = match param("MaxResults") {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad_query("MaxResults", format!("`{v}`; 1 to {MAX_PAGE}")))?,
    };
    let page = api.jobs.list(&filter, max, param("NextToken")).await?;
    let mut fields = serde_json::Map::new();
    fields.insert(
        "Jobs".into(),
        page.records
            .iter()
            .map(record_json)
            .collect::<Vec<_>>()
            .into(),
    );
    fields.insert(
        "NextToken".into(),
        page.next_token.map_or(Value::Null, Value::from),
    );
    Ok(answer(fields))
}

fn bad_query(key: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        format!("{key}: {problem}"),
    )
}

async fn cancel<J, D, O>(
    State(api): Shared<J, D, O>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    match api.jobs.cancel(&job_id(&id)?, Utc::now()).await? {
        Cancel::Cancelled(record) => {
            tracing::info!(job_id = %id, "job cancelled");
            let mut fields = serde_json::Map::new();
            fields.insert("Job".into(), record_json(&record));
            Ok(answer(fields))
        }
        Cancel::TooLate(record) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobStarted",
            format!(
                "job {id} is {}: only a Queuing job can be cancelled",
                record.state.as_str()
            ),
        )),
        Cancel::Missing => Err(ApiError::not_found(&id)),
    }
}

async fn functions<J, D, O>(State(api): Shared<J, D, O>) -> Response
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    let list: Vec<Value> = FunctionName::ALL
        .into_iter()
        .filter(|f| api.dispatch.serves(*f))
        .map(|f| {
            json!({
                "FunctionName": f.as_str(),
                "Summary": f.summary(),
                "Params": (api.settings.schema)(f),
            })
        })
        .collect();
    let mut fields = serde_json::Map::new();
    fields.insert("Functions".into(), list.into());
    answer(fields)
}

/// Parameters of the Alibaba form that are accepted and not used.
const IGNORED: [&str; 9] = [
    "ModelId",
    "NotifyUrl",
    "PipelineId",
    "ScheduleParams",
    "OwnerAccount",
    "OwnerId",
    "ResourceOwnerAccount",
    "ResourceOwnerId",
    "SecurityToken",
];
/// The common parameters of version 1.0 requests.
const COMMON: [&str; 11] = [
    "Action",
    "Version",
    "Format",
    "RegionId",
    "Timestamp",
    "SignatureMethod",
    "SignatureType",
    "SignatureVersion",
    "SignatureNonce",
    "AccessKeyId",
    "Signature",
];

/// Alibaba's RPC form on `/`.
async fn rpc<J, D, O>(
    State(api): Shared<J, D, O>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    let query = alibaba::parse_params(raw.as_deref().unwrap_or_default())?;
    let form_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let form = if form_body {
        alibaba::parse_params(std::str::from_utf8(&body).unwrap_or_default())?
    } else {
        Vec::new()
    };
    let keys = match &api.settings.signatures {
        alibaba::Signatures::Off => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden.AlibabaForm",
                "the Alibaba form is not enabled here: no access keys are configured",
            ))
        }
        alibaba::Signatures::Any => None,
        alibaba::Signatures::Keys(keys) => Some(keys),
    };
    if let Some(keys) = keys {
        let now = Utc::now();
        let key_id = alibaba::verify(
            keys,
            &alibaba::Signed {
                method: &method,
                query: &query,
                form: &form,
                headers: &headers,
                body: &body,
            },
            now,
        )?;
        // A signed request is good once: its nonce is remembered for as
        // long as its timestamp would pass.
        let nonce = headers
            .get("x-acs-signature-nonce")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                query
                    .iter()
                    .chain(&form)
                    .find(|(k, _)| k == "SignatureNonce")
                    .map(|(_, v)| v.as_str())
            })
            .filter(|n| !n.is_empty() && n.len() <= 128)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "MissingSignatureNonce",
                    "a signed request carries a nonce (x-acs-signature-nonce or SignatureNonce)",
                )
            })?;
        if !api
            .jobs
            .first_use(&format!("{key_id}:{nonce}"), now + alibaba::MAX_SKEW * 2)
            .await?
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "SignatureNonceUsed",
                format!("the nonce {nonce} was used already: a signed request is accepted once"),
            ));
        }
    }
    let params: Vec<&(String, String)> = query.iter().chain(&form).collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let action = headers
        .get("x-acs-action")
        .and_then(|v| v.to_str().ok())
        .or_else(|| param("Action"))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "MissingAction",
                "name the action in the x-acs-action header or the Action parameter",
            )
        })?;
    let known: &[&str] = match action {
        "SubmitIProductionJob" => &["FunctionName", "Input", "Output", "JobParams", "UserData"],
        "QueryIProductionJob" => &["JobId"],
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidAction.NotFound",
                format!(
                    "{other}: the actions here are SubmitIProductionJob and QueryIProductionJob"
                ),
            ))
        }
    };
    if let Some((unknown, _)) = params.iter().find(|(k, _)| {
        !known.contains(&k.as_str())
            && !IGNORED.contains(&k.as_str())
            && !COMMON.contains(&k.as_str())
    }) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!(
                "{unknown}: not a parameter of {action}; it takes {}",
                known.join(", ")
            ),
        ));
    }
    let mut fields = serde_json::Map::new();
    if action == "SubmitIProductionJob" {
        let mut message = serde_json::Map::new();
        for (key, value) in [
            ("FunctionName", param("FunctionName").map(str::to_owned)),
            ("Input", param("Input").map(alibaba::location)),
            ("Output", param("Output").map(alibaba::location)),
            ("JobParams", param("JobParams").map(str::to_owned)),
            ("UserData", param("UserData").map(str::to_owned)),
        ] {
            if let Some(value) = value {
                message.insert(key.into(), value.into());
            }
        }
        let id = submit_message(&api, &Value::Object(message).to_string()).await?;
        fields.insert("JobId".into(), id.as_str().into());
        fields.insert("Result".into(), "".into());
        return Ok(answer(fields));
    }
    let id = param("JobId").ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "MissingJobId", "JobId is required")
    })?;
    let record = api
        .jobs
        .get(&job_id(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found(id))?;
    let text = |v: &Value| {
        if v.is_null() {
            Value::Null
        } else {
            Value::from(v.to_string())
        }
    };
    let wire = record_json(&record);
    fields.insert("JobId".into(), record.job_id.as_str().into());
    fields.insert("State".into(), record.state.as_str().into());
    fields.insert("FunctionName".into(), record.function_name.as_str().into());
    fields.insert("Input".into(), text(&wire["Input"]));
    fields.insert("Output".into(), text(&wire["Output"]));
    fields.insert("JobParams".into(), text(&wire["JobParams"]));
    fields.insert("Result".into(), text(&wire["Result"]));
    fields.insert("UserData".into(), wire["UserData"].clone());
    Ok(answer(fields))
}

/// The console's files, built into the binary: no build step, nothing
/// fetched from elsewhere.
const CONSOLE: [(&str, &str, &str); 4] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../console/console.css"),
    ),
    (
        "sigv4.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/sigv4.js"),
    ),
];

async fn asset(name: &str) -> Response {
    match CONSOLE.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, text)) => (
            [
                (axum::http::header::CONTENT_TYPE, *kind),
                (axum::http::header::CACHE_CONTROL, "no-cache"),
            ],
            *text,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /`: the console, or an Alibaba-form request when it names an
/// action.
async fn root<J, D, O>(
    state: Shared<J, D, O>,
    method: Method,
    query: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError>
where
    J: JobStore + Nonces + 'static,
    D: Dispatch,
    O: ObjectStore + Links,
{
    let names_action =
        headers.contains_key("x-acs-action") || query.0.as_deref().is_some_and(|q| !q.is_empty());
    if names_action {
        rpc(state, method, query, headers, body).await
    } else {
        Ok(asset("index.html").await)
    }
}
