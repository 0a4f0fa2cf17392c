// The console in headless Chromium (Debian's /usr/bin/chromium, driven by
// Playwright): upload a clip, submit Cover, wait for Success and see the
// cover images; then submit AudioBeatDetection on a click track and see
// the beat timeline. Prints one JSON line of what it saw; exits 1 on any
// failure, saying which step.
//
// Usage: node console.mjs BASE_URL CLIP CLICK_TRACK SCREENSHOT.png
import { chromium } from "playwright-core";

const [base, clip, clicks, screenshot] = process.argv.slice(2);
const seen = {};
let step = "launch";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  step = "open the console";
  await page.goto(base);
  await page.waitForSelector("body[data-ready=true]", { timeout: 15000 });
  seen.functions = await page.$$eval("#function option", (os) => os.map((o) => o.value));

  let previous = "";
  async function run(file, fn, params) {
    await page.setInputFiles("#file", file);
    await page.selectOption("#function", fn);
    for (const [key, value] of Object.entries(params)) {
      await page.fill(`#params [name=${key}]`, String(value));
    }
    await page.click("#submit");
    // The id of this submission, not the one before.
    await page.waitForFunction(
      (before) => { const s = document.querySelector("#submit-status"); return s.dataset.job && s.dataset.job !== before; },
      previous, { timeout: 30000 });
    const id = await page.getAttribute("#submit-status", "data-job");
    previous = id;
    await page.waitForSelector(`#jobs tr[data-job="${id}"][data-state=Success]`, { timeout: 120000 });
    await page.waitForSelector(`#detail[data-job="${id}"][data-state=Success]`, { timeout: 30000 });
    return id;
  }

  step = "Cover: upload, submit, wait for Success";
  seen.cover = await run(clip, "Cover", { Count: 2 });
  step = "Cover: the images load";
  await page.waitForFunction(
    () => [...document.querySelectorAll("#detail .covers img")].filter((i) => i.complete && i.naturalWidth > 0).length >= 2,
    null, { timeout: 20000 });
  seen.coverImages = await page.$$eval("#detail .covers img", (is) => is.filter((i) => i.naturalWidth > 0).length);
  await page.screenshot({ path: screenshot, fullPage: true });

  step = "AudioBeatDetection: upload, submit, wait for Success";
  seen.beats = await run(clicks, "AudioBeatDetection", {});
  step = "AudioBeatDetection: the timeline is drawn";
  await page.waitForSelector("#detail .timeline canvas[data-beats]", { timeout: 20000 });
  seen.beatCount = Number(await page.getAttribute("#detail .timeline canvas", "data-beats"));
  seen.rows = await page.$$eval("#jobs tbody tr", (rs) => rs.length);
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-beats.png"), fullPage: true });
  seen.pageErrors = errors;
  console.log(JSON.stringify(seen));
} catch (e) {
  console.log(JSON.stringify({ failedAt: step, error: String(e), seen }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
