"""`reviewscore serve` against hostile input and shutdown: no request makes a 500 or a
traceback, a model that drifted on this CPU is refused, SIGTERM loses no request a client
finished writing, and slow or idle connections are bounded.

Every server runs in a subprocess on 127.0.0.1 (--port 0); every client is bounded in
requests and time, with short timeouts set by flags.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reviewscore.deploy_folder import load_manifest, write_manifest
from test_serve import Server, serving

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def deploy(exported_int8) -> Path:
    """The toy-trained tiny bert's deploy folder (fp32 default, parity reference stored)."""
    return exported_int8.deploy


def started(
    deploy: Path, tmp_path: Path, *options: str
) -> contextlib.AbstractContextManager[Server]:
    """A server on a free loopback port whose start-up checks (warm-up, parity re-check)
    have finished, ready or not; stopped with SIGTERM after."""
    return serving(
        deploy, tmp_path, *options, until=lambda readyz: readyz.json()["parity_recheck"] is not None
    )


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


# --- raw HTTP over a socket: what httpx would refuse to send ---


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # read on with expect_close: the server closed cleanly (EOF, not a reset)

    def json(self) -> dict:
        return json.loads(self.body)


def address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def read_answer(sock: socket.socket, *, expect_close: bool = False) -> Answer:
    """One HTTP response from `sock` (Content-Length framed); with `expect_close`, also
    reads on until the server closes, which must be a clean EOF, not a reset."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the middle of an answer")
        body += chunk
    closed = expect_close and sock.recv(1) == b""
    return Answer(int(status_line.split()[1]), headers, body[:length], closed)


def exchange(server: Server, request: bytes) -> Answer:
    with socket.create_connection(address(server), timeout=20) as sock:
        with contextlib.suppress(OSError):  # the server may refuse before reading it all
            sock.sendall(request)
        return read_answer(sock)


def post(body: bytes, *extra_headers: bytes, path: bytes = b"/v1/score") -> bytes:
    headers = b"".join(h + b"\r\n" for h in extra_headers)
    if not any(
        h.lower().startswith((b"content-length", b"transfer-encoding")) for h in extra_headers
    ):
        headers += b"Content-Length: %d\r\n" % len(body)
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + headers + b"\r\n" + body
    )  # fmt: skip


def get(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: evil.example\r\n\r\n"


@pytest.fixture(scope="module")
def hostile(deploy, tmp_path_factory) -> Iterator[Server]:
    """One server with default limits and a small connection cap, shared by the rows."""
    root = tmp_path_factory.mktemp("hostile")
    with started(deploy, root, "--max-connections", "4") as server:
        yield server


NESTED = b"[" * 500_000 + b"]" * 500_000  # 1 MB, within the default 1 MiB body cap
TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64) + b"\r\n\r\n"
BIG_HEADER = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
CHUNKED = b'10\r\n{"texts": ["a"]}\r\n0\r\n\r\n'
HOSTILE = {
    "lone surrogate": (
        post(b'{"texts": ["good", "a \\ud800 b"]}'),
        422,
        "texts[1] cannot be encoded as UTF-8",
    ),
    "lone low surrogate": (post(b'{"texts": ["\\udfff"]}'), 422, "a lone surrogate"),
    "surrogate pair": (post(b'{"texts": ["\\ud83d\\ude00 good"]}'), 200, None),
    "invalid UTF-8": (post(b'{"texts": ["\xff\xfe"]}'), 400, "not UTF-8"),
    "overlong UTF-8 NUL": (post(b'{"texts": ["\xc0\x80"]}'), 400, "not UTF-8"),
    "escaped NUL": (post(b'{"texts": ["a\\u0000b"]}'), 200, None),
    "raw NUL in a string": (post(b'{"texts": ["a\x00b"]}'), 400, "not valid JSON"),
    "1 MB of nested arrays": (post(NESTED), 400, "nested too deeply"),
    "duplicated keys": (post(b'{"texts": ["a"], "texts": ["b", "c"]}'), 400, "appears twice"),
    "huge number": (post(b'{"texts": [' + b"9" * 5000 + b"]}"), 400, "not valid JSON"),
    "huge float": (
        post(b'{"texts": ["a"], "probs": 1e999999}'),
        422,
        "'probs' must be true or false",
    ),
    "two Content-Length": (
        post(b'{"texts": ["a"]}', b"Content-Length: 16", b"Content-Length: 17"),
        400,
        "conflicting Content-Length",
    ),
    "Content-Length and chunked": (
        post(CHUNKED, b"Content-Length: 16", b"Transfer-Encoding: chunked"),
        400,
        "both Content-Length and Transfer-Encoding",
    ),
    "TLS client hello": (TLS_HELLO, 400, "malformed HTTP request"),
    "200 kB header": (BIG_HEADER, 431, "limit 16384 bytes"),
    "NUL in a header": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        400,
        "malformed HTTP",
    ),
    "/v1/score/": (post(b'{"texts": ["a"]}', path=b"/v1/score/"), 404, "Not Found"),
    "/v1/model/": (get(b"/v1/model/"), 404, "Not Found"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_requests_get_a_4xx_json_or_a_200_never_a_500(hostile, name):
    request, status, message = HOSTILE[name]
    answer = exchange(hostile, request)
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert "location" not in answer.headers
    if message is None:
        assert len(answer.json()["labels"]) == len(
            json.loads(request.partition(b"\r\n\r\n")[2])["texts"]
        )
    else:
        assert message in answer.json()["error"] and answer.json()["status"] == status
    log = hostile.stderr()
    assert "Traceback" not in log and " 500 " not in log


def test_connections_over_the_cap_are_closed_at_once(hostile):
    """--max-connections 4: four silent connections are held, a fifth is closed unread;
    the four still serve."""
    held = [socket.create_connection(address(hostile), timeout=20) for _ in range(4)]
    try:
        with socket.create_connection(address(hostile), timeout=20) as extra:
            assert extra.recv(1) == b""
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(held[0]).status == 200
    finally:
        for sock in held:
            sock.close()
    assert "connections open (--max-connections): closing new ones" in hostile.stderr()


# --- SIGTERM under keep-alive load ---


def test_sigterm_answers_every_request_written_on_a_keep_alive_connection(tmp_path, deploy):
    """16 clients, each on one keep-alive connection, send request after request; SIGTERM
    arrives mid-load. Every request a client finished writing is answered (200), the last
    answer on each connection says Connection: close and the server then closes it cleanly
    (EOF, no reset), and the server exits 0."""
    body = b'{"texts": ["a good film"]}'
    request = post(body)
    answered = [0] * 16
    failures: list[str] = []

    with started(deploy, tmp_path, "--max-wait-ms", "20") as server:

        def client(worker: int) -> None:
            with socket.create_connection(address(server), timeout=30) as sock:
                for _ in range(2000):  # bounded; the server closes long before
                    try:
                        sock.sendall(request)
                    except OSError as exc:
                        failures.append(f"client {worker}: could not write: {exc}")
                        return
                    try:
                        answer = read_answer(sock)
                    except OSError as exc:  # ConnectionError included: written, not answered
                        failures.append(f"client {worker}: request written, no answer: {exc}")
                        return
                    if answer.status != 200:
                        failures.append(f"client {worker}: {answer.status} {answer.body!r}")
                        return
                    answered[worker] += 1
                    if answer.headers.get("connection") == "close":
                        try:
                            clean = sock.recv(1) == b""
                        except OSError as exc:
                            clean = False
                            failures.append(f"client {worker}: reset after close: {exc}")
                        if not clean:
                            failures.append(f"client {worker}: not closed after close")
                        return
                failures.append(f"client {worker}: never told to close")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while sum(answered) < 200 and time.monotonic() < deadline and not failures:
            time.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=60)
        status = server.stop()
        log = server.stderr()

    assert not failures, failures
    assert status == 0, log
    assert all(count > 0 for count in answered)
    drained = re.search(r"stopped: answered (\d+) of (\d+) accepted score requests", log)
    assert drained and int(drained[1]) == int(drained[2]) == sum(answered), log
    assert "Traceback" not in log


# --- timeouts: every one short, set by its flag ---


@pytest.fixture(scope="module")
def impatient(deploy, tmp_path_factory) -> Iterator[Server]:
    options = ["--timeout-header", "0.5", "--timeout-body", "0.5", "--timeout-keep-alive", "0.5"]
    with started(deploy, tmp_path_factory.mktemp("impatient"), *options) as server:
        yield server


def test_a_connection_that_sends_nothing_is_closed(impatient):
    with socket.create_connection(address(impatient), timeout=20) as sock:
        assert sock.recv(1) == b""


def test_a_slow_request_head_gets_408(impatient):
    with socket.create_connection(address(impatient), timeout=20) as sock:
        sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        answer = read_answer(sock, expect_close=True)
    assert answer.status == 408 and answer.closed
    assert (
        "the request head did not arrive within 0.5 s (--timeout-header)"
        in (answer.json()["error"])
    )


def test_a_slow_request_body_gets_408(impatient):
    with socket.create_connection(address(impatient), timeout=20) as sock:
        head = post(b'{"texts": ["good"]}').partition(b"\r\n\r\n")[0]
        sock.sendall(head + b"\r\n\r\n" + b'{"texts": ')  # 10 of the 19 bytes promised
        answer = read_answer(sock, expect_close=True)
    assert answer.status == 408 and answer.closed
    assert (
        "the request body did not arrive within 0.5 s (--timeout-body)" in (answer.json()["error"])
    )
    assert "Traceback" not in impatient.stderr()


def test_an_idle_keep_alive_connection_is_closed(impatient):
    with socket.create_connection(address(impatient), timeout=20) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(sock).status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # kept alive
        assert read_answer(sock).status == 200
        assert sock.recv(1) == b""  # then closed once idle


# --- start-up: warnings (its one-line errors are in test_serve.py's table) ---


def test_the_run_overhead_line_counts_tokens_in_good_english():
    from reviewscore.serve.batcher import describe_run_overhead

    assert describe_run_overhead(0.7) == "a session run costs as much as 1 token"
    assert describe_run_overhead(0.2) == "a session run costs as much as 0 tokens"
    assert describe_run_overhead(41.6) == "a session run costs as much as 42 tokens"


def test_a_key_file_others_can_read_is_warned_about(tmp_path, deploy):
    key_file = tmp_path / "api-key"
    key_file.write_text("k3y-" + "x" * 28 + "\n")
    key_file.chmod(0o644)
    with started(deploy, tmp_path, "--api-key-file", str(key_file)) as server:
        log = server.stderr()
    assert f"WARNING reviewscore.serve: --api-key-file {key_file} is readable by other" in log
    assert "(mode 0644); chmod 600" in log
    key_file.chmod(0o600)
    with started(deploy, tmp_path, "--api-key-file", str(key_file)) as server:
        assert "readable by other" not in server.stderr()


# --- properties: any JSON, any Unicode text ---

# Any code point, lone surrogates and NUL included (and made common: they are the risks)
CHARACTERS = st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "\udfff", "\x00"])
TEXTS = st.lists(st.text(CHARACTERS, max_size=40), max_size=5)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)
BODIES = (
    TEXTS.map(lambda texts: {"texts": texts})
    | st.fixed_dictionaries({"texts": TEXTS}, optional={"probs": JSON_VALUES})
    | st.fixed_dictionaries({"texts": JSON_VALUES})
    | JSON_VALUES
)


@pytest.fixture(scope="module")
def in_process(deploy) -> Iterator[Any]:
    """The app without a socket (starlette's TestClient): fast enough for many examples."""
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
    state = ServeState(scorer, batcher, metrics, Limits(), None)
    with TestClient(build_app(state), raise_server_exceptions=False) as client:
        yield client


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODIES)
@example(body={"texts": ["good", "a \udfff b"]})
@example(body={"texts": ["\x00"], "probs": True})
def test_no_json_value_or_unicode_text_makes_a_5xx(in_process, body):
    """json.dumps escapes lone surrogates as \\udXXX: valid JSON that decodes to texts UTF-8
    cannot encode, which made the tokenizer raise and the server answer 500."""
    response = in_process.post("/v1/score", content=json.dumps(body).encode())
    assert response.status_code in (200, 400, 413, 422), response.text
    answer = response.json()
    if response.status_code == 200:
        assert len(answer["labels"]) == len(body["texts"])
    else:
        assert answer["status"] == response.status_code and answer["error"]


def utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.fixture(scope="module")
def classifier(deploy) -> Any:
    from reviewscore.score.classifier import DeployedClassifier

    return DeployedClassifier.open(deploy, threads=1)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=TEXTS.filter(bool))
@example(texts=["good", "a \ud800 b"])
@example(texts=["a\x00b", "line\nbreak", '"quoted"'])
def test_any_unicode_text_scores_or_gives_one_line_in_score_and_python(
    classifier, tmp_path_factory, texts
):
    """The same texts through the file scorer (a CSV; a lone surrogate can only be written
    as bytes that are not UTF-8) and through the classifier's Python methods."""
    from reviewscore.errors import ReviewscoreError
    from reviewscore.score.pipeline import ScoreOptions, score_files

    source = tmp_path_factory.mktemp("texts") / "texts.csv"
    with open(source, "w", encoding="utf-8", errors="surrogatepass", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["PhraseId", "Phrase"])
        writer.writerows([i, text] for i, text in enumerate(texts, start=1))
    output = source.with_name("scored.csv")
    try:
        summary = score_files(classifier, [str(source)], str(output), ScoreOptions())
    except ReviewscoreError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{source}, line ")
        assert not output.exists()
    else:
        assert summary.rows == len(texts)
        assert len(output.read_text().splitlines()) >= len(texts) + 1
    try:
        labels = classifier.predict(texts)
    except ValueError as exc:
        assert isinstance(exc, ReviewscoreError) and "\n" not in str(exc)
        assert not all(map(utf8_encodable, texts))
    else:
        assert labels.shape == (len(texts),)
