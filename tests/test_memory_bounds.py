"""Memory is bounded by the limits (issue 15, part 7): a short input never asks for gigabytes.

Every node's shape is known before anything is evaluated, so a node past --max-elements is refused
where it is written; an evaluation holds at most 10 x --max-elements values; finite differences size
their batches in bytes; a Jacobian or Hessian checked entry by entry has at most `max_entries`
entries; the high-precision referee and the constants in a value have a cost bound.  The bombs run in
a subprocess under an address-space cap, so a regression is a refusal or a MemoryError, not a
machine out of memory.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import numpy as np
import pytest

from gradcheck_cli.core.errors import LimitError
from gradcheck_cli.core.limits import Limits
from gradcheck_cli.engines import finite_diff
from gradcheck_cli.lang.graph import Graph
from gradcheck_cli.lang.plan import Plan
from gradcheck_cli.lang.shapes import ShapeMap, TooManyElements
from gradcheck_cli.run import case
from gradcheck_cli.spec.spec import Spec
from gradcheck_cli.spec.values import parse_scalar

ADDRESS_SPACE = 4 * 2**30  # torch's import alone maps about 1 GiB; a normal case fits easily
BOMB = "reshape(ones(100000), 100000, 1) * ones(100000)"  # 50 characters asking numpy for 74.5 GiB
BOMB_MESSAGE = (f"{BOMB} would have 10,000,000,000 elements (shape (100000, 100000)); the limit is 10,000,000 "
                "(--max-elements)")


def _capped_cli(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    """The installed command in a fresh process that cannot map more than ADDRESS_SPACE, and its wall time."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "gradcheck_cli", *args], capture_output=True, text=True,
                            preexec_fn=cap, timeout=timeout)
    return result, time.perf_counter() - start


def _refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "out of memory" not in result.stderr


def _vector(n: int) -> str:
    return ",".join(str(0.1 + (i % 10) / 10) for i in range(n))


# ---- every node's shape, checked when the graph is built ----


@pytest.mark.slow
@pytest.mark.parametrize("expr, column", [(BOMB, 1), (f"x * sum({BOMB})", 9)])
def test_a_node_past_max_elements_is_refused_at_once_with_a_caret_under_it(expr, column):
    args = [expr] + (["--x", "1"] if "x" in expr else [])
    result, seconds = _capped_cli(*args)
    _refused(result, BOMB_MESSAGE)
    first, source, marker = result.stderr.strip().splitlines()
    assert first.startswith(f"error: column {column}: ")
    assert source.strip() == expr
    assert marker.strip() == "^" + "~" * (len(BOMB) - 1)
    assert marker.index("^") - source.index(expr) == column - 1
    assert seconds < 10


@pytest.mark.parametrize("options", [[], ["--fast"], ["--order", "2"], ["--explain"], ["--precise"],
                                     ["--method", "central"], ["--json"], ["--dtype", "float32"]],
                         ids=lambda options: " ".join(options) or "plain")
def test_every_route_checks_the_shapes_first(cli, options):
    result = cli(f"x * sum({BOMB})", "--x", "1", *options)
    assert result.exit_code == 2
    assert BOMB_MESSAGE.replace("(--max-elements)", "") in result.stdout + result.stderr


def test_a_spec_file_and_its_samples_are_checked_too(cli, tmp_path):
    (tmp_path / "bomb.yaml").write_text(f"expr: x * sum({BOMB})\nat: {{x: 1}}\n")
    (tmp_path / "sampled.yaml").write_text(f"expr: x * sum({BOMB})\n"
                                           "sample: {n: 20, seed: 0, domain: {x: [0, 1]}}\n")
    start = time.perf_counter()
    result = cli(str(tmp_path / "bomb.yaml"), str(tmp_path / "sampled.yaml"), "--json")
    assert time.perf_counter() - start < 10
    assert result.exit_code == 2
    assert result.stdout.count("10,000,000,000 elements") == 2  # the file's case, and the sample's once


def test_the_limit_follows_max_elements(cli):
    result = cli("sum(outer(x, x))", "--x", "1,2,3", "--max-elements", "5")
    assert result.exit_code == 2
    assert "outer(x, x) would have 9 elements (shape (3, 3)); the limit is 5 (--max-elements)" in result.stderr
    assert cli("sum(outer(x, x))", "--x", "1,2,3", "--max-elements", "9").exit_code == 0


def test_a_derivative_node_is_checked_as_the_symbolic_engine_makes_it():
    graph = Graph()
    x = graph.var("x")
    shapes = ShapeMap({"x": (4,)}, Limits(max_elements=10))
    assert shapes(x) == (4,)
    with pytest.raises(TooManyElements) as refused:
        shapes(graph.apply("outer", x, x))  # a node added after the expression's own were checked
    assert refused.value.shape == (4, 4) and "16 elements" in str(refused.value)


def test_one_evaluation_holds_at_most_ten_nodes_of_full_size(cli):
    functions = ["sin", "cos", "exp", "tanh", "sigmoid", "atan", "softplus", "sinh", "cosh", "abs", "relu"]
    expr = " + ".join(f"sum({f}(x))" for f in functions)  # no node past 1,000; together far past 10,000
    result = cli(expr, "--x", _vector(1000), "--max-elements", "1000")
    assert result.exit_code == 2
    assert "values at once" in result.stderr and "the limit is 10,000 (10 × --max-elements)" in result.stderr


# ---- entries of Jacobians and Hessians ----


@pytest.mark.slow
def test_a_hessian_past_max_entries_is_refused_before_anything_is_computed():
    result, seconds = _capped_cli("sum(x**3)", "--x", _vector(3000), "--order", "2")
    _refused(result, "--order 2: the Hessian would have 9,000,000 entries; the limit is 1,000,000")
    assert "check fewer elements" in result.stderr
    assert seconds < 10


def test_the_entry_limit_is_a_limit():
    spec = Spec(expr="sum(x**3)", at={"x": np.ones(40)}, order=2, limits=Limits(max_entries=1_000))
    result = case.run(spec)
    assert result.status == "error" and result.error["kind"] == "limit"
    assert "the Hessian would have 1,600 entries; the limit is 1,000" in result.error["message"]
    assert case.run(Spec(expr="sum(x**3)", at={"x": np.ones(30)}, order=2, limits=Limits(max_entries=1_000))
                    ).status == "pass"


# ---- finite differences: batches sized in bytes ----


@pytest.mark.slow
@pytest.mark.parametrize("expr, method", [("sum(outer(x, x))", "auto"),  # complex step, dense
                                          ("sum(abs(outer(x, x)))", "auto"),  # Richardson, dense, kinks watched
                                          ("sum(outer(x, x))", "central")])
def test_finite_difference_batches_fit_their_byte_budget(monkeypatch, expr, method):
    budget = 4 * 2**20  # past the 7 points of the noise measurement, each 160 kB here
    monkeypatch.setattr(finite_diff, "BATCH_BYTES", budget)
    held = _record_run_bytes(monkeypatch)
    result = case.run(Spec(expr=expr, at={"x": np.linspace(0.1, 1.9, 100)}, method=method))
    assert result.status != "error" and len(result.gradients) == 100, result.rendered_error
    assert 0 < max(held) <= budget  # 96 MB in one run with the old fixed count of perturbed values


@pytest.mark.slow
def test_many_scalars_are_stepped_together_in_batches_that_fit(monkeypatch):
    budget = 2**20
    monkeypatch.setattr(finite_diff, "BATCH_BYTES", budget)
    held = _record_run_bytes(monkeypatch)
    n = 2_000
    result = case.run(Spec(expr="+".join(f"a{i}" for i in range(n)), at={f"a{i}": 0.5 + i % 7 for i in range(n)}))
    assert result.status == "pass" and len(result.gradients) == n
    assert max(held) <= budget  # in one run: 2,000 rows x 4,000 nodes x 16 bytes = 122 MiB


def _record_run_bytes(monkeypatch) -> list[int]:
    """The bytes of node values each Plan.run holds, from now on."""
    held: list[int] = []
    original = Plan.run

    def run(plan, *args, **kwargs):
        values = original(plan, *args, **kwargs)
        held.append(sum(np.asarray(v).nbytes for v in values))
        return values

    monkeypatch.setattr(Plan, "run", run)
    return held


def _run_normal_and_many(folder) -> dict:
    """One capped run (-j 1: in that process) of a normal case and of a0 + ... + a11999 (see below)."""
    n = 12_000
    (folder / "normal.yaml").write_text(f"expr: sum(sin(x)*x**2)\nat: {{x: [{_vector(1000)}]}}\n")
    (folder / "many.yaml").write_text("expr: " + "+".join(f"a{i}" for i in range(n)) + "\n"
                                      + "at: {" + ", ".join(f"a{i}: {0.5 + i % 7}" for i in range(n)) + "}\n")
    result, seconds = _capped_cli(str(folder / "normal.yaml"), str(folder / "many.yaml"), "-j", "1", "-q",
                                  timeout=300)
    return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr, "seconds": seconds}


@pytest.mark.slow
def test_a_normal_case_passes_under_the_address_space_cap(once):
    run = once("capped-normal-and-many", _run_normal_and_many)
    assert run["returncode"] == 0, run["stderr"][-2000:]
    assert "2 passed" in run["stdout"]


@pytest.mark.slow
def test_twelve_thousand_scalar_variables_take_linear_memory(once):
    """Found: a0 + ... + a11999 took 13 GB and 2 minutes (a dependency set per variable, one batch of N rows)."""
    run = once("capped-normal-and-many", _run_normal_and_many)  # with a normal case, in the same capped process
    assert run["returncode"] == 0, run["stderr"][-2000:]
    assert "2 passed" in run["stdout"]
    assert run["seconds"] < 120


# ---- the high-precision referee and the constants in a value ----


def test_a_value_too_large_for_the_high_precision_referee_is_refused_in_seconds():
    start = time.perf_counter()
    result = case.run(Spec(expr="sum(sin(x*ones(3000000))) + log(y)", at={"x": 0.5, "y": -1.0}))
    assert time.perf_counter() - start < 20  # the referee alone took 20 s and 1.5 GB of mpmath numbers
    assert result.status == "error" and result.error["kind"] == "limit"
    assert "too large for the high-precision referee" in result.error["message"]


@pytest.mark.slow
def test_a_masked_nan_in_a_large_graph_is_left_unexamined():
    result = case.run(Spec(expr="sum(where(x*ones(1000000) > 0, log(x*ones(1000000)), 0))", at={"x": -1.0}))
    assert result.status == "pass"


def test_the_constants_in_a_value_are_bounded():
    with pytest.raises(LimitError, match="a part of it would have 10,000,000,000 elements"):
        parse_scalar(f"sum({BOMB})")
    with pytest.raises(LimitError, match="values at once"):
        parse_scalar(" + ".join(f"sum(eye({3000 - i}))" for i in range(12)))  # each under the limit
    assert parse_scalar("sum(ones(3)) / 4") == 0.75


def test_max_entries_is_a_flag(cli):
    refused = cli("sin(x)", "--x", "1,2,3", "--max-entries", "8")
    assert refused.exit_code == 2 and "its Jacobian would have 9 entries; the limit is 8" in refused.stderr
    assert "raise --max-entries" in refused.stderr
    assert cli("sin(x)", "--x", "1,2,3", "--max-entries", "9").exit_code == 0
    hessian = cli("sum(x**3)", "--x", "1,2,3", "--order", "2", "--max-entries", "8")
    assert hessian.exit_code == 2 and "the Hessian would have 9 entries" in hessian.stderr
