"""Point values from text (`4`, `1,2,3`, `[[1,2],[3,4]]`, `pi/4`) or from YAML data; an input option's text may
also be a distribution call (`randn(2, 3)`, random_inputs.py) or `@FILE` (value_files.py)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..core.errors import GradcheckError, LimitError, ValueParseError
from ..core.limits import DEFAULT_LIMITS, Limits
from ..core.text import did_you_mean, shortened
from .random_inputs import DISTRIBUTIONS, Distribution, looks_like_a_call, parse_distribution
from .value_files import FILE_PREFIX, FileValue, load_values

_LIST_TOKEN = r"\[|\]|,|[^\[\],\s]+"
# A number as the expression language writes it (lexer.py), with a sign; float() alone would also take `1_000`.
# Non-finite words are read too, to be refused with their own message.
DECIMAL = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
NON_FINITE = r"(?i)[+-]?(?:inf|infinity|nan)"
NUMERIC_KINDS = "biufcO"  # numpy's bool, integer, float and complex kinds, and objects (read one by one)


def parse_value(text: str, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """A scalar, a comma-separated vector or a nested list, as a float64 array."""
    text = text.strip()
    if not text:
        raise ValueParseError("empty value")
    if len(text) > limits.max_length:
        raise LimitError(f"the value is {len(text):,} characters long; the limit is {limits.max_length:,}")
    if text.startswith("["):
        return coerce_value(_nested_list(text), limits)
    if "," in text:
        return coerce_value([parse_scalar(item) for item in text.split(",")], limits)
    return np.asarray(parse_scalar(text))


def parse_input(text: str, limits: Limits = DEFAULT_LIMITS, folder: Path | None = None):
    """An input option's text: numbers (`parse_value`, an ndarray), a distribution call such as `randn(2, 3)` (a
    random_inputs.Distribution, drawn when the case runs) or `@FILE` (a value_files.FileValue; a relative path
    is taken from `folder`, the current one by default)."""
    stripped = text.strip()
    if stripped.startswith(FILE_PREFIX):
        path = Path(stripped[len(FILE_PREFIX):].strip())
        if not str(path) or str(path) == ".":
            raise ValueParseError("@ needs a file name: @values.npy")
        return load_values(path if folder is None or path.is_absolute() else folder / path, limits)
    if is_distribution_call(stripped):
        return parse_distribution(stripped, limits)
    return parse_value(text, limits)


def is_distribution_call(text: str) -> bool:
    """Whether `text` is for the distribution grammar: a call of a distribution, or of a name close to one that
    is no function of the language (`randx(2)`, so its message says "did you mean 'rand'"); `sin(1)` is a
    number."""
    return looks_like_a_call(text) and (_called(text) in DISTRIBUTIONS or _misspelt_call(text))


def _called(text: str) -> str:
    return text.partition("(")[0].strip()


def _misspelt_call(text: str) -> bool:
    """A call of a name close to a distribution's that is no function of the language (`randx(2)`): the
    distribution grammar's message, with its "did you mean", is the helpful one."""
    if not looks_like_a_call(text):
        return False
    from ..lang.ops import FUNCTIONS

    name = _called(text)
    return name not in FUNCTIONS and did_you_mean(name, list(DISTRIBUTIONS)) is not None


def split_inputs(given: dict) -> tuple[dict[str, np.ndarray], dict[str, Distribution], frozenset[str]]:
    """Inputs from `parse_input` as a Spec holds them: (values, random inputs, names of integer data)."""
    at, random, integers = {}, {}, set()
    for name, value in given.items():
        if isinstance(value, Distribution):
            random[name] = value
        elif isinstance(value, FileValue):
            at[name] = value.array
            if value.integer:
                integers.add(name)
        else:
            at[name] = value
    return at, random, frozenset(integers)


def parse_scalar(text: str) -> float:
    """A number, or a constant expression such as `pi/4` or `2**-3`."""
    text = text.strip()
    if re.fullmatch(DECIMAL, text) or re.fullmatch(NON_FINITE, text):
        value = float(text)
    else:
        value = _constant_expression(text)
    if not math.isfinite(value):
        raise ValueParseError(f"{_shown(text)} is not a finite number")
    return value


def _shown(text: str, width: int = 40) -> str:
    """The value as quoted in a message, cut short when it is long."""
    return repr(shortened(text, width))


def _constant_expression(text: str) -> float:
    from ..lang.parser import parse
    from ..lang.plan import Plan
    from ..lang.shapes import ShapeMap, ShapeMismatch, TooManyElements

    try:
        expression = parse(text)
    except GradcheckError:
        raise ValueParseError(f"{_shown(text)} is not a number") from None
    if expression.variables:
        raise ValueParseError(f"{_shown(text)} is not a number")
    shapes = ShapeMap({}, DEFAULT_LIMITS)  # its constants cost what an expression's may, and no more
    try:
        shape = shapes(expression.output)
    except TooManyElements as error:
        raise LimitError(f"{_shown(text)}: a part of it {error}") from None
    except ShapeMismatch as error:
        raise ValueParseError(f"{_shown(text)} is not a number: {error}") from None
    if shape != ():
        raise ValueParseError(f"{_shown(text)} is not a number (it has shape {shape}; give a list instead)")
    plan = Plan([expression.output], shapes)
    return float(plan.value(plan.run({}), expression.output)[0])


def _nested_list(text: str) -> list:
    """Parse `[[1, 2], [3, 4]]` without recursion; items are scalars."""
    stack: list[list] = []
    result = None
    expect_item = True
    for match in re.finditer(_LIST_TOKEN, text):
        token = match.group()
        if result is not None:
            raise ValueParseError(f"unexpected {token!r} after the closing ']'")
        if token == "[":
            stack.append([])
        elif token == "]":
            if not stack:
                raise ValueParseError("unmatched ']'")
            if expect_item and stack[-1]:
                raise ValueParseError("empty item in list (a trailing comma?)")
            finished = stack.pop()
            if stack:
                stack[-1].append(finished)
            else:
                result = finished
        elif token == ",":
            if expect_item:
                raise ValueParseError("empty item in list")
        else:
            if not stack:
                raise ValueParseError(f"unexpected {token!r} outside the brackets")
            stack[-1].append(parse_scalar(token))
        expect_item = token in "[,"
    if stack or result is None:
        raise ValueParseError("unclosed '['")
    return result


def _holds_none(data) -> bool:
    """Whether `data` is None or a (nested) list holding None (walked without recursion: any depth is safe)."""
    pending = [data]
    while pending:
        item = pending.pop()
        if item is None:
            return True
        if isinstance(item, (list, tuple)):
            pending.extend(item)
    return False


def python_input(data, limits: Limits = DEFAULT_LIMITS) -> np.ndarray | FileValue:
    """An input given from Python (check()'s `at`): as `coerce_value`, except that a numpy array or torch tensor
    of an integer dtype is index data, as an integer file is (a FileValue marked integer: passed to a function
    as int64, never differentiated)."""
    array = coerce_value(data, limits)
    return FileValue(array, True) if _integer_dtype(data) else array


def _integer_dtype(data) -> bool:
    """Whether `data` is a numpy array or a torch tensor of a signed or unsigned integer dtype (not bool)."""
    if isinstance(data, np.ndarray):
        return data.dtype.kind in "iu"
    if hasattr(data, "is_floating_point") and hasattr(data, "is_complex") and hasattr(data, "dtype"):
        return not (data.is_floating_point() or data.is_complex()) and str(data.dtype) != "torch.bool"
    return False


def coerce_value(data, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """A number, a (nested) list of numbers, a numpy array or a torch tensor as a float64 array, always a copy;
    ragged lists, complex or non-numeric values are errors.  A tensor may have any dtype, layout or device and
    require grad (a layer's parameter): its values are taken, detached, on the CPU."""
    if type(data) is float:  # a plain number, the common case: none of the checks below can refuse it but these
        _check_size(1, limits)
        if not math.isfinite(data):
            raise ValueParseError("values must be finite numbers")
        return np.array(data, dtype=np.float64)
    if hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor, without importing torch
        data = _tensor_values(data, limits)
    if isinstance(data, np.ndarray) and data.dtype.kind not in NUMERIC_KINDS:
        raise ValueParseError(f"expected numbers, got a numpy array of {data.dtype}")
    if not isinstance(data, (list, tuple)) and np.iscomplexobj(data):
        raise _complex_values()
    if _holds_none(data):  # numpy would read None as NaN
        raise ValueParseError("expected numbers, got None")
    try:
        array = np.array(data, dtype=np.float64)
    except (ValueError, TypeError, RuntimeError) as error:
        if "complex" in str(error):
            raise _complex_values() from None
        raise ValueParseError("expected a number or a rectangular (nested) list of numbers") from None
    _check_size(array.size, limits)
    if array.size == 0:
        raise ValueParseError("empty list" if isinstance(data, (list, tuple)) else "empty array")
    if not np.all(np.isfinite(array)):
        raise ValueParseError("values must be finite numbers")
    return array


def _complex_values() -> ValueParseError:
    return ValueParseError("complex values are not supported: give real numbers")


def _check_size(size: int, limits: Limits) -> None:
    if size > limits.max_elements:
        raise LimitError(f"the value has {size:,} elements; the limit is {limits.max_elements:,} "
                         "(raise it with {max_elements})")


def _tensor_values(tensor, limits: Limits) -> np.ndarray:
    """A torch tensor's values as a numpy array (float64 for real dtypes), read without importing torch:
    detached, dense (a sparse or quantized tensor's values), on the CPU.  A tensor without values of its own
    (the meta device, a nested tensor) is an error, as is one that torch cannot read out."""
    if getattr(tensor, "is_nested", False):
        raise ValueParseError("a nested tensor has no single shape: give a regular tensor")
    if tensor.device.type == "meta":
        raise ValueParseError("the tensor is on the meta device: it has a shape but no values")
    if tensor.is_complex():
        raise _complex_values()
    _check_size(tensor.numel(), limits)
    try:
        tensor = tensor.detach()
        if tensor.is_quantized:
            tensor = tensor.dequantize()
        if str(tensor.layout) != "torch.strided":  # sparse (COO, CSR, ...) or mkldnn
            tensor = tensor.to_dense()
        return tensor.cpu().double().numpy(force=True)
    except (RuntimeError, TypeError, ValueError, NotImplementedError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueParseError(f"cannot read the tensor's values ({shortened(first, 120)})") from None
