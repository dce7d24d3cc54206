"""Messages a tester found unclear for the nn/loss options and torch's call forms: each is one line saying what
torch means, with the caret under what the user wrote, and exit code 2 (each case failed before its fix).
Also the forms that now follow torch instead of failing: operands by torch's keyword names, and the index of a
call torch returns a tuple for (qr(A)[0] is Q)."""

from __future__ import annotations

import pytest

from gradcheck_cli import check
from gradcheck_cli.lang.graph import to_text
from gradcheck_cli.lang.parser import parse

M22 = "[[1, 2], [3, 4]]"
V3 = "[1, 2, 3]"


def one_error(cli, expression: str, *values: str) -> tuple[str, str]:
    """(the message line, the text the caret marks) of the CLI's error for `expression`; asserts exit code 2,
    one message, no traceback."""
    result = cli(expression, *values)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert sum(line.startswith("error:") for line in lines) == 1, result.stderr
    marker = next(line for line in lines if line.strip().startswith("^"))
    source = lines[lines.index(marker) - 1]
    start = marker.index("^")
    marked = source[start:start + len(marker.strip())]
    return next(line for line in lines if line.startswith("error:")), marked


@pytest.mark.parametrize("expression, values, words, marked", [
    # float class targets: class indices, soft targets not supported (was: expected ')')
    ("cross_entropy(x, (0.5, 1))", ("--x", M22), "target must be an integer or a tuple of integers", "(0.5, 1)"),
    ("nll_loss(x, target=(0.5, 1))", ("--x", M22), "got (0.5, 1)", "(0.5, 1)"),
    # an out-of-range class target points at the target (was: column 1)
    ("cross_entropy(x, (0, 5))", ("--x", M22), "target 5 is out of range for 2 classes", "(0, 5)"),
    ("cross_entropy(x, target=(0, -3))", ("--x", M22), "target -3 is out of range", "(0, -3)"),
    # too few targets, or a scalar one: how many the input takes (was: "target has shape (1,)")
    ("cross_entropy(x, 1)", ("--x", M22), "(2 samples) takes 2 class targets, one per sample; got 1 target", "1"),
    ("cross_entropy(x, (1, 0))", ("--x", "[1, 2]"), "takes one class target, e.g. target=1; got 2 targets",
     "(1, 0)"),
    # ragged targets: no index= and no doubled op name (was: "cross_entropy: cross_entropy: ... index=")
    ("cross_entropy(x, ((0, 1), (1,)))", ("--x", M22), "cross_entropy: target=((0, 1), (1,)) is not rectangular",
     "((0, 1), (1,))"),
    # a pointwise loss's target, weight or option of the wrong shape or value: at it (was: column 1)
    ("binary_cross_entropy(sigmoid(x), 1)", ("--x", V3),
     "target of shape () must have the input's shape (3,) (torch's binary_cross_entropy does not broadcast a number: "
     "write e.g. 0.5*ones(3))", "1"),
    ("mse_loss(input=x, target=ones(2))", ("--x", V3), "input of shape (3,) and target of shape (2,) cannot be",
     "ones(2)"),
    ("mse_loss(x, x, weight=ones(2))", ("--x", V3), "weight of shape (2,) must have the input's shape (3,)",
     "ones(2)"),
    ("cross_entropy(x, (0, 1), weight=ones(3))", ("--x", M22), "weight must have one entry per class", "ones(3)"),
    ("huber_loss(x, x, delta=0)", ("--x", V3), "delta must be positive", "0"),
    # keyword-only options by position: torch's keyword form (was: "at most 2 options by position")
    ("cross_entropy(x, (0, 1), None, 'sum')", ("--x", M22),
     "reduction is keyword-only in torch: write reduction='sum'", "'sum'"),
    ("mse_loss(x, y, 'sum')", ("--x", V3, "--y", V3), "write reduction='sum'", "'sum'"),
    ("cross_entropy(x, (0, 1), 'sum')", ("--x", M22),  # the third is torch's weight (was: "weight must be a tensor")
     "'sum' is where torch takes weight; reduction is keyword-only in torch: write reduction='sum'", "'sum'"),
    ("cross_entropy(x, (0, 1), None, -100)", ("--x", M22),
     "takes input, target, weight by position; ignore_index, reduction, label_smoothing are keyword-only", "-100"),
    # torch's words for max(x, dim=2): max, dim, the input's shape (was: "amax: axis 2 ... for shape (3,)")
    ("max(x, dim=2)", ("--x", V3), "max: dim 2 is out of range for an input of shape (3,) (dims -1 to 0)",
     "max(x, dim=2)"),
    # an operand given by position and by torch's keyword name
    ("mse_loss(x, input=y)", ("--x", V3, "--y", V3), "input is given by position and by keyword", "y"),
    ("mse_loss(target=y)", ("--x", V3, "--y", V3), "target= is operand 2; give input too", "y"),
    # indices of torch's tuple results are not differentiable: say so (was: max(A, dim=1)[1] picked row 1)
    ("max(x, dim=1)[1]", ("--x", M22), "max(...)[1] is torch's indices", "max(x, dim=1)[1]"),
    ("sort(x)[1]", ("--x", V3), "sort(...)[1] is torch's indices", "sort(x)[1]"),
    ("slogdet(x)[0]", ("--x", M22), "slogdet(...)[0] is torch's sign", "slogdet(x)[0]"),
    ("qr(x)[2]", ("--x", M22), "torch's qr() returns a tuple (Q, R): index it with one integer from 0 to 1", "[2]"),
    # torch's max(x, 1) is the max over dim 1, a tuple; this language's is elementwise: indexed, it is refused
    # (was: max(x, 1)[0] silently took row 0 of the elementwise maximum, where torch takes the values over dim 1)
    ("max(x, 1)[0]", ("--x", M22), "here max(x, 1) is the elementwise larger of its arguments (torch.maximum), "
     "not torch's max(x, 1), the max over dim 1: a tuple (values, indices) (write max(x, dim=1)[0]", "max(x, 1)[0]"),
    ("min(2*x, -1)[1]", ("--x", M22), "or (min(2*x, -1))[...] to index the elementwise result", "min(2*x, -1)[1]"),
    # torch.max reduces over one dim only
    ("max(x, 1).values", ("--x", M22), "write max(x, dim=1).values for torch's values", "max(x, 1).values"),
    # torch's namedtuple fields: a field a tuple does not have, the indices by name
    ("qr(x).U", ("--x", M22), "torch's qr() returns a named tuple (Q, R): it has no field 'U'", ".U"),
    ("max(x, dim=1).indices", ("--x", M22), "max(...).indices is torch's indices", "max(x, dim=1).indices"),
    # torch.max(x, 1) with its prefix: the hint is this language's spelling of torch's call (was: "write max(x, 1)",
    # the elementwise max here)
    ("torch.max(x, 1)[0]", ("--x", M22), "write max(x, dim=1): the language uses torch's function names", "torch."),
    # torch's mask with -inf: the language has no infinities (was: "Missing option '--inf'", as though a variable)
    ("softmax(where(x > 0, x, -inf), dim=-1)", ("--x", V3), "'inf' is not a value here: the language's numbers are "
     "finite (mask as where(M > 0, S, -1e9)", "inf"),
    # None where no optional operand is: one message (was: a traceback, '_Absent' object has no attribute)
    ("sin(None)", ("--x", V3), "sin(): None only leaves out an optional operand, and sin() has none here", "None"),
    ("reshape(x, None)", ("--x", V3), "None only leaves out an optional operand", "None"),
    ("where(x > 0, x, None)", ("--x", V3), "None only leaves out an optional operand", "None"),
    ("max(x, dim=(0, 1))", ("--x", M22), "max() takes one dim, as torch.max: got dim=(0, 1) (amax(x, dim=(0, 1)) "
     "reduces over several dims)", "max(x, dim=(0, 1))"),
])
def test_one_clear_message_at_what_was_written(cli, expression, values, words, marked):
    message, caret = one_error(cli, expression, *values)
    assert words in message, message
    assert caret == marked, (message, caret)


@pytest.mark.parametrize("written", ["nll_loss(x, t)", "nll_loss(x, (0.5, 1))"])
def test_nll_loss_targets_are_worded_for_nll_loss(cli, written):
    """nll_loss has no class-probability form in torch (was: its hint offered cross_entropy(z, p) as the way)."""
    message = cli(written, "--x", M22, *(("--t", "0,1") if "t)" in written else ())).stderr
    assert "as torch's int64 target: nll_loss(log_softmax(z, 1), (1, 0, 2)); nll_loss takes no class probabilities" \
        in message, message


def test_float_targets_say_what_torch_means(cli):
    message = cli("cross_entropy(x, (0.5, 1))", "--x", M22).stderr
    assert "class targets are integer class indices" in message
    assert "class probabilities are a tensor of the input's shape: cross_entropy(z, p)" in message


@pytest.mark.parametrize("written, plain", [
    ("cross_entropy(input=z, target=(1, 0))", "cross_entropy(z, (1, 0))"),
    ("mse_loss(target=t, input=z)", "mse_loss(z, t)"),
    ("sum(conv1d(input=z3, weight=w, padding=1))", "sum(conv1d(z3, w, padding=1))"),
    ("sin(input=z)", "sin(z)"),
    ("det(A=z)", "det(z)"),
])
def test_operands_by_torchs_keyword_names(written, plain):
    assert to_text(parse(written).output) == to_text(parse(plain).output)


def test_a_positional_only_operand_named_says_how_to_write_it():
    with pytest.raises(Exception, match=r"its operands are positional here: clamp\(x, lo, hi\)"):
        parse("clamp(x, min=0)")


@pytest.mark.parametrize("indexed, meant", [
    ("qr(A)[0]", "qr(A, part='Q')"),
    ("qr(A)[1]", "qr(A)"),
    ("qr(A)[-2]", "qr(A, part='Q')"),
    ("svd(A)[0]", "svd(A, part='U')"),
    ("eigh(A)[1]", "eigh(A, part='eigenvectors')"),
    ("max(A, dim=1)[0]", "max(A, dim=1)"),
    # torch's namedtuple fields
    ("qr(A).Q", "qr(A, part='Q')"),
    ("qr(A).R", "qr(A)"),
    ("svd(A).Vh", "svd(A, part='Vh')"),
    ("eigh(A).eigenvalues", "eigh(A)"),
    ("max(A, dim=1).values", "max(A, dim=1)"),
    ("min(A, dim=0, keepdim=True).values", "min(A, dim=0, keepdim=True)"),
    ("sort(A).values", "sort(A)"),
    ("slogdet(A).logabsdet", "slogdet(A)"),
    ("sort(A)[0]", "sort(A)"),
    ("slogdet(A)[1]", "slogdet(A)"),
])
def test_the_index_of_a_torch_tuple_picks_its_part(indexed, meant):
    assert to_text(parse(indexed).output) == to_text(parse(meant).output)


def test_min_with_two_operands_is_one_tensor_indexed_as_one():
    # torch.min(A, 0) is the min over dim 0 (a tuple); only torch.min(A, tensor(0)) is elementwise: indexing the
    # call would check what one reader did not mean, so min(A, 0)[0] is refused (one_error above); in parentheses
    # or with a non-integer second operand it is the elementwise minimum, indexed
    assert parse("(min(A, 0))[0]").output.op == "index"
    assert parse("min(A, 0.5)[0]").output.op == "index"
    assert parse("min(A, 0)").output.op == "min"


def test_qr_q_by_index_is_checked_as_torchs_q():
    at = {"A": [[2.0, 1.0], [1.0, 3.0]]}
    by_index = check("sum(qr(A)[0])", at=at)
    by_part = check("sum(qr(A, part='Q'))", at=at)
    assert by_index.status == by_part.status == "pass"
    assert float(by_index.value) == float(by_part.value)


@pytest.mark.parametrize("text", ["(qr(A))[0]", "R = qr(A); R[0, 1]", "qr(A, part='R')[0]", "(sort(A))[1]"])
def test_a_tensor_result_indexed_in_parentheses_or_by_name_is_a_row_and_prints_back(text):
    expression = parse(text)
    assert expression.output.op == "index"
    printed = to_text(expression.output)
    assert printed.startswith("(") and parse(printed).output.op == "index", printed


@pytest.mark.parametrize("text, printed", [
    ("conv1d(x, w, padding=1)", "conv1d(x, w, padding=1)"),
    ("conv2d(x, w, stride=2, dilation=(2,))", "conv2d(x, w, stride=2, dilation=2)"),
    ("roll(x, -1)", "roll(x, shifts=-1)"),
    ("tile(x, (2,))", "tile(x, dims=(2,))"),  # torch's tile wants a tuple
    ("sum(x, dim=(0,))", "sum(x, dim=(0,))"),  # sum(x, dim=0) would read as the axis overload
])
def test_one_integer_options_print_as_written(text, printed):
    assert to_text(parse(text).output) == printed


SOFT = {"z": [[0.5, -1.0, 2.0], [1.5, 3.0, -0.25]], "p": [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]], "w": [0.5, 2.0, 1.5]}


@pytest.mark.parametrize("text, keywords", [
    ("cross_entropy(z, p)", {}),
    ("cross_entropy(z, p, w, reduction='sum', label_smoothing=0.2)", {"weight": "w", "reduction": "sum",
                                                                       "label_smoothing": 0.2}),
    ("cross_entropy(input=z, target=p, weight=w)", {"weight": "w"}),
])
def test_probability_targets_follow_torch(text, keywords):
    """torch's cross_entropy with a floating target of the input's shape (class probabilities): the value is
    torch's, and every gradient (input, target, weight) agrees with torch.autograd."""
    import torch

    tensors = {name: torch.tensor(value, dtype=torch.float64) for name, value in SOFT.items()}
    options = {k: tensors[v] if k == "weight" else v for k, v in keywords.items()}
    expected = torch.nn.functional.cross_entropy(tensors["z"], tensors["p"], **options).item()
    result = check(text, at={name: SOFT[name] for name in SOFT if name in text.replace("weight=", "")})
    assert result.status == "pass"
    assert float(result.value) == pytest.approx(expected, rel=1e-14)
    assert {row.wrt.split("[")[0] for row in result.gradients} >= {"z", "p"}


def test_a_probability_target_of_another_shape_points_at_it(cli):
    message, caret = one_error(cli, "cross_entropy(x, y)", "--x", M22, "--y", "[0.5, 0.5]")
    assert "probability targets must have the input's shape (2, 2), got (2,)" in message
    assert caret == "y"
