"""Inputs by shape and distribution (issue 18 item 3): `randn(2, 3)`, `rand`, `uniform`, `normal`, `randint`,
read by their own grammar, drawn from a seed that the report prints and `--seed` / `seed:` sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradcheck_cli.core.errors import LimitError, ValueParseError
from gradcheck_cli.core.limits import Limits
from gradcheck_cli.spec.random_inputs import Distribution, parse_distribution

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text, kind, shape, parameters", [
    ("randn(2, 3)", "randn", (2, 3), ()),
    ("randn((2, 3))", "randn", (2, 3), ()),
    ("rand(4)", "rand", (4,), ()),
    ("randn()", "randn", (), ()),
    ("uniform(-1, 1, (4,))", "uniform", (4,), (-1.0, 1.0)),
    ("normal(0, 2.5, (3, 1))", "normal", (3, 1), (0.0, 2.5)),
    ("randint(0, 10, (5,))", "randint", (5,), (0.0, 10.0)),
    ("  randn( 2 ,3 , ) ", "randn", (2, 3), ()),
])
def test_the_grammar_reads_torch_style_calls(text, kind, shape, parameters):
    assert parse_distribution(text) == Distribution(kind, shape, parameters, text.strip())


@pytest.mark.parametrize("text, message", [
    ("randn(2,,3)", "an empty argument (two commas?)"),
    ("randn(0)", "a size must be a positive integer, got 0"),
    ("randn(2.5)", "a size must be a positive integer, got 2.5"),
    ("uniform(1, 0, (2,))", "uniform needs low < high"),
    ("uniform((2,))", "uniform takes low, high and then a shape"),
    ("randint(0.5, 3, (2,))", "randint takes integer bounds"),
    ("normal(0, 0, (2,))", "normal needs std > 0"),
    ("randx(2)", "'randx' is not a distribution (did you mean 'rand'?)"),
    ("randn((2, 3), 4)", "give the shape as sizes, randn(2, 3), or as one tuple"),
    ("randn(2; 3)", "unexpected ';'"),
    ("randn(__import__('os'))", "unexpected"),
    ("randn((2, 3)", "unclosed '(' in the shape"),
])
def test_anything_else_is_refused_saying_why(text, message):
    with pytest.raises(ValueParseError, match=None) as raised:
        parse_distribution(text)
    assert message in raised.value.message


def test_the_element_limit_is_checked_before_anything_is_drawn():
    with pytest.raises(LimitError, match="has 1,000,000 elements; the limit is 1,000"):
        parse_distribution("randn(1000, 1000)", Limits(max_elements=1000))


def test_each_distribution_draws_what_it_says():
    seed = 12345
    uniform = parse_distribution("uniform(-1, 1, (2000,))").draw(seed, "x")
    assert uniform.shape == (2000,) and -1 <= uniform.min() and uniform.max() < 1 and abs(uniform.mean()) < 0.1
    integers = parse_distribution("randint(2, 5, (500,))").draw(seed, "i")
    assert set(np.unique(integers)) == {2.0, 3.0, 4.0}  # high excluded, as torch's
    normal = parse_distribution("normal(3, 0.5, (4000,))").draw(seed, "x")
    assert abs(normal.mean() - 3) < 0.05 and abs(normal.std() - 0.5) < 0.05
    assert parse_distribution("rand(3)").draw(seed, "x").min() >= 0


def test_a_seed_reproduces_the_values_and_each_variable_has_its_own_stream():
    randn = parse_distribution("randn(3)")
    assert np.array_equal(randn.draw(7, "x"), randn.draw(7, "x"))
    assert not np.array_equal(randn.draw(7, "x"), randn.draw(8, "x"))
    assert not np.array_equal(randn.draw(7, "x"), randn.draw(7, "y"))


def test_the_seed_is_in_the_table_header_and_the_json(cli, cli_json):
    code, document = cli_json("sum(x**2)", "--x", "randn(3)", "--seed", "5")
    result = document["results"][0]
    assert code == 0 and result["seed"] == 5
    x = np.asarray(result["point"]["x"])
    assert np.array_equal(x, parse_distribution("randn(3)").draw(5, "x"))
    assert [r["symbolic"] for r in result["gradients"]] == pytest.approx(list(2 * x), rel=1e-15)
    assert "(seed 5)" in cli("sum(x**2)", "--x", "randn(3)", "--seed", "5").stdout.splitlines()[0]


def test_without_a_seed_a_fresh_one_is_printed_and_reproduces_the_point(cli_json):
    _, first = cli_json("sum(x**2)", "--x", "randn(4)")
    seed = first["results"][0]["seed"]
    assert isinstance(seed, int)
    _, again = cli_json("sum(x**2)", "--x", "randn(4)", "--seed", str(seed))
    assert again["results"][0]["point"] == first["results"][0]["point"]


def test_adding_a_variable_does_not_change_the_others(cli_json):
    _, alone = cli_json("sum(x**2)", "--x", "randn(3)", "--seed", "2")
    _, both = cli_json("sum(x**2) + sum(y)", "--x", "randn(3)", "--y", "rand(2)", "--seed", "2")
    assert both["results"][0]["point"]["x"] == alone["results"][0]["point"]["x"]


def test_values_typed_out_have_no_seed(cli_json):
    _, document = cli_json("sum(x**2)", "--x", "1,2")
    assert document["results"][0]["seed"] is None


@pytest.mark.parametrize("args, message", [
    (("--x", "randn(2,,3)"), "Invalid value for '--x': 'randn(2,,3)': an empty argument (two commas?)"),
    (("--x", "randn(1000)", "--max-elements", "100"), "'randn(1000)' has 1,000 elements; the limit is 100"),
    (("--at", "x=randx(3)"), "Invalid value for '--at x': 'randx(3)': 'randx' is not a distribution"),
])
def test_a_bad_call_on_the_command_line_is_one_line_naming_the_flag(cli, args, message):
    result = cli("sum(x**2)", *args)
    assert result.exit_code == 2 and message in " ".join(result.stderr.split()), result.stderr


def test_a_constant_expression_is_still_a_number(cli_json):
    _, document = cli_json("x**2", "--x", "sin(1)")
    assert document["results"][0]["point"]["x"] == pytest.approx(np.sin(1))


def test_spec_files_draw_from_their_seed_and_a_case_overrides_a_variable(cli_json, tmp_path):
    spec = tmp_path / "random.yaml"
    spec.write_text("expr: sum(x**2) + sum(y)\nseed: 11\nat:\n  x: randn(2, 2)\n  y: \"uniform(-1, 1, (3,))\"\n"
                    "cases:\n  - name: typed\n    at: {x: [[1, 2], [3, 4]]}\n  - name: drawn\n")
    code, document = cli_json(str(spec))
    results = {r["name"]: r for r in document["results"]}
    assert code == 0
    assert results["typed"]["point"]["x"] == [[1.0, 2.0], [3.0, 4.0]]
    assert np.array_equal(results["drawn"]["point"]["x"], parse_distribution("randn(2, 2)").draw(11, "x"))
    assert results["drawn"]["point"]["y"] == results["typed"]["point"]["y"]
    assert {r["seed"] for r in document["results"]} == {11}


def test_a_bad_call_in_a_spec_file_points_at_its_key(cli, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("expr: sum(x)\nat:\n  x: uniform(1, 0, (2,))\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:3:6: at.x: 'uniform(1, 0, (2,))': uniform needs low < high" in result.stderr


def test_a_call_cut_at_a_comma_by_a_yaml_flow_mapping_says_to_quote_it(cli, tmp_path):
    spec = tmp_path / "flow.yaml"
    spec.write_text("expr: sum(x)\nat: {x: randn(2, 3)}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert f"{spec}:2:9: at.x: 'randn(2' is not a distribution call such as randn(2, 3): its '(' is not closed (in " \
           "a spec file's {...} mapping a comma ends the value: put the call in quotes" in said


def test_from_python_a_value_may_be_a_distribution_call():
    from gradcheck_cli import check

    result = check("sum(x**2)", at={"x": "randn(3)"}, seed=4)
    assert result.status == "pass" and result.seed == 4
    assert np.array_equal(result.point["x"], parse_distribution("randn(3)").draw(4, "x"))
    bad = check("sum(x**2)", at={"x": "randn(3,,)"})
    assert bad.status == "error" and bad.error["message"] == "at['x']: 'randn(3,,)': an empty argument (two commas?)"


def test_worker_processes_draw_the_same_values(cli_json, tmp_path):
    spec = tmp_path / "two.yaml"
    spec.write_text("expr: sum(x**3)\nseed: 9\nat: {x: randn(2)}\ncases:\n  - name: a\n  - name: b\n")
    _, here = cli_json(str(spec), "-j", "1")
    _, workers = cli_json(str(spec), "-j", "2")
    assert [r["point"] for r in here["results"]] == [r["point"] for r in workers["results"]]
    assert here["results"][0]["point"]["x"] == list(parse_distribution("randn(2)").draw(9, "x"))
