"""Pratt parser for the expression language; binding powers come from the op registry (lang/ops/).

Grammar (EBNF)::

    program   = { binding ";" } expr [ ";" ]
    binding   = NAME "=" expr
    expr      = prefix { infix-op expr }          (precedence climbing)
    prefix    = ("-" | "+") expr | postfix
    postfix   = atom { "[" index { "," index } "]" | ".T" }
    atom      = NUMBER | NAME | call | "(" expr ")"
    call      = NAME "(" [ expr { "," expr } ] ")"     (trailing integers: an axis or a shape)
    index     = INT | [ INT ] ":" [ INT ] [ ":" [ INT ] ]

Every name that is not a constant, a function or an earlier binding is a free
variable.  The parser builds raw graph nodes (no simplification) so the other
engines see exactly what the user wrote; it only folds the sign into numeric
literals (`-2` is one constant).  Nothing here evaluates text as Python.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from ..core.errors import LimitError, ParseError, Span
from ..core.limits import DEFAULT_LIMITS, Limits
from ..core.text import did_you_mean
from .graph import DIM_BY_KEYWORD, Graph, Node, ancestors, format_option
from .lexer import Token, tokenize
from .ops import CONSTANTS, FUNCTIONS, INFIX, OPS, OVERLOADS, POSTFIX, PREFIX, OpSpec
from .ops.record import Option, Options, torch_tuple_parts
from .spellings import MODULE_PREFIXES, OPERATOR_FUNCTIONS, torch_name

UNARY_PRECEDENCE = PREFIX["-"].precedence


@dataclass
class Expression:
    """A parsed program: its graph, output node, named bindings and source spans."""

    source: str
    graph: Graph
    output: Node
    bindings: dict[str, Node] = field(default_factory=dict)
    variables: list[str] = field(default_factory=list)
    spans: dict[int, Span] = field(default_factory=dict)
    operator_spans: dict[int, Span] = field(default_factory=dict)  # the `@` of `A @ B`, for shape errors
    nodes: list[Node] = field(default_factory=list)  # the output's ancestors, oldest first: walked once, read often
    option_spans: dict[tuple[int, str], Span] = field(default_factory=dict)  # (node id, option): where it was written
    call_names: dict[int, str] = field(default_factory=dict)  # the name a call was written with: max for amax

    def names(self) -> dict[int, str]:
        """Binding names by node id (the first binding wins), for printing."""
        names: dict[int, str] = {}
        for name, node in self.bindings.items():
            names.setdefault(node.id, name)
        return names

    def span_of(self, node: Node) -> Span | None:
        return self.spans.get(node.id)


def parse(source: str, *, graph: Graph | None = None, bindings: dict[str, Node] | None = None,
          spans: dict[int, Span] | None = None, limits: Limits = DEFAULT_LIMITS) -> Expression:
    """Parse `source` into a graph.

    `graph`, `bindings` and `spans` let a second expression (a manual formula)
    share the nodes, names and locations of an expression parsed before.
    """
    if len(source) > limits.max_length:
        raise LimitError(f"the expression is {len(source):,} characters long; the limit is "
                         f"{limits.max_length:,} (raise it with {{max_length}})")
    # Each nesting level takes a few Python frames; make room for the depth the limit allows.
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, 8 * limits.max_depth + 1000))
    try:
        return _Parser(source, graph or Graph(), dict(bindings or {}), dict(spans or {}), limits).program()
    except RecursionError:
        raise LimitError("the expression nests too deeply for this machine's stack (lower {max_depth})") from None
    finally:
        sys.setrecursionlimit(previous_limit)


# Operator texts, compared with the token's text alone: no name or number is spelled like an operator.
SIGNS = frozenset("-+")
CLOSERS = frozenset("),;")  # where an operand was expected, the expression ended early
POSTFIX_STARTS = frozenset("[.")
# A tuple of numbers as an option's value, flip(x, (0, 1)): "(" then a number and a comma, maybe nested.  Only
# integers are valid values (the option says so: cross_entropy(x, (0.5, 1)) is told its targets are integers).
TUPLE_START = r"\((\s*\()*\s*-?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*,"


@dataclass(frozen=True)
class _Literal:
    """A tuple of integers, a text in quotes, True or False written as a positional argument: an option's value,
    never an operand."""

    value: tuple
    span: Span


@dataclass(frozen=True)
class _Absent:
    """`None` written as a positional argument: an optional operand (a tensor option) left out."""

    span: Span


class _Parser:
    def __init__(self, source: str, graph: Graph, scope: dict[str, Node], spans: dict[int, Span], limits: Limits):
        self.source = source
        self.tokens = tokenize(source)
        self.previous: Token | None = None
        self.token = next(self.tokens)
        self.following = next(self.tokens)
        self.graph = graph
        self.outer_names = set(scope)
        self.scope = scope
        self.binding_spans: dict[str, Span] = {}
        self.free_uses: dict[str, Span] = {}
        self.spans = spans
        self.operator_spans: dict[int, Span] = {}
        self.option_spans: dict[tuple[int, str], Span] = {}
        self.call_names: dict[int, str] = {}
        self.given_spans: dict[str, Span] = {}  # where each option of the call being read was written
        self.tuple_call: tuple[Node, tuple[str, ...]] | None = None  # the call an atom just read, where torch
        # returns a tuple (qr: Q, R), with the parts' names: qr(A)[0] indexes the tuple, as in torch
        self.limits = limits
        self.depth = 0
        self.first_node = len(graph.nodes)

    # ---- token helpers ----

    def advance(self) -> Token:
        self.previous, self.token, self.following = self.token, self.following, next(self.tokens)
        return self.previous

    def at(self, text: str) -> bool:
        return self.token.text == text  # no name or number is spelled like an operator

    def peek_in(self, texts: str) -> bool:
        return any(self.peek_is(text) for text in texts)

    def peek_is(self, text: str) -> bool:
        return self.following.kind == "OP" and self.following.text == text

    def error(self, message: str, span: Span, hint: str | None = None) -> ParseError:
        return ParseError(message, self.source, span, hint)

    def on_a_new_line(self) -> bool:
        """Whether a line break separates the current token from the one before it."""
        return "\n" in self.source[self.previous.span.end:self.token.span.start]

    def describe(self, token: Token) -> str:
        return "end of input" if token.kind == "END" else repr(token.text)

    def expect(self, text: str, opening: Token | None = None) -> Token:
        if self.at(text):
            return self.advance()
        if opening is not None and self.token.kind == "END":
            raise self.error(f"{opening.text!r} was never closed", opening.span)
        raise self.error(f"expected {text!r}, found {self.describe(self.token)}", self.token.span)

    def mark(self, node: Node, span: Span) -> Node:
        self.spans.setdefault(node.id, span)
        if len(self.graph.nodes) - self.first_node > self.limits.max_nodes:
            raise LimitError(f"the expression has more than {self.limits.max_nodes:,} nodes "
                             "(raise the limit with {max_nodes})")
        return node

    # ---- grammar rules ----

    def program(self) -> Expression:
        """program = { binding ";" } expr [ ";" ]"""
        while True:
            if self.token.kind == "NAME" and self.peek_is("="):
                self.binding()
                if self.token.kind == "END":
                    raise self.error("the input ends with a binding; write the expression to check after ';'",
                                     self.token.span)
                continue
            output, span = self.expression(0)
            if self.at(";"):
                separator = self.advance()
                if self.token.kind != "END":
                    raise self.error("only bindings (name = expression) may come before ';'", span,
                                     f"the text after column {separator.span.start + 1} would be ignored")
            if self.token.kind != "END":
                raise self.unexpected()
            return self.result(output)

    def binding(self) -> None:
        """binding = NAME "=" expr ";" """
        name_token = self.advance()
        name = name_token.text
        self.check_bindable(name_token)
        self.advance()  # "="
        node, _ = self.expression(0)
        if self.token.kind == "END":
            raise self.error("the input ends with a binding; write the expression to check after ';'",
                             self.token.span, f"e.g. {name} = ...; {name}**2")
        if not self.at(";") and self.token.kind != "END" and self.on_a_new_line():
            raise self.error(f"expected ';', found {self.describe(self.token)}", self.token.span,
                             "a new line does not end a binding: end each with ';' (z = w*x; p = sigmoid(z); p)")
        self.expect(";")
        self.scope[name] = node
        self.binding_spans[name] = name_token.span

    def check_bindable(self, token: Token) -> None:
        name = token.text
        if name in CONSTANTS or name in FUNCTIONS:
            kind = "a constant" if name in CONSTANTS else "a function"
            raise self.error(f"cannot bind {name!r}: it is {kind}", token.span)
        if name in self.binding_spans or name in self.outer_names:
            raise self.error(f"{name!r} is bound twice", token.span, "each name may be bound once")
        if name in self.free_uses:
            column = self.free_uses[name].start + 1
            raise self.error(f"{name!r} is used at column {column} before its binding", token.span,
                             "move the binding before its first use")

    def expression(self, min_precedence: int) -> tuple[Node, Span]:
        """expr = prefix { infix-op expr }, climbing by the ops' precedences."""
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise LimitError(f"the expression nests deeper than {self.limits.max_depth} levels at column "
                             f"{self.token.span.start + 1} (raise the limit with {{max_depth}})")
        left, left_span = self.prefix()
        while self.token.kind == "OP" and self.token.text in INFIX:
            spec = INFIX[self.token.text]
            if spec.precedence <= min_precedence:
                break
            operator = self.advance()
            right, right_span = self.operand(spec, operator)
            span = left_span.cover(right_span)
            left, left_span = self.mark(self.graph.raw(spec.name, (left, right)), span), span
            self.operator_spans.setdefault(left.id, operator.span)
            if spec.precedence == INFIX[">"].precedence and self.token.text in INFIX \
                    and INFIX[self.token.text].precedence == spec.precedence:
                raise self.error("comparisons cannot be chained", self.token.span, "use parentheses")
        self.depth -= 1
        return left, left_span

    def operand(self, spec: OpSpec, operator: Token) -> tuple[Node, Span]:
        if self.token.kind == "END" or self.token.text in CLOSERS:
            raise self.error(f"expected an expression after {operator.text!r}, found {self.describe(self.token)}",
                             self.token.span)
        return self.expression(spec.precedence - 1 if spec.right_assoc else spec.precedence)

    def prefix(self) -> tuple[Node, Span]:
        """prefix = ("-" | "+") expr | postfix"""
        if self.token.text in SIGNS:
            return self.signed()
        node, span = self.atom()
        by_field = self.at(".") and self.following.kind == "NAME" and self.following.text != "T"
        if (self.at("[") or by_field) and self.tuple_call is not None and self.tuple_call[0] is node:
            if not self.tuple_call[1]:
                if by_field:
                    self.advance()
                    self.advance()
                else:
                    self.bracketed_index()
                raise self.indexed_elementwise_extremum(node, span, span.cover(self.previous.span))
            node, span = self.tuple_part(node, span, self.tuple_call[1])
        while self.token.text in POSTFIX_STARTS:
            node, span = self.postfix(node, span)
        return node, span

    def atom(self) -> tuple[Node, Span]:
        """atom = NUMBER | NAME | call | "(" expr ")" """
        self.tuple_call = None
        token = self.token
        if token.kind == "NUMBER":
            return self.number(self.advance())
        if token.kind == "NAME":
            return self.name()
        if self.at("("):
            opening = self.advance()
            node, _ = self.expression(0)
            closing = self.expect(")", opening)
            self.tuple_call = None  # (qr(A))[0] indexes the tensor qr(A): how the printer writes that
            return node, opening.span.cover(closing.span)
        if token.kind == "END":
            raise self.error("expected an expression, found end of input", token.span)
        if token.kind == "STRING":
            raise self.error(f"expected an expression, found the text {token.text}", token.span,
                             "text in quotes is only an option's value, e.g. gelu(x, approximate='tanh')")
        raise self.error(f"expected an expression, found {token.text!r}", token.span)

    def postfix(self, node: Node, span: Span) -> tuple[Node, Span]:
        """postfix = atom { "[" index { "," index } "]" | ".T" }"""
        if self.at("."):
            dot = self.advance()
            if not (self.token.kind == "NAME" and self.token.text == "T"):
                method = self.token.text if self.token.kind == "NAME" else None
                hint = "only .T (transpose) is supported"
                if torch_name(method, OVERLOADS) is not None:
                    operand = self.source[span.start:span.end]
                    more = "" if self.source.startswith("()", self.token.span.end) else ", ..."
                    hint = f"write {torch_name(method, OVERLOADS)}({operand}{more}): methods are written as functions"
                raise self.error(f"unknown attribute {self.describe(self.token)}", dot.span.cover(self.token.span),
                                 hint)
            end = self.advance()
            spec = POSTFIX[".T"]
            return self.mark(self.graph.raw(spec.name, (node,)), span.cover(end.span)), span.cover(end.span)
        start = self.token.span
        items = self.bracketed_index()
        whole = span.cover(start).cover(self.previous.span)
        return self.mark(self.graph.raw(POSTFIX["[]"].name, (node,), items), whole), whole

    def bracketed_index(self) -> tuple:
        opening = self.advance()
        items = [self.index_item()]
        while self.at(","):
            self.advance()
            items.append(self.index_item())
        self.expect("]", opening)
        return tuple(items)

    def index_item(self):
        """index = INT | [ INT ] ":" [ INT ] [ ":" [ INT ] ]"""
        parts: list = [None]
        colons = 0
        while True:
            if self.at(":"):
                self.advance()
                colons += 1
                if colons > 2:
                    raise self.error("too many ':' in a slice", self.previous.span)
                parts.append(None)
            elif self.at(",") or self.at("]"):
                break
            else:
                if parts[-1] is not None:
                    raise self.unexpected()
                parts[-1] = self.integer("an index")
        if colons == 0:
            if parts[0] is None:
                raise self.error("expected an index", self.token.span)
            return parts[0]
        parts += [None] * (3 - len(parts))
        if parts[2] is not None and parts[2] <= 0:
            raise self.error("slice steps must be positive", self.previous.span,
                             "reversed slices are not supported")
        return ("slice", *parts)

    def integer(self, what: str) -> int:
        start = self.token.span
        negative = self.at("-")
        if negative:
            self.advance()
        token = self.token
        if token.kind != "NUMBER" or not token.text.isdigit():
            raise self.error(f"expected an integer for {what}, found {self.describe(token)}", start.cover(token.span))
        self.advance()
        return -int(token.text) if negative else int(token.text)

    def tuple_number(self, where: str) -> int | float:
        """[ "-" ] NUMBER inside a tuple: an int where written as one, else a float."""
        start = self.token.span
        negative = self.at("-")
        if negative:
            self.advance()
        token = self.token
        if token.kind != "NUMBER":
            raise self.error(f"expected a number in the tuple given to {where}, found {self.describe(token)}",
                             start.cover(token.span), "a tuple holds numbers only: an option's value, e.g. dims=(0, 1)")
        self.advance()
        value = int(token.text) if token.text.isdigit() else float(token.text)
        if value == float("inf"):
            raise self.error(f"the number {token.text} is too large for float64", token.span)
        return -value if negative else value

    def signed(self) -> tuple[Node, Span]:
        """("-" | "+") expr, at the precedence of unary minus"""
        sign = self.advance()
        if self.token.kind == "END":
            raise self.error(f"expected an expression after {sign.text!r}, found end of input", self.token.span)
        operand, span = self.expression(UNARY_PRECEDENCE)
        span = sign.span.cover(span)
        if sign.text == "+":
            return operand, span
        if operand.is_const:
            return self.mark(self.graph.const(-operand.attr), span), span
        return self.mark(self.graph.raw("neg", (operand,)), span), span

    def number(self, token: Token) -> tuple[Node, Span]:
        value = float(token.text)
        if value == float("inf"):
            raise self.error(f"the number {token.text} is too large for float64", token.span)
        return self.mark(self.graph.const(value), token.span), token.span

    def name(self) -> tuple[Node, Span]:
        token = self.advance()
        name = token.text
        if name in MODULE_PREFIXES and name not in self.scope and self.at(".") and self.following.kind == "NAME" \
                and self.following.text != "T":
            raise self.module_prefix(token)
        if self.at("("):
            return self.call(token)
        if name in OVERLOADS and name not in self.scope:
            raise self.error(f"{name!r} is a function", token.span, f"call it as {name}(...)")
        if name in self.scope:
            return self.scope[name], token.span
        if name in CONSTANTS:
            return self.mark(self.graph.const(CONSTANTS[name]), token.span), token.span
        if name in ("inf", "nan"):  # where(M > 0, S, -inf), torch's mask: read as a variable, it asked for --inf
            raise self.error(f"{name!r} is not a value here: the language's numbers are finite", token.span,
                             "mask as where(M > 0, S, -1e9) or S + M with M = -1e9 at the masked entries: softmax "
                             "gives them 0 to float64 precision" if name == "inf" else None)
        self.free_uses.setdefault(name, token.span)
        return self.mark(self.graph.var(name), token.span), token.span

    def call(self, name_token: Token) -> tuple[Node, Span]:
        """call = NAME "(" [ arg { "," arg } ] ")"      arg = expr | NAME "=" literal
        (trailing integers: an axis or a shape; keyword arguments as torch names them: `dim=-1`)"""
        overloads = OVERLOADS.get(name_token.text)
        if overloads is None:
            raise self.unknown_function(name_token)
        opening = self.advance()
        args: list[Node] = []
        arg_spans: dict[int, Span] = {}  # where each operand written as an expression is, by position
        keywords: dict[str, tuple[object, Span]] = {}
        index = None  # unindex(v, like, [0:2]) spells its index attribute in brackets
        equation = None  # einsum('ij,jk->ik', a, b): torch's positional subscripts, read as equation=
        if not self.at(")"):
            while True:
                if self.at(")") or self.at(","):
                    raise self.error(f"expected an argument of {name_token.text}(), found {self.token.text!r}",
                                     self.token.span)
                if self.at("[") and any(s.attrs == "index" for s in overloads):
                    index = self.bracketed_index()
                    break
                if self.token.kind == "STRING" and not args and not keywords and equation is None and \
                        any(o.name == "equation" for s in overloads for o in s.options):
                    text = self.advance()
                    equation = (text.text[1:-1], text.span)
                elif self.token.kind == "NAME" and self.peek_is("="):
                    self.keyword(name_token.text, keywords)
                elif keywords:
                    raise self.error(f"{name_token.text}(): a positional argument after keyword arguments",
                                     self.token.span)
                elif self.at("(") and re.match(TUPLE_START, self.source[self.token.span.start:]):
                    args.append(_Literal(*self.number_tuple(f"{name_token.text}()")))
                elif self.token.kind == "STRING" and self.peek_in(",)"):
                    text = self.advance()
                    args.append(_Literal(text.text[1:-1], text.span))
                elif self.token.kind == "NAME" and self.token.text in ("True", "False") and self.peek_in(",)"):
                    word = self.advance()
                    args.append(_Literal(word.text == "True", word.span))
                elif self.token.kind == "NAME" and self.token.text == "None" and self.peek_in(",)"):
                    args.append(_Absent(self.advance().span))
                else:
                    node, arg_spans[len(args)] = self.expression(0)
                    args.append(node)
                if not self.at(","):
                    break
                self.advance()
        closing = self.expect(")", opening)
        span = name_token.span.cover(closing.span)
        if index is not None:
            spec = next(s for s in overloads if s.attrs == "index")
            if len(args) != spec.arity:
                raise self.error(f"{name_token.text}() takes {spec.arity} arguments and an index", span)
            return self.mark(self.graph.raw(spec.name, tuple(args), index), span), span
        if equation is not None:
            if not args:
                raise self.error(f"{name_token.text}() takes its operands after the equation, e.g. "
                                 f"{name_token.text}('ij,jk->ik', a, b)", span)
            if "equation" in keywords:
                raise self.error(f"{name_token.text}(): equation is given by position and by keyword",
                                 keywords["equation"][1])
            keywords = {"equation": equation, **keywords}
        self.given_spans = {}
        spec, operands, attr = self.resolve_call(name_token.text, overloads, args, span, keywords)
        spec, attr = self.torch_extremum(name_token.text, spec, attr, span)
        for position, word in enumerate(operand_keywords(spec)):  # a shape error about the target points at it
            if position in arg_spans:
                self.given_spans.setdefault(word, arg_spans[position])
        node = self.mark(self.graph.raw(spec.name, tuple(operands), attr), span)
        self.call_names.setdefault(node.id, name_token.text)
        for option, where in self.given_spans.items():
            self.option_spans.setdefault((node.id, option), where)
        parts = torch_tuple(name_token.text, spec, attr, self.given_spans)
        if not parts and name_token.text in ("max", "min") and spec.name == name_token.text \
                and _is_integer(operands[1]):
            parts = ()  # max(A, 1): torch's max over dim 1, a tuple; here the elementwise op (see prefix)
            self.tuple_call = (node, parts)
        else:
            self.tuple_call = (node, parts) if parts else None
        return node, span

    def torch_extremum(self, name: str, spec: OpSpec, attr, span: Span) -> tuple[OpSpec, object]:
        """max(x, dim=1) and min(x, dim=1, keepdim=True) as torch's max/min over one dim (its values, whose
        backward picks one of a tie), not amax/amin, which share a tie's gradient; torch's max takes one dim."""
        if name not in ("max", "min") or spec.name not in (f"a{name}", f"a{name}_dims") or attr is None:
            return spec, attr
        dim, keepdim = (attr[0], False) if spec.name == f"a{name}" else (attr.dim, attr.keepdim)
        if dim is None:  # max(x, keepdim=True): torch's max has no such form; amax's
            return spec, attr
        if not isinstance(dim, int):
            if len(dim) != 1:
                raise self.error(f"{name}() takes one dim, as torch.{name}: got dim={dim}", span,
                                 f"a{name}(x, dim={dim}) reduces over several dims")
            (dim,) = dim
        chosen = OPS[f"{name}_dim"]
        return chosen, chosen.with_options({"dim": dim, "keepdim": keepdim})

    def indexed_elementwise_extremum(self, node: Node, span: Span, whole: Span) -> ParseError:
        """max(A, 1)[0]: torch reads max(A, 1) as the max over dim 1, a tuple (values, indices), and [0] as its
        values; this language reads it as the elementwise larger of A and 1.  Either reading would check a
        function the other user did not mean, so the call is refused, with both spellings."""
        name, written = node.op, self.source[span.start:span.end]
        accessor = "[0]" if self.source[span.end:whole.end].lstrip().startswith("[") else ".values"
        dim = format_option(int(node.args[1].attr))
        reduction = f"{written[:written.rstrip(' ,)').rindex(',')]}, dim={dim})"  # max(A, dim=1): its operand kept
        larger = "larger" if name == "max" else "smaller"
        return self.error(f"{self.source[span.start:whole.end]}: here {written} is the elementwise {larger} of its "
                          f"arguments (torch.{name}imum), not torch's {written}, the {name} over dim {dim}: a tuple "
                          "(values, indices)", whole,
                          f"write {reduction}{accessor} for torch's values over dim {dim}, or ({written})[...] "
                          "to index the elementwise result")

    def tuple_part(self, node: Node, span: Span, parts: tuple[str, ...]) -> tuple[Node, Span]:
        """call "[" INT "]" or call "." FIELD where torch's call returns a (named) tuple (`parts`): that part, as
        torch: qr(A)[0] and qr(A).Q are Q, max(A, dim=1)[0] and .values the values; a part this language does not
        differentiate (indices, a sign) is an error saying how to write what it can."""
        name = self.call_names[node.id]
        opening = self.token
        listed = ", ".join(parts)
        if self.at("."):
            self.advance()
            field = self.advance()
            whole = span.cover(field.span)
            if field.text not in parts:
                raise self.error(f"torch's {name}() returns a named tuple ({listed}): it has no field {field.text!r}",
                                 opening.span.cover(field.span), did_you_mean(field.text, list(parts)))
            part, written = field.text, f".{field.text}"
        else:
            items = self.bracketed_index()
            whole = span.cover(opening.span).cover(self.previous.span)
            if len(items) != 1 or not isinstance(items[0], int) or not -len(parts) <= items[0] < len(parts):
                raise self.error(f"torch's {name}() returns a tuple ({listed}): index it with one integer from 0 to "
                                 f"{len(parts) - 1}", opening.span.cover(self.previous.span))
            part, written = parts[items[0] % len(parts)], f"[{items[0]}]"
        spec = OPS[node.op]
        if any(o.name == "part" for o in spec.options):
            if getattr(node.attr, "mode", None) == "r" and part == "Q":
                raise self.error(f"{name}(A, mode='r') returns no Q (torch's is empty)", whole,
                                 f"write {name}(A, part='Q') for Q")
            options = spec.with_options({**dict(node.attr.items), "part": part})
            return self.mark(self.graph.raw(spec.name, node.args, options), whole), whole
        if part in ("values", "logabsdet"):
            return node, whole
        kept = parts.index("values" if part == "indices" else "logabsdet")
        why = "integers" if part == "indices" else "piecewise constant"
        raise self.error(f"{name}(...){written} is torch's {part}: {why}, with no gradient to check", whole,
                         f"{name}(...)[{kept}], the {parts[kept]}, is differentiable; here {name}(...) alone is too")

    def keyword(self, function: str, keywords: dict[str, tuple[object, Span]]) -> None:
        """NAME "=" value, where a value is a literal (a number, 'text', True, False, None or a tuple of integers
        (1, 2)) or, for an optional operand (a tensor option, bias=b), an expression: kept as its node."""
        name = self.advance()
        self.advance()
        if name.text in keywords:
            raise self.error(f"{function}(): {name.text} is given twice", name.span)
        start = self.token
        if start.kind == "STRING":
            self.advance()
            keywords[name.text] = (start.text[1:-1], start.span)
        elif start.kind == "NAME" and start.text in ("True", "False", "None") and self.peek_in(",)"):
            self.advance()
            keywords[name.text] = ({"True": True, "False": False, "None": None}[start.text], start.span)
        elif self.at("(") and re.match(TUPLE_START, self.source[self.token.span.start:]):
            keywords[name.text] = self.number_tuple(f"{name.text}=")
        elif start.kind == "NAME" and self.peek_in(",)") and start.text in _choices(function, name.text):
            raise self.error(f"{function}(): {name.text} must be a constant: write {name.text}='{start.text}' (in "
                             "quotes)", start.span)  # gelu(x, approximate=tanh): tanh is also a function
        else:
            node, span = self.expression(0)
            keywords[name.text] = (node.attr if node.is_const else node, span)

    def number_tuple(self, where: str) -> tuple[tuple, Span]:
        """"(" item { "," item } [","] ")" where an item is a number or, nested, such a tuple: ((0, 1), (1, 0)),
        with its span.  The option it is given to says whether it takes integers only."""
        start = self.advance()
        item = lambda: self.number_tuple(where)[0] if self.at("(") else self.tuple_number(where)  # noqa: E731
        items = [item()]
        while self.at(","):
            self.advance()
            if not self.at(")"):
                items.append(item())
        return tuple(items), start.span.cover(self.expect(")", start).span)

    def resolve_call(self, name: str, overloads: list[OpSpec], written: list[Node], span: Span,
                     written_keywords: dict[str, tuple[object, Span]]):
        """The overload that fits the arguments, its operands, and its attribute: trailing integers (an axis
        or a shape), or options from keyword arguments and trailing constants.  Operands may be named as torch
        names them (`input=`, `target=`: see `operand_keywords`)."""
        if name in DIM_BY_KEYWORD:
            written, written_keywords = self.without_order_two(name, written, written_keywords, span)
        for spec in overloads:
            if spec.attrs == "index":  # spelled with brackets: unindex(v, like, [0:2])
                continue
            args, keywords = self.named_operands(name, spec, written, written_keywords)
            if spec is not overloads[-1] and self.tensor_for_option(spec, args, keywords):
                continue  # cross_entropy(z, p): the overload whose target is an operand
            literals = [a for a in args if isinstance(a, _Literal)]
            if spec.attrs != "options" and any(isinstance(a, _Absent) for a in args):
                if spec.attrs == "axis" and name not in ("max", "min") and len(args) == spec.arity + 1 \
                        and isinstance(args[-1], _Absent) and not keywords:
                    return spec, args[:-1], None  # sum(x, None): every element, as torch.sum(x, None)
                continue
            if spec.attrs == "options" and len(args) >= spec.arity:
                count = len(args) if spec.variadic else spec.arity  # a variadic op's options are keyword-only
                if any(isinstance(a, _Literal) for a in args[:count]):
                    raise self.misplaced_literal(name, args[:count], "is an option's value, not an operand")
                if any(isinstance(a, _Absent) for a in args[:count]):
                    raise self.error(f"{name}(): None only leaves out an optional operand",
                                     next(a for a in args[:count] if isinstance(a, _Absent)).span)
                options, optional = self.options(name, spec, args[count:], keywords, span)
                return spec, args[:count] + optional, options
            if literals:
                continue
            if (keywords and spec.attrs == "axis" and set(keywords) == {"dim"} and len(args) == spec.arity
                    and not isinstance(keywords["dim"][0], tuple)):  # dim=(0, 1): the overload with options
                dim, dim_span = keywords["dim"]
                if dim is None and name in ("max", "min"):  # torch.max(x, dim=None) is a TypeError in torch
                    raise self.error(f"{name}(): dim must be an integer, as torch.{name}'s", dim_span,
                                     f"{name}(x) without dim is the {'largest' if name == 'max' else 'smallest'} "
                                     "element")
                if dim is None:  # sum(x, dim=None): every element, as torch
                    return spec, args, None
                return spec, args, (option_value(name, Option("dim", None, "int"), dim, dim_span, self.error),)
            if keywords:
                continue
            if spec.attrs is None:
                if len(args) == spec.arity or (spec.variadic and len(args) >= spec.arity):
                    return spec, args, None
                continue
            operands, extra = args[: spec.arity], args[spec.arity:]
            if len(operands) < spec.arity or (spec.attrs == "axis" and len(extra) > 1):
                continue
            if not all(_is_integer(a) for a in extra):
                raise self.error(f"{name}(): the {'axis' if spec.attrs == 'axis' else 'shape'} must be "
                                 "integer numbers", span)
            attr = tuple(int(a.attr) for a in extra)
            return spec, operands, (attr if attr or spec.attrs == "shape" else None)
        if all(s.attrs == "index" for s in overloads):
            raise self.error(f"{name}() takes its index in brackets, e.g. {name}(v, x, [0])", span)
        args, keywords = self.named_operands(name, overloads[0], written, written_keywords)
        if any(isinstance(a, _Absent) for a in args):
            raise self.error(f"{name}(): None only leaves out an optional operand, and {name}() has none here",
                             next(a for a in args if isinstance(a, _Absent)).span)
        if any(isinstance(a, _Literal) for a in args):
            raise self.misplaced_literal(name, args, "is not an argument it takes here")
        if keywords:
            takes_dim = any(s.attrs == "axis" for s in overloads)
            # the first keyword it does not take (logsumexp(A, dim=1, keepdim=True): keepdim, not dim)
            word, (_, where) = next(((w, k) for w, k in keywords.items() if not (takes_dim and w == "dim")),
                                    next(iter(keywords.items())))
            if takes_dim and word == "dim" and len(args) > min(s.arity for s in overloads):
                raise self.error(f"{name}(): dim is given by position and by keyword", where)
            hint = "its options: dim" if takes_dim else \
                f"its operands are positional here: {name}({', '.join(overloads[0].params)})"
            raise self.error(f"{name}() takes no keyword argument {word!r}", where, hint)
        raise self.error(f"{name}() takes {_arity_text(overloads)}, got {len(args)}", span)

    def without_order_two(self, name: str, written: list, keywords: dict, span: Span) -> tuple[list, dict]:
        """torch.norm(x, p, dim) with its order p (second by position, or p=) left out where it is 2, the only
        order supported here: norm(A, 2, dim=1), norm(A, 2, 1) and norm(A, p=2, dim=1) are norm(A, dim=1).
        Another p is refused; a third argument by position is torch's dim."""
        keywords = dict(keywords)
        given = [(keywords.pop("p"))] if "p" in keywords else []
        if len(written) > 1:
            second = written[1]
            where = second.span if isinstance(second, (_Literal, _Absent)) else self.spans.get(second.id, span)
            given.append((second.attr if isinstance(second, Node) and second.is_const else None, where))
        for value, where in given:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != 2:
                raise self.error(f"{name}(x, p): torch's second argument of norm is the order p, not dim "
                                 f"(torch.norm(x, 1) is the 1-norm); only the 2-norm is supported here",
                                 where, f"{name}(x, dim=1) is the 2-norm along dim 1")
        if len(written) == 3 and "dim" not in keywords and isinstance(written[2], Node) and written[2].is_const:
            keywords["dim"] = (written[2].attr if not float(written[2].attr).is_integer()
                               else int(written[2].attr), self.spans.get(written[2].id, span))
            written = written[:2] + written[3:]
        return written[:1] + written[2:], keywords

    @staticmethod
    def tensor_for_option(spec: OpSpec, args: list, keywords: dict) -> bool:
        """Whether an option of `spec` that is not a tensor would receive an expression (not a constant)."""
        if spec.attrs != "options" or spec.variadic:
            return False
        positional = [o for o in spec.options if not o.keyword_only]
        given = list(zip(positional, args[spec.arity:])) + [
            (o, keywords[o.name][0]) for o in spec.options if o.name in keywords]
        return any(o.kind != "tensor" and isinstance(v, Node) and not v.is_const for o, v in given)

    def named_operands(self, name: str, spec: OpSpec, args: list, keywords: dict) -> tuple[list, dict]:
        """`args` with the operands given by torch's keyword names (`input=x`) appended in their places, and the
        keywords left (options)."""
        names = operand_keywords(spec)
        if not any(word in keywords for word in names):
            return args, keywords
        args, keywords = list(args), dict(keywords)
        for position, word in enumerate(names):
            if word not in keywords:
                continue
            value, where = keywords.pop(word)
            if position < len(args):
                raise self.error(f"{name}(): {word} is given by position and by keyword", where)
            if position > len(args):
                missing = ", ".join(names[len(args):position])
                raise self.error(f"{name}(): {word}= is operand {position + 1}; give {missing} too", where,
                                 f"e.g. {name}({', '.join(f'{n}=...' for n in names[:position + 1])})")
            args.append(self.operand_node(name, word, value, where))
            self.given_spans[word] = where
        return args, keywords

    def operand_node(self, function: str, word: str, value: object, where: Span) -> Node:
        """An operand given as `word=value`: its node (a number becomes a constant node)."""
        if isinstance(value, Node):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.mark(self.graph.const(float(value)), where)
        raise self.error(f"{function}(): {word} is an operand: give a tensor (an expression), got "
                         f"{format_option(value)}", where)

    def options(self, name: str, spec: OpSpec, extra: list, keywords: dict, span: Span) -> tuple[Options, list[Node]]:
        """An op's options from trailing arguments (in the op's order) and keyword arguments, and the optional
        operands given (its tensor options), in the op's order."""
        positional = [o for o in spec.options if not o.keyword_only]
        if len(extra) > len(positional):
            raise self.too_many_positional(name, spec, positional, extra, span)
        given: dict[str, object] = {}
        operands: dict[str, Node] = {}
        for option, arg in zip(positional, extra):
            if isinstance(arg, (_Literal, _Absent)):
                value, where = (arg.value if isinstance(arg, _Literal) else None), arg.span
            else:
                value, where = (arg.attr if arg.is_const else arg), self.spans.get(arg.id, span)
            meant = [o for o in spec.options if o.keyword_only and isinstance(value, str) and value in o.choices]
            if meant and value not in option.choices:  # cross_entropy(z, t, 'sum'): the third is torch's weight
                raise self.error(f"{name}(): {format_option(value)} is where torch takes {option.name}; "
                                 f"{meant[0].name} is keyword-only in torch: write {meant[0].name}="
                                 f"{format_option(value)}", where)
            self.give(name, option, value, where, given, operands)
        by_name = {o.name: o for o in spec.options}
        for word, (value, where) in keywords.items():
            if word not in by_name:
                operands = operand_keywords(spec) or spec.params
                hint = did_you_mean(word, list(by_name) + list(operand_keywords(spec))) or (
                    f"its operands: {', '.join(operands)}; its options: {', '.join(by_name)}" if by_name else None)
                raise self.error(f"{name}() takes no keyword argument {word!r}", where, hint)
            if word in given:
                raise self.error(f"{name}(): {word} is given by position and by keyword", where)
            self.give(name, by_name[word], value, where, given, operands)
        options = spec.with_options(given)
        return options, [operands[word] for word in spec.present(options)]

    def too_many_positional(self, name: str, spec: OpSpec, positional: list[Option], extra: list, span: Span):
        """The error for the first of the arguments after the operands (`extra`) past the last one `spec` takes
        by position, at that argument: where it fits a keyword-only option (reduction='sum' of cross_entropy),
        that option's keyword form."""
        first_extra = extra[len(positional)]
        where = first_extra.span if isinstance(first_extra, (_Literal, _Absent)) else self.spans.get(first_extra.id,
                                                                                                      span)
        value = first_extra.value if isinstance(first_extra, _Literal) else (
            None if isinstance(first_extra, _Absent) else first_extra.attr if first_extra.is_const else first_extra)
        by_position = ", ".join(list(operand_keywords(spec) or spec.params) + [o.name for o in positional])
        keyword_only = [o for o in spec.options if o.keyword_only]
        fits = [o for o in keyword_only if _fits(o, value)]
        if len(fits) == 1 and not isinstance(value, Node):
            option = fits[0]
            return self.error(f"{name}(): {option.name} is keyword-only in torch: write {option.name}="
                              f"{format_option(value)}", where, f"{name}() takes {by_position} by position")
        if keyword_only:
            return self.error(f"{name}() takes {by_position} by position; {', '.join(o.name for o in keyword_only)} "
                              f"{'are' if len(keyword_only) > 1 else 'is'} keyword-only in torch", where,
                              f"e.g. {keyword_only[0].name}={format_option(keyword_only[0].default)}")
        return self.error(f"{name}() takes {by_position} by position, got {spec.arity + len(extra)} arguments",
                          where)

    def give(self, function: str, option: Option, value: object, where: Span, given: dict,
             operands: dict[str, Node]) -> None:
        """One option's value into `given`; a tensor option's operand into `operands` (a number becomes a
        constant node)."""
        self.given_spans[option.name] = where
        if option.kind != "tensor":
            given[option.name] = option_value(function, option, value, where, self.error)
            return
        if value is not None and not isinstance(value, Node):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise self.error(f"{function}(): {option.name} must be a tensor (an expression) or None, got "
                                 f"{format_option(value)}", where)
            value = self.mark(self.graph.const(float(value)), where)
        given[option.name] = value is not None
        if value is not None:
            operands[option.name] = value

    def misplaced_literal(self, name: str, args: list, what: str) -> ParseError:
        """The error for the first literal among `args`, which the call cannot take where it is."""
        first = next(a for a in args if isinstance(a, _Literal))
        if isinstance(first.value, str):
            return self.error(f"{name}(): found the text {first.value!r}, which {what}", first.span,
                              "text in quotes is only an option's value, e.g. gelu(x, approximate='tanh')")
        if isinstance(first.value, bool):
            return self.error(f"{name}(): found {first.value}, which {what}", first.span)
        return self.error(f"{name}(): a tuple of integers {what}", first.span)

    def unknown_function(self, token: Token) -> ParseError:
        name = token.text
        if name in self.scope or name in CONSTANTS or (name not in FUNCTIONS and len(name) == 1):
            return self.error(f"{name!r} is not a function", token.span, f"for a product write {name}*(...)")
        return self.error(f"unknown function {name!r}", token.span, self.spelling_hint(token))

    def spelling_hint(self, token: Token) -> str:
        """How to write the call `token` names, which this language spells otherwise (ln: log, np's arctan:
        atan, multiply: an operator), or the nearest known name."""
        name = token.text
        target = torch_name(name, OVERLOADS)
        if target is not None and target != name:
            return f"write {self.call_text(token, target)}: {name} is {target} here (torch's name)"
        if name in OPERATOR_FUNCTIONS:
            return f"write {OPERATOR_FUNCTIONS[name]}: an operator here"
        return did_you_mean(name, FUNCTIONS) or "run `gradcheck --list-ops` for the functions"

    def module_prefix(self, first: Token) -> ParseError:
        """The error for `np.sin(x)`, `torch.nn.functional.softmax(...)`, `math.pi`: the caret on the prefix, the
        hint the call without it (with torch's name where the module's differs: np.arctan is atan)."""
        last = first
        while self.at(".") and self.following.kind == "NAME":
            self.advance()
            last = self.advance()
        prefix = Span(first.span.start, last.span.start)
        written = self.source[prefix.start:prefix.end]
        name = last.text
        if name in CONSTANTS:
            return self.error(f"write {name}: the language's constants have no module prefix", prefix)
        target = torch_name(name, OVERLOADS)
        if target is None:
            if name in OPERATOR_FUNCTIONS:
                return self.error(f"write {OPERATOR_FUNCTIONS[name]}: {written}{name} is an operator here", prefix)
            return self.error(f"{written}{name}: the language uses torch's function names without a module prefix, "
                              f"and has no function {name!r}", prefix, self.spelling_hint(last))
        renamed = f" ({written}{name} is {target} here)" if target != name else ""
        call = self.call_text(last, target)
        over_dim = re.match(r"(max|min)\((.+),\s*(-?\d+)\s*\)$", call)
        if over_dim:  # torch.max(A, 1) is the max over dim 1; this language's max(A, 1) is elementwise
            call = f"{over_dim[1]}({over_dim[2]}, dim={over_dim[3]})"
        return self.error(f"write {call}: the language uses torch's function names without a module "
                          f"prefix{renamed}", prefix)

    def call_text(self, name: Token, replacement: str) -> str:
        """The call that starts at `name` as written, with the function named `replacement`: `atan(x)` for
        `arctan(x)`; `atan(...)` where the call is long or unclosed."""
        opening = self.source.find("(", name.span.end)
        if opening == -1 or self.source[name.span.end:opening].strip():
            return replacement
        depth = 0
        for end in range(opening, len(self.source)):
            depth += {"(": 1, ")": -1}.get(self.source[end], 0)
            if depth == 0:
                arguments = self.source[opening:end + 1]
                return replacement + (arguments if len(arguments) <= 40 and "\n" not in arguments else "(...)")
        return f"{replacement}(...)"

    def unexpected(self) -> ParseError:
        token = self.token
        if token.kind in ("NAME", "NUMBER") or self.at("("):
            return self.error(f"missing operator before {token.text!r}", token.span,
                              "write multiplication explicitly, e.g. 2*x")
        if self.at(")"):
            return self.error("unmatched ')'", token.span)
        if self.at("="):
            return self.error("unexpected '='", token.span, "bindings look like `z = w*x + b; z**2`; compare with ==")
        return self.error(f"unexpected {token.text!r}", token.span)

    def result(self, output: Node) -> Expression:
        nodes = ancestors([output])
        used = {n.attr for n in nodes if n.op == "var"}
        variables = [name for name in self.free_uses if name in used]
        return Expression(self.source, self.graph, output, self.scope, variables, self.spans, self.operator_spans,
                          nodes, self.option_spans, self.call_names)


def option_value(function: str, option: Option, value: object, span: Span, error) -> object:
    """`value` as the option's kind wants it (an int, a float, a bool, one of its texts, a tuple of ints), or
    the error `error(message, span, hint)` makes (the hint: the option's own, where it has one)."""
    kind, name, hint = option.kind, option.name, option.hint
    if isinstance(value, Node):
        if value.op == "var" and value.attr in option.choices:
            raise error(f"{function}(): {name} must be a constant: write {name}='{value.attr}' (in quotes)", span)
        wanted = {"int": "an integer", "ints": "an integer or a tuple of integers", "float": "a number",
                  "bool": "True or False", "str": "text in quotes"}.get(option.kind, "a constant")
        if option.choices:
            wanted += ", or one of " + ", ".join(repr(c) for c in option.choices)
        raise error(f"{function}(): {name} must be a constant written in the expression: {wanted}, not a "
                    "variable or an expression", span, hint)
    if (value is None and option.default is None) or (isinstance(value, str) and value in option.choices):
        return value
    integral = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in ("int", "ints") and any(abs(v) > 2**62 for v in _integers(value)):
        raise error(f"{function}(): {name} is too large ({format_option(value)})", span, hint)
    if kind == "int" and integral:
        return int(value)
    if kind == "ints" and (integral or (isinstance(value, tuple) and value and _all_integral(value))):
        return (int(value),) if integral else _as_ints(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str) and (not option.choices or value in option.choices):
        return value
    texts = "one of " + ", ".join(repr(c) for c in option.choices)
    wanted = {"float": "a number", "int": "an integer", "bool": "True or False",
              "ints": "an integer or a tuple of integers"}.get(kind)
    wanted = texts if wanted is None else wanted + (f", or {texts}" if option.choices else "")
    raise error(f"{function}(): {name} must be {wanted}, got {format_option(value)}", span, hint)


def _choices(function: str, option: str) -> set[str]:
    """The texts that option `option` of any overload of `function` takes (gelu's approximate: 'none', 'tanh')."""
    return {c for spec in OVERLOADS.get(function, ()) for o in spec.options if o.name == option for c in o.choices}


def _all_integral(value: tuple) -> bool:
    return all(float(n).is_integer() for n in _integers(value))


def _as_ints(value):
    """A (nested) tuple of integral numbers as the same tuple of ints: (1.0, 2) is (1, 2)."""
    return tuple(_as_ints(v) for v in value) if isinstance(value, tuple) else int(value)


# The first operand names of ops whose `param_names` are torch's own (input, A of torch.linalg, x1 of cdist, a of
# tensordot); other ops' names (clamp's x, lo, hi) are this language's, so their operands are positional only.
TORCH_FIRST_OPERANDS = ("input", "A", "x1", "a")


def operand_keywords(spec: OpSpec) -> tuple[str, ...]:
    """The keyword names torch gives the operands of `spec`, in order (cross_entropy(input=z, target=...)):
    `param_names` where they are torch's, else torch's usual input, other; none for a variadic op or one whose
    attribute is a shape or an index."""
    if spec.variadic or spec.attrs in ("shape", "index") or spec.arity == 0:
        return ()
    if spec.param_names is None:
        return ("input", "other")[: spec.arity]
    names = spec.param_names[: spec.arity]
    return names if names[0] in TORCH_FIRST_OPERANDS else ()


def torch_tuple(name: str, spec: OpSpec, attr, given: dict) -> tuple[str, ...]:
    """The parts of the tuple torch returns for this call as written (qr: Q, R; max with a dim: values,
    indices), or () where torch returns one tensor, or where the call names its part (qr(A, part='Q'))."""
    if name in ("max", "min") and spec.name == f"a{name}_dims":  # max(x, keepdim=True); max(x, dim=1): max_dim
        return ("values", "indices")
    return () if "part" in given else torch_tuple_parts(spec)


def _fits(option: Option, value: object) -> bool:
    """Whether `value`, written without a name, can only be meant for `option`: one of its texts, a bool for a
    bool option, or a tensor for a tensor option."""
    if isinstance(value, str):
        return value in option.choices
    if isinstance(value, bool):
        return option.kind == "bool"
    return isinstance(value, Node) and option.kind == "tensor"


def _integers(value) -> list:
    """The numbers in an option's value (a number, or a nested tuple of them); none in a text or a bool."""
    if isinstance(value, tuple):
        return [n for item in value for n in _integers(item)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def _is_integer(node: Node) -> bool:
    return node.is_const and float(node.attr).is_integer()


def _arity_text(overloads: list[OpSpec]) -> str:
    def one(spec: OpSpec) -> str:
        count = f"{spec.arity} or more" if spec.variadic else str(spec.arity)
        text = f"{count} argument{'s' if spec.arity != 1 or spec.variadic else ''}"
        if spec.attrs == "axis":
            text += " (and an optional axis)"
        elif spec.attrs == "shape":
            text += " (and a shape)" if spec.arity else "a shape"
        return text if spec.arity or spec.attrs != "shape" else "a shape"

    return " or ".join(dict.fromkeys(one(s) for s in overloads))
