"""The `gradcheck` command: options -> Spec -> run -> reporter -> exit code.

Each free variable of the expression becomes an option of its own (`--x 4`).
To offer them, the command reads the expression out of the argument list
before click parses the rest, so `--help` lists them, a typo such as `--jsno`
gets click's suggestion and a forgotten variable is "Missing option '--y'".
"""

from __future__ import annotations

import re
import shutil
import sys

import click

from . import __version__
from .errors import GradcheckError
from .limits import DEFAULT_LIMITS, Limits
from .spec import DTYPES, Spec
from .values import parse_value

VARIABLES_KEY = "gradcheck.variables"
VALUE_PREFIX = "value_"
LONG_OPTION = r"--[A-Za-z_][\w-]*(=.*)?"
SHORT_OPTION = r"-[A-Za-z]+"
EXIT_CODES = {"pass": 0, "undefined": 0, "inconclusive": 0, "fail": 1, "error": 2}

EPILOG = """\b
Examples:
  gradcheck "sin(x**2)" --x 4
  gradcheck "sin(x**2)" --x 4 --manual x="2*x*cos(x**2)"
  gradcheck "z = w*x + b; p = sigmoid(z); -(y*log(p) + (1-y)*log(1-p))" \\
            --w 1 --b 0 --x 6.7 --y 0 --wrt w,b
  gradcheck "mean(x**2)" --x 1,2,3 --json | jq '.results[0].gradients'

Exit codes: 0 all engines agree, 1 a gradient discrepancy, 2 bad input.
"""


class PointValue(click.ParamType):
    """A number, `1,2,3`, or a nested list `[[1,2],[3,4]]`."""

    name = "value"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return parse_value(value)
        except GradcheckError as error:
            self.fail(str(error), param, ctx)


POINT_VALUE = PointValue()


class ExpressionCommand(click.Command):
    """A command whose options include one per variable of its expression argument."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = list(args)
        index = self._expression_index(ctx, args)
        names: list[str] = []
        if index is not None:
            if args[index].startswith("-"):
                args[index] = " " + args[index]  # `-x**2` is the expression, not an option
            names = _variables_of(args[index]) or self._unknown_long_options(ctx, args)
        ctx.meta[VARIABLES_KEY] = names
        return super().parse_args(ctx, args)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        taken = {opt for p in params for opt in p.opts + p.secondary_opts}
        extra = [click.Option([f"--{name}", VALUE_PREFIX + name], type=POINT_VALUE, metavar="VALUE",
                              help=f"Value of {name}: a number, 1,2,3 or [[1,2],[3,4]].")
                 for name in ctx.meta.get(VARIABLES_KEY, []) if f"--{name}" not in taken]
        return params[:-1] + extra + params[-1:]

    def _takes_value(self, ctx: click.Context) -> dict[str, bool]:
        return {opt: not (getattr(p, "is_flag", False) or getattr(p, "count", False))
                for p in super().get_params(ctx) for opt in p.opts + p.secondary_opts}

    def _expression_index(self, ctx: click.Context, args: list[str]) -> int | None:
        takes_value = self._takes_value(ctx)
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                return i + 1 if i + 1 < len(args) else None
            if re.fullmatch(LONG_OPTION, arg, re.DOTALL):
                i += 1 if "=" in arg or not takes_value.get(arg, True) else 2
            elif re.fullmatch(SHORT_OPTION, arg):
                i += 2 if takes_value.get(arg, False) else 1
            else:
                return i
        return None

    def _unknown_long_options(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Options like `--x` of an expression that failed to parse, so its error is the one reported."""
        known = self._takes_value(ctx)
        return [a[2:] for a in args if re.fullmatch(LONG_OPTION, a, re.DOTALL) and "=" not in a and a not in known]


def _variables_of(text: str) -> list[str]:
    from .parser import parse

    try:
        return parse(text).variables
    except GradcheckError:
        return []


def _list_ops(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from .ops import CONSTANTS, FUNCTIONS, INFIX, PREFIX

    lines = ["Functions:"]
    for name, spec in sorted(FUNCTIONS.items()):
        args = ", ".join(("x", "a, b", "x, lo, hi")[min(spec.arity, 3) - 1].split(", ")[: spec.arity])
        lines.append(f"  {name}({args})" + (f"  — {spec.doc}" if spec.doc else ""))
    lines.append("Operators: " + "  ".join(sorted(set(INFIX) | set(PREFIX), key=len)))
    lines.append("Constants: " + ", ".join(CONSTANTS))
    click.echo("\n".join(lines))
    ctx.exit(0)


@click.command(cls=ExpressionCommand, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("expression", metavar="EXPRESSION")
@click.option("--at", "at_items", multiple=True, metavar="NAME=VALUE",
              help="Value of a variable (repeatable); the same as --NAME VALUE.")
@click.option("--wrt", metavar="NAMES", help="Variables to differentiate, comma-separated (default: all).")
@click.option("--manual", "manual_items", multiple=True, metavar="NAME=FORMULA",
              help="Your hand-derived gradient for NAME, checked against the engines (repeatable).")
@click.option("--rtol", type=float, help="Relative tolerance (float64: 1e-7, float32: 1e-4).")
@click.option("--atol", type=float, help="Absolute tolerance (float64: 1e-7, float32: 1e-5).")
@click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True,
              help="Precision of the symbolic, autograd and manual gradients (finite differences use float64).")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), help="Output format.")
@click.option("--json", "as_json", is_flag=True, help="Shorthand for --format json.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary line (the exit code is unchanged).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour in the table output.")
@click.option("--max-length", type=click.IntRange(1), default=DEFAULT_LIMITS.max_length, show_default=True,
              help="Longest expression accepted, in characters.")
@click.option("--max-depth", type=click.IntRange(1), default=DEFAULT_LIMITS.max_depth, show_default=True,
              help="Deepest nesting accepted.")
@click.option("--max-nodes", type=click.IntRange(1), default=DEFAULT_LIMITS.max_nodes, show_default=True,
              help="Most graph nodes accepted.")
@click.option("--max-elements", type=click.IntRange(1), default=DEFAULT_LIMITS.max_elements, show_default=True,
              help="Most elements accepted in one variable's value.")
@click.option("--list-ops", is_flag=True, is_eager=True, expose_value=False, callback=_list_ops,
              help="List the functions, operators and constants, then exit.")
@click.version_option(__version__, "-V", "--version", prog_name="gradcheck")
@click.pass_context
def main(ctx: click.Context, expression: str, at_items, wrt, manual_items, rtol, atol, dtype, output_format,
         as_json, quiet, color, max_length, max_depth, max_nodes, max_elements, **variable_values) -> None:
    """Check the gradient of EXPRESSION: symbolic, finite differences, autograd and your own formula."""
    if as_json and output_format not in (None, "json"):
        raise click.UsageError("--json contradicts --format " + output_format)
    output_format = "json" if as_json else (output_format or "table")
    spec = Spec(
        expr=expression.strip(),
        at=_point(ctx, at_items, variable_values),
        wrt=[n.strip() for n in wrt.split(",") if n.strip()] if wrt else None,
        manual=dict(_pairs(manual_items, "--manual", "NAME=FORMULA")),
        rtol=rtol, atol=atol, dtype=dtype,
        limits=Limits(max_length, max_depth, max_nodes, max_elements),
    )
    ctx.exit(execute([spec], output_format, {"color": color, "quiet": quiet}))


def execute(specs: list[Spec], output_format: str, options: dict) -> int:
    """Run the specs, write the report, and return the exit code."""
    from .check import run
    from .report import REPORTERS

    results = [run(spec) for spec in specs]
    settings = _settings(specs, options)
    if output_format == "table" and len(results) == 1 and results[0].status == "error":
        click.echo(results[0].rendered_error, err=True)
    else:
        # The reporter already chose colour or none; click must not strip it again.
        click.echo(REPORTERS[output_format](results, settings), nl=False, color=True)
    return max((EXIT_CODES[r.status] for r in results), default=0)


def _settings(specs: list[Spec], options: dict) -> dict:
    tty = sys.stdout.isatty()
    tolerance = specs[0].tolerance
    return {
        "dtype": specs[0].dtype, "rtol": tolerance.rtol, "atol": tolerance.atol,
        "limits": vars(specs[0].limits),
        "color": options.get("color", "auto"), "quiet": options.get("quiet", False),
        "tty": tty, "width": shutil.get_terminal_size((140, 24)).columns if tty else 140,
    }


def _point(ctx: click.Context, at_items, variable_values: dict) -> dict:
    point = {name[len(VALUE_PREFIX):]: v for name, v in variable_values.items() if v is not None}
    for name, text in _pairs(at_items, "--at", "NAME=VALUE"):
        if name in point:
            raise click.BadParameter(f"{name} is given twice", param_hint="'--at'")
        try:
            point[name] = parse_value(text)
        except GradcheckError as error:
            raise click.BadParameter(f"{name}: {error}", param_hint="'--at'") from None
    for name in ctx.meta.get(VARIABLES_KEY, []):
        if name not in point:
            option = next(p for p in ctx.command.get_params(ctx) if p.name == VALUE_PREFIX + name)
            raise click.MissingParameter(ctx=ctx, param=option)
    return point


def _pairs(items, option: str, form: str):
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected {form}, got {item!r}", param_hint=f"'{option}'")
        yield name.strip(), value
