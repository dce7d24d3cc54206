"""Hostile and broken input: each one exits 2 with one paragraph naming the problem, fast, never a traceback.

Every entry is an input someone could send in a pull request or type by
mistake: code-execution attempts, resource bombs, malformed values, misused
options, files that are not files.  The list is the contract of issue 6; a
crash found by the fuzzers (fuzz/README.md) is added here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import gradient_row

SECONDS = 2.0  # CPU seconds for the whole handling of one hostile input, in-process, imports already warm: a bomb
# (alias, nesting, a huge repetition) that were not refused early would take minutes; CPU time, not wall time,
# since the machine running the suite is shared


def _expr(*args):
    return lambda tmp: list(args)


def _file(name: str, text: str | bytes, *extra: str):
    """A spec file holding `text`, then the CLI arguments that name it."""

    def make(tmp: Path) -> list[str]:
        path = tmp / name
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return [str(path), *extra]

    return make


def _fs(build):
    """A filesystem object made by `build(tmp) -> path`, given as the target."""
    return lambda tmp: [str(build(tmp))]


def _symlink_loop(tmp: Path) -> Path:
    loop = tmp / "loop.yaml"
    loop.symlink_to(loop)
    return loop


def _broken_symlink(tmp: Path) -> Path:
    link = tmp / "gone.yaml"
    link.symlink_to(tmp / "missing.yaml")
    return link


def _fifo(tmp: Path) -> Path:
    fifo = tmp / "pipe.yaml"
    os.mkfifo(fifo)  # opening it would block until a writer came
    return fifo


def _empty_folder(tmp: Path) -> Path:
    (tmp / "specs").mkdir()
    (tmp / "specs" / "notes.txt").write_text("not a spec")
    return tmp / "specs"


def _under_a_file(tmp: Path) -> Path:
    (tmp / "plain").write_text("")
    return tmp / "plain" / "case.yaml"


SPEC = "expr: x\nat: {x: 1}\n"
BILLION_LAUGHS = ("a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                  "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n")

HOSTILE = {
    # --- code execution: nothing is ever evaluated as Python ---
    "python call": (_expr("__import__('os').mkdir('pwned')", "--x", "1"), "unknown function '__import__'"),
    "text as a value": (_expr("sin('os')", "--x", "1"), "text in quotes is only an option's value"),
    "dunder function": (_expr("__import__(x)", "--x", "1"), "unknown function '__import__'"),
    "eval": (_expr("eval(x)", "--x", "1"), "unknown function 'eval'"),
    "exec": (_expr("exec(x)", "--x", "1"), "unknown function 'exec'"),
    "open": (_expr("open(x)", "--x", "1"), "unknown function 'open'"),
    "attribute escape": (_expr("x.__class__.__bases__[0].__subclasses__()", "--x", "1"),
                         "unknown attribute '__class__'"),
    "lambda": (_expr("lambda: x", "--x", "1"), "unexpected ':'"),
    "comprehension": (_expr("[x for x in y]", "--x", "1"), "expected an expression, found '['"),
    "statement after ;": (_expr("x; import os", "--x", "1"), "only bindings"),
    "conditional": (_expr("x if x else y", "--x", "1"), "missing operator before 'if'"),
    "value as code": (_expr("x", "--x", "__import__('os').getcwd()"), "is not a number"),
    "yaml python object": (_file("p.yaml", "expr: !!python/object/apply:os.mkdir ['pwned']\nat: {x: 1}\n"),
                           "p.yaml:1:7: the tag !!python/object/apply:os.mkdir is not allowed"),
    "yaml python name": (_file("n.yaml", "expr: x\nat: {x: !!python/name:os.system }\n"), "python/name"),
    "yaml binary tag": (_file("b.yaml", "expr: !!binary aGVsbG8=\nat: {x: 1}\n"), "binary"),
    # --- resource bombs: limits, checked without recursion ---
    "100,000 minus signs": (_expr("-" * 99_999 + "x", "--x", "1"), "nests deeper than 200 levels"),
    "100,000 parentheses": (_expr("(" * 100_000, "--x", "1"), "nests deeper than 200 levels"),
    "nested calls": (_expr("sin(" * 300 + "x" + ")" * 300, "--x", "1"), "nests deeper than 200 levels"),
    "power tower": (_expr("x" + "**x" * 300, "--x", "1"), "nests deeper than 200 levels"),
    "too long": (_expr("x" + "+x" * 50_000, "--x", "1"), "100,001 characters long; the limit is 100,000"),
    "too many nodes": (_expr("+".join(f"{i}*x" for i in range(60)), "--x", "1", "--max-nodes", "100"),
                       "more than 100 nodes"),
    "huge literal": (_expr("1e999*x", "--x", "1"), "too large"),
    "huge constant tensor": (_expr("sum(x)+sum(eye(100000))", "--x", "1,2"), "is more than 10,000,000"),
    "too many elements": (_expr("x", "--x", "1,2,3", "--max-elements", "2"), "limit is 2"),
    "jacobian too big": (_expr("x", "--x", ",".join(["1"] * 1500)), "its Jacobian would have 2,250,000 entries"),
    "deeply nested value": (_expr("x", "--x", "[" * 10_000 + "1" + "]" * 10_000), "rectangular"),
    "400-digit value": (_expr("x", "--x", "1" * 400), "is not a finite number"),
    "yaml alias bomb": (_file("bomb.yaml", BILLION_LAUGHS), "error"),
    "yaml deep nesting": (_file("deep.yaml", "expr: x\nat: {x: " + "[" * 10_000 + "1" + "]" * 10_000 + "}\n"),
                          "error"),
    "yaml 10 MB": (_file("huge.yaml", "expr: x\n" + "#" * (10 * 1024 * 1024) + "\n"), "limited to 256 KiB"),
    "spec order NaN": (_file("on.yaml", "expr: x\nat: {x: 1}\norder: .nan\n"), "order: expected a finite number"),
    "spec 400-digit tolerance": (_file("t4.yaml", "expr: x\nat: {x: 1}\ntolerance: {rtol: " + "1" * 400 + "}\n"),
                                 "tolerance.rtol: expected a number"),
    "spec negative seed": (_file("sd.yaml", "expr: x\nat: {x: 1}\nseed: -1\nfast: true\n"),
                           "seed: expected an integer from 0 to 2**63 - 1"),
    "spec 400-digit value": (_file("v4.yaml", "expr: x\nat: {x: " + "1" * 400 + "}\n"), "at.x: expected a number"),
    "spec infinite sample size": (_file("ni.yaml", "expr: x\nsample: {n: .inf, domain: {x: [0, 1]}}\n"),
                                  "sample.n: expected a finite number"),
    "yaml sample bomb": (_file("s.yaml", SPEC + "sample: {n: 1000000000}\n"),
                         "sample.n: expected an integer from 1 to 10,000"),
    # --- numerical faults at the point ---
    "log of a negative": (_expr("x + log(x - 2)", "--x", "1"), "log is defined for x > 0, and x - 2 = -1"),
    "division by zero": (_expr("1/(x-x)", "--x", "1"), "the divisor must be non-zero"),
    "0/0": (_expr("x/x", "--x", "0"), "is NaN at this point"),
    "nan value": (_expr("x", "--x", "nan"), "'nan' is not a finite number"),
    "infinite value": (_expr("x", "--x", "-inf"), "'-inf' is not a finite number"),
    # --- text that is not an expression ---
    "empty": (_expr("", "--x", "1"), "expected an expression, found end of input"),
    "blank": (_expr("   \t ", "--x", "1"), "expected an expression, found end of input"),
    "NUL byte": (_expr("x\x00", "--x", "1"), "unexpected character '\\x00'"),
    "not UTF-8": (_expr("sin(x\udcff)", "--x", "1"), "is not valid UTF-8 text (byte 0xff at character 6)"),
    "value not UTF-8": (_expr("x", "--x", "\udce9"), "is not valid UTF-8 text (byte 0xe9"),
    "caret": (_expr("x^2", "--x", "1"), "use ** for powers"),
    # --- command-line misuse ---
    "no arguments": (_expr(), "Missing argument 'EXPRESSION | PATH...'"),
    "unknown option": (_expr("x", "--x", "1", "--jsno"), "No such option '--jsno'. (Did you mean"),
    "variable named like an option": (_expr("json*x", "--x", "1"), "give it as --at json=VALUE"),
    "missing variable": (_expr("x*y", "--x", "1"), "Missing option '--y'"),
    "variable given twice": (_expr("x", "--x", "1", "--x", "2"), "x is given twice"),
    "option without value": (_expr("x*y", "--x", "1", "--y"), "Option '--y' requires an argument"),
    "two expressions": (_expr("x", "y", "--x", "1"), "expected one expression, got 2 arguments"),
    "negative tolerance": (_expr("x", "--x", "1", "--rtol", "-1"), "not a finite non-negative number"),
    "zero jobs": (_expr("x", "--x", "1", "--jobs", "0"), "0 is not in the range x>=1"),
    "unknown format": (_expr("x", "--x", "1", "--format", "xml"), "'xml' is not one of"),
    "report into a missing folder": (_expr("x", "--x", "1", "-o", "/nonexistent/dir/r.json"), "does not exist"),
    "manual formula broken": (_expr("sin(x)", "--x", "1", "--manual", "x=cos(x"), "'(' was never closed"),
    "manual of an unknown variable": (_expr("x*y", "--x", "1", "--y", "2", "--manual", "x=q"), "uses 'q'"),
    # --- files and folders ---
    "missing file": (lambda tmp: [str(tmp / "nope.yaml")], "no such file or folder"),
    "folder without specs": (_fs(_empty_folder), "no spec files (*.yaml, *.yml) in this folder"),
    "symlink loop": (_fs(_symlink_loop), "a symbolic link loop"),
    "broken symlink": (_fs(_broken_symlink), "a broken symbolic link"),
    "named pipe": (_fs(_fifo), "not a regular file or folder"),
    "path through a file": (_fs(_under_a_file), "Not a directory"),
    "empty spec": (_file("e.yaml", ""), "the file is empty"),
    "spec not UTF-8": (_file("u.yaml", b"expr: x\xff\nat: {x: 1}\n"), "not UTF-8 text"),
    "spec duplicate key": (_file("d.yaml", "expr: x\nexpr: y\nat: {x: 1}\n"), "expr: duplicate key"),
    "spec expr is a mapping": (_file("m.yaml", "expr: {a: 1}\nat: {x: 1}\n"), "expected a single value, got a mapping"),
    "spec unknown key": (_file("k.yaml", SPEC + "tolerence: {rtol: 1}\n"), "did you mean 'tolerance'"),
    "spec bad value": (_file("v.yaml", "expr: x\nat: {x: [1, [2]]}\n"), "rectangular"),
    "spec not a mapping": (_file("l.yaml", "- expr: x\n"), "error"),
    # --- found by the atheris fuzzers (fuzz/README.md) ---
    "extremum of an empty slice": (_expr("min(x[:0]*T)", "--x", "1,2", "--T", "3"),
                                   "the largest or smallest of zero elements is not defined"),
    "value beyond float32": (_expr("sum(W*v)", "--W", "[[1,2,3e123],[4,5,6]]", "--v", "1,2,3", "--dtype", "float32"),
                             "W: 3e+123 is beyond the range of float32"),
    "empty value": (_expr("su - (x[5:2].T)", "--x", "1,2,3", "--su", "1"), "the expression's value is empty"),
    "mean of an empty slice": (_expr("mean(x[:0]) + sum(x)", "--x", "1,2"), "the mean of zero elements"),
    "logsumexp of an empty slice": (_expr("logsumexp(x[:0]) + sum(x)", "--x", "1,2"), "logsumexp of zero elements"),
    "softmax of an empty slice": (_expr("sum(softmax(x[:0])) + sum(x)", "--x", "1,2"), "a softmax of zero elements"),
    "tensor-valued constant as a value": (_expr("x", "--x", "eye(2)"), "is not a number (it has shape (2, 2)"),
    "indexed scalar as a value": (_expr("x", "--x", "0[0]"), "too many indices"),
    "sample outside every domain": (_file("sd.yaml", "expr: log(x)\nsample: {n: 1000, domain: {x: [-2, -1]}}\n"),
                                    "log is defined for x > 0"),
    "sample of a broken expression": (_file("sp.yaml", "expr: f(x)\nsample: {n: 1000, domain: {x: [0, 1]}}\n"),
                                      "'f' is not a function"),
    "spec option on the command line": (_file("o.yaml", SPEC, "--wrt", "x"), "--wrt applies to an expression"),
}


@pytest.fixture(scope="module", autouse=True)
def warm_imports():
    """Import numpy, torch and the engines once, so the timing below measures the handling itself."""
    from gradcheck_cli import check

    check("x**2", at={"x": 1.0})


def test_there_are_at_least_40_hostile_inputs():
    assert len(HOSTILE) >= 40


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_exits_2_with_one_paragraph(cli, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)  # where a payload that ran would leave its folder
    make_args, message = HOSTILE[name]
    args = make_args(tmp_path)
    start = time.process_time()
    result = cli(*args)
    elapsed = time.process_time() - start
    assert result.exit_code == 2, result.stdout + result.stderr
    text = result.stderr.strip()
    assert text.startswith("error: ") and message in text, text[:500]
    assert "\n\n" not in text and "Traceback" not in text  # one paragraph, no stack
    assert not (tmp_path / "pwned").exists()
    assert elapsed < SECONDS, f"{elapsed:.2f} s"


@pytest.mark.parametrize("name", ["python call", "100,000 parentheses", "unknown option", "symlink loop",
                                  "yaml alias bomb", "log of a negative"])
def test_hostile_input_with_json_gives_one_error_document(cli_json, tmp_path, name):
    make_args, _ = HOSTILE[name]
    code, document = cli_json(*make_args(tmp_path))
    assert code == 2
    assert document["summary"]["errors"] >= 1
    assert all(r["status"] == "error" and r["error"]["message"] for r in document["results"])


@pytest.mark.slow
def test_non_utf8_bytes_from_the_real_command_line(tmp_path):
    """The OS hands Python undecodable bytes as surrogates; the installed command must name the byte."""
    result = subprocess.run([sys.executable, "-m", "gradcheck_cli", b"sin(x\xff)", "--x", "1"],
                            capture_output=True, timeout=60)
    assert result.returncode == 2
    assert b"not valid UTF-8 text (byte 0xff" in result.stderr and b"Traceback" not in result.stderr


def test_a_case_with_a_numerical_fault_does_not_stop_the_next_cases(cli_json, tmp_path):
    (tmp_path / "a.yaml").write_text("expr: log(x)\ncases:\n  - at: {x: -1}\n  - at: {x: 0}\n  - at: {x: 2}\n")
    code, document = cli_json(str(tmp_path))
    assert code == 2
    statuses = [r["status"] for r in document["results"]]
    assert statuses == ["error", "error", "pass"]
    messages = [r["error"]["message"] for r in document["results"][:2]]
    assert "log(x)" in messages[0] and "x = -1" in messages[0]
    assert "log(x) is infinite at this point" in messages[1]


def test_an_undefined_derivative_renders_in_every_format(cli, cli_json):
    """Found by fuzz_check: an entry made `undefined` without one-sided values crashed the table."""
    result = cli("x + sqrt(y)", "--x", "1", "--y", "0", "--color", "never")
    assert result.exit_code == 0 and "undefined" in result.stdout and "Traceback" not in result.stdout
    code, document = cli_json("x + sqrt(y)", "--x", "1", "--y", "0")
    row = gradient_row(document["results"][0]["gradients"], "y")
    assert code == 0 and row["status"] == "undefined" and row["finite_difference"] is None
