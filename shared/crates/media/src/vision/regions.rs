//! Connected regions of a mask.

/// The 4-connected regions of `mask` (`w` wide, row-major): each region's
/// pixel indices, in the order of each region's first pixel.
pub fn regions(mask: &[bool], w: usize) -> Vec<Vec<usize>> {
    let h = mask.len().checked_div(w).unwrap_or(0);
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        let mut cells = Vec::new();
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            cells.push(i);
            let (x, y) = (i % w, i / w);
            let mut push = |j: usize| {
                if mask[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                push(i - 1);
            }
            if x + 1 < w {
                push(i + 1);
            }
            if y > 0 {
                push(i - w);
            }
            if y + 1 < h {
                push(i + w);
            }
        }
        out.push(cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_neighbours_are_separate_regions() {
        // ##.
        // ..#
        // #..
        let mask = [true, true, false, false, false, true, true, false, false];
        let mut r = regions(&mask, 3);
        r[0].sort_unstable();
        assert_eq!(r, vec![vec![0, 1], vec![5], vec![6]]);
    }
}
