// Copyright 2026 the Duplex authors. MIT license.
// Headless Chromium for the browser tests: Debian's chromium, driven by
// playwright-core. CI (`.ci/run`) installs chromium and sets
// DUPLEX_REQUIRE_BROWSER=1, so a missing browser fails there; elsewhere
// the browser tests are skipped with a notice.
import { type Browser, chromium } from "npm:playwright-core@1.56.1";

/** Where the browser is: `CHROMIUM_PATH`, or Debian's. */
export const CHROMIUM_PATH: string = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

function available(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

const required = Deno.env.get("DUPLEX_REQUIRE_BROWSER") === "1";
const present = available();
if (!present && !required) {
  console.warn(
    `Skipping browser tests: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`,
  );
}

/** Registers a test that needs the browser: skipped without one, unless required. */
export function browserTest(name: string, fn: (browser: Browser) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !present && !required,
    async fn() {
      if (!present) {
        throw new Error(`No Chromium at ${CHROMIUM_PATH}: install it (apt-get install chromium)`);
      }
      const browser = await chromium.launch({
        executablePath: CHROMIUM_PATH,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-quic",
          "--disable-component-update",
          "--disable-sync",
        ],
      });
      try {
        await fn(browser);
      } finally {
        await browser.close();
      }
    },
  });
}
