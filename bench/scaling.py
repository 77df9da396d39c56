"""A scaling model of data-parallel training: alpha-beta ring allreduce with buckets overlapped
with backward, fitted to this machine's measurements (bench/allreduce_bench.py) and set up
with published interconnect figures, projecting ResNet-50 at 8, 32 and 128 workers.

    python -m bench.scaling            # reads bench/allreduce_results.json, prints Markdown

The model
  ring allreduce of m bytes over n workers:  T(n, m) = 2(n-1) alpha + 2 (n-1)/n m / B
  two levels (g GPUs per machine on NVLink, machines on Ethernet): reduce-scatter inside the
  machine, ring allreduce of the machine's data across machines, all-gather inside again:
      T = 2 [(g-1) alpha_in + (g-1)/g m / B_in] + 2(N-1) alpha_net + 2 (N-1)/N m / B_net
  a training step: forward, then backward producing the gradients at an even rate in reverse
  layer order; bucket k (of K) is ready at fwd + bwd k/K and is sent when the link is free;
  step = max(fwd + bwd, last bucket done) + update.  "No overlap" sends everything after
  backward.  Weak scaling (fixed per-worker batch): efficiency = step(1) / step(n), speed-up
  = n efficiency.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class Link:
    name: str
    alpha_s: float        # per-message latency of one ring step
    bandwidth: float      # bytes/s each worker sends and receives (effective, not line rate)
    source: str


# Published figures; effective bandwidth is taken as ~90% of line rate for Ethernet.
ETH25 = Link("25 Gb/s Ethernet (TCP)", 25e-6, 0.9 * 25e9 / 8, "line rate 3.125 GB/s; ~25 us MPI latency over TCP")
ETH100 = Link("100 Gb/s Ethernet (RoCE)", 5e-6, 0.9 * 100e9 / 8, "line rate 12.5 GB/s; ~5 us RDMA latency")
NVLINK = Link("NVLink (V100, DGX-1)", 8e-6, 130e9, "NCCL all-reduce bus bandwidth ~130 GB/s on 8 V100s")
ETH20 = Link("20 Gb/s Ethernet (2016 AWS p2.16xlarge)", 30e-6, 0.9 * 20e9 / 8, "instance network 20 Gb/s")
PCIE3 = Link("PCIe 3.0 x16 (K80s behind shared switches)", 10e-6, 6e9, "16 GB/s line rate, ~6 GB/s effective shared")


@dataclass(frozen=True)
class Model:
    name: str
    grad_bytes: float
    forward_s: float
    backward_s: float
    update_s: float
    source: str


# ResNet-50: 25.6 M parameters (fp32 gradients 102 MB); V100 fp32 ~380 images/s at batch 32 per GPU.
RESNET50_V100 = Model("ResNet-50, V100 fp32, batch 32/GPU", 25.6e6 * 4, 0.028, 0.056, 0.002,
                      "25.6 M params; ~380 img/s/GPU (NVIDIA/MXNet published fp32 V100 figures)")
# MXNet's 2016 figure (Inception v3, K80, 109x on 128 GPUs): 23.8 M params, ~1 s per batch-32 step.
INCEPTION_K80 = Model("Inception v3, K80, batch 32/GPU", 23.8e6 * 4, 0.33, 0.66, 0.01,
                      "23.8 M params; ~32 img/s/GPU on a K80 (MXNet 2016 benchmark setting)")


def ring(n: int, m: float, link: Link) -> float:
    return 0.0 if n <= 1 else 2 * (n - 1) * link.alpha_s + 2 * (n - 1) / n * m / link.bandwidth


def hierarchical(n: int, m: float, inner: Link, outer: Link, per_machine: int = 8) -> float:
    g = min(n, per_machine)
    machines = max(1, n // per_machine)
    inside = 0.0 if g <= 1 else 2 * ((g - 1) * inner.alpha_s + (g - 1) / g * m / inner.bandwidth)
    return inside + ring(machines, m, outer)


def step_time(model: Model, comm_of_bytes, buckets: int, overlap: bool) -> float:
    """One training step with `buckets` equal buckets; comm_of_bytes(m) is one bucket's allreduce."""
    compute = model.forward_s + model.backward_s
    per_bucket = comm_of_bytes(model.grad_bytes / buckets)
    if not overlap:
        return compute + buckets * per_bucket + model.update_s
    free = 0.0
    for k in range(1, buckets + 1):
        ready = model.forward_s + model.backward_s * k / buckets
        free = max(free, ready) + per_bucket
    return max(compute, free) + model.update_s


def fit_alpha_beta(rows: list[dict]) -> Link:
    """alpha and B of T(2, m) = 2 alpha + m / B, least squares in relative error."""
    m = numpy.array([r["bytes"] for r in rows], float)
    t = numpy.array([r["hybrid_us"] for r in rows], float) * 1e-6
    a = numpy.stack([numpy.full_like(m, 2.0), m], axis=1) / t[:, None]
    (alpha, inv_b), *_ = numpy.linalg.lstsq(a, numpy.ones_like(t), rcond=None)
    return Link("this machine (shared memory, fitted)", max(alpha, 0.0), 1.0 / inv_b, "fitted to allreduce_bench")


SCENARIOS = [
    ("flat ring, 1 worker/machine, 25 GbE", lambda n, m: ring(n, m, ETH25)),
    ("flat ring, 1 worker/machine, 100 GbE", lambda n, m: ring(n, m, ETH100)),
    ("8 GPUs/machine NVLink + 25 GbE", lambda n, m: hierarchical(n, m, NVLINK, ETH25)),
    ("8 GPUs/machine NVLink + 100 GbE", lambda n, m: hierarchical(n, m, NVLINK, ETH100)),
]
WORKERS = (8, 32, 128)
BUCKET_MB = 25


def projection(model: Model, scenarios=SCENARIOS, workers=WORKERS, bucket_mb: float = BUCKET_MB) -> list[dict]:
    buckets = max(1, round(model.grad_bytes / (bucket_mb * 1e6)))
    base = model.forward_s + model.backward_s + model.update_s
    rows = []
    for name, comm in scenarios:
        for n in workers:
            for overlap in (True, False):
                t = step_time(model, lambda m: comm(n, m), buckets, overlap)
                rows.append({"scenario": name, "workers": n, "overlap": overlap, "step_ms": 1e3 * t,
                             "efficiency": base / t, "speedup": n * base / t})
    return rows


def predict_measured(result: dict, link: Link) -> dict:
    """This machine: the 2-process ResNet-18-style step predicted from the 1-process step and
    the fitted link (backward taken as 2/3 of the step, buckets as in the compiled step)."""
    one, two = result["step"]
    t1 = one["step_ms"] * 1e-3
    model = Model("ResNet-18-style (measured)", two["grad_bytes"], t1 / 3, 2 * t1 / 3, 0.0, "measured")
    buckets = max(1, two["buckets"])
    predicted = step_time(model, lambda m: ring(2, m, link), buckets, True)
    return {"measured_ms": two["step_ms"], "predicted_ms": 1e3 * predicted,
            "measured_efficiency": one["step_ms"] / two["step_ms"], "predicted_efficiency": t1 / predicted}


def table(rows: list[dict]) -> str:
    lines = ["| interconnect | workers | step ms (overlap) | efficiency | speed-up | step ms (no overlap) | "
             "efficiency |", "|---|---:|---:|---:|---:|---:|---:|"]
    by_key = {(r["scenario"], r["workers"], r["overlap"]): r for r in rows}
    for name, _ in SCENARIOS:
        for n in WORKERS:
            a, b = by_key[(name, n, True)], by_key[(name, n, False)]
            lines.append(f"| {name} | {n} | {a['step_ms']:.0f} | {a['efficiency']:.2f} | {a['speedup']:.0f}x | "
                         f"{b['step_ms']:.0f} | {b['efficiency']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    path = os.path.join(HERE, "allreduce_results.json")
    out = []
    if os.path.exists(path):
        with open(path) as f:
            result = json.load(f)
        link = fit_alpha_beta(result["allreduce"]["rows"])
        check = predict_measured(result, link)
        out += [f"Fitted on this machine: alpha = {link.alpha_s * 1e6:.1f} us, B = {link.bandwidth / 1e9:.2f} GB/s "
                f"(2 processes, shared memory).",
                f"2-process ResNet-18-style step: measured {check['measured_ms']:.0f} ms (efficiency "
                f"{check['measured_efficiency']:.2f}), model {check['predicted_ms']:.0f} ms (efficiency "
                f"{check['predicted_efficiency']:.2f}).", ""]
    for model in (RESNET50_V100, INCEPTION_K80):
        out += [f"### {model.name}", f"({model.source}; buckets of {BUCKET_MB} MB)", "", table(projection(model)), ""]
    p2 = [("p2.16xlarge", lambda n, m: hierarchical(n, m, PCIE3, ETH20, 16))]
    k80 = {r["overlap"]: r for r in projection(INCEPTION_K80, p2, (128,))}
    out.append(f"MXNet's published figure: 109x on 128 GPUs (Inception v3, K80s, 16 GPUs per machine on PCIe, 20 Gb/s "
               f"between machines). This model in that setting: {k80[True]['speedup']:.0f}x with overlap (efficiency "
               f"{k80[True]['efficiency']:.2f}), {k80[False]['speedup']:.0f}x without (efficiency "
               f"{k80[False]['efficiency']:.2f}).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
