"""`reviewscore serve` against hostile input and shutdown: no request makes a 500 or a
traceback, a model that drifted on this CPU is refused, SIGTERM loses no request a client
finished writing, and slow or idle connections are bounded.

Every server runs in a subprocess on 127.0.0.1 (--port 0); every client is bounded in
requests and time, with short timeouts set by flags.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reviewscore.deploy_folder import load_manifest, write_manifest
from test_serve import CLI, PORT_LINE, STARTUP_S, Server

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def deploy(exported_int8) -> Path:
    """The toy-trained tiny bert's deploy folder (fp32 default, parity reference stored)."""
    return exported_int8.deploy


@contextlib.contextmanager
def started(deploy: Path, tmp_path: Path, *options: str) -> Iterator[Server]:
    """A server on a free loopback port whose start-up checks (warm-up, parity re-check)
    have finished, ready or not; stopped with SIGTERM after."""
    log = tmp_path / f"serve-{time.monotonic_ns()}.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [*CLI, "serve", str(deploy), "--port", "0", *options],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + STARTUP_S
        while not (match := PORT_LINE.search(log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        server = Server(process, f"http://127.0.0.1:{match[1]}", log)
        while httpx.get(f"{server.url}/readyz", timeout=5).json()["parity_recheck"] is None:
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


def nudge_classifier_bias(deploy: Path, out: Path, by: float = 0.001) -> Path:
    """A copy of `deploy` whose fp32 classifier.bias[0] moved by `by`, manifest rehashed:
    the hashes pass, only the parity re-check against the stored PyTorch logits can tell."""
    import numpy as np
    import onnx

    changed = Path(shutil.copytree(deploy, out))
    model_file = changed / load_manifest(changed).variant("fp32").file
    model = onnx.load(str(model_file))
    (bias,) = [t for t in model.graph.initializer if t.name == "classifier.bias"]
    array = onnx.numpy_helper.to_array(bias).copy()
    array[0] += np.float32(by)
    bias.CopyFrom(onnx.numpy_helper.from_array(array, bias.name))
    onnx.save(model, str(model_file))
    write_manifest(changed, load_manifest(changed, verify=False))
    return changed


def test_a_drifted_model_is_logged_and_refused_until_the_flag_says_serve(tmp_path, deploy):
    drifted = nudge_classifier_bias(deploy, tmp_path / "drifted")
    body = {"texts": ["a good film"]}
    with started(drifted, tmp_path) as server:
        refused = httpx.post(server.url + "/v1/score", json=body, timeout=10)
        ready = httpx.get(server.url + "/readyz", timeout=10)
        status = server.stop()
        log = server.stderr()
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/json"
    reason = refused.json()["error"]
    assert "failed its parity re-check" in reason and "--serve-unverified" in reason
    assert "max abs logit difference" in reason
    assert ready.status_code == 503 and ready.json()["parity_recheck"]["status"] == "failed"
    assert " ERROR reviewscore.serve: parity re-check FAILED on this CPU" in log
    assert status == 0 and "Traceback" not in log

    with started(drifted, tmp_path, "--serve-unverified") as server:
        served = httpx.post(server.url + "/v1/score", json=body, timeout=10)
        ready = httpx.get(server.url + "/readyz", timeout=10)
        log = server.stderr()
    assert served.status_code == 200 and len(served.json()["labels"]) == 1
    assert ready.status_code == 200
    assert ready.json()["parity_recheck"]["status"] == "failed"
    assert ready.json()["serve_unverified"] is True
    assert "serving anyway (--serve-unverified)" in log
