"""hybrid in one page: define a model, run it eagerly, hybridize it, print its IR, export it,
load it back without the model code, and check that all three give the same numbers.

    python examples/quickstart.py [--backend interp|llvm|cuda]
"""
import argparse
import os
import sys
import tempfile

import numpy

import hybrid as hb
from hybrid import np, npx, nn


class MLP(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Dense(128, activation="relu")   # input size inferred at the first call
        self.fc2 = nn.Dense(10)

    def forward(self, x):
        return npx.softmax(self.fc2(self.fc1(x)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="llvm", choices=["interp", "llvm", "cuda"])
    backend = parser.parse_args().backend

    np.random.seed(0)
    net = MLP()
    net.initialize(hb.init.Xavier())
    x = np.random.normal(size=(4, 64))

    eager = net(x)                      # 1. eager: op by op, like NumPy
    net.hybridize(backend=backend)      # 2. hybridized: traced once per input shape, then compiled
    compiled = net(x)
    print(net.ir())                     # 3. the optimized graph, one line per op

    with tempfile.TemporaryDirectory() as folder:
        prefix = os.path.join(folder, "mlp")
        net.export(prefix)              # 4. mlp-symbol.json + mlp-0000.params
        loaded = hb.load(prefix, backend=backend)   # 5. no MLP class needed
        reloaded = loaded(x)

    results = {"hybridized": compiled, "exported+loaded": reloaded}
    worst = 0.0
    for name, result in results.items():
        error = float(numpy.abs(result.asnumpy() - eager.asnumpy()).max())
        worst = max(worst, error)
        print(f"{name:>16} vs eager: max abs difference {error:.2e}")
    if worst > 1e-5:
        print("MISMATCH: the compiled model does not match eager execution", file=sys.stderr)
        return 1
    print("OK: eager, hybridized and exported+loaded agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
