//! Figures with a known alpha for cut-out tests and benchmarks: the
//! astronaut photograph (a real person: hair, face, suit, a held helmet)
//! seen only inside a drawn silhouette with a soft edge, composited over a
//! real background, so the true alpha of every frame is the silhouette's.

use image::{GrayImage, Luma, Rgb, RgbImage};

use super::composite::fixture;

/// The silhouette in the photograph's own 512×512 pixels: head, neck and
/// shoulders down to the bottom edge, edges softened over about 3 px.
fn silhouette() -> GrayImage {
    let inside = |x: f32, y: f32| {
        let head = ((x - 228.0) / 72.0).powi(2) + ((y - 100.0) / 88.0).powi(2) <= 1.0;
        let neck = (195.0..=265.0).contains(&x) && (150.0..=215.0).contains(&y);
        // Shoulders: a box from y = 190 with rounded top corners.
        let (left, right, top, r) = (25.0, 440.0, 190.0, 110.0);
        let body = (left..=right).contains(&x) && y >= top && {
            let cx = x.clamp(left + r, right - r);
            let cy = y.max(top + r);
            (x - cx).powi(2) + (y - cy).powi(2) <= r * r || y >= top + r
        };
        head || neck || body
    };
    // 4×4 supersampled coverage, then a 5×5 box: a soft edge.
    let hard = GrayImage::from_fn(512, 512, |x, y| {
        let mut n = 0u32;
        for j in 0..4 {
            for i in 0..4 {
                let (sx, sy) = (
                    x as f32 + (i as f32 + 0.5) / 4.0,
                    y as f32 + (j as f32 + 0.5) / 4.0,
                );
                n += u32::from(inside(sx, sy));
            }
        }
        Luma([(n * 255 / 16) as u8])
    });
    GrayImage::from_fn(512, 512, |x, y| {
        let mut sum = 0u32;
        let mut count = 0u32;
        for dy in -2i32..=2 {
            for dx in -2i32..=2 {
                let (sx, sy) = (x as i32 + dx, y as i32 + dy);
                if (0..512).contains(&sx) && (0..512).contains(&sy) {
                    sum += u32::from(hard.get_pixel(sx as u32, sy as u32)[0]);
                    count += 1;
                }
            }
        }
        Luma([(sum / count) as u8])
    })
}

/// A person and its true alpha, `side`×`side` pixels.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The photograph's pixels.
    pub pixels: RgbImage,
    /// The silhouette: the true alpha.
    pub alpha: GrayImage,
}

/// The astronaut inside her silhouette, scaled to `side` pixels square.
///
/// # Errors
/// When the fixture cannot be read.
pub fn astronaut(side: u32) -> anyhow::Result<Figure> {
    let photo = image::open(fixture("astronaut.png")?)?.to_rgb8();
    let filter = image::imageops::FilterType::Triangle;
    Ok(Figure {
        pixels: image::imageops::resize(&photo, side, side, filter),
        alpha: image::imageops::resize(&silhouette(), side, side, filter),
    })
}

/// `figure` with its top-left corner at (`x`, `y`) over `background`
/// (parts outside the frame are cut off): the composite and its true
/// alpha.
pub fn place(background: &RgbImage, figure: &Figure, x: i32, y: i32) -> (RgbImage, GrayImage) {
    let (w, h) = background.dimensions();
    let mut out = background.clone();
    let mut alpha = GrayImage::new(w, h);
    for (fx, fy, a) in figure.alpha.enumerate_pixels() {
        let (px, py) = (x + fx as i32, y + fy as i32);
        if px < 0 || py < 0 || px >= w as i32 || py >= h as i32 || a[0] == 0 {
            continue;
        }
        let (px, py) = (px as u32, py as u32);
        let t = f32::from(a[0]) / 255.0;
        let f = figure.pixels.get_pixel(fx, fy);
        let b = background.get_pixel(px, py);
        out.put_pixel(
            px,
            py,
            Rgb(std::array::from_fn(|c| {
                (t * f32::from(f[c]) + (1.0 - t) * f32::from(b[c])).round() as u8
            })),
        );
        alpha.put_pixel(px, py, *a);
    }
    (out, alpha)
}

/// The coffee photograph scaled to `w`×`h` (a real background).
///
/// # Errors
/// When the fixture cannot be read.
pub fn coffee(w: u32, h: u32) -> anyhow::Result<RgbImage> {
    let photo = image::open(fixture("coffee.png")?)?.to_rgb8();
    Ok(image::imageops::resize(
        &photo,
        w,
        h,
        image::imageops::FilterType::Triangle,
    ))
}
