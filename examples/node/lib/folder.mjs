// Read a deploy folder's files from disk, with errors that name the folder and the file.

import fs from "node:fs/promises";
import path from "node:path";

import { ReviewscoreError } from "../../shared/reviewscore.mjs";

/** `read(name)` for the shared module: the bytes of DEPLOY/name. */
export function folderReader(deploy) {
  return async (name) => {
    try {
      return await fs.readFile(path.join(deploy, name));
    } catch (error) {
      if (name === "manifest.json" && (error.code === "ENOENT" || error.code === "ENOTDIR")) {
        throw new ReviewscoreError(
          `${deploy} is not a deploy folder: manifest.json is missing (create one with \`reviewscore export\`)`,
        );
      }
      if (error.code === "ENOENT") throw new ReviewscoreError(`${deploy}: ${name} is listed in the manifest but missing`);
      throw new ReviewscoreError(`${deploy}: cannot read ${name}: ${error.message}`);
    }
  };
}
