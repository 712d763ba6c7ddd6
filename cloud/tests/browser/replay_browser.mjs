// Opens a shared replay link of the pose-cloud viewer in Debian's headless chromium (through
// playwright-core), watches the replay at 1x, switches to 4x with the speed control, takes a
// screenshot, then presses "Live". Prints one JSON line with what the page showed:
// {"first", "at1", "at4", "url1", "url4", "live", "liveWallMs", "urlLive", "errors"}.
// Usage: node replay_browser.mjs BASE_URL CAMERA FROM SCREENSHOT.png
import { launchChromium } from "./launch.mjs";

const [base, camera, from, shot] = process.argv.slice(2);
const errors = [];
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}/cameras/${encodeURIComponent(camera)}/replay?from=${encodeURIComponent(from)}&speed=1`);
  await page.waitForFunction(() => window.replayLog && window.replayLog.length > 0, null, { timeout: 20000 });
  await page.waitForTimeout(3000);
  const at1 = await page.evaluate(() => window.replayLog.slice());
  const url1 = page.url();
  const switched = await page.evaluate(() => performance.now());
  await page.selectOption(".cam.big .replay .speed", "4");
  await page.waitForTimeout(4000);
  const at4 = await page.evaluate((t) => window.replayLog.filter((e) => e.at > t + 300), switched);
  const url4 = page.url();
  await page.screenshot({ path: shot });
  const before = await page.evaluate(() => performance.now());
  await page.click(".cam.big .replay .live");
  await page.waitForFunction((t) => window.lastLive && window.lastLive.at > t + 500, before, { timeout: 15000 });
  const live = await page.evaluate(() => window.lastLive);
  const liveWallMs = Date.now();
  const urlLive = page.url();
  console.log(JSON.stringify({ first: at1[0], at1, at4, url1, url4, live, liveWallMs, urlLive, errors }));
} finally {
  await browser.close();
}
