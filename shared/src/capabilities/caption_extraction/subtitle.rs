//! SRT and WebVTT writing, and SRT reading (for benchmarks and tests).

use crate::capabilities::caption_extraction::api::Caption;

fn timestamp(seconds: f64, separator: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// SRT text of `cues`; `prefix` goes before each cue's text.
pub fn to_srt(cues: &[Caption], prefix: &str) -> String {
    let mut out = String::new();
    for (i, c) in cues.iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n{prefix}{}\n\n",
            i + 1,
            timestamp(c.start, ','),
            timestamp(c.end, ','),
            c.text
        ));
    }
    out
}

/// WebVTT text of `cues`.
pub fn to_vtt(cues: &[Caption]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for c in cues {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            timestamp(c.start, '.'),
            timestamp(c.end, '.'),
            vtt_text(&c.text)
        ));
    }
    out
}

/// Cue text as WebVTT requires it: `&`, `<` and `>` escaped (so no `-->`
/// either), and no blank line, which would end the cue.
fn vtt_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim().replace(',', ".");
    let parts: Vec<&str> = s.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (
            h.parse::<f64>().ok()?,
            m.parse::<f64>().ok()?,
            s.parse::<f64>().ok()?,
        ),
        [m, s] => (0.0, m.parse::<f64>().ok()?, s.parse::<f64>().ok()?),
        _ => return None,
    };
    Some(h * 3600.0 + m * 60.0 + sec)
}

/// A parsed cue: start, end, text.
pub type SrtCue = (f64, f64, String);

/// Reads SRT (or WebVTT) text: cues in file order. Style tags (`{\an8}`,
/// `<i>`) are removed from the text.
pub fn parse_srt(text: &str) -> Vec<SrtCue> {
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let mut cues = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines().skip_while(|l| !l.contains("-->"));
        let Some(timing) = lines.next() else {
            continue;
        };
        let Some((a, b)) = timing.split_once("-->") else {
            continue;
        };
        let b = b.split_whitespace().next().unwrap_or("");
        let (Some(start), Some(end)) = (parse_timestamp(a), parse_timestamp(b)) else {
            continue;
        };
        let body: Vec<String> = lines.map(strip_tags).collect();
        cues.push((start, end, body.join("\n").trim().to_owned()));
    }
    cues
}

fn strip_tags(line: &str) -> String {
    let mut out = String::new();
    let mut depth: Option<char> = None;
    for c in line.chars() {
        match (depth, c) {
            (None, '{') => depth = Some('}'),
            (None, '<') => depth = Some('>'),
            (Some(close), c) if c == close => depth = None,
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start: f64, end: f64, text: &str) -> Caption {
        Caption {
            start,
            end,
            text: text.into(),
            lines: Vec::new(),
        }
    }

    #[test]
    fn srt_round_trips_with_two_line_cues_and_a_prefix() {
        let cues = vec![
            cue(2.0, 5.25, "This blade"),
            cue(3661.5, 3662.0, "two\nlines"),
        ];
        let srt = to_srt(&cues, "{\\an8}");
        assert!(srt
            .starts_with("1\n00:00:02,000 --> 00:00:05,250\n{\\an8}This blade\n\n2\n01:01:01,500"));
        let back = parse_srt(&srt);
        assert_eq!(
            back,
            vec![
                (2.0, 5.25, "This blade".into()),
                (3661.5, 3662.0, "two\nlines".into())
            ]
        );
        let vtt = to_vtt(&cues);
        assert!(vtt.starts_with("WEBVTT\n\n00:00:02.000 --> 00:00:05.250\nThis blade\n"));
        assert_eq!(parse_srt(&vtt).len(), 2);
    }

    #[test]
    fn webvtt_cue_text_is_escaped_and_has_no_blank_line() {
        let vtt = to_vtt(&[cue(1.0, 2.0, "Tom & Jerry <3 --> go\n\nnext")]);
        assert!(
            vtt.contains("\nTom &amp; Jerry &lt;3 --&gt; go\nnext\n\n"),
            "{vtt}"
        );
        assert_eq!(vtt.matches("-->").count(), 1, "{vtt}");
    }

    #[test]
    fn a_bom_and_crlf_are_read() {
        let srt = "\u{feff}1\r\n00:00:00,000 --> 00:00:02,160\r\n因为你\r\n\r\n";
        assert_eq!(parse_srt(srt), vec![(0.0, 2.16, "因为你".into())]);
    }
}
