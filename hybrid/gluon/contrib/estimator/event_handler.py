"""Event handlers of the Estimator: objects with any of train_begin/epoch_begin/batch_begin/
batch_end/epoch_end/train_end(estimator, **kwargs). batch_end and epoch_end may return True to stop.
The estimator calls them in order of their `priority` (lower first; 0 when absent), as MXNet's.

Counters follow MXNet's: `current_epoch` / `current_batch` count finished epochs / batches from 0,
checkpoints are named `PREFIX-epoch{E}batch{B}` (E the 0-based epoch, B the batches trained so far)."""
from __future__ import annotations

import math
import os
import re
import sys
import time
from typing import Optional

from ....errors import HybridError
from ... import metric as metric_mod


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
    """Stop after max_epoch epochs or max_batch batches (read from the estimator when training
    begins, so a resumed checkpoint can shorten them)."""

    def __init__(self, max_epoch: Optional[int] = None, max_batch: Optional[int] = None):
        self.max_epoch, self.max_batch = max_epoch, max_batch
        self.current_epoch = self.current_batch = 0

    def train_begin(self, estimator, *args, **kwargs):
        self.max_epoch, self.max_batch = estimator.max_epoch, estimator.max_batch
        self.current_epoch = self.current_batch = 0

    def batch_end(self, estimator, *args, **kwargs):
        self.current_batch += 1
        return self.max_batch is not None and self.current_batch >= self.max_batch

    def epoch_end(self, estimator, *args, **kwargs):
        self.current_epoch += 1
        stop = self.max_epoch is not None and self.current_epoch >= self.max_epoch
        return stop or (self.max_batch is not None and self.current_batch >= self.max_batch)


class GradientUpdateHandler(BatchEnd):
    """Apply the gradients after each batch: trainer.step(the batch's number of samples, along the
    estimator's batch_axis)."""

    def __init__(self, priority: float = -2000):
        self.priority = priority

    def batch_end(self, estimator, *args, batch=None, **kwargs):
        estimator.trainer.step(estimator.batch_size(batch))
        return False


class MetricHandler(EpochBegin, BatchEnd):
    """Reset the training metrics each epoch and update them after each batch (a Loss metric
    with the batch's loss, the others with label and prediction)."""

    def __init__(self, metrics, priority: float = -1000):
        self.metrics, self.priority = list(metrics), priority

    def epoch_begin(self, estimator, *args, **kwargs):
        for m in self.metrics:
            m.reset()

    def batch_end(self, estimator, *args, pred=None, label=None, loss=None, **kwargs):
        for m in self.metrics:
            if isinstance(m, metric_mod.Loss):
                m.update(0, loss)
            else:
                m.update(label, pred)
        return False


class ValidationHandler(TrainBegin, BatchEnd, EpochEnd):
    """Evaluate on val_data every `epoch_period` epochs and/or every `batch_period` batches, with
    eval_fn(val_data=, batch_axis=, event_handlers=) (estimator.evaluate: results in val_metrics);
    `event_handlers` are handed to eval_fn for the evaluation loop."""

    def __init__(self, val_data, eval_fn, epoch_period: Optional[int] = 1, batch_period: Optional[int] = None,
                 priority: float = -1000, event_handlers=None):
        self.val_data, self.eval_fn = val_data, eval_fn
        self.epoch_period, self.batch_period, self.priority = epoch_period, batch_period, priority
        self.event_handlers = event_handlers
        self.current_epoch = self.current_batch = 0

    def train_begin(self, estimator, *args, **kwargs):
        self.current_epoch = self.current_batch = 0

    def _evaluate(self, estimator) -> None:
        self.eval_fn(val_data=self.val_data, batch_axis=estimator.batch_axis, event_handlers=self.event_handlers)

    def batch_end(self, estimator, *args, **kwargs):
        self.current_batch += 1
        if self.batch_period and self.current_batch % self.batch_period == 0:
            self._evaluate(estimator)
        return False

    def epoch_end(self, estimator, *args, **kwargs):
        self.current_epoch += 1
        if self.epoch_period and self.current_epoch % self.epoch_period == 0:
            self._evaluate(estimator)
        return False


class LoggingHandler(TrainBegin, TrainEnd, EpochBegin, EpochEnd, BatchBegin, BatchEnd):
    """Log the training: a summary line per epoch (time, samples/s, the metrics), and with an integer
    `log_interval` a line every that many batches ("[Epoch E][Batch B][Samples S] time/interval: ...s
    name: value, ..."). Lines go to the estimator's `logger` (stdout), or to `file` when given; a tqdm
    progress bar per epoch (loss, samples/s, ETA) goes to `file` (stderr by default) when
    `progress` is on and tqdm is installed."""

    def __init__(self, log_interval="epoch", metrics=None, priority: float = math.inf, file=None,
                 progress: bool = True):
        if log_interval != "epoch" and (isinstance(log_interval, bool) or not isinstance(log_interval, int)
                                        or log_interval < 1):
            raise ValueError(f"LoggingHandler: log_interval must be 'epoch' or a positive int, got {log_interval!r}")
        self.log_interval, self.metrics, self.priority = log_interval, list(metrics or []), priority
        self.file, self.progress = file, progress
        self.batch_index = self.current_epoch = self.processed_samples = 0
        self.bar = None

    def _emit(self, estimator, text: str) -> None:
        if self.file is not None:
            print(text, file=self.file)
        else:
            estimator.logger.info(text)

    def _metric_text(self) -> str:
        return ", ".join(f"{name}: {value:.4f}" for m in self.metrics for name, value in _name_values(m))

    def train_begin(self, estimator, *args, **kwargs):
        self.train_start = time.time()
        self.batch_index = self.current_epoch = self.processed_samples = 0
        limit = f"{estimator.max_epoch} epochs" if estimator.max_epoch else f"{estimator.max_batch} batches"
        self._emit(estimator, f"Training begins: {type(estimator.net).__name__}, optimizer "
                              f"{type(estimator.trainer.optimizer).__name__}, learning rate "
                              f"{estimator.trainer.learning_rate:g}; train for {limit}")

    def epoch_begin(self, estimator, *args, **kwargs):
        self.epoch_start, self.epoch_samples, self.interval_time = time.time(), 0, 0.0
        self.bar = None
        if self.progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                data = estimator.train_data
                self.bar = tqdm(total=len(data) if hasattr(data, "__len__") else None,
                                desc=f"epoch {self.current_epoch}", unit="batch", file=self.file or sys.stderr,
                                leave=False, dynamic_ncols=True)

    def batch_begin(self, estimator, *args, **kwargs):
        self.batch_start = time.time()

    def batch_end(self, estimator, *args, batch=None, **kwargs):
        size = estimator.batch_size(batch)
        self.processed_samples += size
        self.epoch_samples += size
        self.interval_time += time.time() - self.batch_start
        if self.bar is not None:
            elapsed = max(time.time() - self.epoch_start, 1e-9)
            self.bar.set_postfix(loss=f"{estimator.last_loss:.4f}",
                                 throughput=f"{self.epoch_samples / elapsed:.0f} samples/s")
            self.bar.update(1)
        if isinstance(self.log_interval, int) and self.batch_index % self.log_interval == 0:
            self._emit(estimator, f"[Epoch {self.current_epoch}][Batch {self.batch_index}][Samples "
                                  f"{self.processed_samples}] time/interval: {self.interval_time:.3f}s "
                                  + self._metric_text())
            self.interval_time = 0.0
        self.batch_index += 1
        return False

    def epoch_end(self, estimator, *args, **kwargs):
        if self.bar is not None:
            self.bar.close()
        elapsed = time.time() - self.epoch_start
        self._emit(estimator, f"[Epoch {self.current_epoch}] finished in {elapsed:.3f}s, "
                              f"{self.epoch_samples / max(elapsed, 1e-9):.0f} samples/s: " + self._metric_text())
        self.current_epoch += 1
        self.batch_index = 0
        return False

    def train_end(self, estimator, *args, **kwargs):
        self._emit(estimator, f"Training finished in {time.time() - self.train_start:.3f}s, {self.current_epoch} "
                              "epochs: " + self._metric_text())


def _name_values(metric):
    names, values = metric.get()
    if isinstance(names, list):
        return list(zip(names, values))
    return [(names, values)]


def _improves(mode: str, monitor) -> str:
    """'min' or 'max' for mode 'auto': max for accuracy / F1-like metrics (by name), else min."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = _name_values(monitor)[0][0].lower()
    return "max" if any(word in name for word in ("acc", "f1", "mcc", "pearson")) else "min"


class CheckpointHandler(TrainBegin, BatchEnd, EpochEnd):
    """Save the parameters and trainer state as <model_dir>/<model_prefix>-epoch{E}batch{B}.params /
    .states every `epoch_period` epochs and/or `batch_period` batches, keeping the newest
    `max_checkpoints`; with save_best, also <prefix>-best.params/.states whenever `monitor` improves
    (mode 'min', 'max' or 'auto'). A hybridized network's graph is exported once, after the first
    batch (<prefix>-symbol.json). resume_from_checkpoint=True loads the newest checkpoint of the
    prefix and trains only the epochs (or batches) that remain."""

    def __init__(self, model_dir: str, model_prefix: str = "model", monitor=None, verbose: int = 0,
                 save_best: bool = False, mode: str = "auto", epoch_period: Optional[int] = 1,
                 batch_period: Optional[int] = None, max_checkpoints: int = 5, resume_from_checkpoint: bool = False):
        if save_best and not isinstance(monitor, metric_mod.EvalMetric):
            raise ValueError("CheckpointHandler(save_best=True) needs monitor=: one of the estimator's train_metrics "
                             "or val_metrics")
        os.makedirs(model_dir, exist_ok=True)
        self.model_dir, self.model_prefix, self.monitor, self.verbose = model_dir, model_prefix, monitor, verbose
        self.save_best, self.epoch_period, self.batch_period = save_best, epoch_period, batch_period
        self.max_checkpoints, self.resume_from_checkpoint = max_checkpoints, resume_from_checkpoint
        self.mode = _improves(mode, monitor) if save_best else mode
        self.current_epoch = self.current_batch = 0
        self.trained_epoch = self.trained_batch = -1
        self.saved: list[str] = []

    def train_begin(self, estimator, *args, **kwargs):
        self.current_epoch = self.current_batch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.resume_from_checkpoint:
            self._resume(estimator)

    def batch_end(self, estimator, *args, **kwargs):
        if self.current_batch == 0:
            self._save_graph(estimator)
        if self.batch_period and (self.current_batch + 1) % self.batch_period == 0:
            self._save(estimator, at_batch_end=True)
        self.current_batch += 1
        return False

    def epoch_end(self, estimator, *args, **kwargs):
        if self.epoch_period and (self.current_epoch + 1) % self.epoch_period == 0:
            self._save(estimator, at_batch_end=False)
        self.current_epoch += 1
        return False

    def _path(self, stem: str) -> str:
        return os.path.join(self.model_dir, f"{self.model_prefix}-{stem}")

    def _save_graph(self, estimator) -> None:
        try:
            estimator.net.export(self._path("symbol")[:-len("-symbol")])
        except (HybridError, AttributeError):
            estimator.logger.info("CheckpointHandler: the architecture is saved only for a hybridized HybridBlock "
                                  "(call net.hybridize() before fit)")

    def _write(self, estimator, stem: str) -> None:
        estimator.net.save_parameters(self._path(stem) + ".params")
        estimator.trainer.save_states(self._path(stem) + ".states")

    def _save(self, estimator, at_batch_end: bool) -> None:
        """A checkpoint named as MXNet's: the 0-based epoch and the batch counter when saved (at a batch's
        end: its 0-based index; at an epoch's end: the batches trained), offset by a resumed run's."""
        epoch, batch = self.current_epoch, self.current_batch
        if self.trained_epoch >= 0:
            epoch, batch = epoch + self.trained_epoch + 1, batch + self.trained_batch + int(at_batch_end)
        stem = f"epoch{epoch}batch{batch}"
        self._write(estimator, stem)
        self.saved.append(stem)
        while len(self.saved) > self.max_checkpoints:
            old = self.saved.pop(0)
            for ext in (".params", ".states"):
                if os.path.exists(self._path(old) + ext):
                    os.remove(self._path(old) + ext)
        if self.verbose:
            estimator.logger.info(f"[Epoch {self.current_epoch}] CheckpointHandler: saved {self._path(stem)}")
        if self.save_best:
            value = _name_values(self.monitor)[0][1]
            if not math.isnan(value) and (value < self.best if self.mode == "min" else value > self.best):
                self.best = value
                self._write(estimator, "best")

    def _resume(self, estimator) -> None:
        pattern = re.compile(re.escape(self.model_prefix) + r"-epoch(\d+)batch(\d+)\.params$")
        found = sorted((int(m.group(1)), int(m.group(2))) for m in map(pattern.match, os.listdir(self.model_dir)) if m)
        if not found:
            estimator.logger.info("CheckpointHandler: no checkpoint of prefix %r in %s, training from scratch",
                                  self.model_prefix, self.model_dir)
            return
        self.trained_epoch, self.trained_batch = found[-1]
        self.saved = [f"epoch{e}batch{b}" for e, b in found]
        if estimator.max_epoch is not None:
            if self.trained_epoch >= estimator.max_epoch - 1:
                raise ValueError(f"CheckpointHandler: the checkpoint of epoch {self.trained_epoch} already reaches "
                                 f"{estimator.max_epoch} epochs; pass resume_from_checkpoint=False to train anew")
            estimator.max_epoch -= self.trained_epoch + 1
        if estimator.max_batch is not None:
            if self.trained_batch >= estimator.max_batch - 1:
                raise ValueError(f"CheckpointHandler: the checkpoint of batch {self.trained_batch} already reaches "
                                 f"{estimator.max_batch} batches; pass resume_from_checkpoint=False to train anew")
            estimator.max_batch -= self.trained_batch + 1
        stem = self._path(f"epoch{self.trained_epoch}batch{self.trained_batch}")
        estimator.net.load_parameters(stem + ".params")
        estimator.trainer.load_states(stem + ".states")
        estimator.logger.info("CheckpointHandler: resumed from %s", stem)


class EarlyStoppingHandler(TrainBegin, EpochEnd, TrainEnd):
    """Stop when `monitor` has not improved by more than min_delta for `patience` epochs in a row
    (mode 'min', 'max', or 'auto': max for accuracy-like names); `baseline` is the value to beat at
    the start. `stopped_epoch` is the 0-based epoch that stopped training."""

    def __init__(self, monitor, min_delta: float = 0.0, patience: int = 0, mode: str = "auto",
                 baseline: Optional[float] = None):
        if not isinstance(monitor, metric_mod.EvalMetric) or isinstance(monitor, metric_mod.CompositeEvalMetric):
            raise ValueError("EarlyStoppingHandler: monitor must be one (not composite) metric of the estimator's "
                             f"train_metrics or val_metrics, got {monitor!r}")
        self.monitor, self.min_delta, self.patience, self.baseline = monitor, abs(min_delta), patience, baseline
        self.mode = _improves(mode, monitor)
        self.wait, self.stopped_epoch, self.current_epoch = 0, 0, 0

    def train_begin(self, estimator, *args, **kwargs):
        self.wait, self.stopped_epoch, self.current_epoch = 0, 0, 0
        self.best = self.baseline if self.baseline is not None else math.inf if self.mode == "min" else -math.inf

    def epoch_end(self, estimator, *args, **kwargs):
        value = _name_values(self.monitor)[0][1]
        stop = False
        if not math.isnan(value):
            if value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta:
                self.best, self.wait = value, 0
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch, stop = self.current_epoch, True
        self.current_epoch += 1
        return stop

    def train_end(self, estimator, *args, **kwargs):
        if self.stopped_epoch > 0:
            estimator.logger.info("[Epoch %d] EarlyStoppingHandler: stopped, %s did not improve", self.stopped_epoch,
                                  _name_values(self.monitor)[0][0])


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
