"""An `nn.Module` as the function checked: `--function mymod:MyLayer` (a subclass, constructed) or an instance.

A layer's gradient is as much about its parameters as its inputs, so each parameter becomes a variable by its
name in `named_parameters()` (`weight`, `bias`, `0.weight` in a Sequential), its current value the point unless
one is given; the inputs are the positional parameters of its `forward`.  The module is called through
`torch.func.functional_call` with the parameters replaced by the tensors being differentiated, on a float64 copy
(its buffers too), so the caller's module is never changed; a run in a lower dtype (`--precision`) has its
floating buffers cast to that dtype, as `module.to(dtype)` would.  A class is constructed with its init keywords
(`--init-kwargs`) under torch's generator seeded 0, so its initial parameters are the same on every run.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass

import numpy as np

INIT_SEED = 0  # torch's generator while a module class is constructed (its random initial parameters)


def is_module(found) -> bool:
    """Whether `found` is an nn.Module subclass or instance (torch.nn is imported only if torch already is)."""
    import torch

    return isinstance(found, torch.nn.Module) or (isinstance(found, type) and issubclass(found, torch.nn.Module))


def constructed(found, init_keywords: dict):
    """A float64 module: the class constructed with `init_keywords` (torch seeded INIT_SEED), or a copy of the
    instance.  What the constructor raises propagates (the caller's guard words it)."""
    import torch

    if isinstance(found, type):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            module = found(**init_keywords)
    else:
        module = copy.deepcopy(found)
    return module.to(torch.float64)


@dataclass(frozen=True)
class ModuleCall:
    """Calls `module` on its inputs, then its parameters, in that order, as one positional argument list."""

    module: object
    inputs: int  # how many leading arguments are forward's inputs; the rest are `parameters`, in order
    parameters: tuple[str, ...]

    def __call__(self, *tensors, **keywords):
        from torch.func import functional_call

        replaced = dict(zip(self.parameters, tensors[self.inputs:]))
        replaced |= self._buffers_in(_low_dtype(tensors))
        return functional_call(self.module, replaced, tuple(tensors[:self.inputs]), keywords)

    def _buffers_in(self, dtype) -> dict:
        """The module's floating buffers cast to `dtype`, as `module.to(dtype)` would (integer ones are left);
        none for the float64 copy's own dtype, so a float16 run is not lifted to float64 by a buffer."""
        if dtype is None:
            return {}
        return {name: buffer.to(dtype) for name, buffer in self.module.named_buffers()
                if buffer.is_floating_point() and buffer.dtype != dtype}


def _low_dtype(tensors):
    """The floating dtype below float64 the call runs in (`--precision`), or None: its tensors' first floating
    dtype where that is float32, bfloat16 or float16."""
    import torch

    for tensor in tensors:
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            return tensor.dtype if tensor.dtype in (torch.float32, torch.bfloat16, torch.float16) else None
    return None


def forward_parameters(module) -> list[inspect.Parameter]:
    """The parameters of the module's forward (bound: no self)."""
    return list(inspect.signature(module.forward).parameters.values())


def parameter_values(module) -> dict[str, np.ndarray]:
    """name -> the parameter's current value, float64, for every parameter that requires grad."""
    return {name: p.detach().cpu().numpy().astype(np.float64) for name, p in module.named_parameters()
            if p.requires_grad}
