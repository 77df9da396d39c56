"""Data sharding for data-parallel training (default suite: no MPI needed)."""
import numpy
import pytest

import hybrid as hb
from hybrid.errors import HybridError
from hybrid.gluon import data
from hybrid.gluon.utils import split_and_load, split_data


@pytest.mark.parametrize("length,parts", [(10, 3), (9, 3), (2, 4), (7, 1)])
def test_shards_and_sampler_parts_cover_the_data_once_in_order(length, parts):
    dataset = data.SimpleDataset(list(range(100, 100 + length)))
    shards = [dataset.shard(parts, i) for i in range(parts)]
    assert [x for s in shards for x in (s[j] for j in range(len(s)))] == list(range(100, 100 + length))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert sorted((len(s) for s in shards), reverse=True) == [len(s) for s in shards]   # the first are longer
    seq = [list(data.SequentialSampler(length, start=5, num_parts=parts, part_index=i)) for i in range(parts)]
    assert sum(seq, []) == list(range(5, 5 + length))


def test_random_sampler_parts_share_one_shuffle_and_never_overlap():
    parts = [data.RandomSampler(20, seed=3, num_parts=3, part_index=i) for i in range(3)]
    for _ in range(2):   # every epoch: a new shuffle, still a partition
        epoch = [list(p) for p in parts]
        assert sorted(sum(epoch, [])) == list(range(20))
        assert [len(e) for e in epoch] == [7, 7, 6] == [len(p) for p in parts]
    with pytest.raises(ValueError, match="needs a seed"):
        data.RandomSampler(20, num_parts=2, part_index=0)
    with pytest.raises(ValueError, match="part_index must be in"):
        data.SequentialSampler(20, num_parts=2, part_index=2)


def test_dataloader_over_a_shard_batches_only_that_part():
    x = numpy.arange(12, dtype=numpy.float32).reshape(6, 2)
    loader = data.DataLoader(data.ArrayDataset(x, numpy.arange(6)).shard(2, 1), batch_size=2)
    batches = [b[0].asnumpy() for b in loader]
    numpy.testing.assert_array_equal(numpy.concatenate(batches), x[3:])


def test_split_and_load_cuts_the_batch_axis_like_gluon():
    x = numpy.arange(24, dtype=numpy.float32).reshape(2, 12)
    parts = split_and_load(hb.np.array(x), [hb.cpu(0), hb.cpu(1), hb.cpu(2)], batch_axis=1)
    for i, p in enumerate(parts):
        numpy.testing.assert_array_equal(p.asnumpy(), x[:, 4 * i:4 * i + 4])
    uneven = split_data(numpy.arange(7), 3, even_split=False)
    assert [u.asnumpy().tolist() for u in uneven] == [[0, 1, 2], [3, 4], [5, 6]]   # NumPy's array_split
    with pytest.raises(HybridError, match="cannot be split evenly into 3 slices"):
        split_data(numpy.arange(7), 3)
    with pytest.raises(ValueError):     # MXNet's exception type
        split_data(numpy.arange(7), 3)
