"""Where failing entries lie (issue 18 item 6): a channel, a batch item, the border, every k-th element, a block,
read from the mask of failing entries, and named in the table's note and JSON's `patterns`."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from gradcheck_cli.verdict.patterns import pattern_of


def _mask(shape, *selections) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for selection in selections:
        mask[selection] = True
    return mask


@pytest.mark.parametrize("mask, kind, fields, words", [
    (_mask((2, 4, 5, 5), np.s_[:, 3]), "index", {"fixed": {"1": 3}}, "all of [:, 3, ...] fail, and nothing else "
                                                                     "(channel 3 in N×C×… layout)"),
    (_mask((2, 4, 5, 5), np.s_[0]), "index", {"fixed": {"0": 0}}, "all of [0, ...] fail, and nothing else "
                                                                  "(batch item 0 in N×C×… layout)"),
    (_mask((2, 4, 5, 5), np.s_[1, 2, 0, 0], np.s_[1, 2, 4, 1]), "index", {"fixed": {"0": 1, "1": 2}},
     "2 of the 25 entries of [1, 2, ...] fail"),
    (_mask((1, 2, 5, 5), np.s_[0, :, -1, :], np.s_[0, :, :, -1]), "border", {"border": {"2": ["last"], "3": ["last"]}},
     "on the border (axis 2: last; axis 3: last index)"),
    (_mask((6, 6), np.s_[0, :], np.s_[:, 0], np.s_[5, :]), "border",
     {"border": {"0": ["first", "last"], "1": ["first"]}}, "axis 0: first and last"),
    (_mask((2, 9), np.s_[:, 1::3]), "stride", {"stride": {"axis": 1, "step": 3, "start": 1}},
     "every 3rd index from 1 (1::3)"),
    (_mask((8, 8), np.s_[2:5, 3:6]), "block", {"block": [[2, 5], [3, 6]]}, "fill the block [2:5, 3:6]"),
    (_mask((8, 8), np.s_[1, 2], np.s_[5, 6], np.s_[3, 3]), "scattered", {}, "3 of 64 entries fail, in no simple"),
], ids=["channel", "batch item", "one image of one channel", "last row and column", "three edges", "every 3rd",
        "block", "scattered"])
def test_planted_masks_are_named(mask, kind, fields, words):
    pattern = pattern_of(mask)
    assert pattern["kind"] == kind and words in pattern["text"]
    assert pattern["failing"] == int(mask.sum()) and pattern["total"] == mask.size
    assert {key: pattern[key] for key in fields} == fields


@pytest.mark.parametrize("mask", [np.zeros((3, 3), dtype=bool), np.ones((3, 3), dtype=bool)])
def test_nothing_or_everything_failing_has_no_pattern(mask):
    assert pattern_of(mask) is None


BUGGY_CONVS = """
from examples.custom_ops.depthwise_conv import DepthwiseConv3x3


class {name}(DepthwiseConv3x3):
    @staticmethod
    def backward(ctx, grad):
        grad_x, grad_w = DepthwiseConv3x3.backward(ctx, grad)
        {bug}
        return grad_x, grad_w


def conv(x, w):
    return {name}.apply(x, w)
"""
BUGS = {
    # the tile loop stops one short of the edge: the last row and column get no gradient
    "border": ("LastRowSkipped", "grad_x = grad_x.clone(); grad_x[..., -1, :] = 0; grad_x[..., :, -1] = 0"),
    # channel 1's input gradient is scaled by a stale factor
    "channel": ("StaleChannel", "grad_x = grad_x.clone(); grad_x[:, 1] = 1.5 * grad_x[:, 1]"),
}


@pytest.mark.parametrize("bug, kind, words", [
    ("border", "border", "x: every failing entry is on the border (axis 2: last; axis 3: last index), 27 of 75"),
    ("channel", "index", "x: all of [:, 1, ...] fail, and nothing else (channel 1 in N×C×… layout)"),
])
def test_a_buggy_conv_like_op_is_localised(cli, schema, user_module, monkeypatch, tmp_path, bug, kind, words):
    """One run (its 75×102 Jacobian takes seconds) gives both reports: the JSON to -o, the table to stdout."""
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    name, line = BUGS[bug]
    target = user_module(BUGGY_CONVS.format(name=name, bug=line)) + ":conv"
    report = tmp_path / "report.json"
    shown = cli("--function", target, "--x", "randn(1, 3, 5, 5)", "--w", "randn(3, 1, 3, 3)", "--seed", "0",
                "--json", "-o", str(report), "--color", "never")
    document = json.loads(report.read_text())
    jsonschema.validate(document, schema)
    result = document["results"][0]
    assert shown.exit_code == 1 and [p["wrt"] for p in result["patterns"]] == ["x"]  # w's gradient is right
    pattern = result["patterns"][0]
    assert pattern["kind"] == kind and pattern["text"] == words
    text = " ".join(shown.stdout.split())
    assert f"where the failing entries lie, {words}" in text


@pytest.mark.parametrize("bug, kind, words", [
    ("border", "border", "on the border (axis 2: last; axis 3: last index), at most 496 of 4096"),
    ("channel", "index", "they lie in [:, 1, ...] and nowhere else (channel 1 in N×C×… layout)"),
])
def test_under_fast_a_failing_projection_is_localised_by_projections_onto_parts(cli_json, user_module, monkeypatch,
                                                                                bug, kind, words):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    name, line = BUGS[bug]
    target = user_module(BUGGY_CONVS.format(name=name, bug=line)) + ":conv"
    code, document = cli_json("--function", target, "--x", "randn(2, 8, 16, 16)", "--w", "randn(8, 1, 3, 3)",
                              "--seed", "0", "--fast")
    result = document["results"][0]
    assert code == 1 and [(p["wrt"], p["kind"], p["located_by"]) for p in result["patterns"]] == \
        [("x", kind, "projections")]
    assert words in result["patterns"][0]["text"] and any(words in note for note in result["notes"])


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_a_weight_is_not_read_as_a_batch_of_images(cli_json, user_module, monkeypatch, fast):
    """w (8×1×3×3) does not share the output's batch axis: its axis 0 is no batch item (it is a channel's filter),
    so its pattern names the slice without the N×C×… reading that x's gets."""
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    line = "grad_w = grad_w.clone(); grad_w[2] = 1.5 * grad_w[2]"
    target = user_module(BUGGY_CONVS.format(name="StaleFilter", bug=line)) + ":conv"
    size = ("randn(2, 8, 16, 16)", "--fast") if fast else ("randn(2, 8, 4, 4)",)
    code, document = cli_json("--function", target, "--x", *size, "--w", "randn(8, 1, 3, 3)", "--seed", "0")
    result = document["results"][0]
    assert code == 1 and [p["wrt"] for p in result["patterns"]] == ["w"]
    text = result["patterns"][0]["text"]
    assert "[2, ...]" in text and "layout" not in text and "batch item" not in text


def test_the_layout_reading_needs_the_outputs_batch_axis():
    mask = _mask((8, 1, 3, 3), np.s_[2])
    assert pattern_of(mask, output_shape=(2, 8, 16, 16))["text"] == "all of [2, ...] fail, and nothing else"
    assert pattern_of(mask, output_shape=(8, 4, 16, 16))["text"].endswith("(batch item 2 in N×C×… layout)")


def test_a_superset_mask_claims_only_where_failures_lie():
    pattern = pattern_of(_mask((2, 4, 5, 5), np.s_[:, 3]), superset=True)
    assert pattern["text"] == "they lie in [:, 3, ...] and nowhere else (channel 3 in N×C×… layout)"
    scattered = pattern_of(_mask((8, 8), np.s_[1, 2], np.s_[5, 6], np.s_[3, 3]), superset=True)
    assert scattered["text"] == "in no simple pattern at this resolution (3 of 64 entries suspect)"
    block = pattern_of(_mask((8, 8), np.s_[2:5, 3:6]), superset=True)
    assert block["text"] == "they lie in the block [2:5, 3:6], at most 9 of 64"
