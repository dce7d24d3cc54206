"""GitHub Actions workflow commands: one `::error` annotation per failing or broken case, a `::warning` per
inconclusive or undefined one (an `::error` under strict, where it fails the run: ReportSettings.fails).

Escaping follows the Actions toolkit: in the message `%`, CR and LF are
percent-encoded; in properties `:` and `,` are too.  Before that, user text is made
printable (safe_text), so no control character reaches the log.  The table printed beside
the annotations never starts a line with `::` (table.py applies safe_text.inert_lines).
"""

from __future__ import annotations

from ..core.safe_text import printable
from ..verdict.compare import CaseResult
from . import ReportSettings, fails_the_run
from .text import failure_sentence

LEVELS = {"fail": "error", "error": "error", "inconclusive": "warning", "undefined": "warning"}  # without strict


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(result: CaseResult, strict: bool = False) -> str | None:
    level = "error" if fails_the_run(result.status, strict) else LEVELS.get(result.status)
    if level is None:
        return None
    properties = []
    if result.file:
        properties.append(f"file={escape_property(printable(result.file))}")
    line, column = _position(result)
    if line:
        properties.append(f"line={line}")
    if column:
        properties.append(f"col={column}")
    properties.append(f"title={escape_property('gradcheck: ' + printable(result.name))}")
    sentence = failure_sentence(result)
    findings = [printable(c.message) for c in result.culprits]
    message = "\n".join([sentence] + [f"culprit: {m}" for m in findings if m not in sentence])
    return f"::{level} {','.join(properties)}::{escape_data(message)}"


def _position(result: CaseResult) -> tuple[int | None, int | None]:
    if result.error and result.error.get("line") and result.file:
        return result.error["line"], result.error.get("column")
    return result.line, None


def render_case(result: CaseResult, settings: ReportSettings) -> str:
    line = annotation(result, settings.strict)
    return line + "\n" if line else ""


def render(results: list[CaseResult], settings: ReportSettings) -> str:
    return "".join(render_case(r, settings) for r in results)
