//! Reading `JobParams` into typed values with errors that name the key and
//! the allowed range. Keys are matched case-insensitively (Alibaba mixes
//! `Count` and `fps`); unknown keys are refused.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::ops::RangeInclusive;

use super::error::JobError;

/// A cursor over one params object. Call the typed getters, then
/// [`ParamReader::finish`] to refuse keys nobody asked for.
#[derive(Debug)]
pub struct ParamReader<'a> {
    map: Option<&'a serde_json::Map<String, serde_json::Value>>,
    known: BTreeSet<&'static str>,
}

impl<'a> ParamReader<'a> {
    /// Starts reading `params`.
    ///
    /// # Errors
    /// When `params` is neither an object nor null.
    pub fn new(params: &'a serde_json::Value) -> Result<Self, JobError> {
        let map = match params {
            serde_json::Value::Object(map) => Some(map),
            serde_json::Value::Null => None,
            _ => return Err(JobError::param("", "JobParams must be a JSON object")),
        };
        if let Some(map) = map {
            let mut seen: std::collections::HashMap<String, &str> =
                std::collections::HashMap::new();
            for key in map.keys() {
                if let Some(first) = seen.insert(key.to_ascii_lowercase(), key) {
                    return Err(JobError::param(
                        key,
                        format!("is given twice (also as `{first}`); keys are case-insensitive"),
                    ));
                }
            }
        }
        Ok(Self {
            map,
            known: BTreeSet::new(),
        })
    }

    fn get(&mut self, key: &'static str) -> Option<&'a serde_json::Value> {
        self.known.insert(key);
        self.map?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// An integer in `range`; numbers given as strings (`"3"`) are accepted.
    ///
    /// # Errors
    /// When the value is not an integer or is out of range.
    pub fn int(
        &mut self,
        key: &'static str,
        range: RangeInclusive<i64>,
    ) -> Result<Option<i64>, JobError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let n = match value {
            serde_json::Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            }),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let n =
            n.ok_or_else(|| JobError::param(key, format!("must be an integer, got {value}")))?;
        check_range(key, n, &range)?;
        Ok(Some(n))
    }

    /// A number in `range`.
    ///
    /// # Errors
    /// When the value is not a number or is out of range.
    pub fn number(
        &mut self,
        key: &'static str,
        range: RangeInclusive<f64>,
    ) -> Result<Option<f64>, JobError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let n = match value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|f: &f64| f.is_finite())
        .ok_or_else(|| JobError::param(key, format!("must be a number, got {value}")))?;
        check_range(key, n, &range)?;
        Ok(Some(n))
    }

    /// A string, parsed by `parse`; `allowed` is listed in the error.
    ///
    /// # Errors
    /// When the value is not a string or `parse` refuses it.
    pub fn choice<T>(
        &mut self,
        key: &'static str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, JobError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        value.as_str().and_then(&parse).map(Some).ok_or_else(|| {
            JobError::param(
                key,
                format!("must be one of {}, got {value}", allowed.join(", ")),
            )
        })
    }

    /// The raw value of `key`, for shapes the other getters do not cover.
    pub fn value(&mut self, key: &'static str) -> Option<&'a serde_json::Value> {
        self.get(key)
    }

    /// A boolean; `"true"`/`"false"` strings are accepted.
    ///
    /// # Errors
    /// When the value is neither.
    pub fn flag(&mut self, key: &'static str) -> Result<Option<bool>, JobError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match value {
            serde_json::Value::Bool(b) => Ok(Some(*b)),
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(JobError::param(
                key,
                format!("must be true or false, got {value}"),
            )),
        }
    }

    /// A string of at most `max_len` characters.
    ///
    /// # Errors
    /// When the value is not a string or is too long.
    pub fn text(&mut self, key: &'static str, max_len: usize) -> Result<Option<String>, JobError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let s = value
            .as_str()
            .ok_or_else(|| JobError::param(key, format!("must be a string, got {value}")))?;
        if s.chars().count() > max_len {
            return Err(JobError::param(
                key,
                format!("must be at most {max_len} characters"),
            ));
        }
        Ok(Some(s.to_owned()))
    }

    /// Refuses keys that no getter asked for.
    ///
    /// # Errors
    /// Naming the first unknown key and listing the known ones.
    pub fn finish(self) -> Result<(), JobError> {
        let Some(map) = self.map else {
            return Ok(());
        };
        for key in map.keys() {
            if !self.known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                let known: Vec<&str> = self.known.iter().copied().collect();
                return Err(JobError::param(
                    key,
                    format!("unknown key; known keys: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

fn check_range<T: PartialOrd + Display>(
    key: &str,
    n: T,
    range: &RangeInclusive<T>,
) -> Result<(), JobError> {
    if range.contains(&n) {
        Ok(())
    } else {
        Err(JobError::param(
            key,
            format!("{n} is out of range {}..={}", range.start(), range.end()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorCode;

    #[test]
    fn a_key_given_twice_in_different_cases_is_refused() {
        let params = serde_json::json!({"count": 1, "Count": 2});
        let err = ParamReader::new(&params).expect_err("twice");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(err.message.contains("twice"), "{}", err.message);
        assert!(err.message.contains("count") && err.message.contains("Count"));
    }

    #[test]
    fn errors_name_the_key_and_the_range() {
        let params = serde_json::json!({"Count": 0});
        let mut reader = ParamReader::new(&params).expect("object");
        let err = reader.int("Count", 1..=20).expect_err("zero");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(err.message.contains("Count") && err.message.contains("1..=20"));
    }

    #[test]
    fn keys_match_any_case_and_strings_hold_numbers() {
        let params = serde_json::json!({"count": "3", "FPS": 2.5});
        let mut reader = ParamReader::new(&params).expect("object");
        assert_eq!(reader.int("Count", 1..=20).expect("ok"), Some(3));
        assert_eq!(reader.number("fps", 0.0..=10.0).expect("ok"), Some(2.5));
        reader.finish().expect("all known");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let params = serde_json::json!({"Cuont": 3});
        let mut reader = ParamReader::new(&params).expect("object");
        assert_eq!(reader.int("Count", 1..=20).expect("absent"), None);
        let err = reader.finish().expect_err("typo");
        assert!(err.message.contains("Cuont") && err.message.contains("Count"));
    }

    #[test]
    fn wrong_types_are_named() {
        let params = serde_json::json!({"Count": [1], "Format": 3});
        let mut reader = ParamReader::new(&params).expect("object");
        assert!(reader.int("Count", 1..=20).is_err());
        let err = reader
            .choice("Format", &["jpg"], |s| (s == "jpg").then_some(()))
            .expect_err("number");
        assert!(err.message.contains("Format"));
    }
}
