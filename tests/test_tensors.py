"""Tensor expressions against torch: the gradients of whole models, not single ops.

Each case is an expression of the language and the same function written in
torch by hand.  At random float64 points (fixed seeds) check() must pass, and
its symbolic and autograd gradients must equal the Jacobian that
torch.autograd.functional.jacobian computes from the hand-written function
(1e-10 relative), its finite differences within their own error bars.  The
torch functions here share no code with the tool: a wrong vjp rule, a kernel
that mixes up axes, or a torch builder that mistranslates an op shows up as a
disagreement with them.

Then: a wrong manual tensor gradient is reported element by element (and the
CLI exits 1), shape errors are located with a caret under the offending
operation, and a few corner cases of the tensor ops.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from conftest import gradient_row

from gradcheck_cli import check
from gradcheck_cli.lang.parser import parse

RTOL = 1e-10  # symbolic and autograd against the hand-written torch function
ATOL = 1e-12
FD_RTOL = 1e-6  # finite differences: within their error bar, or this close


@dataclass
class TensorCase:
    id: str
    expr: str
    shapes: dict[str, tuple]  # variables drawn from a standard normal (fixed seed per case)
    torch_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor]  # the same function, by hand
    fixed: dict[str, Callable[[np.random.Generator], np.ndarray]] = field(default_factory=dict)
    wrt: tuple[str, ...] | None = None


def one_hot(n: int, rows: int | None = None):
    def make(rng):
        if rows is None:
            return np.eye(n)[rng.integers(n)]
        return np.eye(n)[rng.integers(n, size=rows)]

    return make


def positive(shape, low=0.5, high=2.0):
    return lambda rng: rng.uniform(low, high, size=shape)


def binary(shape):
    return lambda rng: rng.integers(0, 2, size=shape).astype(np.float64)


T = torch  # short for the hand-written functions
tanh, sigmoid, softmax, log_softmax = torch.tanh, torch.sigmoid, torch.softmax, torch.log_softmax


def _layer_norm(t):
    x = t["x"]
    mu = x.mean()
    var = ((x - mu) ** 2).mean()
    return ((t["g"] * (x - mu) / T.sqrt(var + 1e-5) + t["b"]) * t["w"]).sum()


def _row_layer_norm(t):
    X = t["X"]
    mu = X.mean(1, keepdim=True)
    var = ((X - mu) ** 2).mean(1, keepdim=True)
    return (((X - mu) / T.sqrt(var + 1e-5) * t["g"] + t["b"]) * t["W"]).sum()


CASES = [
    # ---- losses and layers ----
    TensorCase("cross-entropy", "-sum(y * log_softmax(z))", {"z": (5,)},
               lambda t: -(t["y"] * log_softmax(t["z"], -1)).sum(), {"y": one_hot(5)}),
    TensorCase("cross-entropy-batch", "-mean(sum(Y * log_softmax(Z), 1))", {"Z": (4, 3)},
               lambda t: -(t["Y"] * log_softmax(t["Z"], -1)).sum(1).mean(), {"Y": one_hot(3, rows=4)}),
    TensorCase("cross-entropy-logits-of-linear", "-sum(Y * log_softmax(X @ W + b, 1))/4",
               {"X": (4, 3), "W": (3, 5), "b": (5,)},
               lambda t: -(t["Y"] * log_softmax(t["X"] @ t["W"] + t["b"], 1)).sum() / 4, {"Y": one_hot(5, rows=4)},
               wrt=("W", "b")),
    TensorCase("mlp-tanh", "h = tanh(W1 @ x + b1); mean((W2 @ h + b2 - y)**2)",
               {"W1": (4, 3), "x": (3,), "b1": (4,), "W2": (2, 4), "b2": (2,), "y": (2,)},
               lambda t: ((t["W2"] @ tanh(t["W1"] @ t["x"] + t["b1"]) + t["b2"] - t["y"]) ** 2).mean()),
    TensorCase("mlp-batch", "H = tanh(X @ W1.T + b1); mean((H @ w2 + b2 - y)**2)",
               {"X": (5, 3), "W1": (4, 3), "b1": (4,), "w2": (4,), "b2": (), "y": (5,)},
               lambda t: ((tanh(t["X"] @ t["W1"].T + t["b1"]) @ t["w2"] + t["b2"] - t["y"]) ** 2).mean()),
    TensorCase("logistic-regression", "p = sigmoid(X @ w + b); -mean(y*log(p) + (1 - y)*log(1 - p))",
               {"X": (6, 3), "w": (3,), "b": ()},
               lambda t: -(t["y"] * T.log(sigmoid(t["X"] @ t["w"] + t["b"]))
                           + (1 - t["y"]) * T.log(1 - sigmoid(t["X"] @ t["w"] + t["b"]))).mean(),
               {"y": binary((6,))}, wrt=("w", "b")),
    TensorCase("layer-norm",
               "mu = mean(x); v = mean((x - mu)**2); xhat = (x - mu)/sqrt(v + 1e-5); sum((g*xhat + b) * w)",
               {"x": (6,), "g": (6,), "b": (6,), "w": (6,)}, _layer_norm),
    TensorCase("layer-norm-rows",
               "mu = reshape(mean(X, 1), 4, 1); v = reshape(mean((X - mu)**2, 1), 4, 1); "
               "sum(((X - mu)/sqrt(v + 1e-5)*g + b) * W)",
               {"X": (4, 5), "g": (5,), "b": (5,), "W": (4, 5)}, _row_layer_norm),
    TensorCase("attention-vector", "s = softmax(k @ q / sqrt(3)); sum(s * v)", {"q": (3,), "k": (4, 3), "v": (4,)},
               lambda t: (softmax(t["k"] @ t["q"] / math.sqrt(3), -1) * t["v"]).sum()),
    TensorCase("attention-matrix", "S = softmax(Q @ K.T / sqrt(4)); sum((S @ V) * W)",
               {"Q": (3, 4), "K": (5, 4), "V": (5, 2), "W": (3, 2)},
               lambda t: ((softmax(t["Q"] @ t["K"].T / 2.0, -1) @ t["V"]) * t["W"]).sum()),
    TensorCase("least-squares", "sum((A @ x - b)**2)", {"A": (5, 3), "x": (3,), "b": (5,)},
               lambda t: ((t["A"] @ t["x"] - t["b"]) ** 2).sum()),
    TensorCase("ridge", "mean((X @ w - y)**2) + 0.1*norm(w)**2", {"X": (6, 4), "w": (4,), "y": (6,)},
               lambda t: ((t["X"] @ t["w"] - t["y"]) ** 2).mean() + 0.1 * T.linalg.vector_norm(t["w"]) ** 2),
    TensorCase("mse-axis", "mean(mean((P - Q)**2, 1))", {"P": (3, 4), "Q": (3, 4)},
               lambda t: ((t["P"] - t["Q"]) ** 2).mean(1).mean()),
    # ---- reductions ----
    TensorCase("logsumexp", "logsumexp(x)", {"x": (6,)}, lambda t: T.logsumexp(t["x"], 0)),
    TensorCase("logsumexp-axis", "sum(logsumexp(X, 0) * w) + logsumexp(X)", {"X": (3, 4), "w": (4,)},
               lambda t: (T.logsumexp(t["X"], 0) * t["w"]).sum() + T.logsumexp(t["X"].flatten(), 0)),
    TensorCase("axis-reductions", "sum(sum(A, 0) * u) + sum(mean(A, 1) * v) + sum(A, -1) @ v",
               {"A": (3, 4), "u": (4,), "v": (3,)},
               lambda t: (t["A"].sum(0) * t["u"]).sum() + (t["A"].mean(1) * t["v"]).sum() + t["A"].sum(-1) @ t["v"]),
    TensorCase("amax", "amax(x) + sum(amax(A, 1) * w) - max(A)", {"x": (5,), "A": (3, 4), "w": (3,)},
               lambda t: t["x"].amax() + (t["A"].amax(1) * t["w"]).sum() - t["A"].amax()),
    TensorCase("amin", "amin(x**2 + 1) + sum(amin(A, 0) * w) + min(A)",
               {"x": (5,), "A": (3, 4), "w": (4,)},
               lambda t: (t["x"] ** 2 + 1).amin() + (t["A"].amin(0) * t["w"]).sum() + t["A"].amin()),
    TensorCase("norm", "norm(A @ x - b) + sum(norm(A, dim=0) * v)", {"A": (4, 3), "x": (3,), "b": (4,), "v": (3,)},
               lambda t: T.linalg.vector_norm(t["A"] @ t["x"] - t["b"])
               + (T.linalg.vector_norm(t["A"], dim=0) * t["v"]).sum()),
    TensorCase("frobenius", "norm(A @ B)", {"A": (2, 3), "B": (3, 4)},
               lambda t: T.linalg.vector_norm(t["A"] @ t["B"])),
    TensorCase("prod", "prod(x) + sum(prod(A, 0) * w)", {"A": (3, 4), "w": (4,)},
               lambda t: t["x"].prod() + (t["A"].prod(0) * t["w"]).sum(), {"x": positive((5,))}),
    TensorCase("softmax-axis0", "sum(softmax(A, 0) * B)", {"A": (3, 4), "B": (3, 4)},
               lambda t: (softmax(t["A"], 0) * t["B"]).sum()),
    # ---- products ----
    TensorCase("matrix-matrix", "sum((A @ B) * C)", {"A": (2, 3), "B": (3, 4), "C": (2, 4)},
               lambda t: ((t["A"] @ t["B"]) * t["C"]).sum()),
    TensorCase("matrix-chain", "sum((A @ B @ C)**2)", {"A": (2, 3), "B": (3, 4), "C": (4, 2)},
               lambda t: ((t["A"] @ t["B"] @ t["C"]) ** 2).sum()),
    TensorCase("vector-matrix", "sum(exp(x @ A))", {"x": (2,), "A": (2, 3)},
               lambda t: T.exp(t["x"] @ t["A"]).sum()),
    TensorCase("bilinear", "x @ A @ y", {"x": (2,), "A": (2, 3), "y": (3,)},
               lambda t: t["x"] @ t["A"] @ t["y"]),
    TensorCase("quadratic-form", "x @ A @ x + dot(x, b)", {"x": (3,), "A": (3, 3), "b": (3,)},
               lambda t: t["x"] @ t["A"] @ t["x"] + t["x"] @ t["b"]),
    TensorCase("gram", "sum((A.T @ A) * B)", {"A": (4, 3), "B": (3, 3)},
               lambda t: ((t["A"].T @ t["A"]) * t["B"]).sum()),
    # ---- broadcasting ----
    TensorCase("bias-scalar", "sum(tanh(W @ x + b))", {"W": (3, 4), "x": (4,), "b": ()},
               lambda t: tanh(t["W"] @ t["x"] + t["b"]).sum()),
    TensorCase("bias-column", "sum((W @ X + b)**2)", {"W": (3, 2), "X": (2, 4), "b": (3, 1)},
               lambda t: ((t["W"] @ t["X"] + t["b"]) ** 2).sum()),
    TensorCase("bias-row", "sum(sigmoid(X @ W + b) * T)", {"X": (5, 3), "W": (3, 2), "b": (2,), "T": (5, 2)},
               lambda t: (sigmoid(t["X"] @ t["W"] + t["b"]) * t["T"]).sum()),
    TensorCase("relu-layer", "sum(relu(W @ x) * v)", {"W": (4, 3), "x": (3,), "v": (4,)},
               lambda t: (T.relu(t["W"] @ t["x"]) * t["v"]).sum()),
    # ---- indexing, shapes, joins ----
    TensorCase("index-and-slices", "x[0]*x[3] + sum(x[1:4]**2) - x[-1] + sum(x[::2])", {"x": (5,)},
               lambda t: t["x"][0] * t["x"][3] + (t["x"][1:4] ** 2).sum() - t["x"][-1] + t["x"][::2].sum()),
    TensorCase("matrix-slices", "sum(A[:, 0] * A[:, 2]) + sum(A[1:3, ::2]**2) + A[2, 1]*A[0][1]", {"A": (4, 3)},
               lambda t: (t["A"][:, 0] * t["A"][:, 2]).sum() + (t["A"][1:3, ::2] ** 2).sum()
               + t["A"][2, 1] * t["A"][0][1]),
    TensorCase("reshape", "sum(reshape(x, 2, 3) @ w) + sum(reshape(A, -1) * x)", {"x": (6,), "w": (3,), "A": (3, 2)},
               lambda t: (t["x"].reshape(2, 3) @ t["w"]).sum() + (t["A"].reshape(-1) * t["x"]).sum()),
    TensorCase("concat", "sum(concat(a, b) * w) + sum(concat(A, B) @ v)",
               {"a": (2,), "b": (3,), "w": (5,), "A": (2, 3), "B": (1, 3), "v": (3,)},
               lambda t: (T.cat([t["a"], t["b"]]) * t["w"]).sum() + (T.cat([t["A"], t["B"]]) @ t["v"]).sum()),
    TensorCase("stack", "sum(stack(a, b, a*b) @ w) + sum(stack(a, b).T @ c)",
               {"a": (3,), "b": (3,), "w": (3,), "c": (2,)},
               lambda t: (T.stack([t["a"], t["b"], t["a"] * t["b"]]) @ t["w"]).sum()
               + (T.stack([t["a"], t["b"]]).T @ t["c"]).sum()),
    TensorCase("where-comparisons", "sum(where(x > 0, x**2, -x)) + sum(where(x > y, x*y, y))", {"x": (6,), "y": (6,)},
               lambda t: T.where(t["x"] > 0, t["x"] ** 2, -t["x"]).sum()
               + T.where(t["x"] > t["y"], t["x"] * t["y"], t["y"]).sum()),
    TensorCase("where-scalar-branch", "sum(where(A > 0.5, A, 0.5) * B)", {"A": (3, 3), "B": (3, 3)},
               lambda t: (T.where(t["A"] > 0.5, t["A"], T.tensor(0.5, dtype=T.float64)) * t["B"]).sum()),
    TensorCase("constants", "sum((eye(3) + A) @ x) + sum(ones(4) @ B) + sum((zeros(3) + x)**2)",
               {"A": (3, 3), "x": (3,), "B": (4, 3)},
               lambda t: ((T.eye(3, dtype=T.float64) + t["A"]) @ t["x"]).sum()
               + (T.ones(4, dtype=T.float64) @ t["B"]).sum() + (t["x"] ** 2).sum()),
]


def draw(case: TensorCase) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    at = {name: rng.standard_normal(shape) for name, shape in case.shapes.items()}
    at.update({name: make(rng) for name, make in case.fixed.items()})
    return at


def torch_reference(case: TensorCase, at: dict[str, np.ndarray], wrt: list[str]):
    """(value, {variable: gradient}) of the hand-written torch function, in float64."""
    tensors = {name: torch.tensor(value, dtype=torch.float64) for name, value in at.items()}

    def f(*inputs):
        return case.torch_fn({**tensors, **dict(zip(wrt, inputs))})

    value = f(*(tensors[n] for n in wrt))
    assert value.shape == () and value.dtype == torch.float64
    jacobian = torch.autograd.functional.jacobian(f, tuple(tensors[n] for n in wrt))
    return float(value), {name: j.numpy() for name, j in zip(wrt, jacobian)}


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= ATOL + RTOL * max(abs(a), abs(b))


def test_enough_cases():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_tensor_gradient_matches_torch(case):
    at = draw(case)
    expression = parse(case.expr)
    assert sorted(expression.variables) == sorted(at), "the case draws exactly the expression's variables"
    wrt = list(case.wrt or expression.variables)
    result = check(case.expr, at={k: v.tolist() for k, v in at.items()}, wrt=case.wrt)
    rows = [(g.wrt, g.index, g.symbolic, g.finite_difference, g.fd_error, g.autograd, g.disagrees)
            for g in result.gradients]
    assert result.status == "pass", (result.rendered_error, rows)

    value, gradients = torch_reference(case, at, wrt)
    assert _close(result.value, value), (result.value, value)
    # one row per element of each differentiated variable, in order
    assert [(g.wrt, tuple(g.index)) for g in result.gradients] == [
        (name, index) for name in wrt for index in np.ndindex(np.shape(at[name]))]
    assert set(result.formulas) == set(wrt)
    for g in result.gradients:
        expected = float(gradients[g.wrt][tuple(g.index)])
        assert g.status == "pass" and g.disagrees == [], g
        assert _close(g.symbolic, expected), (g.wrt, g.index, g.symbolic, expected)
        assert _close(g.autograd, expected), (g.wrt, g.index, g.autograd, expected)
        assert g.finite_difference is not None and g.fd_error is not None, g
        assert abs(g.finite_difference - expected) <= max(g.fd_error, FD_RTOL * abs(expected), 1e-9), \
            (g.wrt, g.index, g.finite_difference, g.fd_error, expected)
    # the printed derivatives parse back (bindings of the expression in scope)
    for formula in result.formulas.values():
        parse(formula, bindings=expression.bindings, graph=expression.graph)


def test_torch_reference_is_not_a_tautology():
    """A hand-written function with a mistake is told apart from the tool's answer."""
    case = next(c for c in CASES if c.id == "attention-matrix")
    at = draw(case)
    wrong = TensorCase(case.id, case.expr, case.shapes,
                       lambda t: ((softmax(t["Q"] @ t["K"].T / 2.0, 0) @ t["V"]) * t["W"]).sum())  # wrong axis
    result = check(case.expr, at={k: v.tolist() for k, v in at.items()})
    _, gradients = torch_reference(wrong, at, list(at))
    assert result.status == "pass"
    assert not all(_close(g.symbolic, float(gradients[g.wrt][tuple(g.index)])) for g in result.gradients)


# ---- wrong manual gradients, element by element ------------------------------------------------------


def test_wrong_manual_vector_gradient_names_the_element():
    result = check("sum(x**3)", at={"x": [1.0, 2.0, 3.0]}, manual={"x": "3*x**2 + (x > 2.5)"})
    assert result.status == "fail"
    assert [g.index for g in result.gradients if "manual" in g.disagrees] == [[2]]
    bad = gradient_row(result.gradients, "x", [2])
    assert (bad.manual, bad.symbolic, bad.autograd) == (28.0, 27.0, 27.0) and bad.status == "fail"
    assert all(g.status == "pass" for g in result.gradients if g.index != [2])


def test_wrong_manual_matrix_gradient_names_the_element():
    A = [[0.1, 0.2, 0.3], [0.4, 0.5, 2.0]]
    x = [1.0, -2.0, 0.5]
    right = "reshape(2*(A @ x), 2, 1)*x"
    good = check("sum((A @ x)**2)", at={"A": A, "x": x}, manual={"A": right}, wrt=["A"])
    assert good.status == "pass" and all(g.manual == g.symbolic for g in good.gradients)
    bad = check("sum((A @ x)**2)", at={"A": A, "x": x}, manual={"A": right + " + (A > 1)"}, wrt=["A"])
    assert bad.status == "fail"
    assert [(g.wrt, g.index) for g in bad.gradients if g.disagrees] == [("A", [1, 2])]
    assert gradient_row(bad.gradients, "A", [1, 2]).disagrees == ["manual"]


def test_wrong_manual_tensor_gradient_on_the_cli(cli, cli_json):
    args = ("sum(x**3)", "--x", "1,2,3", "--manual", "x=3*x**2 + (x > 2.5)")
    result = cli(*args)
    assert result.exit_code == 1
    assert "d/dx[2]" in result.stdout
    code, document = cli_json(*args)
    assert code == 1
    rows = document["results"][0]["gradients"]
    assert [(r["index"], r["disagrees"]) for r in rows if r["disagrees"]] == [([2], ["manual"])]
    assert document["summary"]["failed"] == 1
    # the right formula passes
    assert cli("sum(x**3)", "--x", "1,2,3", "--manual", "x=3*x**2").exit_code == 0


def test_wrong_manual_matrix_gradient_on_the_cli(cli_json):
    code, document = cli_json("sum((A @ x)**2)", "--A", "[[0.1,0.2,0.3],[0.4,0.5,2]]", "--x", "1,-2,0.5",
                              "--wrt", "A", "--manual", "A=reshape(2*(A @ x), 2, 1)*x + (A > 1)")
    assert code == 1
    rows = document["results"][0]["gradients"]
    assert [(r["wrt"], r["index"]) for r in rows if r["disagrees"]] == [("A", [1, 2])]


# ---- shape errors, located --------------------------------------------------------------------------


def _caret(rendered: str) -> tuple[str, int, int]:
    """(source line, caret column, caret width) of a rendered error."""
    lines = rendered.splitlines()
    caret = lines[-1]
    start = caret.index("^")
    width = len(caret.rstrip()) - start
    return lines[-2], start, width


SHAPE_ERRORS = [
    # (expression, point, text in the message, what the caret underlines: the operator of an infix operation,
    #  the call or the subscript otherwise, and that text's 1-based column)
    ("A @ B", {"A": np.ones((2, 3)), "B": np.ones((2, 3))}, "not aligned", "@", 3),
    ("sum(A @ B)", {"A": np.ones((2, 3)), "B": np.ones((2, 3))}, "not aligned", "@", 7),
    ("sum(exp(A) @ (B*2)) + 1", {"A": np.ones((2, 3)), "B": np.ones((2, 3))}, "not aligned", "@", 12),
    ("x @ y", {"x": np.ones(3), "y": np.ones(2)}, "not aligned", "@", 3),
    ("sum(x @ A.T)", {"x": np.ones(2), "A": np.ones((2, 3))}, "not aligned", "@", 7),
    ("sum(dot(A, x))", {"A": np.ones((2, 3)), "x": np.ones(2)}, "not aligned", "dot(A, x)", 5),
    ("sum(A + B)", {"A": np.ones((2, 3)), "B": np.ones((3, 2))}, "cannot be broadcast", "+", 7),
    ("sum(reshape(x, 4))", {"x": np.ones(6)}, "cannot reshape", "reshape(x, 4)", 5),
    ("sum(concat(A, B))", {"A": np.ones((2, 3)), "B": np.ones((2, 2))}, "cannot be concatenated", "concat(A, B)", 5),
    ("sum(stack(a, b))", {"a": np.ones(3), "b": np.ones(2)}, "cannot be stacked", "stack(a, b)", 5),
    ("x[3]", {"x": np.ones(3)}, "out of bounds", "x[3]", 1),
    ("x[0, 1]", {"x": np.ones(3)}, "too many indices", "x[0, 1]", 1),
    ("sum(softmax(x, 1))", {"x": np.ones(3)}, "out of range", "softmax(x, 1)", 5),
    ("sum(sum(A, 2))", {"A": np.ones((2, 3))}, "out of range", "sum(A, 2)", 5),
]


@pytest.mark.parametrize("expr, at, message, underlined, column", SHAPE_ERRORS, ids=[e[0] for e in SHAPE_ERRORS])
def test_shape_error_is_located(expr, at, message, underlined, column):
    result = check(expr, at={k: v.tolist() for k, v in at.items()})
    assert result.status == "error"
    assert result.gradients == []
    assert message in result.rendered_error, result.rendered_error
    assert result.error["column"] == column
    assert expr[column - 1:].startswith(underlined)
    source, start, width = _caret(result.rendered_error)
    assert source.strip() == expr
    indent = source.index(expr)
    assert (start - indent + 1, source[start:start + width]) == (column, underlined), result.rendered_error


def test_matmul_shape_error_message():
    result = check("A @ B", at={"A": np.ones((2, 3)).tolist(), "B": np.ones((2, 3)).tolist()})
    assert result.status == "error"
    lines = result.rendered_error.splitlines()
    assert "not aligned" in lines[0] and "(2, 3) and (2, 3)" in lines[0] and "column 3" in lines[0]
    assert lines[-2].strip() == "A @ B"
    assert lines[-1].index("^") == lines[-2].index("@") and lines[-1].strip() == "^"


def test_shape_error_on_the_cli(cli):
    result = cli("sum(A @ B)", "--A", "[[1,2,3],[4,5,6]]", "--B", "[[1,2,3],[4,5,6]]")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "not aligned" in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-2].strip() == "sum(A @ B)"
    assert lines[-1].index("^") == lines[-2].index("@") and lines[-1].strip() == "^"


def test_non_scalar_value_needs_a_reduction_for_a_gradient_of_its_sum():
    """sum(softmax(x)) is 1 whatever x is: its gradient is 0 (no vector output involved)."""
    result = check("sum(softmax(x))", at={"x": [0.5, -1.0, 2.0]})
    assert result.status == "pass"
    assert all(abs(g.symbolic) < 1e-15 and abs(g.autograd) < 1e-15 for g in result.gradients)


# ---- corner cases of the tensor ops ------------------------------------------------------------------


def test_amax_tie_shares_the_gradient():
    """A tie is a kink (one-sided derivatives 0 and 1): undefined, and the even split lies inside."""
    result = check("amax(x)", at={"x": [1.0, 3.0, 3.0]})
    assert result.status == "undefined"
    assert [g.status for g in result.gradients] == ["pass", "undefined", "undefined"]
    assert [g.symbolic for g in result.gradients] == [0.0, 0.5, 0.5]
    assert [g.autograd for g in result.gradients] == [0.0, 0.5, 0.5]


def test_max_with_two_arguments_is_elementwise():
    one = check("max(x)", at={"x": [1.0, 3.0, 2.0]})
    two = check("sum(max(x, 2))", at={"x": [1.0, 3.0, 2.5]})
    assert one.value == 3.0 and [g.symbolic for g in one.gradients] == [0.0, 1.0, 0.0]
    assert two.value == 7.5 and [g.symbolic for g in two.gradients] == [0.0, 1.0, 1.0]


def test_prod_with_a_zero_element_is_settled_by_the_high_precision_referee():
    """The registry's rule out/x is 0/0 at the zero element; the function's gradient there is 1*3."""
    result = check("prod(x)", at={"x": [1.0, 0.0, 3.0]})
    assert result.status == "pass"
    assert [g.reference for g in result.gradients] == [0.0, 3.0, 0.0]
    assert "non-zero elements" in gradient_row(result.gradients, "x", [1]).referee_notes[0]


def test_unindex_gradient_of_like_is_zero():
    result = check("sum(unindex(v, l, [1])*w)", at={"v": [1.0, 2.0, 3.0], "l": np.ones((2, 3)).tolist(),
                                                      "w": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]})
    assert result.status == "pass"
    assert [g.symbolic for g in result.gradients if g.wrt == "v"] == [4.0, 5.0, 6.0]
    assert all(g.symbolic == g.autograd == 0.0 for g in result.gradients if g.wrt == "l")


# The corner cases below are package bugs at the time of writing (see the report); they must keep failing
# until fixed.


def test_negative_step_slice_is_checked_or_rejected():
    """x[::-1] is accepted by the parser and numpy; the torch builder raises "step must be greater than
    zero" out of check() instead of an error result."""
    result = check("sum(x[::-1]*w)", at={"x": [1.0, 3.0, 2.0], "w": [1.0, 2.0, 3.0]})
    if result.status == "error":
        assert "step" in result.rendered_error
    else:
        assert result.status == "pass"
        assert [g.symbolic for g in result.gradients if g.wrt == "x"] == [3.0, 2.0, 1.0]


def test_transpose_of_a_scalar():
    """x.T of a 0-d value is x (numpy and torch's .T agree); the torch builder calls permute() with no dims."""
    result = check("x.T*y", at={"x": 1.5, "y": 2.0})
    assert result.status == "pass", result.rendered_error
    assert [g.symbolic for g in result.gradients] == [2.0, 1.5]


@pytest.mark.parametrize("expr, derivative", [("softmax(x)*y", 0.0), ("log_softmax(x)*y", 0.0)])
def test_softmax_of_a_scalar(expr, derivative):
    """softmax of one element is 1 (log_softmax 0) whatever it is, so d/dx = 0.  The numpy kernels take
    their default axis -1, which for a 0-d value is the batch axis: finite differences then normalise
    across the perturbed points and report a non-zero derivative."""
    result = check(expr, at={"x": 0.5, "y": 2.0})
    assert result.status == "pass", [(g.wrt, g.symbolic, g.finite_difference, g.autograd) for g in result.gradients]
    assert result.gradients[0].finite_difference == pytest.approx(derivative, abs=1e-9)


def test_derivative_of_reshape_to_a_scalar_parses_back():
    """The derivative of reshape(x, 1) for a scalar x is reshaped to shape (), printed reshape(...) with no
    dimensions, which the parser rejects."""
    result = check("sum(reshape(x, 1)**2)", at={"x": 0.5})
    assert result.status == "pass"
    formula = result.formulas["x"]
    parse(formula)
    again = check("sum(reshape(x, 1)**2)", at={"x": 0.5}, manual={"x": formula})
    assert again.status == "pass", again.rendered_error


def test_norm_along_an_axis_with_a_zero_slice():
    """norm(A, dim=0) with one all-zero column: that column is a cone's tip, a kink in each of its entries (the
    one-sided derivatives are -w and w); the other column is smooth.  Never a NaN blamed on anyone."""
    result = check("sum(norm(A, dim=0)*w)", at={"A": [[0.0, 1.0], [0.0, 2.0]], "w": [1.0, 2.0]})
    by_entry = {(g.wrt, tuple(g.index)): g for g in result.gradients}
    assert result.status == "undefined"
    for entry in (("A", (0, 0)), ("A", (1, 0))):
        g = by_entry[entry]
        assert g.status == "undefined" and (g.left, g.right) == (pytest.approx(-1.0), pytest.approx(1.0))
    assert all(g.status == "pass" for key, g in by_entry.items() if key[1][-1:] != (0,) or key[0] == "w")


def test_unindex_with_values_of_the_wrong_shape_is_an_error_result():
    """unindex is callable (printed derivatives use it): values that do not fit the index must give an
    error result, not a numpy ValueError out of check()."""
    result = check("sum(unindex(v, l, [0]))", at={"v": [1.0, 2.0], "l": [1.0, 2.0]})
    assert result.status == "error"


def test_a_layers_parameters_that_require_grad_are_values_for_check():
    """From Python, a torch layer's own parameters (requires_grad=True) are taken as values, detached."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(2, 3, 3, padding=1).double()
    x = torch.randn(1, 2, 5, dtype=torch.float64)
    result = check("sum(conv1d(x, w, b, padding=1)**2)", at={"x": x, "w": conv.weight, "b": conv.bias})
    assert result.status == "pass", result.rendered_error
    (conv(x)**2).sum().backward()
    bias_rows = [row.symbolic for row in result.gradients if row.wrt == "b"]
    np.testing.assert_allclose(bias_rows, conv.bias.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("at, message", [
    ({"x": [[1.0], [2.0, 3.0]]}, "at['x']: expected a number or a rectangular (nested) list of numbers"),
    ({"x": [1.0, 2j]}, "at['x']: complex values are not supported"),
    ({"x": torch.tensor([1 + 2j])}, "at['x']: complex values are not supported"),
])
def test_a_bad_value_given_to_check_is_named_by_its_key(at, message):
    result = check("sum(x)", at=at)
    assert result.status == "error" and message in result.rendered_error, result.rendered_error
