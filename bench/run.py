"""Benchmarks against the peers, in one run on one machine; prints ratios (never a timed test).

    python bench/run.py            # all sections
    python bench/run.py --quick    # smaller sizes, for a smoke run

Sections:
- tensor: the gradient check of mean(sin(x)*x**2) with x of 10,000 elements, against
  torch.autograd.gradcheck (default slow mode, float64) on the same function;
- graph: the size of the symbolic derivative graph of a 2,000-node expression;
- startup: `gradcheck --version` and a one-line check, against `python -c "import torch"`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
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
    from gradcheck_cli.graph import ancestors
    from gradcheck_cli.parser import parse
    from gradcheck_cli.shapes import ShapeMap

    expression = parse(generated_program(nodes), limits=_limits())
    forward = len(ancestors([expression.output]))
    start = time.perf_counter()
    derivatives = gradient_nodes(expression.output, expression.variables, ShapeMap({v: () for v in "xyz"}))
    elapsed = time.perf_counter() - start
    total = len(ancestors([expression.output, *derivatives.values()]))
    print(f"graph   {forward:,}-node expression: derivative graph built in {elapsed:.3f} s; forward + derivative "
          f"nodes {total:,} = {total / forward:.2f}x the forward graph")


def _limits():
    from gradcheck_cli.limits import Limits

    return Limits(max_length=10_000_000, max_nodes=10_000_000)


def startup_section(repeats: int) -> None:
    def command(*args):
        return lambda: subprocess.run(args, capture_output=True, check=False)

    torch_import = best_of(repeats, command(sys.executable, "-c", "import torch"))
    version = best_of(repeats, command(sys.executable, "-m", "gradcheck_cli", "--version"))
    one = best_of(repeats, command(sys.executable, "-m", "gradcheck_cli", "sin(x**2)", "--x", "4"))
    print(f"startup gradcheck --version {version:.3f} s; gradcheck \"sin(x**2)\" --x 4 {one:.3f} s; "
          f"python -c 'import torch' {torch_import:.3f} s -> one check = import torch + {one - torch_import:.3f} s")


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, numpy {np.__version__}, torch {__import__('torch').__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    options = parser.parse_args()
    repeats = 1 if options.quick else 3
    print(f"machine: {machine()}")
    tensor_section(2_000 if options.quick else 10_000, repeats)
    graph_section(500 if options.quick else 2_000)
    startup_section(repeats)


if __name__ == "__main__":
    main()
