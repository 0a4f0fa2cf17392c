//! Greedy CTC decoding of a recogniser's per-step class probabilities.

/// Decodes `steps`×`classes` probabilities (row-major): the best class per
/// step, repeats collapsed, blanks (class 0) removed. Classes for which
/// `allowed` is false are never chosen (class 0 always is). Returns the
/// class ids kept, each with the middle of the steps it was read over, and
/// the mean probability of the chosen classes.
pub fn decode(
    probs: &[f32],
    steps: usize,
    classes: usize,
    allowed: Option<&[bool]>,
) -> (Vec<(usize, f32)>, f32) {
    let mut ids = Vec::new();
    let mut confidence = Vec::new();
    let mut previous = 0usize;
    for t in 0..steps {
        let Some(row) = probs.get(t * classes..(t + 1) * classes) else {
            break;
        };
        let mut best = (0usize, row.first().copied().unwrap_or(0.0));
        for (c, &p) in row.iter().enumerate().skip(1) {
            if p > best.1 && allowed.is_none_or(|a| a.get(c).copied().unwrap_or(false)) {
                best = (c, p);
            }
        }
        if best.0 != 0 && best.0 != previous {
            ids.push((best.0, t as f32 + 0.5));
            confidence.push(best.1);
        } else if best.0 != 0 {
            // The same class again: its run goes on to this step.
            if let Some((_, at)) = ids.last_mut() {
                *at += 0.5;
            }
        }
        previous = best.0;
    }
    let mean = if confidence.is_empty() {
        0.0
    } else {
        confidence.iter().sum::<f32>() / confidence.len() as f32
    };
    (ids, mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(seq: &[usize], classes: usize) -> Vec<f32> {
        seq.iter()
            .flat_map(|&c| {
                (0..classes).map(move |k| if k == c { 0.9 } else { 0.1 / classes as f32 })
            })
            .collect()
    }

    #[test]
    fn repeats_collapse_and_blanks_separate_doubled_letters() {
        // "l l" with a blank between is two letters; "ll" without is one.
        let p = one_hot(&[1, 1, 0, 1, 2, 2, 0, 0, 3], 4);
        let (ids, conf) = decode(&p, 9, 4, None);
        assert_eq!(ids, vec![(1, 1.0), (1, 3.5), (2, 5.0), (3, 8.5)]);
        assert!((conf - 0.9).abs() < 1e-6);
    }

    #[test]
    fn disallowed_classes_give_way_to_the_best_allowed_one() {
        let mut p = one_hot(&[2], 4);
        p[3] = 0.5; // class 3 is second best
        let allowed = [true, true, false, true];
        assert_eq!(decode(&p, 1, 4, Some(&allowed)).0, vec![(3, 0.5)]);
        assert_eq!(decode(&[], 0, 4, None), (vec![], 0.0));
    }
}
