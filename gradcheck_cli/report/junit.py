"""JUnit XML, as GitLab, Jenkins and most CI systems read it.

A discrepancy is a <failure>, an invalid spec or a point where the function is undefined an <error>;
inconclusive and undefined verdicts are passed with a <system-out> note, or under strict are a <failure>
of that type (ReportSettings.fails: the rule the exit code follows).

XML 1.0 cannot hold most control characters or a lone surrogate (a non-UTF-8 file
name), so names, paths and messages are written printable (safe_text): the document
is well-formed whatever the spec says.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..core.safe_text import LEGACY_COMMAND, printable
from ..verdict.compare import CaseResult
from . import ReportSettings
from .table import plain_case
from .text import failure_sentence


def render(results: list[CaseResult], settings: ReportSettings) -> str:
    suites = ET.Element("testsuites", name="gradcheck")
    suite = ET.SubElement(suites, "testsuite", name="gradcheck", tests=str(len(results)),
                          failures=str(sum(settings.fails(r.status) for r in results)),
                          errors=str(sum(r.status == "error" for r in results)), skipped="0")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=printable(result.file or "expression"),
                             name=printable(result.name))
        if result.line:
            case.set("line", str(result.line))
        if result.file:
            case.set("file", printable(result.file))
        if settings.fails(result.status) or result.status == "error":
            tag = "error" if result.status == "error" else "failure"
            element = ET.SubElement(case, tag, message=failure_sentence(result), type=result.status)
            element.text = plain_case(result)
        elif result.status != "pass":
            ET.SubElement(case, "system-out").text = failure_sentence(result)
    ET.indent(suites)
    text = ET.tostring(suites, encoding="unicode").replace(LEGACY_COMMAND, "#&#35;[")  # the same text, inert in CI
    return '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n"
