// Watches one camera tile of the pose-cloud viewer in Debian's headless chromium for a while and
// reports what the page showed over time, so a test can tell when the picture froze and when it
// moved again. Every 250 ms it draws the tile's image into a small canvas and hashes the pixels.
// Prints one JSON line per sample as it is taken, {"t": ms since epoch, "width", "hash"}, and
// at the end {"errors": [...]}.
// Usage: node viewer_watch.mjs URL SECONDS CAMERA
import { launchChromium } from "./launch.mjs";

const [url, seconds, camera] = process.argv.slice(2);
const errors = [];
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 480 } });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    const s = await page.evaluate((cam) => {
      const img = document.querySelector(`.cam[data-camera="${cam}"] img`);
      if (!img || img.naturalWidth === 0) return { width: 0, hash: 0 };
      const c = document.createElement("canvas");
      c.width = 32; c.height = 24;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0, 32, 24);
      let h = 2166136261;
      for (const v of g.getImageData(0, 0, 32, 24).data) h = Math.imul(h ^ v, 16777619) >>> 0;
      return { width: img.naturalWidth, hash: h };
    }, camera);
    console.log(JSON.stringify({ t: Date.now(), ...s }));
    await page.waitForTimeout(250);
  }
  console.log(JSON.stringify({ errors }));
} finally {
  await browser.close();
}
