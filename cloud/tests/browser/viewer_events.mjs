// Opens the pose-cloud viewer in Debian's headless chromium and waits until one camera's tile
// lists at least N events (the analytics' pose.events), or SECONDS pass. Prints one JSON line:
// {"events": [{"class", "text"}...], "errors": [...]}.
// Usage: node viewer_events.mjs URL CAMERA N SECONDS
import { launchChromium } from "./launch.mjs";

const [url, camera, n, seconds] = process.argv.slice(2);
const errors = [];
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url);
  const end = Date.now() + Number(seconds) * 1000;
  let events = [];
  while (Date.now() < end) {
    events = await page.evaluate((cam) => [...document.querySelectorAll(`.cam[data-camera="${cam}"] .events li`)]
      .map((li) => ({ class: li.className, text: li.textContent })), camera);
    if (events.length >= Number(n)) break;
    await page.waitForTimeout(250);
  }
  console.log(JSON.stringify({ events, errors }));
} finally {
  await browser.close();
}
