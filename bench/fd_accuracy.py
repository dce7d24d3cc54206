"""Finite-difference accuracy on smooth functions with exact derivatives (issue 5), against the peers.

    python bench/fd_accuracy.py              # 40 templates x 5 points = 200 (expression, point) pairs
    python bench/fd_accuracy.py --points 2   # a smaller corpus, for a smoke run

The corpus: TEMPLATES below, smooth scalar expressions in one variable x (compositions, products,
quotients and powers of the tool's smooth functions), each evaluated at points drawn with a fixed
seed from a range inside its domain, away from edges and singularities.  The exact derivative comes
from SymPy (d/dx of the same expression) evaluated with mpmath at 50 digits at the exact binary
value of the float64 point.  A draw where |f'(x)| < MIN_DERIVATIVE is replaced by the next draw:
near a stationary point a relative error measures nothing but the zero.

For each method the script prints the median and worst relative error |d - f'| / |f'|, the mean
number of function evaluations per gradient element and, for gradcheck, the fraction of elements
whose true error is within the error bar it reports (|d - f'| <= fd_error):
- gradcheck: `check(expr, at={"x": x})`, its finite-difference column (the evaluations it reports);
- central difference with eps = 1e-6, what torch.autograd.gradcheck's numerical Jacobian computes
  ((f(x + 1e-6) - f(x - 1e-6)) / 2e-6 in float64), 2 evaluations;
- numdifftools.Derivative(f)(x) with its default settings; evaluations counted by wrapping f.
The peers evaluate f in float64 with numpy (sigmoid and softplus as the tool's ops compute them).

tests/test_fd_accuracy.py runs a third of this corpus as a regression test.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SEED = 20_241_125
POINTS_PER_TEMPLATE = 5
DIGITS = 50
MIN_DERIVATIVE = 1e-2
CENTRAL_EPS = 1e-6  # torch.autograd.gradcheck's default

# (expression in the tool's language, low, high): points are drawn uniformly from [low, high].
TEMPLATES: list[tuple[str, float, float]] = [
    ("sin(x**2)", -3.0, 3.0),
    ("exp(sin(x))", -3.0, 3.0),
    ("log(1 + x**2)", -4.0, 4.0),
    ("sqrt(1 + x**2)*cos(x)", -3.0, 3.0),
    ("tanh(x)*x**3", -2.0, 2.0),
    ("sigmoid(x)*sin(x)", -5.0, 5.0),
    ("softplus(x)**2", -4.0, 4.0),
    ("atan(x)/(1 + x**2)", -3.0, 3.0),
    ("x**5 - 3*x**3 + x", -2.0, 2.0),
    ("exp(-x**2/2)", -3.0, 3.0),
    ("cos(x)**3*sin(2*x)", -3.0, 3.0),
    ("x*log(x)", 0.2, 5.0),
    ("sqrt(x)*exp(-x)", 0.2, 5.0),
    ("x**2.5", 0.3, 4.0),
    ("asin(x)*x", -0.8, 0.8),
    ("acos(x)**2", -0.8, 0.8),
    ("sinh(x)/cosh(x)**2", -3.0, 3.0),
    ("log1p(x**2)", -3.0, 3.0),
    ("(exp(x) - 1)/x", 0.5, 3.0),
    ("tan(x)", -1.2, 1.2),
    ("sin(x)/(2 + cos(x))", -3.0, 3.0),
    ("x*sigmoid(x)", -5.0, 5.0),
    ("softplus(2*x - 1)*tanh(x)", -3.0, 3.0),
    ("log(cosh(x))", -4.0, 4.0),
    ("sqrt(x**2 + x + 1)", -3.0, 3.0),
    ("(x**2 + 1)/(x**2 - 4*x + 5)", -3.0, 3.0),
    ("exp(sin(x)*cos(x))", -3.0, 3.0),
    ("atan(exp(x))", -3.0, 3.0),
    ("sin(exp(x/2))", -2.0, 2.0),
    ("x**3*exp(-x)", 0.1, 6.0),
    ("log(2 + sin(x))/(1 + x**2)", -3.0, 3.0),
    ("cos(sqrt(1 + x**2))", -4.0, 4.0),
    ("tanh(sin(x) + x/2)", -3.0, 3.0),
    ("(1 + x)**(-3)", 0.0, 3.0),
    ("sinh(x/2)*cosh(x/3)", -3.0, 3.0),
    ("exp(-x)*sin(3*x)", -1.0, 4.0),
    ("1/sqrt(1 + exp(x))", -3.0, 3.0),
    ("sigmoid(x**2 - 1)*x", -3.0, 3.0),
    ("log(x + sqrt(x**2 + 1))", -4.0, 4.0),
    ("acos(tanh(x))", -2.0, 2.0),
    ("atan(x**3 - x)", -2.0, 2.0),
    ("exp(x)*cos(x)**2", -2.0, 2.0),
    ("sqrt(x)*log(x)", 10.0, 1000.0),
    ("x**4/(1 + x**2)", 5.0, 50.0),
]


@dataclass
class Case:
    expr: str
    x: float
    exact: object  # mpmath.mpf, 50 digits
    f: Callable[[object], object]  # float64 numpy evaluation of the expression


def _sympy_locals():
    import sympy

    return {"sigmoid": lambda t: 1 / (1 + sympy.exp(-t)), "softplus": lambda t: sympy.log(1 + sympy.exp(t)),
            "log1p": lambda t: sympy.log(1 + t), "pow": lambda a, b: a**b, "x": sympy.Symbol("x")}


def _numpy_namespace() -> dict:
    """The tool's language over numpy float64, sigmoid and softplus as gradcheck_cli.ops computes them."""
    names = ["sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "log", "log1p", "sqrt"]
    namespace = {n: getattr(np, n) for n in names}
    namespace.update(asin=np.arcsin, acos=np.arccos, atan=np.arctan, pow=np.power,
                     sigmoid=lambda t: np.exp(-np.logaddexp(0.0, -t)), softplus=lambda t: np.logaddexp(0.0, t))
    return {"__builtins__": {}, **namespace}


def float64_function(expr: str) -> Callable:
    """f(x) in float64.  The templates are this file's own constants, never user input."""
    namespace = _numpy_namespace()
    return lambda x: eval(expr, namespace, {"x": np.float64(x) if np.ndim(x) == 0 else np.asarray(x, np.float64)})


def exact_derivative(expr: str) -> Callable:
    """x (float) -> d expr / dx at the exact binary value of x, as an mpmath number of DIGITS digits."""
    import mpmath
    import sympy

    x = sympy.Symbol("x")
    derivative = sympy.lambdify(x, sympy.diff(sympy.sympify(expr, locals=_sympy_locals()), x), "mpmath")

    def at(value: float):
        with mpmath.workdps(DIGITS):
            return +derivative(mpmath.mpf(value))  # mpf(float) is exact

    return at


def corpus(points_per_template: int = POINTS_PER_TEMPLATE, seed: int = SEED) -> list[Case]:
    """TEMPLATES x points; each template draws from its own seeded stream, so a smaller corpus is a prefix."""
    cases = []
    for index, (expr, low, high) in enumerate(TEMPLATES):
        rng = np.random.default_rng([seed, index])
        derivative, f, kept = exact_derivative(expr), float64_function(expr), 0
        while kept < points_per_template:
            x = float(rng.uniform(low, high))
            exact = derivative(x)
            if abs(exact) >= MIN_DERIVATIVE:
                cases.append(Case(expr, x, exact, f))
                kept += 1
    return cases


def relative_error(value: float, exact) -> float:
    import mpmath

    if not np.isfinite(value):
        return float("inf")
    with mpmath.workdps(DIGITS):
        return float(abs(mpmath.mpf(float(value)) - exact) / abs(exact))


def true_error(value: float, exact) -> float:
    import mpmath

    if not np.isfinite(value):
        return float("inf")
    with mpmath.workdps(DIGITS):
        return float(abs(mpmath.mpf(float(value)) - exact))


@dataclass
class Measured:
    """Per case: the estimate, its relative error, evaluations, and (gradcheck only) error bar and verdict."""

    values: list[float]
    errors: list[float]
    evaluations: list[int]
    bars: list[float] | None = None
    statuses: list[str] | None = None

    def median(self) -> float:
        return statistics.median(self.errors)

    def worst(self) -> float:
        return max(self.errors)

    def evaluations_per_element(self) -> float:
        return sum(self.evaluations) / len(self.evaluations)

    def uncovered(self, cases: list[Case]) -> list[int]:
        """Indices of the cases whose true error exceeds the reported error bar."""
        return [i for i, (case, value, bar) in enumerate(zip(cases, self.values, self.bars))
                if not true_error(value, case.exact) <= bar]

    def coverage(self, cases: list[Case]) -> float:
        return 1 - len(self.uncovered(cases)) / len(cases)


def without_complex_step(expr: str) -> str:
    """The same function with x read through max(x, x - 1), which is x bit for bit (x - 1 < x in float64).

    max is not analytic, so the engine cannot take the complex step there and falls back to
    Richardson-extrapolated central differences: this measures that path on the same values of f.
    """
    return re.sub(r"\bx\b", "max(x, x - 1)", expr)


def measure_gradcheck(cases: list[Case], complex_step: bool = True) -> Measured:
    """gradcheck's finite differences; complex_step=False reads x through max(x, x - 1) (see above)."""
    from gradcheck_cli import check

    values, evaluations, bars, statuses = [], [], [], []
    for case in cases:
        result = check(case.expr if complex_step else without_complex_step(case.expr), at={"x": case.x})
        (row,) = result.gradients
        values.append(float(row.finite_difference))
        bars.append(float(row.fd_error))
        statuses.append(row.status)
        evaluations.append(result.evaluations["finite_difference"])  # one element per case
    errors = [relative_error(v, c.exact) for v, c in zip(values, cases)]
    return Measured(values, errors, evaluations, bars, statuses)


def measure_central(cases: list[Case], eps: float = CENTRAL_EPS) -> Measured:
    """torch.autograd.gradcheck's numerical derivative: one central difference, absolute step eps."""
    with np.errstate(all="ignore"):
        values = [float((c.f(c.x + eps) - c.f(c.x - eps)) / (2 * eps)) for c in cases]
    return Measured(values, [relative_error(v, c.exact) for v, c in zip(values, cases)], [2] * len(cases))


def measure_numdifftools(cases: list[Case]) -> Measured:
    import numdifftools

    values, evaluations = [], []
    for case in cases:
        count = [0]

        def counted(x, f=case.f, count=count):
            count[0] += int(np.size(x))  # points evaluated, should numdifftools batch them
            return f(x)

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            values.append(float(np.squeeze(numdifftools.Derivative(counted)(case.x))))
        evaluations.append(count[0])
    return Measured(values, [relative_error(v, c.exact) for v, c in zip(values, cases)], evaluations)


def machine() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}")


def _row(name: str, m: Measured, coverage: str) -> str:
    return f"{name:<34} {m.median():>10.1e} {m.worst():>10.1e} {m.evaluations_per_element():>12.2f}   {coverage}"


def _describe(case: Case, value: float, bar: float | None = None) -> str:
    text = f"{case.expr} at x = {case.x!r}: {value!r} vs exact {float(case.exact)!r}, rel error " \
           f"{relative_error(value, case.exact):.1e}"
    if bar is not None:
        text += f", true error {true_error(value, case.exact):.1e} > error bar {bar:.1e}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=POINTS_PER_TEMPLATE, help="points per template")
    options = parser.parse_args()
    import numdifftools

    from gradcheck_cli import check

    print(f"machine: {machine()}, numdifftools {numdifftools.__version__}")
    start = time.perf_counter()
    cases = corpus(options.points)
    print(f"corpus: {len(cases)} (expression, point) pairs from {len(TEMPLATES)} templates, exact derivatives by "
          f"SymPy + mpmath at {DIGITS} digits (built in {time.perf_counter() - start:.1f} s)")
    check("x**2", at={"x": 1.0})  # warm up imports
    methods, seconds = {}, {}
    for name, measure in (("gradcheck finite differences", measure_gradcheck),
                          ("gradcheck, complex step off [1]", lambda c: measure_gradcheck(c, complex_step=False)),
                          (f"central difference, eps={CENTRAL_EPS:g} [2]", measure_central),
                          ("numdifftools.Derivative, defaults", measure_numdifftools)):
        start = time.perf_counter()
        methods[name] = measure(cases)
        seconds[name] = time.perf_counter() - start

    print(f"\n{'method':<38} {'median':>10} {'worst':>10} {'evals/elem':>12}   error bar covers the true error")
    for name, m in methods.items():
        coverage = "—"
        if m.bars is not None:
            covered = len(cases) - len(m.uncovered(cases))
            coverage = f"{covered / len(cases):.1%} ({covered}/{len(cases)})"
        print(f"{name:<38} {m.median():>10.1e} {m.worst():>10.1e} {m.evaluations_per_element():>12.2f}   {coverage}")
    print(f"{'issue 5 targets':<38} {'<= 1e-14':>10} {'<= 1e-11':>10} {'<= 12':>12}   >= 99%")
    print("median and worst of the relative error |d - f'| / |f'|.  [1] x read through max(x, x - 1), equal to x:\n"
          "the Richardson path the engine takes wherever an op is not analytic.  [2] torch.autograd.gradcheck's\n"
          "numerical derivative.  Seconds for the corpus, row by row: "
          f"{', '.join(f'{s:.1f}' for s in seconds.values())}"
          " (gradcheck: all its engines)")

    for name, m in methods.items():
        worst = max(range(len(cases)), key=lambda i: m.errors[i])
        print(f"worst, {name}: {_describe(cases[worst], m.values[worst])}")
    for name, m in methods.items():
        if m.bars is None:
            continue
        uncovered = m.uncovered(cases)
        if uncovered:
            print(f"error bar below the true error, {name} ({len(uncovered)}):")
            for i in uncovered:
                print(f"  {_describe(cases[i], m.values[i], m.bars[i])}")
        others = [i for i, status in enumerate(m.statuses) if status != "pass"]
        if others:
            print(f"verdicts other than pass, {name} ({len(others)}):")
            for i in others:
                print(f"  {cases[i].expr} at x = {cases[i].x!r}: {m.statuses[i]}")
        widths = [bar / float(abs(case.exact)) for bar, case in zip(m.bars, cases)]
        print(f"error bar relative to |f'|, {name}: median {statistics.median(widths):.1e}, largest {max(widths):.1e}")
        counts = sorted(set(m.evaluations))
        print(f"evaluations per element, {name}: "
              + ", ".join(f"{n} ({m.evaluations.count(n)} elements)" for n in counts))


if __name__ == "__main__":
    sys.exit(main())
