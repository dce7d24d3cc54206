"""Tolerances for a custom op's own floating-point noise: --nondet-tol / nondet_tol: lets two backward passes of a
backward that sums with atomics differ in their last bits (torch.autograd.gradcheck's nondet_tol)."""

from __future__ import annotations

import pytest
from conftest import named

ATOMIC_LIKE = """
CALLS = [0]

class F(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        CALLS[0] += 1
        return 2 * x * g * (1 + NOISE * CALLS[0])
"""


def _noisy(user_module, noise: float) -> str:
    return user_module(ATOMIC_LIKE.replace("NOISE", repr(noise)))


@pytest.mark.parametrize("noise, options, status, message", [
    (1e-13, [], "fail", "two backward passes give different gradients for x"),
    (1e-13, ["--nondet-tol", "1e-9"], "pass", "two backward passes agree within a tolerance of 1e-09 (nondet_tol)"),
    (1e-5, ["--nondet-tol", "1e-9"], "fail", "beyond a tolerance of 1e-09 (nondet_tol)"),
], ids=["bitwise by default", "within the tolerance", "beyond the tolerance"])
def test_nondet_tol_lets_last_bit_noise_through_and_nothing_more(cli_json, user_module, noise, options, status,
                                                                  message):
    name = _noisy(user_module, noise)
    code, document = cli_json("x**2", "--x", "1,2", "--function", f"{name}:F", *options)
    check = named(document["results"][0]["checks"], "deterministic backward")
    assert check["status"] == status and message in check["message"]
    assert code == (0 if status == "pass" else 1)


def test_nondet_tol_is_a_spec_file_key(cli_json, user_module, tmp_path):
    name = _noisy(user_module, 1e-13)
    (tmp_path / "case.yaml").write_text(f"expr: x**2\nat: {{x: [1, 2]}}\nfunction: {name}:F\nnondet_tol: 1e-9\n")
    code, document = cli_json(str(tmp_path / "case.yaml"))
    assert code == 0
    assert named(document["results"][0]["checks"], "deterministic backward")["status"] == "pass"


@pytest.mark.parametrize("args, where", [
    (["--nondet-tol", "-1"], "--nondet-tol"),
    (["--nondet-tol", "tiny"], "--nondet-tol"),
])
def test_a_bad_nondet_tol_is_refused_with_its_flag(cli, args, where):
    result = cli("x**2", "--x", "1", *args)
    assert result.exit_code == 2 and where in result.stderr and "Traceback" not in result.stderr


def test_a_negative_nondet_tol_in_a_spec_file_is_refused_at_its_key(cli, tmp_path):
    (tmp_path / "case.yaml").write_text("expr: x**2\nat: {x: 1}\nnondet_tol: -1\n")
    result = cli(str(tmp_path / "case.yaml"))
    assert result.exit_code == 2 and "case.yaml:3:13: nondet_tol: expected a non-negative number" in result.stderr


def test_nondet_tol_without_a_function_is_refused(cli):
    result = cli("x**2", "--x", "1", "--nondet-tol", "1e-9")
    assert result.exit_code == 2 and "--nondet-tol is how far two backward passes of --function" in result.stderr
