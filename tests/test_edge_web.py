"""The browser page (examples/web) in headless Chromium: served as static files on loopback,
it loads the int8 variant of a deploy folder, scores typed reviews as `reviewscore score`
does, shows a clear error for a tampered model, and a screenshot is taken. Skipped, with the
reason, where Chromium, node or npm is missing."""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from js_examples import EXAMPLES, installed
from tiny_models import keyword_rows

CLI = [sys.executable, "-m", "reviewscore.cli", "score"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def web_dir() -> Path:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    return installed("web")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test's output clean (the base class logs every request to stderr)."""


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[str, Path]]:
    """(base URL, root) of a static file server on 127.0.0.1 whose root holds the page
    (web/), the shared module (shared/) and what a test puts there: the layout of examples/
    with a deploy folder beside the page. Stopped after the test."""
    root = tmp_path / "site"
    root.mkdir()
    for part in ("web", "shared"):
        (root / part).symlink_to(EXAMPLES / part, target_is_directory=True)
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def check_page(url: str, reviews: list[str], screenshot: Path) -> subprocess.CompletedProcess:
    source = screenshot.with_suffix(".txt")
    source.write_text("\n".join(reviews) + "\n", encoding="utf-8")
    return subprocess.run(
        ["node", str(EXAMPLES / "web" / "check_page.mjs"), url, str(source), str(screenshot)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CHROMIUM": CHROMIUM},
    )


def cli_probabilities(deploy: Path, texts: list[str], variant: str, tmp_path: Path) -> list[dict]:
    """`reviewscore score --probs` of `texts`, each row its own batch as the page scores."""
    source = tmp_path / "typed.tsv"
    lines = ["PhraseId\tPhrase", *(f"{i}\t{t}" for i, t in enumerate(texts, start=1))]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = ["--variant", variant, "--batch-tokens", "1", "--format", "csv", "--probs"]
    done = subprocess.run(
        [*CLI, str(deploy), str(source), *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize(
    ("query", "variant", "tolerance"),
    [
        # The page's default, the smallest int8 variant: labels only. WebAssembly sums int8
        # products exactly in int32, as AVX-512 VNNI does (probabilities ~1e-7 apart), but
        # AVX2 kernels saturate in 16 bits and move this model's logits by up to ~1
        # (docs/verify-and-int8.md#int8-and-the-cpu): its margins (~3.5) keep every label,
        # not every probability.
        ("", "int8-dynamic", None),
        # fp32: the same arithmetic on every CPU, so the probabilities too.
        ("&variant=fp32", "fp32", 1e-4),
    ],
)
def test_page_scores_typed_reviews_as_the_cli(
    web_dir, exported_int8, site, tmp_path, query, variant, tolerance
):
    base, root = site
    (root / "deploy").symlink_to(exported_int8.deploy, target_is_directory=True)
    texts = [text for _, _, text, _ in keyword_rows(8, seed=21)]
    screenshot = tmp_path / "page.png"

    done = check_page(f"{base}/web/?deploy=../deploy/{query}", texts, screenshot)

    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert page["variant"] == variant
    assert page["problems"] == []
    assert [row["review"] for row in page["rows"]] == texts
    expected = cli_probabilities(exported_int8.deploy, texts, variant, tmp_path)
    assert [row["label"] for row in page["rows"]] == [int(w["Sentiment"]) for w in expected]
    assert len({row["label"] for row in page["rows"]}) > 1  # not one label for everything
    for row, want in zip(page["rows"], expected, strict=True):
        assert sum(row["probs"]) == pytest.approx(1, abs=1e-5)
        if tolerance is not None:
            probs = [float(want[f"p_{k}"]) for k in range(len(row["probs"]))]
            assert row["probs"] == pytest.approx(probs, abs=tolerance), (row, want)
    assert png_size(screenshot)[0] == 1000


def test_tampered_model_is_refused_on_the_page(web_dir, exported_int8, site, tmp_path):
    base, root = site
    copy = root / "deploy"
    shutil.copytree(exported_int8.deploy, copy)
    with open(copy / "model.int8-dynamic.onnx", "ab") as handle:
        handle.write(b"\0")

    done = check_page(f"{base}/web/?deploy=../deploy/", ["good film"], tmp_path / "error.png")

    assert done.returncode == 1
    assert "model.int8-dynamic.onnx does not match the manifest (sha256" in done.stderr
    assert png_size(tmp_path / "error.png")[0] == 1000
