//! Perceptual hashes: frames that look the same hash close together.

use image::RgbImage;

/// 64-bit difference hash (dHash) of a frame: compares neighbouring cells
/// of a 9×8 luma thumbnail. Robust to scaling, compression and small
/// brightness changes.
pub fn dhash(img: &RgbImage) -> u64 {
    let grey = image::imageops::grayscale(img);
    let small = image::imageops::resize(&grey, 9, 8, image::imageops::FilterType::Triangle);
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = small.get_pixel(x, y)[0];
            let right = small.get_pixel(x + 1, y)[0];
            hash = (hash << 1) | u64::from(left > right);
        }
    }
    hash
}

/// Number of differing bits between two hashes (0 = same picture).
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Mean colour of a frame, for telling apart frames with the same layout
/// but different colours.
pub fn mean_rgb(img: &RgbImage) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for px in img.pixels() {
        for (s, &c) in sum.iter_mut().zip(px.0.iter()) {
            *s += f64::from(c);
        }
    }
    let n = f64::from((img.width() * img.height()).max(1));
    sum.map(|s| s / n)
}

/// Mean colour of each cell of a 4×4 grid: where the colours are. Frames
/// of one shot keep their layout through small camera moves.
pub fn colour_layout(img: &RgbImage) -> [f32; 48] {
    let small = image::imageops::resize(img, 4, 4, image::imageops::FilterType::Triangle);
    let mut out = [0f32; 48];
    for (i, px) in small.pixels().enumerate() {
        for c in 0..3 {
            out[i * 3 + c] = f32::from(px[c]);
        }
    }
    out
}

/// Mean absolute difference of two colour layouts (0–255).
pub fn layout_distance(a: &[f32; 48], b: &[f32; 48]) -> f32 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .sum::<f32>()
        / 48.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_picture_at_another_size_hashes_the_same() {
        let img = RgbImage::from_fn(160, 90, |x, y| {
            image::Rgb([(x * 2) as u8, (y * 3) as u8, 90])
        });
        let smaller = image::imageops::resize(&img, 80, 45, image::imageops::FilterType::Triangle);
        assert!(distance(dhash(&img), dhash(&smaller)) <= 4);
        let flipped = image::imageops::flip_horizontal(&img);
        assert!(distance(dhash(&img), dhash(&flipped)) > 20);
    }

    #[test]
    #[ignore = "prints distances between images given in IPROD_IMAGES"]
    fn print_distances() {
        let paths: Vec<String> = std::env::var("IPROD_IMAGES")
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect();
        let imgs: Vec<RgbImage> = paths
            .iter()
            .filter_map(|p| image::open(p).ok().map(|i| i.to_rgb8()))
            .collect();
        for (i, a) in imgs.iter().enumerate() {
            for (j, b) in imgs.iter().enumerate().skip(i + 1) {
                println!(
                    "{i}-{j}: dhash {} layout {:.1}",
                    distance(dhash(a), dhash(b)),
                    layout_distance(&colour_layout(a), &colour_layout(b))
                );
            }
        }
    }
}
