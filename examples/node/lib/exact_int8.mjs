// Exact int8 products on x86 CPUs without VNNI or AMX, as the Python scorer does
// (src/reviewscore/score/session.py). There onnxruntime's u8 x s8 kernels sum each pair of
// products in saturating int16; the session config entry session.x64quantprecision makes
// it run its exact u8 x u8 kernels for 8-bit weights instead. Off on VNNI/AMX, where the
// u8 x s8 kernels are exact already and the rewrite only slows them.

import { readFileSync } from "node:fs";

import { ReviewscoreError } from "../../shared/reviewscore.mjs";

export const EXACT_INT8_ENV = "REVIEWSCORE_EXACT_INT8";
// The /proc/cpuinfo flags of the CPUs whose u8 x s8 kernels sum in int32.
const EXACT_FLAGS = ["avx512_vnni", "avx_vnni", "amx_int8"];

/**
 * Whether to ask for exact int8 products, given a /proc/cpuinfo text (null where there is
 * none) and the environment: REVIEWSCORE_EXACT_INT8=1 or 0 forces it (qemu-user shows the
 * host's /proc/cpuinfo); otherwise on unless the first processor's flags show VNNI or AMX
 * (also on where they cannot be read: onnxruntime ignores the entry off x86).
 */
export function exactInt8Wanted(cpuinfo, env) {
  const forced = env[EXACT_INT8_ENV];
  if (forced !== undefined) {
    if (forced !== "0" && forced !== "1") {
      throw new ReviewscoreError(`${EXACT_INT8_ENV} must be 0 or 1, not '${forced}'`, 2);
    }
    return forced === "1";
  }
  const line = (cpuinfo ?? "").split("\n").find((l) => /^(flags|Features)\s*:/.test(l));
  const flags = new Set(line ? line.split(":")[1].trim().split(/\s+/) : []);
  return !EXACT_FLAGS.some((flag) => flags.has(flag));
}

/** This machine's answer. */
export function exactInt8Here() {
  let cpuinfo = null;
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    // not Linux: no flags to read
  }
  return exactInt8Wanted(cpuinfo, process.env);
}

/** onnxruntime-node session options with the entry set (its `extra` takes config entries). */
export function withExactInt8(sessionOptions, exact) {
  return exact ? { ...sessionOptions, extra: { session: { x64quantprecision: "1" } } } : sessionOptions;
}
