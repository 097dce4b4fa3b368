// Stream a TSV/CSV review file as chunks of (id, text, line) rows, read as the Python reader
// reads it (src/reviewscore/data/reader.py, lines.py): gzip or plain, strictly UTF-8 (a BOM
// allowed), a header naming the columns, TSV with no quoting at all (the Kaggle files hold
// bare `"` that are text), CSV with standard quoting. Every error names the file and line.

import fs from "node:fs";
import { Readable } from "node:stream";
import zlib from "node:zlib";

import { ReviewscoreError } from "../../shared/reviewscore.mjs";

const TSV_SUFFIXES = [".tsv", ".tsv.gz", ".tab", ".tab.gz", ".txt", ".txt.gz"];
const CSV_SUFFIXES = [".csv", ".csv.gz"];
const STDIN = "-";

export class DataError extends ReviewscoreError {
  constructor(source, message, line = null) {
    super(`${source}${line === null ? "" : `, line ${line}`}: ${message}`);
  }
}

export const displayName = (path) => (path === STDIN ? "<stdin>" : path);

function openError(name, error) {
  const reasons = {
    ENOENT: "no such file",
    EISDIR: "is a directory, not a file",
    EACCES: "permission denied; make the file readable to this user",
  };
  return new DataError(name, reasons[error.code] ?? `cannot read the file: ${error.message}`);
}

/** The file's bytes, gunzipped when it starts with the gzip magic bytes. */
async function* bytesOf(path) {
  const name = displayName(path);
  const source = path === STDIN ? process.stdin : fs.createReadStream(path);
  const chunks = source[Symbol.asyncIterator]();
  let first;
  try {
    first = await chunks.next();
  } catch (error) {
    throw openError(name, error);
  }
  if (first.done) return;
  const head = first.value;
  async function* rest() {
    yield head;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const stream = gzip ? Readable.from(rest()).pipe(zlib.createGunzip()) : rest();
  try {
    for await (const chunk of stream) yield chunk;
  } catch (error) {
    if (error instanceof ReviewscoreError) throw error;
    throw new DataError(name, `cannot read the file: ${error.message}`);
  }
}

/** [line number, decoded line without its line break] for each line (split on \n only, as
 * Python's binary file iteration; a \r before it is dropped, as the csv module does). */
async function* linesOf(path) {
  const name = displayName(path);
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let pending = Buffer.alloc(0);
  let number = 0;
  const decode = (bytes) => {
    number += 1;
    try {
      let text = (number === 1 ? decoder : strict).decode(bytes);
      if (text.endsWith("\r")) text = text.slice(0, -1);
      return [number, text];
    } catch {
      throw new DataError(name, "bytes are not valid UTF-8; re-encode the file as UTF-8", number);
    }
  };
  for await (const chunk of bytesOf(path)) {
    let buffer = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    let end;
    while ((end = buffer.indexOf(10, start)) !== -1) {
      yield decode(buffer.subarray(start, end));
      start = end + 1;
    }
    pending = Buffer.from(buffer.subarray(start));
  }
  if (pending.length) yield decode(pending);
}

/** Records of a CSV file with Python csv's default dialect (strict): `"` opens a quoted field
 * only at its start, `""` inside one is a quote, a quoted field may span lines. Yields
 * [fields, number of the record's last line]. */
async function* csvRecords(lines, name) {
  let fields = null;
  let field = "";
  let quoted = false; // inside a quoted field
  let number = 0;
  for await (const [n, text] of lines) {
    number = n;
    if (fields === null) {
      if (text === "") {
        yield [[], n];
        continue;
      }
      fields = [];
      field = "";
    } else {
      field += "\n"; // a line break inside a quoted field is text
    }
    let i = 0;
    let atStart = !quoted && field === "";
    while (i < text.length) {
      const c = text[i];
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          quoted = false;
          i += 1;
          if (i < text.length && text[i] !== ",") {
            throw new DataError(name, "malformed CSV: ',' expected after '\"'", n);
          }
          continue;
        }
        field += c;
        i += 1;
      } else if (c === ",") {
        fields.push(field);
        field = "";
        atStart = true;
        i += 1;
      } else if (c === '"' && atStart) {
        quoted = true;
        atStart = false;
        i += 1;
      } else {
        field += c;
        atStart = false;
        i += 1;
      }
    }
    if (!quoted) {
      fields.push(field);
      yield [fields, n];
      fields = null;
    }
  }
  if (quoted) throw new DataError(name, "malformed CSV: unexpected end of data", number);
}

async function* tsvRecords(lines) {
  for await (const [n, text] of lines) yield [text === "" ? [] : text.split("\t"), n];
}

function delimiterFor(path, header) {
  const lowered = path.toLowerCase();
  if (TSV_SUFFIXES.some((s) => lowered.endsWith(s))) return "\t";
  if (CSV_SUFFIXES.some((s) => lowered.endsWith(s))) return ",";
  return header.includes("\t") ? "\t" : ",";
}

/**
 * Chunks of at most `chunkRows` rows {ids, texts, lines} of one file, in file order. The id
 * and text columns are required (the Kaggle output is id and label).
 */
export async function* readChunks(path, { textColumn, idColumn, chunkRows }) {
  const name = displayName(path);
  const lines = linesOf(path);
  const first = await lines.next();
  if (first.done) {
    throw new DataError(name, "the file is empty (expected a header line naming the columns)");
  }
  const sep = delimiterFor(name, first.value[1]);
  async function* all() {
    yield first.value;
    yield* lines;
  }
  const records = sep === "\t" ? tsvRecords(all()) : csvRecords(all(), name);
  const headerRecord = await records.next();
  const header = headerRecord.done ? [] : headerRecord.value[0];
  const find = (column, why) => {
    const index = header.indexOf(column);
    if (index === -1) {
      const found = header.map((h) => `'${h}'`).join(", ");
      throw new DataError(name, `no column '${column}'${why}; columns found: ${found}`, 1);
    }
    return index;
  };
  const textAt = find(textColumn, "");
  const idAt = find(idColumn, " (the Kaggle output is id and label)");
  const width = header.length;
  let chunk = { ids: [], texts: [], lines: [] };
  for await (let [fields, line] of records) {
    if (fields.length === 0 && width === 1) fields = [""];
    if (fields.length !== width) {
      throw new DataError(name, `expected ${width} fields, found ${fields.length}`, line);
    }
    chunk.ids.push(fields[idAt]);
    chunk.texts.push(fields[textAt]);
    chunk.lines.push(line);
    if (chunk.texts.length >= chunkRows) {
      yield chunk;
      chunk = { ids: [], texts: [], lines: [] };
    }
  }
  if (chunk.texts.length) yield chunk;
}
