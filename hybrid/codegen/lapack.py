"""LAPACK of the scipy-openblas32 package, for the decompositions native code computes (the
registry's svd and eigh ops; hybrid/ir/ops/decomp.py).

The generated code calls the Fortran routines ?gesdd and ?syevd (?heevd for complex matrices, whose
elements are (re, im) pairs of reals) by their exported names
(`symbol`), so a JIT resolves them once the library is loaded into the process (`load`) and an
AOT library links against it (`link_flags`). Their workspaces are sized here, at compile time,
by LAPACK's own workspace query (lwork = -1) for the static matrix size, and placed in the
kernel's arena like any temporary: native code allocates nothing.
"""
from __future__ import annotations

import ctypes
import functools
import os
from dataclasses import dataclass

from ..errors import HybridError

ROUTINES = {"svd": "gesdd", "eigh": "syevd"}   # NumPy's choices too (numpy/linalg/umath_linalg.cpp)
COMPLEX_ROUTINES = {"svd": "gesdd", "eigh": "heevd"}
PREFIX = {"f32": "s", "f64": "d", "c64": "c", "c128": "z"}


@functools.lru_cache(maxsize=None)
def _library() -> tuple[str, str]:
    """(path of the shared library, symbol prefix), or a HybridError saying what to install."""
    try:
        import scipy_openblas32
    except ImportError:
        raise HybridError("compiling np.linalg.svd/eigh for the CPU calls LAPACK from the scipy-openblas32 "
                          "package, which is not installed: pip install scipy-openblas32 (or run them eagerly "
                          "or on the interp backend)") from None
    folder = scipy_openblas32.get_lib_dir()
    name = next(n for n in sorted(os.listdir(folder)) if n.startswith("lib" + scipy_openblas32.get_library()))
    path = os.path.join(folder, name)
    lib = ctypes.CDLL(path)
    return path, ("scipy_" if hasattr(lib, "scipy_sgesdd_") else "")


def library_path() -> str:
    return _library()[0]


def symbol(op: str, dtype: str) -> str:
    """The exported name of the routine computing `op` in `dtype`, e.g. scipy_sgesdd_."""
    routine = (COMPLEX_ROUTINES if dtype in ("c64", "c128") else ROUTINES)[op]
    return f"{_library()[1]}{PREFIX[dtype]}{routine}_"


def load() -> None:
    """Make the library's symbols visible to the JIT (once per process)."""
    import llvmlite.binding as llvm
    llvm.load_library_permanently(library_path())


def link_flags() -> list[str]:
    """Linker arguments for a shared library whose code calls the routines."""
    path = library_path()
    return [path, f"-Wl,-rpath,{os.path.dirname(path)}"]


@dataclass(frozen=True)
class Workspace:
    """Sizes, in elements, of the routine's work arrays: `lwork` of the matrix dtype, `liwork` i32,
    and for complex matrices `lrwork` of the real dtype."""
    lwork: int
    liwork: int
    lrwork: int = 0


def svd_job(full_matrices: bool, compute_uv: bool = True) -> str:
    """?gesdd's JOBZ: all vectors, the min(m, n) leading ones, or none."""
    return ("A" if full_matrices else "S") if compute_uv else "N"


@functools.lru_cache(maxsize=None)
def workspace(op: str, dtype: str, m: int, n: int, full_matrices: bool = False, compute_uv: bool = True) -> Workspace:
    """LAPACK's optimal workspace for one (m, n) matrix (n x n for eigh), by its workspace query."""
    path, _ = _library()
    lib = ctypes.CDLL(path)
    cplx = dtype in ("c64", "c128")
    real = ctypes.c_float if dtype in ("f32", "c64") else ctypes.c_double
    i32 = ctypes.c_int32
    fn = getattr(lib, symbol(op, dtype))
    query, rquery, iquery, info = (real * 2)(), real(0), i32(0), i32(0)   # a complex query answers in its real part
    dummy = (real * 2)()
    k = min(m, n)
    lrwork = 0
    if op == "svd":
        iwork = (i32 * max(1, 8 * k))()
        job = svd_job(full_matrices, compute_uv)
        # ?gesdd's documented minimum real workspace of the complex routines
        lrwork = 7 * k if job == "N" else k * max(5 * k + 7, 2 * max(m, n) + 2 * k + 1)
        rwork = [dummy] if cplx else []
        fn(ctypes.c_char_p(job.encode()), ctypes.byref(i32(m)), ctypes.byref(i32(n)), dummy,
           ctypes.byref(i32(max(1, m))), dummy, dummy, ctypes.byref(i32(max(1, m))), dummy,
           ctypes.byref(i32(max(1, n if full_matrices else k))), query, ctypes.byref(i32(-1)), *rwork, iwork,
           ctypes.byref(info), ctypes.c_size_t(1))
        lwork, liwork = int(query[0]), max(1, 8 * k)
    else:
        rwork = [ctypes.byref(rquery), ctypes.byref(i32(-1))] if cplx else []
        fn(ctypes.c_char_p(b"V"), ctypes.c_char_p(b"L"), ctypes.byref(i32(n)), dummy, ctypes.byref(i32(max(1, n))),
           dummy, query, ctypes.byref(i32(-1)), *rwork, ctypes.byref(iquery), ctypes.byref(i32(-1)),
           ctypes.byref(info), ctypes.c_size_t(1), ctypes.c_size_t(1))
        lwork, liwork, lrwork = int(query[0]), int(iquery.value), int(rquery.value)
    if info.value != 0:
        raise HybridError(f"LAPACK's workspace query for {op} of a {m}x{n} {dtype} matrix failed (info {info.value})")
    return Workspace(max(1, lwork), max(1, liwork), max(1, lrwork) if cplx else 0)
