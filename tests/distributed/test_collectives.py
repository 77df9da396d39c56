"""Collectives and KVStore semantics, run on every rank under mpiexec (tests/distributed/run.py)."""
import numpy
import pytest

import hybrid as hb
from hybrid.distributed import DistributedError

pytestmark = pytest.mark.distributed


def rank_data(rank, shape=(3, 4)):
    return numpy.random.default_rng(rank).standard_normal(shape).astype(numpy.float32)


def test_allreduce_sum_and_average_equal_numpy_over_ranks(comm):
    everyone = [rank_data(r) for r in range(comm.size)]
    numpy.testing.assert_allclose(comm.allreduce(everyone[comm.rank]), sum(everyone), rtol=1e-6, atol=1e-6)
    numpy.testing.assert_allclose(comm.allreduce(everyone[comm.rank], "avg"), sum(everyone) / comm.size,
                                  rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["fp16", "bf16"])
def test_allreduce_of_16_bit_floats_adds_in_16_bits(comm, kind):
    """fp16/bf16 buffers (gradient compression) are summed in their own type by hybrid's MPI op:
    every partial sum is rounded, so the error is at most (ranks - 1) roundings of the running sum."""
    from hybrid.distributed.compression import TYPES, UNIT_ROUNDOFF
    low = TYPES[kind]
    everyone = [rank_data(r, (50,)).astype(low) for r in range(comm.size)]
    got = comm.allreduce(everyone[comm.rank])
    assert got.dtype == low
    exact = sum(e.astype(numpy.float64) for e in everyone)
    bound = comm.size * UNIT_ROUNDOFF[kind] * sum(numpy.abs(e.astype(numpy.float64)) for e in everyone)
    assert numpy.all(numpy.abs(got.astype(numpy.float64) - exact) <= bound)
    if comm.size == 2:   # one addition: exactly NumPy's 16-bit sum
        numpy.testing.assert_array_equal(got, everyone[0] + everyone[1])
    numpy.testing.assert_array_equal(comm.broadcast(got), got)   # every rank holds the same bits


def test_broadcast_allgather_barrier(comm):
    numpy.testing.assert_array_equal(comm.broadcast(rank_data(comm.rank)), rank_data(0))
    gathered = comm.allgather(numpy.array([comm.rank, 10 * comm.rank]))
    numpy.testing.assert_array_equal(gathered, [[r, 10 * r] for r in range(comm.size)])
    assert comm.allgather_text("x" * (comm.rank + 1)) == ["x" * (r + 1) for r in range(comm.size)]
    comm.barrier()


def test_iallreduce_overlaps_and_reduces_in_place(comm):
    buf = rank_data(comm.rank, (1000,))
    expected = sum(rank_data(r, (1000,)) for r in range(comm.size))
    request = comm.iallreduce(buf)
    other = comm.allreduce(numpy.float64(comm.rank))   # another collective while the first is in flight
    assert request.wait() is buf
    numpy.testing.assert_allclose(buf, expected, rtol=1e-5, atol=1e-5)
    assert float(other) == sum(range(comm.size))


def test_kvstore_push_sums_devices_and_ranks_pull_returns_it():
    kv = hb.kv.create("dist_sync")
    assert (kv.rank, kv.num_workers, kv.type) == (hb.distributed.world().rank, hb.distributed.world().size,
                                                  "dist_sync")
    kv.init("w", hb.np.array(rank_data(kv.rank)))
    out = hb.np.zeros((3, 4))
    kv.pull("w", out=out)
    numpy.testing.assert_array_equal(out.asnumpy(), rank_data(0))      # init takes rank 0's value
    devices = [hb.np.array(rank_data(10 + kv.rank)), hb.np.array(rank_data(20 + kv.rank))]
    kv.push("w", devices)                                              # no optimizer: the store is overwritten
    expected = sum(rank_data(10 + r) + rank_data(20 + r) for r in range(kv.num_workers))
    outs = [hb.np.zeros((3, 4)), hb.np.zeros((3, 4))]
    kv.pull("w", out=outs)
    for o in outs:
        numpy.testing.assert_allclose(o.asnumpy(), expected, rtol=1e-5, atol=1e-5)


def test_kvstore_pushpull_lists_of_keys_and_broadcast():
    kv = hb.kv.create("horovod")
    keys = [3, 5]
    values = [hb.np.array(rank_data(kv.rank, (2,))), hb.np.array(rank_data(kv.rank, (4, 1)))]
    kv.init(keys, values)
    kv.pushpull(keys, values)                                         # written back into the pushed arrays
    numpy.testing.assert_allclose(values[0].asnumpy(), sum(rank_data(r, (2,)) for r in range(kv.num_workers)),
                                  rtol=1e-5, atol=1e-5)
    out = hb.np.zeros((5,))
    kv.broadcast("b", hb.np.array(numpy.full(5, kv.rank, numpy.float32)), out=out)
    numpy.testing.assert_array_equal(out.asnumpy(), numpy.zeros(5))


def test_kvstore_update_on_store_matches_the_optimizer_on_the_summed_gradient(tmp_path):
    kv = hb.kv.create("dist_sync")
    kv.set_optimizer(hb.gluon.optimizer.create("adam", learning_rate=0.1))
    w0 = rank_data(0, (6,))
    kv.init(0, hb.np.array(w0 if kv.rank == 0 else numpy.zeros(6, numpy.float32)))
    reference = hb.gluon.optimizer.create("adam", learning_rate=0.1)
    w, state = hb.np.array(w0), tuple(hb.np.array(s) for s in reference.create_state(w0))
    for step in range(1, 4):
        kv.push(0, hb.np.array(rank_data(100 * step + kv.rank, (6,))))
        g = sum(rank_data(100 * step + r, (6,)) for r in range(kv.num_workers))
        w, state = reference.update(w, hb.np.array(g), state, 0.1, float(step))
    out = hb.np.zeros((6,))
    kv.pull(0, out=out)
    numpy.testing.assert_allclose(out.asnumpy(), w.asnumpy(), rtol=1e-5, atol=1e-6)
    # optimizer state round-trips through a versioned file; a fresh store resumes identically
    path = str(tmp_path / f"states-{kv.rank}.npz")
    kv.save_optimizer_states(path)
    resumed = hb.kv.create("dist_sync")
    resumed.set_optimizer(hb.gluon.optimizer.create("adam", learning_rate=0.1))
    resumed.init(0, out)
    resumed.load_optimizer_states(path)
    grad = hb.np.array(rank_data(7 + kv.rank, (6,)))
    kv.push(0, grad)
    resumed.push(0, grad)
    a, b = hb.np.zeros((6,)), hb.np.zeros((6,))
    kv.pull(0, out=a)
    resumed.pull(0, out=b)
    numpy.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6, atol=1e-7)


def test_kvstore_init_with_shapes_that_differ_across_ranks_is_an_error_on_every_rank():
    kv = hb.kv.create("dist_sync")
    shape = (4, 2) if kv.rank == kv.num_workers - 1 else (4, 3)
    with pytest.raises(DistributedError, match=r"ranks disagree.*w:4x3:float32.*w:4x2:float32"):
        kv.init("w", hb.np.zeros(shape))


def test_kvstore_errors_name_the_key():
    kv = hb.kv.create("dist_sync")
    with pytest.raises(DistributedError, match="never initialized"):
        kv.push("missing", hb.np.zeros((2,)))
    with pytest.raises(DistributedError, match="dist_async.*not offered"):
        hb.kv.create("dist_async")
