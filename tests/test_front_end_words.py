"""Messages from inside (parser, engines, the case pipeline) name settings in the words of the front end that
received the input: `--order 2` on the command line, `order: 2` in a spec file, `order=2` from Python."""

from __future__ import annotations

import re

import pytest
import yaml

from gradcheck_cli import check
from gradcheck_cli.core.limits import Limits
from gradcheck_cli.core.settings import SETTINGS, word

FUNCTION = "examples.custom_ops.swish:Swish"

# (id, expression, point, settings, limits, the words each front end must use: cli, spec, python)
CASES = [
    ("manual-hessian-needs-order-2", "x**3", {"x": 1}, {"manual_hessian": {"x": "6*x"}}, {},
     ("needs --order 2", "needs order: 2", "needs order=2")),
    ("fast-with-a-manual-hessian", "x**3", {"x": 1}, {"fast": True, "order": 2, "manual_hessian": {"x": "6*x"}}, {},
     ("--fast checks projections", "fast checks projections", "fast checks projections")),
    ("fast-with-a-manual-hessian-names-it", "x**3", {"x": 1},
     {"fast": True, "order": 2, "manual_hessian": {"x": "6*x"}}, {},
     ("combine with --manual-hessian", "combine with manual_hessian", "combine with manual_hessian")),
    ("manual-for-a-variable-not-in-wrt", "x*y", {"x": 1, "y": 2}, {"wrt": ["x"], "manual": {"y": "x"}}, {},
     ("(see --wrt)", "(see wrt)", "(see wrt)")),
    ("complex-step-on-a-kink", "abs(x)", {"x": 1}, {"method": "complex"}, {},
     ("use --method auto or --method richardson", "use method: auto or method: richardson",
      "use method='auto' or method='richardson'")),
    ("function-with-fast", "x*sigmoid(x)", {"x": 0.5}, {"function": FUNCTION, "fast": True}, {},
     ("--fast does not combine with a function", "fast does not combine with a function",
      "fast does not combine with a function")),
    ("function-in-float32", "x*sigmoid(x)", {"x": 0.5}, {"function": FUNCTION, "dtype": "float32"}, {},
     ("drop --dtype float32", "drop dtype: float32", "drop dtype='float32'")),
    ("too-many-entries", "x", {"x": [1, 2, 3]}, {}, {"max_entries": 2},
     ("raise --max-entries", "raise --max-entries", "raise limits.max_entries")),
    ("too-long", "x+x+x", {"x": 1}, {}, {"max_length": 3},
     ("raise it with --max-length", "raise it with --max-length", "raise it with limits.max_length")),
    ("too-many-elements", "sum(x)", {"x": [1, 2, 3]}, {}, {"max_elements": 2},
     ("raise it with --max-elements", "(--max-elements)", "raise it with limits.max_elements")),
    ("function-without-a-variable", "x*sigmoid(x)*y", {"x": 0.5, "y": 2}, {"function": FUNCTION}, {},
     ("name them in order with --args", "name them in order with args", "name them in order with args")),
    ("fast-note-names-the-seed", "x**2", {"x": [1, 2]}, {"fast": True, "seed": 7}, {},
     ("(--seed 7 reproduces them)", "(seed: 7 reproduces them)", "(seed=7 reproduces them)")),
]


def _cli_args(expr: str, point: dict, settings: dict) -> list[str]:
    args = [expr]
    for name, value in point.items():
        args += ["--at", f"{name}={','.join(map(str, value)) if isinstance(value, list) else value}"]
    for name, value in settings.items():
        option = SETTINGS[name].option
        if isinstance(value, dict):
            args += [a for key, text in value.items() for a in (option, f"{key}={text}")]
        elif value is True:
            args.append(option)
        else:
            args += [option, ",".join(value) if isinstance(value, list) else str(value)]
    return args


def _limit_flags(limits: dict) -> list[str]:
    return [a for name, value in limits.items() for a in (SETTINGS[name].option, str(value))]


def _said(result: dict) -> str:
    """What a result tells its reader: the error's message and the notes."""
    return " ".join([result["error"]["message"]] if result.get("error") else []) + " ".join(result["notes"])


def _from_cli(cli_json, expr, point, settings, limits) -> str:
    _, document = cli_json(*_cli_args(expr, point, settings), *_limit_flags(limits))
    return _said(document["results"][0])


def _from_spec(cli_json, tmp_path, expr, point, settings, limits) -> str:
    keys = {"expr": expr, "at": point, **{SETTINGS[n].key: v for n, v in settings.items()}}
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(keys, sort_keys=False))
    _, document = cli_json(str(path), *_limit_flags(limits))
    return _said(document["results"][0])


def _from_python(expr, point, settings, limits) -> str:
    result = check(expr, at=point, limits=Limits(**limits) if limits else None, **settings)
    said = " ".join(([result.error["message"]] if result.error else []) + result.notes)
    return said


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_front_end_words_a_setting_its_own_way(case, cli_json, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[1]))
    _, expr, point, settings, limits, (cli_words, spec_words, python_words) = case
    said = {"cli": _from_cli(cli_json, expr, point, settings, limits),
            "spec": _from_spec(cli_json, tmp_path, expr, point, settings, limits),
            "python": _from_python(expr, point, settings, limits)}
    assert cli_words in said["cli"], said["cli"]
    assert spec_words in said["spec"], said["spec"]
    assert python_words in said["python"], said["python"]
    for front, text in said.items():
        assert not re.search(r"\{[a-z_]+(=[^{}]*)?\}", text), (front, text)  # no placeholder left unworded
    flags_with_a_key = [s.option for s in SETTINGS.values() if s.key and s.option and s.option in said["cli"]]
    assert not any(re.search(re.escape(flag) + r"\b", said["spec"]) for flag in flags_with_a_key), said["spec"]
    assert "--" not in said["python"], said["python"]


def test_a_placeholder_only_matches_a_setting_so_user_braces_are_kept():
    assert word("{x} {order} {fast=True} {not_a_setting=1}", "cli") == "{x} --order --fast {not_a_setting=1}"
    assert word("{allow_import=False}", "cli") == "--no-import" and word("{allow_import=False}", "python") == \
        "allow_import=False"
    assert word("{args=x,w}", "spec") == "args: [x, w]" and word("{args=x,w}", "python") == "args=['x', 'w']"


def test_an_error_in_a_manual_formula_is_located_in_python_terms(cli):
    result = check("x**2", at={"x": 1}, manual={"x": "2*x +"})
    assert result.status == "error" and result.error["message"].startswith("manual['x']: "), result.error
    flag = cli("x**2", "--x", "1", "--manual", "x=2*x +")
    assert flag.exit_code == 2 and "--manual x: " in flag.stderr


def test_inner_layers_name_no_command_line_flag():
    """Strings in the package below the front ends (not cli.py, the IPython magics that take its arguments, the
    pytest plugin, core.settings that words them, nor the terminal table, which is the command's own view) name no
    option of the command; docstrings and comments may."""
    import ast
    from pathlib import Path

    import gradcheck_cli

    package = Path(gradcheck_cli.__file__).parent
    fronts = {"cli.py", "magics.py", "pytest_plugin.py", "__main__.py", "__init__.py", "settings.py", "table.py",
              "explanation.py"}
    flags = sorted({s.option for s in SETTINGS.values() if s.option} | {"--at", "--format", "--json"}, key=len,
                   reverse=True)
    pattern = "(" + "|".join(re.escape(f) for f in flags) + r")\b"
    found = []
    for path in package.rglob("*.py"):
        if path.name in fronts and path.parent in (package, package / "core", package / "report"):
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree) if isinstance(
            node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body and isinstance(
            node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(package)}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and re.search(pattern, node.value)]
    assert not found, "\n".join(found)


def test_a_setting_given_on_the_command_line_over_a_spec_file_is_worded_as_its_option(cli, tmp_path):
    spec = tmp_path / "second.yaml"
    spec.write_text("expr: x**3\nat: {x: 1}\norder: 2\nmanual_hessian: {x: 6*x}\n")
    result = cli(str(spec), "--fast")
    assert result.exit_code == 2 and "--fast checks projections" in result.stderr
    assert "combine with manual_hessian" in result.stderr, result.stderr
    spec.write_text("expr: x**3\nat: {x: 1}\nfast: true\nmanual_hessian: {x: 6*x}\n")
    result = cli(str(spec), "--order", "2")
    assert result.exit_code == 2 and "fast checks projections" in result.stderr and "--fast" not in result.stderr
    assert "combine with manual_hessian" in result.stderr, result.stderr
