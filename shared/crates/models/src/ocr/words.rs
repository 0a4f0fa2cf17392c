//! Spaces between English words that a line was read without: a font that
//! sets Latin letters tight (a CJK font's Latin glyphs) leaves no gap for
//! the recogniser or the picture to see, so "Thisbladehasadarkpast" is
//! split into the likeliest words by their frequencies (a unigram model
//! over the 126,000 words of `wordninja`'s English list, MIT, ranked by
//! frequency; cost of the word of rank r: ln((r + 1)·ln N), Zipf's law).
//!
//! A run of letters is left alone when it is a word (or a word's plural
//! or possessive), when it is a single letter, or when no split into
//! common words is likelier than the run being a word the list lacks (a
//! name): splitting never uses single letters other than "a" and "I" nor
//! words beyond the list's most common [`COMMON`]. Contractions whose
//! apostrophe was lost or read as `l`, `1`, `i`, `|` or `` ` `` ("Ive",
//! "Youlve") get it back, unless the letters are a word themselves
//! ("its", "were", "shed").

use std::collections::HashMap;
use std::io::Read;

use super::TextLine;
use crate::inference::{InferenceError, ModelDir};

/// The word list's manifest name.
pub const WORDS_LIST: &str = "english-words";

/// A run the list lacks costs `UNKNOWN + UNKNOWN_PER_LETTER · letters`
/// (chosen on the caption bench's Noto video: 8 / 11 / 14 and 1 / 1.5 / 2
/// / 2.5 tried with `COMMON` 10,000 / 20,000 / 40,000 / all).
const UNKNOWN: f32 = 8.0;
const UNKNOWN_PER_LETTER: f32 = 2.0;
/// Only the list's most common words are pieces of a split (rarer ones
/// mostly split names: "Lanni ster").
const COMMON: u32 = 20_000;
/// A contraction costs its first word's cost plus this.
const CONTRACTION: f32 = 1.0;
/// Characters an apostrophe is read as.
const APOSTROPHES: [char; 7] = ['\'', '’', '`', '|', '1', 'l', 'i'];
/// Contractions (lower case).
const CONTRACTIONS: &str = "i've i'm i'll i'd you've you're you'll you'd we've we're we'll we'd \
    they've they're they'll they'd he's she's it's that's what's there's here's who's don't \
    doesn't didn't isn't aren't wasn't weren't can't couldn't won't wouldn't shouldn't haven't \
    hasn't hadn't ain't";
/// Contractions without their apostrophe that are words themselves.
const WORDS_WITHOUT_APOSTROPHE: &str = "its were well shed hell shell wed ill id lets whos";

/// The English word list with each word's cost.
#[derive(Debug, Clone)]
pub struct Words {
    /// Word → (cost, rank).
    words: HashMap<String, (f32, u32)>,
    /// Damaged or intact contraction → (contraction, cost).
    contractions: HashMap<String, (&'static str, f32)>,
    longest: usize,
}

/// One piece of a split run: the characters it covers, and its text when
/// it is not those characters (a mended contraction).
#[derive(Debug, Clone, PartialEq)]
struct Piece {
    start: usize,
    end: usize,
    text: Option<String>,
}

impl Words {
    /// Reads the list from `models`.
    ///
    /// # Errors
    /// [`InferenceError::Model`] when the file is missing or unreadable.
    pub fn load(models: &ModelDir) -> Result<Self, InferenceError> {
        let (path, _) = models.model_file(WORDS_LIST)?;
        let err = |detail: String| InferenceError::Model {
            name: WORDS_LIST.into(),
            path: path.clone(),
            detail,
        };
        let file = std::fs::File::open(&path).map_err(|e| err(e.to_string()))?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .map_err(|e| err(e.to_string()))?;
        Ok(Self::ranked(text.split_whitespace()))
    }

    /// From words in order of frequency, most frequent first.
    pub fn ranked<'a>(list: impl IntoIterator<Item = &'a str>) -> Self {
        let list: Vec<&str> = list.into_iter().collect();
        let n = (list.len().max(2)) as f32;
        let mut words = HashMap::with_capacity(list.len());
        let mut longest = 1;
        for (rank, w) in list.iter().enumerate() {
            let cost = ((rank + 1) as f32 * n.ln()).ln();
            words.entry((*w).to_owned()).or_insert((cost, rank as u32));
            longest = longest.max(w.chars().count());
        }
        let mut contractions = HashMap::new();
        let real: Vec<&str> = WORDS_WITHOUT_APOSTROPHE.split_whitespace().collect();
        for c in CONTRACTIONS.split_whitespace() {
            let Some(at) = c.find('\'') else { continue };
            let head = &c[..at];
            let cost = words.get(head).map_or(UNKNOWN, |&(c, _)| c) + CONTRACTION;
            let bare = c.replace('\'', "");
            if !real.contains(&bare.as_str()) {
                contractions.insert(bare, (c, cost));
            }
            for a in APOSTROPHES {
                contractions.insert(c.replace('\'', &a.to_string()), (c, cost));
            }
        }
        Self {
            words,
            contractions,
            longest,
        }
    }

    /// Whether `lower` is a word, or a word's plural or possessive.
    fn known(&self, lower: &str) -> bool {
        let stem = lower
            .strip_suffix("'s")
            .or_else(|| lower.strip_suffix('s'))
            .filter(|s| !s.is_empty());
        self.words.contains_key(lower) || stem.is_some_and(|s| self.words.contains_key(s))
    }

    /// The cost of `lower` as one piece of a split, if it may be one.
    fn piece_cost(&self, lower: &str) -> Option<f32> {
        if let Some(&(_, cost)) = self.contractions.get(lower) {
            return Some(cost);
        }
        let &(cost, rank) = self.words.get(lower)?;
        let single = lower.chars().count() == 1;
        (rank < COMMON && (!single || lower == "a" || lower == "i")).then_some(cost)
    }

    /// The pieces of the run `chars` (letters and apostrophes), or `None`
    /// when it stays as it is.
    fn split(&self, chars: &[char]) -> Option<Vec<Piece>> {
        let lower: Vec<char> = chars
            .iter()
            .map(|c| {
                if *c == '’' {
                    '\''
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        let word: String = lower.iter().collect();
        let mend = |start: usize, end: usize, contraction: &str| {
            let mut text: String = contraction.to_owned();
            if contraction.starts_with("i'") || chars[start].is_uppercase() {
                text = capitalised(&text);
            }
            Piece {
                start,
                end,
                text: Some(text),
            }
        };
        if let Some(&(c, _)) = self.contractions.get(&word) {
            return (c != word).then(|| vec![mend(0, chars.len(), c)]);
        }
        if chars.len() < 2 || self.known(&word) {
            return None;
        }
        // best[i]: the cheapest split of the first i characters and where
        // its last piece starts.
        let n = lower.len();
        let mut best: Vec<(f32, usize)> = vec![(f32::INFINITY, 0); n + 1];
        best[0] = (0.0, 0);
        for end in 1..=n {
            for start in end.saturating_sub(self.longest)..end {
                if !best[start].0.is_finite() {
                    continue;
                }
                let piece: String = lower[start..end].iter().collect();
                if let Some(cost) = self.piece_cost(&piece) {
                    let total = best[start].0 + cost;
                    if total < best[end].0 {
                        best[end] = (total, start);
                    }
                }
            }
        }
        let letters = chars.iter().filter(|c| c.is_alphabetic()).count();
        if best[n].0 >= UNKNOWN + UNKNOWN_PER_LETTER * letters as f32 {
            return None;
        }
        let mut pieces = Vec::new();
        let mut end = n;
        while end > 0 {
            let start = best[end].1;
            let piece: String = lower[start..end].iter().collect();
            pieces.push(match self.contractions.get(&piece) {
                Some(&(c, _)) => mend(start, end, c),
                None => Piece {
                    start,
                    end,
                    text: None,
                },
            });
            end = start;
        }
        pieces.reverse();
        Some(pieces)
    }

    /// Puts the spaces back into `line` where runs of letters are words
    /// set without them, and mends damaged contractions; positions follow.
    /// Lines less than half Latin letters are left alone.
    pub fn restore(&self, line: &mut TextLine) {
        let chars: Vec<char> = line.text.chars().collect();
        let letters = chars.iter().filter(|c| c.is_ascii_alphabetic()).count();
        if chars.len() != line.positions.len() || letters * 2 < chars.len() {
            return;
        }
        let x = &line.positions;
        let mut text = String::with_capacity(line.text.len() + 8);
        let mut positions = Vec::with_capacity(x.len() + 8);
        let mut i = 0;
        while i < chars.len() {
            if !chars[i].is_ascii_alphabetic() {
                text.push(chars[i]);
                positions.push(x[i]);
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_alphabetic()
                    || (APOSTROPHES.contains(&chars[j])
                        && chars.get(j + 1).is_some_and(char::is_ascii_alphabetic)))
            {
                j += 1;
            }
            match self.split(&chars[i..j]) {
                None => {
                    text.extend(&chars[i..j]);
                    positions.extend(&x[i..j]);
                }
                Some(pieces) => {
                    for (k, piece) in pieces.iter().enumerate() {
                        let (s, e) = (i + piece.start, i + piece.end);
                        if k > 0 {
                            text.push(' ');
                            positions.push((x[s - 1] + x[s]) / 2.0);
                        }
                        match &piece.text {
                            None => {
                                text.extend(&chars[s..e]);
                                positions.extend(&x[s..e]);
                            }
                            Some(mended) => {
                                // Spread over the characters it replaces.
                                let m = mended.chars().count();
                                let (a, b) = (x[s], x[e - 1]);
                                for (q, c) in mended.chars().enumerate() {
                                    text.push(c);
                                    let t = if m > 1 {
                                        q as f32 / (m - 1) as f32
                                    } else {
                                        0.0
                                    };
                                    positions.push(a + (b - a) * t);
                                }
                            }
                        }
                    }
                }
            }
            i = j;
        }
        line.text = text;
        line.positions = positions;
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::TextBox;

    /// A list shaped like the real one: the most common words first.
    fn words() -> Words {
        let mut list: Vec<&str> = "the of and a to in is it you that he was for on are as with \
             his they i at be this have from or one had by word but not what all were we when \
             your can said there use an each which she do how their if will up other about out \
             many then them these so some her would make like him into time has look two more \
             write go see number no way could people my than first water been call who oil its \
             now find long down day did get come made may part dark past blade very dear spirit \
             kind red alone lone hunter know only failed dragon lands closer much innocent blood \
             shed someone sea are gate keeper gatekeeper"
            .split_whitespace()
            .collect();
        // Rare words, beyond the most common ones.
        list.extend(std::iter::repeat_n("filler", COMMON as usize));
        list.extend(["shall", "an2", "kindred"]);
        list.push("i've");
        Words::ranked(list)
    }

    fn line(text: &str) -> TextLine {
        TextLine {
            bbox: TextBox {
                x0: 0.0,
                y0: 0.0,
                x1: 10.0 * text.chars().count() as f32,
                y1: 20.0,
                score: 1.0,
            },
            text: text.into(),
            confidence: 1.0,
            positions: (0..text.chars().count())
                .map(|i| 10.0 * i as f32 + 5.0)
                .collect(),
        }
    }

    fn restored(w: &Words, text: &str) -> String {
        let mut l = line(text);
        w.restore(&mut l);
        assert_eq!(l.text.chars().count(), l.positions.len(), "{}", l.text);
        assert!(
            l.positions.windows(2).all(|p| p[0] <= p[1]),
            "{:?}",
            l.positions
        );
        l.text
    }

    #[test]
    fn words_set_without_spaces_are_split() {
        let w = words();
        assert_eq!(
            restored(&w, "Thisbladehasadarkpast."),
            "This blade has a dark past."
        );
        assert_eq!(
            restored(&w, "Someoneverydear? Ithas"),
            "Someone very dear? It has"
        );
        assert_eq!(
            restored(&w, "the land of the gatekeepers?"),
            "the land of the gatekeepers?"
        );
    }

    #[test]
    fn words_and_names_are_left_alone() {
        let w = words();
        // "Shallan" could be "shall an", but "shall" is rare here: a name.
        for text in ["Shallan", "Sintel, come on!", "x", "I can see", "A 2nd one"] {
            assert_eq!(restored(&w, text), text);
        }
    }

    #[test]
    fn a_lost_apostrophe_comes_back_unless_the_letters_are_a_word() {
        let w = words();
        assert_eq!(restored(&w, "Ive been"), "I've been");
        assert_eq!(restored(&w, "Youlve only failed"), "You've only failed");
        assert_eq!(restored(&w, "Ivebeenalone"), "I've been alone");
        assert_eq!(
            restored(&w, "It has shed its blood"),
            "It has shed its blood"
        );
        assert_eq!(restored(&w, "I've been"), "I've been");
    }
}
