"""Benchmarks against the peers, in one run on one machine; prints ratios (never a timed test).

    python bench/run.py            # all sections
    python bench/run.py --quick    # smaller sizes, for a smoke run

Child processes run with their bytecode cached (cache_bytecode).  Where there is a peer, ours and the peer's runs
alternate (a slow spell of a shared machine hits both) and the median of each is printed.  Sections:
- cases: 1,000 generated scalar cases (2-4 variables, 5-30 nodes) against torch.autograd.gradcheck on the same
  1,000 functions, in one process and as whole processes (a spec file of the 1,000 cases, `gradcheck FILE -j 1`,
  against a script that imports torch and runs torch.autograd.gradcheck on them);
- startup: `gradcheck --version` and a one-line check, against `python -c "import torch"`;
- dense: logsumexp(A @ x) in x, A given, n = 1,000 against torch.autograd.gradcheck (slow mode), and n = 3,000;
- size: the time of one check of a generated program of 10, 100, 1,000 and 10,000 bindings;
- tensor: the gradient check of mean(sin(x)*x**2) with x of 10,000 elements, against torch.autograd.gradcheck;
- scaling: 10^5-element vectors (smooth, and with kinks) from a .npy file through the CLI: time and peak memory,
  whole processes; the smooth one against torch.autograd.gradcheck's fast mode;
- kernel: the kernel-style depthwise convolution of examples/custom_ops on a 2×8×16×16 input, `--function` alone
  with `--fast` against torch.autograd.gradcheck's fast mode, and its float32 run diagnosed: gradcheck's
  `--precision float32` beside what torch.autograd.gradcheck says of the same op in float32;
- graph: the time and size of the symbolic derivative of a 10,000-node expression;
- precise: the high-precision referee (mpmath) settling every entry of a 100-node, 3-variable expression;
- folder: `gradcheck expressions/` with -j 1 and with one worker per core.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

# The checkout this file lives in, not an installed gradcheck_cli (children run from the working directory).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def medians_alternated(repeats: int, *functions) -> list[float]:
    """The median time of each function, the functions run in turn `repeats` times."""
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for function, spent in zip(functions, times):
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def tensor_section(n: int, repeats: int) -> None:
    import torch

    from gradcheck_cli import check

    x = np.linspace(-2.0, 2.0, n)
    check("mean(sin(x)*x**2)", at={"x": x[:10]})  # warm up imports and torch
    status = check("mean(sin(x)*x**2)", at={"x": x}).status
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ours, peer = medians_alternated(repeats, lambda: check("mean(sin(x)*x**2)", at={"x": x}),
                                    lambda: torch.autograd.gradcheck(lambda v: (torch.sin(v) * v**2).mean(), (xt,)))
    print(f"tensor  mean(sin(x)*x**2), n={n:,}: gradcheck {ours:.3f} s ({status}), "
          f"torch.autograd.gradcheck {peer:.3f} s -> {peer / ours:.1f}x faster")


KERNEL = "examples.custom_ops.depthwise_conv:depthwise_conv3x3"


def kernel_section(shape: tuple[int, int, int, int], repeats: int) -> None:
    """--function alone with --fast on the depthwise conv, against torch.autograd.gradcheck(fast_mode=True); then
    the float32 run: gradcheck's verdict on it, and torch's."""
    import torch

    from examples.custom_ops.depthwise_conv import depthwise_conv3x3
    from gradcheck_cli import check

    at = {"x": f"randn{shape}", "w": f"randn({shape[1]}, 1, 3, 3)"}
    check("", at={"x": "randn(1, 1, 3, 3)", "w": "randn(1, 1, 3, 3)"}, seed=0, function=KERNEL, fast=True)  # warm up
    status = check("", at=at, seed=0, function=KERNEL, fast=True).status
    generator = torch.Generator().manual_seed(0)
    inputs = tuple(torch.randn(s, generator=generator, dtype=torch.float64, requires_grad=True)
                   for s in (shape, (shape[1], 1, 3, 3)))
    ours, peer = medians_alternated(repeats, lambda: check("", at=at, seed=0, function=KERNEL, fast=True),
                                    lambda: torch.autograd.gradcheck(depthwise_conv3x3, inputs, fast_mode=True))
    size = "×".join(map(str, shape))
    print(f"kernel  depthwise conv 3x3, x {size}, --function alone --fast: gradcheck {ours:.3f} s ({status}), "
          f"torch.autograd.gradcheck fast mode {peer:.3f} s -> gradcheck takes {ours / peer:.2f}x torch's time")
    float32 = [c for c in check("", at=at, seed=0, function=KERNEL, fast=True, precision="float32").checks
               if c.name == "float32 precision"][0]
    low = tuple(t.detach().float().requires_grad_() for t in inputs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's own "not double precision" warning, once per input
            torch_says = "passes" if torch.autograd.gradcheck(depthwise_conv3x3, low, fast_mode=True) else "fails"
    except Exception as error:  # noqa: BLE001 -- the peer's verdict, whatever it raises
        torch_says = f"raises {type(error).__name__}: {str(error).splitlines()[0].rstrip(',')[:80]}"
    print(f"kernel  float32 run: gradcheck --precision float32: {float32.status}, {float32.message}; "
          f"torch.autograd.gradcheck on float32 inputs {torch_says}")


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


def generated_cases(count: int) -> list[tuple[str, object, dict]]:
    """The bench's `count` generated scalar cases (seed 7): the same in every process."""
    rng = random.Random(7)
    return [generated_case(rng) for _ in range(count)]


def peer_inputs(cases: list) -> list[tuple]:
    import torch

    return [tuple(torch.tensor(point[n], dtype=torch.float64, requires_grad=True) for n in sorted(point))
            for _, _, point in cases]


def run_peer(cases: list, inputs: list) -> None:
    import torch

    for (_, function, _), args in zip(cases, inputs):
        torch.autograd.gradcheck(function, args)


PEER_CASES_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import run
cases = run.generated_cases(int(sys.argv[2]))
run.run_peer(cases, run.peer_inputs(cases))
"""


def cases_file(cases: list, folder: str) -> str:
    """The cases as one spec file (each its expression and point), for the whole-process run."""
    lines = ["cases:"]
    for i, (text, _, point) in enumerate(cases):
        at = ", ".join(f"{name}: {value!r}" for name, value in point.items())
        lines.append(f"  - {{name: 'case {i}', expr: '{text}', at: {{{at}}}}}")
    path = os.path.join(folder, "generated_cases.yaml")
    with open(path, "w") as file:
        file.write("\n".join(lines) + "\n")
    return path


def cases_section(count: int, repeats: int) -> None:
    """`count` generated scalar cases: check() against torch.autograd.gradcheck (float64) in one process, then
    `gradcheck FILE -j 1` against a script running torch.autograd.gradcheck, as whole processes."""
    from gradcheck_cli import check

    cases = generated_cases(count)
    inputs = peer_inputs(cases)
    statuses = [check(text, at=point).status for text, _, point in cases]

    def ours_all():
        for text, _, point in cases:
            check(text, at=point)

    run_peer(cases, inputs)  # both sides warm (imports, torch's dispatch caches) before timing
    ours, peer = medians_alternated(repeats, ours_all, lambda: run_peer(cases, inputs))
    counts = {str(s): statuses.count(s) for s in sorted(set(statuses))}
    print(f"cases   {count:,} generated scalar cases (2-4 variables, 5-30 nodes), one process: gradcheck {ours:.2f} s "
          f"({1e3 * ours / count:.2f} ms each, {counts}), torch.autograd.gradcheck {peer:.2f} s "
          f"({1e3 * peer / count:.2f} ms each) -> gradcheck takes {ours / peer:.2f}x torch's time")
    bench = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as folder:
        spec = cases_file(cases, folder)
        ours_command = [sys.executable, "-m", "gradcheck_cli", spec, "-j", "1"]
        exit_code = subprocess.run(ours_command, capture_output=True, check=False).returncode
        ours, peer = medians_alternated(
            repeats, lambda: subprocess.run(ours_command, capture_output=True, check=False),
            lambda: subprocess.run([sys.executable, "-c", PEER_CASES_SCRIPT, bench, str(count)], check=True))
    print(f"cases   the same as whole processes: gradcheck FILE -j 1 {ours:.2f} s (exit {exit_code}), a script "
          f"running torch.autograd.gradcheck {peer:.2f} s -> gradcheck takes {ours / peer:.2f}x torch's time")


def dense_section(sizes: tuple[int, int], repeats: int) -> None:
    """logsumexp(A @ x) in x (A given): the dense Jacobian path, through BLAS, against torch's slow mode."""
    import torch

    from gradcheck_cli import check

    def problem(n: int):
        rng = np.random.default_rng(0)
        return rng.normal(size=(n, n)) / np.sqrt(n), rng.normal(size=n)

    text = "logsumexp(A @ x)"
    check(text, at=dict(zip("Ax", problem(5))), wrt=["x"])  # warm
    n, large = sizes
    a, x = problem(n)
    at = {"A": a, "x": x}
    status = check(text, at=at, wrt=["x"]).status
    at_t, xt = torch.tensor(a), torch.tensor(x, requires_grad=True)

    def peer():
        torch.autograd.gradcheck(lambda v: torch.logsumexp(at_t @ v, 0), (xt,))

    ours, theirs = medians_alternated(repeats, lambda: check(text, at=at, wrt=["x"]), peer)
    print(f"dense   {text} in x, n={n:,}: gradcheck {ours:.2f} s ({status}), torch.autograd.gradcheck (slow mode) "
          f"{theirs:.2f} s -> gradcheck takes {ours / theirs:.2f}x torch's time")
    a, x = problem(large)
    at = {"A": a, "x": x}
    start = time.perf_counter()
    status = check(text, at=at, wrt=["x"]).status
    print(f"dense   {text} in x, n={large:,}: gradcheck {time.perf_counter() - start:.2f} s ({status})")


def size_section(sizes: list[int], repeats: int) -> None:
    """One check of a generated program per size: time, and time per node (linear growth keeps it flat)."""
    from gradcheck_cli import check
    from gradcheck_cli.lang.parser import parse

    at = {"x": 0.7, "y": 1.1, "z": -0.4}
    check(bounded_program(10), at=at, limits=_limits())  # warm
    parts = []
    for size in sizes:
        text = bounded_program(size)
        nodes = len(parse(text, limits=_limits()).nodes)
        status = check(text, at=at, limits=_limits()).status
        (elapsed,) = medians_alternated(repeats, lambda text=text: check(text, at=at, limits=_limits()))
        parts.append(f"{nodes:,} nodes {1e3 * elapsed:.1f} ms ({1e6 * elapsed / nodes:.0f} us a node, {status})")
    print("size    one check of a generated program: " + "; ".join(parts))


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


def bounded_program(nodes: int, seed: int = 0) -> str:
    """A program of `nodes` bindings over x, y, z whose values and derivatives stay of order 1 at any size (each
    binding a bounded function of the last one and an earlier one), so that its check passes: a size series
    measures the size, not a dispute.  Each binding adds two or three graph nodes."""
    rng = random.Random(seed)
    names = ["x", "y", "z"]
    forms = ["sin({a} + {b})", "tanh({a}*{b})", "0.5*{a} + 0.5*cos({b})", "sigmoid({a} - {b})"]
    lines = ["t = x + y*z"]
    names.append("t")
    for i in range(nodes - 1):
        lines.append(f"t{i} = " + rng.choice(forms).format(a=names[-1], b=rng.choice(names)))
        names.append(f"t{i}")
    return "; ".join(lines) + f"; {names[-1]}"


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

    one, torch_import = medians_alternated(
        repeats, command(sys.executable, "-m", "gradcheck_cli", "sin(x**2)", "--x", "4"),
        command(sys.executable, "-c", "import torch"))
    (version,) = medians_alternated(repeats, command(sys.executable, "-m", "gradcheck_cli", "--version"))
    print(f"startup gradcheck --version {version:.3f} s; gradcheck \"sin(x**2)\" --x 4 {one:.3f} s; "
          f"python -c 'import torch' {torch_import:.3f} s -> one check = import torch + {one - torch_import:.3f} s "
          f"({one / torch_import:.2f}x)")


PEAK_MEMORY = """
def _peak_mib():  # this process's own peak (ru_maxrss can keep the bench's, the parent it was forked from)
    import resource
    try:
        return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

# The CLI as `python -m gradcheck_cli` runs it, the process's peak memory written to stderr's last line at exit.
CLI_WITH_PEAK_SCRIPT = PEAK_MEMORY + """
import atexit, runpy, sys
atexit.register(lambda: print(f"\\npeak {_peak_mib():.0f}", file=sys.stderr))
sys.argv = ["gradcheck", *sys.argv[1:]]
runpy.run_module("gradcheck_cli", run_name="__main__")
"""

PEER_FAST_SCRIPT = PEAK_MEMORY + """
import sys
import numpy as np
import torch
x = torch.tensor(np.load(sys.argv[1]), requires_grad=True)
passed = torch.autograd.gradcheck(lambda x: torch.mean(torch.sin(x) * x**2), (x,), fast_mode=True)
print(passed, file=sys.stderr)
print(f"peak {_peak_mib():.0f}", file=sys.stderr)
"""


def _peak_of(completed: subprocess.CompletedProcess) -> float:
    return float(completed.stderr.split()[-1])


def scaling_section(n: int, repeats: int) -> None:
    """Large vectors from a .npy file through the CLI, whole processes: wall time and each process's own peak
    memory (RSS, MiB, torch included); mean(sin(x)*x**2) against torch.autograd.gradcheck's fast mode."""
    with tempfile.TemporaryDirectory() as folder:
        values = os.path.join(folder, "values.npy")
        np.save(values, np.linspace(-2.0, 2.0, n))
        scaling_row("mean(sin(x)*x**2)", n, values, repeats, with_peer=True)
        scaling_row("sum(relu(x)*x + abs(x))", n, values, repeats, with_peer=False)


def scaling_row(text: str, n: int, values: str, repeats: int, with_peer: bool) -> None:
    command = [sys.executable, "-c", CLI_WITH_PEAK_SCRIPT, text, "--x", f"@{values}"]
    runs: list[subprocess.CompletedProcess] = []
    peer_runs: list[subprocess.CompletedProcess] = []
    functions = [lambda: runs.append(subprocess.run(command, capture_output=True, text=True, check=False))]
    if with_peer:
        functions.append(lambda: peer_runs.append(subprocess.run(
            [sys.executable, "-c", PEER_FAST_SCRIPT, values], capture_output=True, text=True, check=True)))
    times = medians_alternated(repeats, *functions)
    line = (f"scaling {text}, n={n:,}, gradcheck TEXT --x @values.npy: {times[0]:.2f} s (exit "
            f"{runs[0].returncode}), peak memory {max(map(_peak_of, runs)):.0f} MiB")
    if peer_runs:
        line += (f"; torch.autograd.gradcheck fast mode, whole process: {times[1]:.2f} s, peak memory "
                 f"{max(map(_peak_of, peer_runs)):.0f} MiB -> gradcheck takes {times[0] / times[1]:.2f}x torch's time")
    print(line)


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


def cache_bytecode(folder: str) -> None:
    """The child processes (ours and the peer's) with their bytecode cached in `folder`, as an installed package
    has its .pyc files: where PYTHONDONTWRITEBYTECODE is set (this project's development machine), every
    `gradcheck` process would compile gradcheck's sources again (0.3-0.8 s), which no installed copy does.
    gradcheck's modules are compiled and torch imported once here, before anything is timed."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = folder
    package = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gradcheck_cli")
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)
    subprocess.run([sys.executable, "-c", "import torch, gradcheck_cli.cli"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as bytecode:
        cache_bytecode(bytecode)
        run_sections(options.quick)


def run_sections(quick: bool) -> None:
    repeats = 1 if quick else 3
    print(f"machine: {machine()}")
    cases_section(100 if quick else 1_000, repeats)
    startup_section(3 if quick else 5)
    dense_section((300, 600) if quick else (1_000, 3_000), repeats)
    size_section([10, 100, 1_000] if quick else [10, 100, 1_000, 10_000], repeats)
    tensor_section(2_000 if quick else 10_000, repeats)
    scaling_section(10_000 if quick else 100_000, repeats)
    kernel_section((2, 8, 16, 16), 3 if quick else 7)
    graph_section(500 if quick else 10_000)
    precise_section(100, repeats)
    folder_section(repeats)


if __name__ == "__main__":
    main()
