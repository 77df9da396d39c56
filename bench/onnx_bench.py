"""hybrid-llvm (the ONNX file imported) against ONNX Runtime on the same file: ResNet-50-,
Inception-v1- and DenseNet-121-style CNNs and a BERT-style encoder exported from PyTorch
(bench/onnx_models.py), batch 1 and 8, in one run. Both use the same number of threads.

    python -m bench.onnx_bench [--size 224] [--rounds 7] [--budget 20] [--write]

--write puts the table under '## ONNX models: hybrid-llvm vs ONNX Runtime' in bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy

from .machine import cpu_info, versions
from .timing import Result, first_call, measure

HEADING = "## ONNX models: hybrid-llvm vs ONNX Runtime (same file)"


def peers(path: str, inputs: list[numpy.ndarray], threads: int):
    import onnxruntime

    import hybrid as hb

    def hybrid_llvm():
        net = hb.onnx.import_model(path, backend="llvm")
        return lambda: net(*inputs).asnumpy()

    def ort():
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
        return lambda: session.run(None, feed)[0]
    return {"hybrid-llvm": hybrid_llvm, "onnxruntime": ort}


def run(args) -> list[dict]:
    from .onnx_models import example_inputs, export
    rows = []
    folder = tempfile.mkdtemp(prefix="onnx_bench_")
    for name in args.models:
        path = os.path.join(folder, f"{name}.onnx")
        export(name, path, args.size)
        for batch in args.batches:
            inputs = [t.numpy() for t in example_inputs(name, batch, args.size)]
            results, runners = {}, {}
            for peer, setup in peers(path, inputs, args.threads).items():
                result, runner = first_call(setup, peer)
                results[peer] = result
                if runner is not None:
                    runners[peer] = runner
            measure(runners, results, args.rounds, args.budget)
            ours, theirs = results["hybrid-llvm"], results["onnxruntime"]
            err = (float(numpy.max(numpy.abs(ours.output - theirs.output)) / (numpy.max(numpy.abs(theirs.output)) + 1e-12))
                   if ours.output is not None and theirs.output is not None else None)
            for peer, r in results.items():
                rows.append({"model": name, "batch": batch, "peer": peer, "median": r.median_ms, "min": r.min_ms,
                             "first": r.first_ms, "error": r.error, "cpu": r.cpu_ms,
                             "ratio": (r.median_ms / ours.median_ms) if r.median_ms and ours.median_ms else None,
                             "cpu_ratio": (r.cpu_ms / ours.cpu_ms) if r.cpu_ms and ours.cpu_ms else None,
                             "agreement": err})
                print(format_row(rows[-1]), flush=True)
    return rows


def _num(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}"


def format_row(row: dict) -> str:
    note = row["error"] or (f"max rel. diff {row['agreement']:.1e}" if row["agreement"] is not None else "")
    return (f"| {row['model']} | {row['batch']} | {row['peer']} | {_num(row['median'])} | {_num(row['min'])} | "
            f"{_num(row.get('cpu'))} | {_num(row['first'], 4)} | {_num(row['ratio'])} | {_num(row.get('cpu_ratio'))} | {note} |")


def table(rows: list[dict], args, started: float) -> str:
    machine, lib = cpu_info(), versions()
    load = os.getloadavg()[0]
    lines = [HEADING, "",
             f"- command: `python -m bench.onnx_bench --size {args.size} --rounds {args.rounds} --budget {args.budget:g} "
             f"--threads {args.threads} --write`; "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, {time.time() - started:.0f} s",
             f"- machine: {machine['cpu']} (LLVM target {machine['llvm_cpu']}), {machine['cores']} cores, vector flags: "
             f"{machine['vector_flags']}; {args.threads} thread(s) for both runtimes (HYBRID_NUM_THREADS, ONNX Runtime "
             "intra_op_num_threads)",
             f"- versions: " + ", ".join(f"{k} {v}" for k, v in lib.items()),
             "- models: exported from PyTorch by bench/onnx_models.py (opset 17, dynamic batch): ResNet-50, "
             f"Inception-v1 (GoogLeNet, BatchNorm) and DenseNet-121 at {args.size}x{args.size}, a BERT-style "
             "encoder (4 layers, d=256, 4 heads, sequence 128). The onnx wheel's 'light' model files are tiny "
             "stand-ins and its full-size model zoo files are downloads, so they are not used here",
             f"- medians of interleaved rounds; 'vs llvm' = median / hybrid-llvm median (above 1: hybrid is faster); "
             "'cpu ms' = median process CPU time per call (all threads), steadier than wall time on a shared host, "
             "and 'cpu vs llvm' its ratio; "
             "'first call ms' = import/session creation + trace + compile + first run (with whatever hybrid's "
             f"compiled-code cache held: HYBRID_CACHE_DIR). Load average {load:.1f} at the "
             "end: the machine is shared with other jobs, so compare within this run",
             "", "| model | batch | peer | median ms | min ms | cpu ms | first call ms | vs llvm | cpu vs llvm | note |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    return "\n".join(lines + [format_row(r) for r in rows]) + "\n"


def write_results(text: str, path: str = os.path.join(os.path.dirname(__file__), "RESULTS.md")) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it)."""
    with open(path) as f:
        content = f.read()
    if HEADING in content:
        start = content.index(HEADING)
        end = content.find("\n## ", start + len(HEADING))
        content = content[:start] + text + (content[end + 1:] if end != -1 else "")
    else:
        content = content.rstrip("\n") + "\n\n" + text
    with open(path, "w") as f:
        f.write(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "inception_v1", "densenet121", "bert"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per peer before rounds are cut short")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("HYBRID_NUM_THREADS", str(args.threads))
    started = time.time()
    rows = run(args)
    text = table(rows, args, started)
    print(text)
    if args.write:
        write_results(text)


if __name__ == "__main__":
    main()
