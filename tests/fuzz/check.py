"""Run a fuzz program in every configuration and list where they disagree with eager.

Floats are compared with a tolerance relative to each output's largest finite magnitude (the
configurations round transcendental functions and sums differently; float16 chains may skip
intermediate roundings when fused), and NaN, +-inf and integers must agree exactly. When eager
raises, every configuration must raise too."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as onp

from hybrid.ir.types import is_float_dtype

from tests.reliability.everywhere import close, configurations, gradients, run, run_all

from .programs import Program, compile_program

RTOL = {"bfloat16": 1.6e-1, "float16": 2e-2, "float32": 2e-4, "float64": 1e-9}


def _describe(result) -> str:
    """One line for a configuration's result (a saved repro keeps its mismatches in # comments)."""
    if isinstance(result, Exception):
        return " ".join(f"{result!r:.300}".split())
    return "outputs " + ", ".join(f"{a.dtype}{list(a.shape)}" for a in result)


def mismatches(results: dict, reference: str = "eager", floor: float = 0, rounding: Sequence[str] = ()) -> list[str]:
    """`rounding[i]`: the coarsest float type output i was rounded to on its way (its tolerance
    is that type's, not the output's: a float32 result cast to float64 carries float32's error)."""
    ref = results[reference]
    found = []
    for config, got in results.items():
        if config == reference:
            continue
        if isinstance(ref, Exception) or isinstance(got, Exception):
            if not (isinstance(ref, Exception) and isinstance(got, Exception)):
                found.append(f"{config}: {_describe(got)} but {reference}: {_describe(ref)}")
            continue
        if len(got) != len(ref):
            found.append(f"{config}: {len(got)} outputs, {reference}: {len(ref)}")
            continue
        for i, (g, r) in enumerate(zip(got, ref)):
            if g.shape != r.shape or g.dtype != r.dtype:
                found.append(f"{config} output {i}: {g.dtype}{list(g.shape)}, {reference}: {r.dtype}{list(r.shape)}")
                continue
            rtol = max(RTOL.get(r.dtype.name, 0), RTOL.get(rounding[i], 0) if i < len(rounding) and is_float_dtype(r.dtype) else 0)
            bad = ~close(g, r, ulps=0, rtol=rtol, floor=floor)
            if bad.any():
                where = tuple(onp.argwhere(bad)[0]) if g.ndim else ()
                found.append(f"{config} output {i} at {[int(w) for w in where]}: {g[where]!r} but "
                             f"{reference}: {r[where]!r}")
    return found


def check(p: Program, configs: Optional[Sequence[str]] = None, fn: Optional[Callable] = None) -> list[str]:
    """Mismatches of p's outputs (and, for gradient programs, of its input gradients); `fn` is
    the program's function when it comes from a saved script (--repro) instead of p's lines."""
    fn = fn or compile_program(p)
    configs = list(configs or configurations(cuda=True))
    found = mismatches(run_all(fn, p.inputs, configs, p.training, run), rounding=p.rounding)
    if p.grads:
        grad_configs = [c for c in configs if c in ("eager", "interp", "llvm-O0", "llvm-O2")]
        grads = run_all(fn, p.inputs, grad_configs, p.training, gradients)
        if isinstance(grads["eager"], Exception):   # the generator gives every output a differentiable path
            found.append(f"gradient: eager raised {_describe(grads['eager'])}")
        found += [f"gradient: {m}" for m in mismatches(grads, floor=1.0)]
    return found
