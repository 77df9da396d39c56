"""Compile a small LeNet-5 into model.so + model.h and write an example input (input.bin) and
the output Python computes for it (expected.bin), for main.c to run and compare against.

    python examples/c_api/make_model.py [folder]
"""
import os
import sys

import numpy

import hybrid as hb
from hybrid import init, np
from hybrid.model_zoo import LeNet5


def main(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    np.random.seed(0)
    net = LeNet5()
    net.initialize(init.Xavier())
    x = numpy.random.default_rng(0).normal(size=(2, 1, 28, 28)).astype("float32")
    info = hb.compile_library(net, [x], os.path.join(folder, "model.so"))
    x.tofile(os.path.join(folder, "input.bin"))
    net(np.array(x)).asnumpy().tofile(os.path.join(folder, "expected.bin"))
    print(f"wrote {folder}/model.so and model.h: inputs {info['inputs']}, workspace {info['workspace_bytes']} B")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
