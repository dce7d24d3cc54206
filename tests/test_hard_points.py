"""Verdicts at hard points a tester probed (kinks within a step or a rounding of the point, chain factors on a
kink, black-box forwards across a kink): each test failed before its fix."""

from __future__ import annotations

import pytest
import torch

from gradcheck_cli import check


def _abs(x):
    return torch.abs(x)


def _relu(x):
    return torch.relu(x)


@pytest.mark.parametrize("function, x, right_answer", [(_abs, 1e-300, 1.0), (_relu, 1e-20, 1.0),
                                                       (_abs, -1e-200, -1.0)])
def test_a_black_box_kink_closer_than_any_step_never_names_a_right_backward(function, x, right_answer):
    """Central differences of |x| at 1e-300 straddle the kink at every step and agree on 0 (relu: 0.5); the
    backward's 1 is a subgradient there, not a wrong backward."""
    row = check("", at={"x": x}, function=function).gradients[0]
    assert row.function == pytest.approx(right_answer)
    assert row.status != "fail" and row.function_verdict is None
    assert row.left is not None and row.left <= right_answer <= row.right


def test_a_black_box_backward_outside_the_sides_of_a_near_kink_still_fails():
    row = check("", at={"x": 1e-300}, function=lambda x: 3 * torch.abs(x.detach()) + (x - x.detach()) * 5).gradients[0]
    assert row.status == "fail" and "function" in row.disagrees
