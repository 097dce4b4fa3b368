// The page: load an int8 variant of a reviewscore deploy folder served beside it, then score
// what is typed, one review per line, each in a batch of its own (so a review's label never
// depends on the others, even with dynamic int8, whose scales are computed per batch).
//
// ?deploy=URL   the deploy folder (default: deploy/ beside this page)
// ?variant=NAME a variant of it (default: int8-dynamic, else int8-static, else its default)

import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-web";

import {
  ReviewscoreError,
  argmax,
  loadManifest,
  openDeployFolder,
  softmax,
  variantWarnings,
} from "../shared/reviewscore.mjs";

const INT8_VARIANTS = ["int8-dynamic", "int8-static"];
const COLOURS = ["#c53030", "#dd6b20", "#718096", "#38a169", "#276749"];

const status = document.getElementById("status");
const form = document.getElementById("form");
const textarea = document.getElementById("reviews");
const button = document.getElementById("score");
const table = document.getElementById("results");

let model = ""; // what was loaded, for the status line

function show(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

/** `read(name)` for the shared module: fetch a file of the deploy folder as bytes. */
function fetcher(base) {
  return async (name) => {
    const url = new URL(name, base);
    let response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw new ReviewscoreError(`${url}: cannot fetch it (${error.message})`);
    }
    if (!response.ok) {
      const hint = name === "manifest.json" ? " (is a deploy folder served there?)" : "";
      throw new ReviewscoreError(`${url}: HTTP ${response.status} ${response.statusText}${hint}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  };
}

/** The variant to load: the one asked for, else the smallest int8 variant the folder has. */
function pickVariant(manifest, asked) {
  if (asked) return asked;
  return INT8_VARIANTS.find((name) => name in manifest.variants) ?? manifest.default_variant;
}

async function open() {
  const params = new URLSearchParams(location.search);
  let folder = params.get("deploy") ?? "deploy/";
  if (!folder.endsWith("/")) folder += "/";
  const base = new URL(folder, location.href);
  const read = fetcher(base);
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1;
  const manifest = await loadManifest(read, base.href.replace(/\/$/, ""));
  const variant = pickVariant(manifest, params.get("variant"));
  show("loading", `Loading ${variant} from ${base.href}…`);
  const classifier = await openDeployFolder({
    read,
    where: base.href.replace(/\/$/, ""),
    variant,
    Tokenizer,
    ort,
    sessionOptions: { executionProviders: ["wasm"] },
  });
  const note = INT8_VARIANTS.includes(classifier.variant) ? "" : " (this folder has no int8 variant)";
  model = `variant ${classifier.variant}${note}, max length ${manifest.max_length} tokens, onnxruntime-web ${ort.env.versions.web} (WebAssembly, ${ort.env.wasm.numThreads} thread(s))`;
  // Each review is its own batch here: batching cannot move a label, the rest still holds.
  const warnings = variantWarnings(manifest, classifier.variant, { rowsBatched: false });
  model += warnings.map((w) => `. Warning: ${w}`).join("");
  document.body.dataset.variant = classifier.variant;
  show("ready", `Ready: ${model}.`);
  return classifier;
}

function probabilityBars(labels, probs, top) {
  const bars = document.createElement("div");
  bars.className = "bars";
  labels.forEach((name, i) => {
    const label = document.createElement("span");
    label.textContent = `${i} ${name}`;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(probs[i] * 100).toFixed(1)}%`;
    fill.style.background = COLOURS[i % COLOURS.length];
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "num";
    value.textContent = probs[i].toFixed(3);
    if (i === top) {
      label.className = "top";
      value.className = "num top";
    }
    bars.append(label, bar, value);
  });
  return bars;
}

async function score(classifier) {
  const reviews = textarea.value.split("\n").filter((line) => line.trim() !== "");
  const body = table.tBodies[0];
  body.replaceChildren();
  const started = performance.now();
  for (const review of reviews) {
    const [logits] = await classifier.logits(classifier.encode([review]));
    const probs = softmax(logits);
    const top = argmax(probs);
    const row = body.insertRow();
    row.dataset.label = String(top);
    row.dataset.probs = JSON.stringify(probs);
    const text = row.insertCell();
    text.className = "review";
    text.textContent = review;
    const label = row.insertCell();
    label.className = "label";
    label.style.color = COLOURS[top % COLOURS.length];
    label.textContent = `${top} ${classifier.labels[top]}`;
    row.insertCell().append(probabilityBars(classifier.labels, probs, top));
  }
  table.hidden = reviews.length === 0;
  const ms = performance.now() - started;
  show("scored", `Scored ${reviews.length} review(s) in ${ms.toFixed(0)} ms; ${model}.`);
}

try {
  const classifier = await open();
  button.disabled = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    score(classifier).catch((error) => show("error", `Error: ${error.message}`));
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
} catch (error) {
  show("error", `Error: ${error.message}`);
  if (!(error instanceof ReviewscoreError)) throw error;
}
