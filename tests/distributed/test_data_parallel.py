"""N-worker data-parallel training equals one process training on the concatenated batch.

Every rank builds the same model from the same seed, trains on its shard of each global batch
with a distributed Trainer, and also trains a reference copy on the whole batch in one process;
after 20 steps the parameters agree within 1e-5. Run under mpiexec (tests/distributed/run.py).
"""
import numpy
import pytest

import hybrid as hb
from hybrid import autograd, nn
from hybrid.distributed import world

pytestmark = pytest.mark.distributed

STEPS = 20
PER_WORKER = 4
OPTIMIZERS = {"sgd": {"learning_rate": 0.1, "momentum": 0.9}, "adam": {"learning_rate": 0.01}}


def mlp():
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu", in_units=8), nn.Dense(16, activation="tanh", in_units=16),
            nn.Dense(3, in_units=16))
    return net, (8,)


def cnn():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1, activation="relu", in_channels=1), nn.MaxPool2D(2),
            nn.Conv2D(6, 3, activation="relu", in_channels=4), nn.Flatten(), nn.Dense(3, in_units=6 * 2 * 2))
    return net, (1, 8, 8)


def build(model):
    hb.np.random.seed(42)       # the same initial weights on every rank (and for the reference)
    net, shape = model()
    net.initialize(hb.init.Xavier())
    return net, shape


def batches(shape, total):
    rng = numpy.random.default_rng(7)
    for _ in range(STEPS):
        yield (rng.standard_normal((total,) + shape).astype(numpy.float32),
               rng.integers(0, 3, total).astype(numpy.int32))


def train(net, trainer, mode, data_iter, shard, batch_size, backend):
    loss_fn = hb.gluon.loss.SoftmaxCrossEntropyLoss()
    if mode == "hybridized":
        net.hybridize(backend=backend)
    step = hb.compile_step(net, loss_fn, trainer, backend=backend) if mode == "compile_step" else None
    for x, y in data_iter:
        x, y = hb.np.array(x[shard]), hb.np.array(y[shard])
        if step is not None:
            step(x, y, batch_size=batch_size)
            continue
        with autograd.record():
            loss = loss_fn(net(x), y).sum()
        loss.backward()
        trainer.step(batch_size)
    return {name: p.data().asnumpy() for name, p in net.collect_params().items()}


CASES = [("mlp", "eager", "sgd", "dist_sync", None), ("mlp", "eager", "adam", "horovod", None),
         ("cnn", "eager", "sgd", "horovod", None), ("cnn", "eager", "adam", "dist_sync", None),
         ("mlp", "hybridized", "adam", "dist_sync", "interp"), ("cnn", "hybridized", "sgd", "horovod", "interp"),
         ("mlp", "compile_step", "sgd", "dist_sync", "interp"), ("mlp", "compile_step", "adam", "horovod", "llvm"),
         ("cnn", "compile_step", "adam", "dist_sync", "interp"), ("cnn", "compile_step", "sgd", "horovod", "llvm")]


@pytest.mark.parametrize("model,mode,optimizer,kind,backend", CASES)
def test_data_parallel_training_equals_one_process_on_the_whole_batch(model, mode, optimizer, kind, backend):
    comm = world()
    n, rank = comm.size, comm.rank
    total = PER_WORKER * n
    model_fn = {"mlp": mlp, "cnn": cnn}[model]

    net, shape = build(model_fn)
    trainer = hb.gluon.Trainer(net.collect_params(), optimizer, dict(OPTIMIZERS[optimizer]), kvstore=kind)
    # dist_sync sums the workers' gradients (pass the global batch size, as MXNet); horovod
    # averages them (pass the per-worker batch size, as Horovod's DistributedTrainer)
    batch_size = total if kind == "dist_sync" else PER_WORKER
    mine = slice(rank * PER_WORKER, (rank + 1) * PER_WORKER)
    got = train(net, trainer, mode, batches(shape, total), mine, batch_size, backend)

    ref_net, _ = build(model_fn)
    ref_trainer = hb.gluon.Trainer(ref_net.collect_params(), optimizer, dict(OPTIMIZERS[optimizer]))
    expected = train(ref_net, ref_trainer, mode, batches(shape, total), slice(None), total, backend)

    assert got.keys() == expected.keys()
    for name in got:
        numpy.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-5, err_msg=name)
    # and the replicas are identical
    numpy.testing.assert_array_equal(comm.broadcast(got[name]), got[name])


def test_compiled_step_holds_allreduce_ops_that_survive_cleanup():
    net, shape = build(mlp)
    trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="dist_sync")
    step = hb.compile_step(net, hb.gluon.loss.SoftmaxCrossEntropyLoss(), trainer, backend="interp")
    x, y = next(batches(shape, PER_WORKER))
    step(hb.np.array(x), hb.np.array(y))
    text = step.ir()
    assert text.count("= allreduce(") >= 1
    assert 'reduce="sum"' in text


def test_update_on_kvstore_equals_local_updates():
    comm = world()
    total = PER_WORKER * comm.size
    net, shape = build(mlp)
    trainer = hb.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01}, kvstore="dist_sync",
                               update_on_kvstore=True)
    mine = slice(comm.rank * PER_WORKER, (comm.rank + 1) * PER_WORKER)
    got = train(net, trainer, "eager", batches(shape, total), mine, total, None)
    ref_net, _ = build(mlp)
    expected = train(ref_net, hb.gluon.Trainer(ref_net.collect_params(), "adam", {"learning_rate": 0.01}), "eager",
                     batches(shape, total), slice(None), total, None)
    for name in got:
        numpy.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_initial_parameters_are_broadcast_from_rank_0_and_shapes_are_checked():
    comm = world()
    hb.np.random.seed(100 + comm.rank)      # different initial weights on every rank
    net, _ = mlp()
    net.initialize(hb.init.Xavier())
    hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="dist_sync")
    for name, p in net.collect_params().items():
        numpy.testing.assert_array_equal(p.data().asnumpy(), comm.broadcast(p.data().asnumpy()), err_msg=name)

    wrong = nn.Dense(3, in_units=8 + (comm.rank == comm.size - 1))
    wrong.initialize()
    with pytest.raises(hb.distributed.DistributedError, match=r"ranks disagree on a parameter: rank 0 has weight:3x8"):
        hb.gluon.Trainer(wrong.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="dist_sync")


def test_checkpoint_from_rank_0_resumes_in_one_process(tmp_path):
    """Train 10 steps on N workers, checkpoint (rank 0 writes), train 10 more; a single process
    resuming from the checkpoint on the whole batches ends with the same parameters."""
    comm = world()
    total = PER_WORKER * comm.size
    folder = comm.broadcast(numpy.frombuffer(str(tmp_path).encode().ljust(400), numpy.uint8)).tobytes()
    prefix = folder.decode().strip() + "/ckpt"
    all_batches = list(batches((8,), total))
    mine = slice(comm.rank * PER_WORKER, (comm.rank + 1) * PER_WORKER)

    net, _ = build(mlp)
    trainer = hb.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01}, kvstore="dist_sync")
    train(net, trainer, "eager", all_batches[:10], mine, total, None)
    hb.distributed.save_checkpoint(prefix, net, trainer)
    got = train(net, trainer, "eager", all_batches[10:], mine, total, None)

    resumed, _ = build(mlp)
    resumed_trainer = hb.gluon.Trainer(resumed.collect_params(), "adam", {"learning_rate": 0.01})
    if comm.rank == 0:  # rank 0 plays the single process here; the files are rank 0's anyway
        hb.distributed.load_checkpoint(prefix, resumed, resumed_trainer)
        expected = train(resumed, resumed_trainer, "eager", all_batches[10:], slice(None), total, None)
        for name in got:
            numpy.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-5, err_msg=name)
    # and a new N-worker job (a fresh distributed trainer, other initial weights) resumes identically
    hb.np.random.seed(1000 + comm.rank)
    fresh, _ = mlp()
    fresh.initialize()
    fresh_trainer = hb.gluon.Trainer(fresh.collect_params(), "adam", {"learning_rate": 0.01}, kvstore="dist_sync")
    hb.distributed.load_checkpoint(prefix, fresh, fresh_trainer)
    again = train(fresh, fresh_trainer, "eager", all_batches[10:], mine, total, None)
    for name in got:
        numpy.testing.assert_allclose(again[name], got[name], rtol=1e-6, atol=1e-6, err_msg=name)


def test_buckets_start_their_allreduce_during_backward(monkeypatch):
    """With one bucket per gradient, every bucket has started once backward() returns (each as
    its gradient was finished), before trainer.step() waits for them."""
    monkeypatch.setenv("HYBRID_DIST_BUCKET_MB", "0")
    net, shape = build(mlp)
    trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="horovod")
    buckets = trainer._data_parallel.buckets
    assert len(buckets.groups) == len(net.collect_params())
    x, y = next(batches(shape, PER_WORKER))
    with autograd.record():
        loss = hb.gluon.loss.SoftmaxCrossEntropyLoss()(net(hb.np.array(x)), hb.np.array(y)).sum()
    assert buckets.started == 0
    loss.backward()
    assert buckets.started == len(buckets.groups)
    trainer.step(PER_WORKER)
    assert buckets.started == 0


@pytest.mark.parametrize("optimizer,kind", [("sgd", "dist_sync"), ("adam", "horovod")])
def test_two_devices_per_worker_train_like_one_process(optimizer, kind):
    """MPI workers x devices in one process: each rank cuts its shard over hb.cpu(0), hb.cpu(1);
    the Trainer sums the device replicas' gradients, then allreduces over the ranks."""
    comm = world()
    total = PER_WORKER * comm.size
    devices = [hb.cpu(0), hb.cpu(1)]
    hb.np.random.seed(42)
    net, shape = mlp()
    net.initialize(hb.init.Xavier(), ctx=devices)
    trainer = hb.gluon.Trainer(net.collect_params(), optimizer, dict(OPTIMIZERS[optimizer]), kvstore=kind)
    loss_fn = hb.gluon.loss.SoftmaxCrossEntropyLoss()
    mine = slice(comm.rank * PER_WORKER, (comm.rank + 1) * PER_WORKER)
    for x, y in batches(shape, total):
        xs = hb.gluon.utils.split_and_load(x[mine], devices)
        ys = hb.gluon.utils.split_and_load(y[mine], devices)
        with autograd.record():
            losses = [loss_fn(net(a), b) for a, b in zip(xs, ys)]
        for loss in losses:
            loss.backward()
        trainer.step(total if kind == "dist_sync" else PER_WORKER)
    ref_net, _ = build(mlp)
    expected = train(ref_net, hb.gluon.Trainer(ref_net.collect_params(), optimizer, dict(OPTIMIZERS[optimizer])),
                     "eager", batches(shape, total), slice(None), total, None)
    for name, p in net.collect_params().items():
        for replica in p.list_data():
            numpy.testing.assert_allclose(replica.asnumpy(), expected[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("mode,kind,backend,tol", [("eager", "fp16", None, 2e-4),
                                                   ("compile_step", "bf16", "interp", 2e-3)])
def test_compressed_gradients_track_full_precision_training(mode, kind, backend, tol):
    """compression_params={'type': 'fp16' | 'bf16'}: the allreduce carries 16-bit gradients; 20 SGD
    steps stay within `tol` of full-precision training (and differ from it: they were rounded)."""
    comm = world()
    total = PER_WORKER * comm.size
    net, shape = build(mlp)
    trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="dist_sync",
                               compression_params={"type": kind})
    mine = slice(comm.rank * PER_WORKER, (comm.rank + 1) * PER_WORKER)
    got = train(net, trainer, mode, batches(shape, total), mine, total, backend)
    ref_net, _ = build(mlp)
    expected = train(ref_net, hb.gluon.Trainer(ref_net.collect_params(), "sgd", {"learning_rate": 0.1}), "eager",
                     batches(shape, total), slice(None), total, None)
    for name in got:
        numpy.testing.assert_allclose(got[name], expected[name], rtol=tol, atol=tol, err_msg=name)
    assert max(float(numpy.abs(got[n] - expected[n]).max()) for n in got) > 0
    numpy.testing.assert_array_equal(comm.broadcast(got[name]), got[name])


def test_compiled_step_allreduces_16_bit_buckets():
    net, shape = build(mlp)
    trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="dist_sync",
                               compression_params={"type": "fp16"})
    step = hb.compile_step(net, hb.gluon.loss.SoftmaxCrossEntropyLoss(), trainer, backend="interp")
    x, y = next(batches(shape, PER_WORKER))
    step(hb.np.array(x), hb.np.array(y))
    allreduces = [line for line in step.ir().splitlines() if "= allreduce(" in line]
    assert allreduces and all("f16[" in line and "f32[" not in line for line in allreduces)
