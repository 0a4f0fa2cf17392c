//! Alibaba Cloud's RPC form of the API, so that an existing MPS client
//! works by changing its endpoint and keys: `POST /?FunctionName=...` with
//! the action in the `x-acs-action` header (the current SDKs, signed with
//! ACS3-HMAC-SHA256) or in `?Action=` (older SDKs, signature version 1.0,
//! HMAC-SHA1), answered in Alibaba's shapes.
//!
//! Actions: `SubmitIProductionJob` and `QueryIProductionJob`. `oss://`
//! locations are read as the `s3://` bucket of the same name. Accepted and
//! ignored: `ModelId`, `NotifyUrl` (notifications go to the stack's SNS
//! topic), `PipelineId`, `ScheduleParams` and the owner parameters.

use std::collections::{BTreeMap, HashMap};

use axum::http::{HeaderMap, Method, StatusCode};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// Most a signed request's time may differ from ours.
pub const MAX_SKEW: chrono::Duration = chrono::Duration::minutes(15);

/// The API version Alibaba's SDKs send.
pub const VERSION: &str = "2014-06-18";

/// Everything but RFC 3986's unreserved characters is encoded.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How requests in the Alibaba form are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signatures {
    /// Refused: no keys are configured (a deployed stack without them).
    Off,
    /// Any signature, or none, is accepted (`iprod serve` without keys,
    /// which says so when it starts).
    Any,
    /// Signed with one of these keys.
    Keys(AccessKeys),
}

/// Access-key pairs a signed request may use: AccessKeyId to secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AccessKeys(HashMap<String, String>);

impl std::fmt::Debug for AccessKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl AccessKeys {
    /// From `id:secret` pairs, comma-separated, or a JSON object
    /// `{"id": "secret"}` (a Secrets Manager secret).
    ///
    /// # Errors
    /// When neither shape parses, or there is no pair.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let pairs: HashMap<String, String> = if text.starts_with('{') {
            serde_json::from_str(text)
                .map_err(|e| format!("access keys: not a JSON object of id to secret: {e}"))?
        } else {
            text.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.split_once(':')
                        .map(|(id, secret)| (id.trim().to_owned(), secret.trim().to_owned()))
                        .ok_or_else(|| "access keys: expected id:secret pairs".to_owned())
                })
                .collect::<Result<_, _>>()?
        };
        if pairs.is_empty() || pairs.iter().any(|(id, s)| id.is_empty() || s.is_empty()) {
            return Err("access keys: no id:secret pair".to_owned());
        }
        Ok(Self(pairs))
    }

    fn secret(&self, id: &str) -> Result<&str, ApiError> {
        self.0.get(id).map(String::as_str).ok_or_else(|| {
            refused(
                "InvalidAccessKeyId.NotFound",
                format!("AccessKeyId {id} is not known here"),
            )
        })
    }
}

fn refused(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

fn bad(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// `text` percent-encoded as both signatures want it (RFC 3986).
pub(crate) fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE).to_string()
}

/// The parameters of a query string (or form body), decoded.
pub fn parse_params(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| bad("InvalidParameter", "the query string is not UTF-8"))
            };
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// A request as the signatures see it.
#[derive(Debug)]
pub struct Signed<'a> {
    /// `GET` or `POST`.
    pub method: &'a Method,
    /// The decoded query parameters, in order.
    pub query: &'a [(String, String)],
    /// Decoded form-body parameters (V1 signs them too).
    pub form: &'a [(String, String)],
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body as received.
    pub body: &'a [u8],
}

/// Checks the request's signature against `keys`; returns the AccessKeyId
/// it was signed with.
///
/// # Errors
/// `IncompleteSignature`, `SignatureDoesNotMatch`, `InvalidTimeStamp.Expired`
/// or `InvalidAccessKeyId.NotFound` (HTTP 400 or 403).
pub fn verify(
    keys: &AccessKeys,
    request: &Signed<'_>,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(auth) = header("authorization") {
        return verify_acs3(keys, request, auth, now);
    }
    if request.query.iter().any(|(k, _)| k == "Signature") {
        return verify_v1(keys, request, now);
    }
    Err(bad(
        "MissingSignature",
        "the request is not signed (ACS3-HMAC-SHA256 Authorization header, or a version 1.0 Signature parameter)",
    ))
}

fn check_time(given: Option<&str>, what: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let time = given
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| {
            bad(
                "MissingTimestamp",
                format!("{what} is missing or not an ISO 8601 UTC time"),
            )
        })?;
    if (now - time.to_utc()).abs() > MAX_SKEW {
        return Err(refused(
            "InvalidTimeStamp.Expired",
            format!(
                "{what} {} is more than 15 minutes from the server's time {now}",
                time.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

fn same(a: &str, b: &str) -> bool {
    // Constant time in the length of the signature.
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn verify_acs3(
    keys: &AccessKeys,
    request: &Signed<'_>,
    auth: &str,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let incomplete = || {
        bad("IncompleteSignature", "the Authorization header is not ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...")
    };
    let rest = auth
        .strip_prefix("ACS3-HMAC-SHA256 ")
        .ok_or_else(incomplete)?;
    let mut fields = HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(incomplete)?;
        fields.insert(k, v);
    }
    let (Some(id), Some(signed), Some(signature)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return Err(incomplete());
    };
    let secret = keys.secret(id)?;
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    check_time(header("x-acs-date"), "x-acs-date", now)?;
    let payload = hex(&Sha256::digest(request.body));
    if header("x-acs-content-sha256").is_some_and(|h| !h.eq_ignore_ascii_case(&payload)) {
        return Err(refused(
            "SignatureDoesNotMatch",
            "x-acs-content-sha256 is not the body's SHA-256",
        ));
    }
    let names: Vec<&str> = signed.split(';').collect();
    for required in ["host", "x-acs-date", "x-acs-action"] {
        if !names.contains(&required) {
            return Err(bad(
                "IncompleteSignature",
                format!("SignedHeaders must include {required}"),
            ));
        }
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let mut values: Vec<String> = request
            .headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .collect();
        values.sort();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let mut query: Vec<(String, String)> = request.query.to_vec();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let canonical = format!(
        "{}\n/\n{canonical_query}\n{canonical_headers}\n{signed}\n{}",
        request.method,
        header("x-acs-content-sha256").map_or(payload.clone(), str::to_owned)
    );
    let to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| refused("SignatureDoesNotMatch", "unusable secret"))?;
    mac.update(to_sign.as_bytes());
    if !same(&hex(&mac.finalize().into_bytes()), signature) {
        return Err(refused(
            "SignatureDoesNotMatch",
            "the ACS3-HMAC-SHA256 signature does not match; check the AccessKeySecret",
        ));
    }
    Ok((*id).to_owned())
}

fn verify_v1(
    keys: &AccessKeys,
    request: &Signed<'_>,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let all: Vec<&(String, String)> = request.query.iter().chain(request.form).collect();
    let get = |name: &str| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("SignatureMethod") != Some("HMAC-SHA1") || get("SignatureVersion") != Some("1.0") {
        return Err(bad(
            "IncompleteSignature",
            "version 1.0 signatures must be SignatureMethod=HMAC-SHA1, SignatureVersion=1.0",
        ));
    }
    let id =
        get("AccessKeyId").ok_or_else(|| bad("IncompleteSignature", "AccessKeyId is missing"))?;
    let secret = keys.secret(id)?;
    check_time(get("Timestamp"), "Timestamp", now)?;
    let given = get("Signature").unwrap_or_default();
    let mut sorted: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in &all {
        if k != "Signature" {
            sorted.insert(k.as_str(), v.as_str());
        }
    }
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{}&%2F&{}", request.method, encode(&canonical));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .map_err(|_| refused("SignatureDoesNotMatch", "unusable secret"))?;
    mac.update(to_sign.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if !same(&expected, given) {
        return Err(refused(
            "SignatureDoesNotMatch",
            "the version 1.0 signature does not match; check the AccessKeySecret",
        ));
    }
    Ok(id.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `oss://bucket/key` read as `s3://bucket/key`; anything else as given.
pub fn location(given: &str) -> String {
    match given.trim().strip_prefix("oss://") {
        Some(rest) => format!("s3://{rest}"),
        None => given.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn keys() -> AccessKeys {
        AccessKeys::parse("AKID:SECRET").expect("keys")
    }

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).expect("time").to_utc()
    }

    /// What `alibabacloud-mts20140618` 6.0.3 sent for
    /// SubmitIProductionJob, signed with AKID / SECRET.
    fn acs3_request() -> (Vec<(String, String)>, HeaderMap) {
        let query = parse_params(
            "FunctionName=Cover&Input=oss%3A%2F%2Fb%2Fk.mp4&JobParams=%7B%22Count%22%3A2%7D&Output=oss%3A%2F%2Fb%2Fout%2F%7Bsource%7D.jpg&UserData=u",
        )
        .expect("query");
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("host", "127.0.0.1:18099"),
            ("x-acs-version", "2014-06-18"),
            ("x-acs-action", "SubmitIProductionJob"),
            ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"),
            ("x-acs-date", "2026-12-06T07:16:19Z"),
            ("x-acs-signature-nonce", "3336fbd790d70791e02cde84d3ac3b62"),
            ("accept", "application/json"),
            ("x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("x-acs-credentials-provider", "static_ak"),
            ("authorization", "ACS3-HMAC-SHA256 Credential=AKID,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=053b6d995e5be1688d6562e26db9f3f705485e5f5423e438ce9017d7d83c7ae3"),
        ] {
            headers.insert(k, HeaderValue::from_static(v));
        }
        (query, headers)
    }

    #[test]
    fn the_current_sdks_acs3_signature_verifies_and_a_changed_request_does_not() {
        let (query, headers) = acs3_request();
        let signed = |query: &[(String, String)], headers: &HeaderMap| {
            verify(
                &keys(),
                &Signed {
                    method: &Method::POST,
                    query,
                    form: &[],
                    headers,
                    body: b"",
                },
                at("2026-12-06T07:20:00Z"),
            )
        };
        assert_eq!(signed(&query, &headers).expect("valid"), "AKID");

        let mut changed = query.clone();
        changed[0].1 = "VideoH2V".into();
        assert_eq!(
            signed(&changed, &headers).expect_err("changed").code,
            "SignatureDoesNotMatch"
        );
        let other = AccessKeys::parse("AKID:OTHER").expect("keys");
        let err = verify(
            &other,
            &Signed {
                method: &Method::POST,
                query: &query,
                form: &[],
                headers: &headers,
                body: b"",
            },
            at("2026-12-06T07:20:00Z"),
        );
        assert_eq!(err.expect_err("wrong secret").code, "SignatureDoesNotMatch");
        let late = verify(
            &keys(),
            &Signed {
                method: &Method::POST,
                query: &query,
                form: &[],
                headers: &headers,
                body: b"",
            },
            at("2026-12-06T08:00:00Z"),
        );
        assert_eq!(
            late.expect_err("replayed later").code,
            "InvalidTimeStamp.Expired"
        );
        let unknown = AccessKeys::parse("SOMEONE:SECRET").expect("keys");
        let err = verify(
            &unknown,
            &Signed {
                method: &Method::POST,
                query: &query,
                form: &[],
                headers: &headers,
                body: b"",
            },
            at("2026-12-06T07:20:00Z"),
        );
        assert_eq!(
            err.expect_err("unknown id").code,
            "InvalidAccessKeyId.NotFound"
        );
        let body = verify(
            &keys(),
            &Signed {
                method: &Method::POST,
                query: &query,
                form: &[],
                headers: &headers,
                body: b"x",
            },
            at("2026-12-06T07:20:00Z"),
        );
        assert_eq!(
            body.expect_err("body changed").code,
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn the_older_sdks_version_1_signature_verifies_and_a_changed_request_does_not() {
        // What aliyun-python-sdk-mts 3.3.46 (core 2.16.1) sent.
        let query = parse_params("FunctionName=Cover&Input=oss%3A%2F%2Fb%2Fk.mp4&Output=oss%3A%2F%2Fb%2Fo%2F&JobParams=%7B%22Count%22%3A2%7D&Version=2014-06-18&Action=SubmitIProductionJob&Format=JSON&RegionId=cn-shanghai&Timestamp=2026-12-06T07%3A16%3A25Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=6c73475eb74ec16c5c11c7dd74bc380a&AccessKeyId=AKID&Signature=O8sakNlVLun4CXsW8KX9Oq1wWBs%3D").expect("query");
        let headers = HeaderMap::new();
        let check = |query: &[(String, String)], method: &Method| {
            verify(
                &keys(),
                &Signed {
                    method,
                    query,
                    form: &[],
                    headers: &headers,
                    body: b"",
                },
                at("2026-12-06T07:17:00Z"),
            )
        };
        assert_eq!(check(&query, &Method::POST).expect("valid"), "AKID");
        assert_eq!(
            check(&query, &Method::GET).expect_err("other method").code,
            "SignatureDoesNotMatch"
        );
        let mut changed = query.clone();
        changed[3].1 = "{\"Count\":20}".into();
        assert_eq!(
            check(&changed, &Method::POST).expect_err("changed").code,
            "SignatureDoesNotMatch"
        );
        let unsigned: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "Signature")
            .cloned()
            .collect();
        assert_eq!(
            check(&unsigned, &Method::POST).expect_err("unsigned").code,
            "MissingSignature"
        );
    }

    #[test]
    fn keys_parse_from_pairs_or_a_secret_s_json_and_hide_their_secrets() {
        let keys = AccessKeys::parse(r#"{"AKID": "SECRET", "B": "S2"}"#).expect("json");
        assert_eq!(keys.secret("B").expect("B"), "S2");
        assert!(!format!("{keys:?}").contains("SECRET"));
        assert!(AccessKeys::parse("nocolon").is_err());
        assert!(AccessKeys::parse("").is_err());
        assert_eq!(location("oss://b/k.mp4"), "s3://b/k.mp4");
        assert_eq!(location("s3://b/k.mp4"), "s3://b/k.mp4");
    }
}
