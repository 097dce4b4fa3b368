"""`reviewscore serve` under load on loopback: micro-batching on vs off, and the offline scorer.

    (a) the server with micro-batching (the default: --max-wait-ms 5, --max-batch-tokens 4096)
    (b) the server with --no-batching: one session run per request
    (c) the offline ceiling: `DeployedClassifier.logits` on the same phrases in this process
        (tokenise, length-sort, token-budget batches: `reviewscore score` without file I/O),
        measured right after each cell's (a) and (b), as the load of a shared machine drifts

For (a) and (b): phrases/s and p50/p95/p99 request latency at 1, 8, 32 and 128 concurrent
clients sending one phrase per request, and at 1, 8 and 32 clients sending 32 phrases per
request. Each cell runs `--seconds` after a one-second warm-up that is not counted.

The load generator is deliberately light, so that it leaves the cores to the server: one
thread, asyncio, one keep-alive HTTP/1.1 connection per client, requests written as bytes
prepared in advance, responses read by Content-Length (no HTTP library, no JSON parsing of
answers beyond the status line). Its own CPU use is measured and printed per cell. It talks
to 127.0.0.1 only, and every cell stops by itself after `--seconds`.

    .venv/bin/python bench/serve_load.py --deploy deploy/NAME
    .venv/bin/python bench/serve_load.py --deploy deploy/NAME --seconds 5 --phrases 2000
    .venv/bin/python bench/serve_load.py --deploy deploy/NAME --max-wait-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import report
from reviewscore.cpu_features import local_cpu
from reviewscore.score.classifier import DeployedClassifier

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test.tsv.gz"
HOST = "127.0.0.1"
SINGLE_CLIENTS = (1, 8, 32, 128)
MULTI_CLIENTS = (1, 8, 32)
MULTI_ROWS = 32
WARM_UP_S = 1.0
PORT_LINE = re.compile(r"on http://127\.0\.0\.1:(\d+)")


def read_phrases(source: Path, limit: int) -> list[str]:
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        phrases = []
        for row in reader:
            phrases.append(row["Phrase"])
            if len(phrases) == limit:
                break
    return phrases


def request_bytes(texts: list[str]) -> bytes:
    body = json.dumps({"texts": texts}).encode()
    head = (
        f"POST /v1/score HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def one_client(
    port: int, requests: list[bytes], rows: int, start: float, stop: float, results: dict
) -> None:
    """Send requests back to back on one connection until `stop`; count those that finished
    after `start` (the warm-up ends there)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    index = 0
    try:
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            writer.write(requests[index % len(requests)])
            index += 1
            status = int((await reader.readline()).split(b" ", 2)[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            done = time.perf_counter()
            if done < start:
                continue
            if status == 200:
                results["latencies"].append(done - sent)
                results["rows"] += rows
            else:
                results["errors"][status] = results["errors"].get(status, 0) + 1
    finally:
        writer.close()


async def load(port: int, phrases: list[str], clients: int, rows: int, seconds: float) -> dict:
    """One cell: `clients` concurrent clients, `rows` phrases per request."""
    step = max(1, len(phrases) // clients)
    per_client = []
    for client in range(clients):  # each client its own slice of the phrases, in order
        mine = phrases[client * step :] + phrases[: client * step]
        batches = [
            [mine[(i + k) % len(mine)] for k in range(rows)] for i in range(0, 512 * rows, rows)
        ]
        per_client.append([request_bytes(texts) for texts in batches])
    results: dict[str, Any] = {"latencies": [], "rows": 0, "errors": {}}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    start = wall0 + WARM_UP_S
    stop = start + seconds
    await asyncio.gather(
        *(one_client(port, requests, rows, start, stop, results) for requests in per_client)
    )
    elapsed = time.perf_counter() - start
    latencies = np.array(results["latencies"]) * 1e3
    return {
        "clients": clients,
        "rows_per_request": rows,
        "phrases_per_s": results["rows"] / elapsed,
        "requests": len(latencies),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "errors": results["errors"],
        "load_generator_cpu": (time.process_time() - cpu0) / (time.perf_counter() - wall0),
    }


def start_server(deploy: Path, threads: int, log: Path, extra: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "reviewscore.cli", "serve", str(deploy), "--port", "0"]
    command += ["--threads", str(threads), "--max-queue-rows", "16384", *extra]
    with open(log, "w") as stderr:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)


def wait_ready(process: subprocess.Popen, log: Path) -> int:
    """The server's port, once /readyz answers 200."""
    deadline = time.monotonic() + 120
    while not (match := PORT_LINE.search(log.read_text())):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.1)
    port = int(match[1])
    while b" 200 " not in _get(port, "/readyz"):
        if time.monotonic() > deadline:
            raise SystemExit(f"the server did not become ready:\n{log.read_text()}")
        time.sleep(0.1)
    return port


def _get(port: int, path: str) -> bytes:
    import socket

    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def serve_cells(deploy: Path, phrases: list[str], args, folder: Path) -> list[dict]:
    """Both servers up at once (an idle one costs nothing), and for each cell the batching
    server, the one-run-per-request server and the offline scorer back to back: a shared
    machine's load drifts (2-4x within minutes here) far less within a cell than across
    whole series."""
    modes = {
        "batching": ["--max-wait-ms", str(args.max_wait_ms)],
        "no batching": ["--no-batching"],
    }
    processes = {
        mode: start_server(deploy, args.threads, folder / f"{mode}.log", extra)
        for mode, extra in modes.items()
    }
    classifier = DeployedClassifier.open(deploy, threads=args.threads)
    cells = []
    try:
        ports = {mode: wait_ready(p, folder / f"{mode}.log") for mode, p in processes.items()}
        plan = [(c, 1) for c in SINGLE_CLIENTS] + [(c, MULTI_ROWS) for c in MULTI_CLIENTS]
        for clients, rows in plan:
            pair = []
            for mode, port in ports.items():
                cell = asyncio.run(load(port, phrases, clients, rows, args.seconds))
                cell["batching"] = mode == "batching"
                pair.append(cell)
            ceiling = offline(classifier, phrases, args.seconds)
            for cell in pair:
                cell["offline_phrases_per_s"] = ceiling
                cells.append(cell)
                print(format_cell(cell), flush=True)
            print(f"{'offline':<12} {'':>31} {ceiling:8.0f} phrases/s", flush=True)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            process.wait(timeout=120)
    return cells


def offline(classifier: DeployedClassifier, phrases: list[str], seconds: float) -> float:
    """Phrases/s of the file scorer's in-memory path on the same phrases (whole passes until
    `seconds` have gone, after one pass of warm-up)."""
    classifier.logits(phrases)
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        classifier.logits(phrases)
        done += len(phrases)
    return done / (time.perf_counter() - started)


def format_cell(cell: dict) -> str:
    mode = "batching" if cell["batching"] else "no batching"
    errors = f"  errors {cell['errors']}" if cell["errors"] else ""
    return (
        f"{mode:<12} {cell['clients']:>4} clients x {cell['rows_per_request']:>2} phrases: "
        f"{cell['phrases_per_s']:8.0f} phrases/s  p50 {cell['p50_ms']:7.1f} ms  "
        f"p95 {cell['p95_ms']:7.1f} ms  p99 {cell['p99_ms']:7.1f} ms  "
        f"(load generator {cell['load_generator_cpu']:.0%} of a core){errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploy", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--phrases", type=int, default=4000, help="First N phrases of --data.")
    parser.add_argument("--seconds", type=float, default=6.0, help="Measured time per cell.")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="Of the batching server.")
    report.add_arguments(parser)
    args = parser.parse_args()

    phrases = read_phrases(args.data, args.phrases)
    print(
        f"{local_cpu()['cpu']}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"server --threads {args.threads}; "
        f"{len(phrases)} phrases of {args.data.name}"
    )
    with tempfile.TemporaryDirectory(prefix="serve-load-") as folder:
        cells = serve_cells(args.deploy, phrases, args, Path(folder))
    batched = [cell for cell in cells if cell["batching"]]
    unbatched = [cell for cell in cells if not cell["batching"]]

    def at(cells: list, clients: int, rows: int = 1) -> dict:
        return next(c for c in cells if c["clients"] == clients and c["rows_per_request"] == rows)

    key_on, key_off = at(batched, 32), at(unbatched, 32)
    summary = {
        "speedup_32_clients": key_on["phrases_per_s"] / key_off["phrases_per_s"],
        "share_of_offline_32_clients": key_on["phrases_per_s"] / key_on["offline_phrases_per_s"],
        "p99_ms_32_clients": key_on["p99_ms"],
    }
    print(
        f"32 single-phrase clients: micro-batching {summary['speedup_32_clients']:.1f}x "
        f"one-run-per-request, {summary['share_of_offline_32_clients']:.0%} of offline, "
        f"p99 {summary['p99_ms_32_clients']:.1f} ms"
    )
    figures = {
        "threads": args.threads,
        "max_wait_ms": args.max_wait_ms,
        "phrases": len(phrases),
        "seconds_per_cell": args.seconds,
        "cells": cells,
        "summary": summary,
    }
    rows = []
    for on in batched:
        off = at(unbatched, on["clients"], on["rows_per_request"])
        rows.append(
            [
                f"{on['clients']} x {on['rows_per_request']}",
                round(on["phrases_per_s"]),
                f"{on['p50_ms']:.0f} / {on['p95_ms']:.0f} / {on['p99_ms']:.0f}",
                round(off["phrases_per_s"]),
                f"{off['p50_ms']:.0f} / {off['p95_ms']:.0f} / {off['p99_ms']:.0f}",
                f"{on['phrases_per_s'] / off['phrases_per_s']:.1f}x",
                f"{on['phrases_per_s'] / on['offline_phrases_per_s']:.0%}",
            ]
        )
    columns = [
        "clients x phrases per request",
        "micro-batching: phrases/s",
        "p50 / p95 / p99 ms",
        "one run per request: phrases/s",
        "p50 / p95 / p99 ms",
        "speed-up",
        "share of offline",
    ]
    note = (
        f"Server --threads {args.threads}, --max-wait-ms {args.max_wait_ms}; the first "
        f"{len(phrases):,} phrases of {args.data.name}, {args.seconds:g} s per cell after "
        "1 s of warm-up; offline: the file scorer's in-memory path on the same phrases, "
        "measured after each row's two servers."
    )
    report.write("serve_load", args, [report.table("", columns, rows, note)], figures)


if __name__ == "__main__":
    main()
