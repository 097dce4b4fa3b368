#!/usr/bin/env node
// Score review files with a reviewscore deploy folder from Node.js, no Python:
//
//   node examples/node/score.mjs DEPLOY_DIR input.tsv [more files, or - for stdin] > submission.csv
//
// prints `PhraseId,Sentiment` CSV to stdout, as `reviewscore score --format kaggle` writes it.
// Tokenises with @huggingface/tokenizers (pure JS) from the folder's tokenizer.json and runs
// the variant's ONNX file with onnxruntime-node; both files are checked against the manifest's
// sha256 first. A summary goes to stderr; errors are one line, with exit status 1 (2: usage).

import { once } from "node:events";
import { readFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";

import { Tokenizer } from "@huggingface/tokenizers";
import ort from "onnxruntime-node";

import {
  DEFAULT_BATCH_TOKENS,
  DEFAULT_CHUNK_ROWS,
  ReviewscoreError,
  argmax,
  openDeployFolder,
  softmax,
  variantWarnings,
} from "../shared/reviewscore.mjs";
import { exactInt8Here, withExactInt8 } from "./lib/exact_int8.mjs";
import { folderReader } from "./lib/folder.mjs";
import { readChunks } from "./lib/rows.mjs";

const USAGE = `usage: node score.mjs DEPLOY_DIR INPUT... [options]

Score TSV/CSV review files (plain or gzip; - reads stdin) with a reviewscore deploy folder and
print PhraseId,Sentiment CSV to stdout, as \`reviewscore score --format kaggle\`.

options:
  --variant NAME        variant of the deploy folder (default: its manifest's default)
  --batch-tokens N      token budget of a batch, rows x longest row (default ${DEFAULT_BATCH_TOKENS})
  --chunk-rows N        rows read, scored and written at a time (default ${DEFAULT_CHUNK_ROWS})
  --threads N           onnxruntime intra-op threads (default: physical cores)
  --text-column NAME    column holding the text (default Phrase)
  --id-column NAME      column holding the id (default PhraseId)
  --label-column NAME   label column's name in the output header (default Sentiment)
  -h, --help            show this help

environment:
  REVIEWSCORE_EXACT_INT8=1|0  force exact int8 products on or off (default: on for CPUs
                              without VNNI or AMX, as \`reviewscore score\`)`;

class UsageError extends ReviewscoreError {
  constructor(message) {
    super(`${message} (${USAGE.split("\n")[0]}; --help for more)`, 2);
  }
}

function positiveInt(value, option) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option} must be a positive integer, not '${value}'`);
  return n;
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        variant: { type: "string" },
        "batch-tokens": { type: "string" },
        "chunk-rows": { type: "string" },
        threads: { type: "string" },
        "text-column": { type: "string", default: "Phrase" },
        "id-column": { type: "string", default: "PhraseId" },
        "label-column": { type: "string", default: "Sentiment" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError(error.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length < 2) throw new UsageError("give a deploy folder and at least one input file");
  const [deploy, ...inputs] = positionals;
  if (inputs.filter((p) => p === "-").length > 1) throw new UsageError("`-` (stdin) may be given only once");
  return {
    deploy,
    inputs,
    variant: values.variant,
    batchTokens: positiveInt(values["batch-tokens"], "--batch-tokens") ?? DEFAULT_BATCH_TOKENS,
    chunkRows: positiveInt(values["chunk-rows"], "--chunk-rows") ?? DEFAULT_CHUNK_ROWS,
    threads: positiveInt(values.threads, "--threads") ?? physicalCores(),
    textColumn: values["text-column"],
    idColumn: values["id-column"],
    labelColumn: values["label-column"],
  };
}

/** Physical cores where Linux says whether SMT is on, else logical (as the Python scorer). */
function physicalCores() {
  const logical = os.availableParallelism();
  try {
    const smt = readFileSync("/sys/devices/system/cpu/smt/active", "utf8").trim() === "1";
    return smt ? Math.max(1, Math.floor(logical / 2)) : logical;
  } catch {
    return logical;
  }
}

async function write(text) {
  if (!process.stdout.write(text)) await once(process.stdout, "drain");
}

async function main(argv) {
  const options = parseOptions(argv);
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const exactInt8 = exactInt8Here();
  const classifier = await openDeployFolder({
    read: folderReader(options.deploy),
    where: options.deploy,
    variant: options.variant,
    Tokenizer,
    ort,
    sessionOptions: withExactInt8({ intraOpNumThreads: options.threads, interOpNumThreads: 1 }, exactInt8),
  });
  const started = performance.now();
  let rows = 0;
  // The header goes out with the first rows (or at the end), so that input refused at its
  // header line leaves stdout empty.
  let header = `${options.idColumn},${options.labelColumn}\n`;
  for (const input of options.inputs) {
    for await (const chunk of readChunks(input, options)) {
      const logits = await classifier.logits(classifier.encode(chunk.texts), options.batchTokens);
      const lines = chunk.ids.map((id, i) => `${id},${argmax(softmax(logits[i]))}\n`);
      await write(header + lines.join(""));
      header = "";
      rows += chunk.ids.length;
    }
  }
  await write(header);
  const seconds = (performance.now() - started) / 1000;
  const rate = rows / Math.max(seconds, 1e-9);
  process.stderr.write(
    `scored ${rows.toLocaleString("en-US")} rows in ${seconds.toFixed(1)} s (${Math.round(rate)} rows/s) ` +
      `with onnxruntime-node ${ort.env.versions.common}, variant ${classifier.variant}, ${options.threads} thread(s)` +
      `${exactInt8 ? ", exact int8 mode" : ""}\n`,
  );
  for (const warning of variantWarnings(classifier.manifest, classifier.variant)) {
    process.stderr.write(`warning: ${warning}\n`);
  }
}

process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(0); // the reader went away (| head): not an error
  throw error;
});

main(process.argv.slice(2)).catch((error) => {
  if (error instanceof ReviewscoreError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  throw error;
});
