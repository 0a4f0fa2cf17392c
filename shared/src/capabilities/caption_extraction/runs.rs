//! Splits a stream of per-frame text masks into runs of frames that show
//! the same caption (or none). A change counts only once every frame for
//! `min_duration` differs from the open run (flicker and compression noise
//! do not), and the new run then starts at the first frame of the change:
//! frame-accurate boundaries from a check of every frame, and at most one
//! OCR call per `min_duration`.

use super::mask::TextMask;

/// Masks differing by more than this show different text.
pub const DIFFERENT: f32 = 0.5;

/// A finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Sequence number.
    pub id: usize,
    /// Time of its first frame, seconds.
    pub start: f64,
    /// Time of the first frame after it, seconds.
    pub end: f64,
    /// Whether it shows text (and was given to OCR).
    pub text: bool,
}

/// What the caller should do after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing.
    Continue,
    /// A text run was just confirmed: read this frame for run `id`.
    Capture {
        /// The run's id.
        id: usize,
    },
}

#[derive(Debug)]
struct Open {
    id: usize,
    start: f64,
    text: bool,
    anchor: TextMask,
    /// Whether it has lasted `min_duration` (only the opening run is not
    /// confirmed from the start).
    confirmed: bool,
}

#[derive(Debug)]
struct Candidate {
    start: f64,
    /// The frames since `start`.
    frames: Vec<(f64, TextMask)>,
}

/// The run splitter.
#[derive(Debug)]
pub struct Runs {
    min_duration: f64,
    min_pixels: u32,
    open: Option<Open>,
    candidate: Option<Candidate>,
    done: Vec<Run>,
    anchors: Vec<(usize, TextMask)>,
    last_time: f64,
    frame_step: f64,
}

impl Runs {
    /// A splitter confirming changes after `min_duration` seconds; masks
    /// with fewer than `min_pixels` text pixels show no text.
    pub fn new(min_duration: f64, min_pixels: u32) -> Self {
        Self {
            min_duration,
            min_pixels,
            open: None,
            candidate: None,
            done: Vec::new(),
            anchors: Vec::new(),
            last_time: 0.0,
            frame_step: 0.04,
        }
    }

    /// Feeds the frame at `time` with its `mask`.
    pub fn push(&mut self, time: f64, mask: TextMask) -> Step {
        if time > self.last_time {
            self.frame_step = (time - self.last_time).clamp(0.001, 1.0);
        }
        self.last_time = time;
        let text = mask.count() >= self.min_pixels;
        let same = |t: bool, anchor_text: bool, anchor: &TextMask| {
            t == anchor_text && (!t || mask.difference(anchor) <= DIFFERENT)
        };
        let Some(open) = &mut self.open else {
            self.open = Some(Open {
                id: self.done.len(),
                start: time,
                text,
                anchor: mask,
                confirmed: false,
            });
            return Step::Continue;
        };
        if same(text, open.text, &open.anchor) {
            self.candidate = None;
            if !open.confirmed && time - open.start + 1e-9 >= self.min_duration {
                open.confirmed = true;
                open.anchor = mask;
                if open.text {
                    return Step::Capture { id: open.id };
                }
            }
            return Step::Continue;
        }
        // Frames unlike the open run: a change once that has lasted
        // `min_duration`, whether or not those frames agree with each
        // other (a moving background behind no caption never does).
        let Some(c) = &mut self.candidate else {
            self.candidate = Some(Candidate {
                start: time,
                frames: vec![(time, mask)],
            });
            return Step::Continue;
        };
        if time - c.start + 1e-9 < self.min_duration {
            c.frames.push((time, mask));
            return Step::Continue;
        }
        let Some(c) = self.candidate.take() else {
            return Step::Continue;
        };
        self.close(c.start);
        // A caption starts at the first frame from which every frame shows
        // it (a cut or motion just before it appears is not part of it);
        // what comes before is a run without a caption.
        let start = if text {
            c.frames
                .iter()
                .rev()
                .take_while(|(_, m)| {
                    m.count() >= self.min_pixels && m.difference(&mask) <= DIFFERENT
                })
                .last()
                .map_or(time, |(t, _)| *t)
        } else {
            c.start
        };
        if start > c.start {
            self.done.push(Run {
                id: self.done.len(),
                start: c.start,
                end: start,
                text: false,
            });
        }
        let id = self.done.len();
        self.open = Some(Open {
            id,
            start,
            text,
            anchor: mask,
            confirmed: true,
        });
        if text {
            Step::Capture { id }
        } else {
            Step::Continue
        }
    }

    fn close(&mut self, end: f64) {
        if let Some(open) = self.open.take() {
            if open.text && open.confirmed {
                self.anchors.push((open.id, open.anchor));
            }
            self.done.push(Run {
                id: open.id,
                start: open.start,
                end,
                // Never read: too short to be a caption.
                text: open.text && open.confirmed,
            });
        }
    }

    /// The mask the run open now is matched against, if any.
    pub fn open_anchor(&self) -> Option<&TextMask> {
        self.open.as_ref().map(|o| &o.anchor)
    }

    /// The first frame's time of the run open now, if any.
    pub fn open_start(&self) -> Option<f64> {
        self.open.as_ref().map(|o| o.start)
    }

    /// Ends the stream; returns every run. A run never confirmed (shorter
    /// than `min_duration`) has `text` false.
    pub fn finish(self) -> Vec<Run> {
        self.finish_with_anchors().0
    }

    /// [`Runs::finish`], with the mask each text run was matched against
    /// (by run id).
    pub fn finish_with_anchors(mut self) -> (Vec<Run>, Vec<(usize, TextMask)>) {
        self.close(self.last_time + self.frame_step);
        (self.done, self.anchors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(bars: &[usize]) -> TextMask {
        let (w, h) = (100, 20);
        let mut half = vec![20u8; w * h];
        for &b in bars {
            for y in 5..15 {
                for x in b..b + 2 {
                    half[y * w + x] = 230;
                }
            }
        }
        TextMask::from_half(&half, w, h)
    }

    /// Frames at 25 fps: `spec` lists (frames, bars) segments.
    fn run(spec: &[(usize, &[usize])]) -> (Vec<Run>, Vec<(f64, usize)>) {
        let mut r = Runs::new(0.2, 10);
        let mut captures = Vec::new();
        let mut n = 0;
        for (frames, bars) in spec {
            for _ in 0..*frames {
                let t = n as f64 / 25.0;
                if let Step::Capture { id } = r.push(t, mask(bars)) {
                    captures.push((t, id));
                }
                n += 1;
            }
        }
        (r.finish(), captures)
    }

    #[test]
    fn captions_start_and_end_on_the_exact_frame() {
        let (runs, captures) = run(&[
            (30, &[]),
            (50, &[10, 30, 50]),
            (40, &[20, 60, 80]),
            (20, &[]),
        ]);
        let spans: Vec<(f64, f64, bool)> = runs.iter().map(|r| (r.start, r.end, r.text)).collect();
        assert_eq!(
            spans,
            vec![
                (0.0, 1.2, false),
                (1.2, 3.2, true),
                (3.2, 4.8, true),
                (4.8, 5.6, false)
            ]
        );
        // Each text run is read once, min_duration after it starts.
        assert_eq!(captures, vec![(1.4, 1), (3.4, 2)]);
    }

    #[test]
    fn a_caption_starts_where_it_appears_not_at_the_cut_before_it() {
        // A cut (other background strokes) 3 frames before the caption.
        let (runs, _) = run(&[(30, &[80]), (3, &[90]), (20, &[10, 30, 50]), (20, &[])]);
        let spans: Vec<(f64, f64, bool)> = runs.iter().map(|r| (r.start, r.end, r.text)).collect();
        assert_eq!(spans[1], (1.2, 1.32, false), "{spans:?}");
        assert_eq!(spans[2], (1.32, 2.12, true), "{spans:?}");
    }

    #[test]
    fn a_flash_shorter_than_the_minimum_is_ignored() {
        let (runs, captures) = run(&[(30, &[10, 30]), (3, &[60, 80]), (30, &[10, 30])]);
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert!(runs[0].text);
        assert_eq!(captures.len(), 1);
    }

    #[test]
    fn text_from_the_first_frame_is_read_and_a_short_video_still_ends() {
        let (runs, captures) = run(&[(10, &[10, 30])]);
        assert_eq!(captures, vec![(0.2, 0)]);
        assert_eq!(runs.len(), 1);
        assert!((runs[0].end - 0.4).abs() < 1e-9);
        let (runs, captures) = run(&[(3, &[10, 30])]);
        assert!(captures.is_empty());
        assert!(!runs[0].text, "too short to be a caption");
    }
}
