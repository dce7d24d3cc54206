"""Spec files: YAML read safely into Specs, every error at file:line:column with its key path.

Only the YAML composer runs on the input (PyYAML's safe loader, with anchors,
aliases, non-standard tags and needless nesting refused); this module then
walks the node tree itself, so every value keeps its position.
"""

from __future__ import annotations

import math

import difflib
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from .errors import GradcheckError, Origin, SpecError
from .ops import CONSTANTS, FUNCTIONS
from .spec import DEVICES, DTYPES, FD_METHODS, Spec
from .values import coerce_value, parse_scalar

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 16  # root, cases, a case, at, then nested lists for tensors
MAX_SAMPLES = 10_000
CASE_KEYS = ("name", "expr", "where", "at", "wrt", "manual", "manual_hessian", "expect", "tolerance", "dtype",
             "order", "method", "step", "fast", "seed", "sample", "explain", "precise", "function", "args",
             "device")
FILE_KEYS = CASE_KEYS + ("cases",)
STANDARD_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}
NAME = r"[A-Za-z_][A-Za-z_0-9]*"


class _Composer(yaml.SafeLoader):
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


def _error(file: str, mark, key: str, message: str) -> SpecError:
    return SpecError(message, origin=Origin(file, mark.line + 1, mark.column + 1, key))


# ---- reading one file ----


def load(path: Path, display: str | None = None) -> list[Spec]:
    """The specs of one file (several with `cases` or `sample`); SpecError when it is invalid."""
    file = display or str(path)
    node, composer = _compose(path, file)
    reader = _Reader(file, composer)
    fields = reader.fields(node, FILE_KEYS, "")
    base = _case(reader, fields, "")
    line = base.origins["expr"].line if "expr" in base.origins else 1
    base = replace(base, name=base.name or path.stem, file=file, line=line)
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
        specs.extend(_sampled(reader, case, {**fields, **case_fields}))
    return specs


def _compose(path: Path, file: str):
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise SpecError(f"{file}: cannot read: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"{file}: spec files are limited to {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"{file}: not UTF-8 text (byte {error.start})") from None
    composer = None
    try:
        composer = _Composer(text, file)  # the reader already rejects control characters here
        node = composer.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise _error(file, mark, "", f"invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        where = f" at character {error.position + 1}" if isinstance(error, yaml.reader.ReaderError) else ""
        raise SpecError(f"{file}: invalid YAML: {str(error).splitlines()[0]}{where}") from None
    finally:
        if composer is not None:
            composer.dispose()
    if node is None:
        raise SpecError(f"{file}: the file is empty")
    _refuse_unknown_tags(node, file)
    return node, composer


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
    composer: _Composer

    def fail(self, node, key: str, message: str) -> SpecError:
        return _error(self.file, node.start_mark, key, message)

    def origin(self, node, key: str) -> Origin:
        quoted = 1 if node.style in ('"', "'") else 0
        return Origin(self.file, node.start_mark.line + 1, node.start_mark.column + 1 + quoted, key)

    def scalar(self, node, key: str):
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, f"expected a single value, got a {_kind(node)}")
        return self.composer.construct_object(node)

    def text(self, node, key: str) -> str:
        value = self.scalar(node, key)
        if isinstance(value, bool) or value is None:
            raise self.fail(node, key, f"expected text, got {node.value!r}")
        return str(value)

    def number(self, node, key: str) -> float:
        value = self.scalar(node, key)
        if isinstance(value, bool) or value is None:
            raise self.fail(node, key, f"expected a number, got {node.value!r}")
        try:
            number = float(value) if isinstance(value, (int, float)) else parse_scalar(value)
        except (GradcheckError, OverflowError):
            raise self.fail(node, key, f"expected a number, got {node.value!r}") from None
        if not math.isfinite(number):
            raise self.fail(node, key, f"expected a finite number, got {node.value!r}")
        return number

    def seed(self, node, key: str) -> int:
        """A random seed: an integer from 0 to 2**32 - 1, as numpy takes it."""
        number = self.number(node, key)
        if number != int(number) or not 0 <= number < 2**32:
            raise self.fail(node, key, f"expected an integer from 0 to {2**32 - 1}, got {node.value!r}")
        return int(number)

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
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
                raise self.fail(key_node, _join(prefix.rstrip("."), name), f"unknown key{hint}")
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
            value = self.scalar(node, key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return self.number(node, key)
            try:
                return parse_scalar(str(value)) if isinstance(value, str) else _raise()
            except (GradcheckError, ValueError):
                pass
        raise self.fail(node, key, f"expected a number or a list of numbers, got {_shown(node)}")


def _raise():
    raise ValueError


def _kind(node) -> str:
    return {yaml.MappingNode: "mapping", yaml.SequenceNode: "list"}.get(type(node), "single value")


def _shown(node) -> str:
    return repr(node.value) if isinstance(node, yaml.ScalarNode) else f"a {_kind(node)}"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# ---- fields of one case ----


def _case(reader: _Reader, fields: dict, prefix: str) -> Spec:
    """A Spec from one mapping's fields (a partial one for a case: merged with the file's later)."""
    origins: dict[str, Origin] = {}
    spec = Spec(expr="", at={})
    if "name" in fields:
        spec.name = reader.text(fields["name"], prefix + "name")
    if "expr" in fields:
        spec.expr = reader.text(fields["expr"], prefix + "expr").strip()
        origins["expr"] = reader.origin(fields["expr"], prefix + "expr")
    if "where" in fields:
        for name, (key_node, value) in reader.mapping(fields["where"], prefix + "where").items():
            key = f"{prefix}where.{name}"
            _check_binding_name(reader, key_node, key, name)
            spec.where[name] = reader.text(value, key).strip()
            origins[f"where.{name}"] = reader.origin(value, key)
    for name, (_, value) in _optional_mapping(reader, fields, "at", prefix).items():
        spec.at[name] = reader.tensor(value, f"{prefix}at.{name}")
    for name, (_, value) in _optional_mapping(reader, fields, "manual", prefix).items():
        spec.manual[name] = reader.text(value, f"{prefix}manual.{name}").strip()
        origins[f"manual.{name}"] = reader.origin(value, f"{prefix}manual.{name}")
    for name, (_, value) in _optional_mapping(reader, fields, "manual_hessian", prefix).items():
        key = f"{prefix}manual_hessian.{name}"
        spec.manual_hessian[name] = reader.text(value, key).strip()
        origins[f"manual_hessian.{name}"] = reader.origin(value, key)
    for name, (_, value) in _optional_mapping(reader, fields, "expect", prefix).items():
        spec.expected[name] = reader.tensor(value, f"{prefix}expect.{name}")
    if "wrt" in fields:
        spec.wrt = _names(reader, fields["wrt"], prefix + "wrt")
    for name, (key_node, value) in _optional_mapping(reader, fields, "tolerance", prefix).items():
        key = f"{prefix}tolerance.{name}"
        if name not in ("rtol", "atol"):
            raise reader.fail(key_node, key, "unknown key (allowed: rtol, atol)")
        number = reader.number(value, key)
        if not 0 <= number < float("inf"):
            raise reader.fail(value, key, "must be a finite non-negative number")
        setattr(spec, name, number)
    for name, choices in (("method", FD_METHODS), ("device", DEVICES), ("dtype", DTYPES)):
        if name in fields:
            setattr(spec, name, _choice(reader, fields[name], prefix + name, choices))
    if "step" in fields:
        spec.step = reader.number(fields["step"], prefix + "step")
        if not 0 < spec.step < float("inf"):
            raise reader.fail(fields["step"], prefix + "step", "must be a positive number")
    for flag in ("fast", "explain", "precise"):
        if flag in fields:
            setattr(spec, flag, reader.scalar(fields[flag], prefix + flag))
            if not isinstance(getattr(spec, flag), bool):
                raise reader.fail(fields[flag], prefix + flag, "expected true or false")
    if "seed" in fields:
        spec.seed = reader.seed(fields["seed"], prefix + "seed")
    if "order" in fields:
        spec.order = int(reader.number(fields["order"], prefix + "order"))
        if spec.order not in (1, 2):
            raise reader.fail(fields["order"], prefix + "order", "expected 1 or 2")
    if "function" in fields:
        spec.function = reader.text(fields["function"], prefix + "function").strip()
        origins["function"] = reader.origin(fields["function"], prefix + "function")
    if "args" in fields:
        spec.args = _names(reader, fields["args"], prefix + "args")
    spec.origins = origins
    return spec


def _choice(reader: _Reader, node, key: str, choices: tuple[str, ...]) -> str:
    value = reader.text(node, key)
    if value not in choices:
        raise reader.fail(node, key, f"expected one of {', '.join(choices)}")
    return value


def _optional_mapping(reader: _Reader, fields: dict, name: str, prefix: str) -> dict:
    return reader.mapping(fields[name], prefix + name) if name in fields else {}


def _check_binding_name(reader: _Reader, node, key: str, name: str) -> None:
    if not re.fullmatch(NAME, name):
        raise reader.fail(node, key, f"{name!r} is not a valid name")
    if name in FUNCTIONS or name in CONSTANTS:
        raise reader.fail(node, key, f"{name!r} is a {'function' if name in FUNCTIONS else 'constant'}")


def _names(reader: _Reader, node, key: str) -> list[str]:
    if isinstance(node, yaml.SequenceNode):
        names = [reader.text(item, f"{key}[{i}]") for i, item in enumerate(node.value)]
    else:
        names = [n.strip() for n in reader.text(node, key).split(",") if n.strip()]
    for name in names:
        if not re.fullmatch(NAME, name):
            raise reader.fail(node, key, f"{name!r} is not a variable name")
    return names


def _merge(base: Spec, case: Spec, case_fields: dict) -> Spec:
    # Expected values belong to their point: a case that moves the point does not inherit them.
    expected = case.expected if "at" in case_fields else {**base.expected, **case.expected}
    merged = replace(base, at={**base.at, **case.at}, manual={**base.manual, **case.manual},
                     manual_hessian={**base.manual_hessian, **case.manual_hessian},
                     expected=expected, origins={**base.origins, **case.origins})
    for name in ("expr", "wrt", "dtype", "order", "method", "step", "fast", "seed", "explain", "precise", "function",
                 "args", "device"):
        if name in case_fields:
            setattr(merged, name, getattr(case, name))
    if "where" in case_fields:
        merged.where = case.where
    if "tolerance" in case_fields:
        merged.rtol = case.rtol if case.rtol is not None else base.rtol
        merged.atol = case.atol if case.atol is not None else base.atol
    return merged


# ---- sampled points ----


@dataclass(frozen=True)
class Sampling:
    n: int
    seed: int
    domain: dict[str, tuple[float, float]]


def _sampled(reader: _Reader, spec: Spec, fields: dict) -> list[Spec]:
    if not spec.expr:
        raise SpecError("missing key 'expr'", origin=Origin(spec.file or reader.file, spec.line or 1, 1, "expr"))
    if "sample" not in fields:
        return [spec]
    from .sampling import sample_specs

    return sample_specs(spec, _sampling(reader, fields["sample"]))


def _sampling(reader: _Reader, node) -> Sampling:
    fields = reader.fields(node, ("n", "seed", "domain"), "sample.")
    n = int(reader.number(fields["n"], "sample.n")) if "n" in fields else 10
    if not 1 <= n <= MAX_SAMPLES:
        raise reader.fail(fields["n"], "sample.n", f"must be between 1 and {MAX_SAMPLES}")
    seed = reader.seed(fields["seed"], "sample.seed") if "seed" in fields else None
    domain = {}
    for name, (_, value) in _optional_mapping(reader, fields, "domain", "sample.").items():
        key = f"sample.domain.{name}"
        bounds = [reader.number(item, key) for item in reader.sequence(value, key)]
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise reader.fail(value, key, "expected [low, high] with low < high")
        domain[name] = (bounds[0], bounds[1])
    if not domain:
        raise reader.fail(node, "sample.domain", "give the interval of at least one variable, e.g. {x: [-3, 3]}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)
    return Sampling(n, seed, domain)
