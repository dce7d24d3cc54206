"""Reporters: each turns a list of case results into text.  Name -> renderer."""

from __future__ import annotations

from . import json_, table

REPORTERS = {"table": table.render, "json": json_.render}
