//! What a capability is to the rest of the system: pure, synchronous work
//! over a local input file, typed params in, typed result out, files named
//! through an [`OutputSink`]. No AWS, no async, no env reads: the pipeline
//! fetches the input and stores what a capability produced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::domain::location::OutputVars;
use crate::domain::{
    ErrorCode, FunctionName, JobError, Limits, MediaLocation, OutputTemplate, Span,
};

/// Receives progress reports (0–1) from long work.
pub trait Progress: Send + Sync {
    /// `fraction` of the work is done.
    fn update(&self, fraction: f64);
}

/// A [`Progress`] that ignores reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _fraction: f64) {}
}

/// A [`Progress`] that only ever moves forward: reports from several
/// threads or passes that would move it back are dropped, values are
/// clamped to 0–1.
pub struct Monotonic {
    inner: std::sync::Arc<dyn Progress>,
    /// The highest fraction passed on, as `f64` bits.
    highest: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Monotonic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monotonic")
            .field(
                "highest",
                &f64::from_bits(self.highest.load(std::sync::atomic::Ordering::Relaxed)),
            )
            .finish_non_exhaustive()
    }
}

impl Monotonic {
    /// Passes forward-moving reports on to `inner`.
    pub fn new(inner: std::sync::Arc<dyn Progress>) -> Self {
        Self {
            inner,
            highest: std::sync::atomic::AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl Progress for Monotonic {
    fn update(&self, fraction: f64) {
        use std::sync::atomic::Ordering;
        let fraction = if fraction.is_nan() {
            return;
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let moved = self
            .highest
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bits| {
                (fraction > f64::from_bits(bits)).then_some(fraction.to_bits())
            })
            .is_ok();
        if moved {
            self.inner.update(fraction);
        }
    }
}

/// Progress as work done over work expected, summed over a job's passes
/// (frames analysed, frames encoded, ...), each reported from whichever
/// thread does it. Passes that run at the same time add up instead of
/// overwriting each other, and what is passed on only moves forward.
pub struct Passes {
    out: Monotonic,
    expected: Vec<u64>,
    done: Vec<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Passes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passes")
            .field("expected", &self.expected)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Passes {
    /// Passes of `expected` units each (e.g. the frames a pass will see,
    /// from the probed duration and frame rate; at least 1).
    pub fn new(progress: Arc<dyn Progress>, expected: &[u64]) -> Self {
        Self {
            out: Monotonic::new(progress),
            expected: expected.iter().map(|&n| n.max(1)).collect(),
            done: expected
                .iter()
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        }
    }

    /// The frames a pass over `duration_s` at `frame_rate` sees.
    pub fn frames(duration_s: f64, frame_rate: f64) -> u64 {
        let n = duration_s * frame_rate;
        if n.is_finite() && n >= 1.0 {
            n.round() as u64
        } else {
            1
        }
    }

    /// `done` units of `pass` are finished (counts only grow; more than
    /// expected counts as the whole pass).
    pub fn set(&self, pass: usize, done: u64) {
        let Some(slot) = self.done.get(pass) else {
            return;
        };
        slot.fetch_max(done, Ordering::Relaxed);
        let total: u64 = self.expected.iter().sum();
        let finished: u64 = self
            .expected
            .iter()
            .zip(&self.done)
            .map(|(&e, d)| d.load(Ordering::Relaxed).min(e))
            .sum();
        self.out.update(finished as f64 / total as f64);
    }

    /// `pass` is complete.
    pub fn finish(&self, pass: usize) {
        if let Some(&e) = self.expected.get(pass) {
            self.set(pass, e);
        }
    }
}

impl Passes {
    /// A [`Progress`] for one pass: the fractions it reports are that
    /// pass's share (for code that reports fractions, not counts).
    pub fn pass(self: &Arc<Self>, pass: usize) -> Arc<dyn Progress> {
        Arc::new(OnePass {
            passes: Arc::clone(self),
            pass,
        })
    }
}

struct OnePass {
    passes: Arc<Passes>,
    pass: usize,
}

impl Progress for OnePass {
    fn update(&self, fraction: f64) {
        if let Some(&e) = self.passes.expected.get(self.pass) {
            if fraction.is_finite() {
                self.passes
                    .set(self.pass, (fraction.clamp(0.0, 1.0) * e as f64) as u64);
            }
        }
    }
}

/// What a capability may know about the run it is part of.
#[derive(Clone)]
pub struct Context {
    /// Where to report progress.
    pub progress: Arc<dyn Progress>,
    /// Input limits.
    pub limits: Limits,
    /// Set when the job must stop (deadline near).
    pub cancel: Arc<AtomicBool>,
    /// Local copies of the extra inputs the capability asked for
    /// ([`Capability::extra_inputs`]).
    pub inputs: HashMap<ExtraInput, PathBuf>,
    /// The segment of the input this run covers, when the job is split
    /// ([`Capability::split`]); `None` for the whole input.
    pub span: Option<Span>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("limits", &self.limits)
            .field("cancelled", &self.cancel.load(Ordering::Relaxed))
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl Default for Context {
    fn default() -> Self {
        Self {
            progress: Arc::new(NoProgress),
            limits: Limits::default(),
            cancel: Arc::new(AtomicBool::new(false)),
            inputs: HashMap::new(),
            span: None,
        }
    }
}

impl Context {
    /// Whether the job has been asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// A file a capability wrote locally, and where the pipeline puts it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducedFile {
    /// The local file.
    pub local: PathBuf,
    /// Its final location.
    pub location: MediaLocation,
    /// MIME type.
    pub content_type: &'static str,
}

/// Names output files before they are written, so that a result can refer
/// to its files by their final location.
#[derive(Debug)]
pub struct OutputSink {
    dir: PathBuf,
    template: OutputTemplate,
    source: String,
    timestamp: i64,
    job_id: String,
    counters: HashMap<String, u32>,
    files: Vec<ProducedFile>,
}

impl OutputSink {
    /// A sink writing into local `dir`, naming files by `template`.
    pub fn new(
        dir: &Path,
        template: OutputTemplate,
        source: &str,
        timestamp: i64,
        job_id: &str,
    ) -> Self {
        Self {
            dir: dir.to_owned(),
            template,
            source: source.to_owned(),
            timestamp,
            job_id: job_id.to_owned(),
            counters: HashMap::new(),
            files: Vec::new(),
        }
    }

    /// A local path for work in progress, in the job's folder but never
    /// uploaded (e.g. a file to be [planned](Self::plan) only once it is
    /// known to be wanted).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.join(format!("scratch-{name}"))
    }

    /// Reserves the next file of `result_type`: returns the local path to
    /// write and the final location to cite. `several` says whether the job
    /// writes more than one file of this type.
    ///
    /// # Errors
    /// `InvalidOutput` when the template expands to an invalid location.
    pub fn plan(
        &mut self,
        result_type: &str,
        extension: &str,
        content_type: &'static str,
        several: bool,
    ) -> Result<ProducedFile, JobError> {
        let seq = {
            let n = self.counters.entry(result_type.to_owned()).or_insert(0);
            *n += 1;
            *n
        };
        let seq_text = seq.to_string();
        let location = self.template.expand(&OutputVars {
            source: &self.source,
            timestamp: self.timestamp,
            sequence_id: &seq_text,
            result_type,
            job_id: &self.job_id,
            extension,
            several,
        })?;
        let local = self.dir.join(format!(
            "{}-{result_type}-{seq}.{extension}",
            self.files.len()
        ));
        let file = ProducedFile {
            local,
            location,
            content_type,
        };
        self.files.push(file.clone());
        Ok(file)
    }

    /// Where the result JSON goes: the file of result type `result`.
    ///
    /// # Errors
    /// `InvalidOutput` when the template expands to an invalid location.
    pub fn result_location(&self) -> Result<MediaLocation, JobError> {
        self.template.expand(&OutputVars {
            source: &self.source,
            timestamp: self.timestamp,
            sequence_id: "result",
            result_type: "result",
            job_id: &self.job_id,
            extension: "json",
            several: true,
        })
    }

    /// The files planned, in order. Those not written locally are skipped
    /// by the pipeline.
    pub fn into_files(self) -> Vec<ProducedFile> {
        self.files
    }

    /// The files planned so far.
    pub fn files(&self) -> &[ProducedFile] {
        &self.files
    }

    /// A sink for segment `index` of a split job: the same names, its
    /// own local folder inside this one.
    ///
    /// # Errors
    /// `InternalError` when the folder cannot be made.
    pub fn part(&self, index: usize) -> Result<Self, JobError> {
        let dir = self.dir.join(format!("part-{index}"));
        std::fs::create_dir_all(&dir).map_err(|e| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("making the folder of segment {index}: {e}"),
            )
        })?;
        Ok(Self {
            dir,
            template: self.template.clone(),
            source: self.source.clone(),
            timestamp: self.timestamp,
            job_id: self.job_id.clone(),
            counters: HashMap::new(),
            files: Vec::new(),
        })
    }

    /// Plans a file a segment planned, at the same location: the local
    /// path to write the joined file to.
    pub fn adopt(&mut self, file: &ProducedFile) -> ProducedFile {
        // Named by its location: a segment's file may be a URL.
        let extension = std::path::Path::new(file.location.file_name())
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "bin".to_owned());
        let adopted = ProducedFile {
            local: self
                .dir
                .join(format!("joined-{}.{extension}", self.files.len())),
            location: file.location.clone(),
            content_type: file.content_type,
        };
        self.files.push(adopted.clone());
        adopted
    }
}

/// An object a job reads besides its input, named by one of its params.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExtraInput {
    /// A background picture or video (`bgimage`).
    Background,
}

impl ExtraInput {
    /// The param that names it, for messages.
    pub fn param(self) -> &'static str {
        match self {
            Self::Background => "bgimage",
        }
    }
}

impl std::fmt::Display for ExtraInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.param())
    }
}

/// How the work of a job splits over segments of a long input.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Split {
    /// The input is worked on in one run.
    Whole,
    /// Frame by frame: each segment writes the video of its
    /// [`Context::span`] (no audio), the segments' videos are joined
    /// without re-encoding and the source's audio is added once.
    Frames {
        /// Seconds of input before a segment that its run must see for
        /// its frame-to-frame state to be settled (0 for work without
        /// such state).
        warm_up_s: f64,
    },
    /// An analysis: each segment reads its [`Context::span`] and writes no
    /// files ([`Capability::read_span`]); one step then decides from
    /// every segment's readings and writes the job's files
    /// ([`Capability::conclude`]). What must be decided over the whole
    /// input before (a region to read) is decided once by
    /// [`Capability::decide`].
    Readings {
        /// Seconds of input before a segment that its run must see for
        /// its state to be settled.
        warm_up_s: f64,
    },
}

impl Split {
    /// The warm-up of work that splits, `None` for work that does not.
    pub fn warm_up_s(self) -> Option<f64> {
        match self {
            Self::Whole => None,
            Self::Frames { warm_up_s } | Self::Readings { warm_up_s } => Some(warm_up_s),
        }
    }
}

/// A file joined from the segments' files.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// Its final location.
    pub location: MediaLocation,
    /// Video frames in it.
    pub frames: u64,
    /// Seconds of video in it.
    pub duration_s: f64,
}

/// What a capability returns besides its files: a one-line summary for
/// the job's `Message` and its typed result.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<T> {
    /// One-line summary for `Message`.
    pub message: String,
    /// The typed result (the job's `Result.Data`).
    pub result: T,
}

/// A capability: typed params in, files and a typed result out.
///
/// Pure and synchronous: no AWS, no async, no environment reads. The
/// pipeline parses a job's `JobParams` once ([`Capability::parse`]), fetches
/// what [`Capability::extra_inputs`] names, then calls [`Capability::run`] on
/// a blocking thread. [`DynCapability`] is the same contract with the types
/// erased, which is what the pipeline and the Lambda handler hold.
pub trait Capability: Send + Sync + 'static {
    /// The params, parsed from `JobParams`.
    type Params: Send + Sync + 'static;
    /// The result, serialised once into the job's `Result.Data`.
    type Output: serde::Serialize + Send + 'static;

    /// The FunctionName it serves.
    fn function(&self) -> FunctionName;

    /// Whether jobs of `function` may run here (the function's own name;
    /// a capability serving a video and an image variant takes both).
    fn serves(&self, function: FunctionName) -> bool {
        function == self.function()
    }

    /// Parses `JobParams`, before the input is fetched.
    ///
    /// # Errors
    /// `InvalidParameter` naming the key and the allowed range.
    fn parse(&self, params: &serde_json::Value) -> Result<Self::Params, JobError>;

    /// Other objects the job reads besides its input (e.g. a background
    /// image named by a param); the pipeline fetches them into
    /// [`Context::inputs`] or fails the job naming the one missing.
    fn extra_inputs(&self, _params: &Self::Params) -> Vec<(ExtraInput, MediaLocation)> {
        Vec::new()
    }

    /// Runs on `input`, writing files planned through `sink`; on the
    /// segment [`Context::span`] names when the job is split.
    ///
    /// # Errors
    /// A permanent error for bad input, params or limits.
    fn run(
        &self,
        input: &Path,
        params: &Self::Params,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<Report<Self::Output>, JobError>;

    /// How a job with `params` may be split over segments of its input
    /// (by default it may not).
    fn split(&self, _params: &Self::Params) -> Split {
        Split::Whole
    }

    /// The result of a split job from its segments' results, in time
    /// order, and the files joined from theirs.
    ///
    /// # Errors
    /// `InternalError` for a capability that does not split.
    fn merge(
        &self,
        _params: &Self::Params,
        _parts: Vec<Report<Self::Output>>,
        _joined: &[Joined],
    ) -> Result<Report<Self::Output>, JobError> {
        Err(no_split(self.function()))
    }

    /// A segment's result read back from its JSON (`data`, as serialised),
    /// for a merge in another process than the segment's.
    ///
    /// # Errors
    /// `InternalError` for JSON that is not such a result, or a capability
    /// that does not split.
    fn part_from_json(
        &self,
        _message: String,
        _data: serde_json::Value,
    ) -> Result<Report<Self::Output>, JobError> {
        Err(no_split(self.function()))
    }

    /// Before a job is split: what must be decided over the whole input
    /// (where the captions are, which logos to take away), by a look at
    /// it, so that every segment and the merge work with the same; any
    /// JSON [`Capability::decided`] reads back. `None`: nothing to decide.
    ///
    /// # Errors
    /// Media errors reading the input.
    fn decide(
        &self,
        _input: &Path,
        _params: &Self::Params,
        _ctx: &Context,
    ) -> Result<Option<serde_json::Value>, JobError> {
        Ok(None)
    }

    /// `params` with `decision` ([`Capability::decide`]) taken: what a
    /// run with them does is what a whole run with `params` does.
    ///
    /// # Errors
    /// `InternalError` for a decision it cannot read.
    fn decided(
        &self,
        _params: &Self::Params,
        _decision: &serde_json::Value,
    ) -> Result<Self::Params, JobError> {
        Err(no_split(self.function()))
    }

    /// Whether what must be decided before a split is gathered in
    /// segments (`Some(warm_up_s)`): a first fan-out reads each segment
    /// ([`Capability::read_span`]) and [`Capability::settle`] decides
    /// from all of them, for the work that needs the whole input (which
    /// captions to take away) but is too long to look at in one run.
    /// `None` (the default): nothing is gathered.
    fn gathers(&self, _params: &Self::Params) -> Option<f64> {
        None
    }

    /// [`Capability::gathers`]: the decision from every segment's
    /// readings, in time order; [`Capability::decided`] takes it with the
    /// job's own params, so it holds what [`Capability::decide`] decided
    /// before the gathering too.
    ///
    /// # Errors
    /// `InternalError` for readings it cannot read back.
    fn settle(
        &self,
        _params: &Self::Params,
        _readings: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, JobError> {
        Err(no_split(self.function()))
    }

    /// [`Split::Readings`] and [`Capability::gathers`]: what segment
    /// [`Context::span`] of the input shows, for [`Capability::conclude`]
    /// or [`Capability::settle`] (any JSON the capability reads back
    /// there).
    ///
    /// # Errors
    /// As [`Capability::run`]; `InternalError` for a capability that does
    /// not split this way.
    fn read_span(
        &self,
        _input: &Path,
        _params: &Self::Params,
        _ctx: &Context,
    ) -> Result<serde_json::Value, JobError> {
        Err(no_split(self.function()))
    }

    /// [`Split::Readings`]: the job's result and files from every
    /// segment's readings, in time order.
    ///
    /// # Errors
    /// `InternalError` for readings it cannot read back; output errors.
    fn conclude(
        &self,
        _params: &Self::Params,
        _readings: Vec<serde_json::Value>,
        _sink: &mut OutputSink,
        _ctx: &Context,
    ) -> Result<Report<Self::Output>, JobError> {
        Err(no_split(self.function()))
    }
}

/// One segment's result, kept typed until [`DynCapability::merge`], and
/// as JSON for a merge elsewhere.
pub struct PartOutput {
    typed: Box<dyn std::any::Any + Send>,
    json: serde_json::Value,
}

impl std::fmt::Debug for PartOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartOutput")
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

impl PartOutput {
    /// The result as JSON: `{"Message": ..., "Data": ...}`, read back by
    /// [`DynCapability::part_from_json`].
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }
}

/// Params parsed by [`DynCapability::parse`], for the same capability's
/// [`DynCapability::run`].
pub struct ParsedParams {
    value: Box<dyn std::any::Any + Send + Sync>,
    extra_inputs: Vec<(ExtraInput, MediaLocation)>,
}

impl std::fmt::Debug for ParsedParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedParams")
            .field("extra_inputs", &self.extra_inputs)
            .finish_non_exhaustive()
    }
}

impl ParsedParams {
    /// The objects to fetch besides the input.
    pub fn extra_inputs(&self) -> &[(ExtraInput, MediaLocation)] {
        &self.extra_inputs
    }
}

/// What a capability returns, with its result serialised.
#[derive(Debug, Clone, PartialEq)]
pub struct CapabilityOutput {
    /// One-line summary for `Message`.
    pub message: String,
    /// The result, serialised.
    pub data: serde_json::Value,
}

/// A [`Capability`] with its types erased: what the pipeline, the Lambda
/// handler and the CLI hold (`Arc<dyn DynCapability>`). Every capability
/// is one through the blanket implementation.
pub trait DynCapability: Send + Sync + 'static {
    /// The FunctionName it serves.
    fn function(&self) -> FunctionName;

    /// Whether jobs of `function` may run here.
    fn serves(&self, function: FunctionName) -> bool;

    /// Parses `JobParams` once per job.
    ///
    /// # Errors
    /// `InvalidParameter` naming the key.
    fn parse(&self, params: &serde_json::Value) -> Result<ParsedParams, JobError>;

    /// Runs on `input` with params from [`DynCapability::parse`] and
    /// serialises the result.
    ///
    /// # Errors
    /// The capability's error; `InternalError` when the params come from
    /// another capability or the result cannot be serialised.
    fn run(
        &self,
        input: &Path,
        params: &ParsedParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<CapabilityOutput, JobError>;

    /// How a job with these params splits over segments (by default it
    /// does not).
    fn split(&self, _params: &ParsedParams) -> Split {
        Split::Whole
    }

    /// Runs one segment (`ctx.span`), keeping its result for
    /// [`DynCapability::merge`].
    ///
    /// # Errors
    /// As [`DynCapability::run`]; `InternalError` by default.
    fn run_part(
        &self,
        _input: &Path,
        _params: &ParsedParams,
        _sink: &mut OutputSink,
        _ctx: &Context,
    ) -> Result<PartOutput, JobError> {
        Err(no_split(self.function()))
    }

    /// Merges the segments' results (in time order) and the files joined
    /// from theirs, or concludes from their readings writing the job's
    /// files through `sink`, and serialises the job's result.
    ///
    /// # Errors
    /// `InternalError` when the parts or params come from another
    /// capability or it does not split.
    fn merge(
        &self,
        _params: &ParsedParams,
        _parts: Vec<PartOutput>,
        _joined: &[Joined],
        _sink: &mut OutputSink,
        _ctx: &Context,
    ) -> Result<CapabilityOutput, JobError> {
        Err(no_split(self.function()))
    }

    /// What must be decided over the whole input before a split
    /// ([`Capability::decide`]); `None`: nothing.
    ///
    /// # Errors
    /// Media errors reading the input.
    fn decide(
        &self,
        _input: &Path,
        _params: &ParsedParams,
        _ctx: &Context,
    ) -> Result<Option<serde_json::Value>, JobError> {
        Ok(None)
    }

    /// `params` with `decision` taken ([`Capability::decided`]).
    ///
    /// # Errors
    /// `InternalError` for a decision it cannot read.
    fn decided(
        &self,
        _params: &ParsedParams,
        _decision: &serde_json::Value,
    ) -> Result<ParsedParams, JobError> {
        Err(no_split(self.function()))
    }

    /// A segment's result from its [`PartOutput::json`].
    ///
    /// # Errors
    /// `InternalError` for JSON that is not such a result.
    fn part_from_json(&self, _json: &serde_json::Value) -> Result<PartOutput, JobError> {
        Err(no_split(self.function()))
    }

    /// Whether the decision before a split is gathered in segments
    /// ([`Capability::gathers`]): their warm-up.
    fn gathers(&self, _params: &ParsedParams) -> Option<f64> {
        None
    }

    /// One segment's readings for the gathering ([`Capability::read_span`]).
    ///
    /// # Errors
    /// As [`DynCapability::run`]; `InternalError` by default.
    fn read_span(
        &self,
        _input: &Path,
        _params: &ParsedParams,
        _ctx: &Context,
    ) -> Result<serde_json::Value, JobError> {
        Err(no_split(self.function()))
    }

    /// The decision from the gathered readings ([`Capability::settle`]).
    ///
    /// # Errors
    /// `InternalError` for readings it cannot read back.
    fn settle(
        &self,
        _params: &ParsedParams,
        _readings: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, JobError> {
        Err(no_split(self.function()))
    }

    /// The warm-up a plan of segments needs for every fan-out of a job
    /// with `params`: the gathering's and the split's; `None` when it
    /// does not split at all.
    fn plan_warm_up_s(&self, params: &ParsedParams) -> Option<f64> {
        let split = self.split(params).warm_up_s()?;
        Some(self.gathers(params).map_or(split, |g| g.max(split)))
    }
}

fn no_split(function: FunctionName) -> JobError {
    JobError::permanent(
        ErrorCode::InternalError,
        format!("{function} does not split its work"),
    )
}

impl<C: Capability> DynCapability for C {
    fn function(&self) -> FunctionName {
        Capability::function(self)
    }

    fn serves(&self, function: FunctionName) -> bool {
        Capability::serves(self, function)
    }

    fn parse(&self, params: &serde_json::Value) -> Result<ParsedParams, JobError> {
        let value = Capability::parse(self, params)?;
        let extra_inputs = Capability::extra_inputs(self, &value);
        Ok(ParsedParams {
            value: Box::new(value),
            extra_inputs,
        })
    }

    fn run(
        &self,
        input: &Path,
        params: &ParsedParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<CapabilityOutput, JobError> {
        let report = Capability::run(self, input, typed::<C>(self, params)?, sink, ctx)?;
        serialised(report)
    }

    fn split(&self, params: &ParsedParams) -> Split {
        typed::<C>(self, params).map_or(Split::Whole, |p| Capability::split(self, p))
    }

    fn run_part(
        &self,
        input: &Path,
        params: &ParsedParams,
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<PartOutput, JobError> {
        let typed_params = typed::<C>(self, params)?;
        if let Split::Readings { .. } = Capability::split(self, typed_params) {
            let readings = Capability::read_span(self, input, typed_params, ctx)?;
            return Ok(PartOutput {
                json: serde_json::json!({ "Readings": readings }),
                typed: Box::new(readings),
            });
        }
        let report = Capability::run(self, input, typed_params, sink, ctx)?;
        part_output(report)
    }

    fn decide(
        &self,
        input: &Path,
        params: &ParsedParams,
        ctx: &Context,
    ) -> Result<Option<serde_json::Value>, JobError> {
        Capability::decide(self, input, typed::<C>(self, params)?, ctx)
    }

    fn decided(
        &self,
        params: &ParsedParams,
        decision: &serde_json::Value,
    ) -> Result<ParsedParams, JobError> {
        let value = Capability::decided(self, typed::<C>(self, params)?, decision)?;
        Ok(ParsedParams {
            value: Box::new(value),
            extra_inputs: params.extra_inputs.clone(),
        })
    }

    fn gathers(&self, params: &ParsedParams) -> Option<f64> {
        typed::<C>(self, params)
            .ok()
            .and_then(|p| Capability::gathers(self, p))
    }

    fn read_span(
        &self,
        input: &Path,
        params: &ParsedParams,
        ctx: &Context,
    ) -> Result<serde_json::Value, JobError> {
        Capability::read_span(self, input, typed::<C>(self, params)?, ctx)
    }

    fn settle(
        &self,
        params: &ParsedParams,
        readings: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, JobError> {
        Capability::settle(self, typed::<C>(self, params)?, readings)
    }

    fn part_from_json(&self, json: &serde_json::Value) -> Result<PartOutput, JobError> {
        if json.get("Readings").is_some() {
            let readings = json["Readings"].clone();
            return Ok(PartOutput {
                typed: Box::new(readings),
                json: json.clone(),
            });
        }
        let message = json
            .get("Message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let data = json.get("Data").cloned().unwrap_or(serde_json::Value::Null);
        part_output(Capability::part_from_json(self, message, data)?)
    }

    fn merge(
        &self,
        params: &ParsedParams,
        parts: Vec<PartOutput>,
        joined: &[Joined],
        sink: &mut OutputSink,
        ctx: &Context,
    ) -> Result<CapabilityOutput, JobError> {
        let params = typed::<C>(self, params)?;
        if let Split::Readings { .. } = Capability::split(self, params) {
            let readings = parts
                .into_iter()
                .map(|p| {
                    p.typed
                        .downcast::<serde_json::Value>()
                        .map(|r| *r)
                        .map_err(|_| mixed(self, "segment readings"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            return serialised(Capability::conclude(self, params, readings, sink, ctx)?);
        }
        let parts = parts
            .into_iter()
            .map(|p| {
                p.typed
                    .downcast::<Report<C::Output>>()
                    .map(|r| *r)
                    .map_err(|_| mixed(self, "segment results"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        serialised(Capability::merge(self, params, parts, joined)?)
    }
}

/// `params` as parsed by `capability`.
fn typed<'p, C: Capability>(
    capability: &C,
    params: &'p ParsedParams,
) -> Result<&'p C::Params, JobError> {
    params
        .value
        .downcast_ref::<C::Params>()
        .ok_or_else(|| mixed(capability, "params"))
}

fn mixed<C: Capability>(capability: &C, what: &str) -> JobError {
    JobError::permanent(
        ErrorCode::InternalError,
        format!(
            "{} was given {what} from another capability",
            Capability::function(capability)
        ),
    )
}

fn part_output<T: serde::Serialize + Send + 'static>(
    report: Report<T>,
) -> Result<PartOutput, JobError> {
    let out = serialised(Report {
        message: report.message.clone(),
        result: &report.result,
    })?;
    Ok(PartOutput {
        json: serde_json::json!({"Message": out.message, "Data": out.data}),
        typed: Box::new(report),
    })
}

fn serialised<T: serde::Serialize>(report: Report<T>) -> Result<CapabilityOutput, JobError> {
    let data = serde_json::to_value(&report.result).map_err(|e| {
        JobError::permanent(
            ErrorCode::InternalError,
            format!("serialising the result: {e}"),
        )
    })?;
    Ok(CapabilityOutput {
        message: report.message,
        data,
    })
}

#[cfg(test)]
mod monotonic_tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Seen(Mutex<Vec<f64>>);

    impl Progress for Seen {
        fn update(&self, fraction: f64) {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(fraction);
        }
    }

    #[test]
    fn progress_only_moves_forward() {
        let seen = Arc::new(Seen(Mutex::new(Vec::new())));
        let progress = Monotonic::new(seen.clone());
        for f in [0.2, 0.6, 0.2, 0.6, 0.7, f64::NAN, 1.5, 0.9] {
            progress.update(f);
        }
        let seen = seen
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert_eq!(seen, vec![0.2, 0.6, 0.7, 1.0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<f64>>);

    impl Progress for Seen {
        fn update(&self, fraction: f64) {
            self.0.lock().expect("lock").push(fraction);
        }
    }

    #[test]
    fn passes_add_up_frames_over_frames_expected_and_only_move_forward() {
        let seen = Arc::new(Seen::default());
        let passes = Passes::new(seen.clone(), &[100, 300]);
        passes.set(0, 50); // 50 of 400
        passes.set(1, 150); // 200 of 400
        passes.set(0, 40); // a late, lower report of pass 0: no change
        passes.finish(0); // 250 of 400
        passes.set(1, 1_000); // more than expected: the whole pass
        passes.set(7, 10); // no such pass: ignored
        let seen = seen.0.lock().expect("lock").clone();
        assert_eq!(seen, vec![0.125, 0.5, 0.625, 1.0]);
    }

    #[test]
    fn a_pass_view_reports_its_fractions_as_its_share() {
        let seen = Arc::new(Seen::default());
        let passes = Arc::new(Passes::new(seen.clone(), &[100, 100]));
        let analysis = passes.pass(0);
        analysis.update(0.5); // 50 of 200
        passes.set(1, 100); // 150 of 200
        analysis.update(f64::NAN);
        analysis.update(2.0); // the whole pass: 200 of 200
        assert_eq!(*seen.0.lock().expect("lock"), vec![0.25, 0.75, 1.0]);
    }

    #[test]
    fn frames_expected_come_from_duration_and_rate_and_are_never_zero() {
        assert_eq!(Passes::frames(10.0, 25.0), 250);
        assert_eq!(Passes::frames(0.0, 25.0), 1);
        assert_eq!(Passes::frames(f64::NAN, 25.0), 1);
    }

    #[test]
    fn monotonic_drops_reports_that_move_back_and_clamps() {
        let seen = Arc::new(Seen::default());
        let m = Monotonic::new(seen.clone());
        for f in [0.2, 0.6, 0.2, f64::NAN, 0.7, 3.0] {
            m.update(f);
        }
        assert_eq!(*seen.0.lock().expect("lock"), vec![0.2, 0.6, 0.7, 1.0]);
    }
}
