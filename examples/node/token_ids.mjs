#!/usr/bin/env node
// The token ids the client feeds the model for each row of review files, one line per row:
//
//   node examples/node/token_ids.mjs DEPLOY_DIR/tokenizer.json MAX_LENGTH input.tsv [...] > ids.tsv
//
// `PhraseId<TAB>ids<TAB>token type ids`, space-separated, truncated to MAX_LENGTH as the
// scorer truncates (the manifest's max_length). tests/test_edge_node.py compares them with the
// Python tokenizer's on every phrase of the Kaggle files; it is also how to check that a new
// kind of tokenizer.json tokenises in JavaScript as it does in Python.

import { once } from "node:events";
import { readFile } from "node:fs/promises";

import { Tokenizer } from "@huggingface/tokenizers";

import { DEFAULT_CHUNK_ROWS, Encoder, ReviewscoreError } from "../shared/reviewscore.mjs";
import { readChunks } from "./lib/rows.mjs";

async function main([file, maxLength, ...inputs]) {
  const limit = Number(maxLength);
  if (!file || !Number.isInteger(limit) || limit < 1 || inputs.length === 0) {
    throw new ReviewscoreError("usage: node token_ids.mjs TOKENIZER_JSON MAX_LENGTH INPUT...", 2);
  }
  let json;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new ReviewscoreError(`${file}: cannot read it as JSON: ${error.message}`);
  }
  const encoder = new Encoder(new Tokenizer(json, {}), limit, true);
  const options = { textColumn: "Phrase", idColumn: "PhraseId", chunkRows: DEFAULT_CHUNK_ROWS };
  for (const input of inputs) {
    for await (const chunk of readChunks(input, options)) {
      const lines = chunk.texts.map((text, i) => {
        const { ids, typeIds } = encoder.encode(text);
        return `${chunk.ids[i]}\t${ids.join(" ")}\t${typeIds.join(" ")}\n`;
      });
      if (!process.stdout.write(lines.join(""))) await once(process.stdout, "drain");
    }
  }
}

main(process.argv.slice(2)).catch((error) => {
  if (error instanceof ReviewscoreError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  throw error;
});
