"""--explain and culprits (issue 8): the chain rule the notebook wrote by hand, and who is wrong where."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gradcheck_cli import check
from gradcheck_cli.lang import ops
from gradcheck_cli.lang.ops import OPS
from gradcheck_cli.run.case import run
from gradcheck_cli.spec.spec_file import load

NOTEBOOK = "z = w*x + b; p = clamp(sigmoid(z), 1e-8, 1 - 1e-8); -(y*log(p) + (1-y)*log(1-p))"
NOTEBOOK_POINT = {"w": 1.0, "b": 0.0, "x": 6.7, "y": 0.0}
POINT_OPTIONS = ("--w", "1", "--b", "0", "--x", "6.7", "--y", "0", "--wrt", "w,b")
RIGHT = "(p - y)/(p*(1-p)) * (p*(1-p)) * x"  # the notebook's dL/dw: dL/dp · dp/dz · dz/dw
SIGMOID_SLOPE = 1 / (1 + math.exp(-6.7)) * (1 - 1 / (1 + math.exp(-6.7)))


# ---- the explanation ----


@pytest.mark.parametrize("dtype, product", [("float64", "6.691763029237442"), ("float32", "6.6918")])
def test_notebook_loss_shows_the_three_chain_factors_and_their_product(cli, dtype, product):
    result = cli(NOTEBOOK, *POINT_OPTIONS, "--explain", "--dtype", dtype, "--color", "never")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("df/dw")))
    assert lines[start] == "df/dw = ∂f/∂p · ∂p/∂z · ∂z/∂w"
    assert lines[start + 1].split("=")[1].split() == ["813.4", "·", "0.001228", "·", "6.7"]
    assert "= 6.6918" in lines[start + 2] and product in lines[start + 2]


def test_explanation_as_data_matches_the_notebook(cli_json):
    code, doc = cli_json(NOTEBOOK, *POINT_OPTIONS, "--explain")
    assert code == 0
    chain = {c["variable"]: c for c in doc["results"][0]["chains"]}["w"]
    (path,) = chain["paths"]
    values = {(f["of"], f["wrt"]): f["value"] for f in path["factors"]}
    assert values[("f", "p")] == pytest.approx(1 / (1 - 1 / (1 + math.exp(-6.7))), rel=1e-12)  # (p-y)/(p(1-p)) at y=0
    assert values[("p", "z")] == pytest.approx(SIGMOID_SLOPE, rel=1e-12)
    assert values[("z", "w")] == 6.7
    assert chain["total"] == pytest.approx(6.691763029237442, rel=1e-15)


def test_graph_nodes_carry_values_and_local_partials(cli_json):
    code, doc = cli_json(NOTEBOOK, *POINT_OPTIONS, "--explain")
    graph = doc["results"][0]["graph"]
    nodes = {n["id"]: n for n in graph["nodes"]}
    named = {n["name"]: n for n in graph["nodes"] if n["name"]}
    assert set(named) == {"z", "p"} and named["z"]["value"] == pytest.approx(6.7)
    sigmoid = nodes[named["p"]["inputs"][0]]
    assert sigmoid["op"] == "sigmoid"
    (partial,) = sigmoid["partials"]
    assert partial["input"] == named["z"]["id"] and partial["value"] == pytest.approx(SIGMOID_SLOPE, rel=1e-12)
    assert graph["output"] == max(nodes) and nodes[graph["output"]]["value"] == pytest.approx(6.701230154951676)


def test_a_variable_used_twice_sums_its_paths():
    result = check("u = x*y; v = sin(x); u*v + x", at={"x": 1.0, "y": 2.0}, explain=True)
    chain = {c.variable: c for c in result.explanation.chains}["x"]
    assert len(chain.paths) == 3
    assert sum(p.product for p in chain.paths) == pytest.approx(chain.total, rel=1e-15)
    assert chain.total == pytest.approx(2 * math.sin(1) + 2 * math.cos(1) + 1, rel=1e-15)


def test_without_bindings_the_chain_runs_through_every_operation():
    result = check("sin(x**2)", at={"x": 4.0}, explain=True)
    (chain,) = result.explanation.chains
    (path,) = chain.paths
    assert [(f.of, f.wrt) for f in path.factors] == [("f", "(x**2)"), ("(x**2)", "x")]
    assert [f.value for f in path.factors] == pytest.approx([math.cos(16), 8.0])


def test_exponentially_many_paths_are_summed_without_listing_them():
    levels = [f"s{i} = sin(a{i - 1}); c{i} = cos(a{i - 1}); a{i} = s{i} + c{i}" for i in range(1, 21)]
    program = "; ".join(["a0 = x"] + levels + ["a20"]).replace("a0 = x; ", "").replace("(a0)", "(x)")
    result = check(program, at={"x": 0.3}, explain=True)
    (chain,) = result.explanation.chains
    assert chain.unlisted == 2 ** 20 - 12 and len(chain.paths) == 12
    assert chain.total == pytest.approx(result.gradients[0].symbolic, rel=1e-12)


def test_tensor_graphs_get_the_tree_and_a_note_instead_of_a_chain(cli):
    result = cli("mean(x**2)", "--x", "1,2,3", "--explain", "--color", "never")
    assert result.exit_code == 0
    assert "x**2 = [1, 4, 9]" in result.stdout.replace(".,", ",").replace(".]", "]")
    assert "note: the chain rule is listed for scalar graphs only" in result.stdout


def test_a_200_node_graph_stays_readable(cli, cli_json):
    program = "; ".join(["t0 = x*y"] + [f"t{i} = sin(t{i - 1}) * x + y" for i in range(1, 70)] + ["t69"])
    result = cli(program, "--x", "0.3", "--y", "0.2", "--explain", "--depth", "4", "--color", "never")
    assert result.exit_code == 0
    tree = result.stdout[result.stdout.index("Graph"):result.stdout.index("Chain rule")]
    assert len(tree.splitlines()) < 20 and "more nodes below (--depth)" in tree
    default = cli(program, "--x", "0.3", "--y", "0.2", "--explain", "--color", "never").stdout
    assert len(default[default.index("Graph"):default.index("Chain rule")].splitlines()) < 80
    chain = default[default.index("Chain rule"):]
    assert len(chain.splitlines()) < 60 and "… (65 more) …" in chain and "(66 more paths)" in chain
    code, doc = cli_json(program, "--x", "0.3", "--y", "0.2", "--explain")  # the schema validates it
    assert code == 0 and len(doc["results"][0]["graph"]["nodes"]) >= 200


def test_explain_from_yaml(tmp_path, cli_json):
    spec = tmp_path / "loss.yaml"
    spec.write_text("expr: -(y*log(p) + (1-y)*log(1-p))\nwhere:\n  z: w*x + b\n  p: sigmoid(z)\n"
                    "at: {w: 1.0, b: 0.0, x: 6.7, y: 0.0}\nwrt: [w]\nexplain: true\n")
    code, doc = cli_json(str(spec))
    assert code == 0 and doc["results"][0]["chains"][0]["variable"] == "w"
    spec.write_text(spec.read_text().replace("explain: true", "explain: 1"))
    code, doc = cli_json(str(spec))
    assert code == 2 and "expected true or false" in doc["results"][0]["error"]["message"]


def test_depth_without_explain_is_a_usage_error(cli):
    result = cli("sin(x)", "--x", "1", "--depth", "3")
    assert result.exit_code == 2 and "--depth limits the --explain tree" in result.stderr


def test_without_explain_there_is_no_graph(cli_json):
    code, doc = cli_json(NOTEBOOK, *POINT_OPTIONS)
    assert doc["results"][0]["graph"] is None and doc["results"][0]["chains"] is None


# ---- culprits: a manual formula ----


def manual_culprit(formula: str, expression: str = NOTEBOOK, at=None, variable: str = "w"):
    result = check(expression, at=at or NOTEBOOK_POINT, manual={variable: formula}, wrt=[variable])
    assert result.status == "fail"
    (culprit,) = result.culprits
    assert culprit.kind == "manual" and culprit.variable == variable
    assert result.gradients[0].culprit is culprit
    return culprit


def test_the_notebook_formula_has_no_culprit():
    result = check(NOTEBOOK, at=NOTEBOOK_POINT, manual={"w": RIGHT}, wrt=["w"])
    assert result.status == "pass" and result.culprits == []


def test_a_dropped_factor_is_named():
    culprit = manual_culprit("(p - y)/(p*(1-p)) * x")
    assert culprit.label == "missing ∂p/∂z"
    assert "lacks the factor ∂p/∂z" in culprit.message and "0.001228" in culprit.message


def test_a_wrong_sign_is_named():
    culprit = manual_culprit("-" + RIGHT)
    assert culprit.label == "sign" and "wrong sign" in culprit.message


def test_a_missing_product_rule_term_names_what_was_held_constant():
    culprit = manual_culprit("y*sin(x)", "u = x*y; v = sin(x); u*v", {"x": 1.0, "y": 2.0}, "x")
    assert culprit.label == "v held constant"
    assert "misses the term ∂f/∂v·∂v/∂x" in culprit.message and "treats v as constant" in culprit.message


def test_one_wrong_factor_is_named_with_the_right_one():
    culprit = manual_culprit("(p - y)/(p*(1-p)) * (p*(1+p)) * x")
    assert culprit.label == "wrong ∂p/∂z"
    assert culprit.expr == "p*(1+p)" and culprit.source == "manual.w" and "should be ∂p/∂z" in culprit.message


def test_an_unexplained_difference_says_so():
    culprit = manual_culprit("x*x*x")
    assert "no single sign, factor or term" in culprit.message


@pytest.mark.parametrize("formula, label, words", [("2*(" + RIGHT + ")", "×2", "is a factor 2 times"),
                                                   (RIGHT + " + 1", "+1", "is a constant 1 away from"),
                                                   ("0*x", "zero", "is 0 at every point tried")])
def test_a_constant_factor_term_or_zero_is_named(formula, label, words):
    culprit = manual_culprit(formula)
    assert culprit.label == label and words in culprit.message


def test_tensor_stations_are_judged_by_the_whole_gradient():
    culprit = manual_culprit("2*mean(2*(w*x + b - y)*x)", "mean((w*x + b - y)**2)",
                             {"w": 0.5, "b": 0.1, "x": np.array([1.0, 2.0, 3.0]), "y": np.array([1.0, 0.0, 2.0])})
    assert culprit.label == "×2"


def test_the_culprit_shows_in_the_table_and_the_json(cli, cli_json):
    wrong = ("--manual", "w=(p - y)/(p*(1-p)) * x")
    table = cli(NOTEBOOK, *POINT_OPTIONS, *wrong, "--color", "never").stdout
    assert "✗ fail: manual (missing" in table and "culprit: your formula for d/dw lacks the factor ∂p/∂z" in table
    code, doc = cli_json(NOTEBOOK, *POINT_OPTIONS, *wrong)
    row = next(g for g in doc["results"][0]["gradients"] if g["wrt"] == "w")
    assert code == 1 and row["culprit"]["kind"] == "manual" and row["culprit"] == doc["results"][0]["culprits"][0]
    assert set(row["culprit"]) >= {"node", "expr", "span", "kind", "message"}


# ---- culprits: per-node manual factors ----


NAMED = "z = w*x + b; p = clamp(sigmoid(z), 1e-8, 1 - 1e-8); L = -(y*log(p) + (1-y)*log(1-p)); L"


def test_per_node_factors_pass_when_right():
    result = check(NAMED, at=NOTEBOOK_POINT, wrt=["w"],
                   manual={"dL/dp": "(p - y)/(p*(1-p))", "dp/dz": "p*(1-p)", "dz/dw": "x"})
    assert result.status == "pass" and [f.status for f in result.factors] == ["pass"] * 3


def test_a_wrong_per_node_factor_is_named(cli, tmp_path):
    result = check(NAMED, at=NOTEBOOK_POINT, wrt=["w"],
                   manual={"dL/dp": "(p - y)/(p*(1-p))", "dp/dz": "p*(1+p)", "dz/dw": "x"})
    assert result.status == "fail"
    assert [f.status for f in result.factors] == ["pass", "fail", "pass"]
    (culprit,) = result.culprits
    assert culprit.kind == "manual-factor" and culprit.label == "dp/dz" and culprit.source == "manual.dp/dz"
    spec = tmp_path / "factors.yaml"
    spec.write_text("expr: L\nwhere:\n  z: w*x + b\n  p: sigmoid(z)\n  L: -(y*log(p) + (1-y)*log(1-p))\n"
                    "at: {w: 1.0, b: 0.0, x: 6.7, y: 0.0}\nwrt: [w]\n"
                    "manual:\n  dL/dp: (p - y)/(p*(1-p))\n  dp/dz: p*(1+p)\n  dz/dw: x\n")
    shown = cli(str(spec), "--color", "never", "-v")
    assert shown.exit_code == 1
    assert re.search(r"dp/dz = p\*\(1\+p\)\s*│\s*1\.99", shown.stdout)
    assert "your dp/dz = p*(1+p) gives 1.996 at this point; ∂p/∂z = p*(1 - p) = 0.001228" in shown.stdout


def test_the_unnamed_output_is_f():
    result = check(NOTEBOOK, at=NOTEBOOK_POINT, wrt=["w"], manual={"df/dp": "(p - y)/(p*(1-p))"})
    assert result.status == "pass" and result.factors[0].symbolic == pytest.approx(813.4058251675126)


@pytest.mark.parametrize("name", ["dq/dp", "dL/dq", "dL/dL", "L/p", "df/dp"])
def test_a_malformed_factor_name_is_a_usage_error(name):
    result = check(NAMED, at=NOTEBOOK_POINT, wrt=["w"], manual={name: "1"})
    assert result.status == "error" and result.error["kind"] == "usage"


# ---- culprits: a node whose local derivative is wrong ----


@pytest.fixture
def broken_sin(monkeypatch):
    """sin in a copy of the registry, with its derivative rule or its torch backward broken."""

    def breaking(part: str):
        if part == "rule":
            monkeypatch.setitem(OPS, "sin", dataclasses.replace(OPS["sin"], partials=(lambda x, out: ops.sin(x),)))
        else:
            monkeypatch.setitem(OPS, "sin", dataclasses.replace(OPS["sin"], torch=_SinWithWrongBackward.apply))

    return breaking


class _SinWithWrongBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.cos() * 1.01


@pytest.mark.parametrize("part, engine, words", [("rule", "symbolic", "the op registry's derivative rule for sin"),
                                                 ("torch", "autograd", "torch's backward of sin")])
def test_a_broken_op_is_named_at_its_node(broken_sin, part, engine, words):
    broken_sin(part)
    result = check("z = x*y; exp(sin(z)) + cos(x)", at={"x": 0.7, "y": 1.3})
    (culprit,) = result.culprits
    assert culprit.kind == engine and culprit.expr == "sin(z)"
    assert culprit.message.startswith(words + " is wrong at sin(z): it gives ∂/∂z")
    assert f"{math.cos(0.7 * 1.3):.4g}" in culprit.message
    if engine == "autograd":  # a subject: the case fails, and the row names it
        assert result.status == "fail" and all(row.disagrees == ["autograd"] for row in result.gradients)
        assert result.gradients[0].culprit is culprit
    else:  # gradcheck's own referee: a note beside the reference, not the user's failure
        assert result.status == "pass"
        assert all(culprit.message in row.referee_notes[0] for row in result.gradients)


def test_a_broken_rule_deep_in_the_graph_is_found_first(broken_sin):
    broken_sin("rule")
    result = check("log(1 + exp(sin(x*y)))**2 + x", at={"x": 0.4, "y": 0.9})
    (culprit,) = result.culprits
    assert culprit.kind == "symbolic" and culprit.expr == "sin(x*y)" and culprit.span == (12, 20)


def test_a_correct_registry_gives_no_node_culprit():
    result = check("z = x*y; exp(sin(z)) + cos(x)", at={"x": 0.7, "y": 1.3}, manual={"x": "0"})
    assert all(c.kind == "manual" for c in result.culprits)


def test_culprits_reach_github_annotations_and_the_summary(tmp_path, cli):
    spec = tmp_path / "factors.yaml"
    spec.write_text("expr: L\nwhere:\n  z: w*x + b\n  p: sigmoid(z)\n  L: -(y*log(p) + (1-y)*log(1-p))\n"
                    "at: {w: 1.0, b: 0.0, x: 6.7, y: 0.0}\nwrt: [w]\nmanual:\n  dp/dz: p*(1+p)\n  w: 2*p*x\n")
    result = cli(str(spec), "--format", "github")
    annotation = next(line for line in result.stdout.splitlines() if line.startswith("::error"))
    assert "your dp/dz = p*(1+p) gives 1.996" in annotation
    assert "culprit: your formula for d/dw is a factor 2 times the chain rule's" in annotation.replace("%0A", "\n")
    spec.write_text(spec.read_text().replace("  w: 2*p*x\n", ""))
    summary = cli(str(spec), "--color", "never").stdout.strip().splitlines()[-1]
    assert summary.startswith("✗ 0 passed, 1 failed — your dp/dz = p*(1+p) gives 1.996")


# ---- found in review: each of these once went wrong ----


def test_a_factor_name_may_have_spaces(cli):
    result = cli("p = x*x; sin(p)", "--x", "2", "--manual", "d f / d p=cos(p)", "--color", "never")
    assert result.exit_code == 0 and "df/dp = cos(p)" in result.stdout


def test_manual_factors_are_checked_with_fast_too(cli):
    result = cli("p = x*x; L = sin(p); L", "--x", "2", "--manual", "dL/dp=42", "--fast", "--seed", "1")
    assert result.exit_code == 1 and "your dL/dp = 42" in result.stdout


def test_a_factor_of_a_tensor_value_is_a_usage_error(cli):
    result = cli("s = x*y; sum(s)", "--x", "2", "--y", "1,2", "--manual", "ds/dx=y")
    assert result.exit_code == 2 and "needs a scalar s; it has shape (2,)" in result.stderr


def test_a_factor_means_what_the_chain_shows():
    """∂L/∂z with p = sigmoid(z) also in L holds p fixed, as the chain rule's factor does."""
    result = check("z = w*x; p = sigmoid(z); L = p*z; L", at={"w": 1.0, "x": 0.5}, wrt=["w"],
                   manual={"dL/dz": "p"}, explain=True)
    assert result.status == "pass"
    factors = {(f.of, f.wrt): f.formula for p in result.explanation.chains[0].paths for f in p.factors}
    assert factors[("L", "z")] == "p"
    total = check("z = w*x; p = sigmoid(z); L = p*z; L", at={"w": 1.0, "x": 0.5}, wrt=["w"], manual={"dL/dw": "p"})
    assert total.status == "fail" and "dL/dw (through every path)" in total.culprits[0].message


@pytest.mark.parametrize("program, total", [("z = x; z*z", 6.0), ("L = x*x; L", 6.0)])
def test_a_binding_of_a_bare_variable_keeps_its_chain(program, total):
    (chain,) = check(program, at={"x": 3.0}, explain=True).explanation.chains
    assert chain.total == pytest.approx(total) and chain.paths


def test_the_output_that_is_a_variable_says_so():
    explanation = check("x", at={"x": 3.0}, explain=True).explanation
    assert explanation.chains == [] and "the variable x itself" in explanation.note


def test_the_output_name_avoids_a_binding_called_f():
    result = check("f = x*x; 3*f", at={"x": 2.0}, manual={"df_/df": "3"}, explain=True)
    assert result.status == "pass" and result.explanation.output_name == "f_"
    assert [(f.of, f.wrt) for f in result.explanation.chains[0].paths[0].factors] == [("f_", "f"), ("f", "x")]


def test_paths_elsewhere_in_the_graph_are_not_walked():
    levels = [f"s{i} = sin(a{i - 1}); c{i} = cos(a{i - 1}); a{i} = s{i} + c{i}" for i in range(1, 21)]
    program = "; ".join(["u = x*2", "a0 = y*1"] + levels + ["a20 + x"])
    (chain,) = check(program, at={"x": 0.3, "y": 0.2}, wrt=["x"], explain=True).explanation.chains
    assert chain.total == 1.0 and len(chain.paths) == 1  # 2^20 paths over y, none to x: one pass


def test_many_unnamed_operations_leave_the_chain_at_the_variables():
    program = " + ".join(f"sin(x*{k})" for k in range(1, 100))
    explanation = check(program, at={"x": 0.5}, explain=True).explanation
    (path,) = explanation.chains[0].paths
    assert [(f.of, f.wrt) for f in path.factors] == [("f", "x")] and explanation.stations == "values"
    assert max(len(node.expr) for node in explanation.nodes) <= 120


def test_a_dropped_data_factor_is_named_not_taken_for_a_constant():
    culprit = manual_culprit("p - y", "z = w*x + b; p = sigmoid(z); -(y*log(p) + (1-y)*log(1-p))")
    assert culprit.label == "missing ∂z/∂w" and "lacks the factor ∂z/∂w = x" in culprit.message


def test_float32_rounding_is_not_blamed_on_a_node():
    result = check("(exp(x) - 1)/x", at={"x": 1e-3}, dtype="float32")
    assert all(c.kind not in ("symbolic", "autograd") for c in result.culprits)


def test_no_function_level_claim_from_a_single_point():
    result = check("w*sum(log(x))", at={"w": -1.0, "x": [0.001] * 50}, manual={"w": "w*sum(log(x))"})
    (culprit,) = result.culprits
    assert culprit.label != "sign" and "wrong sign" not in culprit.message


def test_the_notebooks_own_slip_is_named():
    """sin for cos in d/dx sin(x**2): 2*x matches ∂(x**2)/∂x, so sin(x**2) is the wrong factor."""
    culprit = manual_culprit("2*x*sin(x**2)", "sin(x**2)", {"x": 4.0}, "x")
    assert culprit.label == "wrong ∂f/∂(x**2)" and culprit.expr == "sin(x**2)"
    assert "should be ∂f/∂(x**2) = cos(x**2)" in culprit.message


def test_a_broken_rule_on_a_tensor_shows_the_partials(broken_sin):
    broken_sin("rule")
    (culprit,) = check("sum(sin(x))", at={"x": [0.1, 0.2]}).culprits
    assert culprit.kind == "symbolic" and "∂/∂x = [0.09983, 0.1987]" in culprit.message
    assert "give [0.995, 0.9801]" in culprit.message


def test_close_values_are_printed_apart(monkeypatch):
    slightly_off = dataclasses.replace(OPS["sin"], partials=(lambda x, out: ops.cos(x) * 1.0001,))
    monkeypatch.setitem(OPS, "sin", slightly_off)
    (culprit,) = check("sin(x)", at={"x": 0.5}).culprits
    numbers = re.findall(r"= (\S+) where .* give (\S+) and", culprit.message)[0]
    assert numbers[0] != numbers[1]


def test_blocked_gradients_read_as_zero_and_named_nodes_by_name(cli):
    text = cli("detach(x)*x + sign(x)", "--x", "2", "--explain", "--color", "never").stdout
    assert "vector-Jacobian" not in text and "∂ = 0" in text
    explanation = check("z = w*x; p = sin(z); L = p*x; L", at={"w": 1.0, "x": 0.5}, explain=True).explanation
    partials = {(n.name, p.formula) for n in explanation.nodes for p in n.partials}
    assert ("L", "p") in partials and ("L", "x") in partials


@pytest.mark.parametrize("formula, label", [("x/3", "×0.5"), ("2*x/3 + 1", "+1"), ("-2*x/3", "sign"), ("0*x", "zero")])
def test_a_tensor_variable_gets_the_checks_that_need_no_paths(formula, label):
    """The notebook's mean(x**2): a manual gradient for the whole vector is judged as a function too."""
    result = check("mean(x**2)", at={"x": [1.0, 2.0, 3.0]}, manual={"x": formula})
    (culprit,) = result.culprits
    assert culprit.label == label and all(row.culprit is culprit for row in result.gradients)


LIBRARY = sorted((Path(__file__).resolve().parent.parent / "expressions").glob("*.yaml"))


@pytest.mark.parametrize("file", LIBRARY, ids=[f.stem for f in LIBRARY])
def test_every_library_case_with_a_wrong_manual_formula_gets_a_culprit(file):
    """Wrong signs and doubled formulas over the whole expression library: a culprit, never an exception."""
    for spec in load(file):
        if not spec.manual or any("/" in name for name in spec.manual):
            continue
        for wrong in ("-({})", "2*({})"):
            variant = dataclasses.replace(spec, manual={k: wrong.format(v) for k, v in spec.manual.items()},
                                          explain=True)
            result = run(variant)
            assert result.status != "error", (spec.name, result.error)  # (a zero gradient stays right: pass)
            failing = [r for r in result.gradients if r.status == "fail" and "manual" in r.disagrees]
            if failing and not failing[0].output_index:
                assert failing[0].culprit is not None and failing[0].culprit.message, spec.name


def test_a_long_sum_lists_its_terms_side_by_side(cli):
    program = " + ".join(f"x*y{i}" for i in range(30))
    values = [arg for i in range(30) for arg in (f"--y{i}", "0.5")]
    text = cli(program, "--x", "2", *values, "--explain", "--color", "never").stdout
    tree = text[text.index("Graph"):text.index("Chain rule")].splitlines()
    assert tree[2].startswith("├── x*y0 = 1") and tree[5].startswith("├── x*y1 = 1")
    assert not any(line.lstrip("│ ├└─").startswith("x*y0 + x*y1") for line in tree[2:])
