"""The `gradcheck` command: options -> Specs -> run -> reporter -> exit code.

The targets are one expression, or spec files and folders of them.  Each
free variable of an expression becomes an option of its own (`--x 4`).
To offer them, the command reads the expression out of the argument list
before click parses the rest, so `--help` lists them, a typo such as `--jsno`
gets click's suggestion and a forgotten variable is "Missing option '--y'".
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import click

from .core.errors import GradcheckError, UsageError
from .core.interrupts import Interrupted, acknowledge, ignored_from_now, raise_if_interrupted, signals_raise_interrupted
from .core.limits import DEFAULT_LIMITS, Limits
from .core.safe_text import inert_lines, printable_lines
from .core.settings import RULES, SETTINGS, invalid, precisions
from .core.text import closest
from .core.version import versions
from .report import FORMATS, Reporter, ReportSettings, fails_the_run, reporter  # a reporter module loads on demand
from .report.output import MIN_WIDTH, Terminal, columns, is_tty, report_path_problem, tell, write_atomically
from .spec.spec import Spec
from .spec.targets import could_be_a_path, is_spec_target

VARIABLES_KEY = "gradcheck.variables"
SPEC_MODE_KEY = "gradcheck.spec_mode"
PLAN_ONLY_KEY = "gradcheck.plan_only"
VALUE_PREFIX = "value_"
LONG_OPTION = r"--[A-Za-z_][\w-]*(=.*)?"
SHORT_OPTION = r"-[A-Za-z]+"

PROGRAM = "gradcheck"
USAGE = f"usage: {PROGRAM} [OPTIONS] EXPRESSION | PATH..."
EPILOG = """\b
Examples:
  gradcheck "sin(x**2)" --x 4
  gradcheck "sin(x**2)" --x 4 --manual x="2*x*cos(x**2)"
  gradcheck "z = w*x + b; p = sigmoid(z); -(y*log(p) + (1-y)*log(1-p))" \\
            --w 1 --b 0 --x 6.7 --y 0 --wrt w,b
  gradcheck "mean(x**2)" --x 1,2,3 --json | jq '.results[0].gradients'

\b
  gradcheck "x*sigmoid(x)" --x 0.5 --function examples.custom_ops.swish:Swish
  gradcheck --function mypkg.ops:fused --x "randn(2, 3)"   # alone: its backward against its forward
  gradcheck --function mypkg.ops:fused --reference mypkg.ops:slow --x @x.npy

\b
  gradcheck expressions/                      # every *.yaml below, as a CI gate
  gradcheck expressions/ --format junit -o report.xml

Exit codes: 0 all engines agree, 1 a gradient discrepancy, 2 bad input
(2 wins over 1), 130 Ctrl-C, 143 SIGTERM.
"""


class PointValue(click.ParamType):
    """A number, `1,2,3`, or a nested list `[[1,2],[3,4]]`; parsed once the limits are known."""

    name = "value"


POINT_VALUE = PointValue()


class OneParagraphUsageError(click.UsageError):
    """click's usage error, shown as one paragraph in the style of every other gradcheck error."""

    def __init__(self, error: click.UsageError):
        super().__init__(error.format_message(), error.ctx)

    def show(self, file=None) -> None:
        usage = self.ctx.get_usage().replace("Usage: ", "usage: ") if self.ctx else USAGE
        tell(f"error: {self.format_message()}\n  {usage}  (see gradcheck --help)")


class PathUsageError(click.UsageError):
    """A path that cannot be read: one line, as a spec target that does not exist is reported, no usage line."""

    def show(self, file=None) -> None:
        tell(f"error: {self.format_message()}")


class ExpressionCommand(click.Command):
    """A command whose options include one per variable of its expression argument."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = list(args)
        for arg in args:
            _require_utf8(arg)
        args = self._with_expression_text(ctx, args)
        index = self._expression_index(ctx, args)
        unknown = self._unknown_long_options(ctx, args)
        spec_mode = index is not None and _names_spec_files(args[index], set(unknown))
        names: list[str] = []
        if index is None and _names_a_function(args):  # the function alone: its inputs are the unknown options
            names = unknown
            _refuse_repeated_variables(names, args)
        if index is not None and not spec_mode:
            if args[index].startswith("-"):
                args[index] = " " + args[index]  # `-x**2` is the expression, not an option
            names = _variables_of(args[index]) or unknown
            _refuse_repeated_variables(names, args)
        ctx.meta[VARIABLES_KEY] = names
        ctx.meta[SPEC_MODE_KEY] = spec_mode
        spec_target = args[index] if spec_mode else None  # before click's parser consumes `args`
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as error:
            raise self._not_a_variable(ctx, error, names, spec_target) from None

    def _with_expression_text(self, ctx: click.Context, args: list[str]) -> list[str]:
        """The arguments with the expression read in: `--expr-file F` becomes F's text, `-` standard input's, so
        the expression's variables become options as they do for an expression given as an argument."""
        files = [i for i, a in enumerate(args) if a == "--expr-file" or a.startswith("--expr-file=")]
        if len(files) > 1:
            raise click.UsageError("--expr-file is given twice")
        if files:
            i = files[0]
            name = args[i].partition("=")[2] if "=" in args[i] else (args[i + 1] if i + 1 < len(args) else None)
            if name is None:
                raise click.UsageError("Option '--expr-file' requires an argument.")
            rest = args[:i] + args[i + (1 if "=" in args[i] else 2):]
            if self._expression_index(ctx, rest) is not None:
                raise click.UsageError("give the expression as an argument or with --expr-file, not both")
            return rest + ["--", _read_expression(name, f"--expr-file {name}")]
        index = self._expression_index(ctx, args)
        if index is not None and args[index] == "-":
            return args[:index] + args[index + 1:] + ["--", _read_expression(None, "- (standard input)")]
        return args

    def _not_a_variable(self, ctx: click.Context, error: click.NoSuchOption, names: list[str],
                        spec_target: str | None):
        """`--y` beside an expression without y: say which variables it uses, not "did you mean --dtype"; beside
        spec files (`spec_target`), that a missing one is missing, or where a spec's values go; an option close to
        one of gradcheck's own (`--jsno`) keeps click's suggestion."""
        name = error.option_name.lstrip("-")
        own = [opt.lstrip("-") for opt in self._takes_value(ctx) if opt.startswith("--")]
        if not re.fullmatch(r"[A-Za-z_]\w*", name) or closest(name, own):
            return error
        if spec_target is not None:
            return _beside_spec_files(ctx, error, spec_target)
        if not names:
            return error
        close = closest(name, names)
        hint = f" (did you mean --{close}?)" if close else ""
        uses = "only " + names[0] if len(names) == 1 else ", ".join(names)
        return click.UsageError(f"No such option '--{name}': the expression uses {uses}{hint}.", ctx)

    # A usage error still gives one JSON document on stdout when JSON was asked for.
    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as error:
            if _json_requested(args):
                _exit_with_json_error(error, "jsonl" if "jsonl" in args else "json")
            if isinstance(error, PathUsageError):
                raise
            raise OneParagraphUsageError(error) from None

    def invoke(self, ctx: click.Context):
        try:
            with signals_raise_interrupted():
                return super().invoke(ctx)
        except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM, wherever the run was: 130 or 143, one line
            stopped = error if isinstance(error, Interrupted) else Interrupted(2)
            acknowledge()
            tell(stopped.sentence)
            raise click.exceptions.Exit(stopped.exit_code) from None
        except click.UsageError as error:
            fmt = "json" if ctx.params.get("as_json") else ctx.params.get("output_format")
            if fmt in ("json", "jsonl"):
                _exit_with_json_error(error, fmt)
            raise OneParagraphUsageError(error) from None
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as error:  # the last resort for the run: one paragraph and exit 2, never a traceback
            from .core.errors import InternalError

            internal = InternalError.from_exception(error, "running gradcheck")
            if ctx.params.get("verbose"):
                tell(inert_lines(printable_lines(internal.trace)), nl=False)
            tell(f"error: {internal.message}")
            raise click.exceptions.Exit(2) from None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        taken = {opt for p in params for opt in p.opts + p.secondary_opts}
        extra = [click.Option([f"--{name}", VALUE_PREFIX + name], type=POINT_VALUE, metavar="VALUE",
                              help=f"Value of {name}: a number, 1,2,3 or [[1,2],[3,4]].")
                 for name in ctx.meta.get(VARIABLES_KEY, []) if f"--{name}" not in taken]
        for option in extra:
            option.help = f"Value of {option.opts[0][2:]}: a number, 1,2,3, [[1,2],[3,4]], randn(2, 3) or @FILE."
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


def _beside_spec_files(ctx: click.Context, error: click.NoSuchOption, target: str) -> click.UsageError:
    """A variable's option given with spec files: a target that does not exist is the mistake to name (`gradcheck
    missing/ --x 1`); else the option, since a spec's values are in its file."""
    from .spec.targets import unusable

    problem = unusable(Path(target))
    if problem:
        return PathUsageError(f"{target}: {problem}", ctx)
    return click.UsageError(f"No such option '{error.option_name}': {target} names spec files, whose cases give "
                            "their variables' values under at:", ctx)


MAX_EXPRESSION_BYTES = 16 * 1024 * 1024  # read no further: --max-length refuses the text anyway


def _read_expression(path: str | None, where: str) -> str:
    """The expression text of a file (`path`) or of standard input (None), as UTF-8; `where` names it in errors."""
    from .spec.targets import unusable

    problem = unusable(Path(path)) if path is not None else None
    if problem:
        raise click.UsageError(f"{where}: {problem}")
    try:
        if path is None:
            data = sys.stdin.buffer.read(MAX_EXPRESSION_BYTES) if sys.stdin is not None else b""
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_EXPRESSION_BYTES)
    except OSError as error:
        raise click.UsageError(f"{where}: cannot read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError as error:
        raise click.UsageError(f"{where}: not UTF-8 text (byte {error.start})") from None
    if not text:
        raise click.UsageError(f"{where}: {'standard input' if path is None else 'the file'} is empty")
    return text


def _names_a_function(args: list[str]) -> bool:
    """Code as the reference (--function alone, or with --reference): no expression names the inputs."""
    return any(a in ("--function", "--reference") or a.startswith(("--function=", "--reference=")) for a in args)


def _refuse_repeated_variables(names: list[str], args: list[str]) -> None:
    """`--x 1 --x 2` is a mistake to point out, not a silent "last one wins"."""
    given = Counter(a.partition("=")[0] for a in args if a.startswith("--"))
    for name in names:
        if given[f"--{name}"] > 1:
            raise click.UsageError(f"{name} is given twice (--{name})")


def _require_utf8(arg: str) -> None:
    """Refuse an argument holding bytes that are not UTF-8 (Python keeps them as lone surrogates)."""
    for index, char in enumerate(arg):
        if "\udc80" <= char <= "\udcff":
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise click.UsageError(f"{shown!r} is not valid UTF-8 text (byte 0x{ord(char) - 0xdc00:02x} "
                                   f"at character {index + 1})")


def _json_requested(args: list[str]) -> bool:
    pairs = zip(args, args[1:] + [""])
    return "--json" in args or any(a == "--format" and b in ("json", "jsonl") for a, b in pairs) \
        or any(a in ("--format=json", "--format=jsonl") for a in args)


def _exit_with_json_error(error: click.UsageError | GradcheckError, fmt: str, where: str = "command line") -> None:
    from .run.case import error_result

    problem = error if isinstance(error, GradcheckError) else UsageError(error.format_message())
    result = error_result(where, problem)
    click.echo(reporter(fmt).render([result], _report_settings(Spec(expr="", at={}), single=True)), nl=False)
    raise click.exceptions.Exit(2)


def _names_spec_files(text: str, option_names: set[str]) -> bool:
    """The argument names spec files (targets.is_spec_target), or has a slash and does not parse: a path."""
    return is_spec_target(text, option_names) or (could_be_a_path(text) and not _parses(text))


def _parses(text: str) -> bool:
    from .lang.parser import parse

    try:
        parse(text)
    except GradcheckError:
        return False
    return True


def _variables_of(text: str) -> list[str]:
    from .lang.parser import parse

    try:
        return parse(text).variables
    except GradcheckError:
        return []


def _list_ops(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from .lang.ops import CONSTANTS, FUNCTIONS, INFIX, PREFIX

    def line(name, spec) -> str:
        return f"  {name}({', '.join(spec.params)})" + (f"  — {spec.doc}" if spec.doc else "")

    lines = ["Functions:"] + [line(n, s) for n, s in sorted(FUNCTIONS.items()) if not s.internal]
    lines += ["Used in printed derivatives:"] + [line(n, s) for n, s in sorted(FUNCTIONS.items()) if s.internal]
    lines.append("Operators: " + "  ".join(sorted(set(INFIX) | set(PREFIX), key=len)))
    lines.append("Constants: " + ", ".join(CONSTANTS))
    click.echo("\n".join(lines))
    ctx.exit(0)


def _show_versions(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(versions())
    ctx.exit(0)


class Tolerance(click.ParamType):
    """A finite, non-negative number."""

    name = "float"

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not 0 <= number < float("inf"):
            self.fail(f"{value!r} is not a finite non-negative number", param, ctx)
        return number


class Step(Tolerance):
    """A finite, positive number (core.settings' rule for `step`)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if invalid("step", number):
            self.fail(f"{value!r} is not a positive finite number", param, ctx)
        return number


class Keywords(click.ParamType):
    """--kwargs 'stride=2, mode="same"': literals only, never evaluated (spec.keyword_arguments)."""

    name = "keywords"

    def convert(self, value, param, ctx):
        from .core.errors import UsageError
        from .spec.keyword_arguments import parse_keywords

        if isinstance(value, dict):
            return value
        try:
            return parse_keywords(value)
        except UsageError as error:
            self.fail(error.message, param, ctx)


def setting_option(name: str, *names: str, **options):
    """A click option for a setting of core.settings' table: its flag and help come from there."""
    setting = SETTINGS[name]
    if setting.kind == "choice":
        options.setdefault("type", click.Choice(setting.choices))
    declaration = setting.option
    if setting.kind == "flag" and options.pop("negatable", False):  # --strict/--no-strict: None when neither
        declaration = f"{setting.option}/--no-{setting.option[2:]}"
        options.setdefault("default", None)
    elif setting.kind == "flag":
        options["is_flag"] = True
    return click.option(declaration, *names, help=setting.help, **options)


@click.command(cls=ExpressionCommand, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("targets", nargs=-1, metavar="EXPRESSION | PATH...")
@click.option("--expr-file", metavar="FILE", expose_value=False,
              help="Read the expression from FILE (`-` as EXPRESSION reads it from standard input).")
@click.option("--at", "at_items", multiple=True, metavar="NAME=VALUE",
              help="Value of a variable (repeatable); the same as --NAME VALUE.")
@setting_option("wrt", metavar="NAMES")
@setting_option("manual", "manual_items", multiple=True, metavar="NAME=FORMULA")
@setting_option("rtol", type=Tolerance())
@setting_option("atol", type=Tolerance())
@setting_option("dtype")
@setting_option("order", type=click.Choice(["1", "2"]))
@setting_option("manual_hessian", "hessian_items", multiple=True, metavar="NAME[,NAME2]=FORMULA")
@setting_option("method")
@setting_option("step", type=Step())
@setting_option("nondet_tol", type=Tolerance())
@setting_option("precision", metavar="DTYPES")
@setting_option("fast")
@setting_option("seed", type=click.IntRange(0, 2**63 - 1))
@setting_option("explain")
@click.option("--depth", type=click.IntRange(1), metavar="N", help="Levels of the --explain tree (default 12).")
@setting_option("precise")
@setting_option("function", "function", metavar="MODULE:ATTR")
@setting_option("reference", "reference", metavar="MODULE:ATTR")
@setting_option("args", "function_args", metavar="NAMES")
@setting_option("kwargs", "function_kwargs", type=Keywords(), metavar="NAME=VALUE,...")
@setting_option("init_kwargs", "init_kwargs", type=Keywords(), metavar="NAME=VALUE,...")
@setting_option("device")
@setting_option("allow_import", "no_import")
@click.option("--format", "output_format", type=click.Choice(FORMATS),
              help="Output format (default: table; github when GITHUB_ACTIONS=true).")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Leave out the spec files and folders matching GLOB below the folders given (repeatable; "
                   "replaces [tool.gradcheck] exclude).")
@click.option("--json", "as_json", is_flag=True, help="Shorthand for --format json.")
@click.option("-o", "--output", "output_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the report in --format to FILE; the table still goes to the terminal.")
@click.option("-j", "--jobs", type=click.IntRange(1), help="Worker processes (default: the cores, for many cases).")
@setting_option("strict", negatable=True)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when a gradient disagrees (errors still exit 2).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary (the exit code is unchanged).")
@click.option("-v", "--verbose", is_flag=True, help="Show the full table of passing cases too.")
@click.option("--all-elements", is_flag=True, help="List every gradient entry, not only the 20 worst.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour in the table output (auto: none when NO_COLOR is set, some when FORCE_COLOR is).")
@click.option("--width", type=click.IntRange(MIN_WIDTH), metavar="N",
              help="Columns of the table (default: COLUMNS, else the terminal's, else 140).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Draw the case (an expression, or a spec file's one case) as a PNG, PDF or SVG, by FILE's "
                   "extension: the function with each engine's tangent, and the finite-difference "
                   "error against the step (needs matplotlib: pip install 'gradcheck-cli[plot]').")
@setting_option("max_length", type=click.IntRange(1), default=DEFAULT_LIMITS.max_length, show_default=True)
@setting_option("max_depth", type=click.IntRange(1), default=DEFAULT_LIMITS.max_depth, show_default=True)
@setting_option("max_nodes", type=click.IntRange(1), default=DEFAULT_LIMITS.max_nodes, show_default=True)
@setting_option("max_elements", type=click.IntRange(1), default=DEFAULT_LIMITS.max_elements, show_default=True)
@setting_option("max_entries", type=click.IntRange(1), default=DEFAULT_LIMITS.max_entries, show_default=True)
@click.option("--list-ops", is_flag=True, is_eager=True, expose_value=False, callback=_list_ops,
              help="List the functions, operators and constants, then exit.")
@click.option("-V", "--version", is_flag=True, is_eager=True, expose_value=False, callback=_show_versions,
              help="Show the versions of gradcheck, torch, numpy and Python, then exit.")
@click.pass_context
def main(ctx: click.Context, targets: tuple[str, ...], at_items, wrt, manual_items, rtol, atol, dtype, order,
         hessian_items, method, step, nondet_tol, precision, fast, seed, explain, depth, precise, function,
         reference, function_args, function_kwargs, init_kwargs, device, no_import,
         exclude, output_format, as_json, output_path, jobs, strict, exit_zero, quiet, verbose, all_elements,
         color, width, plot_path, max_length, max_depth, max_nodes, max_elements, max_entries,
         **variable_values) -> None:
    """Check the gradient of EXPRESSION (symbolic, finite differences, autograd and your own formula),
    or of every case in the spec files and folders given as PATHs."""
    from .run.runner import Job

    config = _project_config("json" if as_json else output_format)
    spec_mode = bool(ctx.meta.get(SPEC_MODE_KEY))
    if not targets and config.paths and not (function or reference):  # `gradcheck` alone checks the project's paths
        targets, spec_mode = tuple(os.path.relpath(config.root / path) for path in config.paths), True
    _refuse_contradictions(targets, as_json, output_format, depth is not None and not explain and not spec_mode,
                           function or reference)
    _check_plot(plot_path, spec_mode, bool(targets))
    limits = Limits(max_length, max_depth, max_nodes, max_elements, max_entries)
    overrides = _given(rtol=rtol, atol=atol, dtype=dtype, order=int(order) if order else None, fast=fast or None,
                       method=method, step=step, nondet_tol=nondet_tol,
                       precision=_precision_option(precision), explain=explain or None,
                       precise=precise or None, device=device, allow_import=False if no_import else None, seed=seed)
    defaults = {**config.spec_defaults, **overrides}  # the command line's flags over the project's
    if step is not None and not spec_mode and defaults.get("method") != "central":  # a spec's case may say it
        raise click.UsageError("--step is the step of --method central; the other methods choose their own steps "
                               "(add --method central)")
    if spec_mode:
        _refuse_expression_options(at_items, wrt, manual_items + hessian_items, variable_values,
                                   function, function_args, reference, function_kwargs or init_kwargs)
        job_list = _spec_jobs(targets, exclude or config.exclude, config, {**overrides, "limits": limits},
                              output_path, verbose)
        if plot_path and len(job_list) != 1:
            raise click.UsageError(f"--plot draws one case; these spec files have {len(job_list)}")
    else:
        _refuse_folder_options(targets, exclude)
        _check_report_path(output_path, [])
        at, random, integers = _point(ctx, at_items, variable_values, limits, targets[0] if targets else "",
                                      function is not None)
        spec = Spec(expr=targets[0].strip() if targets else "", at=at, random=random, integers=integers,
                    wrt=_names_option(wrt, "--wrt"), manual=_unique_pairs(manual_items, "--manual", "NAME=FORMULA"),
                    manual_hessian=_unique_pairs(hessian_items, "--manual-hessian", "NAME[,NAME2]=FORMULA"),
                    function=_function_target(function, function_args, device, reference, nondet_tol,
                                              function_kwargs or init_kwargs),
                    reference=reference.strip() if reference is not None else None,
                    args=_names_option(function_args, "--args"), kwargs=function_kwargs or {},
                    init_kwargs=init_kwargs or {},
                    limits=limits, **defaults)
        job_list = [Job(spec=spec)]
    if plot_path:
        _refuse_plot_of_projections(job_list)
    output_format = "json" if as_json else (output_format or _default_format())
    settings = _report_settings(Spec(expr="", at={}, limits=limits, **defaults), single=len(job_list) == 1,
                                color=color, quiet=quiet, verbose=verbose, all_elements=all_elements, depth=depth,
                                **_strictness(strict, config), width=width)
    planned = Planned(job_list, output_format, settings,
                      RunOptions(jobs, output_path, exit_zero, plot_path, step))
    if ctx.meta.get(PLAN_ONLY_KEY):  # %gradcheck (magics.py) runs the plan and shows the results itself
        return planned
    ctx.exit(execute(planned.jobs, planned.output_format, planned.settings, planned.options))


def _project_config(output_format: str | None):
    """[tool.gradcheck] of the nearest pyproject.toml (core.config); its error is one line and exit 2 (one JSON
    document when JSON was asked for, as for a usage error)."""
    from .core.config import ConfigError, load

    try:
        return load()
    except ConfigError as error:
        if output_format in ("json", "jsonl"):
            _exit_with_json_error(error, output_format, "pyproject.toml")
        tell(error.render())
        raise click.exceptions.Exit(2) from None


def _spec_jobs(targets, exclude, config, overrides: dict, output_path: str | None, verbose: bool) -> list:
    """The jobs of the spec files the targets hold (spec.collect, as the pytest plugin collects them); with -v,
    the YAML files left out are listed on stderr."""
    from .run.runner import jobs_for
    from .spec.collect import collect

    collection = collect(list(targets), exclude, config.root)
    if verbose:
        for skipped in collection.skipped:
            tell(f"skipped {skipped.path}: {skipped.reason}")
    _check_report_path(output_path, collection.files)
    return jobs_for(collection, overrides, config.spec_defaults)


def _refuse_contradictions(targets, as_json: bool, output_format: str | None, depth_without_explain: bool,
                           code: str | None) -> None:
    if not targets and code is None:  # --function alone is its own reference; --reference asks for it
        raise click.UsageError("Missing argument 'EXPRESSION | PATH...'.")
    if as_json and output_format not in (None, "json"):
        raise click.UsageError("--json contradicts --format " + output_format)
    if depth_without_explain:
        raise click.UsageError("--depth limits the --explain tree; add --explain")


def _refuse_folder_options(targets, exclude) -> None:
    """An expression is one argument, and --exclude has no folder to leave files out of."""
    if len(targets) > 1:
        raise click.UsageError(f"expected one expression, got {len(targets)} arguments "
                               f"(quote the expression, or name spec files ending in .yaml)")
    if exclude:
        raise click.UsageError("--exclude leaves files out of folders of spec files; it does not apply to an "
                               "expression")


def _given(**settings) -> dict:
    """The settings the command line gives (the others are None): they override a spec file's."""
    return {name: value for name, value in settings.items() if value is not None}


def _default_format() -> str:
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "table"


def _refuse_expression_options(at_items, wrt, manual_items, variable_values, function, function_args,
                               reference, function_kwargs=None) -> None:
    given = [name for name, value in (("--at", at_items), ("--wrt", wrt), ("--manual", manual_items),
                                      ("--function", function), ("--args", function_args),
                                      ("--kwargs", function_kwargs),
                                      ("--reference", reference)) if value]
    given += [f"--{n[len(VALUE_PREFIX):]}" for n, v in variable_values.items() if v is not None]
    if given:
        raise click.UsageError(f"{given[0]} applies to an expression; spec files give it in YAML")


@dataclass(frozen=True)
class RunOptions:
    """How the run goes and ends, beside how its report looks: worker processes (None: the cores), the report
    file of -o, and --exit-zero.  What fails the run (--strict) is in ReportSettings, read by the exit code and
    the reports alike."""

    processes: int | None = None
    output: str | None = None
    exit_zero: bool = False
    plot: str | None = None  # --plot FILE.png, and the --step its picture marks
    plot_step: float | None = None


@dataclass(frozen=True)
class Planned:
    """A command line read: the jobs, the report format and settings, how the run goes.  `execute` runs it; asked
    with PLAN_ONLY_KEY in the context's meta, `main` returns it instead, for a front end that shows the results its
    own way (the notebook's %gradcheck) with every argument read and checked as the command reads it."""

    jobs: list
    output_format: str
    settings: ReportSettings
    options: RunOptions


def execute(jobs, output_format: str, settings: ReportSettings, options: RunOptions) -> int:
    """Run the jobs, write the reports as results arrive, and return the exit code."""
    from contextlib import closing

    from .report.progress import with_progress
    from .report.table import SUMMARY_FAILURES
    from .run.runner import run_jobs

    chosen = reporter(output_format)
    # What the terminal shows: the format itself, or the table beside a file / GitHub annotations.
    terminal = reporter("table") if options.output or output_format == "github" else chosen
    annotations = reporter("github") if output_format == "github" else None
    single_error = settings.single and terminal.name == "table"
    screen = Terminal()
    whole_report = bool(options.output) or not terminal.streams or settings.single
    results, failures_kept = [], 0
    with closing(run_jobs(jobs, options.processes)) as finished, \
            closing(with_progress(finished, len(jobs), settings.quiet)) as progressed:
        for result in progressed:
            if annotations:
                result = _shown(screen, annotations.render_case, result, settings)
            if terminal.streams and not (single_error and result.status == "error"):
                result = _shown(screen, terminal.render_case, result, settings)
            failing = result.status == "error" or settings.fails(result.status)
            keep = whole_report or (failing and failures_kept < SUMMARY_FAILURES)
            failures_kept += keep and failing
            results.append(result if keep else _summarised(result))
            raise_if_interrupted()
    ignored_from_now()  # every case has run: the reports are written whatever arrives now
    if single_error and results[0].status == "error":
        if settings.verbose and results[0].traceback:
            tell(inert_lines(printable_lines(results[0].traceback)), nl=False)
        tell(results[0].rendered_error)
    elif terminal.render_summary:
        screen.echo(terminal.render_summary(results, settings))
    elif not terminal.streams:
        screen.echo(_rendered(terminal, results, settings))
    if options.plot:
        _plot(options.plot, results[0], options.plot_step, Limits(**settings.limits))
    if options.output:
        _write(options.output, _rendered(chosen, results, replace(settings, color="never", tty=False)))
    elif screen.lost == "closed":
        tell("error: standard output is closed, so the report went nowhere (write it to a file with -o)")
        return 2
    return exit_code(results, settings.strict, options.exit_zero)


def _summarised(result):
    """What the summary still needs of a case already printed, when nothing renders the whole list later: its
    status, name and place (the first SUMMARY_FAILURES failures are kept whole, for the summary's sentences).
    A run's memory then does not grow with its cases' tables."""
    return replace(result, point={}, gradients=[], hessian=[], formulas={}, factors=[], culprits=[],
                   explanation=None, traceback=None, checks=[], notes=[])


def _shown(screen: Terminal, render_case, result, settings: ReportSettings):
    """Print one case; a reporter that fails on it (a fault of ours) shows it as an internal error instead,
    and that error result is what the final reports get too."""
    try:
        text = render_case(result, settings)
    except Exception as error:
        result = _internal_error_result(result, error)
        text = render_case(result, settings)
    screen.echo(text)
    return result


def _rendered(chosen: Reporter, results: list, settings: ReportSettings) -> str:
    """A whole report; a result it cannot render is replaced by its internal error, and the rest stay."""
    try:
        return chosen.render(results, settings)
    except Exception:
        safe = []
        for result in results:
            try:
                chosen.render([result], settings)
                safe.append(result)
            except Exception as error:
                safe.append(_internal_error_result(result, error))
        return chosen.render(safe, settings)


def _internal_error_result(result, error: Exception):
    from .core.errors import InternalError
    from .run.case import error_result

    internal = InternalError.from_exception(error, "reporting this case")
    replaced = error_result(result.name, internal, file=result.file, line=result.line)
    replaced.traceback = internal.trace
    return replaced


def exit_code(results, strict: bool = False, exit_zero: bool = False) -> int:
    """2 for any error (it wins), 1 for a case that fails the run (report.fails_the_run: a discrepancy, and under
    --strict an inconclusive or undefined verdict) unless --exit-zero, else 0."""
    from .verdict.compare import Status

    statuses = {Status(r.status) for r in results}
    if Status.ERROR in statuses:
        return 2
    return 0 if exit_zero or not any(fails_the_run(status, strict) for status in statuses) else 1


def _write(path: str, text: str) -> None:
    try:
        write_atomically(path, text)
    except OSError as error:
        tell(f"error: cannot write the report to {path}: {error.strerror or error}")
        raise click.exceptions.Exit(2) from None


def _check_plot(path: str | None, spec_mode: bool, expression: bool) -> None:
    """Refuse a --plot that cannot be drawn before running anything: spec files, code with no expression, no
    matplotlib, a bad path."""
    if path is None:
        return
    if not expression and not spec_mode:
        raise click.UsageError("--plot draws an expression around its point; --function alone or with "
                               "--reference has none")
    from .plot import INSTALL, format_problem, matplotlib_missing

    if format_problem(path):
        raise click.BadParameter(format_problem(path), param_hint="'--plot'")
    if matplotlib_missing():
        tell(f"error: --plot needs matplotlib, which is not installed: {INSTALL}")
        raise click.exceptions.Exit(2)
    problem = report_path_problem(path, [])
    if problem:
        raise click.BadParameter(problem, param_hint="'--plot'")


def _refuse_plot_of_projections(jobs) -> None:
    """--plot draws entries of the gradient; a case under --fast (or a spec's `fast: true`) has only projections,
    so it is refused before the run rather than after its table."""
    if any(job.spec is not None and job.spec.fast for job in jobs):
        raise click.UsageError("--plot draws the gradient's entries; --fast checks only random projections of it "
                               "(check without --fast to draw it)")


def _plot(path: str, result, step: float | None, limits: Limits) -> None:
    """Draw the case at `path`; a case with nothing to draw, or a path that cannot be written, is one line and
    exit 2 (the report is already out).  A case that is an error has said so, and exits 2: no picture."""
    from .plot import PlotError, plot_case

    if result.status == "error":
        return
    try:
        plot_case(result, path, step, limits)
    except PlotError as error:
        tell(f"error: --plot: {error}")
        raise click.exceptions.Exit(2) from None
    except OSError as error:
        tell(f"error: cannot write the plot to {path}: {error.strerror or error}")
        raise click.exceptions.Exit(2) from None


def _check_report_path(path: str | None, spec_files: list[Path]) -> None:
    """Refuse an -o path that cannot take the report (or would overwrite a spec file) before running anything."""
    if path is None:
        return
    problem = report_path_problem(path, spec_files)
    if problem:
        raise click.BadParameter(problem, param_hint="'-o' / '--output'")


def _strictness(strict: bool | None, config) -> dict:
    """Whether the run is strict, and what says so: --strict or --no-strict, else the project's `strict`."""
    if strict is None and config.strict:
        return {"strict": True, "strict_source": f"strict = true in {_shown_path(config.path)}"}
    return {"strict": bool(strict)}


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _report_settings(defaults: Spec, single: bool, width: int | None = None, **shown) -> ReportSettings:
    """What the run checks with (the defaults of its cases) and how it is shown: `shown` holds the command's
    display options (color, quiet, verbose, all_elements, depth) and what fails the run (strict); `width` is
    --width, else COLUMNS or the terminal's (output.columns)."""
    tty = is_tty()
    tolerance = defaults.tolerance
    return ReportSettings(dtype=defaults.dtype, rtol=tolerance.rtol, atol=tolerance.atol,
                          limits=vars(defaults.limits), single=single, tty=tty, width=width or columns(tty), **shown)


def _point(ctx: click.Context, at_items, variable_values: dict, limits: Limits, expression: str = "",
           function: bool = False) -> tuple:
    """The point's values, its random inputs (`randn(2, 3)`) and its integer inputs (spec.values.split_inputs).
    With a `function`, a variable without a value is left to the run: a module's parameter has its current one."""
    from .spec.values import parse_input, split_inputs

    def parsed(text: str, hint: str):
        try:
            return parse_input(text, limits)
        except GradcheckError as error:
            raise click.BadParameter(str(error), param_hint=hint) from None

    point = {name[len(VALUE_PREFIX):]: parsed(text, f"'--{name[len(VALUE_PREFIX):]}'")
             for name, text in variable_values.items() if text is not None}
    for name, text in _pairs(at_items, "--at", "NAME=VALUE"):
        if name in point:
            raise click.BadParameter(f"{name} is given twice", param_hint="'--at'")
        point[name] = parsed(text, f"'--at {name}'")
    options = {p.name: p for p in ctx.command.get_params(ctx)}
    for name in ctx.meta.get(VARIABLES_KEY, []):
        if name in point or function:
            continue
        if VALUE_PREFIX + name in options:
            if not point and expression.strip() == name:  # `gradcheck expressions` outside the repository
                raise click.UsageError(f"Missing option '--{name}' (and no file or folder is named '{name}' here).",
                                       ctx)
            raise click.MissingParameter(ctx=ctx, param=options[VALUE_PREFIX + name])
        raise click.UsageError(f"Missing value for '{name}': --{name} is one of gradcheck's own options, "
                               f"so give it as --at {name}=VALUE.")
    return split_inputs(point)


def _names_option(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise click.BadParameter("expected one or more variable names, comma-separated", param_hint=f"'{option}'")
    return names


def _precision_option(text: str | None) -> list[str] | None:
    """--precision float32,bfloat16: the dtypes a function runs in besides float64."""
    if text is None:
        return None
    found = precisions(text)
    if found is None:
        raise click.BadParameter(f"expected {RULES['precision'][0]}, got {text!r}", param_hint="'--precision'")
    return found


def _function_target(function: str | None, function_args: str | None, device: str | None,
                     reference: str | None, nondet_tol: float | None, kwargs: dict | None = None) -> str | None:
    if function is None:
        for given, what in ((kwargs, "--kwargs and --init-kwargs are keyword arguments of --function"),
                            (reference, "--reference is what --function is checked against"),
                            (function_args, "--args names the inputs of --function"),
                            (device, "--device chooses where --function runs (expressions run on the CPU)"),
                            (nondet_tol, "--nondet-tol is how far two backward passes of --function may differ")):
            if given is not None:
                raise click.UsageError(f"{what}; give --function MODULE:ATTR too")
    return function.strip() if function is not None else None


def _unique_pairs(items, option: str, form: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for name, value in _pairs(items, option, form):
        if name in pairs:
            raise click.BadParameter(f"{name} is given twice", param_hint=f"'{option}'")
        pairs[name] = value
    return pairs


def _pairs(items, option: str, form: str):
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected {form}, got {item!r}", param_hint=f"'{option}'")
        yield name.strip(), value


def run_command() -> None:
    """The console script and `python -m gradcheck_cli`: `main`, then out without waiting for threads that a
    user's function started and left running (a non-daemon thread would keep the process alive forever)."""
    try:
        main(prog_name=PROGRAM)  # the name of its usage lines, however it was started
    except SystemExit as done:
        ignored_from_now()
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    else:
        code = 0
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)
