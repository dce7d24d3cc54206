"""Numbers, flags and names in spec files: read as written, each key with its type and range (issue 15).

PyYAML reads YAML 1.1, where `017` is 15, `1:30` is 90, `0x1F` is 31, `1_000`
is 1000 and `yes`/`on` are true.  A spec file means what it shows: those forms
are refused with a message saying how YAML 1.1 would read them, integer keys
refuse fractions, and every range is checked at load, at file:line:column.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradcheck_cli.core.errors import SpecError
from gradcheck_cli.spec.spec_file import load

POINT = "expr: x\nat: {x: 1}\n"


def _write(tmp_path, text: str, name: str = "n.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _refusal(tmp_path, text: str) -> str:
    with pytest.raises(SpecError) as raised:
        load(_write(tmp_path, text), display="n.yaml")
    return str(raised.value)


@pytest.mark.parametrize("text, message", [
    # integer keys take integers: no truncation of a fraction
    (POINT + "order: 1.9\n", "n.yaml:3:8: order: expected 1 or 2, got 1.9"),
    (POINT + "order: 3\n", "n.yaml:3:8: order: expected 1 or 2, got 3"),
    (POINT + "order: two\n", "n.yaml:3:8: order: expected 1 or 2, got 'two'"),
    (POINT + "order: [1]\n", "n.yaml:3:8: order: expected a single value, got a list"),
    ("expr: x\nsample: {n: 2.5, domain: {x: [0, 1]}}\n",
     "n.yaml:2:13: sample.n: expected an integer from 1 to 10,000, got 2.5"),
    ("expr: x\nsample: {n: 1e9, domain: {x: [0, 1]}}\n", "sample.n: expected an integer from 1 to 10,000, got 1e9"),
    ("expr: x\nsample: {n: 0, domain: {x: [0, 1]}}\n", "sample.n: expected an integer from 1 to 10,000, got 0"),
    # seeds: 0 <= s < 2**63
    (POINT + "seed: 9223372036854775808\nfast: true\n",
     "n.yaml:3:7: seed: expected an integer from 0 to 2**63 - 1, got 9223372036854775808"),
    (POINT + "seed: -1\n", "seed: expected an integer from 0 to 2**63 - 1, got -1"),
    (POINT + "seed: 1.5\n", "seed: expected an integer from 0 to 2**63 - 1, got 1.5"),
    ("expr: x\nsample: {seed: 1e19, domain: {x: [0, 1]}}\n", "sample.seed: expected an integer from 0 to 2**63 - 1"),
    # YAML 1.1 forms that read as another number than the text shows
    ("expr: x\nat: {x: 017}\n", "n.yaml:2:9: at.x: expected a decimal number, got 017: YAML 1.1 reads a leading "
                                "zero as octal, 15 (write 15, or 17 without the zero)"),
    ("expr: x\nat: {x: 08}\n", "at.x: expected a decimal number, got 08: a leading zero means octal in YAML 1.1 "
                               "(write 8)"),
    ("expr: x\nat: {x: 1:30}\n", "at.x: expected a decimal number, got 1:30: YAML 1.1 reads it as the base-60 "
                                 "number 90 (write 90)"),
    ("expr: x\nat: {x: 0x1F}\n", "at.x: expected a decimal number, got 0x1F: YAML 1.1 reads it as the hexadecimal "
                                 "number 31 (write 31)"),
    ("expr: x\nat: {x: [1, 0b101]}\n", "n.yaml:2:13: at.x[1]: expected a decimal number, got 0b101: YAML 1.1 reads "
                                       "it as the binary number 5 (write 5)"),
    ("expr: x\nat: {x: 1_000}\n", "at.x: expected a decimal number, got 1_000: YAML 1.1 reads it as 1000, ignoring "
                                  "the underscores (write 1000)"),
    ("expr: x\nat: {x: 1}\nexpect: {x: 1_0.5}\n", "expect.x: expected a decimal number, got 1_0.5"),
    (POINT + "tolerance: {rtol: 0x10}\n", "tolerance.rtol: expected a decimal number, got 0x10"),
    (POINT + "step: 1:00\nmethod: central\n", "step: expected a decimal number, got 1:00"),
    (POINT + "order: 01\n", "order: expected a decimal number, got 01"),
    (POINT + "seed: 0o17\n", "seed: expected an integer from 0 to 2**63 - 1, got '0o17'"),
    ("expr: x\nsample: {domain: {x: [0, 1:00]}}\n", "sample.domain.x: expected a decimal number, got 1:00"),
    # within float64, finite
    ("expr: x\nat: {x: 1e999}\n", "n.yaml:2:9: at.x: expected a number within float64's range, got 1e999"),
    ("expr: x\nat: {x: 1e-400}\n", "at.x: expected a number within float64's range, got 1e-400 (it would be read "
                                   "as 0)"),
    (POINT + "tolerance: {atol: .inf}\n", "tolerance.atol: expected a finite number, got '.inf'"),
    ("expr: x\nat: {x: -Infinity}\n", "at.x: expected a finite number, got '-Infinity'"),
    ("expr: x\nsample: {domain: {x: [-.inf, 0]}}\n", "sample.domain.x: expected a finite number, got '-.inf'"),
    # ranges of the other numeric keys
    (POINT + "tolerance: {rtol: -1}\n", "n.yaml:3:19: tolerance.rtol: expected a non-negative number, got -1"),
    (POINT + "step: 0\nmethod: central\n", "n.yaml:3:7: step: expected a positive number, got 0"),
    ("expr: x\nsample: {domain: {x: [1, 1]}}\n", "sample.domain.x: expected [low, high] with low < high"),
    ("expr: x\nsample: {domain: {x: [1]}}\n", "sample.domain.x: expected [low, high] with low < high"),
    # flags: true or false only, not YAML 1.1's yes/no/on/off, nor numbers
    (POINT + "fast: yes\n", "n.yaml:3:7: fast: expected true or false, got 'yes' (YAML 1.1 reads it as true: "
                            "write true)"),
    (POINT + "precise: on\n", "precise: expected true or false, got 'on' (YAML 1.1 reads it as true: write true)"),
    (POINT + "explain: Off\n", "explain: expected true or false, got 'Off' (YAML 1.1 reads it as false: write false)"),
    (POINT + "fast: 1\n", "fast: expected true or false, got '1'"),
    (POINT + "fast: 'true'\n", "fast: expected true or false, got 'true'"),
    # lists of names are not empty
    (POINT + "wrt: []\n", "n.yaml:3:6: wrt: expected at least one variable name: leave wrt out to check every "
                           "variable"),
    (POINT + "wrt: ''\n", "n.yaml:3:6: wrt: expected at least one variable name"),
    (POINT + "wrt: ' , '\n", "wrt: expected at least one variable name"),
    (POINT + "wrt: [x, x]\n", "wrt: 'x' is listed twice"),
    (POINT + "function: m:f\nargs: []\n", "n.yaml:4:7: args: expected at least one variable name: the inputs m:f "
                                           "takes, in order"),
    (POINT + "function: m:f\ncases: [{args: ''}]\n", "cases[0].args: expected at least one variable name: the inputs "
                                                     "the function takes"),
    # a sample's points times their elements stays within the element limit
    ("expr: sum(x)\nat: {x: [" + ", ".join(["0"] * 2000) + "]}\nsample: {n: 10000, domain: {x: [0, 1]}}\n",
     "sample.n: expected at most 5,000 points of 2,000 sampled elements each (10,000,000 in all), got 10000"),
], ids=lambda value: value[:48])
def test_refused_with_file_line_column_key_and_what_was_expected(tmp_path, text, message):
    assert message in _refusal(tmp_path, text)


@pytest.mark.parametrize("written, value", [
    ("1e3", 1000.0), ("1.0e+3", 1000.0), ("1.0e3", 1000.0), ("1E-3", 0.001), ("+.5", 0.5), ("-.5", -0.5),
    ("5.", 5.0), ("-0", 0.0), ("017.5", 17.5), ("'017'", 17.0), ('"2"', 2.0), ("pi/4", np.pi / 4),
    ("2**-3", 0.125), ("-1e-300", -1e-300), ("1.7976931348623157e308", 1.7976931348623157e308),
])
def test_numbers_are_read_as_written(tmp_path, written, value):
    (spec,) = load(_write(tmp_path, f"expr: x\nat: {{x: {written}}}\nexpect: {{x: [{written}]}}\n"))
    assert float(spec.at["x"]) == value and spec.expected["x"].tolist() == [value]


@pytest.mark.parametrize("written, order", [("1", 1), ("2", 2), ("2.0", 2), ("'2'", 2), ("+1", 1)])
def test_an_integral_number_is_an_integer(tmp_path, written, order):
    (spec,) = load(_write(tmp_path, POINT + f"order: {written}\n"))
    assert spec.order == order and type(spec.order) is int


@pytest.mark.parametrize("written, seed", [
    ("0", 0), ("4294967296", 2**32), ("1099511627776", 2**40), ("9223372036854775807", 2**63 - 1),
    ("1e18", 10**18), ("'2**40'", 2**40),
])
def test_seeds_up_to_2_63_are_exact(tmp_path, written, seed):
    (spec,) = load(_write(tmp_path, POINT + f"seed: {written}\n"))
    assert spec.seed == seed and type(spec.seed) is int


def test_a_large_seed_works_end_to_end(cli_json, tmp_path):
    _write(tmp_path, "expr: sin(x)\nat: {x: [1, 2]}\nfast: true\nseed: 1099511627776\n", "fast.yaml")
    _write(tmp_path, "expr: sin(x)\nsample: {n: 2, seed: 9223372036854775807, domain: {x: [0, 1]}}\n", "s.yaml")
    code, doc = cli_json(str(tmp_path))
    assert code == 0, doc["results"]
    names = [r["name"] for r in doc["results"]]
    assert names[1:] == [f"s sampled [{k}/2, seed 9223372036854775807]" for k in (1, 2)]
    assert "seed 1099511627776" in json.dumps(doc["results"][0])


@pytest.mark.parametrize("key, written", [
    ("name", "no"), ("name", "on"), ("name", "017"), ("name", "1:30"), ("name", "0x1F"), ("name", "1.50"),
    ("name", "2024-01-01"), ("name", ".inf"), ("name", "true"),
])
def test_text_keys_are_read_as_written(tmp_path, key, written):
    (spec,) = load(_write(tmp_path, POINT + f"{key}: {written}\n"))
    assert getattr(spec, key) == written


def test_names_that_yaml_1_1_reads_as_booleans_are_names(tmp_path):
    (spec,) = load(_write(tmp_path, "expr: on + off*y\nat: {on: 1, off: 2, y: 3}\nwrt: [on, y]\n"))
    assert spec.expr == "on + off*y" and sorted(spec.at) == ["off", "on", "y"] and spec.wrt == ["on", "y"]


@pytest.mark.parametrize("written, value", [("true", True), ("false", False), ("True", True), ("FALSE", False)])
def test_flags_are_true_or_false(tmp_path, written, value):
    (spec,) = load(_write(tmp_path, POINT + f"fast: {written}\nexplain: {written}\nprecise: {written}\n"))
    assert (spec.fast, spec.explain, spec.precise) == (value, value, value)


def test_a_sample_size_written_as_a_float_is_an_integer(tmp_path):
    specs = load(_write(tmp_path, "expr: x\nsample: {n: 3.0, seed: 1, domain: {x: [0, 1]}}\n"))
    assert len(specs) == 3


def test_a_domain_wider_than_float64_is_sampled_without_overflow(tmp_path):
    specs = load(_write(tmp_path, "expr: x\nsample: {n: 20, seed: 5, domain: {x: [-1e308, 1.5e308]}}\n"))
    xs = [float(s.at["x"]) for s in specs]
    assert len(xs) == 20 and all(-1e308 <= x <= 1.5e308 for x in xs)
    assert min(xs) < -1e306 and max(xs) > 1e306  # spread over the box, not piled at an end


def test_an_ordinary_domain_draws_the_same_points_as_before(tmp_path):
    """Seeds printed in names and written into files keep reproducing the same points."""
    (spec,) = load(_write(tmp_path, "expr: x\nsample: {n: 1, seed: 3, domain: {x: [-1, 1]}}\n"))
    assert float(spec.at["x"]) == np.random.default_rng(3).uniform(-1, 1)


def test_the_folder_run_goes_on_past_a_file_with_a_bad_number(cli_json, tmp_path):
    _write(tmp_path, "expr: sin(x)\nat: {x: 1}\n", "a_good.yaml")
    _write(tmp_path, POINT + "order: 1.9\n", "b_bad.yaml")
    _write(tmp_path, "expr: x\nsample: {n: 2, seed: 1, domain: {x: [-1e308, 1e308]}}\n", "c_wide.yaml")
    _write(tmp_path, "expr: cos(x)\nat: {x: 2}\n", "d_good.yaml")
    code, doc = cli_json(str(tmp_path))
    assert code == 2
    statuses = {r["file"].rsplit("/", 1)[-1]: r["status"] for r in doc["results"]}
    assert statuses == {"a_good.yaml": "pass", "b_bad.yaml": "error", "c_wide.yaml": "pass", "d_good.yaml": "pass"}
    error = next(r["error"] for r in doc["results"] if r["status"] == "error")
    assert "b_bad.yaml:3:8: order: expected 1 or 2, got 1.9" in error["message"]


def test_the_cli_exits_2_with_the_message(cli, tmp_path):
    result = cli(str(_write(tmp_path, "expr: x\nat: {x: 017}\n")))
    assert result.exit_code == 2
    assert "n.yaml:2:9: at.x: expected a decimal number, got 017" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_nested_cases_sample_key_names_its_whole_path(cli, tmp_path):
    spec = tmp_path / "nested.yaml"
    spec.write_text("expr: x\ncases:\n  - at: {x: 1}\n    sample: {n: 2.5, domain: {x: [0, 1]}}\n")
    result = cli(str(spec))
    assert result.exit_code == 2 and f"{spec}:4:17: cases[0].sample.n: expected an integer" in result.stderr


def test_an_error_inside_a_literal_block_points_at_its_file_line_and_column(cli, tmp_path):
    spec = tmp_path / "block.yaml"
    spec.write_text("name: t\nexpr: |\n  x +\n    sinn(x)\nat: {x: 1}\n")
    result = cli(str(spec))
    assert result.exit_code == 2 and f"{spec}:4:5: expr: unknown function 'sinn'" in result.stderr


def test_a_seed_written_with_a_fraction_keeps_every_digit(cli_json, tmp_path):
    spec = tmp_path / "seed.yaml"
    spec.write_text("expr: x\nat: {x: 1}\nfast: true\nseed: 12345678901234567.0\n")
    code, document = cli_json(str(spec))
    assert code == 0 and "seed 12345678901234567 " in document["results"][0]["notes"][0]


def test_a_missing_value_is_worded_by_the_front_end_that_received_it(cli, tmp_path):
    from gradcheck_cli import check

    python = check("x*y", at={"x": 1})
    assert python.status == "error" and "--y" not in python.error["message"]
    assert python.error["message"] == "no value for y: the expression uses x, y (give it in at={'y': ...})"
    spec = tmp_path / "missing.yaml"
    spec.write_text("expr: x*y\ncases:\n  - at: {x: 1}\n")
    result = cli(str(spec))
    assert result.exit_code == 2 and "--y" not in result.stderr
    assert f"{spec}:3:9: cases[0].at: no value for y: the expression uses x, y" in result.stderr
    flag = cli("x*y", "--x", "1")
    assert flag.exit_code == 2 and "Missing option '--y'" in flag.stderr
