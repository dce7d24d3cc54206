"""The convolution family of issue 17 beyond its registry rows (tests/rows_convolution.py): the bias (an optional
operand) and padding='same', which the registry's Python-grammar round trip does not read yet; gradients and
Hessians against torch.autograd (float64); ties in a max_pool window as kinks (undefined, never a wrong pass or
fail); shape errors worded like torch's; the complex step for the linear ops; and a derivative graph that grows
linearly with the number of layers."""

from __future__ import annotations

import numpy as np
import op_rows  # noqa: F401 (first: it imports the row modules, rows_convolution among them)
import pytest
import torch
import torch.nn.functional as F
from rows_convolution import grid

from gradcheck_cli import check
from gradcheck_cli.engines.symbolic import gradient_nodes
from gradcheck_cli.lang.graph import ancestors, same_structure, to_text
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.lang.shapes import ShapeMap


def _torch_gradients(function, at: dict, wrt: list[str]) -> dict[str, np.ndarray]:
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in wrt) for k, v in at.items()}
    function(**tensors).backward()
    return {k: tensors[k].grad.numpy() for k in wrt}


def _symbolic(result, name: str, shape: tuple) -> np.ndarray:
    return np.array([g.symbolic for g in result.gradients if g.wrt == name]).reshape(shape)


# (expression, point, the same in torch)
AGAINST_TORCH = [
    ("sum(conv1d(x, w, b, stride=2, padding=1, dilation=2)**2)",
     {"x": grid(2, 2, 7, seed=1), "w": grid(3, 2, 2, seed=2), "b": [0.5, -1.0, 0.25]},
     lambda x, w, b: (F.conv1d(x, w, b, stride=2, padding=1, dilation=2) ** 2).sum()),
    ("sum(conv1d(x, w, bias=b, padding='same')*v)",
     {"x": grid(2, 6, seed=3), "w": grid(3, 2, 4, seed=4), "b": [1.5, -0.5, 0.75], "v": grid(3, 6, seed=5)},
     lambda x, w, b, v: (F.conv1d(x, w, b, padding="same") * v).sum()),
    ("sum(conv1d(x, w, None, 1, padding='same', dilation=3, groups=2)**2)",
     {"x": grid(1, 4, 7, seed=6), "w": grid(2, 2, 2, seed=7)},
     lambda x, w: (F.conv1d(x, w, None, 1, "same", 3, 2) ** 2).sum()),
    ("sum(conv2d(x, w, b, padding=1)*v)",
     {"x": grid(1, 2, 4, 4, seed=8), "w": grid(3, 2, 3, 3, seed=9), "b": [0.5, -1.25, 2.0],
      "v": grid(1, 3, 4, 4, seed=10)},
     lambda x, w, b, v: (F.conv2d(x, w, b, padding=1) * v).sum()),
    ("sum(conv2d(x, w, bias=b, padding='same', dilation=(2, 1), groups=2)**2)",
     {"x": grid(2, 4, 5, 4, seed=11), "w": grid(4, 2, 2, 3, seed=12), "b": [0.25, -0.5, 1.0, -1.5]},
     lambda x, w, b: (F.conv2d(x, w, b, padding="same", dilation=(2, 1), groups=2) ** 2).sum()),
    ("sum(conv2d(x, w, padding='valid', stride=(1, 2))**2)",
     {"x": grid(3, 4, 5, seed=13), "w": grid(2, 3, 2, 2, seed=14)},
     lambda x, w: (F.conv2d(x, w, padding="valid", stride=(1, 2)) ** 2).sum()),
    ("sum(avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)*v)",
     {"x": grid(1, 2, 6, 5, seed=15), "v": grid(1, 2, 4, 3, seed=16)},
     lambda x, v: (F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False) * v).sum()),
    ("sum(avg_pool2d(x, 2, padding=1, ceil_mode=True)**2)", {"x": grid(2, 5, 4, seed=17)},
     lambda x: (F.avg_pool2d(x, 2, padding=1, ceil_mode=True) ** 2).sum()),
    ("sum(max_pool2d(x, 3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)*v)",
     {"x": grid(1, 2, 6, 7, seed=18), "v": grid(1, 2, 4, 3, seed=19)},
     lambda x, v: (F.max_pool2d(x, 3, 2, 1, dilation=(1, 2), ceil_mode=True) * v).sum()),
    # a window's maximum 0 beside the padding: the padding (-inf for torch) is no tie, im2col's zeros are masked
    ("sum(max_pool1d(x, 2, padding=1)*v)", {"x": [[0.0, -1.0, -2.0, 0.5]], "v": [[1.5, -2.0, 0.25]]},
     lambda x, v: (F.max_pool1d(x, 2, padding=1) * v).sum()),
]


@pytest.mark.parametrize("text, at, function", AGAINST_TORCH, ids=[t for t, _, _ in AGAINST_TORCH])
def test_gradients_match_torch(text, at, function):
    wrt = [k for k in at if k != "v"]
    result = check(text, at=at, wrt=wrt)
    assert result.status == "pass", (result.error, [g for g in result.gradients if g.status != "pass"][:3])
    expected = _torch_gradients(function, at, wrt)
    for name in wrt:
        np.testing.assert_allclose(_symbolic(result, name, np.shape(at[name])), expected[name], rtol=1e-13,
                                   atol=1e-13)


@pytest.mark.parametrize("text", [t for t, _, _ in AGAINST_TORCH])
def test_bias_and_same_print_back(text):
    """The bias prints as bias=..., padding='same' as itself, and the printed text parses to the same graph."""
    node = parse(text).output
    printed = to_text(node)
    assert same_structure(parse(printed).output, node), printed
    if " b" in text or "b," in text or "=b" in text:
        assert "bias=b" in printed
    if "'same'" in text:
        assert "padding='same'" in printed


def test_an_absent_bias_is_none_and_a_constant_bias_broadcasts_over_nothing():
    assert parse("conv1d(x, w, None)").output.attr == parse("conv1d(x, w)").output.attr
    result = check("sum(conv1d(x, w, bias=b))", at={"x": grid(2, 5), "w": grid(1, 2, 3), "b": 1.0})
    assert result.status == "error" and "the bias must have shape (1,)" in result.error["message"]


# ---- second order: Hessians against torch ----


HESSIANS = [
    ("sum(conv1d(x, w, b, padding=1)**3)",
     {"x": grid(1, 1, 3, seed=20), "w": grid(2, 1, 2, seed=21), "b": [0.5, -0.25]},
     lambda x, w, b: (F.conv1d(x, w, b, padding=1) ** 3).sum()),
    ("sum(conv2d(x, w, stride=2, groups=2)**3)", {"x": grid(2, 3, 3, seed=22), "w": grid(2, 1, 2, 2, seed=23)},
     lambda x, w: (F.conv2d(x, w, stride=2, groups=2) ** 3).sum()),
    ("sum(conv1d(x, w, padding='same')**3)", {"x": grid(1, 4, seed=24), "w": grid(1, 1, 2, seed=25)},
     lambda x, w: (F.conv1d(x, w, padding="same") ** 3).sum()),
    ("sum(avg_pool1d(x**2, 2, 1, 1, count_include_pad=False)**2)", {"x": grid(1, 5, seed=26)},
     lambda x: (F.avg_pool1d(x ** 2, 2, 1, 1, count_include_pad=False) ** 2).sum()),
    # (no element 0: the corner window holds one element, and x**6 at 0 leaves finite differences inconclusive)
    ("sum(max_pool2d(x*x*x, 2, 1, padding=1)**2)", {"x": (np.array(grid(1, 3, 3, seed=27)) + 0.125).tolist()},
     lambda x: (F.max_pool2d(x * x * x, 2, 1, padding=1) ** 2).sum()),
]


@pytest.mark.parametrize("text, at, function", HESSIANS, ids=[t for t, _, _ in HESSIANS])
def test_hessians_match_torch(text, at, function):
    result = check(text, at=at, order=2)
    assert result.status == "pass", result.error
    names = list(at)
    tensors = tuple(torch.tensor(at[n], dtype=torch.float64) for n in names)
    hessian = torch.autograd.functional.hessian(function, tensors)
    assert len(result.hessian) == sum(np.size(v) for v in at.values()) ** 2
    for row in result.hessian:
        a, b = row.wrt
        exact = hessian[names.index(a)][names.index(b)].numpy()[tuple(row.index[0]) + tuple(row.index[1])]
        assert row.symbolic == pytest.approx(exact, rel=1e-12, abs=1e-12), row
        assert row.autograd == pytest.approx(exact, rel=1e-12, abs=1e-12), row


def test_the_derivative_graph_grows_linearly_with_the_layers():
    """Each conv layer adds a fixed number of derivative nodes: the vjps are graph nodes, never unrolled."""
    def size(layers: int) -> int:
        text = "x"
        for _ in range(layers):
            text = f"max_pool1d(avg_pool1d(conv1d({text}, w, b, padding=1), 1), 1)"
        expression = parse(f"sum({text}**2)")
        shapes = ShapeMap({"x": (1, 2, 6), "w": (2, 2, 3), "b": (2,)})
        gradients = gradient_nodes(expression.output, ["x", "w", "b"], shapes)
        return len(ancestors(list(gradients.values())))

    sizes = [size(n) for n in (1, 2, 3, 4)]
    steps = np.diff(sizes)
    assert steps[0] > 0 and np.all(steps == steps[0]), sizes


# ---- ties in max_pool: kinks ----


def test_a_tie_in_a_window_is_undefined_for_the_tied_elements():
    result = check("sum(max_pool1d(x, 2)*v)", at={"x": [[1.0, 1.0, -0.5, 2.0]], "v": [[1.5, -2.0]]}, wrt=["x"])
    assert result.status == "undefined"
    statuses = {g.index[1]: g.status for g in result.gradients}
    assert statuses == {0: "undefined", 1: "undefined", 2: "pass", 3: "pass"}
    tied = [g for g in result.gradients if g.status == "undefined"]
    for g in tied:  # one side takes the whole window's adjoint, the other none of it
        assert sorted([g.left, g.right]) == [pytest.approx(0.0, abs=1e-7), pytest.approx(1.5, rel=1e-7)]


def test_a_tie_in_a_2d_window_and_a_tie_across_windows():
    x = [[[0.5, 2.0, 1.0], [2.0, -1.0, 0.0]]]
    assert check("sum(max_pool2d(x, 2, stride=1)**2)", at={"x": x}).status == "undefined"
    # equal values in different windows are no tie
    result = check("sum(max_pool1d(x, 2)**2)", at={"x": [[2.0, 1.0, 2.0, 0.5]]})
    assert result.status == "pass" and [g.symbolic for g in result.gradients] == [4.0, 0.0, 4.0, 0.0]


def test_max_pool_is_smooth_where_the_maximum_is_unique():
    result = check("sum(max_pool2d(x, 2)*v)", at={"x": grid(1, 4, 4, seed=28), "v": grid(1, 2, 2, seed=29)})
    assert result.status == "pass"
    assert all(g.left is None and g.right is None for g in result.gradients)


# ---- the complex step: conv and avg_pool are linear, max_pool is not ----


@pytest.mark.parametrize("text, at, method", [
    ("sum(conv2d(x, w, b, padding=1)**3)", {"x": grid(1, 3, 3, seed=30), "w": grid(1, 1, 2, 2, seed=31), "b": [0.5]},
     "complex"),
    ("sum(avg_pool1d(x, 2, padding=1, count_include_pad=False)**3) + sum(im2col(x, kernel_size=(2,), out=(2,))**3)"
     " + sum(col2im(im2col(x, kernel_size=(3,), out=(2,)), kernel_size=(3,), size=(4,))**3)"
     " + sum(conv1d(x, w2)**3) + sum(avg_pool2d(y, 2, ceil_mode=True, divisor_override=3)**3)",
     {"x": grid(2, 4, seed=32), "w2": grid(1, 2, 3, seed=33), "y": grid(1, 3, 4, seed=37)}, "complex"),
    ("sum(max_pool1d(x, 2)**3)", {"x": grid(2, 4, seed=34)}, "richardson"),
])
def test_complex_step_for_the_linear_ops(text, at, method):
    result = check(text, at=at)
    assert result.status == "pass", result.error
    for row in result.gradients:
        assert row.fd_method == method, row
        if method == "complex":
            assert abs(row.finite_difference - row.symbolic) <= 1e-12 * max(1.0, abs(row.symbolic)), row


# ---- shape errors, worded like torch's ----


@pytest.mark.parametrize("text, at, message", [
    ("sum(conv1d(x, w))", {"x": grid(1, 3, 5), "w": grid(2, 2, 3)},
     "groups=1 and a weight of shape (2, 2, 3) expect 2 input channels, but the input of shape (1, 3, 5) has 3"),
    ("sum(conv1d(x, w, groups=2))", {"x": grid(1, 4, 5), "w": grid(3, 2, 3)},
     "groups=2 must divide the weight's 3 output channels"),
    ("sum(conv1d(x, w, stride=2, padding='same'))", {"x": grid(1, 2, 5), "w": grid(1, 2, 3)},
     "padding='same' is not supported for strided convolutions"),
    ("sum(conv2d(x, w, padding=(1, 0)))", {"x": grid(1, 1, 3, 2), "w": grid(1, 1, 3, 3)},
     "the padded input size per channel (5 x 2) is smaller than the (dilated) kernel size (3 x 3)"),
    ("sum(conv1d(x, w, dilation=3))", {"x": grid(1, 5), "w": grid(1, 1, 3)},
     "(5) is smaller than the (dilated) kernel size (7)"),
    ("sum(conv1d(x, w, b))", {"x": grid(1, 5), "w": grid(2, 1, 3), "b": [1.0, 2.0, 3.0]},
     "the bias must have shape (2,), one value per output channel, got shape (3,)"),
    ("sum(conv1d(x, w))", {"x": grid(5), "w": grid(1, 1, 3)},
     "expected a 2-D (unbatched) or 3-D (batched) input, got shape (5,)"),
    ("sum(conv2d(x, w))", {"x": grid(1, 1, 4, 4), "w": grid(1, 1, 3)},
     "the weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape (1, 1, 3)"),
    ("sum(conv2d(x, w, stride=(1, 2, 3)))", {"x": grid(1, 4, 4), "w": grid(1, 1, 3, 3)},
     "stride must be an integer or a tuple of 2 integers, got (1, 2, 3)"),
    ("sum(conv1d(x, w, stride=0))", {"x": grid(1, 4), "w": grid(1, 1, 3)}, "stride must be positive, got 0"),
    ("sum(conv1d(x, w, padding=-1))", {"x": grid(1, 4), "w": grid(1, 1, 3)}, "padding must not be negative"),
    ("sum(conv1d(x, w, groups=0))", {"x": grid(1, 4), "w": grid(1, 1, 3)}, "groups must be a positive integer"),
    ("sum(avg_pool1d(x, 2, padding=2))", {"x": grid(1, 6)},
     "pad should be at most half of kernel size, but got pad=2, kernel_size=2"),
    ("sum(max_pool2d(x, 3, padding=2, dilation=1))", {"x": grid(1, 6, 6)},
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"),
    ("sum(max_pool1d(x, 4))", {"x": grid(1, 3)}, "the input of size (3) gives an output of size (0)"),
    ("sum(avg_pool2d(x, 2, divisor_override=0))", {"x": grid(1, 4, 4)}, "divisor_override must not be zero"),
    ("sum(avg_pool2d(x))", {"x": grid(1, 4, 4)}, "kernel_size is required"),
    ("sum(col2im(p, kernel_size=(3,), size=(5,)))", {"p": grid(2, 3, 2)}, "must end with the kernel_size (3,)"),
])
def test_bad_shapes_and_options_are_shape_errors(text, at, message):
    result = check(text, at=at)
    assert result.status == "error" and result.error["kind"] == "shape", result.error
    assert message in result.error["message"], result.error["message"]


@pytest.mark.parametrize("text, at", [
    ("sum(conv1d(x, w))", {"x": grid(1, 3, 5), "w": grid(2, 2, 3)}),
    ("sum(conv1d(x, w, stride=2, padding='same'))", {"x": grid(1, 2, 5), "w": grid(1, 2, 3)}),
    ("sum(conv2d(x, w, padding=(1, 0)))", {"x": grid(1, 1, 3, 2), "w": grid(1, 1, 3, 3)}),
    ("sum(avg_pool1d(x, 2, padding=2))", {"x": grid(1, 6)}),
    ("sum(max_pool1d(x, 4))", {"x": grid(1, 3)}),
])
def test_torch_refuses_them_too(text, at):
    """The shape errors above are calls torch refuses: none of them is ours alone."""
    calls = {"conv1d": F.conv1d, "conv2d": F.conv2d, "avg_pool1d": F.avg_pool1d, "max_pool1d": F.max_pool1d}
    expression = parse(text)
    node = expression.output.args[0]
    spec_name = node.op
    tensors = [torch.tensor(at[a.attr], dtype=torch.float64) for a in node.args]
    options = dict(node.attr.items)
    options = {k: (v[0] if isinstance(v, tuple) and len(v) == 1 else v) for k, v in options.items()
               if k != "bias" and v is not None}
    with pytest.raises(RuntimeError):
        calls[spec_name](*tensors, **options)


def test_unbatched_input_is_the_batched_one_without_its_batch_dim():
    x, w, b = grid(2, 5, seed=35), grid(3, 2, 2, seed=36), [0.5, -0.75, 1.0]
    alone = check("sum(conv1d(x, w, b, padding=1)**2)", at={"x": x, "w": w, "b": b}, wrt=["x"])
    batched = check("sum(conv1d(x, w, b, padding=1)**2)", at={"x": [x], "w": w, "b": b}, wrt=["x"])
    assert alone.status == batched.status == "pass"
    assert [g.symbolic for g in alone.gradients] == [g.symbolic for g in batched.gradients]
    assert float(alone.value) == float(batched.value)


def test_a_max_pool_window_in_the_padding_only_is_named():
    result = check("sum(max_pool1d(x, 2, stride=2, padding=1, dilation=3))", at={"x": [[-0.48, 1.09]]})
    assert result.status == "error" and "a window lies entirely in the padding" in result.rendered_error
    assert "\\n" not in result.rendered_error
