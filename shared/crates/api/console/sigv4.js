// AWS Signature Version 4 for the console's calls to a deployed API, whose
// REST routes take IAM-signed requests: the browser signs with credentials
// the user enters (kept for the tab's session only). WebCrypto does the
// hashing; nothing else is loaded.
"use strict";

(() => {
  const enc = new TextEncoder();
  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const sha256 = async (data) => hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? enc.encode(data) : data));
  const hmac = async (key, data) => {
    const k = await crypto.subtle.importKey("raw", typeof key === "string" ? enc.encode(key) : key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return crypto.subtle.sign("HMAC", k, enc.encode(data));
  };
  // RFC 3986: everything but unreserved characters, as AWS wants it.
  const uriEncode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());

  /// Headers that sign `method url` with `body` for `service` in `region`
  /// at `now` (a Date), given {accessKeyId, secretAccessKey, sessionToken}.
  async function sign({ method, url, headers = {}, body = "", region, service, credentials, now = new Date() }) {
    const u = new URL(url);
    const amzDate = now.toISOString().replace(/[:-]|\.\d{3}/g, "");
    const date = amzDate.slice(0, 8);
    const all = { ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v).trim()])), host: u.host, "x-amz-date": amzDate };
    if (credentials.sessionToken) all["x-amz-security-token"] = credentials.sessionToken;
    const names = Object.keys(all).sort();
    const canonicalHeaders = names.map((n) => `${n}:${all[n]}\n`).join("");
    const signedHeaders = names.join(";");
    // Outside S3, each path segment is encoded twice: once as sent, once
    // more here.
    const path = u.pathname.split("/").map((seg) => uriEncode(seg)).join("/") || "/";
    const query = [...u.searchParams.entries()]
      .map(([k, v]) => [uriEncode(k), uriEncode(v)])
      .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const payload = await sha256(body);
    const canonical = [method.toUpperCase(), path, query, canonicalHeaders, signedHeaders, payload].join("\n");
    const scope = `${date}/${region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256(canonical)].join("\n");
    let key = await hmac("AWS4" + credentials.secretAccessKey, date);
    for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
    const signature = hex(await hmac(key, toSign));
    const out = { ...headers, "x-amz-date": amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}` };
    if (credentials.sessionToken) out["x-amz-security-token"] = credentials.sessionToken;
    return out;
  }

  /// The region of an API Gateway host (abc.execute-api.eu-west-1.amazonaws.com).
  const regionOf = (host) => (host.match(/\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/) || [])[1];

  globalThis.iprodSigV4 = { sign, regionOf };
})();
