"""Test-wide settings (never reach a model hub) and the fixtures several modules share."""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from reviewscore.deploy_folder import Manifest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EXPORTED_MAX_LENGTH = 24


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """What the code caches (`--variant auto`'s measurements, `verify --all`'s) goes to a
    temporary folder, never the user's; the CLI's subprocesses inherit it."""
    os.environ["REVIEWSCORE_CACHE"] = str(tmp_path_factory.mktemp("reviewscore-cache"))


@dataclass(frozen=True)
class Exported:
    run: Path
    deploy: Path
    manifest: Manifest


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """exported(arch): a tiny random run of `arch` (max length 24) and its default export,
    built once per test session: the export and the scorer tests share them. Read-only."""
    from reviewscore.export.deploy import export_run
    from tiny_models import make_run

    built: dict[str, Exported] = {}

    def build(arch: str) -> Exported:
        if arch not in built:
            root = tmp_path_factory.mktemp(f"exported-{arch}")
            make_run(root / "run", arch, max_length=EXPORTED_MAX_LENGTH)
            manifest = export_run(root / "run", root / "deploy")
            built[arch] = Exported(root / "run", root / "deploy", manifest)
        return built[arch]

    return build


@pytest.fixture(scope="session")
def exported_int8(tmp_path_factory):
    """The toy-trained tiny bert (max length 24), exported with both int8 variants beside
    fp32 (the default). Its labels vary (a random model's are all one label) and its margins
    are wide: no int8 kernel (AVX2, VNNI, WebAssembly) can flip a label of `keyword_rows`, and
    fp32 runtimes, ~1e-6 apart, none of any phrase. So other runtimes' labels must equal the
    CLI's. Read-only."""
    from reviewscore.export.deploy import ExportOptions, export_run
    from tiny_models import make_run

    root = tmp_path_factory.mktemp("exported-int8")
    make_run(root / "run", "bert", max_length=EXPORTED_MAX_LENGTH, trained=True)
    options = ExportOptions(variants=("fp32", "int8-dynamic", "int8-static"))
    manifest = export_run(root / "run", root / "deploy", options)
    return Exported(root / "run", root / "deploy", manifest)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A folder holding a tiny random bert saved as a model (tiny/) and 600 toy rows
    (toy.tsv): what the train CLI tests start from. One per test module."""
    from tiny_models import make_model, write_toy_tsv

    root = tmp_path_factory.mktemp("tiny")
    model, tokenizer = make_model("bert")
    model.save_pretrained(root / "tiny")
    tokenizer.save_pretrained(root / "tiny")
    write_toy_tsv(root / "toy.tsv", 600, seed=2)
    return root
