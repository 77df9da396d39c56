"""The `hybrid` command: inspect, dump, convert, bench and compile models.

A MODEL is an ONNX file (`model.onnx`) or the prefix of a hybrid export (`prefix-symbol.json` +
`prefix-0000.params`). Example inputs are built from the model's input shapes, with every
symbolic (dynamic) dimension set to --batch.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time
from typing import Optional, Sequence

import numpy

from .errors import HybridError
from .frontend.api import load as load_export
from .frontend.export import load_exported
from .ir.types import is_float_dtype, to_numpy_dtype


def _is_onnx(path: str) -> bool:
    return path.endswith(".onnx")


def load(path: str):
    """The model as a block: an imported ONNX file or a loaded hybrid export."""
    if _is_onnx(path):
        from .onnx import import_model
        return import_model(path)
    return load_export(path)


def _example_inputs(path: str, batch: int, seed: int = 0) -> list[numpy.ndarray]:
    """Random inputs of the model's declared shapes and dtypes (integers in [0, 2))."""
    rng = numpy.random.default_rng(seed)
    if _is_onnx(path):
        from .onnx.importer import load_proto
        from .onnx import input_shapes
        from .onnx.ops.dtypes import hybrid_dtype
        model, _ = load_proto(path)
        inits = {i.name for i in model.graph.initializer}
        values = [v for v in model.graph.input if v.name not in inits]
        specs = [(shape, hybrid_dtype(v.type.tensor_type.elem_type)) for v, shape in zip(values, input_shapes(model, batch))]
    else:
        graph, _ = load_exported(path)
        specs = [(v.shape, v.dtype) for v in graph.data_inputs]
    out = []
    for shape, dtype in specs:
        np_dtype = to_numpy_dtype(dtype)
        if is_float_dtype(np_dtype):
            out.append(rng.standard_normal(shape).astype(np_dtype))
        else:
            out.append(rng.integers(0, 2, size=shape).astype(np_dtype))
    return out


def _summary(path: str) -> dict:
    if _is_onnx(path):
        from .onnx.importer import load_proto
        model, _ = load_proto(path)
        graph = model.graph
        inits = {i.name: i for i in graph.initializer}

        def describe(v):
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in v.type.tensor_type.shape.dim]
            from onnx import TensorProto
            return {"name": v.name, "shape": dims, "dtype": TensorProto.DataType.Name(v.type.tensor_type.elem_type)}
        ops = collections.Counter(n.op_type for n in graph.node)
        params = sum(int(numpy.prod(i.dims)) for i in inits.values())
        opsets = {imp.domain or "ai.onnx": imp.version for imp in model.opset_import}
        return {"format": "onnx", "opset": opsets, "inputs": [describe(v) for v in graph.input if v.name not in inits],
                "outputs": [describe(v) for v in graph.output], "parameters": params, "ops": dict(ops.most_common())}
    graph, values = load_exported(path)
    ops = collections.Counter(n.op for n in graph.nodes)
    return {"format": "hybrid", "inputs": [{"name": v.name, "shape": list(v.shape), "dtype": v.dtype} for v in graph.data_inputs],
            "outputs": [{"shape": list(v.shape), "dtype": v.dtype} for v in graph.outputs],
            "parameters": int(sum(a.size for a in values.values())), "ops": dict(ops.most_common())}


def cmd_inspect(args) -> int:
    info = _summary(args.model)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"{args.model} ({info['format']}{', opset ' + str(info['opset']) if 'opset' in info else ''})")
    for kind in ("inputs", "outputs"):
        print(f"{kind}:")
        for v in info[kind]:
            print(f"  {v.get('name', '')} {v['dtype']}{v['shape']}")
    print(f"parameters: {info['parameters']:,}")
    print("ops:")
    for op, n in info["ops"].items():
        print(f"  {op:24s} {n}")
    return 0


def _block(path: str, backend: Optional[str], dump: Optional[str] = None):
    block = load(path)
    block.hybridize(backend=backend or "llvm", dump=dump)
    return block


def cmd_dump(args) -> int:
    inputs = _example_inputs(args.model, args.batch)
    block = _block(args.model, args.backend, dump=args.dir)
    block(*inputs)
    print(block.ir(stage=args.stage))
    if args.dir:
        files = sorted(os.listdir(args.dir))
        print(f"# wrote {len(files)} files to {args.dir}: {', '.join(files)}", file=sys.stderr)
    return 0


def cmd_convert(args) -> int:
    to = args.to or ("onnx" if args.output.endswith(".onnx") else "hybrid")
    inputs = _example_inputs(args.model, args.batch)
    if to == "hybrid":
        block = _block(args.model, "interp")
        block(*inputs)
        files = block.export(args.output)
        print("wrote " + ", ".join(files))
        return 0
    from .onnx import export_model
    output = args.output if args.output.endswith(".onnx") else args.output + ".onnx"
    export_model(load(args.model), inputs, output, opset=args.opset)
    print(f"wrote {output}")
    return 0


def _time(fn, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def cmd_bench(args) -> int:
    inputs = _example_inputs(args.model, args.batch)
    block = _block(args.model, args.backend)
    first = time.perf_counter()
    reference = block(*inputs)
    first = time.perf_counter() - first
    rows = [(f"hybrid-{args.backend}", _time(lambda: block(*inputs), args.runs, args.warmup))]
    if args.against == "onnxruntime":
        import onnxruntime
        path = args.model
        if not _is_onnx(path):
            from .onnx import export_model
            path = os.path.join(os.path.dirname(os.path.abspath(args.model)), os.path.basename(args.model) + ".bench.onnx")
            export_model(load(args.model), inputs, path)
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
        ort_out = session.run(None, feed)[0]
        ours = numpy.asarray(reference[0] if isinstance(reference, tuple) else reference)
        err = float(numpy.max(numpy.abs(ours - ort_out))) if ours.size else 0.0
        rows.append(("onnxruntime", _time(lambda: session.run(None, feed), args.runs, args.warmup)))
        print(f"max |hybrid - onnxruntime| = {err:.3g}")
    print(f"{args.model}: batch {args.batch}, {args.runs} runs after {args.warmup} warm-up; first call "
          f"(trace + compile) {first * 1e3:.0f} ms")
    base = statistics.median(rows[0][1])
    print(f"{'runtime':16s} {'median ms':>10s} {'min ms':>8s} {'items/s':>10s} {'vs hybrid':>9s}")
    for name, times in rows:
        med = statistics.median(times)
        print(f"{name:16s} {med * 1e3:10.3f} {min(times) * 1e3:8.3f} {args.batch / med:10.1f} {med / base:8.2f}x")
    return 0


def cmd_compile(args) -> int:
    from .frontend.aot import compile_library
    inputs = _example_inputs(args.model, args.batch)
    block = load(args.model)
    info = compile_library(block, inputs, args.library)
    header = os.path.splitext(args.library)[0] + ".h"
    print(f"wrote {args.library} and {header}")
    print(json.dumps(info, indent=1, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybrid", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help: str, batch: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("model", help="an ONNX file (.onnx) or the prefix of a hybrid export")
        if batch:
            p.add_argument("--batch", type=int, default=1, help="size of every dynamic (symbolic) input dimension")
        p.set_defaults(fn=fn)
        return p

    p = add("inspect", cmd_inspect, "inputs, outputs, parameter count and op histogram of a model", batch=False)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p = add("dump", cmd_dump, "print the IR at one stage; write every stage (and LLVM IR / assembly) to --dir")
    p.add_argument("--stage", default=None, help="pass name (traced, dce, cse, fuse, ...); default: the optimized IR")
    p.add_argument("--dir", default=None, help="folder for NN-<pass>.ir, the memory plan, NN-llvm.ll and NN-asm.s")
    p.add_argument("--backend", default="llvm", choices=["interp", "llvm", "cuda"])
    p = add("convert", cmd_convert, "ONNX -> hybrid export (prefix), or a model -> ONNX with --to onnx")
    p.add_argument("output", help="output prefix (hybrid) or .onnx path")
    p.add_argument("--to", choices=["hybrid", "onnx"], default=None, help="target format (default: by extension)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset of --to onnx")
    p = add("bench", cmd_bench, "median latency and throughput, optionally against ONNX Runtime on the same file")
    p.add_argument("--backend", default="llvm", choices=["interp", "llvm", "cuda"])
    p.add_argument("--against", choices=["onnxruntime"], default=None)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p = add("compile", cmd_compile, "ahead-of-time compile to a shared library with a C header (no LLVM needed to run)")
    p.add_argument("--library", required=True, help="output .so path (the .h goes next to it)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (HybridError, FileNotFoundError) as e:
        print(f"hybrid {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
