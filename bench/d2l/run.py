"""Held-out measurement: the MXNet programs of "Dive into Deep Learning" (d2l-en) run against hybrid
with `import mxnet` aliased to hybrid (bench/mxnet_alias.py) and nothing else of the book changed
but the stated hyperparameter numbers. The book is read from a local clone of d2l-ai/d2l-en at run
time (its chapter markdown and its d2l/mxnet.py library) and never stored in this repository.

    python -m bench.d2l.run --book /path/to/d2l-en-clone              # prints the table
    python -m bench.d2l.run --book ... --only lenet resnet --keep /tmp/d2l   # keep the programs
    python -m bench.d2l.run --book ... --write                        # and writes bench/RESULTS.md

A program is one chapter's code cells of the MXNet tab, in order (d2lbook's rule: cells marked
`%%tab` with mxnet or `all`, and unmarked cells; notebook magics dropped; `tab.selected(...)`
answered for mxnet). Each runs in its own process with a time limit, on synthetic data in the
book's on-disk formats (bench/d2l/data.py) so nothing is downloaded. Patched numbers, to fit a
2-core CI-sized host: `max_epochs=` in the chapters becomes --epochs, image `resize=` sides above
--max-resize become --max-resize, and the datasets are --train-images/--val-images images and
--text-chars characters long (the book trains on 60000 images and 170k characters); fra-eng.zip
has 800 synthetic sentence pairs, airfoil_self_noise.dat 1500 synthetic rows, the Kaggle house-price
CSVs 300 rows each, ptb.zip 10000 sentences, ml-100k.zip 3000 ratings (100 users, 200 items), MNIST is the
synthetic Fashion-MNIST, and img/catdog.jpg a synthetic 728x561 photo.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

from bench.d2l import data
from bench.mxnet_tests.run import _git_dir, git_show   # reading a (bare) clone's HEAD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECTION = "## d2l book programs against hybrid (held-out, issue 17)"
# The 13 programs the target counts (program name -> chapter file).
CORE = {
    "linreg-scratch": "chapter_linear-regression/linear-regression-scratch.md",
    "linreg-concise": "chapter_linear-regression/linear-regression-concise.md",
    "softmax-scratch": "chapter_linear-classification/softmax-regression-scratch.md",
    "softmax-concise": "chapter_linear-classification/softmax-regression-concise.md",
    "mlp": "chapter_multilayer-perceptrons/mlp-implementation.md",
    "lenet": "chapter_convolutional-neural-networks/lenet.md",
    "alexnet": "chapter_convolutional-modern/alexnet.md",
    "vgg": "chapter_convolutional-modern/vgg.md",
    "batch-norm": "chapter_convolutional-modern/batch-norm.md",
    "resnet": "chapter_convolutional-modern/resnet.md",
    "densenet": "chapter_convolutional-modern/densenet.md",
    "rnn-scratch": "chapter_recurrent-neural-networks/rnn-scratch.md",
    "rnn-concise": "chapter_recurrent-neural-networks/rnn-concise.md",
}
# Further chapters, measured with --extra and reported apart from the 13.
EXTRA = {
    "nin": "chapter_convolutional-modern/nin.md",
    "googlenet": "chapter_convolutional-modern/googlenet.md",
    "dropout": "chapter_multilayer-perceptrons/dropout.md",
    "weight-decay": "chapter_linear-regression/weight-decay.md",
    "image-dataset": "chapter_linear-classification/image-classification-dataset.md",
    "lstm": "chapter_recurrent-modern/lstm.md",
    "gru": "chapter_recurrent-modern/gru.md",
    "deep-rnn": "chapter_recurrent-modern/deep-rnn.md",
    "ndarray": "chapter_preliminaries/ndarray.md",
    "autograd": "chapter_preliminaries/autograd.md",
    "linear-algebra": "chapter_preliminaries/linear-algebra.md",
    "calculus": "chapter_preliminaries/calculus.md",
    "probability": "chapter_preliminaries/probability.md",
    "pandas": "chapter_preliminaries/pandas.md",
    "model-construction": "chapter_builders-guide/model-construction.md",
    "parameters": "chapter_builders-guide/parameters.md",
    "init-param": "chapter_builders-guide/init-param.md",
    "lazy-init": "chapter_builders-guide/lazy-init.md",
    "custom-layer": "chapter_builders-guide/custom-layer.md",
    "read-write": "chapter_builders-guide/read-write.md",
    "use-gpu": "chapter_builders-guide/use-gpu.md",
    "conv-layer": "chapter_convolutional-neural-networks/conv-layer.md",
    "padding-and-strides": "chapter_convolutional-neural-networks/padding-and-strides.md",
    "channels": "chapter_convolutional-neural-networks/channels.md",
    "pooling": "chapter_convolutional-neural-networks/pooling.md",
    "attention-scoring": "chapter_attention-mechanisms-and-transformers/attention-scoring-functions.md",
    "multihead-attention": "chapter_attention-mechanisms-and-transformers/multihead-attention.md",
    "positional-encoding": "chapter_attention-mechanisms-and-transformers/self-attention-and-positional-encoding.md",
    "hybridize": "chapter_computational-performance/hybridize.md",
    "async-computation": "chapter_computational-performance/async-computation.md",
    "seq2seq": "chapter_recurrent-modern/seq2seq.md",
    "bahdanau-attention": "chapter_attention-mechanisms-and-transformers/bahdanau-attention.md",
    "transformer": "chapter_attention-mechanisms-and-transformers/transformer.md",
    "minibatch-sgd": "chapter_optimization/minibatch-sgd.md",
    "momentum": "chapter_optimization/momentum.md",
    "adagrad": "chapter_optimization/adagrad.md",
    "rmsprop": "chapter_optimization/rmsprop.md",
    "adadelta": "chapter_optimization/adadelta.md",
    "adam": "chapter_optimization/adam.md",
    "linear-regression": "chapter_linear-regression/linear-regression.md",
    "synthetic-regression-data": "chapter_linear-regression/synthetic-regression-data.md",
    "oo-design": "chapter_linear-regression/oo-design.md",
    "classification": "chapter_linear-classification/classification.md",
    "mlp-intro": "chapter_multilayer-perceptrons/mlp.md",
    "numerical-stability": "chapter_multilayer-perceptrons/numerical-stability-and-init.md",
    "cnn-design": "chapter_convolutional-modern/cnn-design.md",
    "sequence": "chapter_recurrent-neural-networks/sequence.md",
    "text-sequence": "chapter_recurrent-neural-networks/text-sequence.md",
    "language-model": "chapter_recurrent-neural-networks/language-model.md",
    "rnn": "chapter_recurrent-neural-networks/rnn.md",
    "bi-rnn": "chapter_recurrent-modern/bi-rnn.md",
    "encoder-decoder": "chapter_recurrent-modern/encoder-decoder.md",
    "machine-translation": "chapter_recurrent-modern/machine-translation-and-dataset.md",
    "attention-pooling": "chapter_attention-mechanisms-and-transformers/attention-pooling.md",
    "queries-keys-values": "chapter_attention-mechanisms-and-transformers/queries-keys-values.md",
    "optimization-intro": "chapter_optimization/optimization-intro.md",
    "convexity": "chapter_optimization/convexity.md",
    "gd": "chapter_optimization/gd.md",
    "sgd": "chapter_optimization/sgd.md",
    "lr-scheduler": "chapter_optimization/lr-scheduler.md",
    "transposed-conv": "chapter_computer-vision/transposed-conv.md",
    "gan": "chapter_generative-adversarial-networks/gan.md",
    "lookup-api": "chapter_preliminaries/lookup-api.md",
    "geometry-linear-algebra": "chapter_appendix-mathematics-for-deep-learning/geometry-linear-algebraic-ops.md",
    "eigendecomposition": "chapter_appendix-mathematics-for-deep-learning/eigendecomposition.md",
    "single-variable-calculus": "chapter_appendix-mathematics-for-deep-learning/single-variable-calculus.md",
    "multivariable-calculus": "chapter_appendix-mathematics-for-deep-learning/multivariable-calculus.md",
    "integral-calculus": "chapter_appendix-mathematics-for-deep-learning/integral-calculus.md",
    "random-variables": "chapter_appendix-mathematics-for-deep-learning/random-variables.md",
    "maximum-likelihood": "chapter_appendix-mathematics-for-deep-learning/maximum-likelihood.md",
    "distributions": "chapter_appendix-mathematics-for-deep-learning/distributions.md",
    "statistics": "chapter_appendix-mathematics-for-deep-learning/statistics.md",
    "information-theory": "chapter_appendix-mathematics-for-deep-learning/information-theory.md",
    "naive-bayes": "chapter_appendix-mathematics-for-deep-learning/naive-bayes.md",
    "kaggle-house-price": "chapter_multilayer-perceptrons/kaggle-house-price.md",
    "utils": "chapter_appendix-tools-for-deep-learning/utils.md",
    "multiple-gpus": "chapter_computational-performance/multiple-gpus.md",
    "multiple-gpus-concise": "chapter_computational-performance/multiple-gpus-concise.md",
    "bounding-box": "chapter_computer-vision/bounding-box.md",
    "anchor": "chapter_computer-vision/anchor.md",
    "multiscale-object-detection": "chapter_computer-vision/multiscale-object-detection.md",
    "rcnn": "chapter_computer-vision/rcnn.md",
    "subword-embedding": "chapter_natural-language-processing-pretraining/subword-embedding.md",
    "bert": "chapter_natural-language-processing-pretraining/bert.md",
    "word-embedding-dataset": "chapter_natural-language-processing-pretraining/word-embedding-dataset.md",
    "word2vec-pretraining": "chapter_natural-language-processing-pretraining/word2vec-pretraining.md",
    "movielens": "chapter_recommender-systems/movielens.md",
    "ranking": "chapter_recommender-systems/ranking.md",
}
_CELL = re.compile(r"^```\{\.python \.input[^}]*\}\n(.*?)^```", re.S | re.M)
_TAB = re.compile(r"^\s*(?:%%tab|#\s*@tab)\s+(.*)$")
PRELUDE = "from bench.d2l.book_env import tab  # the measurement's line: mxnet -> hybrid, offline files\n"


def mxnet_cells(markdown: str) -> list:
    """(line in the chapter, code) of each cell the MXNet tab runs, magics dropped."""
    cells = []
    for match in _CELL.finditer(markdown):
        lines = match.group(1).splitlines()
        tab = _TAB.match(lines[0]) if lines else None
        if tab:
            names = [n.strip() for n in tab.group(1).split(",")]
            if "mxnet" not in names and "all" not in names:
                continue
            lines = lines[1:]
        code = [ln for ln in lines if not ln.lstrip().startswith(("%", "!"))]
        if any(ln.strip() for ln in code):
            cells.append((markdown.count("\n", 0, match.start()) + 2, "\n".join(code)))
    return cells


def patch_numbers(code: str, epochs: int, max_resize: int) -> str:
    """The stated hyperparameter patches: epochs, and image sides above max_resize."""
    code = re.sub(r"\bmax_epochs=\d+", f"max_epochs={epochs}", code)

    def cap(match: re.Match) -> str:
        sides = [min(int(s), max_resize) for s in re.findall(r"\d+", match.group(1))]
        return f"resize=({', '.join(map(str, sides))})"
    return re.sub(r"\bresize=\((\d+\s*,\s*\d+)\)", cap, code)


def build_program(clone: str, chapter: str, epochs: int, max_resize: int) -> tuple:
    """The program text and, per program line, the chapter line it came from (0: the prelude)."""
    text, origin = [PRELUDE], [0]
    for start, code in mxnet_cells(git_show(clone, chapter)):
        code = patch_numbers(code, epochs, max_resize)
        lines = code.splitlines()
        text.extend(ln + "\n" for ln in lines)
        origin.extend(range(start, start + len(lines)))
        text.append("\n")
        origin.append(0)
    return "".join(text), origin


def prepare(workdir: str, clone: str, args) -> dict:
    """The book's library as the package d2l, the synthetic data where the loaders look; the
    environment the programs run in."""
    os.makedirs(os.path.join(workdir, "d2l"))
    for name in ("d2l/__init__.py", "d2l/mxnet.py"):
        with open(os.path.join(workdir, name), "w") as f:
            f.write(git_show(clone, name))
    home = os.path.join(workdir, "home")
    # gluon.data.vision.FashionMNIST's default root (hybrid's, and MXNet's under MXNET_HOME's default)
    for root in (".hybrid", ".mxnet"):     # MNIST (naive Bayes) in the same format and sizes
        for folder in ("fashion-mnist", "mnist"):
            data.fashion_mnist(os.path.join(home, root, "datasets", folder), args.train_images, args.val_images)
    offline = os.path.join(workdir, "offline")
    os.makedirs(offline)
    data.time_machine(os.path.join(offline, "timemachine.txt"), args.text_chars)
    data.fra_eng(os.path.join(offline, "fra-eng.zip"), 800)
    data.airfoil(os.path.join(offline, "airfoil_self_noise.dat"), 1500)
    data.kaggle_house(os.path.join(offline, "kaggle_house_pred_train.csv"),
                      os.path.join(offline, "kaggle_house_pred_test.csv"), 300)
    data.ptb(os.path.join(offline, "ptb.zip"), 10000)
    data.movielens(os.path.join(offline, "ml-100k.zip"), 100, 200, 3000)
    os.makedirs(os.path.join(workdir, "img"))   # the computer-vision chapters open ../img/catdog.jpg
    data.photo(os.path.join(workdir, "img", "catdog.jpg"), 728, 561)
    os.makedirs(os.path.join(workdir, "run"))
    return dict(os.environ, HOME=home, MPLBACKEND="Agg", D2L_OFFLINE_FILES=offline, PYTHONUNBUFFERED="1",
                PYTHONPATH=os.pathsep.join([ROOT, workdir, os.environ.get("PYTHONPATH", "")]))


def first_error(stderr: str, program: str, origin: list) -> str:
    """The exception line, the chapter line of the program's deepest frame, and the deepest frame in hybrid."""
    lines = stderr.strip().splitlines()
    if not lines:
        return ""
    message = next((ln for ln in reversed(lines) if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", ln)),
                   lines[-1]).strip()
    at = ""
    frames = re.findall(r'File "([^"]+)", line (\d+)', stderr)
    book = [int(n) for f, n in frames if f == program]
    if book and book[-1] < len(origin) and origin[book[-1] - 1]:
        at = f" (chapter line {origin[book[-1] - 1]})"
    ours = [(f, n) for f, n in frames if f.startswith(os.path.join(ROOT, "hybrid"))]
    if ours:
        at += f" [{os.path.relpath(ours[-1][0], ROOT)}:{ours[-1][1]}]"
    return (message[:200] + at).replace("|", "\\|")


def run_program(clone: str, name: str, chapter: str, workdir: str, env: dict, args) -> dict:
    source, origin = build_program(clone, chapter, args.epochs, args.max_resize)
    program = os.path.join(workdir, "programs", f"d2l-{name}.py")   # never importable: no shadowing (pandas)
    os.makedirs(os.path.dirname(program), exist_ok=True)
    with open(program, "w") as f:
        f.write(source)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, program], cwd=os.path.join(workdir, "run"), env=env,
                              capture_output=True, text=True, timeout=args.timeout)
        ok, error = done.returncode == 0, first_error(done.stderr, program, origin)
        with open(program[:-3] + ".log", "w") as f:
            f.write(done.stdout + "\n--- stderr ---\n" + done.stderr)
    except subprocess.TimeoutExpired:
        ok, error = False, f"timed out after {args.timeout:.0f} s"
    return {"name": name, "chapter": chapter, "ok": ok, "seconds": time.monotonic() - started,
            "error": "" if ok else error or "exit status != 0"}


def table(results: list) -> str:
    lines = ["| program | chapter | result | seconds | first error (chapter line) [hybrid frame] |",
             "|---|---|---|---:|---|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['chapter']} | {'pass' if r['ok'] else 'FAIL'} | {r['seconds']:.0f} | "
                     f"{r['error']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book", required=True, help="a clone of d2l-ai/d2l-en (bare or with a work tree)")
    parser.add_argument("--only", nargs="*", help="program names (default: the 13 core ones)")
    parser.add_argument("--extra", action="store_true", help="also the further chapters (reported apart)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-resize", type=int, default=96)
    parser.add_argument("--train-images", type=int, default=256)
    parser.add_argument("--val-images", type=int, default=128)
    parser.add_argument("--text-chars", type=int, default=16000)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per program")
    parser.add_argument("--keep", help="write the programs, logs and data here instead of a temporary folder")
    parser.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args()
    everything = {**CORE, **EXTRA}
    names = args.only or list(CORE) + (list(EXTRA) if args.extra else [])
    unknown = [n for n in names if n not in everything]
    if unknown:
        parser.error(f"unknown programs {unknown}; known: {sorted(everything)}")
    commit = subprocess.run(["git", "--git-dir", _git_dir(args.book), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or scratch
        env = prepare(workdir, args.book, args)
        results = []
        for name in names:
            results.append(run_program(args.book, name, everything[name], workdir, env, args))
            r = results[-1]
            print(f"{name}: {'pass' if r['ok'] else 'FAIL'} in {r['seconds']:.0f} s {r['error']}", flush=True)
    core = [r for r in results if r["name"] in CORE]
    extra = [r for r in results if r["name"] not in CORE]
    options = " ".join(sys.argv[3:])
    text = "\n".join([
        SECTION, "",
        f"The MXNet code of d2l-en ({commit}) chapter by chapter, `import mxnet` aliased to hybrid "
        "(bench/d2l/run.py; the book is read from the clone at run time, never stored here): "
        f"`python -m bench.d2l.run --book CLONE {options}` (epochs {args.epochs}, image sides <= "
        f"{args.max_resize}, {args.train_images}/{args.val_images} synthetic Fashion-MNIST images, "
        f"{args.text_chars} characters of synthetic text). "
        f"**{sum(r['ok'] for r in core)} of {len(core)}** of the core programs run to the end"
        + (f"; further chapters: {sum(r['ok'] for r in extra)} of {len(extra)}." if extra else "."), "",
        table(results)])
    print(text)
    if args.write:
        from bench.train_bench import write_section
        write_section(text, SECTION)


if __name__ == "__main__":
    main()
