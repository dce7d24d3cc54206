"""Spec files: the format, located errors, folders and exit codes (hostile YAML: test_hostile_input.py)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from gradcheck_cli.core.errors import SpecError
from gradcheck_cli.spec.spec_file import load

BCE = """\
name: BCE loss of a sigmoid unit
expr: -(y*log(p) + (1-y)*log(1-p))
where:
  z: w*x + b
  p: clamp(sigmoid(z), 1e-8, 1 - 1e-8)
at: {w: 1.0, b: 0.0, x: 6.7, y: 0.0}
wrt: [w, b]
manual: {w: (p - y)*x, b: p - y}
expect: {w: 6.691763029237442, b: 0.9987706013787226}
tolerance: {rtol: 1e-7, atol: 1e-9}
dtype: float64
cases:
  - {name: steeper, at: {w: 2.0}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_issue_example_loads_with_cases_inheriting(tmp_path):
    specs = load(write(tmp_path, "bce.yaml", BCE))
    assert [s.name for s in specs] == ["BCE loss of a sigmoid unit", "steeper"]
    top, case = specs
    assert top.where == {"z": "w*x + b", "p": "clamp(sigmoid(z), 1e-8, 1 - 1e-8)"}
    assert top.rtol == 1e-7 and top.atol == 1e-9 and top.wrt == ["w", "b"]
    assert float(case.at["w"]) == 2.0 and float(case.at["x"]) == 6.7  # merged entry by entry
    assert case.expected == {}  # moved point: expectations are not inherited
    assert case.manual == top.manual
    assert (top.line, case.line) == (2, 13)


def test_the_issue_example_passes(cli_json, tmp_path):
    code, doc = cli_json(str(write(tmp_path, "bce.yaml", BCE)))
    assert code == 0, doc["results"]
    first = doc["results"][0]
    assert first["file"].endswith("bce.yaml") and first["line"] == 2
    assert {g["wrt"]: g["expected"] for g in first["gradients"]} == {"w": 6.691763029237442,
                                                                      "b": 0.9987706013787226}


@pytest.mark.parametrize("text, message", [
    ("expr: sin(x)\nat:\n  x: 1\n  w: one\n", "bad.yaml:4:6: at.w: expected a number or a list of numbers, got 'one'"),
    ("expr: sin(x)\nat: {x: 1}\nmanul: {x: cos(x)}\n", "bad.yaml:3:1: manul: unknown key (did you mean 'manual'?)"),
    ("expr: sin(x)\nat: {x: [1, [2]]}\n", "bad.yaml:2:9: at.x: expected a number or a rectangular"),
    ("expr: sin(x)\nat: {x: 1}\ntolerance: {rtol: -1}\n",
     "bad.yaml:3:19: tolerance.rtol: expected a non-negative number"),
    ("expr: sin(x)\nat: {x: 1}\ndtype: float16\n", "bad.yaml:3:8: dtype: expected one of float64, float32"),
    ("at: {x: 1}\n", "bad.yaml:1:1: expr: missing key 'expr'"),
    ("expr: sin(x)\nat: {x: 1}\nwhere: {sin: x}\n", "where.sin: 'sin' is a function"),
    ("expr: sin(x)\nat: {x: 1}\nat: {x: 2}\n", "bad.yaml:3:1: at: duplicate key"),
    ("- 1\n- 2\n", "bad.yaml:1:1: expected a mapping"),
    ("expr: [\n", "bad.yaml:2:1: invalid YAML"),
    ("", "the file is empty"),
    ("expr: sin(x)\nat: {x: 1}\nsample: {n: 0, domain: {x: [0, 1]}}\n", "sample.n: expected an integer from 1"),
    ("expr: sin(x)\nat: {x: 1}\nsample: {n: 3, domain: {x: [1, 0]}}\n", "low < high"),
    ("expr: sin(x)\nat: {x: 1}\ncases: [{cases: []}]\n", "cases[0].cases: unknown key"),
])
def test_spec_errors_name_file_line_column_and_key(tmp_path, text, message):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SpecError) as raised:
        load(path, display="bad.yaml")
    assert message in str(raised.value)


def test_expression_errors_point_into_the_yaml_file(cli, tmp_path):
    write(tmp_path, "where.yaml", "expr: q + 1\nwhere:\n  q: sinn(x)\nat: {x: 1}\n")
    result = cli(str(tmp_path / "where.yaml"))
    assert result.exit_code == 2
    assert "where.yaml:3:6: where.q: unknown function 'sinn'" in result.stderr
    assert "  sinn(x)\n  ^~~~" in result.stderr


def test_manual_errors_point_into_the_yaml_file(cli_json, tmp_path):
    write(tmp_path, "m.yaml", "expr: x**2\nat: {x: 1}\nmanual:\n  x: \"2*x +\"\n")
    code, doc = cli_json(str(tmp_path / "m.yaml"))
    assert code == 2
    error = doc["results"][0]["error"]
    assert (error["line"], error["column"]) == (4, 12)  # just after the '+'
    assert "manual.x" in error["message"]


def test_folder_with_one_broken_gradient_and_one_malformed_file(cli, tmp_path):
    write(tmp_path, "a_good.yaml", "expr: sin(x)\nat: {x: 1}\nmanual: {x: cos(x)}\n")
    write(tmp_path, "b_wrong.yaml", "expr: x**2\nat: {x: 3}\nmanual:\n  x: x\n")
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested", "c_good.yml", "expr: exp(x)\nat: {x: 0}\n")
    only_wrong = cli(str(tmp_path), "--color", "never")
    assert only_wrong.exit_code == 1
    assert "b_wrong.yaml:1" in only_wrong.stdout and "manual disagrees on d/dx" in only_wrong.stdout
    write(tmp_path, "d_broken.yaml", "expr: [unclosed\n")
    with_broken = cli(str(tmp_path), "--json")
    assert with_broken.exit_code == 2  # 2 wins over 1
    statuses = {r["file"].rsplit("/", 1)[-1]: r["status"] for r in json.loads(with_broken.stdout)["results"]}
    assert statuses == {"a_good.yaml": "pass", "b_wrong.yaml": "fail", "c_good.yml": "pass", "d_broken.yaml": "error"}


def test_exit_zero_and_strict(cli, tmp_path):
    write(tmp_path, "wrong.yaml", "expr: x**2\nat: {x: 3}\nmanual: {x: x}\n")
    assert cli(str(tmp_path), "--exit-zero", "-q").exit_code == 0
    write(tmp_path, "broken.yaml", "expr: x**\nat: {x: 3}\n")
    assert cli(str(tmp_path), "--exit-zero", "-q").exit_code == 2


def test_missing_path_and_empty_folder(cli, tmp_path):
    missing = cli(str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "no such file or folder" in missing.stderr
    empty = cli(str(tmp_path))
    assert empty.exit_code == 2 and "no spec files" in empty.stderr


def test_expression_options_are_refused_with_files(cli, tmp_path):
    write(tmp_path, "a.yaml", "expr: x\nat: {x: 1}\n")
    result = cli(str(tmp_path / "a.yaml"), "--wrt", "x")
    assert result.exit_code == 2 and "--wrt applies to an expression" in result.stderr


def test_cli_tolerance_overrides_the_files(cli_json, tmp_path):
    write(tmp_path, "a.yaml", "expr: x**2\nat: {x: 3}\nmanual: {x: 2*x + 1e-5}\n")
    assert cli_json(str(tmp_path / "a.yaml"))[0] == 1
    assert cli_json(str(tmp_path / "a.yaml"), "--rtol", "1e-5")[0] == 0


def test_sampled_points_are_reproducible_and_inside_the_domain(tmp_path):
    path = write(tmp_path, "s.yaml", "name: log\nexpr: log(x)*y\nat: {y: 2}\n"
                                     "sample: {n: 5, seed: 3, domain: {x: [-1, 1]}}\n")
    first, again = load(path), load(path)
    assert [s.name for s in first] == [f"log sampled [{k}/5, seed 3]" for k in range(1, 6)]
    xs = [float(s.at["x"]) for s in first]
    assert xs == [float(s.at["x"]) for s in again]
    assert all(0 < x <= 1 for x in xs)  # log's own domain, inside the box
    assert all(float(s.at["y"]) == 2 for s in first)


def test_parallel_runs_keep_the_order(cli_json, tmp_path):
    for i in range(12):
        write(tmp_path, f"case{i:02d}.yaml", f"expr: sin({i + 1}*x)\nat: {{x: 0.5}}\n")
    code, doc = cli_json(str(tmp_path), "-j", "2")
    assert code == 0
    assert [r["name"] for r in doc["results"]] == [f"case{i:02d}" for i in range(12)]


def test_control_characters_are_a_spec_error_not_a_traceback(cli, tmp_path):
    (tmp_path / "f.yaml").write_text("expr: x\n\x0c\n")  # found by tests/test_fuzz_properties.py
    result = cli(str(tmp_path / "f.yaml"))
    assert result.exit_code == 2
    assert "unacceptable character #x000c" in result.stderr and "at character 9" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_libyaml_and_pyyaml_composers_read_every_library_file_alike(monkeypatch):
    """Spec files are composed by libyaml where a pre-scan finds them plain (issue 20): every file of
    expressions/ (literal blocks, quoted and plain numbers, nested lists) reads to the same specs, with the
    same origins, as with PyYAML's composer, and the libyaml path is the one taken for them."""
    import yaml

    from gradcheck_cli.spec import spec_file

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml: one composer only")
    files = sorted((Path(__file__).parent.parent / "expressions").glob("*.yaml"))
    taken = []
    plain_events = spec_file._plain_events
    monkeypatch.setattr(spec_file, "_plain_events", lambda text: taken.append(plain_events(text)) or taken[-1])
    fast = {path: repr(load(path)) for path in files}
    assert len(taken) == len(files) and all(taken)
    monkeypatch.setattr(spec_file, "_plain_events", lambda text: False)
    assert {path: repr(load(path)) for path in files} == fast


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "expr: x\nat: " + "[" * 20 + "1" + "]" * 20 + "\n",
                                  "expr: x\nat: {x: 1}\n---\nexpr: y\n", "expr: x\n\tat: 1\n"])
def test_files_libyaml_does_not_take_whole_go_to_pyyaml(tmp_path, text):
    """Anchors, aliases, deep nesting and invalid YAML are found by PyYAML's composer, in its words."""
    from gradcheck_cli.spec import spec_file

    assert not spec_file._plain_events(text) or "---" in text
    with pytest.raises(SpecError) as raised:
        load(write(tmp_path, "f.yaml", text))
    assert "f.yaml:" in str(raised.value)
