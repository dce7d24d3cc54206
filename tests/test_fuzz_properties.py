"""Property tests: arbitrary input gives a graph, a spec or one of our errors — never anything else.

Bounded and derandomized for CI; raise `max_examples` locally for longer runs.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck_cli.core.errors import GradcheckError
from gradcheck_cli.lang.graph import same_structure, to_text
from gradcheck_cli.lang.parser import parse
from gradcheck_cli.spec.spec_file import load

CI = settings(max_examples=400, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

TOKENS = ["x", "y", "2", ".5", "1e-3", "+", "-", "*", "/", "**", "@", "(", ")", ",", ";", "=", "[", "]", ":",
          ".T", "sin(", "log(", "sum(", "max(", "clamp(", "reshape(", "where(", "<", "==", " ", "z = ", "pi"]


@CI
@given(st.text(alphabet=string.printable, max_size=60))
def test_arbitrary_text_parses_or_raises_our_error(text):
    try:
        parse(text)
    except GradcheckError:
        pass


@CI
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_token_soup_parses_or_raises_our_error(text):
    try:
        expression = parse(text)
    except GradcheckError:
        return
    printed = to_text(expression.output, expression.names())
    assert same_structure(parse(printed, bindings={}).output, expression.output) or expression.bindings


def _yamlish():
    scalar = st.one_of(st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False, width=32),
                       st.sampled_from(["x", "sin(x)", "x**2", "one", "", "1e-8", "[1, 2]", "&a", "*a", "!!binary"]))
    value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.sampled_from(
                                                             ["x", "y", "rtol", "n", "seed", "domain"]), inner,
                                                             max_size=3)), max_leaves=8)
    keys = st.sampled_from(["name", "expr", "where", "at", "wrt", "manual", "expect", "tolerance", "dtype",
                            "cases", "sample", "order", "fast", "seed", "method", "step", "bogus"])
    return st.dictionaries(keys, value, max_size=6)


def _dump(data) -> str:
    import json

    return json.dumps(data)  # JSON is YAML: a well-formed document of any shape


@pytest.mark.slow
@CI
@given(_yamlish())
def test_arbitrary_spec_documents_load_or_raise_our_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("spec") / "case.yaml"
    path.write_text(_dump(data))
    try:
        load(path)
    except GradcheckError:
        pass


@pytest.mark.slow
@CI
@given(st.text(alphabet=string.printable, max_size=80))
def test_arbitrary_yaml_text_loads_or_raises_our_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("spec") / "case.yaml"
    path.write_text(text)
    try:
        load(path)
    except GradcheckError:
        pass
