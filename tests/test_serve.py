"""`reviewscore serve`: served labels equal `reviewscore score`'s under concurrent load, bad
requests get their status and a JSON error, back-pressure, the API key, metrics, SIGTERM.

Every server runs in a subprocess on 127.0.0.1, on a port the system picks (--port 0); every
client is bounded in requests and time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewscore.deploy_folder import load_manifest
from source_checks import imported_modules, perturb_largest_weight
from tiny_models import keyword_rows, make_run, write_toy_tsv

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

CLI = [sys.executable, "-m", "reviewscore.cli"]
STARTUP_S = 60
PORT_LINE = re.compile(r"on http://127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module")
def deploy(tmp_path_factory) -> Path:
    """A toy-trained tiny bert (real margins) exported with its fp32, batch-invariant default."""
    from reviewscore.export.deploy import export_run

    root = tmp_path_factory.mktemp("serve")
    make_run(root / "run", "bert", trained=True)
    export_run(root / "run", root / "deploy")
    return root / "deploy"


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        """SIGTERM, then the exit status (the server must drain and exit by itself)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def is_ready(readyz: httpx.Response) -> bool:
    return readyz.status_code == 200


@contextlib.contextmanager
def serving(
    deploy: Path,
    tmp_path: Path,
    *options: str,
    until: Callable[[httpx.Response], bool] = is_ready,
) -> Iterator[Server]:
    """A server on a free loopback port, once `until` holds for its /readyz answer (by
    default: ready, 200); stopped with SIGTERM after."""
    log = tmp_path / f"serve-{time.monotonic_ns()}.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [*CLI, "serve", str(deploy), "--port", "0", *options],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = None
    try:
        deadline = time.monotonic() + STARTUP_S
        while server is None:
            match = PORT_LINE.search(log.read_text())
            if match:
                server = Server(process, f"http://127.0.0.1:{match[1]}", log)
            elif process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{log.read_text()}")
            else:
                time.sleep(0.05)
        while not until(httpx.get(f"{server.url}/readyz", timeout=5)):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text; 0 when the series does not exist yet."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return 0.0


def file_scorer_labels(deploy: Path, source: Path) -> list[int]:
    result = subprocess.run(
        [*CLI, "score", str(deploy), str(source)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [int(row["Sentiment"]) for row in csv.DictReader(io.StringIO(result.stdout))]


def test_served_labels_equal_the_file_scorer_under_concurrent_load(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "phrases.tsv", 300, seed=7, labels=False, rows=keyword_rows)
    phrases = [row[2] for row in keyword_rows(300, seed=7)]
    expected = file_scorer_labels(deploy, source)
    manifest = load_manifest(deploy)
    labels = manifest.labels

    with serving(deploy, tmp_path) as server:
        local = threading.local()

        def one(phrase: str) -> dict:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=server.url, timeout=30)
            response = local.client.post("/v1/score", json={"texts": [phrase]})
            assert response.status_code == 200, response.text
            return response.json()

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, phrases))
        both = httpx.post(
            f"{server.url}/v1/score", json={"texts": phrases[:5], "probs": True}, timeout=30
        ).json()
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text

    assert [a["labels"][0] for a in answers] == expected
    assert [a["label_names"][0] for a in answers] == [labels[i] for i in expected]
    assert both["labels"] == expected[:5]
    assert all(abs(sum(p) - 1) < 1e-5 and len(p) == len(labels) for p in both["probs"])
    model_file = manifest.variant().file
    assert {a["model_sha256"] for a in answers} == {manifest.files[model_file]}
    assert {a["variant"] for a in answers} == {manifest.default_variant}
    assert metric(metrics, "reviewscore_requests_total", path="/v1/score", status="200") == 301
    assert metric(metrics, "reviewscore_rows_scored_total") == 305
    assert metric(metrics, "reviewscore_batch_rows_sum") == 305
    assert 1 <= metric(metrics, "reviewscore_batch_rows_count") <= 301
    assert metric(metrics, "reviewscore_request_seconds_count", path="/v1/score") == 301
    assert metric(metrics, "reviewscore_queue_rows") == 0


@pytest.fixture(scope="module")
def small_limits(deploy, tmp_path_factory) -> Iterator[Server]:
    """One server with small caps, shared by the bad-request cases."""
    options = ["--max-request-texts", "3", "--max-text-chars", "40", "--max-body-bytes", "600"]
    with serving(deploy, tmp_path_factory.mktemp("limits"), *options) as server:
        yield server


BAD_REQUESTS = [
    ("POST", "/v1/score", b'{"texts": ["good"', 400, "not valid JSON"),
    ("POST", "/v1/score", b"\xff\xfe not utf-8", 400, "not UTF-8"),
    ("POST", "/v1/score", b"", 400, "not valid JSON"),
    ("POST", "/v1/score", b'["good"]', 422, "must be a JSON object"),
    ("POST", "/v1/score", b"{}", 422, "'texts' is required"),
    ("POST", "/v1/score", b'{"texts": "good"}', 422, "'texts' must be a list of strings"),
    ("POST", "/v1/score", b'{"texts": []}', 422, "'texts' is empty"),
    ("POST", "/v1/score", b'{"texts": ["a", 3]}', 422, "texts[1] must be a string, not a number"),
    ("POST", "/v1/score", b'{"texts": [null]}', 422, "texts[0] must be a string, not null"),
    ("POST", "/v1/score", b'{"texts": ["a"], "probs": 1}', 422, "'probs' must be true or false"),
    ("POST", "/v1/score", b'{"texts": ["a"], "prob": true}', 422, "unknown field(s) 'prob'"),
    ("POST", "/v1/score", b'{"texts": ["a","b","c","d"]}', 413, "4 texts in one request; limit 3 "),
    ("POST", "/v1/score", b'{"texts": ["' + b"x" * 41 + b'"]}', 413, "has 41 characters; limit 40"),
    ("POST", "/v1/score", b'{"texts": ["' + b"x" * 700 + b'"]}', 413, "limit 600 bytes"),
    ("GET", "/v1/score", b"", 405, "Method Not Allowed"),
    ("FORM", "/v1/score", b'{"texts": ["a"]}', 415, "send application/json"),
    ("GET", "/nowhere", b"", 404, "Not Found"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_their_status_and_a_json_error(
    small_limits, method, path, body, status, message
):
    # FORM: what a browser page on another origin may send without a CORS preflight
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if method == "FORM" else {}
    method = "POST" if method == "FORM" else method
    response = httpx.request(
        method, small_limits.url + path, content=body, headers=headers, timeout=10
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]
    assert "Traceback" not in response.text


def test_a_chunked_body_over_the_cap_is_refused_without_content_length(small_limits):
    chunks = iter([b'{"texts": ["', b"x" * 400, b"y" * 400, b'"]}'])
    response = httpx.post(small_limits.url + "/v1/score", content=chunks, timeout=10)
    assert response.status_code == 413
    assert "limit 600 bytes" in response.json()["error"]


def test_access_log_has_one_line_per_request_and_never_the_texts(small_limits):
    secret = "a very private review"
    httpx.post(small_limits.url + "/v1/score", json={"texts": [secret]}, timeout=10)
    httpx.get(small_limits.url + "/healthz", timeout=10)
    time.sleep(0.2)
    log = small_limits.stderr()
    assert secret not in log
    assert re.search(r'"POST /v1/score" 200 rows=1 [\d.]+ms', log)
    assert re.search(r'"GET /healthz" 200 rows=0 [\d.]+ms', log)


def test_model_and_probes_describe_the_deploy_folder(small_limits, deploy):
    manifest = load_manifest(deploy)
    model = httpx.get(small_limits.url + "/v1/model", timeout=10).json()
    assert model["labels"] == list(manifest.labels)
    assert model["variant"] == manifest.default_variant
    assert model["batch_invariant"] is True
    assert model["parity"] == manifest.parity[manifest.default_variant].to_dict()
    assert model["files_sha256"] == manifest.files
    assert model["limits"]["max_request_texts"] == 3
    assert httpx.get(small_limits.url + "/healthz", timeout=10).json() == {"alive": True}
    ready = httpx.get(small_limits.url + "/readyz", timeout=10).json()
    assert ready["ready"] and ready["loaded"] and ready["warmed"]
    assert ready["parity_recheck"]["status"] == "passed"
    assert ready["parity_recheck"]["detail"].startswith(f"{manifest.default_variant}: ")


def test_a_model_that_fails_the_parity_recheck_is_never_ready(tmp_path, deploy):
    """A changed weight behind a rehashed manifest passes the hash check at start; only the
    re-check against the stored PyTorch reference can tell, and it keeps /readyz at 503."""
    from reviewscore.deploy_folder import write_manifest

    changed = Path(shutil.copytree(deploy, tmp_path / "deploy"))
    perturb_largest_weight(changed / "model.onnx")
    write_manifest(changed, load_manifest(changed, verify=False))

    log = tmp_path / "serve.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [*CLI, "serve", str(changed), "--port", "0"], stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + STARTUP_S
        report = None
        while report is None or report["parity_recheck"] is None:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            match = PORT_LINE.search(log.read_text())
            if match:
                answer = httpx.get(f"http://127.0.0.1:{match[1]}/readyz", timeout=5)
                assert answer.status_code == 503
                report = answer.json()
            time.sleep(0.05)
        assert report["ready"] is False and report["warmed"] is True
        assert report["parity_recheck"]["status"] == "failed"
        assert "max abs logit difference" in report["parity_recheck"]["detail"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def test_a_full_queue_answers_503_with_retry_after(tmp_path, deploy):
    # The first request waits 3 s for company in its micro-batch, holding the queue's rows.
    options = ["--max-queue-rows", "3", "--max-request-texts", "3", "--max-wait-ms", "3000"]
    with serving(deploy, tmp_path, *options) as server:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(
                httpx.post, server.url + "/v1/score", json={"texts": ["good"] * 3}, timeout=30
            )
            time.sleep(1.0)
            refused = httpx.post(server.url + "/v1/score", json={"texts": ["bad"]}, timeout=30)
            assert first.result().status_code == 200
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "the queue is full (3 texts)" in refused.json()["error"]
    assert metric(metrics, "reviewscore_queue_rejected_total") == 1
    assert metric(metrics, "reviewscore_requests_total", path="/v1/score", status="503") == 1


def test_api_key_is_required_compared_and_never_logged(tmp_path, deploy):
    key = "k3y-" + "x" * 28
    key_file = tmp_path / "api-key"
    key_file.write_text(key + "\n")
    with serving(deploy, tmp_path, "--api-key-file", str(key_file)) as server:
        score = server.url + "/v1/score"
        body = {"texts": ["good"]}
        missing = httpx.post(score, json=body, timeout=10)
        wrong = httpx.post(score, json=body, headers={"Authorization": "Bearer nope"}, timeout=10)
        basic = httpx.post(score, json=body, headers={"Authorization": key}, timeout=10)
        right = httpx.post(score, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        metrics = httpx.get(server.url + "/metrics", timeout=10)
        health = httpx.get(server.url + "/healthz", timeout=10)
        log = server.stderr()
    for denied in (missing, wrong, basic, metrics):
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer <key>" in denied.json()["error"]
    assert right.status_code == 200 and health.status_code == 200
    assert key not in log


def test_sigterm_drains_every_accepted_request_and_exits_0(tmp_path, deploy):
    phrases = [row[2] for row in keyword_rows(64, seed=3)]
    answered: list[int] = []
    failures: list[str] = []
    terminated = threading.Event()

    with serving(deploy, tmp_path, "--max-wait-ms", "20") as server:

        def client(worker: int) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for i in range(400):  # bounded; the server stops long before
                    try:
                        response = http.post("/v1/score", json={"texts": [phrases[i % 64]]})
                    except httpx.TransportError:
                        if not terminated.is_set():
                            failures.append(f"client {worker}: connection lost before SIGTERM")
                        return
                    if response.status_code != 200:
                        failures.append(f"client {worker}: {response.status_code}")
                        return
                    answered.append(worker)

        with ThreadPoolExecutor(16) as pool:
            running = [pool.submit(client, worker) for worker in range(16)]
            deadline = time.monotonic() + 30
            while len(answered) < 200 and time.monotonic() < deadline:
                time.sleep(0.01)
            terminated.set()
            server.process.send_signal(signal.SIGTERM)
            for future in running:
                future.result(timeout=60)
        status = server.stop()
        log = server.stderr()

    assert status == 0, log
    assert not failures, failures
    drained = re.search(r"stopped: answered (\d+) of (\d+) accepted score requests", log)
    assert drained, log
    assert int(drained[1]) == int(drained[2]) == len(answered)
    assert "Traceback" not in log


def test_a_tampered_folder_is_refused_with_the_scorers_error(tmp_path, deploy):
    tampered = tmp_path / "tampered"
    shutil.copytree(deploy, tampered)
    with open(tampered / "model.onnx", "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 1]))
    rows = write_toy_tsv(tmp_path / "in.tsv", 2)
    served = subprocess.run(
        [*CLI, "serve", str(tampered), "--port", "0"], capture_output=True, text=True, timeout=60
    )
    scored = subprocess.run(
        [*CLI, "score", str(tampered), str(rows)], capture_output=True, text=True, timeout=60
    )
    assert served.returncode == scored.returncode == 1
    assert served.stderr.strip() == scored.stderr.strip()
    assert "does not match the manifest" in served.stderr


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (
            ["--max-request-texts", "10", "--max-queue-rows", "5"],
            "error: --max-request-texts 10 exceeds --max-queue-rows 5: a full-size request "
            "could never be queued; lower one or raise the other",
        ),
        (["--api-key-file", "{empty}"], "error: --api-key-file {empty}: the file is empty"),
        (["--variant", "int4"], "error: {deploy}: no variant 'int4'; this folder has: fp32"),
        (["--variant", ""], "error: {deploy}: no variant ''; this folder has: fp32"),
        (
            ["--host", "256.1.1.1"],
            "error: cannot listen on 256.1.1.1:0: '256.1.1.1' is neither an IP address nor a "
            "host name this machine resolves; choose another --host",
        ),
        (
            ["--api-key-file", "{two_lines}"],
            "error: --api-key-file {two_lines}: the file has 2 lines; put the key alone on "
            "one line",
        ),
    ],
)
def test_startup_errors_are_one_line(tmp_path, deploy, options, error):
    empty = tmp_path / "empty-key"
    empty.write_text("\n")
    two_lines = tmp_path / "two-line-key"
    two_lines.write_text("k3y-one\nk3y-two\n")
    names = {"empty": empty, "two_lines": two_lines, "deploy": deploy}
    options = [option.format(**names) for option in options]
    result = subprocess.run(
        [*CLI, "serve", str(deploy), "--port", "0", *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(error.format(**names)), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_port_in_use_is_a_one_line_error(tmp_path, deploy):
    with serving(deploy, tmp_path) as server:
        port = server.url.rsplit(":", 1)[1]
        result = subprocess.run(
            [*CLI, "serve", str(deploy), "--port", port],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "choose another --host/--port"
    )


# --- in process: the batcher's merging, and no input can make a 500 ---


def test_merged_requests_are_the_rows_of_one_encode(deploy):
    from reviewscore.score.classifier import DeployedClassifier
    from reviewscore.serve.batcher import concat_encoded

    classifier = DeployedClassifier.open(deploy)
    texts = [row[2] for row in keyword_rows(40, seed=5)]
    merged = concat_encoded([classifier.encode(texts[i : i + 7]) for i in range(0, 40, 7)])
    whole = classifier.encode(texts)
    for field in ("flat", "starts", "lengths"):
        assert getattr(merged.ids, field).tolist() == getattr(whole.ids, field).tolist()
    assert (classifier.logits_encoded(merged).argmax(1) == classifier.predict(texts)).all()


def test_merged_type_ids_follow_their_rows():
    from reviewscore.padding import Ragged
    from reviewscore.score.classifier import Encoded
    from reviewscore.serve.batcher import concat_encoded

    def encoded(rows: list[list[int]]) -> Encoded:
        return Encoded(
            Ragged.from_lists(rows), Ragged.from_lists([[r[0] % 2] * len(r) for r in rows])
        )

    parts = [encoded([[5, 6, 7]]), encoded([[8], [9, 10]])]
    merged = concat_encoded(parts)
    assert merged.ids.flat.tolist() == [5, 6, 7, 8, 9, 10]
    assert merged.ids.starts.tolist() == [0, 3, 4]
    assert merged.type_ids is not None
    assert merged.type_ids.flat.tolist() == [1, 1, 1, 0, 1, 1]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
BODIES = (
    JSON.map(lambda value: json.dumps(value).encode())
    | st.fixed_dictionaries({"texts": JSON}).map(lambda value: json.dumps(value).encode())
    | st.fixed_dictionaries({"texts": st.lists(st.text(max_size=60), max_size=6)}).map(
        lambda value: json.dumps(value).encode()
    )
    | st.binary(max_size=80)
)


@pytest.fixture(scope="module")
def in_process(deploy) -> Iterator[httpx.Client]:
    from starlette.testclient import TestClient

    from reviewscore.scorer import load
    from reviewscore.serve.app import ServeState, build_app
    from reviewscore.serve.batcher import BatchSettings, MicroBatcher
    from reviewscore.serve.limits import Limits
    from reviewscore.serve.metrics import ServeMetrics
    from reviewscore.serve.readiness import Readiness

    scorer = load(deploy, provider="cpu", threads=1)
    metrics = ServeMetrics()
    batcher = MicroBatcher(scorer.classifier, BatchSettings(max_wait_s=0), metrics, Readiness())
    state = ServeState(scorer, batcher, metrics, Limits(max_texts=4, max_chars=50), None)
    with TestClient(build_app(state), raise_server_exceptions=False) as client:
        yield client


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_no_body_makes_a_500(in_process, body):
    response = in_process.post("/v1/score", content=body)
    assert response.status_code in (200, 400, 413, 422)
    answer = response.json()
    if response.status_code == 200:
        assert len(answer["labels"]) == len(json.loads(body)["texts"])
    else:
        assert answer["status"] == response.status_code and answer["error"]


def test_serve_package_never_imports_torch_train_or_export():
    import reviewscore.serve as package

    forbidden = ("torch", "transformers", "reviewscore.train", "reviewscore.export")
    for file in Path(package.__file__).parent.glob("*.py"):
        for name in imported_modules(file):
            assert not name.startswith(forbidden), f"{file.name} imports {name}"


def test_deeply_nested_json_is_a_400_not_a_recursion_error():
    from reviewscore.serve.limits import Limits, RequestError, parse_score_request

    with pytest.raises(RequestError) as refused:
        parse_score_request(b"[" * 200_000, Limits())
    assert refused.value.status == 400
    assert "nested too deeply" in refused.value.message


def test_the_listening_socket_says_tcp_so_asyncio_turns_nagle_off():
    """With protocol 0, asyncio leaves Nagle's algorithm on and each answer waits ~40 ms for
    the client's delayed ACK (measured: 50 ms per /healthz round trip)."""
    import socket

    from reviewscore.serve.server import _listen

    with _listen("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP


def test_runs_are_cut_where_padding_costs_more_than_a_run():
    import numpy as np

    from reviewscore.score.batching import plan_batches

    lengths = np.array([40, 3, 3, 4, 3, 41, 4, 12])

    def shape(overhead: float, budget: int = 4096) -> list[list[int]]:
        runs = list(plan_batches(lengths, budget, run_overhead_tokens=overhead))
        assert sorted(np.concatenate(runs).tolist()) == list(range(len(lengths)))
        return [lengths[run].tolist() for run in runs]

    # free runs: one per length; dear runs: everything in one (as the file scorer's plan)
    assert shape(0) == [[3, 3, 3], [4, 4], [12], [40], [41]]
    assert shape(10_000) == [[3, 3, 3, 4, 4, 12, 40, 41]]
    # padding 3 rows by one token (3) is cheaper than a run of 8; 5 rows by 8 (40) is not
    assert shape(8) == [[3, 3, 3, 4, 4], [12], [40, 41]]
    # the padded budget still holds: 3 rows x 4 tokens > 11
    assert shape(10_000, budget=11) == [[3, 3, 3], [4, 4], [12], [40], [41]]


def test_the_serve_flags_fill_the_servers_options_with_their_defaults(tmp_path):
    """`serve` declares its flags; the defaults and the grouping are ServeOptions'."""
    from reviewscore.cli import serve_command
    from reviewscore.serve.options import BatchSettings, ServeOptions

    def options(*args: str) -> ServeOptions:
        flags = serve_command.make_context("serve", [str(tmp_path), *args]).params
        del flags["deploy_dir"]
        return ServeOptions.from_command(**flags)

    assert options() == ServeOptions()
    given = options("--max-wait-ms", "20", "--no-batching", "--timeout-body", "7", "--port", "9")
    assert given.batch == BatchSettings(max_wait_s=0.02, batching=False)
    assert given.connections.body_timeout_s == 7 and given.port == 9


def test_the_start_up_line_counts_threads_in_words():
    """ "1 thread", "2 threads": and without --threads, the count the session really runs."""
    from reviewscore.score.session import default_threads
    from reviewscore.serve.server import _threads_text

    assert _threads_text(1) == "1 thread"
    assert _threads_text(2) == "2 threads"
    assert _threads_text(None) == _threads_text(default_threads())
