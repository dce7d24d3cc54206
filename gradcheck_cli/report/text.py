"""One sentence per problem, shared by every reporter that speaks to people."""

from __future__ import annotations

from ..core.safe_text import printable
from ..verdict.compare import FUNCTION_VERDICTS, CaseResult, GradientRow

SHOWN_ROWS = 3
ENGINE_NAMES = {"function": "function backward", "function_fd": "function fd"}


def engine_name(name: str) -> str:
    return ENGINE_NAMES.get(name, name.replace("_", " "))


def _indexed(name: str, index: list) -> str:
    return printable(name) + (f"[{', '.join(map(str, index))}]" if index else "")


def element_label(row: GradientRow) -> str:
    """x[1], or `x[0], y` for a Hessian entry."""
    if isinstance(row.wrt, list) and row.projection is not None:
        return f"{', '.join(map(printable, row.wrt))} (projection {row.projection})"
    if isinstance(row.wrt, list):
        return ", ".join(_indexed(name, index) for name, index in zip(row.wrt, row.index))
    if row.projection is not None:
        return f"{printable(row.wrt)} (projection {row.projection})"
    return _indexed(row.wrt, row.index)


def derivative_label(row: GradientRow) -> str:
    """d/dx[1] for a gradient entry, d f[0]/d x[1] for a Jacobian one, d²/dx[0]dy for a Hessian one."""
    if isinstance(row.wrt, list) and row.projection is not None:
        return f"vᵀ(d²f/{''.join('d' + printable(n) for n in row.wrt)})w [projection {row.projection}]"
    if isinstance(row.wrt, list):
        return "d²/" + "".join(f"d{_indexed(n, i)}" for n, i in zip(row.wrt, row.index))
    if row.projection is not None:
        return f"uᵀ(df/d{row.wrt})v [projection {row.projection}]"
    if row.output_index or row.output:
        return f"d {output_label(row)}/d {element_label(row)}"
    return f"d/d{element_label(row)}"


def output_label(row: GradientRow) -> str:
    """The output element of a Jacobian row: f[0, 1], or for a tuple result's output f[1][0, 1] (or its name)."""
    index = f"[{', '.join(map(str, row.output_index))}]" if row.output_index else ""
    return f"{printable(row.output)}{index}" if row.output else f"f{index}"


def failure_sentence(result: CaseResult) -> str:
    """What went wrong in a case, with the numbers, in one line; the names and messages it quotes are
    shown escaped (safe_text.printable)."""
    return printable(_what_went_wrong(result))


def _what_went_wrong(result: CaseResult) -> str:
    if result.status == "error":
        return (result.error or {}).get("message", "error")
    rows = [r for r in result.gradients + result.hessian if r.status not in ("pass", "undefined")] or \
        [r for r in result.gradients + result.hessian if r.status != "pass"]
    checks = [f"{c.name}: {c.message}" for c in result.checks if c.status == "fail"]
    checks += [c.message for c in result.culprits if c.kind in ("manual-factor", "value")]
    if not rows and not checks:
        return f"{result.name}: {result.status}"
    parts = checks + [_row_sentence(r) for r in rows[:SHOWN_ROWS]]
    more = f"; and {len(rows) - SHOWN_ROWS} more element(s)" if len(rows) > SHOWN_ROWS else ""
    return "; ".join(parts) + more


SOURCES = {"symbolic": "symbolic, confirmed by finite differences",
           "precise": "the high-precision referee (mpmath)",
           "one_sided": "the one-sided derivatives, which coincide",
           "finite_difference": "finite differences of the reference code's forward (the function's own, when it "
                                "is checked alone)"}


def reference_words(row: GradientRow) -> str:
    """Which referee settled the row's reference, in words."""
    return SOURCES.get(row.reference_source or "", "")


def _row_sentence(row: GradientRow) -> str:
    if row.status == "inconclusive":
        return (f"{derivative_label(row)} is inconclusive: {row.reason}; a point farther from the singularity, kink "
                "or domain edge (or a looser tolerance, rtol and atol) would settle it")
    if row.status == "undefined":
        return f"{derivative_label(row)} is undefined: {row.reason}"
    return _disagreement(row)


def _disagreement(row: GradientRow) -> str:
    who = ", ".join(engine_name(n) for n in row.disagrees)
    values = ", ".join(f"{engine_name(n)} {v:.10g}" for n, v in row.answers().items() if n in row.disagrees)
    if row.reference is None and row.left is not None:
        low, high = sorted((row.left, row.right))
        return (f"{who} outside the one-sided derivatives on {derivative_label(row)}: {values} is not in "
                f"[{low:.10g}, {high:.10g}] (the point sits on a kink)")
    verb = "disagrees" if len(row.disagrees) == 1 else "disagree"
    sentence = f"{who} {verb} on {derivative_label(row)}: {values} vs reference {row.reference:.10g}"
    if row.function_verdict is not None:
        verdict = FUNCTION_VERDICTS[row.function_verdict]
        if isinstance(row.wrt, list):  # a Hessian entry: the double backward against FD of the backward
            verdict = verdict.replace("backward", "double backward").replace(
                "its own finite differences", "finite differences of its backward").replace(
                "your function's own forward", "your backward")
        sentence += f" — {verdict}{_own_finite_differences(row)}"
    if row.diagnosis == "precision artefact":
        sentence += (" — a float32 precision artefact: the same computation in float64, at the point rounded to "
                     "float32 as the engines saw it, agrees with the reference")
    elif row.diagnosis == "real":
        sentence += " — real: it does not vanish in float64"
    elif row.diagnosis is not None:
        sentence += f" — {row.diagnosis}"
    return sentence


def _own_finite_differences(row: GradientRow) -> str:
    if row.function_fd is None:
        return ""
    return f" (its finite differences: {row.function_fd:.10g} ± {row.function_fd_error:.1g})"
