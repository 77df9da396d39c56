"""How much of NumPy's public API `hb.np` offers, and how much of it gives NumPy's answers.

    python -m bench.numpy_coverage [--list-missing] [--list-disagreeing] [--seed N]

Counts the public callables of `numpy`, `numpy.linalg` and `numpy.random` (names without a
leading underscore that are callable and not modules), how many `hb.np` has under the same
name, and, for those, whether a randomized call agrees: each function is tried on a list of
argument templates (float/int/bool arrays of a few shapes, pairs, square matrices, axis
arguments, sizes); the first template NumPy accepts is run on both, and the results must have
the same shapes and values (rtol 1e-4; NaNs equal) and the same dtype, except that hybrid's
documented defaults are allowed (float32 where NumPy gives float64 for float32 or Python
inputs, int32/int64 for NumPy's default integer). Random functions are compared by shape and
dtype kind only. Functions NumPy itself rejects on every template are reported as unchecked.
"""
from __future__ import annotations

import argparse
import inspect
import types
import warnings

import numpy

import hybrid as hb

NAMESPACES = [("numpy", numpy, hb.np), ("numpy.linalg", numpy.linalg, hb.np.linalg),
              ("numpy.random", numpy.random, hb.np.random)]
SKIP = {"test", "show_config", "show_runtime", "get_include", "info", "lookfor", "who", "source", "deprecate",
        "deprecate_with_doc", "byte_bounds", "safe_eval", "printoptions", "set_printoptions", "get_printoptions",
        "setbufsize", "getbufsize", "seterr", "geterr", "seterrcall", "geterrcall", "errstate", "load", "save",
        "savez", "savez_compressed", "loadtxt", "savetxt", "genfromtxt", "fromfile", "fromregex", "memmap",
        "set_string_function", "add_newdoc", "add_docstring", "add_newdoc_ufunc", "disp", "recfromcsv",
        "recfromtxt", "format_float_positional", "format_float_scientific", "array2string", "array_repr",
        "array_str", "base_repr", "binary_repr", "typename", "mintypecode", "issctype", "obj2sctype",
        "sctype2char", "find_common_type", "maximum_sctype", "get_array_wrap", "show", "vectorize", "frompyfunc",
        "nested_iters", "nditer", "ndenumerate", "ndindex", "broadcast", "busday_count", "busday_offset",
        "busdaycalendar", "is_busday", "datetime_as_string", "datetime_data", "datetime64", "timedelta64",
        "isnat", "character", "chararray", "recarray", "record", "matrix", "asmatrix", "bmat", "poly1d",
        "packbits", "unpackbits", "from_dlpack", "shares_memory", "may_share_memory", "require", "asfortranarray",
        "isfortran", "fromstring", "getbuffer", "newbuffer", "void", "str_", "bytes_", "object_", "flexible",
        "complexfloating", "clongdouble", "complex64", "complex128", "csingle", "cdouble", "longdouble"}


def public_callables(module) -> list[str]:
    names = []
    for name in dir(module):
        if name.startswith("_") or name in SKIP:
            continue
        obj = getattr(module, name, None)
        if callable(obj) and not isinstance(obj, types.ModuleType):
            names.append(name)
    return sorted(names)


def _templates(rng):
    f = rng.standard_normal((3, 4)).astype(numpy.float32)
    g = rng.standard_normal((3, 4)).astype(numpy.float32)
    p = rng.uniform(0.1, 0.9, (3, 4)).astype(numpy.float32)
    i = rng.integers(-5, 6, (3, 4)).astype(numpy.int32)
    j = rng.integers(1, 6, (3, 4)).astype(numpy.int32)
    b = rng.random((3, 4)) < 0.5
    v = rng.standard_normal(5).astype(numpy.float32)
    w = rng.standard_normal(5).astype(numpy.float32)
    sq = (rng.standard_normal((4, 4)) + 4 * numpy.eye(4)).astype(numpy.float32)
    spd = (sq @ sq.T).astype(numpy.float32)
    s = numpy.sort(v)
    return [(f,), (f, g), (p,), (i,), (i, j), (b,), (b, b), (v,), (v, w), (sq,), (spd,), (sq, sq), (f, 1),
            (f, 2), (s, v), (v, 3), (i, 2), (4,), ((3, 4),), (3, 4), (3,), (0.5,), (f, g, p), (b, f, g),
            ([f, g],), ([v, w],), ("ij,jk->ik", f, g.T), (f, 0.1, 0.5), (5, 3), (10, 0.5), (2.0, 3.0), ([0.2, 0.8],),
            (4, [0.5, 0.5])]


def _to_hb(value):
    if isinstance(value, numpy.ndarray):
        return hb.np.array(value)
    if isinstance(value, list) and value and isinstance(value[0], numpy.ndarray):
        return [hb.np.array(x) for x in value]
    return value


def _flatten(result) -> list:
    if isinstance(result, (tuple, list)):
        return [r for item in result for r in _flatten(item)]
    if hasattr(result, "_fields"):
        return [r for item in tuple(result) for r in _flatten(item)]
    return [result]


_DEFAULTS_OK = {(numpy.dtype("float64"), numpy.dtype("float32")), (numpy.dtype("int64"), numpy.dtype("int32"))}


def _agree(want, got, random: bool) -> bool:
    want, got = _flatten(want), _flatten(got)
    if len(want) != len(got):
        return False
    for w, g in zip(want, got):
        if isinstance(w, (numpy.ndarray, numpy.generic)) or isinstance(g, hb.NDArray):
            w, g = numpy.asarray(w), numpy.asarray(g)
            if w.shape != g.shape:
                return False
            if w.dtype != g.dtype and (w.dtype, g.dtype) not in _DEFAULTS_OK:
                if not (random and w.dtype.kind == g.dtype.kind):
                    return False
            if random or w.dtype.kind not in "biuf":
                continue
            if not numpy.allclose(w.astype(numpy.float64), g.astype(numpy.float64), rtol=1e-4, atol=1e-5,
                                  equal_nan=True):
                return False
        elif isinstance(w, (bool, int, float)) and not random:
            if not numpy.allclose(float(w), float(numpy.asarray(g)), rtol=1e-4, atol=1e-5, equal_nan=True):
                return False
    return True


def check(np_fn, hb_fn, random: bool, seed: int) -> str:
    """'agree', 'differ' or 'unchecked'."""
    rng = numpy.random.default_rng(seed)
    for args in _templates(rng):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with numpy.errstate(all="ignore"):
                    want = np_fn(*[a.copy() if isinstance(a, numpy.ndarray) else a for a in args])
            except Exception:
                continue
            if inspect.isclass(want) or want is None or isinstance(want, (str, type, numpy.dtype)) or \
                    (not isinstance(want, (numpy.ndarray, numpy.generic, tuple, list, bool, int, float))):
                return "agree" if hb_fn is not None else "differ"
            try:
                with numpy.errstate(all="ignore"):
                    got = hb_fn(*[_to_hb(a) for a in args])
            except Exception:
                return "differ"
            try:
                return "agree" if _agree(want, got, random) else "differ"
            except (TypeError, ValueError):
                return "differ"
    return "unchecked"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list-missing", action="store_true")
    parser.add_argument("--list-disagreeing", action="store_true")
    args = parser.parse_args()
    totals = dict(public=0, present=0, agree=0, differ=0, unchecked=0)
    missing, differing = [], []
    print(f"NumPy {numpy.__version__}; hybrid hb.np")
    print(f"{'namespace':<14} {'public':>6} {'present':>7} {'agree':>6} {'differ':>6} {'unchecked':>9}")
    for label, module, ours in NAMESPACES:
        row = dict(public=0, present=0, agree=0, differ=0, unchecked=0)
        for name in public_callables(module):
            row["public"] += 1
            hb_fn = getattr(ours, name, None)
            if hb_fn is None:
                missing.append(f"{label}.{name}")
                continue
            row["present"] += 1
            verdict = check(getattr(module, name), hb_fn, label == "numpy.random", args.seed)
            row[verdict] += 1
            if verdict == "differ":
                differing.append(f"{label}.{name}")
        for k in totals:
            totals[k] += row[k]
        print(f"{label:<14} {row['public']:>6} {row['present']:>7} {row['agree']:>6} {row['differ']:>6} "
              f"{row['unchecked']:>9}")
    checked = totals["agree"] + totals["differ"]
    print(f"{'total':<14} {totals['public']:>6} {totals['present']:>7} {totals['agree']:>6} {totals['differ']:>6} "
          f"{totals['unchecked']:>9}")
    print(f"present: {totals['present'] / totals['public']:.1%} of NumPy's public callables; "
          f"agreeing: {totals['agree'] / max(checked, 1):.1%} of the {checked} checked")
    if args.list_missing:
        print("missing:", " ".join(missing))
    if args.list_disagreeing:
        print("disagreeing:", " ".join(differing))


if __name__ == "__main__":
    main()
