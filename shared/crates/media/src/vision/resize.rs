//! Output sizing rules shared by every capability that writes images.

/// The size to write a `src_w`×`src_h` picture at, given optional `Width`
/// and `Height`: one alone keeps the aspect ratio; both fill that box
/// exactly (scale to cover, then centre-crop). Sizes are rounded to even
/// numbers, which video encoders need.
pub fn target_size(src_w: u32, src_h: u32, width: Option<u32>, height: Option<u32>) -> (u32, u32) {
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
    let (sw, sh) = (f64::from(src_w.max(1)), f64::from(src_h.max(1)));
    match (width, height) {
        (None, None) => (src_w, src_h),
        (Some(w), None) => (w, even(f64::from(w) * sh / sw)),
        (None, Some(h)) => (even(f64::from(h) * sw / sh), h),
        (Some(w), Some(h)) => (w, h),
    }
}

/// The scale-then-crop plan for filling `dst_w`×`dst_h` from a source of
/// `src_w`×`src_h`: the size to scale to, and the crop offset within it.
pub fn cover_crop(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> ((u32, u32), (u32, u32)) {
    let scale = (f64::from(dst_w) / f64::from(src_w.max(1)))
        .max(f64::from(dst_h) / f64::from(src_h.max(1)));
    let sw = ((f64::from(src_w) * scale).round() as u32).max(dst_w);
    let sh = ((f64::from(src_h) * scale).round() as u32).max(dst_h);
    ((sw, sh), ((sw - dst_w) / 2, (sh - dst_h) / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_side_keeps_the_aspect_ratio() {
        assert_eq!(target_size(1920, 1080, Some(640), None), (640, 360));
        assert_eq!(target_size(1920, 1080, None, Some(360)), (640, 360));
        assert_eq!(target_size(1920, 1080, None, None), (1920, 1080));
    }

    #[test]
    fn both_sides_scale_to_cover_and_crop_the_centre() {
        let ((sw, sh), (x, y)) = cover_crop(1920, 1080, 500, 500);
        assert_eq!((sw, sh), (889, 500));
        assert_eq!((x, y), (194, 0));
    }
}
