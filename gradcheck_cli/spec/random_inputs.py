"""Inputs by shape and distribution: `randn(2, 3)`, `rand(4)`, `uniform(-1, 1, (4,))`, `randint(0, 10, (5,))`.

A kernel is checked on random inputs of the shape it takes far more often than on numbers typed out by hand.
These calls are read by a grammar of their own (a name, numbers and one shape tuple; never eval) into a
`Distribution`, which is drawn when the case runs, from the case's seed (`--seed`, `seed:`, or a fresh one
that the report prints), so a run is reproduced by its seed.  Each variable draws from its own stream, keyed
by its name: adding a variable does not change the values of the others.  `randint` gives integer (index)
data, passed to a function as int64 and never differentiated.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

import numpy as np

from ..core.errors import LimitError, ValueParseError
from ..core.limits import DEFAULT_LIMITS, Limits
from ..core.text import did_you_mean, shortened

# name -> the numbers it takes before its shape, as torch writes them
DISTRIBUTIONS = {"randn": (), "rand": (), "uniform": ("low", "high"), "normal": ("mean", "std"),
                 "randint": ("low", "high")}
_TOKEN = r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<comma>,)|(?P<name>[A-Za-z_]\w*)|(?P<number>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))"  # noqa: E501
CALL = r"\s*[A-Za-z_]\w*\s*\("  # what looks like a call: read by this grammar, not as a number
MAX_DIMENSIONS = 16


@dataclass(frozen=True)
class Distribution:
    """A random input: `kind` (a DISTRIBUTIONS key), its two parameters where it takes them, its shape."""

    kind: str
    shape: tuple[int, ...]
    parameters: tuple[float, ...] = ()
    text: str = ""

    @property
    def integer(self) -> bool:
        """Index data: drawn as integers, passed as int64, never differentiated."""
        return self.kind == "randint"

    def draw(self, seed: int, name: str) -> np.ndarray:
        """The values, as float64 (integers are exact), from the stream of `seed` for the variable `name`."""
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        if self.kind == "randn":
            return rng.standard_normal(self.shape)
        if self.kind == "rand":
            return rng.random(self.shape)
        if self.kind == "uniform":
            return rng.uniform(*self.parameters, self.shape)
        if self.kind == "normal":
            return rng.normal(*self.parameters, self.shape)
        low, high = self.parameters
        return rng.integers(int(low), int(high), self.shape).astype(np.float64)


def looks_like_a_call(text: str) -> bool:
    """Whether `text` is written as a call (`randn(2, 3)`): the grammar here reads it, or says why not."""
    return re.match(CALL, text) is not None


def fresh_seed() -> int:
    """A seed for a run that names none; the report prints it."""
    return int(np.random.SeedSequence().entropy % 2**32)


def _cut_short(text: str) -> str:
    """Why a call's parentheses do not close, where they do not: most often a spec file's `{x: randn(2, 3)}`,
    which YAML cuts at the comma."""
    if text.count("(") <= text.count(")"):
        return ""
    return ": its '(' is not closed (in a spec file's {...} mapping a comma ends the value: put the call in quotes, " \
           "x: \"randn(2, 3)\")"


def parse_distribution(text: str, limits: Limits = DEFAULT_LIMITS) -> Distribution:
    """`randn(2, 3)`, `randn((2, 3))`, `rand(4)`, `uniform(-1, 1, (4,))`, `normal(0, 2, (3,))`,
    `randint(0, 10, (5,))` (high excluded, as torch's); no shape is a single number.  ValueParseError
    for anything else (saying what was expected), LimitError past `limits.max_elements`."""
    tokens = _tokens(text)
    if len(tokens) < 3 or tokens[0][0] != "name" or tokens[1][0] != "open" or tokens[-1][0] != "close":
        raise ValueParseError(f"{_shown(text)} is not a distribution call such as randn(2, 3){_cut_short(text)}")
    kind = tokens[0][1]
    if kind not in DISTRIBUTIONS:
        hint = did_you_mean(kind, list(DISTRIBUTIONS)) or f"known: {', '.join(DISTRIBUTIONS)}"
        raise ValueParseError(f"{_shown(text)}: {kind!r} is not a distribution ({hint})")
    arguments = _arguments(text, tokens[2:-1])
    named = DISTRIBUTIONS[kind]
    numbers = [a for a in arguments[:len(named)] if not isinstance(a, tuple)]
    if len(numbers) != len(named):
        raise ValueParseError(f"{_shown(text)}: {kind} takes {', '.join(named)} and then a shape, e.g. "
                              f"{kind}({', '.join(['0', '1'][:len(named)])}, (3,))")
    shape = _shape(text, arguments[len(named):])
    _check_parameters(text, kind, numbers)
    elements = math.prod(shape)
    if elements == 0:
        raise ValueParseError(f"{_shown(text)}: the shape {shape} has no elements")
    if elements > limits.max_elements:
        raise LimitError(f"{_shown(text)} has {elements:,} elements; the limit is {limits.max_elements:,} "
                         "(raise it with {max_elements})")
    return Distribution(kind, shape, tuple(numbers), text.strip())


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position, end = [], 0, len(text.rstrip())
    while position < end:
        match = re.match(_TOKEN, text[position:])
        if match is None or not match.lastgroup:
            raise ValueParseError(f"{_shown(text)}: unexpected {text[position:].strip()[:1]!r} in a distribution "
                                  "call (numbers, one shape in parentheses, commas)")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position += match.end()
    return tokens


def _arguments(text: str, tokens: list[tuple[str, str]]) -> list:
    """Numbers and at most one parenthesised tuple of numbers, comma-separated (a trailing comma allowed)."""
    arguments: list = []
    tuple_items: list | None = None
    expect_item = True
    for kind, value in tokens:
        if kind == "number":
            if not expect_item:
                raise ValueParseError(f"{_shown(text)}: a comma is missing before {value}")
            (tuple_items if tuple_items is not None else arguments).append(float(value))
            expect_item = False
        elif kind == "comma":
            if expect_item:
                raise ValueParseError(f"{_shown(text)}: an empty argument (two commas?)")
            expect_item = True
        elif kind == "open" and tuple_items is None and expect_item:
            tuple_items = []
        elif kind == "close" and tuple_items is not None:
            arguments.append(tuple(tuple_items))
            tuple_items, expect_item = None, False
        else:
            raise ValueParseError(f"{_shown(text)}: unexpected {value!r} (a shape is one tuple of integers, "
                                  "e.g. (2, 3))")
    if tuple_items is not None:
        raise ValueParseError(f"{_shown(text)}: unclosed '(' in the shape")
    return arguments


def _shape(text: str, arguments: list) -> tuple[int, ...]:
    """The shape from what follows the parameters: sizes as arguments, or one tuple of them."""
    if len(arguments) == 1 and isinstance(arguments[0], tuple):
        sizes = arguments[0]
    elif any(isinstance(a, tuple) for a in arguments):
        raise ValueParseError(f"{_shown(text)}: give the shape as sizes, randn(2, 3), or as one tuple, "
                              "randn((2, 3)), not both")
    else:
        sizes = tuple(arguments)
    if len(sizes) > MAX_DIMENSIONS:
        raise ValueParseError(f"{_shown(text)}: at most {MAX_DIMENSIONS} dimensions")
    for size in sizes:
        if size != int(size) or size < 1:
            raise ValueParseError(f"{_shown(text)}: a size must be a positive integer, got {size:g}")
    return tuple(int(size) for size in sizes)


def _check_parameters(text: str, kind: str, numbers: list[float]) -> None:
    if kind in ("uniform", "randint") and not numbers[0] < numbers[1]:
        raise ValueParseError(f"{_shown(text)}: {kind} needs low < high")
    if kind == "randint" and any(n != int(n) for n in numbers):
        raise ValueParseError(f"{_shown(text)}: randint takes integer bounds")
    if kind == "normal" and not numbers[1] > 0:
        raise ValueParseError(f"{_shown(text)}: normal needs std > 0")


def _shown(text: str) -> str:
    return repr(shortened(text.strip(), 40))
