// A reviewscore deploy folder in JavaScript: the one module the Node.js client (examples/node)
// and the browser page (examples/web) share, so both tokenise, pad and batch the same way.
//
// It mirrors the Python scorer (src/reviewscore/score/classifier.py, padding.py, batching.py):
// truncation to the manifest's max_length with the special tokens kept, only the inputs the
// graph takes, padding on the manifest's side with its pad ids, rows sorted by length and cut
// into token-budget batches. Those choices are what make its labels equal `reviewscore score`'s.
//
// It imports nothing: the caller passes the tokenizer class (@huggingface/tokenizers, pure JS)
// and the onnxruntime module (onnxruntime-node or onnxruntime-web), and reads files its own way
// (fs in Node, fetch in a page). SHA-256 comes from Web Crypto, which both provide.

const FORMAT = "reviewscore-deploy/1";
export const DEFAULT_BATCH_TOKENS = 4096; // reviewscore.score.batching
const MAX_BATCH_ROWS = 512;
export const DEFAULT_CHUNK_ROWS = 8192; // reviewscore.data.reader

/** A problem the user can act on: printed as one line, no stack trace. */
export class ReviewscoreError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.name = "ReviewscoreError";
    this.exitCode = exitCode;
  }
}

const isInt = (v) => Number.isInteger(v);
const isNamedList = (v) =>
  Array.isArray(v) && v.length > 0 && v.every((x) => x && typeof x.name === "string");

// The manifest fields this module reads and what each must be (deploy_folder.py's FIELDS).
const FIELDS = {
  files: ["a mapping of file name to sha256", (v) => v && typeof v === "object" && !Array.isArray(v)],
  labels: [
    "a non-empty list of label names",
    (v) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string"),
  ],
  max_length: ["a positive integer", (v) => isInt(v) && v > 0],
  tokenizer: ["a file name", (v) => typeof v === "string"],
  inputs: ["a non-empty list of named inputs", isNamedList],
  outputs: ["a non-empty list of named outputs", isNamedList],
  pad_token_id: ["an integer", isInt],
  default_variant: ["a variant name", (v) => typeof v === "string"],
  variants: [
    "a mapping of variant name to an entry with its file",
    (v) =>
      v && typeof v === "object" && Object.values(v).every((e) => e && typeof e.file === "string"),
  ],
};
const OPTIONAL = {
  pad_token_type_id: ["an integer", isInt],
  padding_side: ["'left' or 'right'", (v) => v === "left" || v === "right"],
};
const KNOWN_INPUTS = new Set(["input_ids", "attention_mask", "token_type_ids"]);

/** Check the manifest's fields (`where` names it in messages); returns it. */
function checkManifest(manifest, where) {
  if (!manifest || typeof manifest !== "object" || manifest.format !== FORMAT) {
    const found = manifest && typeof manifest === "object" ? manifest.format : manifest;
    throw new ReviewscoreError(`${where}: unknown format ${JSON.stringify(found)} (expected ${FORMAT})`);
  }
  for (const [key, [expected, valid]] of Object.entries(FIELDS)) {
    if (!(key in manifest)) {
      throw new ReviewscoreError(`${where}: no '${key}'; re-export the folder with \`reviewscore export\``);
    }
    if (!valid(manifest[key])) {
      throw new ReviewscoreError(`${where}: '${key}' must be ${expected}; re-export the folder`);
    }
  }
  for (const [key, [expected, valid]] of Object.entries(OPTIONAL)) {
    if (key in manifest && !valid(manifest[key])) {
      throw new ReviewscoreError(`${where}: '${key}' must be ${expected}; re-export the folder`);
    }
  }
  // reviewscore.deploy_folder.is_finished: a killed export's staging folder has hashes but
  // neither the shape checks nor the parity figures of the export's last manifest write.
  if (!("shape_checks" in manifest) || !("parity" in manifest || manifest.parity_checked === false)) {
    throw new ReviewscoreError(
      `${where}: its export did not finish (the manifest has no shape or parity checks); export again with \`reviewscore export\``,
    );
  }
  for (const { name } of manifest.inputs) {
    if (!KNOWN_INPUTS.has(name)) {
      throw new ReviewscoreError(
        `${where}: the model takes an input '${name}' this client cannot build ` +
          "(it builds input_ids, attention_mask, token_type_ids)",
      );
    }
  }
  return manifest;
}

/** The variant `name` (default: the manifest's default), or an error listing the choices.
 * A strings-in variant (`export --edge`, `"inputs": "text"`) needs onnxruntime-extensions'
 * tokenizer operators, which onnxruntime-node and -web cannot load: refused, as by the
 * Python scorer (score/classifier.py refuse_text_variant). */
function chooseVariant(manifest, name, where) {
  const chosen = name ?? manifest.default_variant;
  if (!(chosen in manifest.variants)) {
    const choices = Object.keys(manifest.variants).join(", ");
    throw new ReviewscoreError(`${where}: no variant '${chosen}'; this folder has: ${choices}`);
  }
  if (manifest.variants[chosen].inputs === "text") {
    const usable = Object.keys(manifest.variants).filter((v) => manifest.variants[v].inputs !== "text");
    throw new ReviewscoreError(
      `${where}: variant '${chosen}' takes raw texts (the tokenizer is in its graph, for runtimes ` +
        "that register onnxruntime-extensions, which onnxruntime-node and -web cannot); " +
        `use a token-id variant: ${usable.join(", ")}`,
    );
  }
  return chosen;
}

/** A file the manifest names, checked to be a plain relative name inside the folder and
 * listed under `files` (so it has a hash to check). Returns its expected sha256. */
function listedFile(manifest, name, role, where) {
  if (name.startsWith("/") || name.split(/[\\/]/).some((part) => part === ".." || part === "")) {
    throw new ReviewscoreError(`${where}: the ${role} file '${name}' is not a plain name inside the deploy folder; re-export the folder`);
  }
  const expected = manifest.files[name];
  if (typeof expected !== "string") {
    throw new ReviewscoreError(
      `${where}: the ${role} file '${name}' is not listed in the manifest's files, so its hash cannot be checked; re-export the folder`,
    );
  }
  return expected;
}

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");

/** Refuse bytes whose SHA-256 is not the manifest's: what the export checked is what runs. */
async function checkSha256(bytes, expected, label) {
  const actual = hex(await globalThis.crypto.subtle.digest("SHA-256", bytes));
  if (actual !== expected) {
    throw new ReviewscoreError(
      `${label} does not match the manifest (sha256 ${actual.slice(0, 12)}... expected ${expected.slice(0, 12)}...): ` +
        "the file was changed after export; re-export rather than edit a deploy folder",
    );
  }
}

/**
 * Texts to token ids exactly as the scorer's Rust tokenizer does with
 * `enable_truncation(max_length)`: the text's tokens cut to what fits beside the special tokens
 * the post-processor adds, then those added. `tokenizer` is an @huggingface/tokenizers
 * Tokenizer built from the deploy folder's tokenizer.json.
 */
export class Encoder {
  constructor(tokenizer, maxLength, withTypeIds) {
    this.tokenizer = tokenizer;
    this.withTypeIds = withTypeIds;
    this.post = tokenizer.post_processor;
    const added = this.post ? this.post.post_process([], null, true).tokens.length : 0;
    if (maxLength <= added) {
      throw new ReviewscoreError(`max_length ${maxLength} leaves no room beside ${added} special tokens`);
    }
    this.room = maxLength - added;
    this.unk = tokenizer.model.unk_token_id;
  }

  /** {ids, typeIds} of one text; typeIds is null unless the model takes token_type_ids. */
  encode(text) {
    let tokens = this.tokenizer.tokenize(text, { add_special_tokens: false });
    if (tokens.length > this.room) tokens = tokens.slice(0, this.room);
    let typeIds = null;
    if (this.post) {
      const out = this.post.post_process(tokens, null, true);
      tokens = out.tokens;
      typeIds = out.token_type_ids ?? null;
    }
    const ids = tokens.map((t) => this.tokenizer.token_to_id(t) ?? this.unk);
    if (!this.withTypeIds) return { ids, typeIds: null };
    return { ids, typeIds: typeIds ?? new Array(ids.length).fill(0) };
  }
}

/** Row indices per batch, shortest first; rows x longest row stays within `batchTokens`
 * (a single longer row is its own batch). The same plan as reviewscore.score.batching. */
function planBatches(lengths, batchTokens = DEFAULT_BATCH_TOKENS, maxRows = MAX_BATCH_ROWS) {
  const order = Array.from(lengths.keys()).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches = [];
  let start = 0;
  while (start < order.length) {
    let size = 1;
    while (
      size < maxRows &&
      start + size < order.length &&
      (size + 1) * lengths[order[start + size]] <= batchTokens
    ) {
      size += 1;
    }
    batches.push(order.slice(start, start + size));
    start += size;
  }
  return batches;
}

/** The graph's int64 inputs for `rows` of `encoded`, padded to their longest row. */
function padBatch(encoded, rows, padding, inputNames) {
  const width = Math.max(...rows.map((r) => encoded[r].ids.length));
  const size = rows.length * width;
  const ids = new BigInt64Array(size).fill(BigInt(padding.padTokenId));
  const mask = new BigInt64Array(size);
  const types = new BigInt64Array(size).fill(BigInt(padding.padTokenTypeId));
  rows.forEach((r, i) => {
    const row = encoded[r];
    const offset = i * width + (padding.side === "left" ? width - row.ids.length : 0);
    for (let k = 0; k < row.ids.length; k++) {
      ids[offset + k] = BigInt(row.ids[k]);
      mask[offset + k] = 1n;
      if (row.typeIds) types[offset + k] = BigInt(row.typeIds[k]);
    }
  });
  const all = { input_ids: ids, attention_mask: mask, token_type_ids: types };
  return { width, arrays: Object.fromEntries(inputNames.map((name) => [name, all[name]])) };
}

/** Probabilities of one row of float32 logits, max-shifted and rounded to float32 at each
 * step as the scorer's numpy softmax computes them, so that its argmax (the label) breaks the
 * same near-ties the same way. */
export function softmax(logits) {
  const f = Math.fround;
  const top = Math.max(...logits);
  const exp = Array.from(logits, (x) => f(Math.exp(f(x - top))));
  const sum = exp.reduce((a, b) => f(a + b), 0);
  return exp.map((x) => f(x / sum));
}

/** What `reviewscore score` warns about a variant (reviewscore.score.summary): labels that
 * can depend on batching (unless each row is its own batch), an export without the parity
 * gate, a variant that failed it. */
export function variantWarnings(manifest, variant, { rowsBatched = true } = {}) {
  const warnings = [];
  if (rowsBatched && manifest.variants[variant].batch_invariant === false) {
    warnings.push(
      `variant ${variant} is not batch-invariant (so its manifest says; dynamic int8, for one, computes activation scales per batch): ` +
        "labels may depend on batching (--batch-tokens, neighbouring rows); use a batch-invariant variant where reproducibility matters",
    );
  }
  if (manifest.parity_checked === false) {
    warnings.push(
      "this deploy folder was exported with --no-check: no variant was compared with PyTorch; " +
        "export it with the parity gate before relying on its labels",
    );
  }
  const parity = manifest.parity?.[variant];
  if (parity && parity.passed === false) {
    warnings.push(
      `variant ${variant} failed the export's parity gate (${(parity.failures ?? []).join("; ")}): ` +
        "the export exited 3, and this folder should not have been deployed",
    );
  }
  return warnings;
}

/** Index of the largest value, the first on ties (numpy's argmax). */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * One variant of a deploy folder, ready to score: built by `openDeployFolder` from the
 * manifest, the tokenizer JSON and the model's bytes, each read by the caller.
 */
class DeployedClassifier {
  constructor({ manifest, variant, session, encoder, ort }) {
    this.manifest = manifest;
    this.variant = variant;
    this.session = session;
    this.encoder = encoder;
    this.ort = ort;
    this.labels = manifest.labels;
    this.inputNames = manifest.inputs.map((i) => i.name);
    this.outputName = manifest.outputs[0].name;
    this.padding = {
      padTokenId: manifest.pad_token_id,
      padTokenTypeId: manifest.pad_token_type_id ?? 0,
      side: manifest.padding_side ?? "right",
    };
  }

  encode(texts) {
    return texts.map((t) => this.encoder.encode(t));
  }

  /** Logits (one Float32Array per row) of `encoded`, in input order. */
  async logits(encoded, batchTokens = DEFAULT_BATCH_TOKENS) {
    const out = new Array(encoded.length);
    const width = this.labels.length;
    for (const rows of planBatches(encoded.map((e) => e.ids.length), batchTokens)) {
      const { width: cols, arrays } = padBatch(encoded, rows, this.padding, this.inputNames);
      const feeds = {};
      for (const [name, data] of Object.entries(arrays)) {
        feeds[name] = new this.ort.Tensor("int64", data, [rows.length, cols]);
      }
      const result = await this.session.run(feeds, [this.outputName]);
      const data = result[this.outputName].data;
      rows.forEach((r, i) => {
        out[r] = data.slice(i * width, (i + 1) * width);
      });
    }
    return out;
  }
}

/** The folder's manifest, read with `read(name)` (bytes) and checked; `where` names the folder. */
export async function loadManifest(read, where) {
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await read("manifest.json")));
  } catch (error) {
    if (error instanceof ReviewscoreError) throw error;
    throw new ReviewscoreError(`${where}/manifest.json: not valid JSON (${error.message}); re-export the folder`);
  }
  return checkManifest(manifest, `${where}/manifest.json`);
}

/** The folder's tokenizer as an Encoder, its file's hash checked first. `Tokenizer` is the
 * @huggingface/tokenizers class. */
export async function openEncoder({ manifest, read, where, Tokenizer }) {
  const file = manifest.tokenizer;
  const expected = listedFile(manifest, file, "tokenizer", where);
  const bytes = await read(file);
  await checkSha256(bytes, expected, `${where}/${file}`);
  let tokenizer;
  try {
    tokenizer = new Tokenizer(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)), {});
  } catch (error) {
    throw new ReviewscoreError(`${where}/${file}: tokenizers.js cannot load it: ${error.message}`);
  }
  const withTypeIds = manifest.inputs.some((i) => i.name === "token_type_ids");
  return new Encoder(tokenizer, manifest.max_length, withTypeIds);
}

/**
 * Check a deploy folder and open one variant. `read(name)` returns a file's bytes
 * (Uint8Array); `where` names the folder in messages. Hashes of the tokenizer and the model
 * are checked against the manifest before either is used.
 */
export async function openDeployFolder({ read, where, variant, Tokenizer, ort, sessionOptions = {} }) {
  const manifest = await loadManifest(read, where);
  const name = chooseVariant(manifest, variant, where);
  const modelFile = manifest.variants[name].file;
  const modelHash = listedFile(manifest, modelFile, `variant '${name}'`, where);
  const encoder = await openEncoder({ manifest, read, where, Tokenizer });

  const modelBytes = await read(modelFile);
  await checkSha256(modelBytes, modelHash, `${where}/${modelFile}`);
  let session;
  try {
    session = await ort.InferenceSession.create(modelBytes, sessionOptions);
  } catch (error) {
    throw new ReviewscoreError(`${where}/${modelFile}: onnxruntime cannot load it: ${error.message}`);
  }
  const classifier = new DeployedClassifier({ manifest, variant: name, session, encoder, ort });
  const outputs = session.outputNames;
  if (!outputs.includes(classifier.outputName)) {
    throw new ReviewscoreError(
      `${where}/${modelFile}: the model has no output '${classifier.outputName}' (it has ${outputs.join(", ")}); re-export the folder`,
    );
  }
  return classifier;
}
