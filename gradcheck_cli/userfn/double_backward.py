"""Whether a user's backward can be differentiated again, asked before its double backward is judged (`--order 2`).

A Function whose backward is marked `@once_differentiable`, or that computes its gradient outside autograd
(under `torch.no_grad`, through numpy), has a backward that cannot be differentiated: with the incoming gradient
a constant (as gradcheck's own Hessian passes give it), torch silently returns a gradient detached from the
inputs, whose derivative reads 0, a wrong Hessian rather than an error.  `torch.autograd.gradgradcheck` gives the
backward an incoming gradient that requires grad, which makes torch raise ("trying to differentiate twice a
function that was marked with @once_differentiable"); this check does the same, and names the Function.
"""

from __future__ import annotations

from ..core.errors import UserCodeError
from ..verdict.compare import Check
from .user_code import CallTimeout, Runner, custom_function_nodes, guarded

DOUBLE_BACKWARD = "double backward"
ONCE = "trying to differentiate twice"  # torch's words (DelayedError of once_differentiable)


def double_backward_check(runner: Runner, point, wrt: list[str]) -> Check:
    """`fail` where the backward is not differentiable (once_differentiable, or a gradient detached from the
    inputs although the incoming gradient requires grad); `pass` where the double backward runs.  What else the
    double backward raises is left to the Hessian itself (one line, exit 2)."""
    import torch

    tensors = runner.leaves(point, wrt)
    output = runner.call(tensors)
    targets = runner.targets(tensors, wrt)
    if not output.requires_grad:
        return Check(DOUBLE_BACKWARD, "skipped", "its result does not require grad")
    incoming = torch.ones_like(output).requires_grad_()  # as gradgradcheck's grad_outputs, which require grad
    try:
        with guarded(f"the double backward of {runner.function.label} raised"):
            firsts = torch.autograd.grad(output, targets, incoming, create_graph=True, allow_unused=True)
            connected = [g for g in firsts if g is not None and g.requires_grad]
            if connected:  # every node reached, as gradgradcheck's passes reach them (the marked backward's
                torch.autograd.backward(sum(g.sum() for g in connected))  # error node leads to no input)
    except CallTimeout:
        raise
    except UserCodeError as error:
        if ONCE not in error.message:
            raise
        return Check(DOUBLE_BACKWARD, "fail", f"backward is not differentiable (once_differentiable): "
                                              f"{_marked(output)} marked @once_differentiable, so its gradient "
                                              "cannot be differentiated again (torch.autograd.gradgradcheck "
                                              "raises: trying to differentiate twice)")
    detached = [name for name, g in zip(wrt, firsts) if g is not None and not g.requires_grad]
    if detached:
        return Check(DOUBLE_BACKWARD, "fail", f"backward is not differentiable: the gradient of "
                                              f"{', '.join(detached)} it returns does not require grad although "
                                              "the incoming gradient does (computed under torch.no_grad, "
                                              ".detach() or numpy?), so its double backward would read 0")
    return Check(DOUBLE_BACKWARD, "pass", "its backward is differentiable (create_graph=True, an incoming gradient "
                                          "that requires grad, as torch.autograd.gradgradcheck)")


def _marked(output) -> str:
    """Which Functions of the graph have a backward marked @once_differentiable, in words."""
    from torch.autograd.function import once_differentiable

    wrapper = once_differentiable(lambda ctx: None).__code__  # every marked backward runs this same code
    names = sorted({node._forward_cls.__name__ for node in custom_function_nodes(output.grad_fn)
                    if getattr(getattr(node._forward_cls, "backward", None), "__code__", None) is wrapper})
    if not names:
        return "a backward in its graph is"
    return f"{' and '.join(f'{name}.backward' for name in names)} {'is' if len(names) == 1 else 'are'}"
