//! The sample events in `events/` (the ones `sam local invoke` and
//! `cargo lambda invoke` use) run against moto and succeed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iprod::capabilities::cover::Cover;
use iprod_tests::{media, World};
use serde_json::Value;

fn event(world: &World, name: &str) -> anyhow::Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path)?
        .replace("iprod-input", &world.input_bucket)
        .replace("iprod-output", &world.output_bucket);
    Ok(serde_json::from_str(&text)?)
}

async fn world_with_sample(key: &str) -> anyhow::Result<World> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = media::small_clip(dir.path(), "sample.mp4")?;
    world.upload(key, &clip).await?;
    Ok(world)
}

fn states(response: &Value) -> Vec<String> {
    response["Jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| j["State"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_put_event_runs_a_job_on_the_decoded_key() -> anyhow::Result<()> {
    let world = world_with_sample("input/holiday clip(1).mp4").await?;
    let handler = world.handler(Arc::new(Cover))?;
    let response = handler
        .handle(event(&world, "cover-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    assert_eq!(
        response["Jobs"][0]["Input"]["Media"],
        format!("s3://{}/input/holiday clip(1).mp4", world.input_bucket)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eventbridge_and_sns_events_run_jobs_on_the_key() -> anyhow::Result<()> {
    let world = world_with_sample("input/holiday clip(1).mp4").await?;
    let handler = world.handler(Arc::new(Cover))?;
    for name in ["cover-eventbridge.json", "cover-sns.json"] {
        let response = handler.handle(event(&world, name)?, None).await?;
        assert_eq!(states(&response), vec!["Success"], "{name}: {response}");
        assert_eq!(
            response["Jobs"][0]["Input"]["Media"],
            format!("s3://{}/input/holiday clip(1).mp4", world.input_bucket),
            "{name}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_batch_operations_event_runs_its_task() -> anyhow::Result<()> {
    let world = world_with_sample("library/holiday clip(1).mp4").await?;
    let handler = world.handler(Arc::new(Cover))?;
    let answer = handler
        .handle(event(&world, "cover-s3-batch.json")?, None)
        .await?;
    assert_eq!(answer["results"][0]["resultCode"], "Succeeded", "{answer}");
    let covers = world.keys(&world.output_bucket).await?;
    assert_eq!(
        covers.iter().filter(|k| k.ends_with(".jpg")).count(),
        2,
        "{covers:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqs_wrapped_s3_notification_runs_a_job() -> anyhow::Result<()> {
    let world = world_with_sample("input/holiday clip(1).mp4").await?;
    let handler = world.handler(Arc::new(Cover))?;
    let response = handler
        .handle(event(&world, "cover-sqs-s3-notification.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    assert!(keys.iter().any(|k| k.ends_with(".jpg")), "{keys:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqs_submit_message_and_the_direct_invoke_run_jobs() -> anyhow::Result<()> {
    let world = world_with_sample("library/trailer.mp4").await?;
    let handler = world.handler(Arc::new(Cover))?;
    let response = handler
        .handle(event(&world, "cover-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    assert_eq!(
        keys,
        vec![
            "covers/trailer-1.jpg",
            "covers/trailer-2.jpg",
            "covers/trailer-3.jpg",
            "covers/trailer-result.json"
        ]
    );
    let direct = handler
        .handle(event(&world, "cover-invoke.json")?, None)
        .await?;
    assert_eq!(states(&direct), vec!["Success"], "{direct}");
    assert_eq!(direct["Jobs"][0]["UserData"], r#"{"orderId":"A-1001"}"#);
    Ok(())
}

async fn world_with_song(key: &str) -> anyhow::Result<World> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let song = iprod_tests::music::piece(100.0, 100.0, 12.0, 4, false, 0.0);
    let file = iprod_tests::music::render(
        dir.path(),
        "song",
        &song.samples,
        &["-c:a", "libmp3lame", "-b:a", "128k", "mp3"],
    )?;
    world.upload(key, &file).await?;
    Ok(world)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_beat_detection_events_run_jobs() -> anyhow::Result<()> {
    let world = world_with_song("input/beat-detection/my song.mp3").await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("song.mp3");
    std::fs::write(
        &file,
        world
            .read(&world.input_bucket, "input/beat-detection/my song.mp3")
            .await?,
    )?;
    world.upload("library/song.mp3", &file).await?;
    let handler = world.handler(Arc::new(
        iprod::capabilities::beat_detection::BeatDetection::default(),
    ))?;

    let response = handler
        .handle(event(&world, "beat-detection-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    let bpm = response["Jobs"][0]["Result"]["Data"]["Bpm"]
        .as_f64()
        .unwrap_or(0.0);
    assert!((bpm - 100.0).abs() < 2.0, "{response}");

    let response = handler
        .handle(event(&world, "beat-detection-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    assert!(keys.contains(&"beats/song.txt".to_owned()), "{keys:?}");
    let text = String::from_utf8(world.read(&world.output_bucket, "beats/song.txt").await?)?;
    let first: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split('\t')
        .collect();
    assert_eq!(first.len(), 2, "time and bar position: {text}");
    let notes = world.notifications(Duration::from_secs(10)).await?;
    assert_eq!(notes.len(), 2);
    assert!(notes
        .iter()
        .all(|n| n["FunctionName"] == "AudioBeatDetection"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_music_segment_event_runs_a_job_that_finds_the_chorus() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let (samples, spans) = iprod_tests::song::pop_song();
    let file = iprod_tests::music::render(
        dir.path(),
        "song",
        &samples,
        &["-c:a", "libmp3lame", "-b:a", "160k", "mp3"],
    )?;
    world.upload("library/song.mp3", &file).await?;
    world
        .upload("input/music-segment/my song.mp3", &file)
        .await?;
    let handler = world.handler(Arc::new(iprod::capabilities::music_segment::MusicSegment))?;
    let response = handler
        .handle(event(&world, "music-segment-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    let found = response["Jobs"][0]["Result"]["Data"]["ChorusList"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(found >= 1, "the upload's chorus: {response}");
    let response = handler
        .handle(event(&world, "music-segment-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    assert!(
        keys.contains(&"segments/song-result.json".to_owned()),
        "{keys:?}"
    );
    let result: Value = serde_json::from_slice(
        &world
            .read(&world.output_bucket, "segments/song-result.json")
            .await?,
    )?;
    let choruses = result["Data"]["ChorusList"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let truth: Vec<f64> = spans
        .iter()
        .filter(|s| s.0 == "chorus")
        .map(|s| s.1)
        .collect();
    assert_eq!(choruses.len(), truth.len(), "{result}");
    for (c, t) in choruses.iter().zip(&truth) {
        assert!(
            (c["Start"].as_f64().unwrap_or(0.0) - t).abs() <= 3.0,
            "{result}"
        );
    }
    let notes = world.notifications(Duration::from_secs(10)).await?;
    assert_eq!(notes.len(), 2);
    assert!(notes
        .iter()
        .all(|n| n["FunctionName"] == "MusicSegmentDetect"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caption_extraction_events_run_jobs_that_write_subtitles() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let (clip, _) = iprod_tests::subtitles::burn(
        dir.path(),
        "episode",
        &[
            (0.5, 2.5, "Where are you going?"),
            (3.0, 5.0, "Home, at last."),
        ],
        5.5,
        "",
    )?;
    world
        .upload("input/caption-extraction/episode 01.mp4", &clip)
        .await?;
    world.upload("library/episode.mp4", &clip).await?;
    let capability = iprod::capabilities::caption_extraction::CaptionExtraction::load(
        &iprod::inference::ModelDir::from_env(),
    )?;
    let handler = world.handler(Arc::new(capability))?;

    let response = handler
        .handle(event(&world, "caption-extraction-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    let texts: Vec<&str> = response["Jobs"][0]["Result"]["Data"]["Captions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Text"].as_str())
        .collect();
    assert_eq!(
        texts,
        vec!["Where are you going?", "Home, at last."],
        "{response}"
    );

    let response = handler
        .handle(event(&world, "caption-extraction-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    for key in [
        "captions/episode-caption.srt",
        "captions/episode-caption.vtt",
        "captions/episode-caption.json",
    ] {
        assert!(keys.contains(&key.to_owned()), "{key} not in {keys:?}");
    }
    let srt = String::from_utf8(
        world
            .read(&world.output_bucket, "captions/episode-caption.srt")
            .await?,
    )?;
    assert!(srt.starts_with("1\n00:00:00,500 --> 00:00:02,5"), "{srt}");
    assert!(srt.contains("Home, at last."), "{srt}");
    let notes = world.notifications(Duration::from_secs(10)).await?;
    assert_eq!(notes.len(), 2);
    assert!(notes
        .iter()
        .all(|n| n["FunctionName"] == "CaptionExtraction"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_green_screen_events_run_jobs_that_write_mattes() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = iprod_tests::screens::clip(dir.path(), "presenter", [30, 190, 70])?;
    world
        .upload("input/green-screen/presenter take 3.mp4", &clip)
        .await?;
    world.upload("library/presenter.mp4", &clip).await?;
    let handler = world.handler(Arc::new(iprod::capabilities::green_screen::GreenScreen))?;

    let response = handler
        .handle(event(&world, "green-screen-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    assert_eq!(
        response["Jobs"][0]["Result"]["Data"]["Format"], "webm",
        "{response}"
    );

    let response = handler
        .handle(event(&world, "green-screen-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    assert!(
        keys.contains(&"mattes/presenter-matte.mov".to_owned()),
        "{keys:?}"
    );
    let mov = world
        .read(&world.output_bucket, "mattes/presenter-matte.mov")
        .await?;
    assert!(
        mov.windows(4).any(|w| w == b"ap4h"),
        "ProRes 4444 in the MOV"
    );
    let notes = world.notifications(Duration::from_secs(10)).await?;
    assert_eq!(notes.len(), 2);
    assert!(notes
        .iter()
        .all(|n| n["FunctionName"] == "VideoGreenScreenMatting"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detext_events_find_and_remove_captions() -> anyhow::Result<()> {
    use iprod_tests::fixtures::logos::clip;
    use iprod_tests::subtitles::burn_over;
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clean = clip(dir.path(), "interview", 4, None)?;
    let (video, _) = burn_over(
        dir.path(),
        "subtitled",
        &clean,
        &[(0.5, 3.5, "Thank you for coming")],
        "FontSize=28",
    )?;
    world
        .upload("input/detext/interview subtitled.mp4", &video)
        .await?;
    world
        .upload("library/interview-subtitled.mp4", &video)
        .await?;
    let capability =
        iprod::capabilities::detext::Detext::load(&iprod::inference::ModelDir::from_env())?;
    let handler = world.handler(Arc::new(capability))?;

    let response = handler
        .handle(event(&world, "detext-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    let data = &response["Jobs"][0]["Result"]["Data"];
    assert_eq!(
        data["Captions"].as_array().map(Vec::len),
        Some(1),
        "{response}"
    );
    assert_eq!(data["Captions"][0]["Text"], "Thank you for coming");

    let response = handler
        .handle(event(&world, "detext-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    assert!(
        keys.contains(&"clean/interview-subtitled-detext.mp4".to_owned()),
        "{keys:?}"
    );
    let source = world
        .read(&world.input_bucket, "library/interview-subtitled.mp4")
        .await?;
    assert_eq!(source, std::fs::read(&video)?);
    let notes = world.notifications(Duration::from_secs(10)).await?;
    assert_eq!(notes.len(), 2);
    assert!(notes.iter().all(|n| n["FunctionName"] == "VideoDetext"));
    assert!(notes.iter().all(|n| n["State"] == "Success"), "{notes:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delogo_events_find_and_remove_a_logo() -> anyhow::Result<()> {
    use iprod_tests::fixtures::logos::{clip, Placement};
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let place = Placement {
        x: 400,
        y: 12,
        opacity: 0.7,
        span: None,
    };
    let video = clip(dir.path(), "news", 4, Some(place))?;
    world
        .upload("input/delogo/evening news.mp4", &video)
        .await?;
    world.upload("library/evening-news.mp4", &video).await?;
    let handler = world.handler(Arc::new(iprod::capabilities::delogo::Delogo))?;

    let response = handler
        .handle(event(&world, "delogo-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    let data = &response["Jobs"][0]["Result"]["Data"];
    assert_eq!(
        data["Logos"].as_array().map(Vec::len),
        Some(1),
        "{response}"
    );
    assert_eq!(data["Encoded"], true, "{response}");

    let response = handler
        .handle(event(&world, "delogo-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    assert!(
        keys.contains(&"clean/evening-news-delogo.mp4".to_owned()),
        "{keys:?}"
    );
    // The source objects are untouched.
    let source = world
        .read(&world.input_bucket, "library/evening-news.mp4")
        .await?;
    assert_eq!(source, std::fs::read(&video)?);
    let notes = world.notifications(Duration::from_secs(10)).await?;
    assert_eq!(notes.len(), 2);
    assert!(notes.iter().all(|n| n["FunctionName"] == "VideoDelogo"));
    assert!(notes.iter().all(|n| n["State"] == "Success"), "{notes:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_h2v_events_reframe_a_video_and_a_picture() -> anyhow::Result<()> {
    use iprod_tests::faces::{clip, coffee, frame, head};
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let (bg, face) = (coffee()?, head(1.0)?);
    let video = clip(&dir.path().join("interview.mp4"), 2.0, |i| {
        frame(&bg, &face, 300.0 + 10.0 * i as f32, 360.0)
    })?;
    world.upload("input/h2v/interview 1.mp4", &video).await?;
    let still = dir.path().join("guest.jpg");
    frame(&bg, &face, 1000.0, 300.0).save(&still)?;
    world.upload("library/guest.jpg", &still).await?;
    let capability = iprod::capabilities::h2v::H2v::load(&iprod::inference::ModelDir::from_env())?;
    let handler = world.handler(Arc::new(capability))?;

    let response = handler
        .handle(event(&world, "h2v-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    let data = &response["Jobs"][0]["Result"]["Data"];
    assert_eq!(
        (data["Width"].as_u64(), data["Height"].as_u64()),
        (Some(406), Some(720)),
        "{response}"
    );
    assert_eq!(data["Shots"][0]["Subject"], "face", "{response}");

    let response = handler
        .handle(event(&world, "h2v-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    assert!(
        keys.contains(&"portrait/guest-h2v.png".to_owned()),
        "{keys:?}"
    );
    let png = world
        .read(&world.output_bucket, "portrait/guest-h2v.png")
        .await?;
    let img = image::load_from_memory(&png)?;
    assert_eq!((img.width(), img.height()), (406, 720));
    let notes = world.notifications(Duration::from_secs(10)).await?;
    assert_eq!(notes.len(), 2);
    let names: Vec<&str> = notes
        .iter()
        .filter_map(|n| n["FunctionName"].as_str())
        .collect();
    assert!(
        names.contains(&"VideoH2V") && names.contains(&"ImageH2V"),
        "{names:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matting_events_cut_out_a_person_from_a_video_and_a_picture() -> anyhow::Result<()> {
    use iprod::bench::figures::{astronaut, coffee, place};
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let (background, figure) = (coffee(640, 360)?, astronaut(300)?);
    let video = iprod::bench::composite::clip(&dir.path().join("guest.mp4"), 0.6, |i| {
        place(&background, &figure, 100 + 4 * i as i32, 40).0
    })?;
    world
        .upload("input/matting/studio guest.mp4", &video)
        .await?;
    let still = dir.path().join("presenter.jpg");
    place(&background, &figure, 170, 40).0.save(&still)?;
    world.upload("library/presenter.jpg", &still).await?;
    let capability =
        iprod::capabilities::matting::Matting::load(&iprod::inference::ModelDir::from_env())?;
    let handler = world.handler(Arc::new(capability))?;

    let response = handler
        .handle(event(&world, "matting-s3-put.json")?, None)
        .await?;
    assert_eq!(states(&response), vec!["Success"], "{response}");
    let data = &response["Jobs"][0]["Result"]["Data"];
    assert_eq!(data["Format"], "webm", "{response}");
    assert_eq!(data["Frames"], 15, "{response}");
    assert_eq!(data["PersonShare"], 1.0, "{response}");

    let response = handler
        .handle(event(&world, "matting-sqs-submit.json")?, None)
        .await?;
    World::assert_no_retries(&response);
    let keys = world.keys(&world.output_bucket).await?;
    let mask = "cutouts/presenter-mask.png";
    assert!(keys.contains(&mask.to_owned()), "{keys:?}");
    let png = world.read(&world.output_bucket, mask).await?;
    let img = image::load_from_memory(&png)?;
    assert_eq!(img.color(), image::ColorType::L8);
    assert_eq!((img.width(), img.height()), (640, 360));
    // The source picture is untouched.
    let source = world
        .read(&world.input_bucket, "library/presenter.jpg")
        .await?;
    assert_eq!(source, std::fs::read(&still)?);
    let notes = world.notifications(Duration::from_secs(10)).await?;
    assert_eq!(notes.len(), 2);
    let names: Vec<&str> = notes
        .iter()
        .filter_map(|n| n["FunctionName"].as_str())
        .collect();
    assert!(
        names.contains(&"VideoMatting") && names.contains(&"ImageMatting"),
        "{names:?}"
    );
    assert!(notes.iter().all(|n| n["State"] == "Success"), "{notes:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_job_step_events_plan_segments_and_end_a_failed_job() -> anyhow::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("long.mp4");
    iprod::bench::synth::green_screen_clip(&clip, 30.0, (160, 96), 50)?;
    world.upload("library/presenter-long.mp4", &clip).await?;
    let mut config = world.config_with("{}")?;
    config.segment_s = 10.0;
    let handler = iprod::lambda::aws_handler_with(
        &world.sdk,
        &config,
        Arc::new(iprod::capabilities::green_screen::GreenScreen),
    )
    .with_segmenter(Arc::new(iprod::media::join::FfmpegSegmenter));
    let planned = handler
        .handle(event(&world, "green-screen-long-plan.json")?, None)
        .await?;
    let starts: Vec<f64> = planned["Segments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["Span"]["StartS"].as_f64())
        .collect();
    assert_eq!(starts, vec![0.0, 10.0, 20.0], "{planned}");
    assert_eq!(planned["Job"]["JobId"], "long-presenter-take-3");

    let failed = handler
        .handle(event(&world, "green-screen-long-fail.json")?, None)
        .await?;
    assert_eq!(states(&failed), vec!["Fail"], "{failed}");
    let record = world.record("long-presenter-take-3").await?;
    assert_eq!(record["Code"], "InvalidMedia", "{record}");
    assert_eq!(record["UserData"], "take-3", "{record}");
    let notes = world.notifications(Duration::from_secs(5)).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["State"], "Fail");
    Ok(())
}
