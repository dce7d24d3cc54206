"""The settings of a check, by the name each front end knows them under: one table.

A setting is written `--order 2` on the command line, `order: 2` in a spec file and `order=2` in Python.  The
spec file reader takes its keys from this table, the command's options their flags and help, and messages
raised deep inside (a parser, an engine) name a setting by its field name in braces, `{order=2}`, for the
front end that received the input to word it (`word`).  Inner layers so never speak one front end's language
to another's users.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

FRONTS = ("cli", "spec", "python")  # the command line, a spec file, Python's check()
DTYPES = ("float64", "float32")
LOW_PRECISIONS = ("float32", "bfloat16", "float16")  # the dtypes a function may be checked in besides float64
DEVICES = ("cpu", "cuda")  # where a user's function runs
FD_METHODS = ("auto", "complex", "richardson", "central")  # how finite differences are computed


@dataclass(frozen=True)
class Setting:
    """One setting.  `key` is its spec file key path and `argument` its check() keyword; None where that front
    end has no such setting (the command line's flag then names it: a spec file's run takes the command's
    --max-entries).  `negated`: the flag says the opposite of the field (`--no-import` is allow_import=False)."""

    name: str
    option: str | None  # None: the command line has no such option (expected values come from spec files)
    key: str | None
    argument: str | None
    help: str = ""
    negated: bool = False
    listed: bool = False  # a list of names: `--wrt x,y`, `wrt: [x, y]`, `wrt=['x', 'y']`
    kind: str = "value"  # "flag" (true or false), "choice" (one of `choices`), "mapping" (name: text) or "value"
    choices: tuple[str, ...] = ()
    in_pyproject: bool = False  # a key of [tool.gradcheck] in pyproject.toml too (core.config), under its name

    def worded(self, front: str, value: object = None) -> str:
        """How `front` writes this setting, given `value` (None: the setting itself, with no value)."""
        if self.listed and isinstance(value, str):
            value = [name.strip() for name in value.split(",")]
        if front == "spec" and self.key is not None:
            return self.key if value is None else f"{self.key}: {_yaml(value)}"
        if front == "python" and self.argument is not None:
            return self.argument if value is None else f"{self.argument}={value!r}"
        if self.option is None:
            return self.worded("spec" if self.key else "python", value)
        if value is None or isinstance(value, bool):
            return self.option
        return f"{self.option} {','.join(value) if isinstance(value, list) else value}"


def _limit(name: str, help: str) -> Setting:
    return Setting(name, f"--{name.replace('_', '-')}", None, f"limits.{name}", help)


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("wrt", "--wrt", "wrt", "wrt", "Variables to differentiate, comma-separated (default: all).", listed=True),
    Setting("manual", "--manual", "manual", "manual",
            "Your hand-derived gradient for NAME, checked against the engines (repeatable).", kind="mapping"),
    Setting("manual_hessian", "--manual-hessian", "manual_hessian", "manual_hessian",
            "Your Hessian block d2f/dNAME dNAME2 (with --order 2; repeatable).", kind="mapping"),
    Setting("expected", None, "expect", "expected", kind="mapping"),
    Setting("rtol", "--rtol", "tolerance.rtol", "rtol", "Relative tolerance (float64: 1e-7, float32: 1e-4).",
            in_pyproject=True),
    Setting("atol", "--atol", "tolerance.atol", "atol", "Absolute tolerance (float64: 1e-7, float32: 1e-5).",
            in_pyproject=True),
    Setting("dtype", "--dtype", "dtype", "dtype",
            "Precision of the symbolic, autograd and manual gradients (default float64; finite differences "
            "always use float64).", kind="choice", choices=DTYPES, in_pyproject=True),
    Setting("order", "--order", "order", "order", "2: check the Hessian too (scalar expressions)."),
    Setting("method", "--method", "method", "method",
            "Finite differences: complex step where the path is analytic, else Richardson (auto); or force one; "
            "central is torch's single difference.", kind="choice", choices=FD_METHODS, in_pyproject=True),
    Setting("step", "--step", "step", "step", "Step of --method central (default 1e-6, as torch.autograd.gradcheck)."),
    Setting("nondet_tol", "--nondet-tol", "nondet_tol", "nondet_tol",
            "With --function: the largest difference two backward passes may show and still count as deterministic "
            "(default 0: bitwise equal; as torch.autograd.gradcheck's nondet_tol)."),
    Setting("precision", "--precision", "precision", "precision",
            "With --function: run it in these dtypes too (float32, bfloat16, float16, comma-separated) and say "
            "whether its forward and backward errors against float64 are within each dtype's rounding.",
            listed=True, choices=LOW_PRECISIONS),
    Setting("fast", "--fast", "fast", "fast",
            "Check 4 random projections uᵀJv per variable instead of every entry (cheap for big tensors; may miss "
            "an error confined to a few entries).", kind="flag"),
    Setting("seed", "--seed", "seed", "seed", "Seed of random inputs (--x 'randn(2, 3)') and of the --fast "
                                              "projections (default: a fresh one, printed)."),
    Setting("explain", "--explain", "explain", "explain",
            "After the table: the graph with values and local partials, and the chain rule through the named "
            "bindings.", kind="flag"),
    Setting("precise", "--precise", "precise", "precise",
            "Run the high-precision referee (mpmath, 50+ digits) on every entry, not only where the float64 "
            "referees disagree or a subject does.", kind="flag"),
    Setting("function", "--function", "function", "function",
            "Your torch function (e.g. a custom autograd.Function), checked against EXPRESSION as its reference, "
            "against --reference, or alone (its backward against finite differences of its forward) "
            "(MODULE:ATTR[N]: output N of a tuple result); MODULE is imported from the current folder or PYTHONPATH "
            "(runs its code)."),
    Setting("reference", "--reference", "reference", "reference",
            "Code as the reference of --function instead of an expression (MODULE:ATTR, e.g. the slow pure-PyTorch "
            "version of a fused kernel): compared in value and in gradient."),
    Setting("args", "--args", "args", "args",
            "The variables --function takes, in order, comma-separated (default: its parameter names).", listed=True),
    Setting("kwargs", "--kwargs", "kwargs", "kwargs",
            "Keyword arguments of --function (and --reference), literals only: 'stride=2, mode=\"same\"' (numbers, "
            "strings, True, False, None, tuples of integers; never evaluated)."),
    Setting("init_kwargs", "--init-kwargs", "init_kwargs", "init_kwargs",
            "Keyword arguments that construct --function when it names an nn.Module class, as --kwargs: "
            "'in_features=3, out_features=2'."),
    Setting("device", "--device", "device", "device",
            "Where --function (or a spec's function) runs; cuda falls back to the CPU with a note.", kind="choice",
            choices=DEVICES),
    Setting("allow_import", "--no-import", None, "allow_import",
            "Never import user code: a case naming a function is an error (for untrusted specs).", negated=True,
            kind="flag"),
    Setting("strict", "--strict", None, None,
            "Inconclusive and undefined verdicts fail the run too: exit 1, and the summary, JSON, JUnit and GitHub "
            "reports count them as failures (--no-strict overrides the project's strict = true).", kind="flag",
            in_pyproject=True),
    _limit("max_length", "Longest expression accepted, in characters."),
    _limit("max_depth", "Deepest nesting accepted."),
    _limit("max_nodes", "Most graph nodes accepted."),
    _limit("max_elements", "Most elements in one variable's value or any node's value (10 times that in one "
                           "evaluation)."),
    _limit("max_entries", "Most Jacobian or Hessian entries checked one by one (--fast checks projections "
                          "instead)."),
)}

MAX_SEED = 2**63 - 1  # numpy's generators take any non-negative integer; this keeps it an int64
RULES: dict[str, tuple[str, Callable[[object], bool]]] = {  # what a setting's value must be, as said to the user
    "rtol": ("a non-negative finite number", lambda v: _real(v) and 0 <= v < math.inf),
    "atol": ("a non-negative finite number", lambda v: _real(v) and 0 <= v < math.inf),
    "step": ("a positive finite number", lambda v: _real(v) and 0 < v < math.inf),
    "nondet_tol": ("a non-negative finite number", lambda v: _real(v) and 0 <= v < math.inf),
    "order": ("1 or 2", lambda v: _integer(v) and v in (1, 2)),
    "seed": ("an integer from 0 to 2**63 - 1", lambda v: _integer(v) and 0 <= v <= MAX_SEED),
    "precision": (f"dtypes among {', '.join(LOW_PRECISIONS)}, comma-separated",
                  lambda v: precisions(v) is not None),
}


def precisions(value: object) -> list[str] | None:
    """`{precision}` as every front end gives it ("float32,bfloat16", or a list of names) as a list of
    LOW_PRECISIONS without repeats; None where it is not one (an empty list, an unknown dtype)."""
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        return None
    if not all(isinstance(n, str) and n in LOW_PRECISIONS for n in names):
        return None
    return list(dict.fromkeys(names))


def _real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def _integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def invalid(name: str, value: object) -> str | None:
    """What is wrong with `value` for the setting `name` ("expected 1 or 2"), or None when it is valid; None
    (not given) is always valid.  Choices and flags follow the table; numbers follow RULES."""
    setting = SETTINGS[name]
    if value is None:
        return None
    if setting.kind == "choice" and value not in setting.choices:
        return f"expected one of {', '.join(map(repr, setting.choices))}"
    if setting.kind == "flag" and not isinstance(value, bool):
        return "expected True or False"
    if name in RULES and not RULES[name][1](value):
        return f"expected {RULES[name][0]}"
    return None


def in_spec_files(kind: str) -> list[Setting]:
    """The settings of one kind that a spec file's case may give, as keys of its own (not tolerance.rtol)."""
    return [s for s in SETTINGS.values() if s.kind == kind and s.key == s.name]


PLACEHOLDER = r"\{(" + "|".join(SETTINGS) + r")(?:=([^{}]*))?\}"  # {order} or {order=2}


def word(template: str, front: str | None, command_line: Collection[str] = ()) -> str:
    """`template` with each `{name}` or `{name=value}` written as `front` writes that setting: "needs {order=2}"
    is "needs --order 2" on the command line, "needs order: 2" in a spec file, "needs order=2" in Python.
    The settings in `command_line` were given there over a spec file's (`gradcheck specs/ --fast`): they are
    worded as options whatever the front.  A value is read back as a bool or a number where it is one; None
    (no front end known) is the command line."""
    def worded(match: re.Match) -> str:
        name = match.group(1)
        return SETTINGS[name].worded("cli" if name in command_line else front or "cli", _value(match.group(2)))

    return re.sub(PLACEHOLDER, worded, template)


def how_to_give_a_value(variable: str, front: str) -> str:
    """The hint for a variable with no value, from the command line or from Python (a spec file points at its
    `at:` key instead)."""
    if front == "python":
        return f"give it in at={{{variable!r}: ...}}"
    return f"give it as --{variable} VALUE or --at {variable}=VALUE"


def _value(text: str | None) -> object:
    if text is None:
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        return text


def _yaml(value: object) -> str:
    if isinstance(value, list):
        return f"[{', '.join(value)}]"
    return str(value).lower() if isinstance(value, bool) else str(value)
