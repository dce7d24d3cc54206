"""Spec files: YAML read safely into Specs, every error at file:line:column with its key path.

Only the YAML composer runs on the input (PyYAML's safe loader, with anchors,
aliases, non-standard tags and needless nesting refused); this module then
walks the node tree itself, so every value keeps its position, and reads each
value from its text as written: YAML 1.1's octal `017`, base-60 `1:30` or
boolean `yes` never slip in, and every number is checked for its key's type
and range here, at load.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from ..core.errors import GradcheckError, Origin, SpecError
from ..core.settings import RULES, SETTINGS, in_spec_files, precisions
from ..core.text import did_you_mean
from ..lang.lexer import IDENTIFIER
from ..lang.ops import CONSTANTS, FUNCTIONS
from .keyword_arguments import checked_value
from .random_inputs import parse_distribution
from .spec import Spec
from .value_files import load_values
from .values import DECIMAL, coerce_value, is_distribution_call, parse_scalar

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 16  # root, cases, a case, at, then nested lists for tensors
MAX_SAMPLES = 10_000
MAX_SEED = 2**63 - 1
SETTING_KEYS = tuple(dict.fromkeys(s.key.partition(".")[0] for s in SETTINGS.values() if s.key))  # tolerance once
CASE_KEYS = ("name", "expr", "where", "at", "sample") + SETTING_KEYS
FILE_KEYS = CASE_KEYS + ("cases",)
STR, INT, FLOAT, BOOL, NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
STANDARD_TAGS = {STR, INT, FLOAT, BOOL, NULL, "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
INTEGER = r"[+-]?[0-9]+"
LEADING_ZERO = r"[+-]?0[0-9_]+"  # an integer YAML 1.1 reads as octal (or, with an 8 or 9, as text)
NON_FINITE = r"(?i)[+-]?\.?(?:inf|infinity|nan)"  # YAML's .inf and .nan, and words


class _PlainData:
    """Untagged values are plain data: what YAML 1.1 reads as a date (or `=`, `<<`) is text, as written."""

    def resolve(self, kind, value, implicit):
        tag = super().resolve(kind, value, implicit)
        return tag if tag in STANDARD_TAGS else STR


class _Composer(_PlainData, yaml.SafeLoader):
    """PyYAML's safe loader, composing nodes only, refusing what a spec never needs."""

    def __init__(self, stream: str, file: str):
        super().__init__(stream)
        self.file = file
        self.depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _error(self.file, event.start_mark, "", "YAML anchors and aliases are not allowed in spec files")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(self.file, event.start_mark, "", f"nesting deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _LibyamlComposer(_PlainData, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's composer, in C (a 1,000-case file: 420 -> 180 us a case), the same nodes and marks as
    _Composer's, for a document `_plain_events` found plain.  It cannot refuse anchors or deep nesting as it
    goes (its recursion is C's), and its error messages are libyaml's: every file it does not take whole goes
    to _Composer, whose findings are the spec's."""


def _plain_events(text: str) -> bool:
    """Whether libyaml reads `text` as one stream without anchors, aliases or nesting deeper than MAX_DEPTH
    (events only, in one flat pass: nothing composed yet)."""
    parser = _LibyamlComposer(text)
    depth = 0
    try:
        while not parser.check_event(yaml.StreamEndEvent):
            event = parser.get_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                return False
            if isinstance(event, (yaml.CollectionEndEvent, yaml.ScalarEvent)):
                depth -= isinstance(event, yaml.CollectionEndEvent)
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
            if depth + isinstance(event, yaml.ScalarEvent) > MAX_DEPTH:
                return False
    except yaml.YAMLError:
        return False
    finally:
        parser.dispose()
    return True


def _error(file: str, mark, key: str, message: str) -> SpecError:
    return SpecError(message, origin=Origin(file, mark.line + 1, mark.column + 1, key))


# ---- reading one file ----


def load(path: Path, display: str | None = None, defaults: dict | None = None) -> list[Spec]:
    """The specs of one file (several with `cases` or `sample`); SpecError when it is invalid.  `defaults`: Spec
    fields (the project's [tool.gradcheck]: rtol, atol, dtype, method) that the file's own keys override."""
    file = display or str(path)
    return _specs(*_compose(_read(path, file), file), file, path.stem, defaults, path.parent)


def load_text(text: str, file: str, name: str, folder: Path = Path(".")) -> list[Spec]:
    """The specs of spec-file text that is in no file (a notebook cell): errors say `file`:line:column, a case
    without a `name:` is called `name`, and value files are found relative to `folder`."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SpecError(f"{file}: spec files are limited to {MAX_FILE_BYTES // 1024} KiB")
    return _specs(*_compose(text, file), file, name, None, folder)


def _specs(node, composer, text: str, file: str, name: str, defaults: dict | None, folder: Path) -> list[Spec]:
    reader = _Reader(file, composer, text, folder)
    fields = reader.fields(node, FILE_KEYS, "")
    base = _case(reader, fields, "", defaults or {})
    first = base.origins.get("expr") or base.origins.get("function")  # a function alone is its own reference
    line = first.line if first else 1
    base = replace(base, name=base.name or name, file=file, line=line)
    if "cases" not in fields:
        return _sampled(reader, base, fields)
    # With `cases`, the top level is a case of its own when it gives a point.
    specs: list[Spec] = _sampled(reader, base, fields) if "at" in fields or "sample" in fields else []
    for i, case_node in enumerate(reader.sequence(fields["cases"], "cases")):
        key = f"cases[{i}]"
        case_fields = reader.fields(case_node, CASE_KEYS, key)
        own = _case(reader, case_fields, key + ".")
        case = replace(_merge(base, own, case_fields), name=own.name or f"{base.name} [{i + 1}]",
                       line=case_node.start_mark.line + 1)
        specs.extend(_sampled(reader, case, {**fields, **case_fields}, f"{key}." if "sample" in case_fields else ""))
    if not specs:  # `cases: []` and no point of its own: a file that checks nothing must not pass
        raise reader.fail(fields["cases"], "cases", "no cases: give at least one, or a point (`at:`) at the top level")
    return specs


def _read(path: Path, file: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise SpecError(f"{file}: cannot read: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"{file}: spec files are limited to {MAX_FILE_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"{file}: not UTF-8 text (byte {error.start})") from None


def _compose(text: str, file: str):
    try:
        node, composer = _composed(text, file)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise _error(file, mark, "", f"invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        where = f" at character {error.position + 1}" if isinstance(error, yaml.reader.ReaderError) else ""
        raise SpecError(f"{file}: invalid YAML: {str(error).splitlines()[0]}{where}") from None
    if node is None:
        raise SpecError(f"{file}: the file is empty")
    _refuse_unknown_tags(node, file)
    return node, composer, text


def _composed(text: str, file: str):
    """(the document's root node, the composer that made it): libyaml's for a plain document, else _Composer's,
    which raises what is wrong with it."""
    if yaml.__with_libyaml__ and _plain_events(text):
        composer = _LibyamlComposer(text)
        try:
            return composer.get_single_node(), composer
        except yaml.YAMLError:
            pass  # _Composer says what is wrong, in its words
        finally:
            composer.dispose()
    composer = _Composer(text, file)  # its reader rejects control characters
    try:
        return composer.get_single_node(), composer
    finally:
        composer.dispose()


def _refuse_unknown_tags(root, file: str) -> None:
    """Spec files are plain data: a tag such as !!python/object is refused wherever it appears."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.tag not in STANDARD_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise _error(file, node.start_mark, "", f"the tag {tag} is not allowed (spec files are plain data)")
        if isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(child for pair in reversed(node.value) for child in reversed(pair))


@dataclass
class _Reader:
    """Typed access to YAML nodes; every complaint names file:line:column and the key path."""

    file: str
    composer: _Composer | _LibyamlComposer  # constructs a YAML 1.1 reading for messages
    source: str  # the file's text: literal blocks' lines
    folder: Path = Path(".")  # the spec file's: value files are found relative to it

    def fail(self, node, key: str, message: str) -> SpecError:
        return _error(self.file, node.start_mark, key, message)

    def origin(self, node, key: str) -> Origin:
        if node.style == "|":  # a literal block: its text starts on a later line, every line indented alike
            return self._block_origin(node, key)
        quoted = 1 if node.style in ('"', "'") else 0
        return Origin(self.file, node.start_mark.line + 1, node.start_mark.column + 1 + quoted, key)

    def _block_origin(self, node, key: str) -> Origin:
        lines = self.source.split("\n")
        for number in range(node.start_mark.line + 1, min(len(lines), node.end_mark.line + 1)):
            text = lines[number]
            if text.strip():
                indent = len(text) - len(text.lstrip(" "))
                return Origin(self.file, number + 1, indent + 1, key, indent)
        return Origin(self.file, node.start_mark.line + 1, node.start_mark.column + 1, key)

    def scalar(self, node, key: str) -> yaml.ScalarNode:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, f"expected a single value, got a {_kind(node)}")
        return node

    def text(self, node, key: str) -> str:
        """Text as written: `no`, `on`, `017` or `1:30` is that text, not what YAML 1.1 would make of it."""
        if self.scalar(node, key).tag == NULL:
            raise self.fail(node, key, f"expected text, got {node.value!r}")
        return node.value

    def flag(self, node, key: str) -> bool:
        """true or false; YAML 1.1's yes, no, on and off are refused rather than taken for booleans."""
        text = self.scalar(node, key).value
        if node.tag == BOOL and text.lower() in ("true", "false"):
            return text.lower() == "true"
        hint = ""
        if node.tag == BOOL:
            meant = str(self.composer.construct_object(node)).lower()
            hint = f" (YAML 1.1 reads it as {meant}: write {meant})"
        raise self.fail(node, key, f"expected true or false, got {text!r}{hint}")

    def number(self, node, key: str, expected: str = "a number") -> float:
        """A finite float64 number, as written: in decimal, or a constant expression such as `pi/4`.

        YAML 1.1 reads `017` as 15, `1:30` as 90, `0x1F` as 31 and `1_000` as 1000; a spec file means
        what it shows, so those forms are refused, saying how to write them, rather than read either way.
        """
        text = self.scalar(node, key).value.strip()
        if re.fullmatch(NON_FINITE, text):
            raise self.fail(node, key, f"expected a finite number, got {text!r}")
        reading = self._yaml11_reading(node) if _plain(node) else None
        if reading:
            raise self.fail(node, key, f"expected a decimal number, got {text}: {reading}")
        try:
            number = parse_scalar(text)
        except GradcheckError:
            if re.fullmatch(DECIMAL, text):  # a decimal number that overflows
                raise self.fail(node, key, f"expected a number within float64's range, got {text}") from None
            raise self.fail(node, key, f"expected {expected}, got {_written(node)}") from None
        if number == 0 and re.fullmatch(DECIMAL, text) and re.search("[1-9]", re.split("[eE]", text)[0]):
            raise self.fail(node, key, f"expected a number within float64's range, got {text} (it would be read as 0)")
        return number

    def _yaml11_reading(self, node) -> str | None:
        """How YAML 1.1 reads a plain value it takes for another number than the decimal one it shows, if so."""
        text = node.value
        leading_zero = re.fullmatch(LEADING_ZERO, text)
        if not leading_zero and (node.tag not in (INT, FLOAT) or re.fullmatch(DECIMAL, text)):
            return None
        try:
            value = self.composer.construct_object(node) if node.tag in (INT, FLOAT) else None
        except ValueError:  # `0x_`: not even YAML 1.1 reads it
            return "write it in decimal"
        if leading_zero:
            decimal = int(text.replace("_", ""))
            if value in (None, decimal):  # 08 is text to YAML 1.1, 07 is 7 either way: only ambiguous to a reader
                return f"a leading zero means octal in YAML 1.1 (write {decimal})"
            return f"YAML 1.1 reads a leading zero as octal, {value} (write {value}, or {decimal} without the zero)"
        for mark, base in (("x", "hexadecimal"), ("b", "binary"), (":", "base-60")):
            if mark in text:
                return f"YAML 1.1 reads it as the {base} number {value} (write {value})"
        return f"YAML 1.1 reads it as {value}, ignoring the underscores (write {value})"

    def integer(self, node, key: str, low: int, high: int, expected: str) -> int:
        """An integer from low to high: `2.0` and `1e3` are integers, `1.9` is refused, never truncated."""
        number = self.number(node, key, expected)
        text = node.value.strip()
        try:  # exactly as written: 12345678901234567.0 is that integer, not its nearest float
            exact = decimal.Decimal(text)
        except decimal.InvalidOperation:  # a constant expression such as 2**10: its float value
            exact = decimal.Decimal(number)
        value = int(exact) if exact == exact.to_integral_value() else None
        if value is None or not low <= value <= high:
            raise self.fail(node, key, f"expected {expected}, got {_written(node)}")
        return value

    def seed(self, node, key: str) -> int:
        """A random seed: numpy's generators take any non-negative integer; 2**63 - 1 keeps it an int64."""
        return self.integer(node, key, 0, MAX_SEED, "an integer from 0 to 2**63 - 1")

    def mapping(self, node, key: str) -> dict[str, tuple]:
        """key -> (key node, value node), in order; duplicate keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, f"expected a mapping (key: value), got a {_kind(node)}")
        items: dict[str, tuple] = {}
        for key_node, value_node in node.value:
            name = self.text(key_node, key)
            if name in items:
                raise self.fail(key_node, _join(key, name), "duplicate key")
            items[name] = (key_node, value_node)
        return items

    def sequence(self, node, key: str) -> list:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, key, f"expected a list, got a {_kind(node)}")
        return list(node.value)

    def fields(self, node, allowed: tuple[str, ...], prefix: str) -> dict:
        items = self.mapping(node, prefix.rstrip("."))
        for name, (key_node, _) in items.items():
            if name not in allowed:
                hint = did_you_mean(name, allowed) or f"allowed: {', '.join(allowed)}"
                raise self.fail(key_node, _join(prefix.rstrip("."), name), f"unknown key ({hint})")
        return {name: value for name, (_, value) in items.items()}

    def tensor(self, node, key: str) -> np.ndarray:
        """A number or a (nested) list of numbers."""
        data = self._tensor_data(node, key)
        try:
            return coerce_value(data)
        except GradcheckError as error:
            raise self.fail(node, key, error.message) from None

    def _tensor_data(self, node, key: str):
        if isinstance(node, yaml.SequenceNode):
            return [self._tensor_data(item, f"{key}[{i}]") for i, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode):
            return self.number(node, key, "a number or a list of numbers")
        raise self.fail(node, key, f"expected a number or a list of numbers, got a {_kind(node)}")


def _kind(node) -> str:
    return {yaml.MappingNode: "mapping", yaml.SequenceNode: "list"}.get(type(node), "single value")


def _written(node) -> str:
    """A value as a message quotes it: a decimal number as it is, anything else in quotes."""
    return node.value if _plain(node) and re.fullmatch(DECIMAL, node.value) else repr(node.value)


def _plain(node) -> bool:
    """An unquoted scalar (its style None from PyYAML's composer, '' from libyaml's)."""
    return not node.style


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# ---- fields of one case ----


def _case(reader: _Reader, fields: dict, prefix: str, defaults: dict | None = None) -> Spec:
    """A Spec from one mapping's fields (a partial one for a case: merged with the file's later), starting from
    `defaults`."""
    spec = Spec(expr="", at={}, **(defaults or {}))
    _read_texts(reader, fields, prefix, spec)
    _read_values(reader, fields, prefix, spec)
    _read_settings(reader, fields, prefix, spec)
    return spec


def _read_texts(reader: _Reader, fields: dict, prefix: str, spec: Spec) -> None:
    """name, expr, where, manual, manual_hessian and function: text, with where each was written."""
    if "name" in fields:
        spec.name = reader.text(fields["name"], prefix + "name")
    if "expr" in fields:
        spec.expr = reader.text(fields["expr"], prefix + "expr").strip()
        spec.origins["expr"] = reader.origin(fields["expr"], prefix + "expr")
    for name, (key_node, _) in _optional_mapping(reader, fields, "where", prefix).items():
        _check_binding_name(reader, key_node, f"{prefix}where.{name}", name)
    for field_name, texts in (("where", spec.where), ("manual", spec.manual), ("manual_hessian", spec.manual_hessian)):
        for name, (_, value) in _optional_mapping(reader, fields, field_name, prefix).items():
            key = f"{prefix}{field_name}.{name}"
            texts[name] = reader.text(value, key).strip()
            spec.origins[f"{field_name}.{name}"] = reader.origin(value, key)
    for name in ("function", "reference"):
        if name in fields:
            setattr(spec, name, reader.text(fields[name], prefix + name).strip())
            spec.origins[name] = reader.origin(fields[name], prefix + name)
    for name in ("kwargs", "init_kwargs"):
        if name in fields:
            setattr(spec, name, _keywords(reader, fields[name], prefix + name))
            mark = fields[name].start_mark
            spec.origins[name] = Origin(reader.file, mark.line + 1, mark.column + 1, prefix + name)


def _keywords(reader: _Reader, node, key: str) -> dict[str, object]:
    """kwargs: {stride: 2, mode: same, size: [3, 3]}: each value one of keyword_arguments.KINDS."""
    keywords = {}
    for name, (key_node, value) in reader.mapping(node, key).items():
        if not name.isidentifier():
            raise reader.fail(key_node, _join(key, name), "expected a keyword name (a Python identifier)")
        try:
            keywords[name] = checked_value(name, yaml.SafeLoader.construct_object(yaml.SafeLoader(""), value,
                                                                                   deep=True))
        except (GradcheckError, yaml.YAMLError) as error:
            raise reader.fail(value, _join(key, name), getattr(error, "message", str(error))) from None
    return keywords


def _read_values(reader: _Reader, fields: dict, prefix: str, spec: Spec) -> None:
    """at and expect: numbers and (nested) lists of numbers."""
    if "at" in fields:
        mark = fields["at"].start_mark
        spec.origins["at"] = Origin(reader.file, mark.line + 1, mark.column + 1, prefix + "at")
    integers = set()
    for name, (key_node, value) in _optional_mapping(reader, fields, "at", prefix).items():
        key = f"{prefix}at.{name}"
        if isinstance(value, yaml.MappingNode):  # {file: values.npy}
            spec.at[name], integer = _file_value(reader, value, key)
            integers |= {name} if integer else set()
        elif isinstance(value, yaml.ScalarNode) and is_distribution_call(value.value):  # randn(2, 3)
            spec.random[name] = _distribution(reader, value, key)
        else:
            spec.at[name] = reader.tensor(value, key)
        spec.origins[f"at.{name}"] = reader.origin(key_node, key)
    spec.integers = frozenset(integers)
    for name, (_, value) in _optional_mapping(reader, fields, "expect", prefix).items():
        spec.expected[name] = reader.tensor(value, f"{prefix}expect.{name}")
        spec.origins[f"expected.{name}"] = _value_origin(reader, value, f"{prefix}expect.{name}")


def _distribution(reader: _Reader, node, key: str):
    """A random input, `randn(2, 3)`: drawn when the case runs, from its seed."""
    try:
        return parse_distribution(node.value)
    except GradcheckError as error:
        raise reader.fail(node, key, error.message) from None


def _file_value(reader: _Reader, node, key: str) -> tuple[np.ndarray, bool]:
    """`{file: values.npy}`, relative to the spec file's folder: (the values, whether they are integers)."""
    fields = reader.fields(node, ("file",), key)
    if "file" not in fields:
        raise reader.fail(node, key, "expected {file: PATH}, e.g. {file: values.npy}")
    path = Path(reader.text(fields["file"], f"{key}.file").strip())
    try:
        loaded = load_values(path if path.is_absolute() else reader.folder / path)
    except GradcheckError as error:
        raise reader.fail(fields["file"], f"{key}.file", error.message) from None
    return loaded.array, loaded.integer


def _value_origin(reader: _Reader, node, key: str) -> Origin:
    """Where a value of any kind (a number, a list, a mapping) starts, under `key`."""
    return Origin(reader.file, node.start_mark.line + 1, node.start_mark.column + 1, key)


def _read_settings(reader: _Reader, fields: dict, prefix: str, spec: Spec) -> None:
    """wrt, tolerance, the choices, step, the flags, seed, order and args."""
    for name in ("wrt", "args", "nondet_tol", "device", "precision"):  # an error about the case's use of them
        if name in fields:
            spec.origins[name] = _value_origin(reader, fields[name], prefix + name)
    if "wrt" in fields:
        spec.wrt = _names(reader, fields["wrt"], prefix + "wrt", "leave wrt out to check every variable")
    for name, (key_node, value) in _optional_mapping(reader, fields, "tolerance", prefix).items():
        key = f"{prefix}tolerance.{name}"
        if name not in ("rtol", "atol"):
            raise reader.fail(key_node, key, "unknown key (allowed: rtol, atol)")
        number = reader.number(value, key)
        if number < 0:
            raise reader.fail(value, key, f"expected a non-negative number, got {_written(value)}")
        setattr(spec, name, number)
    for setting in in_spec_files("choice"):
        if setting.key in fields:
            setattr(spec, setting.name, _choice(reader, fields[setting.key], prefix + setting.key, setting.choices))
    if "nondet_tol" in fields:
        spec.nondet_tol = reader.number(fields["nondet_tol"], prefix + "nondet_tol")
        if spec.nondet_tol < 0:
            raise reader.fail(fields["nondet_tol"], prefix + "nondet_tol",
                              f"expected a non-negative number, got {_written(fields['nondet_tol'])}")
    if "precision" in fields:
        spec.precision = _precision(reader, fields["precision"], prefix + "precision")
    if "step" in fields:
        spec.step = reader.number(fields["step"], prefix + "step")
        if spec.step <= 0:
            raise reader.fail(fields["step"], prefix + "step",
                              f"expected a positive number, got {_written(fields['step'])}")
    for setting in in_spec_files("flag"):
        if setting.key in fields:
            setattr(spec, setting.name, reader.flag(fields[setting.key], prefix + setting.key))
    if "seed" in fields:
        spec.seed = reader.seed(fields["seed"], prefix + "seed")
    if "order" in fields:
        spec.order = reader.integer(fields["order"], prefix + "order", 1, 2, "1 or 2")
    if "args" in fields:
        function = spec.function or "the function"
        spec.args = _names(reader, fields["args"], prefix + "args", f"the inputs {function} takes, in order")


def _precision(reader: _Reader, node, key: str) -> list[str]:
    """`precision: [float32, bfloat16]` (or `float32, bfloat16`): the dtypes a function runs in besides float64."""
    if isinstance(node, yaml.SequenceNode):
        names = [reader.text(item, f"{key}[{i}]") for i, item in enumerate(node.value)]
    else:
        names = reader.text(node, key)
    found = precisions(names)
    if found is None:
        raise reader.fail(node, key, f"expected {RULES['precision'][0]}")
    return found


def _choice(reader: _Reader, node, key: str, choices: tuple[str, ...]) -> str:
    value = reader.text(node, key)
    if value not in choices:
        raise reader.fail(node, key, f"expected one of {', '.join(choices)}")
    return value


def _optional_mapping(reader: _Reader, fields: dict, name: str, prefix: str) -> dict:
    return reader.mapping(fields[name], prefix + name) if name in fields else {}


def _check_binding_name(reader: _Reader, node, key: str, name: str) -> None:
    if not re.fullmatch(IDENTIFIER, name):
        raise reader.fail(node, key, f"{name!r} is not a valid name")
    if name in FUNCTIONS or name in CONSTANTS:
        raise reader.fail(node, key, f"{name!r} is a {'function' if name in FUNCTIONS else 'constant'}")


def _names(reader: _Reader, node, key: str, meaning: str) -> list[str]:
    """A list of variable names (or `"w, b"`); an empty one is refused, saying what the list is for."""
    if isinstance(node, yaml.SequenceNode):
        names = [reader.text(item, f"{key}[{i}]") for i, item in enumerate(node.value)]
    else:
        names = [n.strip() for n in reader.text(node, key).split(",") if n.strip()]
    if not names:
        raise reader.fail(node, key, f"expected at least one variable name: {meaning}")
    for i, name in enumerate(names):
        if not re.fullmatch(IDENTIFIER, name):
            raise reader.fail(node, key, f"{name!r} is not a variable name")
        if name in names[:i]:
            raise reader.fail(node, key, f"{name!r} is listed twice")
    return names


def _merge(base: Spec, case: Spec, case_fields: dict) -> Spec:
    # Expected values belong to their point: a case that moves the point does not inherit them.
    expected = case.expected if "at" in case_fields else {**base.expected, **case.expected}
    given = set(case.at) | set(case.random)  # a case's value of a variable replaces the file's, of either kind
    merged = replace(base, at={**{n: v for n, v in base.at.items() if n not in given}, **case.at},
                     random={**{n: d for n, d in base.random.items() if n not in given}, **case.random},
                     integers=frozenset((base.integers - given) | case.integers),
                     manual={**base.manual, **case.manual},
                     manual_hessian={**base.manual_hessian, **case.manual_hessian},
                     expected=expected, origins={**base.origins, **case.origins})
    for name in ["expr"] + [s.name for s in SETTINGS.values() if s.key == s.name and s.kind != "mapping"]:
        if name in case_fields:
            setattr(merged, name, getattr(case, name))
    if "where" in case_fields:
        merged.where = case.where
    if "tolerance" in case_fields:
        merged.rtol = case.rtol if case.rtol is not None else base.rtol
        merged.atol = case.atol if case.atol is not None else base.atol
    if "expr" in case_fields or "where" in case_fields:
        _drop_inherited_values(merged, keep=set(case.at))
    return merged


def _drop_inherited_values(spec: Spec, keep: set[str]) -> None:
    """A case with an expression of its own inherits the file's `at` values only for the variables it uses: the
    file's `y` is no error in a case `expr: cos(x)`.  A value the case gives itself (`keep`) stays, so a name it
    does not use is still an error, at its key.  A program that does not parse keeps them all (its error is
    the case's)."""
    from ..lang.parser import parse

    try:
        used = set(parse(spec.program, limits=spec.limits).variables)
    except GradcheckError:
        return
    for name in [n for n in spec.at if n not in used and n not in keep]:
        del spec.at[name]
        spec.origins.pop(f"at.{name}", None)


# ---- sampled points ----


@dataclass(frozen=True)
class Sampling:
    n: int
    seed: int
    domain: dict[str, tuple[float, float]]


def _sampled(reader: _Reader, spec: Spec, fields: dict, prefix: str = "") -> list[Spec]:
    """The spec, or one per sampled point; `prefix` is the key path of the mapping holding `sample` (cases[0].)."""
    if not spec.expr and spec.function is None:  # a function alone is its own reference
        if "expr" in spec.origins:  # `expr: ""`: there, and empty
            raise SpecError("the expression is empty", origin=spec.origins["expr"])
        raise SpecError("missing key 'expr'", origin=Origin(spec.file or reader.file, spec.line or 1, 1, "expr"))
    if "sample" not in fields:
        return [spec]
    from .sampling import sample_specs

    return sample_specs(spec, _sampling(reader, fields["sample"], spec, prefix + "sample."))


def _sampling(reader: _Reader, node, spec: Spec, prefix: str) -> Sampling:
    fields = reader.fields(node, ("n", "seed", "domain"), prefix)
    n = 10
    if "n" in fields:
        n = reader.integer(fields["n"], prefix + "n", 1, MAX_SAMPLES, f"an integer from 1 to {MAX_SAMPLES:,}")
    seed = reader.seed(fields["seed"], prefix + "seed") if "seed" in fields else None
    domain = {}
    for name, (key_node, value) in _optional_mapping(reader, fields, "domain", prefix).items():
        key = f"{prefix}domain.{name}"
        bounds = [reader.number(item, key) for item in reader.sequence(value, key)]
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise reader.fail(value, key, "expected [low, high] with low < high")
        domain[name] = (bounds[0], bounds[1])
        spec.origins[f"sample.domain.{name}"] = reader.origin(key_node, key)
    if not domain:
        raise reader.fail(node, prefix + "domain", "give the interval of at least one variable, e.g. {x: [-3, 3]}")
    _check_sample_size(reader, fields.get("n", node), spec, n, domain, prefix + "n")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)
    return Sampling(n, seed, domain)


def _check_sample_size(reader: _Reader, node, spec: Spec, n: int, domain: dict, key: str) -> None:
    """Every point is drawn at load: n points of the sampled variables' shapes stay within the element limit."""
    each = sum(int(np.size(spec.at[name])) if name in spec.at else 1 for name in domain)
    limit = spec.limits.max_elements
    if n * each > limit:
        raise reader.fail(node, key, f"expected at most {limit // each:,} points of {each:,} sampled elements "
                                            f"each ({limit:,} in all), got {n}")
