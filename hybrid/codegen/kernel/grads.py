"""Lowering of the transposed (gradient) ops as gathers: each output element sums what
reaches it (conv2d input/weight gradients also use GEMMs). `_GRAD_RULES` maps op -> rule."""
from __future__ import annotations

from .context import _identity_of
from .describe import GemmStage, Reduction
from .expr import (INDEX, E, both, cast, clamp, const, iadd, iconst_op, imax, imin, imul, in_range, ivar, load,
                   select)


def _tap_source(o: E, k: E, stride: int, pad: int, dil: int, size: int) -> tuple[E, E]:
    """The output position that kernel tap k of input position o came from:
    (valid, clamped index) for o = i * stride - pad + k * dil."""
    t = iadd(iadd(o, const(pad)), imul(k, const(-dil)))
    tc = imax(t, const(0))
    valid = E("ge", (t, const(0)), "bool")
    if stride > 1:
        valid = both(valid, E("eq", (iconst_op("mod", tc, stride), const(0)), "bool"))
    i = iconst_op("idiv", tc, stride)
    return both(valid, E("lt", (i, const(size)), "bool")), imin(i, const(size - 1))


def _conv_sizes(node, x, w, g) -> tuple:
    """What both convolution-gradient lowerings unpack: the input's N, C, H, W, the weight's O, C/G, KH,
    KW, the output gradient's OH, OW, the groups, and the (h, w) stride, padding and dilation pairs."""
    return (*x.shape, *w.shape, *g.shape[2:], node.attrs["groups"], node.attrs["stride"], node.attrs["padding"],
            node.attrs["dilation"])


def _lower_conv_input_grad(lw, node, args, types, out) -> None:
    """dx = col2im(W^T @ g): one GEMM per (n, group) into columns, then a gather over taps."""
    tg, tw = types
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, (sh, sw), (ph, pw), (dh, dw) = _conv_sizes(node, out, tw, tg)
    P, Kc, Og = OH * OW, Cg * KH * KW, O // G
    if Cg == 1 and Og == 1:
        _lower_depthwise_input_grad(lw, node, args, types, out)
        return
    gbuf = lw.materialize(args[0], tg)
    wbuf = lw.materialize(args[1], tw)
    col = lw.buffer("t", (N, G, Kc, P), out.dtype, "temp")
    bn, bg, m, p = lw.fresh(N), lw.fresh(G), lw.fresh(Kc), lw.fresh(P)
    lw.kernel.stages.append(GemmStage(col.name, wbuf.name, gbuf.name, Kc, P, Og, True, False, Kc, P, P, (N, G),
                                      (0, Og * Kc), (O * P, Og * P), (G * Kc * P, Kc * P), (bn, bg), m, p,
                                      out_index=tuple(ivar(v) for v in (bn, bg, m, p))))

    def lazy(idx):
        n, c, h, w = idx
        rh, rw = lw.fresh(KH), lw.fresh(KW)
        vh, oh = _tap_source(h, ivar(rh), sh, ph, dh, OH)
        vw, ow = _tap_source(w, ivar(rw), sw, pw, dw, OW)
        g = iconst_op("idiv", c, Cg)
        k = iadd(iadd(imul(iconst_op("mod", c, Cg), const(KH * KW)), imul(ivar(rh), const(KW))), ivar(rw))
        value = load(col, (n, g, k, iadd(imul(oh, const(OW)), ow)))
        body = select(both(vh, vw), value, const(0, out.dtype))
        return E("reduce", (body,), out.dtype, Reduction("add", 0.0, (rh, rw), (KH, KW)))
    lw.stage(out, lazy)


def _lower_depthwise_input_grad(lw, node, args, types, out) -> None:
    """A depthwise convolution's input gradient as a gather: each input element sums the KH*KW output-gradient
    elements its taps reached, times the channel's weights. The GEMM form wrote a KH*KW-times larger column
    buffer (outer products of a 9-row weight column with one gradient row) and then gathered from it."""
    tg, tw = types
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, (sh, sw), (ph, pw), (dh, dw) = _conv_sizes(node, out, tw, tg)
    gl, wl = args

    def lazy(idx):
        n, c, h, w = idx
        rh, rw = lw.fresh(KH), lw.fresh(KW)
        vh, oh = _tap_source(h, ivar(rh), sh, ph, dh, OH)
        vw, ow = _tap_source(w, ivar(rw), sw, pw, dw, OW)
        product = E("mul", (gl((n, c, oh, ow)), wl((c, const(0), ivar(rh), ivar(rw)))), out.dtype)
        body = select(both(vh, vw), product, const(0, out.dtype))
        return E("reduce", (body,), out.dtype, Reduction("add", 0.0, (rh, rw), (KH, KW)))
    lw.stage(out, lazy)


def _lower_conv_weight_grad(lw, node, args, types, out) -> None:
    """dw[g] = g_g (Og x N*P) @ cols_g^T: the batch sum folds into the GEMM's K dimension."""
    tx, tg = types
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, (sh, sw), (ph, pw), (dh, dw) = _conv_sizes(node, tx, out, tg)
    P, Kc, Og = OH * OW, Cg * KH * KW, O // G
    x, gl = args
    if Cg == 1 and Og == 1:
        _lower_depthwise_weight_grad(lw, node, args, types, out)
        return
    gt = lw.buffer("t", (G, Og, N, P), out.dtype, "temp")
    lw.stage(gt, lambda idx: gl((idx[2], iadd(imul(idx[0], const(Og)), idx[1]),
                                 iconst_op("idiv", idx[3], OW), iconst_op("mod", idx[3], OW))))
    cols = lw.buffer("t", (G, Kc, N, P), out.dtype, "temp")

    def im2col(idx):
        g, k, n, p = idx
        c = iadd(imul(g, const(Cg)), iconst_op("idiv", k, KH * KW))
        kh = iconst_op("mod", iconst_op("idiv", k, KW), KH)
        kw = iconst_op("mod", k, KW)
        ih = iadd(iadd(imul(iconst_op("idiv", p, OW), const(sh)), const(-ph)), imul(kh, const(dh)))
        iw = iadd(iadd(imul(iconst_op("mod", p, OW), const(sw)), const(-pw)), imul(kw, const(dw)))
        valid = both(in_range(ih, 0, H), in_range(iw, 0, W))
        return select(valid, x((n, c, clamp(ih, H - 1), clamp(iw, W - 1))), const(0, out.dtype))
    lw.stage(cols, im2col)
    bg, m, n = lw.fresh(G), lw.fresh(Og), lw.fresh(Kc)
    lw.kernel.stages.append(GemmStage(out.name, gt.name, cols.name, Og, Kc, N * P, False, True, N * P, N * P, Kc,
                                      (G,), (Og * N * P,), (Kc * N * P,), (Og * Kc,), (bg,), m, n,
                                      out_index=(iadd(imul(ivar(bg), const(Og)), ivar(m)),
                                                 iconst_op("idiv", ivar(n), KH * KW),
                                                 iconst_op("mod", iconst_op("idiv", ivar(n), KW), KH),
                                                 iconst_op("mod", ivar(n), KW))))


def _lower_depthwise_weight_grad(lw, node, args, types, out) -> None:
    """A depthwise convolution's (one input channel per output channel) weight gradient as one sum per
    weight, dw[c, 0, kh, kw] = sum over (n, oh, ow) of g[n, c, oh, ow] * x[n, c, ih, iw] (a leveled float sum,
    render.py): the GEMM form built an im2col copy KH*KW times the input (MobileNet v2's first expansion at
    batch 8 x 112 x 112: 350 MB) for products of one row by nine columns, and summed N*OH*OW terms in
    kc-long blocks added into the output in order (further from the float64 step than PyTorch's)."""
    tx, tg = types
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, (sh, sw), (ph, pw), (dh, dw) = _conv_sizes(node, tx, out, tg)
    x, gl = args

    def lazy(idx):
        c, _, kh, kw = idx
        rn, rh, rw = lw.fresh(N), lw.fresh(OH), lw.fresh(OW)
        n, oh, ow = ivar(rn), ivar(rh), ivar(rw)
        ih = iadd(iadd(imul(oh, const(sh)), const(-ph)), imul(kh, const(dh)))
        iw = iadd(iadd(imul(ow, const(sw)), const(-pw)), imul(kw, const(dw)))
        product = E("mul", (gl((n, c, oh, ow)), x((n, c, clamp(ih, H - 1), clamp(iw, W - 1)))), out.dtype)
        body = select(both(in_range(ih, 0, H), in_range(iw, 0, W)), product, const(0, out.dtype))
        return E("reduce", (body,), out.dtype, Reduction("add", 0.0, (rn, rh, rw), (N, OH, OW)))
    lw.stage(out, lazy)


def _lower_pool_grad(lw, node, args, types, out) -> None:
    """max: route g to the first maximum of each window (argmax per window first);
    avg: spread g over its window. Both gather over the windows that cover an input."""
    (kh, kw), (sh, sw), (ph, pw) = node.attrs["kernel"], node.attrs["stride"], node.attrs["padding"]
    N, C, H, W = out.shape
    is_max = node.op == "max_pool2d_grad"
    tg = types[1] if is_max else types[0]
    gl = args[1] if is_max else args[0]
    OH, OW = tg.shape[2:]
    if is_max:
        x = args[0]
        am = lw.buffer("t", tg.shape, "i32", "temp")

        def window_argmax(idx):
            n, c, oh, ow = idx
            r = lw.fresh(kh * kw)
            ih = iadd(iadd(imul(oh, const(sh)), const(-ph)), iconst_op("idiv", ivar(r), kw))
            iw = iadd(iadd(imul(ow, const(sw)), const(-pw)), iconst_op("mod", ivar(r), kw))
            valid = both(in_range(ih, 0, H), in_range(iw, 0, W))
            body = select(valid, x((n, c, clamp(ih, H - 1), clamp(iw, W - 1))),
                          const(_identity_of("max", out.dtype), out.dtype))
            return E("reduce", (body,), "i32", Reduction("argmax", None, (r,), (kh * kw,)))
        lw.stage(am, window_argmax)
    else:
        share = lw.buffer("t", tg.shape, out.dtype, "temp")
        node_attrs = dict(node.attrs)
        count_all = node_attrs["count_include_pad"]

        def spread(idx):
            n, c, oh, ow = idx
            if count_all:
                count = const(float(kh * kw), out.dtype)
            else:
                h0 = iadd(imul(oh, const(sh)), const(-ph))
                w0 = iadd(imul(ow, const(sw)), const(-pw))
                ch = E("sub", (imin(iadd(h0, const(kh)), const(H)), imax(h0, const(0))))
                cw = E("sub", (imin(iadd(w0, const(kw)), const(W)), imax(w0, const(0))))
                count = cast(imul(ch, cw), out.dtype)
            return E("div", (gl(idx), count), out.dtype)
        lw.stage(share, spread)

    def lazy(idx):
        n, c, h, w = idx
        rh, rw = lw.fresh(kh), lw.fresh(kw)
        vh, oh = _tap_source(h, ivar(rh), sh, ph, 1, OH)
        vw, ow = _tap_source(w, ivar(rw), sw, pw, 1, OW)
        valid = both(vh, vw)
        if is_max:
            hit = E("eq", (load(am, (n, c, oh, ow)), cast(iadd(imul(ivar(rh), const(kw)), ivar(rw)), "i32")), "bool")
            valid = both(valid, hit)
            value = gl((n, c, oh, ow))
        else:
            value = load(share, (n, c, oh, ow))
        body = select(valid, value, const(0, out.dtype))
        return E("reduce", (body,), out.dtype, Reduction("add", 0.0, (rh, rw), (kh, kw)))
    lw.stage(out, lazy)


def _lower_take_grad(lw, node, args, types, out) -> None:
    """out[.., s, ..] = sum over index positions j with idx[j] == s of g[.., j, ..]."""
    tg, ti = types
    gl, il = args
    axis = node.attrs["axis"]
    k = len(ti.shape)
    size = out.shape[axis]
    lw.check(node, "index", il, ti.shape, 0, size - 1,
             f"axis {axis} (size {size}) of the array take gathered from (indices {ti})")

    def lazy(idx):
        rv = tuple(lw.fresh(d) for d in ti.shape)
        pos = tuple(ivar(v) for v in rv)
        hit = E("eq", (cast(il(pos), INDEX), idx[axis]), "bool")
        value = gl(tuple(idx[:axis]) + pos + tuple(idx[axis + 1:]))
        body = select(hit, value, const(0, out.dtype))
        return E("reduce", (body,), out.dtype, Reduction("add", 0.0, rv, tuple(ti.shape)))
    if k == 0:
        lw.stage(out, lambda idx: select(E("eq", (cast(il(()), INDEX), idx[axis]), "bool"),
                                         gl(tuple(idx[:axis]) + tuple(idx[axis + 1:])), const(0, out.dtype)))
    else:
        lw.stage(out, lazy)


_GRAD_RULES = {"conv2d_input_grad": _lower_conv_input_grad, "conv2d_weight_grad": _lower_conv_weight_grad,
               "max_pool2d_grad": _lower_pool_grad, "avg_pool2d_grad": _lower_pool_grad,
               "take_grad": _lower_take_grad}
