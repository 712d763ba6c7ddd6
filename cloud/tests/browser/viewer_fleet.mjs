// Opens the pose-cloud viewer with many cameras in one tab of Debian's headless chromium (through
// playwright-core), over http:// or https:// (a self-signed certificate is accepted), and:
// 1. waits until every tile has decoded a picture, and two more refreshes of /api/cameras happen
//    (the page's polling must not queue behind the frames), then writes a screenshot;
// 2. shrinks the window so only the first rows are in view and reads /api/cameras again: the
//    cameras whose tiles are out of view should have no viewer (nothing is sent to them);
// 3. tells the page its tab is hidden and reads /api/cameras again: no camera should have one.
// Prints one JSON line: {"tiles": [{"camera", "state", "x", "y", "width", "height",
// "naturalWidth"}], "summary", "refreshes", "viewersOutOfView": {camera: viewers},
// "viewersHidden": {camera: viewers}, "errors"}.
// Usage: node viewer_fleet.mjs URL SCREENSHOT.png CAMERAS
import { launchChromium } from "./launch.mjs";

const [url, shot, cameras] = process.argv.slice(2);
const want = Number(cameras);
const errors = [];
const browser = await launchChromium();
try {
  const context = await browser.newContext({
    viewport: { width: 1400, height: 1250 },
    ignoreHTTPSErrors: true,
  });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  let refreshes = 0;
  page.on("requestfinished", (r) => { if (r.url().endsWith("/api/cameras")) refreshes++; });
  await page.goto(url);
  await page.waitForFunction((n) => {
    const imgs = [...document.querySelectorAll(".cam img")];
    return imgs.length >= n && imgs.every((i) => i.naturalWidth > 0);
  }, want, { timeout: 30000 });
  const before = refreshes;
  await page.waitForTimeout(2500); // more frames, and two more refreshes of the camera list
  const polled = refreshes - before;
  await page.screenshot({ path: shot });
  const tiles = await page.$$eval(".cam", (els) => els.map((el) => {
    const img = el.querySelector("img");
    const r = img.getBoundingClientRect();
    const state = ["live", "privacy", "stalled", "offline"].find((s) => el.classList.contains(s));
    return { camera: el.dataset.camera, state, x: r.x, y: r.y, width: r.width, height: r.height,
             naturalWidth: img.naturalWidth };
  }));
  const summary = await page.$eval("#summary", (el) => el.textContent);
  const undecodable = await page.evaluate(() => undecodable);

  // Only the first rows in view: the others are unsubscribed.
  await page.setViewportSize({ width: 1400, height: 360 });
  await page.waitForTimeout(1500);
  const cams = await page.evaluate(async () =>
    (await (await fetch("/api/cameras", { cache: "no-store" })).json()));
  const viewersOutOfView = {};
  for (const c of cams) viewersOutOfView[c.id] = c.viewers;

  // The tab goes to the background (as the browser reports it to the page): nothing is sent.
  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await page.waitForTimeout(1500);
  const hidden = await page.evaluate(async () =>
    (await (await fetch("/api/cameras", { cache: "no-store" })).json()));
  const viewersHidden = {};
  for (const c of hidden) viewersHidden[c.id] = c.viewers;
  console.log(JSON.stringify({ tiles, summary, refreshes: polled, viewersOutOfView, viewersHidden,
                               undecodable, errors }));
} finally {
  await browser.close();
}
