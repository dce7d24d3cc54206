"""Shared helpers: run the CLI in-process and read its JSON against the schema."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest
from click.testing import CliRunner

from gradcheck_cli.cli import main

pytest_plugins = ["pytester"]

SCHEMA = json.loads(resources.files("gradcheck_cli").joinpath("schema/report.schema.json").read_text())


@pytest.fixture
def schema() -> dict:
    return SCHEMA


@pytest.fixture
def cli():
    """cli(*args) -> click Result; stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(*args, env=None):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def cli_json(cli):
    """cli_json(*args) -> (exit code, report dict validated against the schema)."""

    def invoke(*args):
        result = cli(*args, "--json")
        document = json.loads(result.stdout)
        jsonschema.validate(document, SCHEMA)
        return result.exit_code, document

    return invoke
