"""Benchmarks against the peers, in one run on one machine; prints ratios (never a timed test).

    python bench/run.py            # all sections
    python bench/run.py --quick    # smaller sizes, for a smoke run

Sections:
- tensor: the gradient check of mean(sin(x)*x**2) with x of 10,000 elements, against
  torch.autograd.gradcheck (default slow mode, float64) on the same function;
- cases: 1,000 generated scalar cases (2-4 variables, 5-30 nodes) in one process, against
  torch.autograd.gradcheck on the same 1,000 functions;
- scaling: 10^5-element vectors (smooth, and with kinks): time and peak memory;
- graph: the time and size of the symbolic derivative of a 10,000-node expression;
- precise: the high-precision referee (mpmath) settling every entry of a 100-node, 3-variable expression;
- startup: `gradcheck --version` and a one-line check, against `python -c "import torch"`;
- folder: `gradcheck expressions/` with -j 1 and with one worker per core.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import time

import numpy as np


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def best_of_interleaved(repeats: int, first, second) -> tuple[float, float]:
    """Best times of two functions run alternately, so a slow spell of a shared machine hits both."""
    times: tuple[list, list] = ([], [])
    for _ in range(repeats):
        for function, spent in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def tensor_section(n: int, repeats: int) -> None:
    import torch

    from gradcheck_cli import check

    x = np.linspace(-2.0, 2.0, n)
    check("mean(sin(x)*x**2)", at={"x": x[:10]})  # warm up imports and torch
    ours = best_of(repeats, lambda: check("mean(sin(x)*x**2)", at={"x": x}))
    status = check("mean(sin(x)*x**2)", at={"x": x}).status
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    peer = best_of(repeats, lambda: torch.autograd.gradcheck(lambda v: (torch.sin(v) * v**2).mean(), (xt,)))
    print(f"tensor  mean(sin(x)*x**2), n={n:,}: gradcheck {ours:.3f} s ({status}), "
          f"torch.autograd.gradcheck {peer:.3f} s -> {peer / ours:.1f}x faster")


UNARY = ["sin", "cos", "tanh", "exp", "sigmoid", "atan", "softplus", "log1p_sq"]
BINARY = ["+", "-", "*", "/"]


def generated_case(rng: random.Random) -> tuple[str, object, dict]:
    """A random scalar function of 2-4 variables with 5-30 nodes: (gradcheck text, torch callable, point).

    The text and the callable are built from the same tree, so both tools check the same function.
    The callable interprets the tree; nothing is compiled from text.
    """
    import torch

    torch_unary = {"sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "exp": torch.exp,
                   "sigmoid": torch.sigmoid, "atan": torch.atan, "softplus": torch.nn.functional.softplus,
                   "log1p_sq": lambda v: torch.log(1 + v**2)}
    names = [f"v{i}" for i in range(rng.randint(2, 4))]
    point = {n: rng.uniform(0.5, 1.5) for n in names}
    budget = rng.randint(5, 30)

    def tree(size: int):
        if size <= 1:
            return ("var", rng.choice(names)) if rng.random() < 0.8 else ("const", round(rng.uniform(0.5, 2), 2))
        if size == 2 or rng.random() < 0.3:
            return (rng.choice(UNARY), tree(size - 1))
        left = rng.randint(1, size - 2)
        return (rng.choice(BINARY), tree(left), tree(size - 1 - left))

    def text(t) -> str:
        if t[0] == "var":
            return t[1]
        if t[0] == "const":
            return repr(t[1])
        if t[0] == "log1p_sq":
            return f"log(1 + ({text(t[1])})**2)"
        if t[0] in UNARY:
            return f"{t[0]}({text(t[1])})"
        right = f"(1 + ({text(t[2])})**2)" if t[0] == "/" else f"({text(t[2])})"  # a divisor kept away from 0
        return f"({text(t[1])}) {t[0]} {right}"

    def torch_value(t, env):
        if t[0] == "var":
            return env[t[1]]
        if t[0] == "const":
            return torch.tensor(t[1], dtype=torch.float64)
        if t[0] in torch_unary:
            return torch_unary[t[0]](torch_value(t[1], env))
        a, b = torch_value(t[1], env), torch_value(t[2], env)
        return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / (1 + b**2)}[t[0]]()

    shape = tree(budget)
    order = sorted(names)

    def function(*tensors):
        return torch_value(shape, dict(zip(order, tensors))) + 0 * sum(tensors)  # every input reaches the output

    return text(shape) + " + 0*(" + " + ".join(order) + ")", function, point


def cases_section(count: int) -> None:
    """`count` generated scalar cases in one process: check() against torch.autograd.gradcheck (float64)."""
    import torch

    from gradcheck_cli import check

    rng = random.Random(7)
    cases = [generated_case(rng) for _ in range(count)]
    inputs = [tuple(torch.tensor(point[n], dtype=torch.float64, requires_grad=True) for n in sorted(point))
              for _, _, point in cases]
    statuses = [check(text, at=point).status for text, _, point in cases]

    def ours_all():
        for text, _, point in cases:
            check(text, at=point)

    def peer_all():
        for (_, function, _), args in zip(cases, inputs):
            torch.autograd.gradcheck(function, args)

    peer_all()  # both sides warm (imports, torch's dispatch caches) before timing
    ours, peer = best_of_interleaved(2, ours_all, peer_all)
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    print(f"cases   {count:,} generated scalar cases (2-4 variables, 5-30 nodes): gradcheck {ours:.2f} s "
          f"({1e3 * ours / count:.2f} ms each, {counts}), torch.autograd.gradcheck {peer:.2f} s "
          f"({1e3 * peer / count:.2f} ms each) -> gradcheck takes {ours / peer:.2f}x torch's time")


def generated_program(nodes: int, seed: int = 0) -> str:
    """A program of `nodes` bindings over x, y, z, each reusing earlier ones (a DAG, not a tree).

    Each binding adds one to three graph nodes, so the graph has at least `nodes` nodes.
    """
    rng = random.Random(seed)
    names = ["x", "y", "z"]
    unary = ["sin", "cos", "tanh", "exp", "sigmoid", "softplus", "atan"]
    lines = []
    for i in range(nodes):
        a, b = names[-1], rng.choice(names)  # every binding feeds the next: all of them are reachable
        form = rng.randrange(4)
        text = (f"{a}*{b}" if form == 0 else f"{a} + {b}" if form == 1 else
                f"{rng.choice(unary)}({a})" if form == 2 else f"{a} - 0.5*{b}")
        lines.append(f"t{i} = {text}")
        names.append(f"t{i}")
    return "; ".join(lines) + f"; {names[-1]}*0.001"


def graph_section(nodes: int) -> None:
    from gradcheck_cli.engines.symbolic import gradient_nodes
    from gradcheck_cli.lang.graph import ancestors
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.lang.shapes import ShapeMap

    expression = parse(generated_program(nodes), limits=_limits())
    forward = len(ancestors([expression.output]))
    start = time.perf_counter()
    derivatives = gradient_nodes(expression.output, expression.variables, ShapeMap({v: () for v in "xyz"}))
    elapsed = time.perf_counter() - start
    total = len(ancestors([expression.output, *derivatives.values()]))
    print(f"graph   {forward:,}-node expression: derivative graph built in {elapsed:.3f} s; forward + derivative "
          f"nodes {total:,} = {total / forward:.2f}x the forward graph")


def precise_section(nodes: int, repeats: int) -> None:
    """A dispute for the high-precision referee: every entry of a generated program of 3 variables."""
    from gradcheck_cli.engines.precise import precise_gradient
    from gradcheck_cli.lang.parser import parse
    from gradcheck_cli.lang.shapes import ShapeMap

    expression = parse(generated_program(nodes), limits=_limits())
    point = {"x": np.float64(0.7), "y": np.float64(1.1), "z": np.float64(-0.4)}
    shapes = ShapeMap({name: () for name in point})

    def settle():
        return precise_gradient(expression.output, expression.nodes, point, expression.variables, shapes)

    result = settle()
    elapsed = best_of(repeats, settle)
    methods = sorted({m for name in expression.variables for m in result.methods[name].values()})
    print(f"precise {len(expression.nodes):,}-node expression of 3 variables: every entry settled by the "
          f"high-precision referee in {elapsed:.3f} s ({', '.join(methods)}; {result.work:,} scalar evaluations)")
    from gradcheck_cli import check

    text = generated_program(nodes)
    at = {name: float(value) for name, value in point.items()}
    whole = best_of(repeats, lambda: check(text, at=at, precise=True))
    result = check(text, at=at, precise=True)
    sources = sorted({g.reference_source for g in result.gradients})
    print(f"precise the same as a whole check (a dispute: its float64 engines disagree there), every entry "
          f"settled by {', '.join(sources)}: {whole:.3f} s, status {result.status}")


def _limits():
    from gradcheck_cli.core.limits import Limits

    return Limits(max_length=10_000_000, max_nodes=10_000_000)


def startup_section(repeats: int) -> None:
    def command(*args):
        return lambda: subprocess.run(args, capture_output=True, check=False)

    torch_import = best_of(repeats, command(sys.executable, "-c", "import torch"))
    version = best_of(repeats, command(sys.executable, "-m", "gradcheck_cli", "--version"))
    one = best_of(repeats, command(sys.executable, "-m", "gradcheck_cli", "sin(x**2)", "--x", "4"))
    print(f"startup gradcheck --version {version:.3f} s; gradcheck \"sin(x**2)\" --x 4 {one:.3f} s; "
          f"python -c 'import torch' {torch_import:.3f} s -> one check = import torch + {one - torch_import:.3f} s")


SCALING_SCRIPT = """
import resource, sys, time
import numpy as np
from gradcheck_cli import check
n = int(sys.argv[1])
start = time.perf_counter()
status = check(sys.argv[2], at={"x": np.linspace(-2.0, 2.0, n)}).status
elapsed = time.perf_counter() - start
print(elapsed, status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def scaling_section(n: int) -> None:
    """Large vectors in a fresh process each: wall time and peak memory (RSS, MiB, torch included)."""
    for text in ("mean(sin(x)*x**2)", "sum(relu(x)*x + abs(x))"):
        out = subprocess.run([sys.executable, "-c", SCALING_SCRIPT, str(n), text], capture_output=True, text=True,
                             check=True).stdout.split()
        print(f"scaling {text}, n={n:,}: {float(out[0]):.2f} s ({out[1]}), peak memory {float(out[2]):.0f} MiB")


def folder_section(repeats: int) -> None:
    """`gradcheck expressions/` (every spec file of the library) with one worker and with one per core."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "expressions")
    cores = os.cpu_count() or 1
    times = {}
    for jobs in sorted({1, cores}):
        times[jobs] = best_of(repeats, lambda jobs=jobs: subprocess.run(
            [sys.executable, "-m", "gradcheck_cli", folder, "-q", "-j", str(jobs)], capture_output=True))
    summary = ", ".join(f"-j {j}: {t:.2f} s" for j, t in times.items())
    speedup = f" -> {times[1] / times[cores]:.2f}x with {cores} workers" if cores > 1 else ""
    print(f"folder  gradcheck expressions/ ({_case_count(folder)} cases, whole process): {summary}{speedup}")


def _case_count(folder: str) -> int:
    from gradcheck_cli.spec.collect import collect
    from gradcheck_cli.spec.spec_file import load

    return sum(len(load(path)) for path in collect([folder]).files)


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, numpy {np.__version__}, torch {__import__('torch').__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    options = parser.parse_args()
    repeats = 1 if options.quick else 3
    print(f"machine: {machine()}")
    cases_section(100 if options.quick else 1_000)
    tensor_section(2_000 if options.quick else 10_000, repeats)
    scaling_section(10_000 if options.quick else 100_000)
    graph_section(500 if options.quick else 10_000)
    precise_section(100, repeats)
    startup_section(repeats)
    folder_section(repeats)


if __name__ == "__main__":
    main()
