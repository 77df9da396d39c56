"""Event handlers of the Estimator: objects with any of train_begin/epoch_begin/batch_begin/
batch_end/epoch_end/train_end(estimator, **kwargs). batch_end and epoch_end may return True to stop."""
from __future__ import annotations

import math
import os
import time
from typing import Optional


class TrainBegin:
    def train_begin(self, estimator, *args, **kwargs):
        pass


class TrainEnd:
    def train_end(self, estimator, *args, **kwargs):
        pass


class EpochBegin:
    def epoch_begin(self, estimator, *args, **kwargs):
        pass


class EpochEnd:
    def epoch_end(self, estimator, *args, **kwargs):
        return False


class BatchBegin:
    def batch_begin(self, estimator, *args, **kwargs):
        pass


class BatchEnd:
    def batch_end(self, estimator, *args, **kwargs):
        return False


class StoppingHandler(TrainBegin, BatchEnd, EpochEnd):
    """Stop after max_epoch epochs or max_batch batches."""

    def __init__(self, max_epoch: Optional[int] = None, max_batch: Optional[int] = None):
        self.max_epoch, self.max_batch = max_epoch, max_batch

    def train_begin(self, estimator, *args, **kwargs):
        self.current_epoch, self.current_batch = 0, 0

    def batch_end(self, estimator, *args, **kwargs):
        self.current_batch += 1
        return self.max_batch is not None and self.current_batch >= self.max_batch

    def epoch_end(self, estimator, *args, **kwargs):
        self.current_epoch += 1
        return self.max_epoch is not None and self.current_epoch >= self.max_epoch


class MetricHandler(EpochBegin, BatchEnd):
    """Reset the training metrics each epoch and update them after each batch."""

    def __init__(self, metrics):
        self.metrics = metrics

    def epoch_begin(self, estimator, *args, **kwargs):
        for m in self.metrics:
            m.reset()

    def batch_end(self, estimator, *args, pred=None, label=None, loss=None, **kwargs):
        for m in self.metrics:
            if m.name.startswith("training loss") or type(m).__name__ == "Loss":
                m.update(0, loss)
            else:
                m.update(label, pred)
        return False


class ValidationHandler(TrainBegin, EpochEnd):
    """Evaluate on val_data every `epoch_period` epochs (the results go to estimator.val_metrics)."""

    def __init__(self, val_data, eval_fn, epoch_period: int = 1):
        self.val_data, self.eval_fn, self.epoch_period = val_data, eval_fn, epoch_period

    def train_begin(self, estimator, *args, **kwargs):
        self.current_epoch = 0

    def epoch_end(self, estimator, *args, **kwargs):
        self.current_epoch += 1
        if self.current_epoch % self.epoch_period == 0:
            self.eval_fn(val_data=self.val_data)
        return False


class LoggingHandler(TrainBegin, TrainEnd, EpochBegin, EpochEnd, BatchEnd):
    """A tqdm progress bar per epoch (loss, samples/s, and tqdm's ETA) and a one-line summary of the
    metrics per epoch. Writes to `file` (stderr by default); without tqdm, only the summaries."""

    def __init__(self, log_interval="epoch", metrics=None, file=None, progress: bool = True):
        self.metrics, self.file, self.progress = metrics or [], file, progress
        self.lines: list[str] = []

    def _emit(self, text: str) -> None:
        import sys
        self.lines.append(text)
        print(text, file=self.file or sys.stderr)

    def train_begin(self, estimator, *args, **kwargs):
        self.train_start = time.time()
        self._emit(f"Training begins: {type(estimator.net).__name__}, optimizer "
                   f"{type(estimator.trainer.optimizer).__name__}, learning rate {estimator.trainer.learning_rate:g}")

    def epoch_begin(self, estimator, *args, **kwargs):
        self.epoch_start, self.samples = time.time(), 0
        self.bar = None
        if self.progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                total = len(estimator.train_data) if hasattr(estimator.train_data, "__len__") else None
                self.bar = tqdm(total=total, desc=f"epoch {estimator.epoch + 1}", unit="batch", file=self.file,
                                leave=False, dynamic_ncols=True)

    def batch_end(self, estimator, *args, batch=None, loss=None, **kwargs):
        size = estimator.batch_size(batch)
        self.samples += size
        if self.bar is not None:
            elapsed = max(time.time() - self.epoch_start, 1e-9)
            self.bar.set_postfix(loss=f"{estimator.last_loss:.4f}", throughput=f"{self.samples / elapsed:.0f} samples/s")
            self.bar.update(1)
        return False

    def epoch_end(self, estimator, *args, **kwargs):
        if self.bar is not None:
            self.bar.close()
        elapsed = time.time() - self.epoch_start
        parts = [f"{name}: {value:.4f}" for m in self.metrics for name, value in _name_values(m)]
        self._emit(f"[Epoch {estimator.epoch}] finished in {elapsed:.3f}s, {self.samples / max(elapsed, 1e-9):.0f} "
                   f"samples/s: " + ", ".join(parts))
        return False

    def train_end(self, estimator, *args, **kwargs):
        self._emit(f"Training finished in {time.time() - self.train_start:.3f}s: "
                   + ", ".join(f"{n}: {v:.4f}" for m in self.metrics for n, v in _name_values(m)))


def _name_values(metric):
    names, values = metric.get()
    if isinstance(names, list):
        return list(zip(names, values))
    return [(names, values)]


class CheckpointHandler(TrainBegin, EpochEnd):
    """Save the parameters (and trainer state) every `epoch_period` epochs as
    <model_dir>/<model_prefix>-epoch<N>.params (.states); keep the best by `monitor` when save_best."""

    def __init__(self, model_dir: str, model_prefix: str = "model", monitor=None, mode: str = "min",
                 epoch_period: int = 1, save_best: bool = False, max_checkpoints: int = 5):
        self.model_dir, self.model_prefix, self.monitor = model_dir, model_prefix, monitor
        self.mode, self.epoch_period, self.save_best, self.max_checkpoints = mode, epoch_period, save_best, max_checkpoints
        self.saved: list[str] = []

    def train_begin(self, estimator, *args, **kwargs):
        os.makedirs(self.model_dir, exist_ok=True)
        self.best = math.inf if self.mode == "min" else -math.inf

    def epoch_end(self, estimator, *args, **kwargs):
        epoch = estimator.epoch
        if epoch % self.epoch_period == 0:
            path = os.path.join(self.model_dir, f"{self.model_prefix}-epoch{epoch}")
            estimator.net.save_parameters(path + ".params")
            estimator.trainer.save_states(path + ".states")
            self.saved.append(path)
            while len(self.saved) > self.max_checkpoints:
                old = self.saved.pop(0)
                for ext in (".params", ".states"):
                    if os.path.exists(old + ext):
                        os.remove(old + ext)
        if self.save_best and self.monitor is not None:
            value = _name_values(self.monitor)[0][1]
            if (value < self.best) if self.mode == "min" else (value > self.best):
                self.best = value
                estimator.net.save_parameters(os.path.join(self.model_dir, f"{self.model_prefix}-best.params"))
        return False


class EarlyStoppingHandler(TrainBegin, EpochEnd):
    """Stop when `monitor` has not improved by min_delta for `patience` epochs."""

    def __init__(self, monitor, min_delta: float = 0.0, patience: int = 0, mode: str = "min"):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStoppingHandler: mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.min_delta, self.patience, self.mode = monitor, min_delta, patience, mode

    def train_begin(self, estimator, *args, **kwargs):
        self.wait, self.stopped_epoch = 0, None
        self.best = math.inf if self.mode == "min" else -math.inf

    def epoch_end(self, estimator, *args, **kwargs):
        value = _name_values(self.monitor)[0][1]
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = estimator.epoch
            return True
        return False


class PlotHandler(TrainEnd, EpochEnd):
    """Record the metrics each epoch and draw the training curves into a PNG at the end
    (matplotlib, the `plot` extra)."""

    def __init__(self, path: str, metrics):
        self.path, self.metrics = path, metrics
        self.history: dict[str, list[float]] = {}

    def epoch_end(self, estimator, *args, **kwargs):
        for m in self.metrics:
            for name, value in _name_values(m):
                self.history.setdefault(name, []).append(value)
        return False

    def train_end(self, estimator, *args, **kwargs):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("PlotHandler draws with matplotlib: pip install 'hybrid[plot]'") from None
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, values in self.history.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(f"training curves: {type(estimator.net).__name__}")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(self.path, dpi=100)
        plt.close(fig)
