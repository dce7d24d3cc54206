"""gradcheck in Jupyter and IPython (issue 19, item 1): results shown as the command's table, the %gradcheck and
%%gradcheck magics, tensors and numpy arrays as check() values, and examples/notebook.ipynb run headless."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from gradcheck_cli import check, load_ipython_extension
from gradcheck_cli.magics import GradcheckMagics, check_cell, check_line
from gradcheck_cli.report import ReportSettings, reporter
from gradcheck_cli.results import CheckResult, CheckResults
from gradcheck_cli.spec.values import coerce_value
from gradcheck_cli.verdict.compare import CaseResult

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"
BCE_CELL = """name: sigmoid + binary cross-entropy
expr: -(y*log(p) + (1-y)*log(1-p))
where:
  z: w*x + b
  p: clamp(sigmoid(z), 1e-8, 1 - 1e-8)
at: {w: 1, b: 0, x: 6.7, y: 0}
wrt: [w, b]
manual:
  w: (p - y)/(p*(1-p)) * p*(1-p) * x
"""


def html_text(markup: str) -> str:
    """The text an HTML export shows: tags dropped, entities read."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def plain_table(results: list, **settings) -> str:
    return reporter("table").render(results, ReportSettings(color="never", **settings))


# ---- results that show themselves ----


def test_a_result_is_a_case_result_with_a_one_line_repr():
    result = check("sin(x**2)", at={"x": 4})
    assert isinstance(result, CheckResult) and isinstance(result, CaseResult)
    assert repr(result) == "<CheckResult sin(x**2) at x=4: pass>"
    assert repr(check("mean(x**2)", at={"x": [1, 2, 3]})) == "<CheckResult mean(x**2) at x=[1., 2., 3.]: pass>"
    assert repr(check("x*cos(x)", at={"x": 1}, manual={"x": "cos(x)"})) == "<CheckResult x*cos(x) at x=1: fail>"


def test_an_error_repr_gives_the_first_line_of_its_message():
    assert repr(check("sin(", at={"x": 1})) == \
        "<CheckResult sin( at x=1: error: column 5: expected an expression, found end of input>"


def test_a_long_point_is_cut_in_the_repr():
    shown = repr(check("sum(x**2)", at={"x": np.arange(1.0, 101.0)}))
    assert len(shown) < 120 and shown.endswith(": pass>") and "..." in shown


def test_the_html_is_the_tables_text_in_richs_jupyter_form():
    result = check("sin(x**2)", at={"x": 4}, manual={"x": "x*cos(x**2)"})
    markup = result._repr_html_()
    assert markup.startswith("<pre style=\"white-space:pre;overflow-x:auto;")  # rich's Jupyter format
    assert 'style="color: #800000' in markup  # the failing verdict in the table's red
    assert html_text(markup).rstrip("\n") == plain_table([result]).rstrip("\n")
    assert "your factor x (= 4) should be ∂(x**2)/∂x = 2*x (= 8)" in html_text(markup)


def test_the_html_escapes_what_the_user_wrote():
    markup = check("x**2", at={"x": 1}, name="<img src=x onerror=alert(1)>")._repr_html_()
    assert "<img" not in markup and "&lt;img src=x onerror=alert(1)&gt;" in markup


def test_ipython_pretty_printing_shows_the_table():
    from IPython.lib.pretty import pretty

    result = check("x**2", at={"x": 3})
    assert pretty(result) == plain_table([result]).rstrip("\n")
    assert "✓ 1 passed" in pretty(result)


def test_a_result_renders_in_every_format_as_the_plain_record():
    result = check("x**2", at={"x": 3})
    plain = CaseResult(**{f.name: getattr(result, f.name) for f in fields(CaseResult)})
    for name in ("json", "junit", "table"):
        assert reporter(name).render([result], ReportSettings()) == reporter(name).render([plain], ReportSettings())


def test_a_list_of_results_shows_the_run_and_its_summary():
    results = CheckResults([check("x**2", at={"x": 3}), check("x*cos(x)", at={"x": 1}, manual={"x": "cos(x)"})])
    assert repr(results).startswith("<CheckResults 1 passed, 1 failed")
    assert results.status == "fail" and CheckResults([]).status == "pass"
    text = html_text(results._repr_html_())
    assert "✓ x**2" in text and "manual disagrees" in text and "✗ 1 passed, 1 failed" in text


def test_importing_the_package_or_checking_does_not_import_ipython():
    code = ("import sys, gradcheck_cli; r = gradcheck_cli.check('x**2', at={'x': 3}); r._repr_html_(); repr(r); "
            "print(sorted(m for m in ('IPython', 'gradcheck_cli.magics', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.stdout.split() == ["['torch']"], done.stderr
    imported = subprocess.run([sys.executable, "-c", "import sys, gradcheck_cli; print('torch' in sys.modules)"],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert imported.stdout.strip() == "False"


# ---- tensors and numpy arrays as values ----


@pytest.mark.parametrize("value", [
    torch.tensor([1.0, 2.0], requires_grad=True),
    torch.tensor([1.0, 2.0], dtype=torch.float16),
    torch.tensor([1.0, 2.0], dtype=torch.bfloat16),
    torch.tensor([1, 2]),
    torch.tensor([1.0, 2.0], requires_grad=True) * 1,  # not a leaf
    torch.nn.Parameter(torch.tensor([1.0, 2.0])),
    torch.tensor([[1.0, 0.0], [0.0, 2.0]]).to_sparse().values(),
    torch.tensor([-1.0, -2.0]).neg().expand(2),
    torch._neg_view(torch.tensor([-1.0, -2.0])),
    np.array([1.0, 2.0], dtype=np.float32),
    np.array([1, 2]),
    [torch.tensor(1.0), torch.tensor(2.0)],
], ids=["requires_grad", "float16", "bfloat16", "int64", "non-leaf", "parameter", "sparse values", "expanded",
        "neg view", "numpy float32", "numpy int", "list of tensors"])
def test_tensors_and_arrays_are_values(value):
    result = check("sum(x**2)", at={"x": value})
    assert result.status == "pass", result.error
    assert result.point["x"] == [1.0, 2.0]
    assert [row.autograd for row in result.gradients] == [2.0, 4.0]


def test_a_sparse_tensor_is_read_dense():
    result = check("sum(x**2)", at={"x": torch.tensor([[0.0, 1.0], [2.0, 0.0]]).to_sparse()})
    assert result.status == "pass" and result.point["x"] == [[0.0, 1.0], [2.0, 0.0]]


def test_a_tensor_value_is_copied():
    tensor = torch.tensor([1.0, 2.0], dtype=torch.float64)
    array = coerce_value(tensor)
    tensor += 10
    assert array.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("value, message", [
    (torch.empty(2, device="meta"), "at['x']: the tensor is on the meta device: it has a shape but no values"),
    (torch.tensor([1 + 1j]), "at['x']: complex values are not supported: give real numbers"),
    (np.array([1j]), "at['x']: complex values are not supported: give real numbers"),
    (torch.tensor([float("nan")]), "at['x']: values must be finite numbers"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "at['x']: expected numbers, got a numpy array of datetime64[D]"),
    (np.array(["1", "2"]), "at['x']: expected numbers, got a numpy array of <U1"),
    (torch.zeros(0), "at['x']: empty array"),
])
def test_a_bad_value_is_named_as_check_s_argument(value, message):
    result = check("sum(x**2)", at={"x": value})
    assert result.status == "error" and result.error["message"] == message


def test_a_nested_tensor_is_named_as_check_s_argument():
    nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
    result = check("sum(x**2)", at={"x": nested})
    assert result.error["message"] == "at['x']: a nested tensor has no single shape: give a regular tensor"


def test_the_point_must_be_a_mapping():
    result = check("x**2", at=[1])
    assert result.status == "error"
    assert result.error["message"] == "at: expected a dict of variable names to values, got a list"


def test_a_tensor_over_the_element_limit_is_refused_before_it_is_copied():
    from gradcheck_cli.core.limits import Limits

    result = check("sum(x)", at={"x": torch.zeros(11)}, limits=Limits(max_elements=10))
    assert result.error["message"].startswith("at['x']: the value has 11 elements; the limit is 10")


# ---- %gradcheck ----


def test_load_ext_registers_the_magics():
    class Shell:
        registered = []

        def register_magics(self, magics):
            self.registered.append(magics)

    shell = Shell()
    load_ipython_extension(shell)
    assert shell.registered == [GradcheckMagics]
    assert set(GradcheckMagics.magics["line"]) == set(GradcheckMagics.magics["cell"]) == {"gradcheck"}


def test_the_line_magic_takes_the_command_s_arguments(capsys):
    result = check_line('"sin(x**2)" --x 4 --manual x="2*x*cos(x**2)" --dtype float32 -v')
    assert isinstance(result, CheckResult) and result.status == "pass"
    assert result.dtype == "float32" and result.gradients[0].manual is not None
    assert result.shown_with.verbose and result.shown_with.dtype == "float32"
    assert capsys.readouterr().out == ""  # shown by Jupyter from the value returned, not printed


@pytest.mark.parametrize("line, error", [
    ('"sin(x**2)" --x', "error: Option '--x' requires an argument."),
    ('"x*y" --x 1', "error: Missing option '--y'."),
    ('"sin(x**2" --x 4', "error: column 4: '(' was never closed"),
    ('"sin(x**2) --x 4', "error: No closing quotation in the arguments of %gradcheck"),
    ('"x**2" --x 1 --order 3', "error: Invalid value for '--order'"),
    ('"x**2" --x abc', "error: Invalid value for '--x'"),
])
def test_a_bad_argument_prints_the_command_s_error(capsys, line, error):
    assert check_line(line) is None
    captured = capsys.readouterr()
    assert captured.err.startswith(error) and "Traceback" not in captured.err and captured.out == ""


def test_help_is_the_command_s_help(capsys):
    assert check_line("--help") is None
    assert "Usage: %gradcheck [OPTIONS] EXPRESSION | PATH..." in capsys.readouterr().out


def test_json_is_printed_and_the_result_returned(capsys):
    result = check_line('"x**2" --x 3 --json')
    document = json.loads(capsys.readouterr().out)
    assert document["results"][0]["gradients"][0]["symbolic"] == 6.0 and result.status == "pass"


def test_a_report_file_is_written(tmp_path, capsys):
    report = tmp_path / "report.json"
    result = check_line(f'"x**2" --x 3 --format json -o "{report}"')
    assert result.status == "pass" and json.loads(report.read_text())["summary"]["passed"] == 1
    assert capsys.readouterr().out == ""


def test_spec_files_give_the_list_of_their_cases(tmp_path):
    spec = tmp_path / "two.yaml"
    spec.write_text("expr: x**2\ncases:\n  - at: {x: 1}\n  - at: {x: 2}\n")
    results = check_line(f'"{spec}" --strict')
    assert isinstance(results, CheckResults) and [r.status for r in results] == ["pass", "pass"]
    assert results.shown_with.strict


# ---- %%gradcheck ----


def test_the_cell_magic_checks_a_spec():
    results = check_cell("", BCE_CELL)
    assert isinstance(results, CheckResults) and len(results) == 1
    (result,) = results
    assert result.status == "pass" and result.name == "sigmoid + binary cross-entropy"
    assert result.file == "cell" and result.line == 3  # expr: is on the cell's third line, the magic's counted
    assert result.gradients[0].manual == pytest.approx(6.691763029237442, rel=1e-12)


@pytest.mark.parametrize("cell, error", [
    ("expr: sin(x**2)\nat: {x: 4}\nmanul: {x: 2*x}\n", "error: cell:4:1: manul: unknown key (did you mean 'manual'?)"),
    ("# the seed notebook\nexpr: sin(x**2\nat: {x: 4}\n", "error: cell:3:10: expr: '(' was never closed"),
    ("expr: x**2\nat:\n  x: [1, 2\n", "error: cell:5:1: invalid YAML"),
    ("expr: x**2\nat: {x: 1}\norder: 3\n", "error: cell:4:8: order: expected 1 or 2"),
])
def test_a_bad_cell_names_its_line(capsys, cell, error):
    assert check_cell("", cell) is None
    captured = capsys.readouterr()
    assert captured.err.startswith(error), captured.err
    assert "Traceback" not in captured.err


def test_an_empty_cell_or_arguments_on_the_cell_line_are_refused(capsys):
    assert check_cell("", "  \n") is None
    assert "the %%gradcheck cell is empty" in capsys.readouterr().err
    assert check_cell("--dtype float32", "expr: x**2\nat: {x: 1}\n") is None
    assert "%%gradcheck takes no arguments" in capsys.readouterr().err


def test_the_readme_s_jupyter_examples_run_and_pass():
    section = (ROOT / "README.md").read_text().split("### In Jupyter", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    lines = [re.sub(r"\s+#.*$", "", line).partition("%gradcheck ")[2] for line in blocks[0].splitlines()]
    assert len([line for line in lines if line]) == 2
    for line in filter(None, lines):
        assert check_line(line).status == "pass", line
    cell = blocks[1].partition("%%gradcheck\n")[2]
    assert [r.status for r in check_cell("", cell)] == ["pass"]
    assert "`<CheckResult sin(x**2) at x=4: pass>`" in section and repr(check("sin(x**2)", at={"x": 4})) == \
        "<CheckResult sin(x**2) at x=4: pass>"


# ---- the example notebook, run headless ----


def test_the_example_notebook_is_committed_without_outputs():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_the_example_notebook_runs_and_shows_its_tables():
    """One kernel runs every cell: none errs, and each check shows its table as HTML with its verdict."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import gradcheck_cli; print(gradcheck_cli.__file__)"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute(env=env)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    assert code[-1].outputs[0].text.strip() == str(ROOT / "gradcheck_cli" / "__init__.py")  # this tree's code
    tables = {cell.source.splitlines()[0]: html_text(output.data["text/html"]) for cell in code
              for output in cell.outputs if "text/html" in output.get("data", {})}
    assert len(tables) == 7, list(tables)
    shown_twice = {cell.source.splitlines()[0]: [output.output_type for output in cell.outputs] for cell in code
                   if sum("text/html" in output.get("data", {}) or output.output_type == "display_data"
                          for output in cell.outputs) > 1}
    assert shown_twice == {}  # each result is shown once, not again as rich's bare trial tables (issue 19, item 1)
    verdicts = [("✗ fail" in table, "✓ pass" in table) for table in tables.values()]
    assert verdicts.count((True, False)) == 1 and verdicts.count((False, True)) == 6
    wrong = tables['wrong = check("sin(x**2)", at={"x": x}, manual={"x": "x*cos(x**2)"})']
    assert "your factor x (= 4) should be ∂(x**2)/∂x = 2*x (= 8)" in wrong
    cell_magic = tables["%%gradcheck"]
    assert "sigmoid + binary cross-entropy  (cell:3)" in cell_magic and "dp/dz" in cell_magic
    float32 = [cell for cell in code if cell.source.startswith("[(row.wrt")][0]
    assert float32.outputs[0].data["text/plain"] == "[('w', 6.6918), ('b', 0.9988)]"  # the notebook's autograd
    kept = [cell for cell in code if cell.source == "d.gradients[0].autograd"][0]  # d = %gradcheck ... kept it
    assert kept.outputs[0].data["text/plain"] == "2.0"
