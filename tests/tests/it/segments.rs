//! Long media in segments: a job cut on keyframes, run segment by segment
//! on threads and joined without re-encoding writes what one pass writes.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iprod::capabilities::green_screen::GreenScreen;
use iprod::capabilities::CapabilityOutput;
use iprod::domain::{JobError, Limits};
use iprod::media::join::{plan, FfmpegSegmenter};
use iprod::media::{SamplingMode, VideoReader};
use iprod_tests::media::with_keyframes_every;
use serde_json::{json, Value};

/// A green-screen clip of `seconds` with a moving subject and a tone,
/// a keyframe every `gop` frames (25 fps) and B-frames.
fn clip(dir: &Path, seconds: u32, gop: u32) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("clip-{seconds}-{gop}.mp4"));
    iprod::bench::synth::green_screen_clip(&path, f64::from(seconds), (192, 144), gop)?;
    Ok(path)
}

/// Runs `params` on `input`, in up to `parts` segments when given.
fn run(
    input: &Path,
    params: &Value,
    out: &Path,
    parts: Option<usize>,
) -> Result<(CapabilityOutput, Vec<PathBuf>), JobError> {
    iprod_tests::run_split(&GreenScreen, input, params, out, parts)
}

/// Every frame's time and RGB pixels.
fn frames(path: &Path) -> anyhow::Result<Vec<(f64, Vec<u8>)>> {
    let mut reader = VideoReader::open(path, &Limits::default())?;
    let (w, h) = (reader.info().width, reader.info().height);
    let mut out = Vec::new();
    reader.for_each_frame(SamplingMode::All, |r, f| {
        out.push((f.time_s, r.to_rgb(f.frame, w, h)?.into_raw()));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(out)
}

fn samples(path: &Path) -> anyhow::Result<Vec<f32>> {
    Ok(iprod::media::decode_mono(path, 44_100, &Limits::default(), None, None)?.samples)
}

#[test]
fn segments_start_on_the_keyframes_nearest_equal_lengths() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let one_second_gops = clip(dir.path(), 12, 25)?;
    let spans = plan(&one_second_gops, &Limits::default(), 4, 1.0)?;
    let starts: Vec<f64> = spans.iter().map(|s| s.start_s).collect();
    assert_eq!(starts.len(), 4, "{starts:?}");
    for (found, want) in starts.iter().zip([0.0, 3.0, 6.0, 9.0]) {
        assert!((found - want).abs() < 1e-3, "{starts:?}");
    }
    for pair in spans.windows(2) {
        assert_eq!(pair[0].end_s, pair[1].start_s);
        assert!((pair[1].warm_s - (pair[1].start_s - 1.0)).abs() < 1e-9);
    }
    assert!(spans[3].end_s.is_infinite());
    // Keyframes only every 10 s: no cut leaves a segment of a second or more
    // on both sides of it but the one at 10 s... which leaves 2 s after it.
    let sparse = clip(dir.path(), 12, 250)?;
    let spans = plan(&sparse, &Limits::default(), 6, 0.0)?;
    let starts: Vec<f64> = spans.iter().map(|s| s.start_s).collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!((starts[1] - 10.0).abs() < 1e-3, "{starts:?}");
    Ok(())
}

#[test]
fn a_split_job_writes_the_frames_samples_and_times_of_a_single_pass() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let input = clip(dir.path(), 8, 25)?;
    // ProRes is intra-only and H.264 at CRF 0 lossless: the encoder's
    // state cannot differ, so neither may a single frame.
    for (name, params) in [
        ("mov", json!({"Format": "mov"})),
        (
            "mp4",
            json!({"Format": "mp4", "bgcolor": "#203050", "crf": 0}),
        ),
    ] {
        let (whole, whole_files) =
            run(&input, &params, &dir.path().join(format!("w-{name}")), None)?;
        let (split, split_files) = run(
            &input,
            &params,
            &dir.path().join(format!("s-{name}")),
            Some(4),
        )?;
        assert_eq!(whole_files.len(), 1);
        assert_eq!(split_files.len(), 1);
        assert_eq!(whole.data["Frames"], 200, "{name}: {:?}", whole.data);
        assert_eq!(split.data, {
            let mut d = whole.data.clone();
            d["File"] = split.data["File"].clone();
            d
        });
        assert_eq!(split.message, whole.message);
        let (a, b) = (frames(&whole_files[0])?, frames(&split_files[0])?);
        assert_eq!(a.len(), b.len(), "{name}: frames");
        for (i, (fa, fb)) in a.iter().zip(&b).enumerate() {
            assert!(
                (fa.0 - fb.0).abs() < 1e-6,
                "{name}: frame {i} at {} vs {}",
                fa.0,
                fb.0
            );
            assert!(fa.1 == fb.1, "{name}: frame {i} at {} differs", fa.0);
        }
        let (sa, sb) = (samples(&whole_files[0])?, samples(&split_files[0])?);
        assert!(sa.len() > 44_100 * 7, "{name}: {} samples", sa.len());
        assert_eq!(sa, sb, "{name}: audio");
    }
    Ok(())
}

#[test]
fn split_webm_keeps_its_alpha_and_timeline() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let input = clip(dir.path(), 6, 25)?;
    let (whole, whole_files) = run(&input, &json!({}), &dir.path().join("w"), None)?;
    let (split, split_files) = run(&input, &json!({}), &dir.path().join("s"), Some(3))?;
    assert_eq!(split.data["Frames"], whole.data["Frames"]);
    assert_eq!(split.data["Duration"], whole.data["Duration"]);
    let probe = iprod_tests::probe(&split_files[0], &[])?;
    let streams = probe["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .ok_or_else(|| anyhow::anyhow!("no video: {probe}"))?;
    let tags = video["tags"].to_string().to_lowercase();
    assert!(tags.contains("\"alpha_mode\":\"1\""), "{tags}");
    assert!(
        streams.iter().any(|s| s["codec_type"] == "audio"),
        "{probe}"
    );
    let times = |files: &[PathBuf]| -> anyhow::Result<Vec<f64>> {
        Ok(frames(&files[0])?.into_iter().map(|f| f.0).collect())
    };
    assert_eq!(times(&whole_files)?, times(&split_files)?);
    Ok(())
}

#[test]
fn work_that_cannot_be_split_runs_whole() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let input = clip(dir.path(), 4, 25)?;
    let (split, files) = run(
        &input,
        &json!({"Format": "zip"}),
        &dir.path().join("z"),
        Some(4),
    )?;
    assert_eq!(split.data["Frames"], 100);
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().is_some_and(|e| e == "zip"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_read_their_input_by_ranged_gets_from_a_presigned_url() -> anyhow::Result<()> {
    use iprod::ports::Links;
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    let input = clip(dir.path(), 6, 25)?;
    world.upload("long/clip.mp4", &input).await?;
    let objects = iprod::adapters::s3::S3ObjectStore::new(world.s3.clone());
    let location = iprod::domain::MediaLocation::S3 {
        bucket: world.input_bucket.clone(),
        key: "long/clip.mp4".into(),
    };
    let url = objects
        .download_url(&location, std::time::Duration::from_secs(600))
        .await?;
    let remote = PathBuf::from(&url);
    let spans = plan(&remote, &Limits::default(), 3, 1.0)?;
    assert_eq!(
        spans.iter().map(|s| s.start_s).collect::<Vec<_>>(),
        vec![0.0, 2.0, 4.0]
    );
    let params = json!({"Format": "mov"});
    let out = dir.path().to_owned();
    let (from_url, local) = tokio::task::spawn_blocking(move || {
        let from_url = run(&remote, &params, &out.join("url"), Some(3));
        let local = run(&input, &params, &out.join("file"), None);
        (from_url, local)
    })
    .await?;
    let ((split, split_files), (whole, whole_files)) = (from_url?, local?);
    assert_eq!(split.data["Frames"], 150);
    assert_eq!(split.data["Frames"], whole.data["Frames"]);
    let (a, b) = (frames(&whole_files[0])?, frames(&split_files[0])?);
    assert!(a == b, "the frames read over HTTP differ");
    assert_eq!(samples(&whole_files[0])?, samples(&split_files[0])?);
    // Nothing inside a file may open another address: only the job's URL.
    let playlist = dir.path().join("list.m3u8");
    std::fs::write(
        &playlist,
        format!("#EXTM3U\n#EXTINF:6,\n{url}\n#EXT-X-ENDLIST\n"),
    )?;
    world.upload("long/list.m3u8", &playlist).await?;
    let list_url = objects
        .download_url(
            &iprod::domain::MediaLocation::S3 {
                bucket: world.input_bucket.clone(),
                key: "long/list.m3u8".into(),
            },
            std::time::Duration::from_secs(600),
        )
        .await?;
    let refused = plan(&PathBuf::from(list_url), &Limits::default(), 3, 1.0);
    assert!(refused.is_err(), "a playlist was read: {refused:?}");
    Ok(())
}

/// Walks a long job through its state machine's steps, as Step Functions
/// would (Plan, a Map of Segments, Join), each one an invocation of the
/// function's handler over moto.
async fn walk(
    handler: &iprod::lambda::AwsHandler,
    job: &Value,
) -> anyhow::Result<(Value, Vec<Value>)> {
    let planned = handler
        .handle(json!({"Step": "Plan", "Job": job}), None)
        .await?;
    let segments = planned["Segments"].as_array().cloned().unwrap_or_default();
    if planned["Gathers"] == true {
        // A first Map reads every segment; Settle decides from them all.
        let mut gathered = Vec::new();
        for segment in &segments {
            let input = json!({"Step": "Gather", "Job": planned["Job"], "Index": segment["Index"], "Span": segment["Span"]});
            gathered.push(handler.handle(input, None).await?);
        }
        gathered.reverse();
        let mut forged = gathered.clone();
        forged[0]["Done"] = json!(job["Input"]);
        let refused = handler
            .handle(
                json!({"Step": "Settle", "Job": job, "Gathered": forged}),
                None,
            )
            .await;
        assert!(refused.is_err(), "{refused:?}");
        let settled = handler
            .handle(
                json!({"Step": "Settle", "Job": job, "Gathered": gathered}),
                None,
            )
            .await?;
        if settled["Split"] == false {
            return Ok((settled, segments));
        }
        assert_eq!(settled, json!({"Split": true}));
    } else {
        assert_eq!(planned["Gathers"], false, "{planned}");
    }
    let mut parts = Vec::new();
    for segment in &segments {
        let input = json!({"Step": "Segment", "Job": planned["Job"], "Index": segment["Index"], "Span": segment["Span"]});
        parts.push(handler.handle(input, None).await?);
    }
    // The Map hands its results back in its own order; each is a
    // pointer to what the segment put in the bucket.
    parts.reverse();
    for part in &parts {
        let keys: Vec<&str> = part
            .as_object()
            .map_or(vec![], |o| o.keys().map(String::as_str).collect());
        assert_eq!(keys, ["Done", "Index"], "{part}");
    }
    // A Join is read only from the job's own parts, all of them.
    let mut forged = parts.clone();
    forged[0]["Done"] = json!(job["Input"]);
    let refused = handler
        .handle(json!({"Step": "Join", "Job": job, "Parts": forged}), None)
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let missing = handler
        .handle(
            json!({"Step": "Join", "Job": job, "Parts": parts[1..]}),
            None,
        )
        .await;
    assert!(missing.is_err(), "{missing:?}");
    let joined = handler
        .handle(json!({"Step": "Join", "Job": job, "Parts": parts}), None)
        .await?;
    Ok((joined, segments))
}

/// How many notifications name job `id`.
async fn notified(world: &iprod_tests::World, id: &str) -> anyhow::Result<usize> {
    let notes = world
        .notifications(std::time::Duration::from_secs(5))
        .await?;
    Ok(notes.iter().filter(|n| n["JobId"] == id).count())
}

/// A moto world with a 24-s clip uploaded, a green-screen handler that
/// cuts segments of 10 s, and a job `id` on the clip as the state machine
/// passes it to its steps.
struct Long {
    world: iprod_tests::World,
    dir: tempfile::TempDir,
    input: PathBuf,
    handler: iprod::lambda::AwsHandler,
    job: Value,
}

async fn long_job(id: &str) -> anyhow::Result<Long> {
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    let input = clip(dir.path(), 24, 25)?;
    world.upload("input/long.mp4", &input).await?;
    let mut config = world.config_with("{}")?;
    config.segment_s = 10.0;
    let handler = iprod::lambda::aws_handler_with(&world.sdk, &config, Arc::new(GreenScreen))
        .with_segmenter(Arc::new(FfmpegSegmenter));
    let job = json!({
        "JobId": id,
        "FunctionName": "VideoGreenScreenMatting",
        "Input": format!("s3://{}/input/long.mp4", world.input_bucket),
        "Output": format!("s3://{}/long/", world.output_bucket),
        "JobParams": {"Format": "mov"},
        "CreateTime": "2026-12-07T00:00:00Z",
    });
    Ok(Long {
        world,
        dir,
        input,
        handler,
        job,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_run_step_by_step_equals_one_run_and_leaves_no_parts() -> anyhow::Result<()> {
    let Long {
        world,
        dir,
        input,
        handler,
        job,
    } = long_job("long-job-1").await?;
    let (joined, segments) = walk(&handler, &job).await?;
    assert_eq!(segments.len(), 3, "{segments:?}");
    let record = &joined["Jobs"][0];
    assert_eq!(record["State"], "Success", "{record}");
    assert_eq!(record["Result"]["Data"]["Frames"], 600, "{record}");
    // Published where a one-pass job publishes, parts gone.
    let keys = world.keys(&world.output_bucket).await?;
    assert!(keys.iter().all(|k| !k.contains(".iprod-parts")), "{keys:?}");
    let video = keys
        .iter()
        .find(|k| k.ends_with(".mov"))
        .ok_or_else(|| anyhow::anyhow!("no video in {keys:?}"))?;
    let joined_file = dir.path().join("joined.mov");
    std::fs::write(&joined_file, world.read(&world.output_bucket, video).await?)?;
    let (_, whole_files) = run(
        &input,
        &json!({"Format": "mov"}),
        &dir.path().join("w"),
        None,
    )?;
    let (a, b) = (frames(&whole_files[0])?, frames(&joined_file)?);
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the joined frames differ from one pass's");
    assert_eq!(samples(&whole_files[0])?, samples(&joined_file)?);
    assert_eq!(world.record("long-job-1").await?["State"], "Success");
    assert_eq!(notified(&world, "long-job-1").await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_whose_join_would_not_fit_fails_at_its_first_segment() -> anyhow::Result<()> {
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    world
        .upload("input/long.mp4", &clip(dir.path(), 24, 25)?)
        .await?;
    let mut config = world.config_with("{}")?;
    config.segment_s = 10.0;
    // ProRes 4444 of 24 s at 192x144 takes a few MB: over 1 MB.
    config.limits.max_output_bytes = 1 << 20;
    let handler = iprod::lambda::aws_handler_with(&world.sdk, &config, Arc::new(GreenScreen))
        .with_segmenter(Arc::new(FfmpegSegmenter));
    let job = json!({
        "JobId": "too-big-1",
        "FunctionName": "VideoGreenScreenMatting",
        "Input": format!("s3://{}/input/long.mp4", world.input_bucket),
        "Output": format!("s3://{}/long/", world.output_bucket),
        "JobParams": {"Format": "mov"},
        "CreateTime": "2026-12-07T00:00:00Z",
    });
    let planned = handler
        .handle(json!({"Step": "Plan", "Job": job}), None)
        .await?;
    let first = &planned["Segments"][0];
    let failed = handler
        .handle(
            json!({"Step": "Segment", "Job": job, "Index": first["Index"], "Span": first["Span"]}),
            None,
        )
        .await
        .expect_err("the join would not fit");
    let text = failed.to_string();
    assert!(text.contains("LimitExceeded"), "{text}");
    assert!(text.contains("IPROD_MAX_OUTPUT_BYTES"), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_whose_step_fails_ends_as_fail_with_its_cause_once() -> anyhow::Result<()> {
    let Long {
        world,
        handler,
        job,
        ..
    } = long_job("long-job-2").await?;
    // One segment ran, then another failed for good: the Catch's Fail step.
    let planned = handler
        .handle(json!({"Step": "Plan", "Job": job}), None)
        .await?;
    let first = &planned["Segments"][0];
    handler
        .handle(
            json!({"Step": "Segment", "Job": job, "Index": first["Index"], "Span": first["Span"]}),
            None,
        )
        .await?;
    let keys = world.keys(&world.output_bucket).await?;
    assert!(
        keys.iter()
            .any(|k| k.contains(".iprod-parts/long-job-2/0/")),
        "{keys:?}"
    );
    let bad = handler
        .handle(
            json!({"Step": "Segment", "Job": job, "Index": 1, "Span": "later"}),
            None,
        )
        .await;
    assert!(bad.is_err());
    let cause = json!({"errorType": "iprod.Permanent", "errorMessage": "InvalidMedia: 37 damaged packets at 12.0 s"}).to_string();
    let failed = handler
        .handle(json!({"Step": "Fail", "Job": job, "Error": {"Error": "iprod.Permanent", "Cause": cause}}), None)
        .await?;
    let record = &failed["Jobs"][0];
    assert_eq!(record["State"], "Fail", "{record}");
    assert_eq!(record["Code"], "InvalidMedia", "{record}");
    assert!(
        record["Message"]
            .as_str()
            .is_some_and(|m| m.contains("damaged packets")),
        "{record}"
    );
    let keys = world.keys(&world.output_bucket).await?;
    assert!(keys.is_empty(), "left behind: {keys:?}");
    // A second delivery of the failure does not notify again.
    handler
        .handle(
            json!({"Step": "Fail", "Job": job, "Error": {"Error": "States.Timeout", "Cause": ""}}),
            None,
        )
        .await?;
    assert_eq!(notified(&world, "long-job-2").await?, 1);
    assert_eq!(world.record("long-job-2").await?["Code"], "InvalidMedia");
    Ok(())
}

/// A state machine of long jobs (moto's Step Functions) made from the
/// real definition, for `function`.
async fn long_jobs_machine(sfn: &aws_sdk_sfn::Client, function: &str) -> anyhow::Result<String> {
    let definition = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../statemachines/long-job.asl.json"),
    )?
    .replace("${MaxConcurrency}", "4")
    .replace(
        "${FunctionArn}",
        &format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
    );
    Ok(sfn
        .create_state_machine()
        .name(iprod_tests::unique("long"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/long-jobs")
        .send()
        .await?
        .state_machine_arn)
}

/// The input of the one execution of `machine` (an error when there is
/// none or more than one).
async fn execution_input(sfn: &aws_sdk_sfn::Client, machine: &str) -> anyhow::Result<Value> {
    let executions = sfn
        .list_executions()
        .state_machine_arn(machine)
        .send()
        .await?
        .executions;
    anyhow::ensure!(executions.len() == 1, "{executions:?}");
    Ok(serde_json::from_str(
        &sfn.describe_execution()
            .execution_arn(&executions[0].execution_arn)
            .send()
            .await?
            .input
            .unwrap_or_default(),
    )?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_over_the_length_is_handed_to_the_state_machine_once() -> anyhow::Result<()> {
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    world
        .upload("input/long.mp4", &clip(dir.path(), 24, 25)?)
        .await?;
    world
        .upload("input/short.mp4", &clip(dir.path(), 6, 25)?)
        .await?;
    let sfn = aws_sdk_sfn::Client::new(&world.sdk);
    let machine = long_jobs_machine(&sfn, "green-screen").await?;
    let mut config = world.config_with("{}")?;
    config.state_machine_arn = Some(machine.clone());
    config.split_above_s = 15.0;
    config.segment_s = 10.0;
    let handler = iprod::lambda::aws_handler_with(&world.sdk, &config, Arc::new(GreenScreen))
        .with_segmenter(Arc::new(FfmpegSegmenter));
    let message = |id: &str, key: &str| {
        json!({
            "FunctionName": "VideoGreenScreenMatting",
            "Input": format!("s3://{}/input/{key}", world.input_bucket),
            "Output": format!("s3://{}/out/", world.output_bucket),
            "JobParams": {"Format": "mov"},
            "JobId": id,
        })
    };
    // A short input runs here, as always.
    let short = handler
        .handle(message("short-1", "short.mp4"), None)
        .await?;
    assert_eq!(short["Jobs"][0]["State"], "Success", "{short}");
    // A long one is handed over: still Analyzing, nothing notified yet.
    for _ in 0..2 {
        let long = handler.handle(message("long-3", "long.mp4"), None).await?;
        let record = &long["Jobs"][0];
        assert_eq!(record["State"], "Analyzing", "{record}");
        assert!(
            record["Message"]
                .as_str()
                .is_some_and(|m| m.contains("segments")),
            "{record}"
        );
    }
    // A second delivery started nothing more.
    let input = execution_input(&sfn, &machine).await?;
    assert_eq!(input["Job"]["JobId"], "long-3");
    assert_eq!(world.record("long-3").await?["State"], "Analyzing");
    // The steps, as the state machine runs them on its input.
    let (joined, segments) = walk(&handler, &input["Job"]).await?;
    assert_eq!(segments.len(), 3);
    assert_eq!(joined["Jobs"][0]["State"], "Success", "{joined}");
    assert_eq!(
        joined["Jobs"][0]["Result"]["Data"]["Frames"], 600,
        "{joined}"
    );
    assert_eq!(notified(&world, "long-3").await?, 1);
    // Over the function's limit: it fails here at once, nothing started.
    config.limits.max_duration_s = 20.0;
    let limited = iprod::lambda::aws_handler_with(&world.sdk, &config, Arc::new(GreenScreen))
        .with_segmenter(Arc::new(FfmpegSegmenter));
    let refused = limited.handle(message("long-4", "long.mp4"), None).await?;
    let record = &refused["Jobs"][0];
    assert_eq!(record["State"], "Fail", "{record}");
    assert_eq!(record["Code"], "LimitExceeded", "{record}");
    assert_eq!(
        execution_input(&sfn, &machine).await?["Job"]["JobId"],
        "long-3"
    );
    Ok(())
}

/// A 24-s clip with captions, a keyframe every 2.5 s whatever the
/// picture does (so that every likely cut falls inside a caption), and
/// the cues burned into it.
fn captioned(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cues = [
        (0.5, 2.0, "The first caption."),
        (2.3, 4.0, "你好，世界"),
        (4.3, 6.5, "Two lines stay\none caption."),
        (7.0, 9.0, "Short and sweet."),
        (9.5, 11.0, "Across the cut."),
        (11.3, 13.5, "The river runs on."),
        (14.0, 16.0, "Joy-Con是真的牛皮"),
        (16.5, 18.0, "Still reading?"),
        (18.5, 22.5, "A long one over the last cut."),
        (23.0, 23.8, "The end."),
    ];
    let (burned, srt) = iprod_tests::subtitles::burn(dir, "long-captions", &cues, 24.0, "")?;
    let clip = dir.join("long-captions-gop.mp4");
    with_keyframes_every(&burned, 60, &[], &clip)?;
    Ok((clip, srt))
}

fn captions() -> iprod::capabilities::caption_extraction::CaptionExtraction {
    iprod::capabilities::caption_extraction::CaptionExtraction::load(
        &iprod::inference::ModelDir::from_env(),
    )
    .unwrap_or_else(|e| panic!("{e}: run scripts/fetch-models"))
}

/// What a caption result says, less where its files are.
fn cues_of(data: &Value) -> Value {
    json!({
        "Captions": data["Captions"],
        "Roi": data["Roi"],
        "Frames": data["Frames"],
        "OcrFrames": data["OcrFrames"],
        "Duration": data["Duration"],
    })
}

#[test]
fn captions_read_in_segments_are_the_cues_of_one_pass() -> anyhow::Result<()> {
    use iprod::capabilities::caption_extraction::bench::score;
    use iprod::capabilities::caption_extraction::subtitle::parse_srt;
    let dir = tempfile::tempdir()?;
    let (clip, srt) = captioned(dir.path())?;
    let capability = captions();
    let params = json!({"roi": "auto"});
    // The cuts fall inside captions: the join must make them one cue.
    let spans = plan(&clip, &Limits::default(), 3, 5.0)?;
    assert!(spans.len() >= 2, "{spans:?}");
    let truth = parse_srt(&std::fs::read_to_string(&srt)?);
    for cut in spans.iter().skip(1).map(|s| s.start_s) {
        assert!(
            truth.iter().any(|c| c.0 < cut && cut < c.1),
            "no caption spans the cut at {cut}"
        );
    }
    let (whole, whole_files) =
        iprod_tests::run_split(&capability, &clip, &params, &dir.path().join("w"), None)?;
    let (split, split_files) =
        iprod_tests::run_split(&capability, &clip, &params, &dir.path().join("s"), Some(3))?;
    assert_eq!(cues_of(&split.data), cues_of(&whole.data));
    assert_eq!(split.message, whole.message);
    assert_eq!(whole_files.len(), split_files.len());
    for (a, b) in whole_files.iter().zip(&split_files) {
        assert_eq!(std::fs::read_to_string(a)?, std::fs::read_to_string(b)?);
    }
    // And they are the captions burned in.
    let srt_file = split_files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "srt"))
        .ok_or_else(|| anyhow::anyhow!("no SRT in {split_files:?}"))?;
    let found = parse_srt(&std::fs::read_to_string(srt_file)?);
    let s = score(&truth, &found);
    assert_eq!((s.missing, s.extra), (0, 0), "{found:?}");
    assert_eq!(split.data["Frames"], 576);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_caption_job_fixes_its_region_once_and_joins_its_cues_across_segments(
) -> anyhow::Result<()> {
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    let (clip, _) = captioned(dir.path())?;
    world.upload("input/talk.mp4", &clip).await?;
    let sfn = aws_sdk_sfn::Client::new(&world.sdk);
    let machine = long_jobs_machine(&sfn, "caption-extraction").await?;
    let mut config = world.config_with("{}")?;
    config.state_machine_arn = Some(machine.clone());
    config.split_above_s = 10.0;
    config.segment_s = 8.0;
    let capability = Arc::new(captions());
    let handler = iprod::lambda::aws_handler_with(&world.sdk, &config, capability.clone())
        .with_segmenter(Arc::new(FfmpegSegmenter));
    let message = json!({
        "JobId": "long-captions-1",
        "FunctionName": "CaptionExtraction",
        "Input": format!("s3://{}/input/talk.mp4", world.input_bucket),
        "Output": format!("s3://{}/subs/", world.output_bucket),
        "JobParams": {"roi": "auto", "fps": 5},
    });
    let handed = handler.handle(message, None).await?;
    assert_eq!(handed["Jobs"][0]["State"], "Analyzing", "{handed}");
    // The region is found once, over the whole video, for every step.
    let decision: Value = serde_json::from_slice(
        &world
            .read(
                &world.output_bucket,
                ".iprod-parts/long-captions-1/decision.json",
            )
            .await?,
    )?;
    assert!(
        decision["Roi"].as_array().is_some_and(|r| r.len() == 2),
        "{decision}"
    );
    let job = execution_input(&sfn, &machine).await?["Job"].clone();
    let (joined, segments) = walk(&handler, &job).await?;
    assert!(segments.len() >= 2, "{segments:?}");
    let record = &joined["Jobs"][0];
    assert_eq!(record["State"], "Success", "{record}");
    // The record keeps the params the user sent.
    assert_eq!(record["JobParams"]["roi"], "auto");
    assert_eq!(cues_of(&record["Result"]["Data"])["Roi"], decision["Roi"]);
    let (whole, _) = tokio::task::spawn_blocking(move || {
        iprod_tests::run_split(
            capability.as_ref(),
            &clip,
            &json!({"roi": "auto", "fps": 5}),
            &dir.path().join("w"),
            None,
        )
    })
    .await??;
    assert_eq!(cues_of(&record["Result"]["Data"]), cues_of(&whole.data));
    let keys = world.keys(&world.output_bucket).await?;
    assert!(keys.iter().all(|k| !k.contains(".iprod-parts")), "{keys:?}");
    assert!(keys.iter().any(|k| k.ends_with(".srt")), "{keys:?}");
    assert_eq!(notified(&world, "long-captions-1").await?, 1);
    Ok(())
}

#[test]
fn a_logo_decided_once_is_removed_in_segments_as_in_one_pass() -> anyhow::Result<()> {
    use iprod::capabilities::delogo::Delogo;
    use iprod_tests::fixtures::logos::{self, Placement};
    let dir = tempfile::tempdir()?;
    let place = Placement {
        x: 30,
        y: 20,
        opacity: 0.8,
        span: Some((1.0, 11.0)),
    };
    let drawn = logos::clip(dir.path(), "promo", 12, Some(place))?;
    // With a keyframe every 2 s to cut at, and a tone.
    let src = dir.path().join("promo-gop.mp4");
    with_keyframes_every(
        &drawn,
        50,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=f=330:d=12",
            "-c:a",
            "aac",
            "-shortest",
        ],
        &src,
    )?;
    let spans = plan(&src, &Limits::default(), 3, 0.0)?;
    assert!(spans.len() >= 2, "{spans:?}");
    // Lossless, so that the segments' pixels can be compared exactly.
    let params = json!({"Crf": 0});
    let (whole, whole_files) =
        iprod_tests::run_split(&Delogo, &src, &params, &dir.path().join("w"), None)?;
    let (split, split_files) =
        iprod_tests::run_split(&Delogo, &src, &params, &dir.path().join("s"), Some(3))?;
    let strip = |data: &Value| {
        let mut d = data.clone();
        d["File"] = Value::Null;
        d
    };
    assert_eq!(strip(&split.data), strip(&whole.data));
    assert_eq!(split.message, whole.message);
    assert!(split.data.get("TrackSpans").is_none(), "{}", split.data);
    assert!(
        whole.data["Logos"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "{}",
        whole.data
    );
    assert!(whole.data["FramesChanged"].as_u64().unwrap_or(0) > 200);
    let (a, b) = (frames(&whole_files[0])?, frames(&split_files[0])?);
    assert_eq!(a.len(), 300);
    assert!(a == b, "the segments' frames differ from one pass's");
    assert_eq!(samples(&whole_files[0])?, samples(&split_files[0])?);
    // No logo: nothing to split, the source is copied as it is.
    let plain = logos::clip(dir.path(), "plain", 8, None)?;
    let (copied, files) =
        iprod_tests::run_split(&Delogo, &plain, &json!({}), &dir.path().join("c"), Some(3))?;
    assert_eq!(copied.data["Encoded"], false, "{}", copied.data);
    assert_eq!(std::fs::read(&files[0])?, std::fs::read(&plain)?);
    Ok(())
}

fn detext() -> iprod::capabilities::detext::Detext {
    iprod::capabilities::detext::Detext::load(&iprod::inference::ModelDir::from_env())
        .unwrap_or_else(|e| panic!("{e}: run scripts/fetch-models"))
}

/// The captioned clip with a tone, cut where `captioned` cuts it.
fn captioned_with_tone(dir: &Path) -> anyhow::Result<PathBuf> {
    let (burned, _) = captioned(dir)?;
    let clip = dir.join("long-captions-tone.mp4");
    with_keyframes_every(
        &burned,
        60,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=24",
            "-c:a",
            "aac",
            "-shortest",
        ],
        &clip,
    )?;
    Ok(clip)
}

/// A caption-removal result, less where its file is.
fn removal_of(data: &Value) -> Value {
    let mut d = data.clone();
    d["File"] = Value::Null;
    d
}

#[test]
fn captions_gathered_in_segments_are_removed_as_in_one_pass() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clip = captioned_with_tone(dir.path())?;
    let capability = detext();
    // Lossless, so that the segments' pixels can be compared exactly.
    let params = json!({"Crf": 0});
    let (whole, whole_files) =
        iprod_tests::run_split(&capability, &clip, &params, &dir.path().join("w"), None)?;
    let (split, split_files) =
        iprod_tests::run_split(&capability, &clip, &params, &dir.path().join("s"), Some(3))?;
    assert_eq!(removal_of(&split.data), removal_of(&whole.data));
    assert_eq!(split.message, whole.message);
    assert!(split.data.get("Segment").is_none(), "{}", split.data);
    let removed = whole.data["Captions"].as_array().map_or(0, Vec::len);
    assert!(removed >= 9, "{}", whole.data);
    // The caption across the last cut is one caption, as in one pass.
    let long_one = whole.data["Captions"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["Text"] == "A long one over the last cut.")
        })
        .ok_or_else(|| anyhow::anyhow!("{}", whole.data))?;
    assert!(
        long_one["End"].as_f64().unwrap_or(0.0) - long_one["Start"].as_f64().unwrap_or(0.0) > 3.5
    );
    let (a, b) = (frames(&whole_files[0])?, frames(&split_files[0])?);
    assert_eq!(a.len(), 576);
    assert!(a == b, "the segments' frames differ from one pass's");
    assert_eq!(samples(&whole_files[0])?, samples(&split_files[0])?);
    // No caption: the segments read nothing, the source is copied.
    let (plain, _) = iprod_tests::subtitles::burn(dir.path(), "plain", &[], 12.0, "")?;
    let plain_gop = dir.path().join("plain-gop.mp4");
    with_keyframes_every(&plain, 60, &[], &plain_gop)?;
    let (copied, files) = iprod_tests::run_split(
        &capability,
        &plain_gop,
        &json!({}),
        &dir.path().join("c"),
        Some(3),
    )?;
    assert_eq!(copied.data["Encoded"], false, "{}", copied.data);
    assert_eq!(std::fs::read(&files[0])?, std::fs::read(&plain_gop)?);
    Ok(())
}

#[test]
fn other_text_gathered_in_segments_is_removed_as_in_one_pass() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cues = [(0.5, 9.0, "OPEN EVERY DAY")];
    let (burned, _) = iprod_tests::subtitles::burn(
        dir.path(),
        "titled",
        &cues,
        12.0,
        iprod_tests::subtitles::TITLE_CARD,
    )?;
    let clip = dir.path().join("titled-gop.mp4");
    with_keyframes_every(&burned, 60, &[], &clip)?;
    let capability = detext();
    let params = json!({"Crf": 0, "Target": "all"});
    let (whole, whole_files) =
        iprod_tests::run_split(&capability, &clip, &params, &dir.path().join("w"), None)?;
    let (split, split_files) =
        iprod_tests::run_split(&capability, &clip, &params, &dir.path().join("s"), Some(3))?;
    assert_eq!(removal_of(&split.data), removal_of(&whole.data));
    let title = whole.data["Captions"]
        .as_array()
        .and_then(|c| {
            c.iter().find(|c| {
                c["Source"] == "text" && c["Text"].as_str().is_some_and(|t| t.contains("EVERY"))
            })
        })
        .ok_or_else(|| anyhow::anyhow!("{}", whole.data))?;
    // Seen from the first look after it came to the last before it went.
    assert!(title["Start"].as_f64().unwrap_or(9.0) <= 0.55, "{title}");
    assert!(title["End"].as_f64().unwrap_or(0.0) >= 8.95, "{title}");
    let (a, b) = (frames(&whole_files[0])?, frames(&split_files[0])?);
    assert_eq!(a.len(), 288);
    assert!(a == b, "the segments' frames differ from one pass's");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_caption_removal_gathers_its_captions_then_removes_them_in_segments(
) -> anyhow::Result<()> {
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = captioned_with_tone(dir.path())?;
    world.upload("input/talk.mp4", &clip).await?;
    let sfn = aws_sdk_sfn::Client::new(&world.sdk);
    let machine = long_jobs_machine(&sfn, "detext").await?;
    let mut config = world.config_with("{}")?;
    config.state_machine_arn = Some(machine.clone());
    config.split_above_s = 10.0;
    config.segment_s = 8.0;
    let capability = Arc::new(detext());
    let handler = iprod::lambda::aws_handler_with(&world.sdk, &config, capability.clone())
        .with_segmenter(Arc::new(FfmpegSegmenter));
    let message = json!({
        "JobId": "long-detext-1",
        "FunctionName": "VideoDetext",
        "Input": format!("s3://{}/input/talk.mp4", world.input_bucket),
        "Output": format!("s3://{}/clean/", world.output_bucket),
        "JobParams": {"Crf": 0},
    });
    let handed = handler.handle(message, None).await?;
    assert_eq!(handed["Jobs"][0]["State"], "Analyzing", "{handed}");
    let decision_at = ".iprod-parts/long-detext-1/decision.json";
    let decided: Value =
        serde_json::from_slice(&world.read(&world.output_bucket, decision_at).await?)?;
    // The band is decided when the job is handed over, the captions only
    // once every segment has been read.
    assert!(
        decided["Roi"].is_array() && decided.get("Found").is_none(),
        "{decided}"
    );
    let job = execution_input(&sfn, &machine).await?["Job"].clone();
    let (joined, segments) = walk(&handler, &job).await?;
    assert!(segments.len() >= 2, "{segments:?}");
    let record = &joined["Jobs"][0];
    assert_eq!(record["State"], "Success", "{record}");
    assert_eq!(record["JobParams"], json!({"Crf": 0}));
    let out = dir.path().join("w");
    let (whole, whole_files) = tokio::task::spawn_blocking(move || {
        iprod_tests::run_split(capability.as_ref(), &clip, &json!({"Crf": 0}), &out, None)
    })
    .await??;
    assert_eq!(
        removal_of(&record["Result"]["Data"]),
        removal_of(&whole.data)
    );
    let keys = world.keys(&world.output_bucket).await?;
    assert!(keys.iter().all(|k| !k.contains(".iprod-parts")), "{keys:?}");
    let output = keys
        .iter()
        .find(|k| k.ends_with(".mp4"))
        .ok_or_else(|| anyhow::anyhow!("no video in {keys:?}"))?;
    let local = tempfile::NamedTempFile::new()?;
    std::fs::write(
        local.path(),
        world.read(&world.output_bucket, output).await?,
    )?;
    assert!(frames(local.path())? == frames(&whole_files[0])?);
    assert_eq!(notified(&world, "long-detext-1").await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reframe_gathers_its_shots_then_renders_them_in_segments() -> anyhow::Result<()> {
    use iprod_tests::faces::{clip as face_clip, coffee, frame, head};
    let world = iprod_tests::World::new().await?;
    let dir = tempfile::tempdir()?;
    let (bg, face) = (coffee()?, head(1.0)?);
    let made = face_clip(&dir.path().join("walk.mp4"), 12.0, |i| {
        frame(&bg, &face, 300.0 + 60.0 * i as f32 / 25.0, 360.0)
    })?;
    let clip = dir.path().join("walk-gop.mp4");
    with_keyframes_every(&made, 50, &[], &clip)?;
    world.upload("input/walk.mp4", &clip).await?;
    let sfn = aws_sdk_sfn::Client::new(&world.sdk);
    let machine = long_jobs_machine(&sfn, "h2v").await?;
    let mut config = world.config_with("{}")?;
    config.state_machine_arn = Some(machine.clone());
    config.split_above_s = 6.0;
    config.segment_s = 4.0;
    let capability = Arc::new(iprod::capabilities::h2v::H2v::load(
        &iprod::inference::ModelDir::from_env(),
    )?);
    let handler = iprod::lambda::aws_handler_with(&world.sdk, &config, capability.clone())
        .with_segmenter(Arc::new(FfmpegSegmenter));
    let message = json!({
        "JobId": "long-h2v-1",
        "FunctionName": "VideoH2V",
        "Input": format!("s3://{}/input/walk.mp4", world.input_bucket),
        "Output": format!("s3://{}/portrait/", world.output_bucket),
    });
    let handed = handler.handle(message, None).await?;
    assert_eq!(handed["Jobs"][0]["State"], "Analyzing", "{handed}");
    let job = execution_input(&sfn, &machine).await?["Job"].clone();
    let (joined, segments) = walk(&handler, &job).await?;
    assert!(segments.len() >= 2, "{segments:?}");
    let record = &joined["Jobs"][0];
    assert_eq!(record["State"], "Success", "{record}");
    let out = dir.path().join("w");
    let (whole, _) = tokio::task::spawn_blocking(move || {
        iprod_tests::run_split(capability.as_ref(), &clip, &json!({}), &out, None)
    })
    .await??;
    let data = &record["Result"]["Data"];
    for key in ["Width", "Height", "Mode", "Duration"] {
        assert_eq!(data[key], whole.data[key], "{key}: {data}");
    }
    let shots = |d: &Value| -> Vec<(Value, Value, Value)> {
        d["Shots"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| (s["Start"].clone(), s["End"].clone(), s["Subject"].clone()))
            .collect()
    };
    assert_eq!(shots(data), shots(&whole.data));
    let keys = world.keys(&world.output_bucket).await?;
    assert!(keys.iter().all(|k| !k.contains(".iprod-parts")), "{keys:?}");
    assert!(keys.iter().any(|k| k.ends_with(".mp4")), "{keys:?}");
    assert_eq!(notified(&world, "long-h2v-1").await?, 1);
    Ok(())
}
