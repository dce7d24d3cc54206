"""Keyword arguments of a user's function (issue 18 item 4): `--kwargs`, `kwargs:` and `kwargs=`, literals only,
passed to the function and to its reference; bad ones are one line at the front end's own words, exit 2."""

from __future__ import annotations

import pytest

from gradcheck_cli import check

SCALED = """
    def scaled(x, scale=1.0, mode="valid", size=(1, 1), flip=False, bias=None):
        assert type(scale) is float and type(mode) is str and type(flip) is bool and bias is None
        assert type(size) is tuple and all(type(n) is int for n in size)
        y = x * scale if mode == "same" else x
        y = y.flip(0) if flip else y
        return y * size[0] + (0 if bias is None else bias)

    def reference(x, scale=1.0, mode="valid", size=(1, 1), flip=False, bias=None):
        return scaled(x, scale, mode, size, flip, bias).detach()
"""

def test_the_command_passes_literals_by_keyword_to_the_function_and_its_reference(cli_json, user_module):
    name = user_module(SCALED)
    code, document = cli_json("--function", f"{name}:scaled", "--reference", f"{name}:reference", "--x", "1,2",
                              "--kwargs", 'scale=2.5, mode="same", size=(3, 3), flip=True, bias=None')
    result = document["results"][0]
    assert code == 0 and result["function"]["inputs"] == ["x"]  # a keyword is not an input
    assert result["value"] == [15.0, 7.5]  # (2, 1) * 2.5 * 3: the reference's value, with the same keywords


def test_a_spec_file_and_check_pass_them_too(cli_json, user_module, tmp_path):
    name = user_module(SCALED)
    (tmp_path / "case.yaml").write_text(f"function: {name}:scaled\nexpr: 7.5*x\nat: {{x: [1, 2]}}\n"
                                        "kwargs: {scale: 2.5, mode: same, size: [3, 1], bias: null}\n")
    code, document = cli_json("case.yaml")
    assert code == 0 and document["results"][0]["status"] == "pass"
    result = check("7.5*x", at={"x": [1.0, 2.0]}, function=f"{name}:scaled", kwargs={"scale": 2.5, "mode": "same",
                                                                                      "size": [3, 1]})
    assert result.status == "pass"


@pytest.mark.parametrize("text, message", [
    ('scale=__import__("os").getcwd()', 'scale=__import__("os").getcwd(): expected a number, a string, True'),
    ("scale", "expected NAME=VALUE pairs only"),
    ("scale=1, scale=2", "scale is given twice"),
    ("size=(1.5, 2)", "size=(1.5, 2): expected"),
    ("scale=1)(mode=2", "expected NAME=VALUE pairs only"),
])
def test_anything_but_literals_is_refused_at_the_option_never_evaluated(cli, user_module, text, message):
    name = user_module(SCALED)
    result = cli("--function", f"{name}:scaled", "--x", "1,2", "--kwargs", text)
    assert result.exit_code == 2 and "Invalid value for '--kwargs'" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_keyword_the_function_does_not_take_is_named_in_each_front_ends_words(cli, user_module, tmp_path):
    name = user_module(SCALED)
    result = cli("--function", f"{name}:scaled", "--x", "1,2", "--kwargs", "scael=2")
    assert result.exit_code == 2
    assert f"error: --kwargs: {name}:scaled takes no keyword argument 'scael' (did you mean 'scale'?)" in result.stderr
    (tmp_path / "case.yaml").write_text(f"function: {name}:scaled\nat: {{x: [1, 2]}}\nkwargs:\n  scael: 2\n")
    result = cli("case.yaml")
    assert result.exit_code == 2 and "case.yaml:4:3: kwargs: " in result.stderr
    error = check("", at={"x": [1.0]}, function=f"{name}:scaled", kwargs={"scael": 2}).error
    assert error["message"].startswith("kwargs: ") and "'scael'" in error["message"]


@pytest.mark.parametrize("expr", ["", "x*2"], ids=["alone", "with an expression"])
def test_a_keyword_that_also_has_a_value_as_an_input_is_refused_at_kwargs(cli, user_module, expr):
    """`--kwargs x=1` beside `--x 1,2`: one value too many, said at --kwargs (it said "'x' is not an input of f
    (its inputs: none)", or refused the expression's variable)."""
    name = user_module(SCALED)
    result = cli(*([expr] if expr else []), "--function", f"{name}:scaled", "--x", "1,2", "--kwargs", "x=1")
    assert result.exit_code == 2
    assert f"error: --kwargs: {name}:scaled: 'x' is given both as a keyword and as an input with a value; give it " \
        "one way" in " ".join(result.stderr.split())


def test_a_bad_value_in_a_spec_file_is_at_its_line_and_column(cli, user_module, tmp_path):
    name = user_module(SCALED)
    (tmp_path / "case.yaml").write_text(f"function: {name}:scaled\nat: {{x: [1, 2]}}\nkwargs:\n  size: [1.5]\n")
    result = cli("case.yaml")
    assert result.exit_code == 2
    assert "case.yaml:4:9: kwargs.size: size=[1.5]: expected a number, a string, True, False, None or a tuple " \
           "of integers" in result.stderr
    assert check("", at={"x": [1.0]}, function=f"{name}:scaled", kwargs={"size": {1: 2}}).error["message"] == \
        "kwargs: size={1: 2}: expected a number, a string, True, False, None or a tuple of integers"


def test_keywords_without_a_function_are_refused(cli, tmp_path):
    refused = cli("x**2", "--x", "1", "--kwargs", "a=1").stderr
    assert "--kwargs and --init-kwargs are keyword arguments of --function" in refused
    (tmp_path / "case.yaml").write_text("expr: x**2\nat: {x: 1}\nkwargs: {a: 1}\n")
    result = cli(str(tmp_path / "case.yaml"))
    assert result.exit_code == 2
    assert "case.yaml:3:9: kwargs: keyword arguments (kwargs) are passed to a function" in result.stderr
