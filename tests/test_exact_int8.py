"""Exact int8 products on CPUs without VNNI or AMX. There onnxruntime's u8 x s8 kernels sum
each pair of neighbouring products in saturating int16 (AVX2's vpmaddubsw), and 8-bit
weights overflow it; the scorer asks onnxruntime for its exact u8 x u8 kernels instead. Which
CPU asks is decided from a CPU record given to the code, never from the CPU the tests run
on; the one model run here gives exact products on every CPU family when the mode is on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reviewscore.cpu_features import int8_pairs_may_saturate
from reviewscore.deploy_folder import load_manifest
from reviewscore.errors import UsageError
from reviewscore.score import session as session_module
from reviewscore.score.session import (
    EXACT_INT8_CONFIG,
    EXACT_INT8_ENV,
    exact_int8_wanted,
    open_session,
)
from reviewscore.score.summary import ScoreSummary, describe
from tiny_models import make_run

SATURATING = [("avx2", True), ("avx512", True), ("other", True), ("unknown", True)]
EXACT = [("amx", False), ("avx512-vnni", False), ("avx-vnni", False)]


@pytest.mark.parametrize(("isa", "saturates"), SATURATING + EXACT)
def test_only_vnni_and_amx_classes_count_as_exact(isa, saturates):
    assert int8_pairs_may_saturate({"isa_class": isa}) is saturates


@pytest.mark.parametrize(("isa", "saturates"), SATURATING + EXACT)
def test_the_mode_follows_the_cpu_record_unless_the_environment_forces_it(
    monkeypatch, isa, saturates
):
    monkeypatch.delenv(EXACT_INT8_ENV, raising=False)
    monkeypatch.setattr(session_module, "local_cpu", lambda: {"isa_class": isa})
    assert exact_int8_wanted() is saturates
    for forced, wanted in (("1", True), ("0", False)):
        monkeypatch.setenv(EXACT_INT8_ENV, forced)
        assert exact_int8_wanted() is wanted
    monkeypatch.setenv(EXACT_INT8_ENV, "yes")
    with pytest.raises(UsageError, match=f"{EXACT_INT8_ENV} must be 0 or 1, not 'yes'"):
        exact_int8_wanted()


def saturating_model(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A QDQ MatMul of u8 activations by 8-bit s8 weights whose neighbouring products sum
    past int16 (255 x 127 x 2 = 64,770): its input, and the exact integer products."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.full((8, 4), 127, np.int8)
    weights[:, 1] = -128
    weights[1::2, 2] = -128  # pairs of opposite sign: never saturate
    weights[:, 3] = 60  # 7-bit: never saturate, and left as s8 by onnxruntime
    activations = np.array([[255] * 8, [200] * 8, [10, 255] * 4], np.uint8)
    graph = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x"]),
            helper.make_node("DequantizeLinear", ["w_q", "w_scale"], ["w"]),
            helper.make_node("MatMul", ["x", "w"], ["logits"]),
        ],
        "saturating",
        [helper.make_tensor_value_info("x_q", TensorProto.UINT8, [None, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 4])],
        [
            numpy_helper.from_array(np.float32(1.0), "x_scale"),
            numpy_helper.from_array(np.uint8(0), "x_zero"),
            numpy_helper.from_array(weights, "w_q"),
            numpy_helper.from_array(np.float32(1.0), "w_scale"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return activations, activations.astype(np.int64) @ weights.astype(np.int64)


def test_with_the_mode_on_saturating_products_come_out_exact(monkeypatch, tmp_path):
    """On AVX2 without the mode the first two columns come out clipped (131,068 for 259,080
    in the first row: checked under qemu's emulated AMD EPYC, see
    docs/verify-and-int8.md#int8-and-the-cpu); on VNNI and AMX they are exact either way."""
    activations, exact = saturating_model(tmp_path / "model.onnx")
    monkeypatch.setenv(EXACT_INT8_ENV, "1")
    session = open_session(tmp_path / "model.onnx", provider="cpu", threads=1)
    assert session.exact_int8
    assert session.inner.get_session_options().get_session_config_entry(EXACT_INT8_CONFIG) == "1"
    products = session.inner.run(None, {"x_q": activations})[0]
    np.testing.assert_array_equal(products, exact.astype(np.float32))


def test_with_the_mode_off_onnxruntime_is_not_asked(monkeypatch, tmp_path):
    saturating_model(tmp_path / "model.onnx")
    monkeypatch.setenv(EXACT_INT8_ENV, "0")
    session = open_session(tmp_path / "model.onnx", provider="cpu", threads=1)
    assert not session.exact_int8
    with pytest.raises(RuntimeError, match=EXACT_INT8_CONFIG):
        session.inner.get_session_options().get_session_config_entry(EXACT_INT8_CONFIG)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    from reviewscore.export.deploy import ExportOptions, export_run

    root = tmp_path_factory.mktemp("exact")
    make_run(root / "run", "bert", max_length=32, trained=True)
    export_run(root / "run", root / "deploy", ExportOptions(variants=("int8-static",)))
    return load_manifest(root / "deploy")


@pytest.mark.parametrize(("exact", "said"), [(True, "made exact here"), (False, "may saturate")])
def test_the_score_note_says_whether_int8_products_are_exact(manifest, exact, said):
    here = {"isa_class": "avx2", "cpu": "AMD EPYC"}
    summary = ScoreSummary.for_variant(
        manifest, "int8-static", "CPUExecutionProvider", here=here, exact_int8=exact
    )
    notes = [line for line in describe(summary) if line.startswith("note:")]
    assert len(notes) == 1 and said in notes[0]
    assert (f"{EXACT_INT8_ENV}=0" in notes[0]) is not exact


def test_the_export_records_whether_it_measured_with_the_mode(manifest):
    """On this machine's CPU whichever it is; the record must say which it was."""
    measured = manifest.parity_of("int8-static").measured_on
    assert measured["exact_int8"] is exact_int8_wanted()


@pytest.mark.parametrize("forced", ["1", "0"])
def test_the_strings_in_check_opens_its_sessions_in_the_scorers_mode(monkeypatch, tmp_path, forced):
    """The export compares each edge variant's labels with the scorer's: in one mode both."""
    pytest.importorskip("onnxruntime_extensions")
    from reviewscore.export.edge.check import open_edge_session

    activations, exact = saturating_model(tmp_path / "model.onnx")
    monkeypatch.setenv(EXACT_INT8_ENV, forced)
    session = open_edge_session(tmp_path / "model.onnx", threads=1)
    options = session.get_session_options()
    if forced == "1":
        assert options.get_session_config_entry(EXACT_INT8_CONFIG) == "1"
        products = session.run(None, {"x_q": activations})[0]
        np.testing.assert_array_equal(products, exact.astype(np.float32))
    else:
        with pytest.raises(RuntimeError, match=EXACT_INT8_CONFIG):
            options.get_session_config_entry(EXACT_INT8_CONFIG)
