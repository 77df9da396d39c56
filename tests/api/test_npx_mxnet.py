"""npx operators added for MXNet 2 parity, against NumPy/SciPy/PyTorch: eager and hybridized
(interp, llvm), gradients by finite differences, files and DLPack interchange."""
import math
import shutil

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np, npx

from blockcheck import check_block, check_finite_differences

scipy_special = pytest.importorskip("scipy.special")
R = onp.random.default_rng(4)


def _x(*shape):
    return R.standard_normal(shape).astype(onp.float32)


def lam(fn):
    return hb.nn.HybridLambda(fn)


def test_slice_batch_dot_sequence_mask():
    x = _x(4, 5, 6)
    check_block(lam(lambda v: npx.slice(v, (1, None), (3, -1), (1, 2))), x, ref=lambda v: v[1:3, :-1:2])
    a, b = _x(3, 2, 4), _x(3, 5, 4)
    check_block(lam(lambda p, q: npx.batch_dot(p, q, transpose_b=True)), a, b, ref=lambda p, q: p @ q.transpose(0, 2, 1),
                rtol=1e-5)
    check_finite_differences(lam(lambda p, q: npx.batch_dot(p, q, transpose_b=True)), a, b)
    seq, lengths = _x(5, 3, 2), onp.array([2, 5, 0], onp.float32)

    def ref_mask(v, n):
        out = v.copy()
        for j, length in enumerate(n.astype(int)):
            out[length:, j] = -1.0
        return out
    check_block(lam(lambda v, n: npx.sequence_mask(v, n, use_sequence_length=True, value=-1.0)), seq, lengths,
                ref=ref_mask)
    batch_major = npx.sequence_mask(np.array(seq.transpose(1, 0, 2)), np.array(lengths), True, -1.0, axis=1)
    onp.testing.assert_array_equal(batch_major.asnumpy(), ref_mask(seq, lengths).transpose(1, 0, 2))


def test_pick_and_topk():
    x = _x(4, 6)
    idx = onp.array([0, 5, 2, 9], onp.float32)
    check_block(lam(lambda v, i: npx.pick(v, i, axis=1, mode="clip")), x, idx,
                ref=lambda v, i: v[onp.arange(4), onp.clip(i.astype(int), 0, 5)])
    with pytest.raises(hb.IndexOutOfRangeError, match="npx.pick"):
        npx.pick(np.array(x), np.array(idx))
    wrapped = npx.pick(np.array(x), np.array(idx), axis=-1, mode="wrap", keepdims=True).asnumpy()
    onp.testing.assert_array_equal(wrapped, x[onp.arange(4), idx.astype(int) % 6][:, None])
    check_finite_differences(lam(lambda v: npx.pick(v, np.array(onp.array([1, 2, 3, 4], onp.int32)))), x)
    order = onp.argsort(-x, axis=1)[:, :3]
    check_block(lam(lambda v: npx.topk(v, k=3)), x, ref=lambda v: order.astype(onp.float32), grad=False)
    check_block(lam(lambda v: npx.topk(v, axis=0, k=2, ret_typ="value", is_ascend=True)), x,
                ref=lambda v: onp.sort(v, axis=0)[:2])
    vals, idxs = npx.topk(np.array(x), k=2, ret_typ="both", dtype="int32")
    onp.testing.assert_array_equal(idxs.asnumpy(), order[:, :2])
    mask = npx.topk(np.array(x), k=2, ret_typ="mask").asnumpy()
    assert mask.sum() == 8 and onp.all(mask[onp.arange(4)[:, None], order[:, :2]] == 1)
    check_finite_differences(lam(lambda v: npx.topk(v, k=2, ret_typ="value")), x)


def test_arange_like_and_reshape_codes():
    x = np.zeros((2, 3, 4))
    onp.testing.assert_array_equal(npx.arange_like(x).asnumpy(), onp.arange(24.0).reshape(2, 3, 4))
    onp.testing.assert_array_equal(npx.arange_like(x, start=1, step=2, axis=1).asnumpy(), [1.0, 3.0, 5.0])
    onp.testing.assert_array_equal(npx.arange_like(np.zeros(5), repeat=2).asnumpy(), [0, 0, 1, 1, 2])
    y = np.zeros((2, 1, 3, 4, 5))
    cases = [((-2, -3, -5, -1), (2, 12, 5)), ((-4,), (2, 1, 3, 4, 5)), ((-2, -3, -6, 3, -1, -4), (2, 3, 1, 4, 5)),
             ((-1, 5), (24, 5)), ((0, -1), (0, 120))]
    for codes, shape in cases[:4]:
        assert npx.reshape(y, codes).shape == shape, codes
    assert npx.reshape(np.zeros((6, 4)), (-1, -2), reverse=True).shape == (6, 4)
    assert npx.reshape(np.zeros((2, 3, 4)), (-5, -2)).shape == (6, 4)
    with pytest.raises(hb.ShapeError, match="-3"):
        npx.reshape(np.zeros((2, 3)), (-3, -2))
    check_block(lam(lambda v: npx.reshape(v, (-5, -6, 2, -1))), _x(2, 3, 4), ref=lambda v: v.reshape(6, 2, 2))


@pytest.mark.parametrize("fn", [npx.masked_softmax, npx.masked_log_softmax])
def test_masked_softmaxes_over_an_empty_axis_are_empty(fn):
    """An empty softmax axis gives an empty result of the input's shape (there is no max to shift by)."""
    x, mask = _x(3, 0, 4), onp.ones((3, 0, 4), bool)
    out = check_block(lam(lambda v, m: fn(v, m, axis=1)), x, mask, grad=False,
                      ref=lambda v, m: onp.zeros((3, 0, 4), "float32"))
    assert out[0].shape == (3, 0, 4)


def test_masked_softmax_smooth_l1():
    x, mask = _x(3, 5), R.random((3, 5)) < 0.6
    mask[:, 0] = True

    def ref_soft(v, m, temperature=2.0):
        e = onp.where(m, onp.exp(v / temperature - (v / temperature).max(1, keepdims=True)), 0)
        return e / e.sum(1, keepdims=True)
    check_block(lam(lambda v, m: npx.masked_softmax(v, m, temperature=2.0)), x, mask, ref=ref_soft, rtol=1e-5)
    got = npx.masked_log_softmax(np.array(x), np.array(mask)).asnumpy()
    expected = onp.where(mask, onp.log(ref_soft(x, mask, 1.0) + (~mask)), -onp.inf)
    onp.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    check_finite_differences(lam(lambda v: npx.masked_softmax(v, np.array(mask))), x)
    check_block(lam(lambda v: npx.smooth_l1(v, 2.0)), x,
                ref=lambda v: onp.where(onp.abs(v) < 0.25, 2.0 * v * v, onp.abs(v) - 0.125))
    check_finite_differences(lam(lambda v: npx.smooth_l1(v, 2.0)), x + onp.sign(x) * 0.02)


def test_gamma_and_gammaln():
    x = onp.array([0.1, 0.5, 0.7, 1.0, 2.5, 7.3, 30.0, -0.3, -1.7, -2.5], onp.float64)
    check_block(lam(npx.gammaln), x, ref=lambda v: scipy_special.gammaln(v), rtol=1e-10, atol=1e-10,
                backends=("interp",))
    check_block(lam(npx.gamma), x[x < 20], ref=lambda v: scipy_special.gamma(v), rtol=1e-9, backends=("interp",))
    f32 = x.astype(onp.float32)
    check_block(lam(npx.gammaln), f32, ref=lambda v: scipy_special.gammaln(v.astype(onp.float64)), rtol=1e-4,
                atol=1e-5)
    check_finite_differences(lam(npx.gammaln), onp.array([0.3, 1.5, 4.0, -0.6], onp.float32))


def test_batch_norm_momentum_updates_running_stats():
    x = _x(4, 3, 2, 2)
    mean, var = np.zeros(3), np.ones(3)
    gamma, beta = np.ones(3), np.zeros(3)
    with autograd.train_mode():
        out, bm, bv = npx.batch_norm(np.array(x), gamma, beta, mean, var, momentum=0.8, output_mean_var=True)
    xm, xv = x.mean((0, 2, 3)), x.var((0, 2, 3))
    onp.testing.assert_allclose(bm.asnumpy(), xm, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(bv.asnumpy(), 1 / onp.sqrt(xv + 1e-5), rtol=1e-5)   # MXNet: inverse std
    onp.testing.assert_allclose(mean.asnumpy(), 0.2 * xm, rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(var.asnumpy(), 0.8 + 0.2 * xv * 16 / 15, rtol=1e-5)
    inference = npx.batch_norm(np.array(x), gamma, beta, mean, var, cudnn_off=True)  # not training: running stats
    _, used_mean, inverse_std = npx.batch_norm(np.array(x), gamma, beta, mean, var, output_mean_var=True)
    onp.testing.assert_allclose(used_mean.asnumpy(), mean.asnumpy())
    onp.testing.assert_allclose(inverse_std.asnumpy(), 1 / onp.sqrt(var.asnumpy() + 1e-5), rtol=1e-6)
    expected = (x - mean.asnumpy().reshape(1, 3, 1, 1)) / onp.sqrt(var.asnumpy().reshape(1, 3, 1, 1) + 1e-5)
    onp.testing.assert_allclose(inference.asnumpy(), expected, rtol=1e-5, atol=1e-5)
    assert out.shape == x.shape


def test_embedding_fully_connected_arguments():
    w = _x(10, 4)
    onp.testing.assert_array_equal(npx.embedding(np.array([[1, 3]]), np.array(w), input_dim=10, output_dim=4)
                                   .asnumpy(), w[[[1, 3]]])
    with pytest.raises(hb.ShapeError, match="input_dim"):
        npx.embedding(np.array([1]), np.array(w), input_dim=9)
    x, fw, fb = _x(2, 4), _x(3, 4), _x(3)
    onp.testing.assert_allclose(npx.fully_connected(np.array(x), np.array(fw), np.array(fb), num_hidden=3,
                                                    no_bias=True).asnumpy(), x @ fw.T, rtol=1e-5)


def test_save_and_savez_write_numpys_formats(tmp_path):
    """MXNet 2 documents npx.save as NumPy's .npy and npx.savez as its .npz: numpy.load reads both, with
    exactly the saved names; the file is written under the very name given (no suffix added)."""
    a, b = _x(2, 3), onp.arange(4, dtype=onp.int64)
    npx.save(str(tmp_path / "one.bin"), np.array(a))
    onp.testing.assert_array_equal(onp.load(tmp_path / "one.bin", allow_pickle=False), a)
    for shape in [(), (0,), (2, 0, 1)]:
        npx.save(str(tmp_path / "e.npy"), np.array(onp.zeros(shape, onp.int32)))
        got = onp.load(tmp_path / "e.npy", allow_pickle=False)
        assert got.shape == shape and got.dtype == onp.int32
        assert npx.load(str(tmp_path / "e.npy")).shape == shape
    npx.savez(str(tmp_path / "all.npz"), np.array(a), np.array(b), w=np.array(b))
    with onp.load(tmp_path / "all.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["arr_0", "arr_1", "w"]
        onp.testing.assert_array_equal(data["arr_1"], b)
    got = npx.load(str(tmp_path / "all.npz"))
    assert set(got) == {"arr_0", "arr_1", "w"} and got["w"].dtype == onp.int64


def test_save_load_and_interchange(tmp_path):
    a, b = _x(2, 3), _x(4)
    npx.save(str(tmp_path / "one"), np.array(a))
    onp.testing.assert_array_equal(npx.load(str(tmp_path / "one")).asnumpy(), a)
    npx.save(str(tmp_path / "many"), [np.array(a), b])
    got = npx.load(str(tmp_path / "many"))
    assert isinstance(got, list) and onp.array_equal(got[1].asnumpy(), b)
    npx.savez(str(tmp_path / "named"), np.array(a), bias=np.array(b))
    got = npx.load(str(tmp_path / "named"))
    assert set(got) == {"arr_0", "bias"} and onp.array_equal(got["bias"].asnumpy(), b)
    evil = tmp_path / "evil.npz"
    onp.savez(evil, x=onp.array([{"a": 1}], dtype=object))
    with pytest.raises(hb.FormatError, match="npx.save"):
        npx.load(str(evil))
    plain = tmp_path / "plain.npz"
    onp.savez(plain, x=a)
    got = npx.load(str(plain))       # NumPy's own .npz: a dict, as MXNet 2's npx.load gives
    assert set(got) == {"x"} and onp.array_equal(got["x"].asnumpy(), a)
    (tmp_path / "junk").write_bytes(b"not an array file")
    with pytest.raises(hb.FormatError, match="npx.save"):
        npx.load(str(tmp_path / "junk"))
    host = onp.arange(6.0, dtype=onp.float32)
    shared = npx.from_numpy(host)                       # zero copy: the NDArray takes the memory over
    shared[0] = 42.0
    assert host[0] == 42.0
    with pytest.raises(ValueError):                     # MXNet's rule: the NumPy array is read-only now
        host[1] = 7.0
    with pytest.raises(ValueError, match="C-contiguous"):
        npx.from_numpy(onp.ones((2, 3)).T)
    copied_from = onp.ones(3)
    npx.from_numpy(copied_from, zero_copy=False)[0] = 5.0
    copied_from[1] = 2.0                                # a copy leaves the source alone
    assert copied_from.tolist() == [1.0, 2.0, 1.0]
    back = npx.from_dlpack(npx.to_dlpack_for_read(np.array(a)))
    onp.testing.assert_array_equal(back.asnumpy(), a)
    torch = pytest.importorskip("torch")
    t = torch.utils.dlpack.from_dlpack(npx.to_dlpack_for_read(np.array(a)))
    onp.testing.assert_array_equal(t.numpy(), a)
    onp.testing.assert_array_equal(npx.from_dlpack(torch.arange(3.0)).asnumpy(), [0.0, 1.0, 2.0])


def _roi_pooling_reference(data, rois, pooled, scale):
    """MXNet's documented ROIPooling, loop by loop: corners scaled and rounded half away from zero, the
    region (at least one cell) cut into equal real-valued bins with floored starts and ceiled ends clipped
    to the map, each bin's maximum, 0 for an empty bin."""
    ph, pw = pooled
    out = onp.zeros((len(rois), data.shape[1], ph, pw), data.dtype)
    for r, (b, *corners) in enumerate(rois):
        x1, y1, x2, y2 = (math.floor(abs(v * scale) + 0.5) * (1 if v >= 0 else -1) for v in corners)
        bin_h, bin_w = max(y2 - y1 + 1, 1) / ph, max(x2 - x1 + 1, 1) / pw
        for i in range(ph):
            for j in range(pw):
                top = min(max(math.floor(i * bin_h) + y1, 0), data.shape[2])
                bottom = min(max(math.ceil((i + 1) * bin_h) + y1, 0), data.shape[2])
                left = min(max(math.floor(j * bin_w) + x1, 0), data.shape[3])
                right = min(max(math.ceil((j + 1) * bin_w) + x1, 0), data.shape[3])
                if bottom > top and right > left:
                    out[r, :, i, j] = data[int(b), :, top:bottom, left:right].max(axis=(1, 2))
    return out


def test_roi_pooling_matches_mxnets_rule():
    # d2l's Fast R-CNN section: the 4x4 map 0..15, two regions at spatial_scale 0.1
    book = npx.roi_pooling(np.arange(16.0).reshape(1, 1, 4, 4), np.array([[0, 0, 0, 20, 20], [0, 0, 10, 30, 30]]),
                           pooled_size=(2, 2), spatial_scale=0.1)
    onp.testing.assert_array_equal(book.asnumpy(), [[[[5, 6], [9, 10]]], [[[9, 11], [13, 15]]]])
    data = _x(2, 3, 7, 9)
    # whole map, a region partly outside, one wholly outside (empty bins: 0), a one-cell region, more bins than cells
    rois = onp.array([[1, 0, 0, 16, 12], [0, -6, 4, 9, 30], [1, 40, 40, 60, 50], [0, 6, 6, 6, 6], [1, 2, 2, 7, 5]],
                     onp.int32)
    for pooled in ((2, 3), (4, 4)):
        check_block(lam(lambda v, r: npx.roi_pooling(v, r, pooled, 0.5)), data, rois,
                    ref=lambda v, r: _roi_pooling_reference(v, r, pooled, 0.5))
    check_finite_differences(lam(lambda v, r: npx.roi_pooling(v, r, (2, 3), 0.5)), data, rois)
    with pytest.raises(hb.ShapeError, match=r"rois \(R, 5\)"):
        npx.roi_pooling(np.array(data), np.array(rois[:, :4]), (2, 2), 1.0)
    with pytest.raises(hb.IndexOutOfRangeError, match="roi_pooling batch index 2"):
        npx.roi_pooling(np.array(data), np.array([[2, 0, 0, 1, 1]]), (2, 2), 1.0)


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")
def test_detection_ops_cuda_emulator():
    rois = onp.array([[1, 0, 0, 16, 12], [0, -6, 4, 9, 30], [1, 40, 40, 60, 50]], onp.int32)
    check_block(lam(lambda v, r: npx.roi_pooling(v, r, (2, 3), 0.5)), _x(2, 3, 7, 9), rois, backends=("cuda",),
                ref=lambda v, r: _roi_pooling_reference(v, r, (2, 3), 0.5), runtime="emulator")
    check_block(lam(lambda v: np.sum(v) * 0.0 + npx.multibox_prior(v, sizes=[0.3, 0.5], ratios=[1, 2])), _x(1, 1, 2, 3),
                backends=("cuda",), ref=lambda v: _multibox_prior_reference(2, 3, [0.3, 0.5], [1, 2]),
                runtime="emulator", grad=False)


def _multibox_prior_reference(height, width, sizes, ratios, steps=(-1, -1), offsets=(0.5, 0.5), clip=False):
    """MXNet's MultiBoxPrior, cell by cell: sizes with the first ratio, then the other ratios with the first size."""
    step_y = 1 / height if steps[0] <= 0 else steps[0]
    step_x = 1 / width if steps[1] <= 0 else steps[1]
    boxes = []
    for row in range(height):
        for col in range(width):
            cy, cx = (row + offsets[0]) * step_y, (col + offsets[1]) * step_x
            for size, ratio in [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]:
                half_w, half_h = size * math.sqrt(ratio) * height / width / 2, size / math.sqrt(ratio) / 2
                boxes.append([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
    boxes = onp.array(boxes)[None]
    return onp.clip(boxes, 0, 1) if clip else boxes


def test_multibox_prior_matches_mxnets_rule():
    # d2l's anchor-box section: a 561x728 image, anchors centred on pixel (250, 250)
    book = npx.multibox_prior(np.zeros((1, 3, 561, 728)), sizes=[0.75, 0.5, 0.25], ratios=[1, 2, 0.5])
    assert book.shape == (1, 561 * 728 * 5, 4) and book.dtype == onp.float32
    onp.testing.assert_allclose(book.reshape(561, 728, 5, 4)[250, 250, 0].asnumpy(), [0.06, 0.07, 0.63, 0.82],
                                atol=6e-3)
    for kwargs in ({"sizes": [0.4], "ratios": [1, 2, 0.5]}, {"sizes": (0.2, 0.6), "ratios": (2,), "clip": True},
                   {"sizes": [0.3, 0.5], "ratios": [1, 3], "steps": (0.25, 0.2), "offsets": (0.0, 0.5)}):
        ref = _multibox_prior_reference(3, 5, **kwargs)
        check_block(lam(lambda v: npx.multibox_prior(v, **kwargs)), _x(2, 4, 3, 5), ref=lambda v: ref, grad=False,
                    rtol=1e-6, atol=1e-6)
    with pytest.raises(hb.ShapeError, match=r"\(N, C, H, W\)"):
        npx.multibox_prior(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="positive"):
        npx.multibox_prior(np.zeros((1, 1, 2, 2)), sizes=[0.5, -1.0])


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
def test_add_n_sums_arrays_of_one_shape(mode):
    arrays = [_x(2, 3) for _ in range(4)]
    fn = lambda *xs: npx.add_n(*xs)
    got = (fn if mode == "eager" else hb.hybridize(fn, backend=mode))(*[np.array(a) for a in arrays])
    onp.testing.assert_allclose(got.asnumpy(), ((arrays[0] + arrays[1]) + arrays[2]) + arrays[3], rtol=1e-6)
    first = np.array(arrays[0])
    assert npx.add_n(first, np.array(arrays[1]), out=first) is first   # out= may be an input
    onp.testing.assert_allclose(first.asnumpy(), arrays[0] + arrays[1], rtol=1e-6)
    with pytest.raises(hb.ShapeError, match=r"npx.add_n: the arrays must have one shape"):
        npx.add_n(np.ones((2, 3)), np.ones((3,)))
