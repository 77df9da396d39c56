"""What a CUDA launch is (source, launch configuration, buffer parameters) and how a launch's
buffer parameters are chosen; shared by the templates (elementwise, rows, gemm)."""
from __future__ import annotations

from dataclasses import dataclass

from ..kernel import Kernel, Stage, walk


@dataclass
class Launch:
    """One __global__ function and how to launch it. `buffers`: kernel-description buffer names, in
    parameter order (p0, p1, ...)."""
    name: str
    source: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    buffers: list[str]
    kind: str
    note: str = ""

    def describe(self) -> str:
        return (f"// {self.name}: {self.kind}, grid={self.grid}, block={self.block}, "
                f"params=({', '.join(self.buffers)}){'; ' + self.note if self.note else ''}")


def param_names(kernel: Kernel, stages: list, extra: tuple = ()) -> list[str]:
    """Buffers a launch touches: what it writes first, then what it reads, in first-use order."""
    writes = [s.out for s in stages]
    reads = []
    for s in stages:
        exprs = [s.expr] if isinstance(s, Stage) else ([s.epilogue] if s.epilogue is not None else [])
        for e in exprs:
            for n in walk(e):
                if n.op == "load" and n.value not in reads:
                    reads.append(n.value)
    names = list(dict.fromkeys(writes))
    return names + [n for n in list(extra) + sorted(reads) if n not in names and n in kernel.buffers]

