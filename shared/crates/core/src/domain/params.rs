//! A function's `JobParams`: described once ([`Param`], [`ParamsSpec`]),
//! read into typed values by [`ParamReader`] against that description, and
//! published from it as a JSON Schema and as `iprod params` text. Keys are
//! matched case-insensitively (Alibaba mixes `Count` and `fps`); keys the
//! description does not name are refused.

use std::fmt::{self, Display};

use super::error::{ErrorCode, JobError};

/// What values one key takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A whole number in `min..=max` (numeric strings accepted).
    Integer {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// A finite number in `min..=max` (numeric strings accepted).
    Number {
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
    },
    /// One of these strings, any case.
    Choice(&'static [&'static str]),
    /// A string of this shape, checked by the reader's parser.
    Pattern {
        /// A regular expression for the schema (case-insensitive intent).
        pattern: &'static str,
        /// The shape in words, e.g. `#RRGGBB`.
        shape: &'static str,
    },
    /// `true` or `false` (the strings too).
    Flag,
    /// Free text of at most `max_len` characters.
    Text {
        /// Longest allowed, in characters.
        max_len: usize,
    },
    /// A structured value, checked by the reader's parser.
    Json {
        /// Its JSON Schema, as JSON text.
        schema: &'static str,
        /// The shape in words.
        shape: &'static str,
    },
}

/// What applies when a key is left out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamDefault {
    /// Nothing: the key's absence has its own meaning (see its doc).
    None,
    /// This integer.
    Integer(i64),
    /// This number.
    Number(f64),
    /// This string.
    Text(&'static str),
    /// This flag.
    Flag(bool),
}

impl ParamDefault {
    fn to_json(self) -> Option<serde_json::Value> {
        match self {
            Self::None => None,
            Self::Integer(n) => Some(n.into()),
            Self::Number(n) => Some(n.into()),
            Self::Text(s) => Some(s.into()),
            Self::Flag(b) => Some(b.into()),
        }
    }
}

/// One key of a function's `JobParams`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    /// The key, in its documented case.
    pub key: &'static str,
    /// What values it takes.
    pub kind: ParamKind,
    /// What applies without it.
    pub default: ParamDefault,
    /// What it means, one sentence.
    pub doc: &'static str,
}

impl Param {
    /// An integer key in `min..=max`.
    pub const fn integer(key: &'static str, min: i64, max: i64, doc: &'static str) -> Self {
        Self::of(key, ParamKind::Integer { min, max }, doc)
    }

    /// A number key in `min..=max`.
    pub const fn number(key: &'static str, min: f64, max: f64, doc: &'static str) -> Self {
        Self::of(key, ParamKind::Number { min, max }, doc)
    }

    /// A key taking one of `allowed`.
    pub const fn choice(
        key: &'static str,
        allowed: &'static [&'static str],
        doc: &'static str,
    ) -> Self {
        Self::of(key, ParamKind::Choice(allowed), doc)
    }

    /// A key of `kind`.
    pub const fn of(key: &'static str, kind: ParamKind, doc: &'static str) -> Self {
        Self {
            key,
            kind,
            default: ParamDefault::None,
            doc,
        }
    }

    /// With `default` applied when the key is left out.
    pub const fn default(self, default: ParamDefault) -> Self {
        Self { default, ..self }
    }

    /// The key's type and range in words (`integer 1..=20`).
    pub fn shape(&self) -> String {
        match self.kind {
            ParamKind::Integer { min, max } => format!("integer {min}..={max}"),
            ParamKind::Number { min, max } => format!("number {min}..={max}"),
            ParamKind::Choice(allowed) => allowed.join(" | "),
            ParamKind::Pattern { shape, .. } | ParamKind::Json { shape, .. } => shape.to_owned(),
            ParamKind::Flag => "true | false".to_owned(),
            ParamKind::Text { max_len } => format!("text, at most {max_len} characters"),
        }
    }

    /// The default in words (`-` when none).
    pub fn default_text(&self) -> String {
        match self.default.to_json() {
            None => "-".to_owned(),
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            Some(v) => v.to_string(),
        }
    }

    fn schema(&self) -> serde_json::Value {
        use serde_json::json;
        let mut schema = match self.kind {
            ParamKind::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            ParamKind::Number { min, max } => {
                json!({"type": "number", "minimum": min, "maximum": max})
            }
            ParamKind::Choice(allowed) => json!({"type": "string", "enum": allowed}),
            ParamKind::Pattern { pattern, .. } => json!({"type": "string", "pattern": pattern}),
            ParamKind::Flag => json!({"type": "boolean"}),
            ParamKind::Text { max_len } => json!({"type": "string", "maxLength": max_len}),
            ParamKind::Json { schema, .. } => {
                serde_json::from_str(schema).unwrap_or_else(|_| json!({}))
            }
        };
        if let Some(map) = schema.as_object_mut() {
            map.insert("description".into(), self.doc.into());
            if let Some(default) = self.default.to_json() {
                map.insert("default".into(), default);
            }
        }
        schema
    }
}

/// The description of one function's `JobParams`: its keys and the rules
/// that tie keys together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamsSpec {
    /// Every key, in documentation order.
    pub params: &'static [Param],
    /// Rules across keys, in words (`MaxBpm is at least 1.2 x MinBpm`).
    pub rules: &'static [&'static str],
}

impl ParamsSpec {
    /// The key named `key`, any case.
    pub fn get(&self, key: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.key.eq_ignore_ascii_case(key))
    }

    /// A JSON Schema (draft 2020-12) of the params of `function`, described
    /// by `summary`.
    pub fn json_schema(&self, function: &str, summary: &str) -> serde_json::Value {
        let properties: serde_json::Map<String, serde_json::Value> = self
            .params
            .iter()
            .map(|p| (p.key.to_owned(), p.schema()))
            .collect();
        let mut description = format!(
            "JobParams of {function}: {summary}. Keys match in any case; numbers and flags may also be given as strings."
        );
        for rule in self.rules {
            description.push(' ');
            description.push_str(rule);
            if !rule.ends_with('.') {
                description.push('.');
            }
        }
        serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": format!("{function} JobParams"),
            "description": description,
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
            // JSON objects keep no order: forms read the keys' documented
            // order from here.
            "x-order": self.params.iter().map(|p| p.key).collect::<Vec<_>>(),
        })
    }
}

impl Display for ParamsSpec {
    /// A table: key, type, default, meaning; then the rules.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 4]> = self
            .params
            .iter()
            .map(|p| {
                [
                    p.key.to_owned(),
                    p.shape(),
                    p.default_text(),
                    p.doc.to_owned(),
                ]
            })
            .collect();
        let header = ["KEY", "TYPE", "DEFAULT", "MEANING"].map(str::to_owned);
        let width = |i: usize| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2)];
        for row in std::iter::once(&header).chain(&rows) {
            writeln!(
                f,
                "{:w0$}  {:w1$}  {:w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )?;
        }
        if self.params.is_empty() {
            writeln!(f, "(no keys)")?;
        }
        for rule in self.rules {
            writeln!(f, "Rule: {rule}")?;
        }
        Ok(())
    }
}

/// A cursor over one params object, read against its [`ParamsSpec`]. Call
/// the typed getters, then [`ParamReader::finish`] to refuse keys the
/// description does not name.
#[derive(Debug)]
pub struct ParamReader<'a> {
    map: Option<&'a serde_json::Map<String, serde_json::Value>>,
    spec: &'static ParamsSpec,
}

/// `#RRGGBB` (or `RRGGBB`, `0xRRGGBB`) as bytes; `None` for anything else.
pub fn parse_hex_colour(s: &str) -> Option<[u8; 3]> {
    let hex = s.trim().trim_start_matches('#').trim_start_matches("0x");
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

impl<'a> ParamReader<'a> {
    /// Starts reading `params` against `spec`.
    ///
    /// # Errors
    /// When `params` is neither an object nor null, or names a key twice.
    pub fn new(params: &'a serde_json::Value, spec: &'static ParamsSpec) -> Result<Self, JobError> {
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
        Ok(Self { map, spec })
    }

    /// The description of `key`, which must be of the kind `want` names.
    fn param(&self, key: &str, want: fn(&ParamKind) -> bool) -> Result<&'static Param, JobError> {
        self.spec.get(key).filter(|p| want(&p.kind)).ok_or_else(|| {
            JobError::permanent(
                ErrorCode::InternalError,
                format!("JobParams.{key} is read but not described as such"),
            )
        })
    }

    fn get(&mut self, key: &'static str) -> Option<&'a serde_json::Value> {
        self.map?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// An integer in the described range; numbers given as strings (`"3"`)
    /// are accepted. The described default when left out.
    ///
    /// # Errors
    /// When the value is not an integer or is out of range.
    pub fn int(&mut self, key: &'static str) -> Result<Option<i64>, JobError> {
        let param = self.param(key, |k| matches!(k, ParamKind::Integer { .. }))?;
        let ParamKind::Integer { min, max } = param.kind else {
            unreachable!("checked by param()")
        };
        let Some(value) = self.get(param.key) else {
            return Ok(match param.default {
                ParamDefault::Integer(n) => Some(n),
                _ => None,
            });
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
        let n = n.ok_or_else(|| {
            JobError::param(param.key, format!("must be an integer, got {value}"))
        })?;
        check_range(param.key, n, min, max)?;
        Ok(Some(n))
    }

    /// A number in the described range. The described default when left
    /// out.
    ///
    /// # Errors
    /// When the value is not a number or is out of range.
    pub fn number(&mut self, key: &'static str) -> Result<Option<f64>, JobError> {
        let param = self.param(key, |k| matches!(k, ParamKind::Number { .. }))?;
        let ParamKind::Number { min, max } = param.kind else {
            unreachable!("checked by param()")
        };
        let Some(value) = self.get(param.key) else {
            return Ok(match param.default {
                ParamDefault::Number(n) => Some(n),
                ParamDefault::Integer(n) => Some(n as f64),
                _ => None,
            });
        };
        let n = match value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|f: &f64| f.is_finite())
        .ok_or_else(|| JobError::param(param.key, format!("must be a number, got {value}")))?;
        check_range(param.key, n, min, max)?;
        Ok(Some(n))
    }

    /// A string of the described choices or pattern, turned into a value by
    /// `parse` (which sees it as given; choices are compared lower-cased).
    /// The described default when left out.
    ///
    /// # Errors
    /// When the value is not a string or `parse` refuses it.
    pub fn choice<T>(
        &mut self,
        key: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, JobError> {
        let param = self.param(key, |k| {
            matches!(k, ParamKind::Choice(_) | ParamKind::Pattern { .. })
        })?;
        let allowed = match param.kind {
            ParamKind::Choice(allowed) => allowed.join(", "),
            _ => param.shape(),
        };
        let Some(value) = self.get(param.key) else {
            return match param.default {
                ParamDefault::Text(s) => parse(s).map(Some).ok_or_else(|| {
                    JobError::permanent(
                        ErrorCode::InternalError,
                        format!("JobParams.{key}: described default {s} does not parse"),
                    )
                }),
                _ => Ok(None),
            };
        };
        let as_given = value.as_str().map(str::trim);
        let listed = match (param.kind, as_given) {
            (ParamKind::Choice(list), Some(s)) => list.iter().any(|c| c.eq_ignore_ascii_case(s)),
            (_, given) => given.is_some(),
        };
        as_given
            .filter(|_| listed)
            .and_then(|s| match param.kind {
                ParamKind::Choice(_) => parse(&s.to_ascii_lowercase()),
                _ => parse(s),
            })
            .map(Some)
            .ok_or_else(|| {
                JobError::param(param.key, format!("must be one of {allowed}, got {value}"))
            })
    }

    /// The raw value of a structured key, for its own parser.
    ///
    /// # Errors
    /// Only when `key` is not described as structured.
    pub fn value(&mut self, key: &'static str) -> Result<Option<&'a serde_json::Value>, JobError> {
        let param = self.param(key, |k| matches!(k, ParamKind::Json { .. }))?;
        Ok(self.get(param.key))
    }

    /// A boolean; `"true"`/`"false"` strings are accepted. The described
    /// default when left out.
    ///
    /// # Errors
    /// When the value is neither.
    pub fn flag(&mut self, key: &'static str) -> Result<Option<bool>, JobError> {
        let param = self.param(key, |k| matches!(k, ParamKind::Flag))?;
        let Some(value) = self.get(param.key) else {
            return Ok(match param.default {
                ParamDefault::Flag(b) => Some(b),
                _ => None,
            });
        };
        match value {
            serde_json::Value::Bool(b) => Ok(Some(*b)),
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(JobError::param(
                param.key,
                format!("must be true or false, got {value}"),
            )),
        }
    }

    /// A string of at most the described length. The described default
    /// when left out.
    ///
    /// # Errors
    /// When the value is not a string or is too long.
    pub fn text(&mut self, key: &'static str) -> Result<Option<String>, JobError> {
        let param = self.param(key, |k| matches!(k, ParamKind::Text { .. }))?;
        let ParamKind::Text { max_len } = param.kind else {
            unreachable!("checked by param()")
        };
        let Some(value) = self.get(param.key) else {
            return Ok(match param.default {
                ParamDefault::Text(s) => Some(s.to_owned()),
                _ => None,
            });
        };
        let s = value
            .as_str()
            .ok_or_else(|| JobError::param(param.key, format!("must be a string, got {value}")))?;
        if s.chars().count() > max_len {
            return Err(JobError::param(
                param.key,
                format!("must be at most {max_len} characters"),
            ));
        }
        Ok(Some(s.to_owned()))
    }

    /// Refuses keys that the description does not name.
    ///
    /// # Errors
    /// Naming the first unknown key and listing the known ones.
    pub fn finish(self) -> Result<(), JobError> {
        let Some(map) = self.map else {
            return Ok(());
        };
        for key in map.keys() {
            if self.spec.get(key).is_none() {
                let known: Vec<&str> = self.spec.params.iter().map(|p| p.key).collect();
                return Err(JobError::param(
                    key,
                    format!("unknown key; known keys: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

fn check_range<T: PartialOrd + Display>(key: &str, n: T, min: T, max: T) -> Result<(), JobError> {
    if n >= min && n <= max {
        Ok(())
    } else {
        Err(JobError::param(
            key,
            format!("{n} is out of range {min}..={max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: ParamsSpec = ParamsSpec {
        params: &[
            Param::integer("Count", 1, 20, "How many.").default(ParamDefault::Integer(1)),
            Param::number("fps", 0.0, 10.0, "Rate."),
            Param::choice("Format", &["jpg", "png"], "Format.").default(ParamDefault::Text("jpg")),
            Param::of("sep", ParamKind::Flag, "Split.").default(ParamDefault::Flag(false)),
            Param::of("Name", ParamKind::Text { max_len: 4 }, "A name."),
        ],
        rules: &["Count is odd"],
    };

    fn reader(params: &serde_json::Value) -> ParamReader<'_> {
        ParamReader::new(params, &SPEC).expect("object")
    }

    #[test]
    fn a_key_given_twice_in_different_cases_is_refused() {
        let params = serde_json::json!({"count": 1, "Count": 2});
        let err = ParamReader::new(&params, &SPEC).expect_err("twice");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(err.message.contains("twice"), "{}", err.message);
        assert!(err.message.contains("count") && err.message.contains("Count"));
    }

    #[test]
    fn errors_name_the_key_and_the_described_range() {
        let params = serde_json::json!({"Count": 0});
        let err = reader(&params).int("Count").expect_err("zero");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(err.message.contains("Count") && err.message.contains("1..=20"));
    }

    #[test]
    fn described_defaults_apply_when_a_key_is_left_out() {
        let params = serde_json::json!({});
        let mut r = reader(&params);
        assert_eq!(r.int("Count").expect("ok"), Some(1));
        assert_eq!(r.number("fps").expect("ok"), None);
        assert_eq!(
            r.choice("Format", |s| Some(s.to_owned())).expect("ok"),
            Some("jpg".into())
        );
        assert_eq!(r.flag("sep").expect("ok"), Some(false));
        assert_eq!(r.text("Name").expect("ok"), None);
        r.finish().expect("nothing unknown");
    }

    #[test]
    fn keys_match_any_case_and_strings_hold_numbers() {
        let params = serde_json::json!({"count": "3", "FPS": 2.5, "format": "PNG"});
        let mut r = reader(&params);
        assert_eq!(r.int("Count").expect("ok"), Some(3));
        assert_eq!(r.number("fps").expect("ok"), Some(2.5));
        assert_eq!(
            r.choice("Format", |s| Some(s.to_owned())).expect("ok"),
            Some("png".into())
        );
        r.finish().expect("all known");
    }

    #[test]
    fn choices_outside_the_description_are_refused_even_if_the_parser_would_take_them() {
        let params = serde_json::json!({"Format": "gif"});
        let err = reader(&params)
            .choice("Format", |s| Some(s.to_owned()))
            .expect_err("gif is not described");
        assert!(err.message.contains("jpg, png"), "{}", err.message);
    }

    #[test]
    fn unknown_keys_are_refused_by_name_listing_the_described_ones() {
        let params = serde_json::json!({"Cuont": 3});
        let err = reader(&params).finish().expect_err("typo");
        assert!(err.message.contains("Cuont") && err.message.contains("Count, fps, Format"));
    }

    #[test]
    fn wrong_types_are_named() {
        let params = serde_json::json!({"Count": [1], "Format": 3, "Name": "toolong"});
        let mut r = reader(&params);
        assert!(r.int("Count").is_err());
        let err = r.choice("Format", |_| Some(())).expect_err("number");
        assert!(err.message.contains("Format"));
        let err = r.text("Name").expect_err("too long");
        assert!(err.message.contains("at most 4"), "{}", err.message);
    }

    #[test]
    fn reading_a_key_the_description_lacks_is_an_internal_error_not_a_panic() {
        let params = serde_json::json!({});
        let err = reader(&params).int("Width").expect_err("undescribed");
        assert_eq!(err.code, ErrorCode::InternalError);
        let err = reader(&params).flag("Count").expect_err("wrong kind");
        assert_eq!(err.code, ErrorCode::InternalError);
    }

    #[test]
    fn the_schema_carries_types_ranges_defaults_and_refuses_other_keys() {
        let schema = SPEC.json_schema("Thing", "does things");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["Count"]["maximum"], 20);
        assert_eq!(schema["properties"]["Count"]["default"], 1);
        assert_eq!(
            schema["properties"]["Format"]["enum"],
            serde_json::json!(["jpg", "png"])
        );
        assert_eq!(schema["properties"]["sep"]["type"], "boolean");
        assert_eq!(
            schema["x-order"],
            serde_json::json!(["Count", "fps", "Format", "sep", "Name"])
        );
        assert!(schema["description"]
            .as_str()
            .expect("text")
            .contains("Count is odd."));
        let table = SPEC.to_string();
        assert!(
            table.contains("integer 1..=20") && table.contains("Rule: Count is odd"),
            "{table}"
        );
    }
}
