#!/usr/bin/env node
// Drive the page in headless Chromium as a person would: open it, wait for the model, type
// reviews, press Score, read what the page shows and take a screenshot.
//
//   node examples/web/check_page.mjs URL REVIEWS.txt SCREENSHOT.png [--width 1000]
//
// URL is the page as served (e.g. http://127.0.0.1:8000/web/?deploy=...); REVIEWS.txt holds
// one review per line. Prints one JSON object to stdout: {status, variant, rows: [{review,
// label, probs}]}. Chromium is Debian's (/usr/bin/chromium; CHROMIUM=path for another), run
// with a new empty profile and no network but the page's. tests/test_edge_web.py runs it.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { chromium } from "playwright-core";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const TIMEOUT_MS = 120_000;

function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

async function main([url, reviewsFile, screenshot, ...rest]) {
  if (!url || !reviewsFile || !screenshot) {
    fail("usage: node check_page.mjs URL REVIEWS.txt SCREENSHOT.png [--width PIXELS]");
  }
  const width = rest[0] === "--width" ? Number(rest[1]) : 1000;
  const reviews = (await readFile(reviewsFile, "utf8")).replace(/\n$/, "");
  const profile = await mkdtemp(path.join(os.tmpdir(), "reviewscore-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width, height: 700 },
    timeout: TIMEOUT_MS,
  });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    await page.goto(url, { timeout: TIMEOUT_MS });
    const state = '#status[data-state="ready"], #status[data-state="error"]';
    await page.waitForSelector(state, { timeout: TIMEOUT_MS });
    const ready = await page.textContent("#status");
    if ((await page.getAttribute("#status", "data-state")) === "error") {
      await page.screenshot({ path: screenshot, fullPage: true });
      fail(`the page did not load its model: ${ready} ${problems.join("; ")}`);
    }
    await page.fill("#reviews", reviews);
    await page.click("#score");
    await page.waitForSelector('#status[data-state="scored"], #status[data-state="error"]', {
      timeout: TIMEOUT_MS,
    });
    const rows = await page.$$eval("#results tbody tr", (trs) =>
      trs.map((tr) => ({
        review: tr.cells[0].textContent,
        label: Number(tr.dataset.label),
        probs: JSON.parse(tr.dataset.probs),
      })),
    );
    await page.screenshot({ path: screenshot, fullPage: true });
    const scored = await page.textContent("#status");
    const variant = await page.getAttribute("body", "data-variant");
    process.stdout.write(`${JSON.stringify({ status: scored, ready, variant, rows, problems })}\n`);
  } finally {
    await browser.close();
    await rm(profile, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((error) => fail(error.message.split("\n")[0]));
