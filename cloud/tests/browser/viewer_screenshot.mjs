// Opens the pose-cloud viewer in Debian's headless chromium (through playwright-core), waits until
// every camera tile shows frames, then writes a screenshot and prints one JSON line:
// {"tiles": [{"camera", "state", "x", "y", "width", "height"}], "errors": [...]}.
// Usage: node viewer_screenshot.mjs URL SCREENSHOT.png CAMERAS
import { launchChromium } from "./launch.mjs";

const [url, shot, cameras] = process.argv.slice(2);
const want = Number(cameras);
const errors = [];
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 560 } });
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  // Every tile's MJPEG image has decoded at least one frame.
  await page.waitForFunction((n) => {
    const imgs = [...document.querySelectorAll(".cam img")];
    return imgs.length >= n && imgs.every((i) => i.naturalWidth > 0);
  }, want, { timeout: 20000 });
  await page.waitForTimeout(1500); // a few more frames and one more API refresh
  await page.screenshot({ path: shot });
  const tiles = await page.$$eval(".cam", (els) => els.map((el) => {
    const r = el.querySelector("img").getBoundingClientRect();
    return { camera: el.dataset.camera, state: el.classList.contains("privacy") ? "privacy"
             : el.classList.contains("offline") ? "offline" : "live",
             x: r.x, y: r.y, width: r.width, height: r.height };
  }));
  console.log(JSON.stringify({ tiles, errors }));
} finally {
  await browser.close();
}
