//! Face and salient-object detection on real photographs.

use iprod::detect::face::FaceDetector;
use iprod::detect::saliency::Saliency;
use iprod::inference::ModelDir;
use iprod_tests::fixture;

#[test]
fn faces_are_found_where_they_are_and_not_in_a_coffee_cup() -> anyhow::Result<()> {
    let faces = FaceDetector::load(&ModelDir::from_env(), 2)?;
    let astronaut = image::open(fixture("astronaut.png"))?.to_rgb8();
    let found = faces.detect(&astronaut)?;
    assert_eq!(found.len(), 1, "{found:?}");
    // Eileen Collins' face: about x 175-280, y 65-175 of the 512x512 photo.
    let (cx, cy) = found[0].rect.centre();
    assert!(
        (cx - 227.0).abs() < 15.0 && (cy - 121.0).abs() < 15.0,
        "{found:?}"
    );
    assert!((found[0].rect.w - 105.0).abs() < 20.0, "{found:?}");
    assert!(found[0].score > 0.8);

    let coffee = image::open(fixture("coffee.png"))?.to_rgb8();
    assert!(faces.detect(&coffee)?.is_empty());

    // In a wide frame (two tiles), at its place.
    let mut wide = image::RgbImage::from_pixel(1280, 720, image::Rgb([40, 60, 90]));
    image::imageops::overlay(&mut wide, &astronaut, 700, 100);
    let found = faces.detect(&wide)?;
    assert_eq!(found.len(), 1, "{found:?}");
    let (cx, cy) = found[0].rect.centre();
    assert!(
        (cx - 927.0).abs() < 15.0 && (cy - 221.0).abs() < 15.0,
        "{found:?}"
    );
    Ok(())
}

#[test]
fn the_salient_object_is_the_cup_not_the_table() -> anyhow::Result<()> {
    let saliency = Saliency::load(&ModelDir::from_env(), 2)?;
    // The cup on its saucer fills the middle of the 600x400 photo.
    let coffee = image::open(fixture("coffee.png"))?.to_rgb8();
    let map = saliency.map(&coffee)?;
    let blobs = map.blobs(0.5);
    let (region, mass) = *blobs.first().expect("something salient");
    assert!(mass > 0.8, "{mass}: {blobs:?}");
    let (cx, cy) = region.centre();
    assert!(
        (cx - 300.0).abs() < 60.0 && (cy - 200.0).abs() < 60.0,
        "{region:?}"
    );
    assert!(map.at(300.0, 200.0) > 0.5);
    assert!(map.at(5.0, 395.0) < 0.2, "corner {}", map.at(5.0, 395.0));
    Ok(())
}
