"""Ten buggy autograd.Functions, one per defect of the autograd protocol (issue 18): each is caught by the check
that names its defect, through the command (the function alone, and against an expression) and through check();
its twin, the same code with the one defect fixed, passes every check.

Each row holds the buggy source and the fix (the buggy line, the line that replaces it), so the twin differs from
the buggy Function by exactly the defect the row is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from conftest import named

from gradcheck_cli import check

GRADIENTS = "function backward"  # not a case-level check: the gradient rows, with the function verdict


@dataclass(frozen=True)
class Bug:
    source: str
    fix: tuple[str, str]  # the buggy text and its correction
    target: str
    expr: str
    at: dict[str, str]
    check: str  # the check that must fail, or GRADIENTS
    words: str  # in that check's message (or the failing rows' verdict)
    options: dict = field(default_factory=dict)  # check() keywords, also given on the command line

    @property
    def twin(self) -> str:
        bad, good = self.fix
        assert self.source.count(bad) == 1, bad
        return self.source.replace(bad, good)


CUBE = """
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return {backward}
"""
CUBE_SUM = CUBE.replace("return x ** 3", "return (x ** 3).sum()")
VECTOR = {"x": "0.5,-1.5,2"}

BUGS = {
    "wrong backward": Bug(CUBE.format(backward="g * 2 * x ** 2"), ("g * 2 *", "g * 3 *"), "Cube", "x**3",
                          VECTOR, GRADIENTS, "backward"),
    "wrong jvp": Bug("""
        class Cube(torch.autograd.Function):
            @staticmethod
            def forward(x):
                return x ** 3

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[0])
                ctx.save_for_forward(inputs[0])

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * 3 * x ** 2

            @staticmethod
            def jvp(ctx, t):
                x, = ctx.saved_tensors
                return t * 2 * x ** 2
        """, ("t * 2 *", "t * 3 *"), "Cube", "x**3", VECTOR, "forward AD (jvp)", "your jvp"),
    "vmap-breaking backward": Bug(CUBE_SUM.format(backward="g.item() * 3 * x ** 2"), ("g.item()", "g"), "Cube",
                                  "sum(x**3)", VECTOR, "batched gradient (vmap)",
                                  "while computing batched gradients"),
    "None-gradient crash": Bug("""
        class SinCos(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                ctx.save_for_backward(x)
                return x.sin(), x.cos()

            @staticmethod
            def backward(ctx, ga, gb):
                x, = ctx.saved_tensors
                return ga * x.cos() - gb * x.sin()

        def sin(x):
            return SinCos.apply(x)[0]
        """, ("ga * x.cos() - gb * x.sin()",
              "sum((g * d for g, d in ((ga, x.cos()), (gb, -x.sin())) if g is not None), torch.zeros_like(x))"),
        "sin", "sin(x)", VECTOR, "undefined incoming gradient", "SinCos.backward raised on the undefined (None)"),
    "float32 gradient": Bug(CUBE.format(backward="(g * 3 * x ** 2).float()"), (".float()", ""), "Cube", "x**3",
                            VECTOR, "gradient dtype and shape", "returns a float32 gradient for input 0"),
    "broadcast gradient shape": Bug("""
        class Scale(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, b):
                ctx.save_for_backward(x, b)
                return x * b

            @staticmethod
            def backward(ctx, g):
                x, b = ctx.saved_tensors
                return g * b, g * x
        """, ("g * b, g * x", "g * b, (g * x).sum(0)"), "Scale", "x*b",
        {"x": "randn(2, 3)", "b": "randn(3)"}, "gradient dtype and shape",
        "returns a gradient of shape (2, 3) for input 1 of shape (3,) (torch sums it silently)"),
    "input changed in place": Bug("""
        class Cube(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x.clone())
                y = x ** 3
                x.data.add_(1.0)
                return y

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * 3 * x ** 2
        """, ("x.data.add_(1.0)", "x.clone().add_(1.0)"), "Cube", "x**3", VECTOR, "inputs unchanged",
        "it modifies its input(s) x in place"),
    "contiguity assumption": Bug("""
        class MatMul(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, w):
                ctx.save_for_backward(x, w)
                return x @ w

            @staticmethod
            def backward(ctx, g):
                x, w = ctx.saved_tensors
                rows = torch.as_strided(w, w.shape, (w.shape[1], 1))  # w's memory read as if row-major
                return g @ rows.t(), x.t() @ g
        """, ("torch.as_strided(w, w.shape, (w.shape[1], 1))", "w"), "MatMul", "x@w",
        {"x": "randn(2, 3)", "w": "randn(3, 2)"}, "non-contiguous inputs",
        "non-contiguous inputs change the gradient of x"),
    "nondeterminism beyond a tolerance": Bug("\n    import itertools\n    ODD = itertools.cycle([0.0, 1.0])  # atomics"
                                             + CUBE_SUM.format(backward="g * 3 * x ** 2 * (1 + 1e-7 * next(ODD))"),
                                             ("1e-7 *", "1e-14 *"), "Cube", "sum(x**3)", VECTOR,
                                             "deterministic backward", "beyond a tolerance of 1e-10 (nondet_tol)",
                                             {"nondet_tol": 1e-10}),
    "once_differentiable under order 2": Bug(
        "\n    from torch.autograd.function import once_differentiable"
        + CUBE_SUM.format(backward="g * 3 * x ** 2").replace("@staticmethod\n        def backward",
                                                            "@staticmethod\n        @once_differentiable\n"
                                                            "        def backward"),
        ("        @once_differentiable\n", ""), "Cube", "sum(x**3)", VECTOR, "double backward",
        "backward is not differentiable (once_differentiable): Cube.backward is marked @once_differentiable",
        {"order": 2}),
}


def _command_line(bug: Bug, name: str, with_expression: bool) -> list[str]:
    words = [bug.expr] if with_expression else []
    words += ["--function", f"{name}:{bug.target}", "--seed", "0"]
    for variable, value in bug.at.items():
        words += [f"--{variable}", value]
    for option, value in bug.options.items():
        words += [f"--{option.replace('_', '-')}", str(value)]
    return words


def _assert_caught(result: dict, bug: Bug) -> None:
    """The defect is failed by its own check; no other case-level check is blamed for it."""
    assert result["status"] == "fail", result.get("error")
    failed = [c["name"] for c in result["checks"] if c["status"] == "fail"]
    if bug.check == GRADIENTS:
        verdicts = {row["function_verdict"] for row in result["gradients"] if row["status"] == "fail"}
        assert verdicts and all(bug.words in (verdict or "") for verdict in verdicts), verdicts
        assert failed == [], failed
        return
    assert failed == [bug.check], (failed, result["checks"])
    assert bug.words in named(result["checks"], bug.check)["message"]


def _assert_passes(result: dict, code: int) -> None:
    failed = [(c["name"], c["message"]) for c in result["checks"] if c["status"] == "fail"]
    rows = [row for row in result["gradients"] + result.get("hessian", []) if row["status"] != "pass"]
    assert (code, result["status"], failed, rows) == (0, "pass", [], [])


@pytest.mark.parametrize("with_expression", [False, True], ids=["alone", "with an expression"])
@pytest.mark.parametrize("defect", BUGS)
def test_each_defect_is_caught_by_its_check_and_its_twin_passes(cli_json, user_module, defect, with_expression):
    bug = BUGS[defect]
    code, document = cli_json(*_command_line(bug, user_module(bug.source), with_expression))
    assert code == 1
    _assert_caught(document["results"][0], bug)
    code, document = cli_json(*_command_line(bug, user_module(bug.twin), with_expression))
    _assert_passes(document["results"][0], code)


@pytest.mark.parametrize("defect", BUGS)
def test_check_from_python_names_the_same_check(user_module, defect):
    bug = BUGS[defect]
    for source, caught in ((bug.source, True), (bug.twin, False)):
        result = check("", at=bug.at, function=f"{user_module(source)}:{bug.target}", seed=0, **bug.options)
        failed = [c.name for c in result.checks if c.status == "fail"]
        if not caught:
            assert (result.status, failed) == ("pass", []), result.checks
        elif bug.check == GRADIENTS:
            assert result.status == "fail" and failed == []
            assert any(bug.words in (row.function_verdict or "") for row in result.gradients)
        else:
            assert (result.status, failed) == ("fail", [bug.check])
            assert bug.words in named(result.checks, bug.check).message


def test_nondeterminism_within_the_tolerance_passes_and_says_so(cli_json, user_module):
    bug = BUGS["nondeterminism beyond a tolerance"]
    code, document = cli_json(*_command_line(bug, user_module(bug.twin), False))
    deterministic = named(document["results"][0]["checks"], "deterministic backward")
    assert code == 0 and deterministic["status"] == "pass"
    assert "agree within a tolerance of 1e-10 (nondet_tol)" in deterministic["message"]


def test_a_once_differentiable_backward_gets_no_hessian_column_rather_than_a_wrong_one(cli_json, user_module):
    """Its double backward would read 0: the check says why, and no Hessian entry is blamed on a number."""
    bug = BUGS["once_differentiable under order 2"]
    code, document = cli_json(*_command_line(bug, user_module(bug.source), True))
    hessian = document["results"][0]["hessian"]
    assert code == 1 and hessian and all(row["function"] is None for row in hessian)
    assert all(row["status"] == "pass" for row in hessian)  # the expression's own Hessian is still checked
