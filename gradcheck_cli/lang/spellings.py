"""Other languages' spellings of what this language writes one way, for the hint of a first-time user's error.

People paste maths from NumPy, PyTorch, `math`, papers and word processors: `np.arctan(x)`, `torch.sin(x)`,
`ln(x)`, `x²`, `x × y`, `a − b`.  The language has one spelling for each (torch's function names, no module
prefix, ASCII operators); these tables say which, so the parser's and the lexer's errors can name the fix.
Data only: the hints never change what parses.
"""

from __future__ import annotations

# Names of modules a call may be written under elsewhere: torch.sin, np.sin, F.relu, torch.nn.functional.softmax.
MODULE_PREFIXES = frozenset({"torch", "np", "numpy", "math", "F", "nn", "functional", "linalg", "special", "scipy",
                             "jnp", "jax", "cmath", "sp", "sympy", "tf"})

# Function names of NumPy, math, SciPy and mathematics with this language's (torch's) name.
SYNONYMS = {
    "ln": "log", "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2", "absolute": "abs",
    "fabs": "abs", "power": "pow", "expit": "sigmoid", "clip": "clamp", "concatenate": "cat",
}
# NumPy's arithmetic functions: an operator here.
OPERATOR_FUNCTIONS = {"multiply": "a*b", "add": "a + b", "subtract": "a - b", "divide": "a/b", "true_divide": "a/b",
                      "negative": "-a"}

_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_TIMES, _MINUS, _DIVIDED = "write * for multiplication", "write the ASCII minus", "write / for division"
_QUOTES = "write text in ASCII quotes"

# Characters outside the language: their spelling here (None where there is no one-for-one one) and a sentence.
CHARACTERS: dict[str, tuple[str | None, str]] = {
    "^": ("**", "use ** for powers"),
    "×": ("*", _TIMES), "·": ("*", _TIMES), "⋅": ("*", _TIMES), "∙": ("*", _TIMES), "∗": ("*", _TIMES),
    "−": ("-", _MINUS), "–": ("-", _MINUS), "—": ("-", _MINUS),
    "÷": ("/", _DIVIDED), "∕": ("/", _DIVIDED),
    "π": ("pi", "write pi for π"),
    "≤": ("<=", "write <="), "≥": (">=", "write >="), "≠": ("!=", "write !="),
    "‘": ("'", _QUOTES), "’": ("'", _QUOTES), "“": ("'", _QUOTES), "”": ("'", _QUOTES),
    "√": (None, "write sqrt(x) for a square root"),
    "|": (None, "write abs(x) for |x|"),
    "%": (None, "the modulo operator is not supported; fmod(a, b) and remainder(a, b) are"),
    "!": (None, "use != for 'not equal'"),
} | {digit: (f"**{n}", "use ** for powers") for n, digit in enumerate(_SUPERSCRIPTS)}
_LONGEST_SHOWN = 80  # a corrected input longer than this is not repeated in the hint


def character_hint(character: str, source: str) -> str | None:
    """How to write `character` here: its sentence and, where every such character in `source` has a spelling
    here, the corrected input (`x² − y` -> `use ** for powers: x**2 - y`); None for a character we know no
    spelling of."""
    if character not in CHARACTERS:
        return None
    replacement, sentence = CHARACTERS[character]
    if replacement is None:
        return sentence
    corrected = ""
    for i, c in enumerate(source):
        if c not in CHARACTERS or source.startswith("!=", i):
            corrected += c
            continue
        spelled = CHARACTERS[c][0]
        if spelled is None:  # a character with no spelling here: the corrected input would still fail
            return f"{sentence} ({character} → {replacement})"
        joined = spelled[:1].isalpha() and corrected[-1:].isalnum()  # 2π is 2*pi
        corrected += ("*" if joined else "") + spelled
    if "\n" in corrected or len(corrected) > _LONGEST_SHOWN:
        return f"{sentence} ({character} → {replacement})"
    return f"{sentence}: {corrected}"


def torch_name(name: str, known) -> str | None:
    """This language's name for a function called `name` elsewhere: `name` itself if `known` has it, its
    synonym (np.arctan: atan, ln: log) if that is known, else None."""
    if name in known:
        return name
    synonym = SYNONYMS.get(name)
    return synonym if synonym in known else None
