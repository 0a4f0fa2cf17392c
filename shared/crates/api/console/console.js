// The iprod console: upload, submit with forms made from each function's
// params schema, a live job list, and a view of each job's results. Talks
// only to the HTTP API of the page's own origin; no build step.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};

// IAM credentials for a deployed API, kept for this tab only.
const credentials = () => JSON.parse(sessionStorage.getItem("iprod.credentials") || "null");

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const creds = credentials();
  if (creds && creds.bearer) {
    init.headers.authorization = `Bearer ${creds.bearer}`;
  } else if (creds) {
    init.headers = await iprodSigV4.sign({ method, url: new URL(path, location.href).href, headers: init.headers,
      body: init.body || "", region: creds.region, service: "execute-api", credentials: creds });
  }
  const response = await fetch(path, init);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(`${answer.Code || response.status}: ${answer.Message || response.statusText}`);
  }
  return answer;
}

// ---- the form -------------------------------------------------------------

let functions = [];

function paramField(key, schema) {
  const help = el("small", { text: schema.description || "" });
  let input;
  if (schema.enum) {
    input = el("select", { name: key, "data-kind": "string" }, el("option", { value: "", text: "(default)" }));
    for (const v of schema.enum) input.append(el("option", { value: v, text: v }));
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", { type: "number", name: key, "data-kind": schema.type, min: schema.minimum, max: schema.maximum, step: schema.type === "integer" ? 1 : "any", placeholder: schema.default ?? "" });
  } else if (schema.type === "boolean") {
    input = el("select", { name: key, "data-kind": "boolean" }, el("option", { value: "", text: "(default)" }), el("option", { value: "true", text: "true" }), el("option", { value: "false", text: "false" }));
  } else if (schema.type === "string") {
    input = el("input", { type: "text", name: key, "data-kind": "string", placeholder: schema.default ?? "" });
  } else {
    input = el("input", { type: "text", name: key, "data-kind": "json", placeholder: "JSON" });
  }
  if (schema.default !== undefined && schema.enum) input.title = `default ${schema.default}`;
  return el("label", {}, el("span", { text: key }), input, help);
}

function showParams() {
  const f = functions.find((f) => f.FunctionName === $("#function").value);
  const box = $("#params");
  box.replaceChildren(el("legend", { text: "JobParams" }));
  $("#function-summary").textContent = f ? f.Summary : "";
  const props = (f && f.Params && f.Params.properties) || {};
  const order = (f && f.Params && f.Params["x-order"]) || Object.keys(props);
  for (const key of order) if (props[key]) box.append(paramField(key, props[key]));
}

function readParams() {
  const params = {};
  for (const input of $("#params").querySelectorAll("input, select")) {
    const v = input.value.trim();
    if (v === "") continue;
    const kind = input.dataset.kind;
    if (kind === "integer" || kind === "number") params[input.name] = Number(v);
    else if (kind === "boolean") params[input.name] = v === "true";
    else if (kind === "json") {
      try { params[input.name] = JSON.parse(v); } catch { params[input.name] = v; }
    } else params[input.name] = v;
  }
  return params;
}

async function upload(file) {
  const asked = await api("POST", "/uploads", { FileName: file.name, ContentType: file.type || "application/octet-stream" });
  const up = asked.Upload;
  const response = await fetch(up.Url, { method: up.Method, headers: up.Headers, body: file });
  if (!response.ok) throw new Error(`upload failed: ${response.status}`);
  return asked.Input;
}

async function submit(event) {
  event.preventDefault();
  const status = $("#submit-status");
  const button = $("#submit");
  button.disabled = true;
  status.className = "";
  delete status.dataset.job;
  try {
    let input = $("#input").value.trim();
    const file = $("#file").files[0];
    if (file) {
      status.textContent = `Uploading ${file.name}...`;
      input = await upload(file);
      $("#input").value = input;
      $("#file").value = "";
    }
    if (!input) throw new Error("choose a file or name an input");
    const answer = await api("POST", "/jobs", { FunctionName: $("#function").value, Input: input, JobParams: readParams() });
    status.textContent = `Submitted ${answer.JobId}`;
    status.dataset.job = answer.JobId;
    await refresh();
    show(answer.JobId);
  } catch (e) {
    status.textContent = e.message;
    status.className = "error";
  } finally {
    button.disabled = false;
  }
}

// ---- the job list -----------------------------------------------------------

let shown = null;

async function refresh() {
  let page;
  try { page = await api("GET", "/jobs?MaxResults=25"); } catch { return; }
  const rows = page.Jobs.map((job) =>
    el("tr", { "data-job": job.JobId, "data-state": job.State, onclick: () => show(job.JobId) },
      el("td", { text: job.JobId.slice(0, 8) }),
      el("td", { text: job.FunctionName }),
      el("td", { class: `state state-${job.State}`, text: job.State }),
      el("td", { text: new Date(job.CreateTime).toLocaleTimeString() }),
      el("td", { text: job.Message || "" })));
  $("#jobs tbody").replaceChildren(...rows);
  const current = page.Jobs.find((j) => j.JobId === shown);
  if (current && $("#detail").dataset.state !== current.State) show(shown);
}

// ---- a job's results --------------------------------------------------------

const isImage = (f) => /\.(jpe?g|png|webp|gif)$/i.test(f);
const isVideo = (f) => /\.(mp4|webm|mov|m4v)$/i.test(f);

async function show(id) {
  shown = id;
  let answer;
  try { answer = await api("GET", `/jobs/${encodeURIComponent(id)}`); } catch (e) { return; }
  const job = answer.Job;
  const links = answer.Links || {};
  const detail = $("#detail");
  detail.hidden = false;
  detail.dataset.job = job.JobId;
  detail.dataset.state = job.State;
  $("#detail-title").textContent = `${job.FunctionName} ${job.JobId}: ${job.State}`;
  $("#detail-record pre").textContent = JSON.stringify(job, null, 2);
  const body = $("#detail-body");
  body.replaceChildren();
  if (job.State !== "Success") {
    body.append(el("p", { class: job.State === "Fail" ? "error" : "", text: job.Message || "Waiting..." }));
    return;
  }
  const data = (job.Result && job.Result.Data) || {};
  const inputLink = links[job.Input.Media];
  const files = job.OutputFiles || [];
  if (job.FunctionName === "Cover") {
    const covers = el("div", { class: "covers" });
    for (const c of data.Covers || []) {
      const url = links[c.File];
      covers.append(el("figure", {}, el("img", { src: url, alt: `cover at ${c.Time} ms` }), el("figcaption", { text: `score ${c.Score} at ${(c.Time / 1000).toFixed(2)} s` })));
    }
    body.append(covers);
  } else if (job.FunctionName === "CaptionExtraction") {
    const video = el("video", { src: inputLink, controls: "" });
    const list = el("ol", {});
    for (const c of data.Captions || []) {
      list.append(el("li", { onclick: () => { video.currentTime = c.Start; video.play(); }, text: `${c.Start.toFixed(2)}–${c.End.toFixed(2)} s  ${c.Text}` }));
    }
    body.append(el("div", { class: "captions" }, video, list));
  } else if (job.FunctionName === "AudioBeatDetection" || job.FunctionName === "MusicSegmentDetect") {
    body.append(await timeline(inputLink, data));
  } else {
    const after = files.find(isVideo);
    if (after && inputLink) {
      body.append(el("div", { class: "pair" },
        el("figure", {}, el("video", { src: inputLink, controls: "" }), el("figcaption", { text: "before" })),
        el("figure", {}, el("video", { src: links[after], controls: "" }), el("figcaption", { text: "after" }))));
    }
    const images = files.filter(isImage);
    if (images.length) {
      const box = el("div", { class: "covers" });
      for (const f of images) box.append(el("img", { src: links[f], alt: f }));
      body.append(box);
    }
  }
  const downloads = el("ul", {});
  for (const f of files) downloads.append(el("li", {}, el("a", { href: links[f] || "#", download: "", text: f.split("/").pop() })));
  body.append(el("h3", { text: "Files" }), downloads);
}

// Beats and sections over the waveform of the input.
async function timeline(url, data) {
  const canvas = el("canvas", { width: 1200, height: 160 });
  const beats = data.BeatList || [];
  const downs = new Set((data.DownBeatList || []).map((t) => t.toFixed(3)));
  const sections = data.Sections || [];
  canvas.dataset.beats = beats.length;
  canvas.dataset.sections = sections.length;
  const box = el("div", { class: "timeline" }, canvas,
    el("p", { class: "legend", text: `${beats.length} beats${data.Bpm ? `, ${data.Bpm} BPM` : ""}${sections.length ? `, ${sections.length} sections` : ""}` }));
  const g = canvas.getContext("2d");
  const duration = data.Duration || (beats.length ? beats[beats.length - 1] + 1 : 1);
  const x = (t) => (t / duration) * canvas.width;
  const colours = ["#dbe9fb", "#fde2c8", "#d7f0dd", "#f5d5e9", "#e6dcf7", "#fff2b3"];
  sections.forEach((s, i) => {
    g.fillStyle = s.Kind === "chorus" ? "#ffd8a8" : colours[i % colours.length];
    g.fillRect(x(s.Start), 0, x(s.End) - x(s.Start), canvas.height);
    g.fillStyle = "#333";
    g.font = "12px sans-serif";
    g.fillText(`${s.Label} ${s.Kind}`, x(s.Start) + 3, 14);
  });
  try {
    const bytes = await (await fetch(url)).arrayBuffer();
    const audio = await new (window.OfflineAudioContext || window.AudioContext)(1, 8000, 8000).decodeAudioData(bytes);
    const samples = audio.getChannelData(0);
    const per = Math.max(1, Math.floor(samples.length / canvas.width));
    g.fillStyle = "#6b7785";
    for (let px = 0; px < canvas.width; px++) {
      let lo = 0, hi = 0;
      for (let i = px * per; i < Math.min(samples.length, (px + 1) * per); i++) {
        lo = Math.min(lo, samples[i]);
        hi = Math.max(hi, samples[i]);
      }
      const mid = canvas.height / 2;
      g.fillRect(px, mid - hi * mid * 0.9, 1, Math.max(1, (hi - lo) * mid * 0.9));
    }
  } catch (e) {
    box.append(el("p", { class: "legend", text: "(waveform unavailable in this browser)" }));
  }
  for (const t of beats) {
    const down = downs.has(t.toFixed(3));
    g.fillStyle = down ? "#c62828" : "#0b63ce";
    g.fillRect(x(t), down ? 0 : canvas.height * 0.25, down ? 2 : 1, down ? canvas.height : canvas.height * 0.5);
  }
  return box;
}

// ---- start ------------------------------------------------------------------

function askForCredentials() {
  $("#sign-in").hidden = false;
  $("#key-region").value = iprodSigV4.regionOf(location.host) || "";
  $("#sign-in-form").onsubmit = (event) => {
    event.preventDefault();
    const bearer = $("#key-bearer").value.trim();
    sessionStorage.setItem("iprod.credentials", JSON.stringify(bearer ? { bearer } : {
      accessKeyId: $("#key-id").value.trim(), secretAccessKey: $("#key-secret").value.trim(),
      sessionToken: $("#key-token").value.trim() || undefined, region: $("#key-region").value.trim() }));
    location.reload();
  };
}

async function start() {
  try {
    functions = (await api("GET", "/functions")).Functions;
  } catch (e) {
    // API Gateway refuses unsigned (or badly signed) requests with 403.
    if (/^40[13]|Forbidden|Unauthorized|Missing Authentication|signature/i.test(e.message)) {
      sessionStorage.removeItem("iprod.credentials");
      askForCredentials();
    }
    $("#submit-status").textContent = e.message;
    return;
  }
  for (const f of functions) $("#function").append(el("option", { value: f.FunctionName, text: f.FunctionName }));
  $("#function").addEventListener("change", showParams);
  showParams();
  $("#job-form").addEventListener("submit", submit);
  document.body.dataset.ready = "true";
  await refresh();
  setInterval(refresh, 1500);
}

start();
