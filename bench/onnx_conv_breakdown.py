"""Where an imported CNN's time goes, convolution by convolution: every distinct Conv of an ONNX file
(at one batch size) timed alone with bench/conv_shapes.py's harness (hybrid's kernels, each `conv_impl`
asked for, against ONNX Runtime's Conv + Relu; medians of process CPU time, interleaved rounds), weighted
by how often the model runs it. The weighted sums say how much of a whole-model gap the convolution
kernels explain, and which shapes lose most.

    python -m bench.onnx_conv_breakdown MODEL.onnx [--batch 1] [--rounds 5] [--impls auto,direct,im2col]

Square kernels, strides and symmetric pads (what the three bench CNNs use); other convolutions are listed
as skipped.
"""
from __future__ import annotations

import argparse
import collections

from .conv_shapes import measure_shape


def conv_shapes(path: str, batch: int) -> tuple[collections.Counter, list[str]]:
    """{conv_shapes.py shape tuple: count} of the model's Conv nodes, and the ones it cannot express."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference
    model = onnx.load(path)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
    model = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.input)}
    weights = {i.name: numpy_helper.to_array(i).shape for i in model.graph.initializer}
    found, skipped = collections.Counter(), []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        (n, c, h, w), (o, _, kh, kw) = shapes[node.input[0]], weights[node.input[1]]
        strides, pads = list(attrs.get("strides", [1, 1])), list(attrs.get("pads", [0] * 4))
        if kh != kw or len(set(strides)) != 1 or len(set(pads)) != 1 or attrs.get("dilations", [1, 1]) != [1, 1]:
            skipped.append(node.name)
            continue
        found[(f"{c}->{o} {kh}x{kw}/{strides[0]} @{h}x{w}", n, c, h, w, o, kh, strides[0], pads[0],
               attrs.get("group", 1))] += 1
    return found, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--impls", default="auto,direct,im2col", help="hybrid conv_impl settings to time")
    args = parser.parse_args()
    impls = args.impls.split(",")
    found, skipped = conv_shapes(args.model, args.batch)
    totals, rows = collections.Counter(), []
    print(f"| convolution | count | " + " | ".join(f"{i} cpu ms" for i in impls) +
          f" | ORT cpu ms | ORT / {impls[0]} (above 1: hybrid faster) |")
    print("|---|---:|" + "---:|" * (len(impls) + 2))
    for shape, count in found.items():
        results = measure_shape(shape, args.threads, args.rounds, impls)
        cpu = {name: r.cpu_ms for name, r in results.items()}
        for name, ms in cpu.items():
            totals[name] += count * (ms or 0.0)
        first = impls[0]
        rows.append((count * (cpu[first] - cpu["onnxruntime"]), shape[0]))
        print(f"| {shape[0]} | {count} | " + " | ".join(f"{cpu.get(i, float('nan')):.2f}" for i in impls) +
              f" | {cpu['onnxruntime']:.2f} | {cpu['onnxruntime'] / cpu[first]:.2f} |", flush=True)
    print(f"\nweighted by count (ms per model call): " + ", ".join(f"{k} {v:.1f}" for k, v in totals.items()) +
          f"; ONNX Runtime / {impls[0]}: {totals['onnxruntime'] / totals[impls[0]]:.3f}")
    print(f"largest gaps ({impls[0]} - ORT, times count): " + "; ".join(f"{label} {gap:+.1f} ms"
                                                                       for gap, label in sorted(rows, reverse=True)[:5]))
    if skipped:
        print(f"skipped (non-square or dilated): {len(skipped)}")


if __name__ == "__main__":
    main()
