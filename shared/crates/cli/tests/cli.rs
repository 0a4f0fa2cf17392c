//! The `iprod` command line, as a newcomer runs it.

use std::process::Command;

fn clip(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("clip one.mp4");
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=s=320x180:r=25",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        &path.to_string_lossy(),
    ])
    .expect("ffmpeg makes a clip");
    path
}

fn iprod(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_iprod"))
        .args(args)
        .output()
        .expect("iprod runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_writes_covers_and_prints_the_job_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = clip(dir.path());
    let out = dir.path().join("out/");
    let (code, record, stderr) = iprod(&[
        "run",
        "Cover",
        &input.to_string_lossy(),
        "--params",
        r#"{"Count":2,"Format":"png"}"#,
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(record["State"], "Success");
    let files: Vec<String> = record["OutputFiles"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        assert!(std::path::Path::new(file).is_file(), "{file}");
        assert!(!file.contains("//"), "{file}");
    }
    assert!(
        files[0].ends_with("out/clip one/Cover/clip one-cover-1.png"),
        "{files:?}"
    );
    // Another function on the same file writes beside it, not over it.
    let (code, record, stderr) = iprod(&[
        "run",
        "VideoH2V",
        &input.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let result = record["OutputFiles"]
        .as_array()
        .and_then(|f| f.last())
        .and_then(|f| f.as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        result.ends_with("out/clip one/VideoH2V/clip one-result.json"),
        "{result}"
    );
    assert!(
        std::path::Path::new(&files[2]).is_file(),
        "the Cover result is kept"
    );
}

#[test]
fn a_long_video_is_split_on_its_own_unless_told_to_run_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("keyed.mp4");
    iprod::bench::synth::green_screen_clip(&input, 6.0, (192, 144), 25).expect("clip");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_iprod"))
            .args(["run", "VideoGreenScreenMatting", &input.to_string_lossy()])
            .args(["--params", r#"{"Format":"mov"}"#])
            .args(["--out", &dir.path().join("out").to_string_lossy()])
            .args(extra)
            .env("IPROD_SPLIT_ABOVE_SECONDS", "4")
            .output()
            .expect("iprod runs");
        let record: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (record, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (record, stderr) = run(&[]);
    assert_eq!(record["State"], "Success", "{stderr}");
    assert_eq!(record["Result"]["Data"]["Frames"], 150, "{record}");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cores > 1 {
        assert!(
            stderr.contains("longer than 4 s") && stderr.contains("segments"),
            "{stderr}"
        );
    }
    let (record, stderr) = run(&["--segments", "1"]);
    assert_eq!(record["Result"]["Data"]["Frames"], 150, "{record}");
    assert!(!stderr.contains("segments"), "{stderr}");
}

#[test]
fn bad_params_fail_the_job_and_name_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = clip(dir.path());
    let (code, record, _) = iprod(&[
        "run",
        "Cover",
        &input.to_string_lossy(),
        "--params",
        r#"{"Count":0}"#,
        "--out",
        &dir.path().join("out").to_string_lossy(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(record["State"], "Fail");
    assert_eq!(record["Code"], "InvalidParameter");
    assert!(record["Message"]
        .as_str()
        .unwrap_or_default()
        .contains("Count"));
}

#[test]
fn an_unknown_function_is_refused_with_the_list_of_known_ones() {
    let (code, _, stderr) = iprod(&["run", "Thumbnail", "x.mp4"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("Cover"), "{stderr}");
}

#[test]
fn a_signal_ends_the_run_as_interrupted_and_leaves_no_work_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A clip long enough that the job would run for minutes.
    let input = dir.path().join("long.mp4");
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=480x270:r=25",
        "-t",
        "300",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &input.to_string_lossy(),
    ])
    .expect("ffmpeg makes a clip");
    let work = dir.path().join("tmp");
    std::fs::create_dir_all(&work).expect("work folder");
    let out = dir.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_iprod"))
        .args(["run", "VideoH2V", &input.to_string_lossy(), "--out"])
        .arg(&out)
        .env("TMPDIR", &work)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("iprod runs");
    let work_folders = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&work)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("iprod-"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // Wait for the job's work folder, then stop it.
    let started = std::time::Instant::now();
    while work_folders().is_empty() {
        assert!(started.elapsed().as_secs() < 60, "no work folder appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let stopped = std::time::Instant::now();
    let output = child.wait_with_output().expect("iprod ends");
    // The work stops with the job, instead of holding the process until
    // it is done.
    let took = stopped.elapsed().as_secs_f64();
    assert!(took < 5.0, "iprod took {took:.1} s to end after SIGTERM");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let record: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert_eq!(record["State"], "Fail", "{record}");
    assert_eq!(record["Code"], "Interrupted");
    assert!(record["Message"]
        .as_str()
        .is_some_and(|m| m.contains("SIGTERM")));
    let left = work_folders();
    assert!(left.is_empty(), "the input's copy is removed: {left:?}");
    // The stored record says the same.
    let job_id = record["JobId"].as_str().unwrap_or_default();
    let stored = std::fs::read(out.join(".iprod/jobs").join(format!("{job_id}.json")))
        .expect("stored record");
    let stored: serde_json::Value = serde_json::from_slice(&stored).expect("json");
    assert_eq!(stored["State"], "Fail");
}

#[test]
fn a_directory_as_input_is_named_as_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("clips");
    std::fs::create_dir_all(&folder).expect("folder");
    let out = dir.path().join("out");
    let (code, record, stderr) = iprod(&[
        "run",
        "Cover",
        &folder.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(record["Code"], "InvalidMedia", "{record}");
    let message = record["Message"].as_str().unwrap_or_default();
    assert!(
        message.contains("clips is a directory, not a media file"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reads_an_s3_input_and_refuses_urls_and_a_missing_region() -> anyhow::Result<()> {
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    let input = clip(dir.path());
    world.upload("library/clip one.mp4", &input).await?;
    let out = dir.path().join("out");
    let uri = format!("s3://{}/library/clip one.mp4", world.input_bucket);
    let run = |args: Vec<String>, region: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_iprod"));
        command
            .args(args)
            .env("AWS_ENDPOINT_URL", &world.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE");
        if region {
            command.env("AWS_REGION", iprod_tests::REGION);
        } else {
            command.env_remove("AWS_REGION");
        }
        command.output().expect("iprod runs")
    };
    let args = |input: &str| -> Vec<String> {
        vec![
            "run".into(),
            "Cover".into(),
            input.into(),
            "--out".into(),
            out.to_string_lossy().into_owned(),
        ]
    };
    let output = run(args(&uri), true);
    let record: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(
        record["State"],
        "Success",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(record["Input"]["Media"], uri.as_str());
    assert!(record["OutputFiles"].as_array().is_some_and(|f| f
        .iter()
        .any(|f| f.as_str().is_some_and(|f| f.ends_with(".jpg")))));

    let output = run(args("https://example.com/clip.mp4"), true);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("https:// inputs are not read"), "{stderr}");

    let output = run(args(&uri), false);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no AWS region is configured"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes off a terminal: {stderr}"
    );
    Ok(())
}

#[test]
fn functions_lists_every_function_name_and_what_this_build_runs() {
    let (code, list, stderr) = iprod(&["functions", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let list = list.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 12, "{list:?}");
    let entry = |name: &str| {
        list.iter()
            .find(|f| f["FunctionName"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(entry("Cover")["Available"], true);
    assert_eq!(entry("AudioBeatDetection")["Available"], true);
    assert_eq!(entry("VideoDelogo")["Available"], true);
    assert_eq!(entry("VideoDetext")["Available"], true);
    let matting = entry("ImageMatting");
    assert_eq!(matting["Available"], true);
    assert!(matting["Reason"].is_null(), "{matting}");
    assert!(entry("CaptionExtraction")["Summary"]
        .as_str()
        .is_some_and(|s| s.contains("SRT")));
}

#[test]
fn help_lists_the_function_names_and_where_their_params_are() {
    let out = Command::new(env!("CARGO_BIN_EXE_iprod"))
        .args(["run", "--help"])
        .output()
        .expect("iprod runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for name in ["Cover", "VideoGreenScreenMatting", "AudioBeatDetection"] {
        assert!(help.contains(name), "{name} missing from:\n{help}");
    }
    assert!(help.contains("iprod params"), "{help}");
}

#[test]
fn params_shows_every_key_with_its_range_and_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_iprod"))
        .args(["params", "cover"])
        .output()
        .expect("iprod runs");
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let count = table
        .lines()
        .find(|l| l.starts_with("Count "))
        .unwrap_or_else(|| panic!("no Count row in:\n{table}"));
    assert!(
        count.contains("integer 1..=20") && count.contains(" 1 "),
        "{count}"
    );
    assert!(table.contains("jpg | png | webp"), "{table}");

    let (code, schema, stderr) = iprod(&["params", "AudioBeatDetection", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(schema["properties"]["MinBpm"]["default"], 55.0);
    assert_eq!(schema["additionalProperties"], false);

    let (code, schema, stderr) = iprod(&["params", "VideoMatting", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let formats = schema["properties"]["Format"]["enum"].to_string();
    assert!(
        formats.contains("mask") && formats.contains("webm"),
        "{schema}"
    );
}

#[test]
fn the_published_schemas_are_current() {
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../schemas");
    let (code, _, stderr) = iprod(&["params", "--schemas", schemas, "--check"]);
    assert_eq!(
        code, 0,
        "{stderr}\n(regenerate: cargo run -p iprod-cli --bin iprod -- params --schemas schemas)"
    );
    // The check itself fails on a stale file.
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, _) = iprod(&["params", "--schemas", &dir.path().to_string_lossy()]);
    assert_eq!(code, 0);
    std::fs::write(dir.path().join("Cover.json"), "{}").expect("write");
    let (code, _, stderr) = iprod(&[
        "params",
        "--schemas",
        &dir.path().to_string_lossy(),
        "--check",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("Cover.json"), "{stderr}");
}

#[test]
fn submit_refuses_what_run_would_refuse_before_touching_aws() {
    let dir = tempfile::tempdir().expect("tempdir");
    let message = dir.path().join("job.json");
    // Nothing listens on port 9: a submission that got as far as AWS
    // would fail with a connection error instead.
    let submit = |body: serde_json::Value| {
        std::fs::write(&message, body.to_string()).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_iprod"))
            .args(["submit", &message.to_string_lossy()])
            .args(["--queue-url", "http://127.0.0.1:9/000000000000/q"])
            .args(["--job-table", "jobs"])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .output()
            .expect("iprod runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let base = serde_json::json!({
        "Input": "s3://in/clip.mp4",
        "Output": "s3://out/{jobId}/",
    });
    let with = |extra: serde_json::Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().cloned().unwrap_or_default());
        body
    };
    for (body, says) in [
        (
            with(serde_json::json!({"FunctionName": "Cover", "JobParams": {"Count": 0}})),
            "JobParams.Count",
        ),
        (
            with(serde_json::json!({"FunctionName": "Cover", "JobParams": {"Colour": "red"}})),
            "JobParams.Colour",
        ),
        (
            with(
                serde_json::json!({"FunctionName": "VideoMatting", "JobParams": {"Format": "mp4"}}),
            ),
            "JobParams.Format",
        ),
        (
            with(serde_json::json!({"FunctionName": "Thumbnail"})),
            "unknown FunctionName",
        ),
    ] {
        let (code, stderr) = submit(body.clone());
        assert_eq!(code, Some(1), "{body}: {stderr}");
        assert!(stderr.contains(says), "{body}: {stderr}");
        assert!(
            !stderr.contains("dispatch"),
            "{body}: reached AWS: {stderr}"
        );
    }
}

/// `curl` answers: status and JSON body.
fn curl(args: &[&str]) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// `iprod serve` on a free port over `root`; killed when dropped.
struct Served {
    base: String,
    child: std::process::Child,
}

impl Served {
    fn start(root: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_iprod"))
            .args(["serve", "--port", "0", "--root", &root.to_string_lossy()])
            .args(args)
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("iprod serve starts");
        let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in: {first}"))
            .trim_end_matches('/')
            .to_owned();
        // The rest of its log is not read: drain it so it never blocks.
        std::thread::spawn(move || lines.for_each(drop));
        Self { base, child }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_runs_submitted_jobs_over_a_folder_and_nothing_outside_it() {
    let root = tempfile::tempdir().expect("tempdir");
    clip(root.path());
    let served = Served::start(root.path(), &[], &[]);
    let base = served.base.clone();
    let (status, answer) = curl(&[
        "-d",
        r#"{"FunctionName":"Cover","Input":"clip one.mp4","JobParams":{"Count":2}}"#,
        &format!("{base}/jobs"),
    ]);
    assert_eq!(status, 200, "{answer}");
    let id = answer["JobId"].as_str().expect("JobId").to_owned();
    let mut record = serde_json::Value::Null;
    for _ in 0..300 {
        record = curl(&[&format!("{base}/jobs/{id}")]).1["Job"].clone();
        if record["State"] == "Success" || record["State"] == "Fail" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(record["State"], "Success", "{record}");
    let covers = root.path().join("out/clip one/Cover").join(&id);
    assert!(covers.join("clip one-cover-2.jpg").is_file(), "{record}");

    for input in ["../etc/passwd", "/etc/passwd", "s3://bucket/key.mp4"] {
        let body = serde_json::json!({"FunctionName": "Cover", "Input": input}).to_string();
        let (status, answer) = curl(&["-d", &body, &format!("{base}/jobs")]);
        assert!(status == 403 || status == 400, "{input}: {status} {answer}");
    }
    let (status, list) = curl(&[&format!("{base}/jobs?FunctionName=Cover")]);
    assert_eq!(status, 200);
    assert_eq!(list["Jobs"].as_array().map(Vec::len), Some(1), "{list}");
}

/// Runs Alibaba's SDK client script (`tests/clients/alibaba_sdk.py`) with
/// the project's Python environment: its answers, one per line.
fn alibaba_sdk(args: &[&str]) -> (bool, Vec<serde_json::Value>) {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../..");
    let out = Command::new(format!("{repo}/.venv/bin/python"))
        .arg(format!("{repo}/tests/clients/alibaba_sdk.py"))
        .args(args)
        .output()
        .expect("the SDK client runs (scripts/setup installs the SDKs into .venv)");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("ModuleNotFoundError"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), lines)
}

#[test]
fn alibabas_own_sdks_submit_and_query_jobs_with_checked_signatures() {
    let root = tempfile::tempdir().expect("tempdir");
    clip(root.path());
    let served = Served::start(root.path(), &[("IPROD_ACCESS_KEYS", "AKID:SECRET")], &[]);
    let endpoint = served.base.trim_start_matches("http://").to_owned();
    for flavour in ["current", "older"] {
        let (ok, answers) = alibaba_sdk(&[
            flavour,
            &endpoint,
            "AKID",
            "SECRET",
            "Cover",
            "clip one.mp4",
            r#"{"Count":2}"#,
        ]);
        assert!(ok, "{flavour}: {answers:?}");
        let (submitted, queried) = (&answers[0], &answers[1]);
        assert_eq!(
            submitted["JobId"].as_str().map(str::len),
            Some(32),
            "{submitted}"
        );
        assert_eq!(submitted["Result"], "", "{submitted}");
        assert_eq!(queried["JobId"], submitted["JobId"]);
        assert_eq!(queried["State"], "Success", "{flavour}: {queried}");
        assert_eq!(queried["FunctionName"], "Cover");
        // Alibaba's shapes: Result, Input, Output and JobParams are JSON
        // strings.
        let result: serde_json::Value =
            serde_json::from_str(queried["Result"].as_str().expect("a string")).expect("JSON");
        assert_eq!(
            result["Data"]["Covers"].as_array().map(Vec::len),
            Some(2),
            "{result}"
        );
        let params: serde_json::Value =
            serde_json::from_str(queried["JobParams"].as_str().expect("a string")).expect("JSON");
        assert_eq!(params["Count"], 2);
        assert!(queried["Input"]
            .as_str()
            .is_some_and(|i| i.contains("clip one.mp4")));
    }
    // A wrong secret is refused with Alibaba's code, by both SDKs.
    for flavour in ["current", "older"] {
        let (ok, answers) = alibaba_sdk(&[
            flavour,
            &endpoint,
            "AKID",
            "WRONG",
            "Cover",
            "clip one.mp4",
            "{}",
        ]);
        assert!(!ok, "{flavour}: {answers:?}");
        assert!(
            answers[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("SignatureDoesNotMatch")),
            "{flavour}: {answers:?}"
        );
    }
}

#[test]
fn the_console_works_in_a_real_browser() {
    let root = tempfile::tempdir().expect("tempdir");
    let clip = clip(root.path());
    let clicks = root.path().join("clicks.wav");
    // A click every half second: 120 BPM.
    iprod::bench::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "aevalsrc='if(lt(mod(t,0.5),0.02),sin(2*PI*1000*t),0)':s=22050:d=12",
        &clicks.to_string_lossy(),
    ])
    .expect("ffmpeg makes a click track");
    let served = Served::start(root.path(), &[], &[]);
    let shots = tempfile::tempdir().expect("tempdir");
    let shot = shots.path().join("console.png");
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../..");
    let out = Command::new("node")
        .arg(format!("{repo}/tests/browser/console.mjs"))
        .arg(format!("{}/", served.base))
        .arg(&clip)
        .arg(&clicks)
        .arg(&shot)
        .output()
        .expect("node runs (scripts/setup installs Chromium and Playwright)");
    let text = String::from_utf8_lossy(&out.stdout);
    let seen: serde_json::Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    assert!(
        out.status.success(),
        "{seen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seen["coverImages"], 2, "{seen}");
    // 12 s at 120 BPM: 24 clicks, give or take the ends.
    let beats = seen["beatCount"].as_u64().unwrap_or(0);
    assert!((22..=25).contains(&beats), "{seen}");
    assert_eq!(seen["rows"], 2, "{seen}");
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen}");
    assert!(shot.is_file());
    // The README's pictures come from here.
    if std::env::var_os("IPROD_UPDATE_SCREENSHOTS").is_some() {
        for name in ["console.png", "console-beats.png"] {
            std::fs::copy(shots.path().join(name), format!("{repo}/docs/{name}"))
                .expect("copy screenshot");
        }
    }
}

#[test]
fn the_consoles_request_signer_matches_aws_test_vectors_and_botocore() {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../..");
    let out = Command::new("node")
        .arg(format!("{repo}/tests/browser/sigv4.test.mjs"))
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok 3"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_an_aws_endpoint_runs_jobs_against_its_table_and_buckets() -> anyhow::Result<()>
{
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = clip(dir.path());
    world.upload("library/clip.mp4", &clip).await?;
    let served = Served::start(
        dir.path(),
        &[
            ("AWS_ENDPOINT_URL", world.endpoint.as_str()),
            ("AWS_REGION", iprod_tests::REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
        &[
            "--job-table",
            &world.job_table,
            "--input-bucket",
            &world.input_bucket,
            "--output-bucket",
            &world.output_bucket,
            "--topic-arn",
            &world.topic_arn,
        ],
    );
    let base = served.base.clone();
    let input = format!("s3://{}/library/clip.mp4", world.input_bucket);
    let body = serde_json::json!({"FunctionName": "Cover", "Input": input}).to_string();
    let (status, answer) = curl(&["-d", &body, &format!("{base}/jobs")]);
    assert_eq!(status, 200, "{answer}");
    let id = answer["JobId"].as_str().unwrap_or_default().to_owned();
    let mut state = serde_json::Value::Null;
    for _ in 0..300 {
        state = world.record(&id).await?["State"].clone();
        if state == "Success" || state == "Fail" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "Success");
    let outputs = world.keys(&world.output_bucket).await?;
    assert!(
        outputs
            .iter()
            .any(|k| k.starts_with(&format!("output/clip/{id}/"))),
        "{outputs:?}"
    );
    let notes = world
        .notifications(std::time::Duration::from_secs(10))
        .await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    // Nothing outside the stack's buckets, even over AWS.
    let body =
        serde_json::json!({"FunctionName": "Cover", "Input": "s3://elsewhere/x.mp4"}).to_string();
    let (status, _) = curl(&["-d", &body, &format!("{base}/jobs")]);
    assert_eq!(status, 403);
    Ok(())
}
