//! From runs and what OCR read in them to subtitle cues: lines that are not
//! subtitles dropped (low confidence, out-of-size text, a few characters
//! read from a box far wider than they fill), neighbouring runs
//! that read as the same text merged into one cue (the reading of the
//! longest run wins), and the zh/en split.

use crate::capabilities::caption_extraction::api::{Caption, CaptionLine, Track};

use super::runs::Run;

/// Lines read with less confidence are dropped.
const MIN_CONFIDENCE: f64 = 0.6;
/// A line whose box is wider than this many times the width its text
/// needs (plus [`BOX_PAD`] line heights) was not read from text: the
/// recognizer, given picture detail (a bird's feet on a branch), still
/// answers with a character or two. Real caption lines measure 0.54–0.82
/// of their text's width (Sintel in three fonts, Chinese over Big Buck
/// Bunny, bilingual clips); such misreadings 3 and more.
const MAX_BOX_FILL: f64 = 1.6;
/// Room the detector leaves around a line, in line heights.
const BOX_PAD: f64 = 0.5;
/// Runs whose texts are this similar (0–1) and that touch are one cue.
const SAME_TEXT: f64 = 0.7;
/// Longest gap bridged when merging runs of the same text, seconds.
const MAX_GAP: f64 = 0.3;

/// What OCR read in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The run.
    pub run: Run,
    /// Lines, top to bottom.
    pub lines: Vec<CaptionLine>,
}

/// Normalised edit similarity of two texts, ignoring whitespace: 1 for
/// equal texts, 0 for nothing in common.
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().filter(|c| !c.is_whitespace()).collect();
    let b: Vec<char> = b.chars().filter(|c| !c.is_whitespace()).collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - edit_distance(&a, &b) as f64 / longest as f64
}

/// Levenshtein distance.
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(x != y);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn height(line: &CaptionLine) -> f64 {
    f64::from(line.bbox[3])
}

/// The line height that most caption time is spent at (duration-weighted
/// median).
fn typical_height(readings: &[Reading]) -> Option<f64> {
    let mut weighted: Vec<(f64, f64)> = readings
        .iter()
        .flat_map(|r| {
            r.lines
                .iter()
                .map(move |l| (height(l), r.run.end - r.run.start))
        })
        .collect();
    if weighted.is_empty() {
        return None;
    }
    weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = weighted.iter().map(|w| w.1).sum();
    let mut acc = 0.0;
    for (h, w) in &weighted {
        acc += w;
        if acc >= total / 2.0 {
            return Some(*h);
        }
    }
    weighted.last().map(|w| w.0)
}

fn bottom(line: &CaptionLine) -> f64 {
    f64::from(line.bbox[1] + line.bbox[3])
}

/// Captions sit on one baseline: the bottom line of each reading must be
/// near the bottom most caption time is spent at, and the lines above it
/// must stack on it. Text elsewhere (scene text, objects read as letters)
/// is dropped.
fn keep_caption_block(readings: &mut [Reading]) {
    let Some(typical) = typical_height(readings) else {
        return;
    };
    let mut bottoms: Vec<(f64, f64)> = readings
        .iter()
        .filter_map(|r| {
            let lowest = r.lines.iter().map(bottom).max_by(f64::total_cmp)?;
            Some((lowest, r.run.end - r.run.start))
        })
        .collect();
    bottoms.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = bottoms.iter().map(|b| b.1).sum();
    let mut acc = 0.0;
    let Some(baseline) = bottoms.iter().find_map(|(b, w)| {
        acc += w;
        (acc >= total / 2.0).then_some(*b)
    }) else {
        return;
    };
    for r in readings.iter_mut() {
        let mut lines: Vec<CaptionLine> = std::mem::take(&mut r.lines);
        lines.sort_by(|a, b| bottom(b).total_cmp(&bottom(a)));
        let mut kept: Vec<CaptionLine> = Vec::new();
        for l in lines {
            let fits = match kept.last() {
                None => (bottom(&l) - baseline).abs() <= 0.6 * typical,
                // Stacked on the line below: its bottom near that line's top.
                Some(below) => (bottom(&l) - f64::from(below.bbox[1])).abs() <= 0.5 * typical,
            };
            if fits {
                kept.push(l);
            } else if kept.is_empty() {
                continue;
            }
        }
        kept.reverse();
        r.lines = kept;
    }
}

/// The width `text` needs, in line heights: a CJK character is square,
/// a Latin letter or digit about 0.6, a space or punctuation mark less.
pub fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            ' ' => 0.3,
            c if is_chinese(c.encode_utf8(&mut [0; 4]))
                || ('\u{3000}'..='\u{30FF}').contains(&c)
                || ('\u{FF00}'..='\u{FFEF}').contains(&c) =>
            {
                1.0
            }
            c if c.is_alphanumeric() => 0.6,
            _ => 0.35,
        })
        .sum()
}

/// Whether the text read accounts for the width of its box (see
/// [`MAX_BOX_FILL`]).
fn fills_its_box(line: &CaptionLine) -> bool {
    let (width, height) = (f64::from(line.bbox[2]), f64::from(line.bbox[3]));
    width <= MAX_BOX_FILL * text_width(&line.text) * height + BOX_PAD * height
}

/// Turns readings (in time order) into cues.
pub fn cues(mut readings: Vec<Reading>, track: Track) -> Vec<Caption> {
    for r in &mut readings {
        r.lines.retain(|l| {
            l.confidence >= MIN_CONFIDENCE
                && l.text.chars().any(char::is_alphanumeric)
                && fills_its_box(l)
        });
    }
    if let Some(typical) = typical_height(&readings) {
        let (lo, hi) = match track {
            Track::All => (0.6, 1.6),
            Track::Main => (0.8, 1.25),
        };
        for r in &mut readings {
            r.lines
                .retain(|l| (lo * typical..=hi * typical).contains(&height(l)));
        }
    }
    keep_caption_block(&mut readings);
    let mut out: Vec<(Caption, f64)> = Vec::new();
    for r in readings {
        if r.lines.is_empty() {
            continue;
        }
        let text = r
            .lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let duration = r.run.end - r.run.start;
        if let Some((last, longest)) = out.last_mut() {
            if r.run.start - last.end <= MAX_GAP && similarity(&last.text, &text) >= SAME_TEXT {
                last.end = r.run.end;
                if duration > *longest {
                    *longest = duration;
                    last.text = text;
                    last.lines = r.lines;
                }
                continue;
            }
        }
        out.push((
            Caption {
                start: r.run.start,
                end: r.run.end,
                text,
                lines: r.lines,
            },
            duration,
        ));
    }
    out.into_iter().map(|(c, _)| c).collect()
}

/// Whether `text` has Chinese (CJK) characters.
pub fn is_chinese(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
    })
}

/// Splits cues into a Chinese and an English track by line.
pub fn split_languages(cues: &[Caption]) -> (Vec<Caption>, Vec<Caption>) {
    let part = |chinese: bool| -> Vec<Caption> {
        cues.iter()
            .filter_map(|c| {
                let lines: Vec<CaptionLine> = c
                    .lines
                    .iter()
                    .filter(|l| is_chinese(&l.text) == chinese)
                    .cloned()
                    .collect();
                (!lines.is_empty()).then(|| Caption {
                    start: c.start,
                    end: c.end,
                    text: lines
                        .iter()
                        .map(|l| l.text.as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    lines,
                })
            })
            .collect()
    };
    (part(true), part(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line whose box is as wide as real caption lines are for `text`.
    fn line(text: &str, y: u32, h: u32, confidence: f64) -> CaptionLine {
        CaptionLine {
            text: text.into(),
            bbox: [100, y, (0.7 * text_width(text) * f64::from(h)) as u32, h],
            confidence,
        }
    }

    fn reading(id: usize, start: f64, end: f64, lines: Vec<CaptionLine>) -> Reading {
        Reading {
            run: Run {
                id,
                start,
                end,
                text: true,
            },
            lines,
        }
    }

    #[test]
    fn similarity_ignores_spaces_and_scores_edits() {
        assert!((similarity("Thank you.", "Thankyou.") - 1.0).abs() < 1e-9);
        assert!(similarity("Thank you.", "Thank yon.") > 0.85);
        assert!(similarity("Thank you.", "So...") < 0.3);
        assert_eq!(edit_distance(&['a', 'b'], &['b']), 1);
    }

    #[test]
    fn touching_runs_of_one_text_are_one_cue_read_from_the_longest() {
        let c = cues(
            vec![
                reading(0, 1.0, 1.5, vec![line("Thank yon.", 600, 40, 0.9)]),
                reading(1, 1.5, 4.0, vec![line("Thank you.", 600, 40, 0.99)]),
                reading(2, 4.0, 6.0, vec![line("So...", 600, 40, 0.99)]),
                reading(3, 7.0, 8.0, vec![line("So...", 600, 40, 0.99)]),
            ],
            Track::All,
        );
        let got: Vec<(f64, f64, &str)> = c
            .iter()
            .map(|c| (c.start, c.end, c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1.0, 4.0, "Thank you."),
                (4.0, 6.0, "So..."),
                (7.0, 8.0, "So...")
            ]
        );
    }

    #[test]
    fn unsure_punctuation_only_and_odd_sized_lines_are_not_subtitles() {
        let c = cues(
            vec![
                reading(
                    0,
                    0.0,
                    2.0,
                    vec![
                        line("THE PEACH", 300, 90, 0.95),
                        line("Hello there", 600, 40, 0.95),
                    ],
                ),
                reading(
                    1,
                    2.0,
                    4.0,
                    vec![
                        line("two lines", 560, 40, 0.9),
                        line("kept as one", 600, 40, 0.9),
                    ],
                ),
                reading(2, 4.0, 5.0, vec![line("garbage", 600, 40, 0.3)]),
                reading(3, 5.0, 6.0, vec![line("...", 600, 40, 0.99)]),
                reading(4, 6.0, 7.0, vec![line("small", 610, 30, 0.99)]),
                // Above the caption baseline: not a caption.
                reading(5, 7.0, 9.0, vec![line("小", 520, 40, 0.9)]),
                reading(6, 9.0, 10.0, vec![line("low", 650, 30, 0.99)]),
            ],
            Track::All,
        );
        let texts: Vec<&str> = c.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["Hello there", "two lines\nkept as one", "small"]
        );
        let main = cues(
            vec![
                reading(0, 0.0, 2.0, vec![line("Hello there", 600, 40, 0.95)]),
                reading(1, 2.0, 3.0, vec![line("small", 610, 30, 0.99)]),
            ],
            Track::Main,
        );
        assert_eq!(main.len(), 1);
    }

    #[test]
    fn a_few_characters_read_from_a_wide_box_are_not_a_caption() {
        // What the recognizer answered for a bird's feet on a branch in the
        // caption band: "1" from a 128x64 box.
        let feet = CaptionLine {
            text: "1".into(),
            bbox: [519, 554, 128, 64],
            confidence: 0.82,
        };
        let c = cues(
            vec![
                reading(0, 0.0, 2.0, vec![line("Hello there", 600, 40, 0.95)]),
                reading(1, 2.0, 2.5, vec![feet.clone()]),
                // Short real captions keep: one CJK character, a digit,
                // an interjection.
                reading(2, 3.0, 4.0, vec![line("好", 600, 40, 0.95)]),
                reading(3, 4.0, 5.0, vec![line("1", 600, 40, 0.95)]),
                reading(4, 5.0, 6.0, vec![line("SO...", 600, 40, 0.95)]),
            ],
            Track::All,
        );
        let texts: Vec<&str> = c.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec!["Hello there", "好", "1", "SO..."]);
        assert!(!fills_its_box(&feet));
        // The widest real lines measured (0.82 of their text's width, plus
        // the detector's room for one character) still fill their boxes.
        let wide = CaptionLine {
            bbox: [
                0,
                0,
                (0.82 * text_width("SO...") * 74.0 + 0.3 * 74.0) as u32,
                74,
            ],
            ..line("SO...", 600, 74, 0.99)
        };
        assert!(fills_its_box(&wide));
    }

    #[test]
    fn bilingual_cues_split_by_line() {
        let c = vec![Caption {
            start: 0.0,
            end: 1.0,
            text: "你好\nHello".into(),
            lines: vec![line("你好", 560, 40, 0.9), line("Hello", 600, 40, 0.9)],
        }];
        let (zh, en) = split_languages(&c);
        assert_eq!(zh[0].text, "你好");
        assert_eq!(en[0].text, "Hello");
        assert!(is_chinese("Joy-Con是真的牛皮") && !is_chinese("Joy-Con"));
    }
}
