// The console's SigV4 signer against AWS's published test vectors and a
// request botocore signed (execute-api, POST with a body, a session token).
// Prints "ok N" or the first mismatch; exits 1 on a mismatch.
import "../../shared/crates/api/console/sigv4.js";

const { sign, regionOf } = globalThis.iprodSigV4;
const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const cases = [
  {
    name: "get-vanilla (AWS test suite)",
    request: { method: "GET", url: "https://example.amazonaws.com/", region: "us-east-1", service: "service",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: secret }, now: new Date("2015-08-30T12:36:00Z") },
    signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  },
  {
    name: "get-vanilla-query-order-key-case (AWS test suite)",
    request: { method: "GET", url: "https://example.amazonaws.com/?Param2=value2&Param1=value1", region: "us-east-1", service: "service",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: secret }, now: new Date("2015-08-30T12:36:00Z") },
    signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
  },
  {
    name: "POST /jobs/x%20y to execute-api with a session token (botocore 1.x)",
    request: { method: "POST", url: "https://abc123.execute-api.eu-west-1.amazonaws.com/jobs/x%20y?MaxResults=5&FunctionName=Cover",
      headers: { "content-type": "application/json" }, body: '{"FunctionName":"Cover","Input":"s3://in/a b.mp4"}',
      region: "eu-west-1", service: "execute-api",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: secret, sessionToken: "session-token-example" },
      now: new Date("2026-12-06T07:35:36Z") },
    signature: "0c2bee323bf42be51c9a36aefe1fe42f6fdc45ed17662b782effb629460fd15c",
  },
];
let failed = 0;
for (const c of cases) {
  const headers = await sign(c.request);
  const got = headers.authorization.split("Signature=")[1];
  if (got !== c.signature) {
    console.log(`${c.name}: got ${got}, want ${c.signature}\n${headers.authorization}`);
    failed++;
  }
}
if (regionOf("abc123.execute-api.eu-west-1.amazonaws.com") !== "eu-west-1") {
  console.log("regionOf");
  failed++;
}
console.log(failed ? `failed ${failed}` : `ok ${cases.length}`);
process.exitCode = failed ? 1 : 0;
