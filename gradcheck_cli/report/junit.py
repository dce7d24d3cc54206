"""JUnit XML, as GitLab, Jenkins and most CI systems read it.

A discrepancy is a <failure>, an invalid spec or undefined point an <error>;
inconclusive and undefined verdicts are passed with a <system-out> note.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..compare import CaseResult
from .table import plain_case
from .text import failure_sentence


def render(results: list[CaseResult], settings: dict) -> str:
    suites = ET.Element("testsuites", name="gradcheck")
    suite = ET.SubElement(suites, "testsuite", name="gradcheck", tests=str(len(results)),
                          failures=str(sum(r.status == "fail" for r in results)),
                          errors=str(sum(r.status == "error" for r in results)), skipped="0")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=result.file or "expression", name=result.name)
        if result.line:
            case.set("line", str(result.line))
        if result.file:
            case.set("file", result.file)
        if result.status in ("fail", "error"):
            tag = "failure" if result.status == "fail" else "error"
            element = ET.SubElement(case, tag, message=failure_sentence(result), type=result.status)
            element.text = plain_case(result)
        elif result.status != "pass":
            ET.SubElement(case, "system-out").text = failure_sentence(result)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
