"""The high-precision referee: a graph evaluated and differentiated in arbitrary precision (mpmath).

Why it exists: float64 engines fail at hard points.  `logsumexp(x)` at x = [1e16, 1e16] has gradient
[0.5, 0.5] while float64 chain rules say [1, 1]; `-log(1 - sigmoid(x))` at 50 is inf in float64
(1 - sigmoid(50) rounds to 0) and 50.000000000000000000002 exactly.  When the float64 engines
disagree, or a value is not finite, this module says what the exact answer is, or why there is none.

Values: `evaluate` runs every node on unbatched numpy object arrays of mpmath numbers, with each op's
`OpSpec.mp` kernel (mp_kernels.py) or, where that is None, its numpy implementation (which then works
on object arrays).  The working precision is 50 digits plus the decimal magnitude of the largest |x|,
inside a local `mp.workdps` (global mpmath state is never changed).  Undefined values are mpf('nan'),
genuine infinities (log(0)) are ±inf: see mp_kernels.py.

Derivatives, one variable element at a time (all output elements at once):
- the complex step, Im f(x + ih)/h in mpc, where every op from the variable to the output is
  holomorphic (`OpSpec.analytic`, as finite_diff.complex_step_applies) and inside its differentiable
  domain (`OpSpec.domain`, `arg_domains`) at the point; h is 10^-dps relative, so there is no
  truncation to speak of, and no subtraction;
- elsewhere (or where the complex step does not settle), central differences at steps h and h/2
  combined by Richardson, with h = 10^-H x min(1, |x|): an absolute step for large x, since
  `logsumexp` at 1e16 has O(1) curvature.  The precision is raised with the step (mag + 2H + 30
  digits) so that x ± h is exact.  One-sided differences at the same points say whether the point is
  smooth (they agree: relu(x) - relu(-x) at 0 has derivative 1) or a kink (they differ: `left` and
  `right` hold them and the gradient is NaN).  Where only the first derivative exists (relu(x)**2 at
  0) central Richardson is off by O(h) and the settled one-sided values are the answer.
Each method runs at successively smaller steps and higher precision until two successive results
agree to 1e-30 relative (or, for a derivative that is 0, to 1e-30 of how much f changes per unit
step); their difference is the error estimate (honest, since each attempt is far more accurate than
the one before).  A switching function of the registry (`OpSpec.kinks`) that changes sign under a
step makes the next step smaller than its distance to the kink (relu(x - 1e-300) at 0 is smooth).  A step that
changes the piece of a discontinuous op (`OpSpec.jumps`: floor, round, fmod, ...) that does not sit on its jump
crossed a jump near the point, at a distance the piece numbers do not tell: the next step is the smallest,
10^-MAX_STEP_EXPONENT (floor(x + 1e-250) at 1 is flat).  Where the op sits on its jump (floor at 2), the
differences say whether the function jumps with it.
What never settles is named: undefined beside the point (sqrt(x) at 0), a jump (sign(x) at 0), an
infinite slope (sqrt(|x|) at 0), or "did not converge".

Cost is bounded by `budget` (scalar op evaluations, weighted by precision); what does not fit gets
NaN and the reason "too large for the high-precision referee", never a hang.  Arguments too large to
compute in bounded time (exp of 10^1000) get the same reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from mpmath import mp

from ..lang.graph import Node, ancestors, carries_value, dependents, to_text
from ..lang.mp_kernels import NAN, TooLarge
from ..lang.ops import OPS
from ..lang.shapes import ShapeMap

BASE_DIGITS = 50
TARGET = 30  # digits two successive results must share to settle an entry
ACCEPT = 20  # digits still reported (with their error) when the attempts run out
LOOSE = 20  # digits each one-sided derivative must settle to before a kink is claimed
FLOOR = 60  # an error below 10^-FLOOR |f| per unit of x is negligible (where f' = 0 and f is flat)
GUARD_DIGITS = 30  # precision beyond what makes x ± h exact
STEP_EXPONENTS = (20, 30, 60, 120, 200)  # h = 10^-H x min(1, |x|), attempt by attempt
MAX_STEP_EXPONENT = 340  # after a crossed kink: below the distance of any kink float64 inputs can place
COMPLEX_EXTRA_DIGITS = (0, 20, 60)  # the complex step's attempts: precision above the base
DIFFERENCE_RUNS = 4  # x + h, x - h, x + h/2, x - h/2
DEFAULT_BUDGET = 500_000  # about 2.5 s of mpmath on this machine (5 us per scalar op at 50 digits)
VALUES_BUDGET = 4 * DEFAULT_BUDGET  # `evaluate`: a few seconds, and some 300 MB of mpmath numbers at most
TOO_LARGE = "too large for the high-precision referee"
MAX_VALUE_DIGITS = 1000  # a node value past 10^1000: the referee declines (see _value_digits)
NOT_CONVERGED = "did not converge"


# ---- values ----


@dataclass
class PreciseValues:
    """Every node's exact value (to `dps` digits): values[node.id] is a numpy object array of the node's
    shape (no batch axis) holding mpmath `mpf`.

    An entry undefined in exact arithmetic (log of a negative, 0/0, 1/0, sqrt(-1)) holds mpf('nan'); a
    genuine infinity, the same from every side the op is defined on (log(0), 0**-2), holds ±inf.  A value
    beyond float64's range but finite stays finite here (as_float64 gives ±inf for it, undefined False).
    `too_large`: nodes whose value the referee could not afford (an argument beyond about 1e993 to exp,
    sin, ...; or the whole graph past the budget): NaN, but not known to be undefined.
    `affordable`: False where the whole graph was past the budget, and nothing was computed.
    """

    values: dict[int, np.ndarray]
    dps: int
    too_large: frozenset[int] = frozenset()
    affordable: bool = True

    def __getitem__(self, node: Node) -> np.ndarray:
        return self.values[node.id]

    def as_float64(self, node: Node) -> np.ndarray:
        """The node's value rounded to float64 (±inf beyond its range, NaN where undefined)."""
        return _to_float(self.values[node.id])

    def undefined(self, node: Node) -> np.ndarray:
        """Where the exact value is not a finite number (NaN or a genuine infinity); False where unknown."""
        value = self.values[node.id]
        if node.id in self.too_large:
            return np.zeros(value.shape, dtype=bool)
        return ~_finite(value)


def evaluate(nodes: list[Node], point: dict[str, np.ndarray], shapes: ShapeMap, dps: int | None = None,
             budget: int | None = VALUES_BUDGET) -> PreciseValues:
    """Every node of `nodes` (and of their ancestors) at `point`, to `dps` digits (default: 50 plus the
    decimal magnitude of the largest |x|).  With a `budget` (scalar op evaluations) smaller than the
    graph, nothing is computed and every node is `too_large` (an mpmath number per element costs some
    100 bytes: without the budget, a graph within --max-elements could still take gigabytes)."""
    program = _Program(ancestors(nodes), shapes)
    point = _float_point(point)
    dps = dps or BASE_DIGITS + _magnitude(point)
    if budget is not None and program.cost(range(len(program.nodes)), dps) > budget:
        return program.unaffordable(dps)
    with mp.workdps(dps):
        values, too_large = program.run(point)
    return program.values_of(values, too_large, dps)


# ---- gradients ----


@dataclass
class PreciseGradient:
    """d output / d variable in high precision, for the requested entries.

    Arrays are float64, shaped output shape + variable shape, NaN where not computed or not defined.
    `errors`: absolute error estimates (about 1e-30 relative where an entry settled).  `left`/`right`: the
    one-sided derivatives where the point sits on a kink (they differ; the gradient is NaN), else NaN.
    `reasons[name][entry]`: why an entry is NaN, beginning with one of "undefined: " (the value itself:
    "undefined: log(x) at x = -1.0"), "undefined left of the point: " / "undefined right of the point: "
    (a domain boundary: sqrt(x) at 0), "kink: " (left and right differ), "not differentiable: " (a jump, or
    an infinite slope), "too large for the high-precision referee" (the budget, or a value beyond its
    range), "did not converge".  `methods[name][entry]`: "complex step", "central differences",
    "one-sided differences" (a kink, or where only the first derivative exists, as relu(x)**2 at 0) or
    "constant" (the output does not depend on the variable).  `value`: the base evaluation (None when even
    that did not fit the budget).  `high_precision[name][entry]`: each computed derivative as an mpmath
    number, all its digits.
    `work`: the scalar op evaluations spent (weighted by precision, as `budget` counts them).
    """

    gradients: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    left: dict[str, np.ndarray]
    right: dict[str, np.ndarray]
    value: PreciseValues | None
    reasons: dict[str, dict[tuple, str]] = field(default_factory=dict)
    methods: dict[str, dict[tuple, str]] = field(default_factory=dict)
    high_precision: dict[str, dict[tuple, object]] = field(default_factory=dict)
    work: int = 0

    def reason(self, name: str, entry) -> str | None:
        """Why gradients[name][entry] is NaN; None where it is not (or was not asked for)."""
        return self.reasons.get(name, {}).get(tuple(int(i) for i in entry))


def precise_gradient(output: Node, nodes: list[Node] | None, point: dict[str, np.ndarray], wrt: list[str],
                     shapes: ShapeMap, entries: dict[str, list[tuple]] | None = None,
                     budget: int = DEFAULT_BUDGET) -> PreciseGradient:
    """The Jacobian of `output` in each variable of `wrt`, in high precision, entry by entry.

    `nodes`: the output's ancestors, oldest first (Expression.nodes), or None.  `entries[name]`: the
    (output index + variable index) tuples to compute; None computes every entry, and a name missing from
    a given dict none of its entries.  `budget` caps the work (scalar op evaluations, weighted by precision
    in units of 50 digits); entries past it get NaN with the reason "too large for the high-precision
    referee".
    """
    del nodes  # the output's own ancestors are walked again: a caller's list may hold more than it needs
    program = _Program(ancestors([output]), shapes)
    point = _float_point(point)
    out_shape = program.shape[program.slot[output.id]]
    result = _empty_result(out_shape, point, wrt)
    wanted = {name: _wanted(name, entries, out_shape, point[name].shape) for name in wrt}
    referee = _Referee(program, output, point, budget)
    if program.cost(range(len(program.nodes)), referee.base_dps) > budget:
        for name in wrt:
            for entry in wanted[name]:
                result.reasons[name][entry] = f"{TOO_LARGE} (the graph alone exceeds its budget of {budget:,})"
        return result
    result.value = referee.base_values()
    digits = _value_digits(result.value)
    if digits > MAX_VALUE_DIGITS:  # exp(1e308): no affordable precision resolves a step of its argument
        for name in wrt:
            for entry in wanted[name]:
                result.reasons[name][entry] = f"{TOO_LARGE} (a value near 10^{digits:,} in the graph)"
        return result
    if digits > referee.mag:  # a step of a value's argument changes it in its digits past the point's size
        referee.mag, referee.base_dps = digits, BASE_DIGITS + digits
        result.value = referee.base_values()
    for name in wrt:
        if wanted[name]:
            referee.differentiate(name, wanted[name], result)
    result.work = referee.spent
    return result


def _empty_result(out_shape: tuple, point: dict, wrt: list[str]) -> PreciseGradient:
    def nans() -> dict[str, np.ndarray]:
        return {name: np.full(out_shape + point[name].shape, np.nan) for name in wrt}

    def empty() -> dict[str, dict]:
        return {name: {} for name in wrt}

    return PreciseGradient(nans(), nans(), nans(), nans(), None, empty(), empty(), empty())


def _wanted(name: str, entries, out_shape: tuple, shape: tuple) -> list[tuple]:
    full = out_shape + shape
    if entries is None:
        return list(np.ndindex(full))
    chosen = []
    for entry in entries.get(name, []):
        entry = tuple(int(i) for i in entry)
        if len(entry) != len(full) or not all(0 <= i < n for i, n in zip(entry, full)):
            raise ValueError(f"entry {entry} of {name} is not an index of its Jacobian, shaped {full}")
        chosen.append(entry)
    return list(dict.fromkeys(chosen))


# ---- the compiled graph ----


class _Program:
    """The nodes as a flat list of mp calls (oldest first), and runs of it: whole, or only what a variable changes."""

    def __init__(self, nodes: list[Node], shapes: ShapeMap):
        self.nodes = nodes
        self.slot = {node.id: i for i, node in enumerate(nodes)}
        shape_of = shapes.of_closed(nodes)
        self.shape = [tuple(shape_of[node.id]) for node in nodes]
        self.size = [math.prod(shape) for shape in self.shape]
        self.args = [tuple(self.slot[a.id] for a in node.args) for node in nodes]
        self.calls = [_kernel(node) for node in nodes]
        self.work = [self._work(i) for i in range(len(nodes))]

    def _work(self, i: int) -> int:
        """Scalar operations of one node: a reduction reads all of its argument, a matrix product does an
        inner product of length k for each output element."""
        work = max([self.size[i]] + [self.size[a] for a in self.args[i]])
        if self.nodes[i].op == "matmul" and self.shape[self.args[i][0]]:
            work = max(work, self.size[i] * self.shape[self.args[i][0]][-1])
        return work

    def cost(self, slots, dps: int) -> int:
        return sum(self.work[s] for s in slots) * max(1, dps // BASE_DIGITS)

    def run(self, point: dict[str, np.ndarray]) -> tuple[list[np.ndarray], set[int]]:
        """All values at the current precision; nodes past TooLarge are NaN and listed."""
        values: list[np.ndarray] = [None] * len(self.nodes)  # type: ignore[list-item]
        too_large: set[int] = set()
        for i, node in enumerate(self.nodes):
            if node.op == "const":
                values[i] = np.full((), mp.mpf(node.attr), dtype=object)
            elif node.op == "var":
                values[i] = _to_mp(point[node.attr])
            else:
                try:
                    values[i] = self._call(i, values)
                except TooLarge:
                    values[i] = np.full(self.shape[i], NAN, dtype=object)
                    too_large.add(i)
                if any(a in too_large for a in self.args[i]):
                    too_large.add(i)
        return values, too_large

    def rerun(self, base: list[np.ndarray], var_slot: int, variable: np.ndarray, path: list[int]) -> list:
        """Values with the variable replaced, recomputing only `path` (the nodes it changes); TooLarge escapes."""
        values = list(base)
        values[var_slot] = variable
        for i in path:
            if i != var_slot:
                values[i] = self._call(i, values)
        return values

    def _call(self, i: int, values: list) -> np.ndarray:
        try:
            result = self.calls[i](*[values[a] for a in self.args[i]])
        except OverflowError as error:  # mpmath's own limits (an exponent of 1e308 digits): too large, not a bug
            raise TooLarge(str(error)) from None
        if isinstance(result, np.ndarray) and result.dtype != object:
            result = _to_mp(result)  # a numpy form that made floats
        result = np.asarray(result, dtype=object)  # (0-d object arithmetic gives a bare mpf)
        return result if result.shape == self.shape[i] else np.broadcast_to(result, self.shape[i])

    def dependents(self, name: str) -> list[int]:
        """Slots whose value changes with the variable, oldest first (detach holds its value: not one)."""
        variable = {node.id for node in self.nodes if node.op == "var" and node.attr == name}
        return sorted(self.slot[i] for i in dependents(self.nodes, variable, carries_value))

    def values_of(self, values: list, too_large: set[int], dps: int) -> PreciseValues:
        return PreciseValues({node.id: values[i] for i, node in enumerate(self.nodes)}, dps,
                             frozenset(self.nodes[i].id for i in too_large))

    def unaffordable(self, dps: int) -> PreciseValues:
        nan = np.full((), NAN, dtype=object)
        values = {node.id: np.broadcast_to(nan, self.shape[i]) for i, node in enumerate(self.nodes)}  # no copies
        return PreciseValues(values, dps, frozenset(values), affordable=False)


def _kernel(node: Node):
    if node.op in ("const", "var"):
        return None
    spec = OPS[node.op]
    if spec.mp is not None:
        return partial(_with_attr, spec.mp, node.attr) if spec.attrs else spec.mp
    if spec.elementwise:  # unbatched arrays broadcast as the node shapes do
        return partial(_with_attr, spec.numpy, node.attr) if spec.attrs else spec.numpy
    return partial(_batched, spec, node.attr)


def _with_attr(function, attr, *args):
    return function(*args, attr)


def _batched(spec, attr, *args):
    """A numpy implementation (batched) on unbatched object arrays: a batch axis of 1 in and out."""
    return np.asarray(spec.evaluate([np.asarray(a, dtype=object)[np.newaxis] for a in args], attr),
                      dtype=object)[0]


# ---- the referee: base values per precision, and the two methods ----


@dataclass
class _Estimate:
    """One attempt of central and one-sided differences for one output element."""

    central: object = None
    right: object = None
    left: object = None
    jump_right: object = None
    jump_left: object = None
    scale: object = None  # max |f| over the points / the step's scale
    variation: object = None  # (|f(x+h) - f(x)| + |f(x) - f(x-h)|) / h: twice |f'|, or h |f''| where f' = 0
    undefined: str | None = None


class _Referee:
    """One precise_gradient call: the base values at each precision used (cached), the budget, and the
    complex step and the differences for one variable element at a time."""

    def __init__(self, program: _Program, output: Node, point: dict[str, np.ndarray], budget: int):
        self.program = program
        self.out_slot = program.slot[output.id]
        self.point = point
        self.mag = _magnitude(point)
        self.base_dps = BASE_DIGITS + self.mag
        self.budget = budget
        self.spent = 0
        self._bases: dict[int, tuple[list, set[int]]] = {}
        self._switches: dict[tuple, object] = {}

    # -- bookkeeping --

    def afford(self, cost: int) -> bool:
        if self.spent + cost > self.budget:
            return False
        self.spent += cost
        return True

    def base(self, dps: int) -> list[np.ndarray] | None:
        """All values at `dps` digits (cached); None when the budget does not allow them.  Call inside workdps(dps)."""
        if dps not in self._bases:
            if not self.afford(self.program.cost(range(len(self.program.nodes)), dps)):
                return None
            self._bases[dps] = self.program.run(self.point)
        return self._bases[dps][0]

    def base_values(self) -> PreciseValues:
        with mp.workdps(self.base_dps):
            self.base(self.base_dps)
        values, too_large = self._bases[self.base_dps]
        return self.program.values_of(values, too_large, self.base_dps)

    # -- one variable --

    def differentiate(self, name: str, wanted: list[tuple], result: PreciseGradient) -> None:
        """The entries `wanted` (output index + variable index) of d output / d name, recorded in `result`."""
        program = self.program
        shape = self.point[name].shape
        path = program.dependents(name)
        _, too_large = self._bases[self.base_dps]
        by_element = _outputs_by_element(wanted, program.shape[self.out_slot], shape)
        record = partial(_record, result, name, program.shape[self.out_slot], shape)
        undefined = self._undefined_outputs(by_element)
        if self.out_slot in too_large:
            for element, o in _entries(by_element):
                record(element, o, reason=f"{TOO_LARGE}: a value on the way is beyond its range")
            return
        if self.out_slot not in path:  # the output does not depend on the variable
            for element, o in _entries(by_element):
                if o in undefined:
                    record(element, o, reason=undefined[o])
                else:
                    record(element, o, value=mp.mpf(0), error=0.0, method="constant")
            return
        complex_ok = self._complex_step_applies(path)
        var_slot = program.slot[next(n.id for n in program.nodes if n.op == "var" and n.attr == name)]
        for element, outs in by_element.items():
            pending = []
            for o in outs:
                if o in undefined:
                    record(element, o, reason=undefined[o])
                else:
                    pending.append(o)
            if pending and complex_ok:
                settled = self._complex_step(var_slot, element, pending, path)
                for o, (value, error) in settled.items():
                    record(element, o, value=value, error=error, method="complex step")
                pending = [o for o in pending if o not in settled]
            if pending:
                for o, outcome in self._differences(var_slot, element, pending, path).items():
                    record(element, o, **outcome)

    def _undefined_outputs(self, by_element: dict[int, list[int]]) -> dict[int, str]:
        """{flat output index: why it is undefined} for the wanted output elements that are not finite."""
        base_values, _ = self._bases[self.base_dps]
        output = base_values[self.out_slot].reshape(-1)
        with mp.workdps(self.base_dps):
            return {o: f"undefined: {self._where_undefined(base_values)}" for outs in by_element.values()
                    for o in outs if not mp.isfinite(output[o])}

    def _complex_step_applies(self, path: list[int]) -> bool:
        """Every op on the path holomorphic (as finite_diff.complex_step_applies), and inside its domain here."""
        program = self.program
        if not all(OPS[program.nodes[i].op].analytic for i in path if program.nodes[i].op != "var"):
            return False
        base_values, _ = self._bases[self.base_dps]
        on_path = set(path)
        with mp.workdps(self.base_dps):
            for i in path:
                node = program.nodes[i]
                if node.op == "var":
                    continue
                spec = OPS[node.op]
                args = [base_values[a] for a in program.args[i]]
                conditions = [spec.domain] if spec.domain else []
                conditions += [spec.arg_domains[k][0] for k, a in enumerate(program.args[i])
                               if a in on_path and k in spec.arg_domains]
                if any(not _holds(predicate, args, node.attr if spec.attrs else None, spec.attrs)
                       for predicate in conditions):
                    return False
                if spec.kinks is not None and not _off_every_kink(spec, node, args):
                    return False
        return True

    def _digits_below(self, var_slot: int, element: int) -> int:
        """Decimal digits between 1 and a small |x| (0 for |x| >= 1 or x = 0).  The step is relative to such an
        x, and a node that adds x to a number near 1 (relu(x + 1) at 1e-300) must still hold x ± h: without
        these digits the step is rounded away there and the derivative settles, wrongly, to 0."""
        x = self.base(self.base_dps)
        xj = x[var_slot].flat[element] if x is not None else 0
        if not mp.isfinite(xj) or xj == 0 or abs(xj) >= 1:
            return 0
        return int(mp.ceil(-mp.log10(abs(xj))))

    # -- the complex step --

    def _complex_step(self, var_slot: int, element: int, outs: list[int], path: list[int]) -> dict:
        """Im f(x + ih)/h, h = 2^k ≈ 10^-dps x min(1, |x|), at rising precision until two attempts agree."""
        settled: dict[int, tuple] = {}
        previous = None
        below = self._digits_below(var_slot, element)
        for extra in COMPLEX_EXTRA_DIGITS:
            dps = self.base_dps + extra + below
            if not self.afford(self.program.cost(path, dps)):
                break
            with mp.workdps(dps):
                base = self.base(dps)
                if base is None:
                    break
                x = base[var_slot]
                xj = x.flat[element]
                if not mp.isfinite(xj):
                    break
                h = _power_of_two(mp.mpf(10) ** -dps * _scale(xj))
                variable = x.copy()
                variable.flat[element] = mp.mpc(xj, h)
                try:
                    f = self.program.rerun(base, var_slot, variable, path)[self.out_slot].reshape(-1)
                except TooLarge:
                    break
                f0 = base[self.out_slot].reshape(-1)
                current = {o: mp.im(f[o]) / h for o in outs if o not in settled}
                for o, d in current.items():
                    if not mp.isfinite(d) or previous is None or o not in previous:
                        continue
                    error = abs(d - previous[o])
                    if error <= _tolerance(d, TARGET) or error <= _floor(f0[o], xj):
                        settled[o] = (d, float(error))
                previous = current
            if len(settled) == len(outs):
                break
        return settled

    # -- central and one-sided differences --

    def _differences(self, var_slot: int, element: int, outs: list[int], path: list[int]) -> dict[int, dict]:
        outcomes: dict[int, dict] = {}
        previous: dict[int, _Estimate] | None = None
        earlier: dict[int, _Estimate] = {}
        exponent_index, exponent = 0, STEP_EXPONENTS[0]
        last_problem: str | None = None
        below = self._digits_below(var_slot, element)
        while len(outcomes) < len(outs):
            dps = self.mag + 2 * exponent + GUARD_DIGITS + below
            pending = [o for o in outs if o not in outcomes]
            if not self.afford(self.program.cost(path, dps) * DIFFERENCE_RUNS):
                last_problem = f"{TOO_LARGE} (its budget of {self.budget:,} is spent)"
                break
            with mp.workdps(dps):
                base = self.base(dps)
                if base is None:
                    last_problem = f"{TOO_LARGE} (its budget of {self.budget:,} is spent)"
                    break
                try:
                    current, crossing = self._attempt(base, var_slot, element, pending, path, exponent, dps)
                except TooLarge as error:
                    last_problem = f"{TOO_LARGE}: {error} beside the point"
                    break
                if previous is not None:
                    for o in pending:
                        outcome = _settle(previous[o], current[o])
                        if outcome is not None:
                            outcomes[o] = outcome
                earlier, previous = previous or {}, current
            exponent_index += 1
            if exponent_index >= len(STEP_EXPONENTS):
                break
            exponent = _next_exponent(exponent, STEP_EXPONENTS[exponent_index], crossing)
        with mp.workdps(self.mag + 2 * exponent + GUARD_DIGITS + below):
            for o in outs:
                if o not in outcomes:
                    outcomes[o] = _unsettled(earlier.get(o), (previous or {}).get(o), last_problem)
        return outcomes

    def _attempt(self, base: list, var_slot: int, element: int, outs: list[int], path: list[int], exponent: int,
                 dps: int) -> tuple[dict[int, _Estimate], object]:
        """f at x ± h and x ± h/2 (h exact at this precision): Richardson central, right and left differences."""
        x = base[var_slot]
        xj = x.flat[element]
        scale = _scale(xj)
        h = _power_of_two(mp.mpf(10) ** -exponent * scale)
        f0 = base[self.out_slot].reshape(-1)
        runs, problem, crossing = {}, None, None
        for step in (h, -h, h / 2, -h / 2):
            variable = x.copy()
            variable.flat[element] = xj + step
            values = self.program.rerun(base, var_slot, variable, path)
            runs[step] = values[self.out_slot].reshape(-1)
            if problem is None and not all(mp.isfinite(runs[step][o]) for o in outs):
                side = "right" if step > 0 else "left"
                problem = f"undefined {side} of the point: {self._where_undefined(values)}"
            fraction = self._crossing(base, values, path, dps)
            if fraction is not None:
                crossing = fraction if crossing is None else min(crossing, fraction)
        estimates = {}
        for o in outs:
            plus, minus, half_plus, half_minus = (runs[s][o] for s in (h, -h, h / 2, -h / 2))
            if not all(mp.isfinite(v) for v in (plus, minus, half_plus, half_minus)):
                estimates[o] = _Estimate(undefined=problem)
                continue
            c1, c2 = (plus - minus) / (2 * h), (half_plus - half_minus) / h
            r1, r2 = (plus - f0[o]) / h, (half_plus - f0[o]) / (h / 2)
            l1, l2 = (f0[o] - minus) / h, (f0[o] - half_minus) / (h / 2)
            jump_right, jump_left = abs(plus - f0[o]), abs(f0[o] - minus)
            estimates[o] = _Estimate((4 * c2 - c1) / 3, 2 * r2 - r1, 2 * l2 - l1, jump_right, jump_left,
                                     max(abs(f0[o]), abs(plus), abs(minus)) / scale, (jump_right + jump_left) / h)
        return estimates, crossing

    def _crossing(self, base: list, values: list, path: list[int], dps: int):
        """The smallest fraction of the step at which a switching function (OpSpec.kinks) on the path
        changed sign from a non-zero base value (a kink near, not at, the point); None if none did."""
        program, fraction = self.program, None
        for i in path:
            node = program.nodes[i]
            spec = OPS.get(node.op)
            if spec is not None and spec.jumps is not None and self._jump_crossed(base, values, i, dps):
                fraction = mp.mpf(0)  # its distance unknown: the smallest step next
            if spec is None or spec.kinks is None:
                continue
            before = self._base_switches(base, i, dps)
            after = _switches(spec, node, [values[a] for a in program.args[i]])
            if before is None or after is None:
                continue
            for s0, s1 in zip(before, after):
                for v0, v1 in zip(np.ravel(s0), np.ravel(np.broadcast_to(s1, np.shape(s0)))):
                    if _sign(v0) != 0 and _sign(v1) != _sign(v0):
                        t = abs(v0) / abs(v1 - v0) if v1 != v0 else mp.mpf(0)
                        fraction = t if fraction is None else min(fraction, t)
        return fraction

    def _jump_crossed(self, base: list, values: list, i: int, dps: int) -> bool:
        """Whether the step moved an element of node i that does not sit on its jump to another piece."""
        key = (dps, i, "jumps")
        node, spec = self.program.nodes[i], OPS[self.program.nodes[i].op]
        if key not in self._switches:
            args = [base[a] for a in self.program.args[i]]
            sits = spec.sits_on_jump([_to_float(a) for a in args], node.attr)
            self._switches[key] = (_jump_labels(spec, node, args), sits)
        before, sits = self._switches[key]
        after = _jump_labels(spec, node, [values[a] for a in self.program.args[i]])
        if before is None or after is None:
            return False
        for s0, s1 in zip(before, after):
            s1 = np.broadcast_to(s1, np.shape(s0))
            free = np.broadcast_to(~sits, np.shape(s0))
            if any(f and v0 != v1 for v0, v1, f in zip(np.ravel(s0), np.ravel(s1), np.ravel(free))):
                return True
        return False

    def _base_switches(self, base: list, i: int, dps: int):
        key = (dps, i)
        if key not in self._switches:
            node = self.program.nodes[i]
            self._switches[key] = _switches(OPS[node.op], node, [base[a] for a in self.program.args[i]])
        return self._switches[key]

    # -- words --

    def _where_undefined(self, values: list) -> str:
        """'log(x) at x = -1.0': the first node on the way to the output whose value is not finite while its
        arguments are (following whole nodes, as domain.py does)."""
        program = self.program
        i = self.out_slot
        while True:
            bad = [a for a in program.args[i] if program.nodes[a].op != "const" and not np.all(_finite(values[a]))]
            if not bad:
                break
            i = bad[0]
        node = program.nodes[i]
        text = to_text(node)[:60]
        flat = np.ravel(values[i])
        infinite = [v for v in flat if mp.isinf(v)]
        shown = [f"{to_text(program.nodes[a])[:40]} = {_show(values[a])}" for a in program.args[i]
                 if program.nodes[a].op != "const"]
        if infinite and not any(mp.isnan(v) for v in flat):
            text += f" is {mp.nstr(infinite[0], 3)}"
        elif not shown:
            text += " is nan"  # an input, or an op of constants
        return text + (f" at {', '.join(shown)}" if shown else "")


def _settle(previous: _Estimate, current: _Estimate) -> dict | None:
    """Two successive attempts for one entry: a settled derivative, a kink, or None (try a smaller step)."""
    if previous.undefined or current.undefined or previous.central is None:
        return None
    c, right, left = current.central, current.right, current.left
    e_c, e_r, e_l = abs(c - previous.central), abs(right - previous.right), abs(left - previous.left)
    # An error this small is negligible even where f' = 0 exactly: below 1e-30 of how much f changes per
    # unit step at this step (h |f''| there), or below 1e-60 of |f| per unit of x.
    floor = max(current.variation * mp.mpf(10) ** -TARGET, current.scale * mp.mpf(10) ** -FLOOR)
    gap = abs(right - left)
    if gap <= max(_tolerance(max(abs(right), abs(left)), TARGET), floor):  # smooth: the sides agree (to O(h^3))
        if e_c <= max(_tolerance(c, TARGET), floor):
            return {"value": c, "error": float(e_c + gap), "method": "central differences"}
        # Central Richardson assumes a third derivative: where only the first exists (relu(x)**2 at 0) its
        # error is O(h), while the one-sided estimates are exact on each smooth side.  Settled and in
        # agreement, they are the answer.
        middle, e_m = (right + left) / 2, (e_r + e_l + gap) / 2
        if e_m <= max(_tolerance(middle, TARGET), floor):
            return {"value": middle, "error": float(e_m), "method": "one-sided differences"}
        return None
    settled_sides = e_r <= max(_tolerance(right, LOOSE), floor) and e_l <= max(_tolerance(left, LOOSE), floor)
    if settled_sides and gap > 4 * (e_r + e_l) + max(_tolerance(max(abs(right), abs(left)), TARGET), floor):
        return {"left": float(left), "right": float(right), "method": "one-sided differences",
                "reason": f"kink: the one-sided derivatives differ (left {mp.nstr(left, 12)}, "
                          f"right {mp.nstr(right, 12)})"}
    return None


def _unsettled(before: _Estimate | None, last: _Estimate | None, problem: str | None) -> dict:
    """An entry no two attempts agreed on to TARGET digits: why not (too large, undefined beside the point, a
    jump, an infinite slope), or its value where the last two attempts agree to ACCEPT digits and the sides
    shrink towards each other (|x|**1.5 at 0: 0, with the last gap as the error), else "did not converge"."""
    if problem is not None and problem.startswith(TOO_LARGE):
        return {"reason": problem}
    if last is None or last.undefined:
        return {"reason": (last.undefined if last is not None else problem) or NOT_CONVERGED}
    if before is None or before.undefined:
        return {"reason": NOT_CONVERGED}
    # A continuous function's change shrinks with the step; a jump's does not.
    if any(new > 0 and new >= old / 10 for new, old in ((last.jump_right, before.jump_right),
                                                          (last.jump_left, before.jump_left))):
        return {"reason": "not differentiable: the function jumps at this point"}
    # A derivative's one-sided quotients settle; sqrt(|x|)'s at 0 grow without bound.
    if any(abs(new) > 10 * abs(old) + _tolerance(old, ACCEPT) for new, old in ((last.right, before.right),
                                                                             (last.left, before.left))):
        return {"reason": "not differentiable: a one-sided derivative is infinite here"}
    c, e_c, gap = last.central, abs(last.central - before.central), abs(last.right - last.left)
    e_r, e_l = abs(last.right - before.right), abs(last.left - before.left)
    if e_c <= _tolerance(c, ACCEPT) and gap <= _tolerance(max(abs(last.right), abs(last.left)), ACCEPT) + e_r + e_l:
        return {"value": c, "error": float(e_c + gap), "method": "central differences"}
    return {"reason": NOT_CONVERGED}


def _next_exponent(exponent: int, scheduled: int, crossing) -> int:
    """The next step's exponent (step 10^-exponent): the scheduled one, or where the last step crossed a kink
    at distance `crossing` from the point, one below that distance."""
    if crossing is None:
        return max(exponent, scheduled)
    with mp.workdps(30):
        wanted = exponent + int(mp.ceil(-mp.log10(crossing))) + 3 if crossing > 0 else MAX_STEP_EXPONENT
    return min(MAX_STEP_EXPONENT, max(scheduled, wanted))


def _outputs_by_element(wanted: list[tuple], out_shape: tuple, shape: tuple) -> dict[int, list[int]]:
    """{flat variable element: [flat output elements]} of the wanted entries (output index + variable index)."""
    out_rank = len(out_shape)
    by_element: dict[int, list[int]] = {}
    for entry in wanted:
        out_flat = int(np.ravel_multi_index(entry[:out_rank], out_shape)) if out_rank else 0
        element = int(np.ravel_multi_index(entry[out_rank:], shape)) if shape else 0
        by_element.setdefault(element, []).append(out_flat)
    return by_element


def _entries(by_element: dict[int, list[int]]):
    """(element, output) for every wanted entry, element by element."""
    return ((element, o) for element, outs in by_element.items() for o in outs)


def _record(result: PreciseGradient, name: str, out_shape: tuple, shape: tuple, element: int, out_flat: int,
            value=None, error: float = math.nan, left: float = math.nan, right: float = math.nan,
            method: str | None = None, reason: str | None = None) -> None:
    """One entry's outcome; `value` is an mpmath number (None: no value)."""
    entry = (tuple(int(i) for i in np.unravel_index(out_flat, out_shape)) if out_shape else ()) + \
            (tuple(int(i) for i in np.unravel_index(element, shape)) if shape else ())
    if value is not None:
        result.high_precision[name][entry] = value
    result.gradients[name][entry] = math.nan if value is None else float(value)
    result.errors[name][entry] = error
    result.left[name][entry], result.right[name][entry] = left, right
    if method is not None:
        result.methods[name][entry] = method
    if reason is not None:
        result.reasons[name][entry] = reason


# ---- helpers ----


def _tolerance(value, digits: int):
    return abs(value) * mp.mpf(10) ** -digits


def _floor(f0, x):
    return abs(f0) / _scale(x) * mp.mpf(10) ** -FLOOR


def _scale(x):
    """The step's scale: |x| for small x (so that x ± h stays close), else 1 (never more: curvature does not
    shrink with |x|; logsumexp at 1e16 has curvature of order 1)."""
    return min(mp.mpf(1), abs(x)) if x != 0 else mp.mpf(1)


def _power_of_two(value):
    """A power of two close to (at most) `value`: steps and their halves are exact."""
    return mp.ldexp(mp.mpf(1), int(mp.floor(mp.log(value, 2))))


def _holds(predicate, args: list, attr, has_attr) -> bool:
    """A registry domain predicate on the exact arguments (on their float64 values where it cannot take mpf)."""
    try:
        with np.errstate(all="ignore"):
            inside = predicate(*args, attr) if has_attr else predicate(*args)
        return bool(np.all(np.asarray(inside, dtype=bool)))
    except (TypeError, AttributeError, ValueError):
        floats = [_to_float(a) for a in args]
        with np.errstate(all="ignore"):
            inside = predicate(*floats, attr) if has_attr else predicate(*floats)
        return bool(np.all(inside))


def _off_every_kink(spec, node: Node, args: list) -> bool:
    """No switching function of the op is 0 at the exact arguments (logit(x, eps=0.1) at 0.1): on a kink the
    complex step follows one piece only and would settle one one-sided derivative as the derivative."""
    switches = _switches(spec, node, args)
    if switches is None:
        return False  # cannot tell: the differences, which watch for kinks, decide
    return not any(np.any(np.asarray(s, dtype=object).reshape(-1) == 0) for s in switches)


def _switches(spec, node: Node, args: list):
    """The op's switching functions on exact (unbatched) arguments; None where they cannot take mpf."""
    extra = (node.attr,) if spec.attrs else ()
    try:
        with np.errstate(all="ignore"):
            found = spec.kinks(*[np.asarray(a, dtype=object)[np.newaxis] for a in args], *extra)
        return [np.asarray(s, dtype=object)[0] if np.ndim(s) else np.asarray(s, dtype=object) for s in found]
    except (TypeError, AttributeError, ValueError, IndexError):
        return None


def _jump_labels(spec, node: Node, args: list):
    """The numbers of the pieces a discontinuous op's elements lie on (OpSpec.jumps), on exact arguments."""
    extra = (node.attr,) if spec.attrs else ()
    try:
        found = spec.jumps(*[np.asarray(a, dtype=object)[np.newaxis] for a in args], *extra)
        return [np.asarray(s, dtype=object)[0] if np.ndim(s) else np.asarray(s, dtype=object) for s in found]
    except (TypeError, AttributeError, ValueError, IndexError):
        return None


def _sign(value) -> int:
    return (value > 0) - (value < 0)


def _show(array: np.ndarray) -> str:
    flat = np.ravel(array)
    if flat.size == 1:
        return mp.nstr(flat[0], 8)
    shown = ", ".join(mp.nstr(v, 8) for v in flat[:3])
    return f"[{shown}{', ...' if flat.size > 3 else ''}]"


_TO_MP = np.frompyfunc(mp.mpf, 1, 1)
_TO_FLOAT = np.frompyfunc(float, 1, 1)
_FINITE = np.frompyfunc(mp.isfinite, 1, 1)


def _to_mp(array) -> np.ndarray:
    array = np.asarray(array)
    if not array.size:
        return np.zeros(array.shape, dtype=object)
    with np.errstate(invalid="ignore"):  # mpf(nan) is nan, as it should be
        return np.asarray(_TO_MP(array), dtype=object)


def _to_float(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=object)
    if not array.size:
        return np.zeros(array.shape)
    with np.errstate(invalid="ignore", over="ignore"):  # nan stays nan; beyond float64's range is ±inf
        return np.asarray(_TO_FLOAT(array), dtype=np.float64).reshape(array.shape)


def _finite(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=object)
    return np.asarray(_FINITE(array), dtype=bool).reshape(array.shape) if array.size else np.zeros(array.shape, bool)


def _float_point(point: dict) -> dict[str, np.ndarray]:
    return {name: np.asarray(value, dtype=np.float64) for name, value in point.items()}


def _value_digits(values: PreciseValues) -> int:
    """Decimal digits before the point of the largest finite value of any node.  The referee works at 50 digits
    more than that: exp(a) keeps the digits of a that lie after the point, so its relative error is |a|·10^-dps
    and a must be carried to that many more digits (logsumexp(1e300*x) needs 350)."""
    largest = 0
    for array in values.values.values():
        for value in np.asarray(array, dtype=object).flat:
            if isinstance(value, (mp.mpf, mp.mpc)) and mp.isfinite(value) and value != 0:
                largest = max(largest, int(mp.mag(value)))
    return math.ceil(largest * math.log10(2)) if largest > 0 else 0


def _magnitude(point: dict[str, np.ndarray]) -> int:
    """Decimal digits before the point of the largest finite |x| (0 below 1)."""
    largest = max((float(np.max(np.abs(v[np.isfinite(v)]), initial=0.0)) for v in point.values()), default=0.0)
    return max(0, math.ceil(math.log10(largest))) if largest > 1 else 0
