"""Typed boundaries between the stages: one table of settings behind every front end, reporters that say what
they can do, statuses as an enum that is also its JSON string."""

from __future__ import annotations

import inspect
import json

import pytest

from gradcheck_cli import check
from gradcheck_cli.core.settings import SETTINGS
from gradcheck_cli.report import FORMATS, ReportSettings, reporter
from gradcheck_cli.spec.spec_file import CASE_KEYS
from gradcheck_cli.verdict.compare import STATUS_ORDER, Status


def test_every_setting_is_an_option_of_the_command_with_the_tables_help(cli):
    shown = " ".join(cli("--help").stdout.split())
    for setting in (s for s in SETTINGS.values() if s.option):
        assert setting.option in shown, setting.name
        assert " ".join(setting.help.split()[:6]) in shown, setting.name


def test_every_setting_with_a_key_is_a_key_of_spec_files_and_every_argument_a_keyword_of_check():
    keywords = inspect.signature(check).parameters
    for setting in SETTINGS.values():
        if setting.key:
            assert setting.key.partition(".")[0] in CASE_KEYS, setting.name
        if setting.argument:  # None: a setting of the run, not of a case (--strict), which check() has not
            assert setting.argument.partition(".")[0] in keywords, setting.name


@pytest.mark.parametrize("name", FORMATS)
def test_a_reporter_renders_a_result_and_says_whether_it_streams(name):
    chosen = reporter(name)
    result = check("x**2", at={"x": 3}, manual={"x": "3*x"})  # a failure: every format says something of it
    whole = chosen.render([result], ReportSettings(color="never"))
    assert chosen.name == name and "x**2" in whole
    if chosen.streams:
        assert chosen.render_case(result, ReportSettings(color="never")).strip()


def test_only_the_formats_that_can_write_one_case_at_a_time_stream():
    assert {name for name in FORMATS if reporter(name).streams} == {"table", "jsonl", "github"}


def test_statuses_are_an_enum_ordered_best_first_and_written_as_their_string(cli_json):
    assert STATUS_ORDER == (Status.PASS, Status.UNDEFINED, Status.INCONCLUSIVE, Status.FAIL, Status.ERROR)
    assert check("x**2", at={"x": 3}).status is Status.PASS
    assert check("x**2", at={"x": 3}, manual={"x": "3*x"}).status is Status.FAIL
    assert check("x**", at={"x": 3}).status is Status.ERROR
    assert json.dumps(Status.FAIL) == '"fail"' and f"{Status.INCONCLUSIVE}" == "inconclusive"
    _, document = cli_json("x**2", "--x", "3", "--manual", "x=3*x")
    assert document["results"][0]["status"] == "fail" and document["results"][0]["gradients"][0]["status"] == "fail"
