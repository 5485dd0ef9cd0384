#!/usr/bin/env python3
"""An independent NumPy backend for every op of the golden set: a second check of the golden outputs.

Every op is written from docs/operators.md and docs/ess.md and the papers' equations, not
from the C# code, and where natural by another representation than the golden's naive definition:
GEMM and softmax directly; fft.fft and fft.causal_conv by numpy's FFT; conv.causal, conv.long,
the shift SSM, H3, S4D and Hyena's long convolutions by direct causal sums; conv.bidirectional by
the spectra of its two conventions; conv.flash_butterfly (a block FFT) by numpy's complex FFT;
selective scan, the Mamba block, linear, decayed linear and
gated linear attention by their recurrences; SSD by its dual quadratic form; softmax attention by
its masked score matrix; ESS by numpy.linalg.svd of every split block; the activations in forms
without cancellation (GELU by a documented 80-digit erfc: numpy has no erf). Two ways to use it:

1. As a process backend of the conformance runner (one case per call, golden/README.md,
   "Process backends"):
       reference golden run --backend "process:/usr/bin/python3 golden/numpy_backend.py"
   It is called as `numpy_backend.py OP IN_DIR OUT_DIR`, reads IN_DIR/params.json and
   IN_DIR/NAME.npy, writes OUT_DIR/NAME.npy per output, and exits 77 for an op it lacks.

2. In batch mode, writing a candidate tree for golden/check.py:
       python3 golden/numpy_backend.py --golden golden --out /tmp/cand [--precision float32]
       python3 golden/check.py /tmp/cand
   float32 casts the inputs to float32 (exact: golden inputs are float32-representable) and
   computes in float32 where numpy does (matmul, reductions, the scans and recurrences, float32
   SVD for ESS; complex64 for the S4D kernel); numpy's FFT computes float32 input in float64, so
   FFT outputs are rounded to float32 (complex outputs stay complex128); GELU's erfc runs in
   decimal and is rounded to float32 before the float32 product x Phi(x).
"""
import argparse
import decimal
import json
import math
import os
import sys
from decimal import Decimal

import numpy as np

UNSUPPORTED = 77


def gemm(p, x, dtype):
    a = x["a"].astype(dtype)
    b = x["b"].astype(dtype)
    if p["trans_a"]:
        a = a.T
    if p["trans_b"]:
        b = b.T
    out = dtype(p["alpha"]) * (a @ b)
    if p["beta"] != 0:
        out = out + dtype(p["beta"]) * x["c"].astype(dtype)
    return {"out": out.astype(dtype).reshape(p["m"], p["n"])}


def softmax(p, x, dtype):
    v = x["x"].astype(dtype)
    z = v - v.max(axis=-1, keepdims=True)  # log-sum-exp shift: every exponent <= 0
    e = np.exp(z)
    return {"y": (e / e.sum(axis=-1, keepdims=True)).astype(dtype)}


def fft(p, x, dtype):
    y = np.fft.fft(x["x"].astype(np.complex128), axis=-1)
    if dtype == np.float32:
        y = y.astype(np.complex64).astype(np.complex128)
    return {"y": y}


def causal_conv(p, x, dtype):
    length, taps = p["length"], min(p["kernel_length"], p["length"])
    u = x["u"].astype(dtype)
    k = x["k"].astype(dtype)[:, :taps]
    n = 1
    while n < length + taps - 1:
        n *= 2
    y = np.fft.irfft(np.fft.rfft(u, n, axis=-1) * np.fft.rfft(k, n, axis=-1), n, axis=-1)[:, :length]
    return {"y": y.astype(dtype)}


# ---------------------------------------------------------------- row-wise kernels and activations
# PyTorch's definitions (torch.nn.functional): log_softmax, layer_norm (biased variance), RMSNorm
# (Zhang and Sennrich 2019), and the pointwise activations, each in a form without cancellation.


def log_softmax(p, x, dtype):
    v = x["x"].astype(dtype)
    z = v - v.max(axis=-1, keepdims=True)  # log-sum-exp shift: the largest exponent is 0, the sum is in [1, cols]
    return {"y": (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(dtype)}


def layer_norm(p, x, dtype):
    v = x["x"].astype(dtype)
    mean = v.mean(axis=-1)
    centered = v - mean[:, None]
    # Two-pass variance: mean((x - mean)^2), not mean(x^2) - mean^2 (which cancels for offset rows).
    rstd = 1 / np.sqrt(np.mean(centered * centered, axis=-1) + dtype(p["eps"]))
    y = centered * rstd[:, None] * x["gamma"].astype(dtype) + x["beta"].astype(dtype)
    return {"y": y.astype(dtype), "mean": mean.astype(dtype), "rstd": rstd.astype(dtype)}


def rms_norm(p, x, dtype):
    v = x["x"].astype(dtype)
    rstd = 1 / np.sqrt(np.mean(v * v, axis=-1) + dtype(p["eps"]))
    return {"y": (v * rstd[:, None] * x["gamma"].astype(dtype)).astype(dtype), "rstd": rstd.astype(dtype)}


def _sigmoid(v):
    # 1 / (1 + exp(-v)): for v << 0 exp(-v) overflows to inf and the quotient is 0, never NaN.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-v))


def _erfc_decimal(z):
    """erfc(z) for a Decimal z, evaluated in the caller's decimal context of 80 digits (numpy has no erf).

    0 <= z < 6: 1 - erf(z), erf by its Maclaurin series 2/sqrt(pi) sum_n (-1)^n z^(2n+1) / (n! (2n+1))
    (A&S 7.1.5); the alternating terms grow to ~exp(z^2) (16 digits at z = 6) and 1 - erf loses
    another -log10 erfc(z) (17 digits), so 80 working digits leave more than 40.
    z >= 6: Laplace's continued fraction (A&S 7.1.14) erfc(z) = exp(-z^2) / sqrt(pi) /
    (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...)))), 200 levels (converged far below 1e-30 there).
    z < 0: 2 - erfc(-z)."""
    if z < 0:
        return 2 - _erfc_decimal(-z)
    if z < 6:
        total, power, n = Decimal(0), z, 0          # power = (-1)^n z^(2n+1) / n!
        while True:
            term = power / (2 * n + 1)
            total += term
            if abs(term) <= Decimal("1e-75") * abs(total):
                break
            n += 1
            power = -power * z * z / n
        return 1 - 2 * total / _PI.sqrt()
    tail = Decimal(0)
    for level in range(200, 0, -1):
        tail = (Decimal(level) / 2) / (z + tail)
    return (-z * z).exp() / (_PI.sqrt() * (z + tail))


def _pi_decimal():
    """pi to 80 digits by Machin's formula 16 atan(1/5) - 4 atan(1/239), atan(1/m) by its series."""
    def atan_inverse(m):
        total, power, n = Decimal(0), Decimal(1) / m, 0     # power = (1/m)^(2n+1)
        while power > Decimal("1e-85"):
            total += (-1) ** n * power / (2 * n + 1)
            power /= m * m
            n += 1
        return total
    return 16 * atan_inverse(5) - 4 * atan_inverse(239)


_DIGITS = decimal.Context(prec=80)
with decimal.localcontext(_DIGITS):
    _PI = _pi_decimal()


def _gelu_scalar(x, dtype):
    """x Phi(x), Phi(x) = erfc(-x / sqrt(2)) / 2, for one float64 x, rounded once to float64.

    Why not math.erfc: for x << 0 erfc is steep (d ln erfc(z) / dz ~ -2 z), so the float64
    rounding of z = -x / sqrt(2) alone costs up to 2 z^2 eps relative (~400 ulp at x = -20), and
    even with z exact math.erfc is ~1-2 ulp: with the golden's own few ulp that exceeds the case's
    4 ulp. The erfc form (not (1 + erf) / 2) keeps Phi's relative accuracy for x << 0. In float32
    Phi is rounded to float32 and the product taken in float32."""
    with decimal.localcontext(_DIGITS):
        phi = _erfc_decimal(-Decimal(x) / Decimal(2).sqrt()) / 2
        if dtype == np.float32:
            return float(np.float32(x) * np.float32(float(phi)))
        return float(Decimal(x) * phi)


_gelu_array = np.vectorize(_gelu_scalar, otypes=[np.float64])


def _gelu(v):
    return _gelu_array(v.astype(np.float64), v.dtype.type).astype(v.dtype)


def _gelu_tanh(v):
    # (1 + tanh(z)) / 2 = sigmoid(2 z): the same function without 1 + tanh cancelling for x << 0.
    c = v.dtype.type(2 * math.sqrt(2 / math.pi))
    return v * _sigmoid(c * (v + v.dtype.type(0.044715) * v * v * v))


def _log_sigmoid(v):
    # log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)): exp never overflows.
    return np.minimum(v, 0) - np.log1p(np.exp(-np.abs(v)))


def _elu(v):
    # alpha 1: expm1 keeps relative accuracy for small negative x.
    return np.where(v > 0, v, np.expm1(np.minimum(v, 0)))


ACTIVATIONS = {
    "nn.relu": lambda v: np.maximum(v, 0),
    "nn.gelu": _gelu,
    "nn.gelu_tanh": _gelu_tanh,
    "nn.silu": lambda v: v * _sigmoid(v),
    "nn.sigmoid": _sigmoid,
    "nn.log_sigmoid": _log_sigmoid,
    "nn.tanh": np.tanh,
    "nn.softplus": lambda v: _softplus(v),            # the SSM section's: threshold 20, log1p(exp(x)) below
    "nn.elu": _elu,
}


def _activation(name):
    f = ACTIVATIONS[name]
    return lambda p, x, dtype: {"y": np.asarray(f(x["x"].astype(dtype))).astype(dtype)}


# ---------------------------------------------------------------- state-space family
# Written from docs/operators.md (sections "H3 layer", "S4D", "Mamba selective scan
# (S6)"), not from the C# code: the shift SSM and H3 use direct causal sums, S6 and the Mamba block
# the recurrence, SSD its dual (quadratic, attention-like) form with a stable segment sum.


def _softplus(v):
    # PyTorch's softplus (beta 1, threshold 20): v itself above 20, else log(1 + exp(v)).
    return np.where(v > 20, v, np.logaddexp(0, v)).astype(v.dtype)


def _silu(z):
    # z sigmoid(z) with sigmoid(z) = (1 + tanh(z / 2)) / 2: no overflow for large |z|.
    return z * (0.5 + 0.5 * np.tanh(0.5 * z))


def _causal_conv(u, k, d):
    """y[..., c, t] = sum_{j <= t} k[c, j] u[..., c, t - j] + d[c] u[..., c, t]; u [..., C, L], k [C, Lk], d [C]."""
    length = u.shape[-1]
    y = d[:, None] * u
    for j in range(min(k.shape[-1], length)):
        y[..., j:] += k[:, j:j + 1] * u[..., :length - j]
    return y


def _shift_taps(b, c):
    """k[c, m] = sum_n b[c, n] c[c, n + m]: the shift SSM's kernel C A^m B with A the shift matrix."""
    n = b.shape[-1]
    taps = np.zeros_like(b)
    for m in range(n):
        taps[:, m] = np.sum(b[:, :n - m] * c[:, m:], axis=1)
    return taps


def shift_ssm(p, x, dtype):
    b, c, d = (x[name].astype(dtype) for name in ("b", "c", "d"))
    taps = _shift_taps(b, c)
    return {"y": _causal_conv(x["u"].astype(dtype), taps, d), "taps": taps}


def _s4d_kernel(x, length, method, dtype):
    """K[h, l] = 2 Re sum_n C_n Bbar_n Abar_n^l, the power as exp(l log Abar)."""
    cdt = np.complex64 if dtype == np.float32 else np.complex128
    f = lambda name: x[name].astype(dtype)
    a = (-np.exp(f("log_neg_real_a")) + 1j * f("imag_a")).astype(cdt)
    b = (f("b_re") + 1j * f("b_im")).astype(cdt)
    c = (f("c_re") + 1j * f("c_im")).astype(cdt)
    delta = np.exp(f("log_delta"))[:, None]
    z = delta * a
    if method == "zoh":
        abar = np.exp(z)
        bbar = np.expm1(z) / a * b          # expm1: exp(z) - 1 would cancel for small |z|
    elif method == "bilinear":
        abar = (1 + z / 2) / (1 - z / 2)
        bbar = delta * b / (1 - z / 2)
    else:
        raise ValueError("discretization must be zoh or bilinear, got %r" % method)
    powers = np.exp(np.arange(length, dtype=dtype)[None, None, :] * np.log(abar)[:, :, None])
    return (2 * np.real(np.sum((c * bbar)[:, :, None] * powers, axis=1))).astype(dtype)


def h3(p, x, dtype):
    f = lambda name: x[name].astype(dtype)
    u = f("u")
    nb, length, dm = u.shape
    hd = p["head_dim"]
    heads = dm // hd
    # Affine projections, then channel-major [B, Dm, L].
    q, k, v = ((u @ f("w" + s).T + f("b" + s)).transpose(0, 2, 1) for s in "qkv")
    kbar = _causal_conv(k, _shift_taps(f("shift_b"), f("shift_c")), f("shift_d"))
    kbar = kbar.reshape(nb, heads, hd, length)
    v = v.reshape(nb, heads, hd, length)
    q = q.reshape(nb, heads, hd, length)
    # kv[b, d1, d2, h, l] = kbar[b, h, d1, l] v[b, h, d2, l]; the diagonal SSM of head h on every (d1, d2).
    kv = np.einsum("bhil,bhjl->bijhl", kbar, v)
    ys = _causal_conv(kv, _s4d_kernel(x, length, p["discretization"], dtype), f("d"))
    o = np.einsum("bhil,bijhl->bhjl", q, ys).reshape(nb, dm, length)   # channel h hd + d2 (head-major)
    return {"y": (o.transpose(0, 2, 1) @ f("wo").T + f("bo")).astype(dtype)}


def _selective_scan(u, delta, a_log, b, c, d, z, bias):
    """S6: u, delta, z [B, D, L]; a_log [D, N]; b, c [B, G, N, L]; d, bias [D] or None."""
    nb, channels, length = u.shape
    per_group = channels // b.shape[1]
    b = np.repeat(b, per_group, axis=1)          # [B, D, N, L]: channel d reads group d // (D / G)
    c = np.repeat(c, per_group, axis=1)
    dt = _softplus(delta + (bias[:, None] if bias is not None else 0))
    a = -np.exp(a_log)
    state = np.zeros(b.shape[:3], dtype=u.dtype)
    y = np.zeros_like(u)
    for t in range(length):
        state = np.exp(dt[:, :, t, None] * a) * state + (dt[:, :, t] * u[:, :, t])[:, :, None] * b[..., t]
        y[:, :, t] = np.sum(state * c[..., t], axis=-1)
    if d is not None:
        y = y + d[:, None] * u
    if z is not None:
        y = y * _silu(z)
    return y


def selective_scan(p, x, dtype):
    f = lambda name: x[name].astype(dtype) if name in x else None
    if not (p.get("complex", False) or p.get("initial_state", False) or p.get("return_last_state", False)
            or not p.get("delta_softplus", True)):
        return {"out": _selective_scan(f("u"), f("delta"), f("a_log"), f("b"), f("c"), f("d"), f("z"), f("delta_bias")).astype(dtype)}
    return _selective_scan_options(p, f, dtype)


def _selective_scan_options(p, f, dtype):
    """selective_scan_ref's options in numpy's complex arithmetic: A = -exp(a_log) + i a_imag, B and C
    complex, the state complex, y = 2 Re(sum_n C_n x_n) (selective_scan_ref's y.real * 2, C not
    conjugated); with delta_softplus false the step is delta + delta_bias itself; x0 the state before
    t = 0 ([B, D, N], or [B, D, N, 2] real and imaginary parts); last_state the state after the last step."""
    is_complex = p.get("complex", False)
    kind = (np.complex64 if dtype == np.float32 else np.complex128) if is_complex else dtype
    u, delta, z, d, bias = f("u"), f("delta"), f("z"), f("d"), f("delta_bias")
    pre = delta + (bias[:, None] if bias is not None else 0)
    dt = _softplus(pre) if p.get("delta_softplus", True) else pre
    a = -np.exp(f("a_log")).astype(kind)
    b, c = f("b").astype(kind), f("c").astype(kind)
    if is_complex:
        a = a + 1j * f("a_imag")
        b = b + 1j * f("b_imag")
        c = c + 1j * f("c_imag")
    per_group = u.shape[1] // b.shape[1]
    b, c = np.repeat(b, per_group, axis=1), np.repeat(c, per_group, axis=1)   # [B, D, N, L]
    state = np.zeros(u.shape[:2] + a.shape[1:], dtype=kind)
    x0 = f("x0")
    if x0 is not None:
        state = (x0[..., 0] + 1j * x0[..., 1]).astype(kind) if is_complex else x0.astype(kind)
    y = np.zeros(u.shape, dtype)
    for t in range(u.shape[2]):
        state = np.exp(dt[:, :, t, None] * a) * state + (dt[:, :, t] * u[:, :, t])[:, :, None] * b[..., t]
        readout = np.sum(state * c[..., t], axis=-1)
        y[:, :, t] = 2 * readout.real if is_complex else readout
    if d is not None:
        y = y + d[:, None] * u
    if z is not None:
        y = y * _silu(z)
    result = {"out": y.astype(dtype)}
    if p.get("return_last_state", False):
        result["last_state"] = (np.stack([state.real, state.imag], axis=-1) if is_complex else state).astype(dtype)
    return result


def mamba_block(p, x, dtype):
    f = lambda name: x[name].astype(dtype)
    u = f("u")
    nb, length, _ = u.shape
    e, n, r, kw = p["expand"] * p["width"], p["state_size"], p["dt_rank"], p["conv_width"]
    xz = u @ f("in_proj").T
    xs, z = xz[..., :e], xz[..., e:]
    # Depthwise causal conv: tap kw-1 weighs the current sample, zeros before the sequence.
    padded = np.concatenate([np.zeros((nb, kw - 1, e), dtype=dtype), xs], axis=1)
    w = f("conv_weight")
    conv = f("conv_bias") + sum(w[:, j] * padded[:, j:j + length, :] for j in range(kw))
    xa = _silu(conv)
    xdbl = xa @ f("x_proj").T
    delta = xdbl[..., :r] @ f("dt_proj").T
    lanes = lambda v: v.transpose(0, 2, 1)[:, None, :, :]     # [B, L, N] -> [B, 1, N, L]
    y = _selective_scan(xa.transpose(0, 2, 1), delta.transpose(0, 2, 1), f("a_log"), lanes(xdbl[..., r:r + n]),
                        lanes(xdbl[..., r + n:]), f("d"), z.transpose(0, 2, 1), f("dt_bias"))
    return {"y": (y.transpose(0, 2, 1) @ f("out_proj").T).astype(dtype)}


def _segment_sum(a):
    """out[..., t, s] = sum_{r = s+1..t} a[..., r] for s <= t, -inf above the diagonal.

    Each entry sums only its own segment (masked cumulative sum), never cum[t] - cum[s]: the
    difference of two long prefix sums would carry the rounding error of the whole prefix."""
    length = a.shape[-1]
    rows = np.arange(length)[:, None]
    cols = np.arange(length)[None, :]
    terms = np.where(rows > cols, a[..., :, None], 0)
    return np.where(rows >= cols, np.cumsum(terms, axis=-2), -np.inf)


def ssd(p, x, dtype):
    f = lambda name: x[name].astype(dtype) if name in x else None
    if p.get("discrete", False) or p.get("initial_state", False) or p.get("return_final_state", False):
        return _ssd_states(p, f, dtype)
    xs, b, c, d = f("x"), f("b"), f("c"), f("d")
    heads = xs.shape[2]
    per_group = heads // b.shape[2]
    b = np.repeat(b, per_group, axis=2)          # [B, L, H, N]: head h reads group h // (H / G)
    c = np.repeat(c, per_group, axis=2)
    bias = f("dt_bias")
    dt = _softplus(f("dt") + (bias if bias is not None else 0))     # [B, L, H]
    a = -np.exp(f("a_log"))
    # Dual form: T[b, h, t, s] = (c_t . b_s) exp(A_h sum_{r=s+1..t} Delta_r) Delta_s (s <= t).
    decay = np.exp(_segment_sum((dt * a).transpose(0, 2, 1)))        # [B, H, L, L]
    t = np.einsum("bthn,bshn->bhts", c, b) * decay * dt.transpose(0, 2, 1)[:, :, None, :]
    y = np.einsum("bhts,bshp->bthp", t, xs)
    if d is not None:
        y = y + d[:, None] * xs
    return {"y": y.astype(dtype)}


def _ssd_states(p, f, dtype):
    """SSD from an initial state s0 [B, H, P, N] with the final state as an output, and the discretized
    parametrization of ssd_minimal_discrete (x = X Delta, a = A Delta [B, L, H] given): the recurrence
    S_t = exp(a_t) S_{t-1} + x_t B_t^T, y_t = S_t C_t + D x_t, where the layer's form has a_t = Delta_t A_h
    and x_t = Delta_t X_t."""
    xs, b, c, d = f("x"), f("b"), f("c"), f("d")
    heads = xs.shape[2]
    per_group = heads // b.shape[2]
    b = np.repeat(b, per_group, axis=2)          # [B, L, H, N]
    c = np.repeat(c, per_group, axis=2)
    if p.get("discrete", False):
        log_decay, inputs = f("a"), xs
    else:
        bias = f("dt_bias")
        dt = _softplus(f("dt") + (bias if bias is not None else 0))     # [B, L, H]
        log_decay, inputs = dt * -np.exp(f("a_log")), xs * dt[..., None]
    state = f("s0") if p.get("initial_state", False) else np.zeros(xs.shape[:1] + xs.shape[2:] + b.shape[-1:], dtype)
    y = np.zeros_like(xs)
    for t in range(xs.shape[1]):
        state = np.exp(log_decay[:, t])[..., None, None] * state + inputs[:, t, :, :, None] * b[:, t, :, None, :]
        y[:, t] = np.einsum("bhpn,bhn->bhp", state, c[:, t])
    if d is not None:
        y = y + d[:, None] * xs
    result = {"y": y.astype(dtype)}
    if p.get("return_final_state", False):
        result["final_state"] = state.astype(dtype)
    return result


# ---------------------------------------------------------------- convolutions
# docs/operators.md, "Shared primitive: causal convolution with skip", "Long convolution",
# "Hyena", "S4D": conv.causal, conv.long and Hyena's long convolutions by direct causal sums; the two
# bidirectional conventions by the spectra docs/operators.md names (FFT of size 2L), a second representation.


def conv_causal(p, x, dtype):
    return {"y": _causal_conv(x["u"].astype(dtype), x["k"].astype(dtype), x["d"].astype(dtype)).astype(dtype)}


def conv_bidirectional(p, x, dtype):
    """conjugate: spectrum rfft(k) + conj(rfft(k_rev)), k_rev[0] on lag 0; pad_flip: kernel
    [k, 0..0] + [0..0, reverse(k_rev)], k_rev[0] on lag -1. n = 2L: lags -(L-1)..L-1 never wrap.
    numpy's FFT runs in float64; float32 outputs are rounded."""
    u = x["u"].astype(dtype)
    channels, length = u.shape
    n = 2 * length

    def padded(kernel):           # the first L taps, zero padded to L
        out = np.zeros((channels, length))
        taps = min(kernel.shape[1], length)
        out[:, :taps] = kernel[:, :taps]
        return out

    k, k_rev = padded(x["k"].astype(dtype)), padded(x["k_rev"].astype(dtype))
    if p["mode"] == "conjugate":
        spectrum = np.fft.rfft(k, n) + np.conj(np.fft.rfft(k_rev, n))
    elif p["mode"] == "pad_flip":
        spectrum = np.fft.rfft(np.concatenate([k, k_rev[:, ::-1]], axis=1), n)
    else:
        raise ValueError("mode must be conjugate or pad_flip, got %r" % p["mode"])
    y = np.fft.irfft(np.fft.rfft(u, n) * spectrum, n)[:, :length] + x["d"].astype(dtype)[:, None] * u
    return {"y": y.astype(dtype)}


def conv_flash_butterfly(p, x, dtype):
    """FlashButterfly (Fu, Epstein et al. 2023, Sec. 3.2) evaluates k * u + d u by a block FFT; here the
    same linear convolution by numpy's complex FFT: u and the first min(Lk, L) taps zero-padded to
    N = the smallest power of two >= L + taps - 1 (no circular wrap reaches t < L), then
    y = Re(ifft(fft(u) fft(k)))[:L] + d u. d is optional (absent: no skip); outputs are rounded to dtype."""
    u = x["u"].astype(dtype)                                  # [B, C, L]
    length = u.shape[-1]
    taps = min(p["kernel_length"], length)
    k = x["k"].astype(dtype)[:, :taps]                        # [C, taps]
    n = 1
    while n < length + taps - 1:
        n *= 2
    y = np.fft.ifft(np.fft.fft(u, n, axis=-1) * np.fft.fft(k, n, axis=-1), axis=-1).real[..., :length]
    if "d" in x:
        y = y + x["d"].astype(dtype)[:, None] * u
    return {"y": y.astype(dtype)}


def _butterfly_factors(n):
    """FlashButterfly's levels: while the length exceeds 16 take its largest divisor in [2, 16] (none: stop),
    divide; the remaining length is the dense base block."""
    factors = []
    while n > 16:
        m = next((f for f in range(16, 1, -1) if n % f == 0), 0)
        if m == 0:
            break
        factors.append(m)
        n //= m
    return factors + [n]


def _butterfly_transform(x, blocks):
    """Cooley-Tukey with given blocks (Fu, Epstein et al. 2023, Sec. 3.2-3.3): x [..., n] complex, blocks[0] [m, m].
    View x as m x q (x[q j1 + j2]), A = B X along j1, A[k1, j2] *= exp(-2 pi i j2 k1 / n), the rest of the blocks on
    every row of A, X[k1 + m k2] = A'[k1, k2]. One block left: y = B x."""
    b = blocks[0]
    n = x.shape[-1]
    if len(blocks) == 1:
        return x @ b.T
    m = b.shape[0]
    q = n // m
    a = np.einsum("kj,...jt->...kt", b, x.reshape(x.shape[:-1] + (m, q)))
    k1, j2 = np.meshgrid(np.arange(m), np.arange(q), indexing="ij")
    a = a * np.exp(-2j * np.pi * ((k1 * j2) % n) / n)
    inner = _butterfly_transform(a, blocks[1:])                    # [..., m (k1), q (k2)]
    return np.swapaxes(inner, -1, -2).reshape(x.shape)             # index k2 m + k1


def conv_flash_butterfly_learned(p, x, dtype):
    """FlashButterfly with learned blocks (Fu, Epstein et al. 2023, Sec. 3.3): u and the first min(Lk, L) taps
    zero-padded to N = the smallest power of two >= L + taps - 1, each transformed by its channel's block recursion
    (blocks [C, S, 2]: level l's f x f block at offset sum of earlier f^2, row-major, (re, im)), multiplied, back
    through numpy's exact inverse FFT: y = Re(ifft(F_c u F_c k))[:L] + d u. Outputs rounded to dtype."""
    u = x["u"].astype(dtype).astype(np.float64)
    length = u.shape[-1]
    taps = min(p["kernel_length"], length)
    k = x["k"].astype(dtype).astype(np.float64)[:, :taps]
    packed = x["blocks"].astype(dtype).astype(np.float64)
    n = 1
    while n < length + taps - 1:
        n *= 2
    factors = _butterfly_factors(n)
    y = np.zeros(u.shape)
    for c in range(k.shape[0]):
        blocks, offset = [], 0
        for f in factors:
            flat = packed[c, offset:offset + f * f]
            blocks.append((flat[:, 0] + 1j * flat[:, 1]).reshape(f, f))
            offset += f * f
        padded_u = np.zeros(u[..., c, :].shape[:-1] + (n,))
        padded_u[..., :length] = u[..., c, :]
        padded_k = np.zeros(n)
        padded_k[:taps] = k[c]
        spectrum = _butterfly_transform(padded_u.astype(complex), blocks) * _butterfly_transform(padded_k.astype(complex), blocks)
        y[..., c, :] = np.fft.ifft(spectrum, axis=-1).real[..., :length]
    if "d" in x:
        y = y + x["d"].astype(dtype).astype(np.float64)[:, None] * u
    return {"y": y.astype(dtype)}


def _smooth(w, window):
    """Moving average over the last axis: s[t] = sum_{|j - t| <= window // 2} w[j] / window (zeros outside)."""
    half = window // 2
    padded = np.concatenate([np.zeros(w.shape[:-1] + (half,), w.dtype), w, np.zeros(w.shape[:-1] + (half,), w.dtype)], axis=-1)
    return sum(padded[..., j:j + w.shape[-1]] for j in range(window)) / w.dtype.type(window)


def _squash(s, lam):
    """Soft threshold sign(s) max(|s| - lambda, 0)."""
    return np.sign(s) * np.maximum(np.abs(s) - s.dtype.type(lam), 0)


def conv_long(p, x, dtype):
    u = x["u"].astype(dtype)                                 # [B, H, L]
    kernel = _squash(_smooth(x["w"].astype(dtype), p["window"]), p["lambda"])   # [C, H, Lk]
    d = x["d"].astype(dtype)                                 # [C, H]
    copies = [_causal_conv(u, kernel[c], d[c]) for c in range(kernel.shape[0])]
    return {"y": np.concatenate(copies, axis=1).astype(dtype)}   # channel c H + h


def _hyena_filters(p, f, length, dtype):
    """h [Df, L]: the Sin-MLP of positional features on the l_max grid, times exp(-t |delta|), first L samples."""
    l_max, e = p["max_length"], p["embedding_dim"]
    width, df = p["filter_width"], (p["order"] - 1) * p["width"]
    t = np.linspace(0, 1, l_max).astype(dtype)[:, None]                     # t_k = k / (l_max - 1)
    bands = (e - 1) // 2
    omega = (2 * np.pi * np.arange(l_max) / l_max)[:, None]
    freqs = np.linspace(1e-4, bands - 1, bands)[None, :]
    z = np.concatenate([t, np.cos(freqs * omega).astype(dtype), -np.sin(freqs * omega).astype(dtype)], axis=1)  # [l_max, E]
    freq = f("freq")                                                        # one frequency vector for every Sin
    h = np.sin(freq * (z @ f("w0").reshape(width, e).T + f("b0")))
    h = np.sin(freq * (h @ f("w1").reshape(width, width).T + f("b1")))
    h = np.sin(freq * (h @ f("w2").reshape(width, width).T + f("b2")))
    h = h @ f("w3").reshape(df, width).T                                    # [l_max, Df]
    h = h * np.exp(-t * np.abs(f("deltas")))                                # exponential window
    return h[:length].T


def conv_hyena(p, x, dtype):
    """Hyena (Poli et al. 2023, Def. 3.1) with safari's HyenaOperator conventions: in_proj, 3-tap
    depthwise causal conv (tap 2 on the current token), x_0..x_{N-1}, v; for o = 0..N-2 the gate
    x_{N-1-o} then long filter o plus bias; y = v x_0; out_proj."""
    f = lambda name: x[name].astype(dtype)
    u = f("u")
    nb, length, dm = u.shape
    order = p["order"]
    inner = (order + 1) * dm
    s = (u @ f("in_w").reshape(inner, dm).T + f("in_b")).transpose(0, 2, 1)       # [B, (N+1)D, L]
    w = f("short_w").reshape(inner, 3)
    padded = np.concatenate([np.zeros((nb, inner, 2), dtype), s], axis=2)
    s = sum(w[:, j, None] * padded[:, :, j:j + length] for j in range(3)) + f("short_b")[:, None]
    gates = [s[:, i * dm:(i + 1) * dm] for i in range(order)]
    v = s[:, order * dm:]
    h = _hyena_filters(p, f, length, dtype)
    bias = f("filter_bias")
    for o in range(order - 1):
        v = v * gates[order - 1 - o]
        v = _causal_conv(v, h[o * dm:(o + 1) * dm], bias[o * dm:(o + 1) * dm])
    y = (v * gates[0]).transpose(0, 2, 1)
    return {"y": (y @ f("out_w").reshape(dm, dm).T + f("out_b")).astype(dtype)}


def s4d(p, x, dtype):
    kernel = _s4d_kernel(x, p["length"], p["discretization"], dtype)
    return {"y": _causal_conv(x["u"].astype(dtype), kernel, x["d"].astype(dtype)).astype(dtype), "kernel": kernel}


def _fft_causal_conv(u, k, d):
    """fftconv_h3_ref's convolution: rfft of size 2L of u [..., C, L] and of the first L taps of k [C, Lk], irfft, first L;
    plus d[C] u (d None: no skip). numpy's FFT runs in float64."""
    length = u.shape[-1]
    n = 2 * length
    y = np.fft.irfft(np.fft.rfft(u.astype(np.float64), n) * np.fft.rfft(k[:, :length].astype(np.float64), n), n)[..., :length]
    return y if d is None else y + d[:, None] * u


def ssm_h3_inner(p, x, dtype):
    """H3's inner op with given kernels (Fu, Dao et al. 2023, Algorithm 1; fftconv_h3_ref): kbar = shift_k * k + shift_d k,
    kv = per-head outer products kbar_d1 v_d2, ys = ssm_k * kv + d kv, y = sum over d1 of q_d1 ys. Outputs rounded to dtype."""
    f = lambda name: x[name].astype(dtype) if name in x else None
    q, k, v = f("q"), f("k"), f("v")
    nb, dm, length = q.shape
    hd = p["head_dim"]
    heads = dm // hd
    if "shift_k" in x:
        k = _fft_causal_conv(k, f("shift_k"), f("shift_d"))
    kh = k.reshape(nb, heads, hd, length)
    vh = v.reshape(nb, heads, hd, length)
    kv = np.einsum("bhil,bhjl->bijhl", kh, vh)                    # [B, d1, d2, H, L]
    ys = _fft_causal_conv(kv, f("ssm_k"), f("d"))
    y = np.einsum("bhil,bijhl->bhjl", q.reshape(nb, heads, hd, length), ys)
    return {"y": y.reshape(nb, dm, length).astype(dtype)}


def _safari_cooley_tukey(k, n, m, mat):
    """safari's _cooley_tukey (block_fft.py) on k [..., H, m n]: view (m, n); mat(m) [Hb, m, m] on the m axis (Hb broadcast
    against H); the (n, m) twiddles exp(-2 pi i a b / (m n)) on the transpose; then mat(n) (n <= 16) or, with the
    m axis moved in front of H ('... h n m -> ... m h n'), the recursion with 16-point blocks; flattened (n m)."""
    grid = k.reshape(k.shape[:-1] + (m, n))
    kf = np.einsum("...mo,...on->...mn", mat(m), grid)
    a = np.arange(n)[:, None]
    b = np.arange(m)[None, :]
    twiddle = np.exp(-2j * np.pi * ((a * b) % (n * m)) / (n * m))
    kf = np.einsum("nm,...mn->...nm", twiddle, kf)
    if n <= 16:
        kf = np.einsum("...no,...om->...nm", mat(n), kf)
    else:
        kf = np.moveaxis(_safari_cooley_tukey(np.moveaxis(kf, -1, -3), n // 16, 16, mat), -3, -1)
    return kf.reshape(kf.shape[:-2] + (n * m,))


def conv_block_fft(p, x, dtype):
    """safari's BlockFFT (Fu, Epstein et al. 2023, Sec. 3.2-3.3; block_fft.py): N = the power of two >= n, x zero-padded,
    16-point levels then the rest, mat_f per block size (absent: the exact DFT matrix), [Hb, f, f] broadcast over channels;
    inverse = conj(F(conj x)) / N. Complex128 throughout; y [B, H, N, 2] rounded to dtype."""
    xr = x["x_re"].astype(dtype).astype(np.float64)
    xc = xr + 1j * (x["x_im"].astype(dtype).astype(np.float64) if "x_im" in x else 0)
    nb, h, length = xc.shape
    n = 1
    while n < p["n"]:
        n *= 2
    mats = {}
    for f in (2, 4, 8, 16):
        name = "mat_%d" % f
        if name in x:
            v = x[name].astype(dtype).astype(np.float64)
            mats[f] = v[..., 0] + 1j * v[..., 1]
        else:
            idx = np.arange(f)
            mats[f] = np.exp(-2j * np.pi * np.outer(idx, idx) / f)[None]
    inverse = p.get("inverse", False)
    v = np.zeros((nb, h, n), complex)
    v[..., :length] = np.conj(xc) if inverse else xc
    if n <= 16:
        y = np.einsum("...so,...o->...s", mats[n], v)
    else:
        y = _safari_cooley_tukey(v, n // 16, 16, lambda f: mats[f])
    if inverse:
        y = np.conj(y) / n
    return {"y": np.stack([y.real, y.imag], axis=-1).astype(dtype)}


def conv_hyena_filter(p, x, dtype):
    """safari's HyenaFilter (Poli et al. 2023, Sec. 3.3; hyena.py): z = PositionalEmbedding(l_max)[:L] (or the given z),
    implicit_filter = Linear(E, F) Sin, n x (Linear(F, F) Sin), Linear(F, D, no bias) with one Sin frequency; then
    ExponentialModulation x * (exp(-t |deltas|) + shift) when modulate (deltas = linspace(ln(target)/slow, ln(target)/fast, D)
    unless given); optional L1 normalization over the channel axis; y = fftconv_ref(u, h, bias) (bias off: 0 * bias)."""
    f = lambda name: x[name].astype(dtype)
    u = f("u")
    length, l_max, e = u.shape[-1], p["max_length"], p["embedding_dim"]
    width, d = p["filter_width"], p["width"]
    inner = p.get("num_inner_mlps", 2)
    t = np.linspace(0, 1, l_max)[:, None]
    if "z" in x:
        z = f("z").reshape(l_max, e)
    else:
        bands = (e - 1) // 2
        w = 2 * math.pi * np.linspace(0, l_max - 1, l_max)[:, None] / l_max
        fr = np.linspace(1e-4, bands - 1, bands)[None, :]
        zc = np.exp(-1j * fr * w)
        z = np.concatenate([t, zc.real, zc.imag], axis=1)
    z, t = z[:length].astype(dtype), t[:length].astype(dtype)
    freq = f("freq")
    h = np.sin(freq * (z @ f("w0").reshape(width, e).T + f("b0")))
    for i in range(inner):
        h = np.sin(freq * (h @ f("inner_w")[i].T + f("inner_b")[i]))
    h = h @ f("w_out").reshape(d, width).T                                  # [L, D]
    if p.get("modulate", True):
        if "deltas" in x:
            deltas = f("deltas")
        else:
            target = p.get("target", 1e-2)
            deltas = np.linspace(math.log(target) / p.get("slow_decay_pct", 1.5), math.log(target) / p.get("fast_decay_pct", 0.3), d)
        h = h * (np.exp(-t * np.abs(deltas)) + p.get("shift", 0.0))
    if p.get("normalized", False):
        h = h / np.sum(np.abs(h), axis=-1, keepdims=True)
    k = np.ascontiguousarray(h.T.astype(dtype))                             # [D, L], C order for the .npy
    bias = f("bias") if p.get("bias", True) else np.zeros(d, dtype)
    n = 2 * length
    y = np.fft.irfft(np.fft.rfft(u.astype(np.float64), n) * np.fft.rfft(k.astype(np.float64), n), n)[..., :length] + bias[:, None] * u
    return {"y": y.astype(dtype), "h": k}


def ssm_s4d_state(p, x, dtype):
    """S4D from a given state (Gu et al. 2022, Sec. 3.1): the recurrence x_t = Abar x_(t-1) + Bbar u_t, y_t = 2 Re(C x_t) + D u_t
    run token by token from x_0 = state_re + i state_im (absent: 0); returns y and the final modes (re, im)."""
    cdt = np.complex64 if dtype == np.float32 else np.complex128
    f = lambda name: x[name].astype(dtype)
    u = f("u")                                                       # [B, H, L]
    a = (-np.exp(f("log_neg_real_a")) + 1j * f("imag_a")).astype(cdt)
    b = (f("b_re") + 1j * f("b_im")).astype(cdt)
    c = (f("c_re") + 1j * f("c_im")).astype(cdt)
    delta = np.exp(f("log_delta"))[:, None]
    z = delta * a
    if p["discretization"] == "zoh":
        abar, bbar = np.exp(z), np.expm1(z) / a * b
    else:
        abar, bbar = (1 + z / 2) / (1 - z / 2), delta * b / (1 - z / 2)
    state = np.zeros(u.shape[:2] + (a.shape[1],), cdt)
    if "state_re" in x:
        state = state + f("state_re")
    if "state_im" in x:
        state = state + 1j * f("state_im")
    y = np.zeros(u.shape, dtype)
    for t in range(u.shape[-1]):
        state = abar * state + bbar * u[..., t:t + 1]
        y[..., t] = 2 * np.real(np.sum(c * state, axis=-1)) + f("d") * u[..., t]
    return {"y": y.astype(dtype), "final_state_re": state.real.astype(dtype), "final_state_im": state.imag.astype(dtype)}


def conv_block_fft_conv(p, x, dtype):
    """safari's LongConv with block_fft_conv (long_conv.py): k_f = block_fft_k(k, N), u_f = block_fft_u(u, N), N = the power of two
    >= Lk + L, y = ifft(u_f k_f)[:L].real + d u (torch.fft.ifft: the exact inverse). Each BlockFFT is conv_block_fft with its own
    mat_f inputs (absent: exact). Outputs rounded to dtype."""
    u = x["u"].astype(dtype).astype(np.float64)
    k = x["k"].astype(dtype).astype(np.float64)
    length, taps = u.shape[-1], k.shape[-1]
    n = length + taps

    def transform(v, prefix):
        inputs = {"x_re": v}
        for f in (2, 4, 8, 16):
            if "%s_%d" % (prefix, f) in x:
                inputs["mat_%d" % f] = x["%s_%d" % (prefix, f)]
        out = conv_block_fft({"n": n}, inputs, np.float64)["y"]
        return out[..., 0] + 1j * out[..., 1]

    spectrum = transform(u, "mat_u") * transform(k[None], "mat_k")
    y = np.fft.ifft(spectrum, axis=-1).real[..., :length]
    if "d" in x:
        y = y + x["d"].astype(dtype).astype(np.float64)[:, None] * u
    return {"y": y.astype(dtype)}


# ---------------------------------------------------------------- attention and linear recurrences
# docs/operators.md, "Softmax attention", "Linear attention and gated linear attention";
# layout [B, H, L, X]. Softmax attention by its masked score matrix; linear, decayed linear and
# gated linear attention by their recurrences (state S [B, H, K, V] carried over t), the other
# representation than the golden's parallel T[t, s].


def attention_softmax(p, x, dtype):
    """Query head h reads kv head h // (Hq / Hkv); key s is visible from t when s <= t and, with a
    window W > 0, t - s < W (flash-attn's window (W - 1, 0)); every key when causal is false; scale
    params.scale, or K^-1/2 when absent or 0. Forget gate (Forgetting Transformer eq. 5, params.gate):
    the logit of key s at query t gains gate_scale times the sum of g over the positions between them,
    sum_{s < r <= t} g_r (minus sum_{t < r <= s} g_r for a later key), summed here segment by segment.
    Sinks (params.sinks): one more column of the score matrix holding the head's sink logit, softmaxed
    with the keys and then dropped (it carries no value). max_logit and lse are that extended row's
    maximum and log-sum-exp."""
    q, k, v = (x[name].astype(dtype) for name in ("q", "k", "v"))
    per_kv = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, per_kv, axis=1), np.repeat(v, per_kv, axis=1)
    nb, heads, length, kd = q.shape
    scale = p.get("scale", 0) or kd ** -0.5
    lag = np.arange(length)[:, None] - np.arange(length)[None, :]        # t - s
    if p.get("causal", True):
        visible = (lag >= 0) & ((lag < p["window"]) if p["window"] > 0 else True)
    else:
        visible = np.ones((length, length), dtype=bool)
    scores = (q @ k.transpose(0, 1, 3, 2)) * dtype(scale)
    if p.get("gate", False):
        g = x["g"].astype(dtype)                                          # [B, H, L]
        between = np.zeros((nb, heads, length, length), dtype)
        for t in range(length):
            for s in range(length):
                if s < t:
                    between[:, :, t, s] = g[:, :, s + 1:t + 1].sum(axis=-1)
                elif s > t:
                    between[:, :, t, s] = -g[:, :, t + 1:s + 1].sum(axis=-1)
        scores = scores + dtype(p.get("gate_scale", 1.0)) * between
    scores = np.where(visible, scores, -np.inf)
    if p.get("sinks", False):
        sink = np.broadcast_to(x["sinks"].astype(dtype)[None, :, None, None], (nb, heads, length, 1))
        scores = np.concatenate([scores, sink], axis=-1)
        v = np.concatenate([v, np.zeros((nb, heads, 1, v.shape[-1]), dtype)], axis=2)   # the sink's value is 0
    top = scores.max(axis=-1, keepdims=True)                              # log-sum-exp shift (t = s always visible)
    e = np.exp(scores - top)
    total = e.sum(axis=-1, keepdims=True)
    result = {"out": ((e / total) @ v).astype(dtype)}
    if p.get("stats", False):
        result["max_logit"] = top[..., 0].astype(dtype)
        result["lse"] = (top + np.log(total))[..., 0].astype(dtype)
    return result


def _feature_map(name, v):
    if name == "identity":
        return v
    if name == "relu":
        return np.maximum(v, 0)
    if name == "elu1":
        return np.where(v > 0, v + 1, np.exp(np.minimum(v, 0)))         # elu(x) + 1
    if name == "taylor":
        # Based's second-order Taylor map: phi(q).phi(k) = 1 + q.k / sqrt(K) + (q.k)^2 / (2 K).
        kd = v.shape[-1]
        outer = (v[..., :, None] * v[..., None, :]).reshape(v.shape[:-1] + (kd * kd,))
        return np.concatenate([np.ones(v.shape[:-1] + (1,), v.dtype), v / v.dtype.type(kd ** 0.25),
                               outer / v.dtype.type(math.sqrt(2 * kd))], axis=-1)
    raise ValueError("map must be identity, elu1, relu or taylor, got %r" % name)


def attention_linear(p, x, dtype):
    """S_t = S_{t-1} + phi(k_t) v_t^T, z_t = z_{t-1} + phi(k_t); o_t = S_t^T (c phi(q_t)), divided by
    c phi(q_t) . z_t + eps when normalising. The query scale c and eps are the case's params (op
    version 2): c = F^-1/2 for identity, relu, elu1 and 1 for taylor (its map carries the 1/sqrt(K)
    already), eps = 1e-10 (fla's)."""
    fq, fk = _feature_map(p["map"], x["q"].astype(dtype)), _feature_map(p["map"], x["k"].astype(dtype))
    v = x["v"].astype(dtype)
    scale = dtype(p["scale"])
    nb, heads, length, features = fq.shape
    state = np.zeros((nb, heads, features, v.shape[-1]), dtype)
    keys = np.zeros((nb, heads, features), dtype)
    if p.get("initial_state", False):
        # s0 = S, or [S | z] (the key sum in the last column) when normalising.
        s0 = x["s0"].astype(dtype)
        state = s0[..., :v.shape[-1]].copy()
        if p["normalize"]:
            keys = s0[..., -1].copy()
    out = np.zeros_like(v)
    for t in range(length):
        state += fk[:, :, t, :, None] * v[:, :, t, None, :]
        keys += fk[:, :, t]
        query = scale * fq[:, :, t]
        out[:, :, t] = np.einsum("bhf,bhfv->bhv", query, state)
        if p["normalize"]:
            out[:, :, t] /= (np.sum(query * keys, axis=-1) + dtype(p["eps"]))[..., None]
    result = {"out": out.astype(dtype)}
    if p.get("return_final_state", False):
        result["final_state"] = (np.concatenate([state, keys[..., None]], axis=-1) if p["normalize"] else state).astype(dtype)
    return result


def _gated_recurrence(q, k, v, log_gate):
    """S_t = Diag(exp(g_t)) S_{t-1} + k_t v_t^T, o_t = S_t^T (K^-1/2 q_t); g [B, H, L, K] or broadcastable."""
    nb, heads, length, kd = q.shape
    scale = q.dtype.type(kd ** -0.5)
    state = np.zeros((nb, heads, kd, v.shape[-1]), q.dtype)
    out = np.zeros_like(v)
    for t in range(length):
        state = np.exp(log_gate[:, :, t])[..., None] * state + k[:, :, t, :, None] * v[:, :, t, None, :]
        out[:, :, t] = np.einsum("bhk,bhkv->bhv", scale * q[:, :, t], state)
    return out


def attention_decayed_linear(p, x, dtype):
    q, k, v = (x[name].astype(dtype) for name in ("q", "k", "v"))
    log_lambda = x["log_lambda"].astype(dtype)                            # [H, K], the same decay at every t
    gate = np.broadcast_to(log_lambda[None, :, None, :], q.shape)
    return {"out": _gated_recurrence(q, k, v, gate).astype(dtype)}


def recurrence_gla(p, x, dtype):
    q, k, v, g = (x[name].astype(dtype) for name in ("q", "k", "v", "g"))
    if p.get("initial_state", False) or p.get("return_final_state", False):
        return _gla_states(p, x, q, k, v, g, dtype)
    return {"out": _gated_recurrence(q, k, v, np.broadcast_to(g, q.shape)).astype(dtype)}   # scalar gate: [..., 1] over K


def _gla_states(p, x, q, k, v, g, dtype):
    """GLA from an initial state s0 [B, H, K, V] (fla's initial_state) with the final state as an output: the
    parallel form plus the decayed initial state, o_t = sum_{s <= t} (scale q_t o exp(G_t - G_s)) . k_s v_s
    + (scale q_t o exp(G_t))^T s0, G = cumsum g over time; the final state exp(G_L) o s0 + sum_s (k_s o
    exp(G_L - G_s)) v_s^T."""
    nb, heads, length, kd = q.shape
    scale = dtype(kd ** -0.5)
    cum = np.cumsum(np.broadcast_to(g, q.shape), axis=2)                  # G [B, H, L, K]
    s0 = x["s0"].astype(dtype) if p.get("initial_state", False) else np.zeros((nb, heads, kd, v.shape[-1]), dtype)
    out = np.einsum("bhtk,bhkv->bhtv", scale * q * np.exp(cum), s0)
    for t in range(length):
        weights = np.einsum("bhk,bhsk->bhs", scale * q[:, :, t], k[:, :, :t + 1] * np.exp(cum[:, :, t:t + 1] - cum[:, :, :t + 1]))
        out[:, :, t] += np.einsum("bhs,bhsv->bhv", weights, v[:, :, :t + 1])
    result = {"out": out.astype(dtype)}
    if p.get("return_final_state", False):
        last = cum[:, :, -1:]
        result["final_state"] = (np.exp(last[:, :, 0])[..., None] * s0
                                 + np.einsum("bhsk,bhsv->bhkv", k * np.exp(last - cum), v)).astype(dtype)
    return result


# ---------------------------------------------------------------- effective state size
# docs/ess.md, "Definition": per split s = 1..L-1 the singular values of H_s = T[s:L, 0:s].


def _split_singular_values(t):
    """Yields (channel, s, sigma descending) for every channel of t [C, L, L] and split s."""
    channels, length, _ = t.shape
    for c in range(channels):
        for s in range(1, length):
            yield c, s, np.linalg.svd(t[c, s:, :s], compute_uv=False)


def ess_tolerance(p, x, dtype):
    """#{m : sigma_m > cut}, cut = tau sigma_1 (relative) or tau (absolute)."""
    t = x["t"].astype(dtype)
    ess = np.zeros((t.shape[0], t.shape[1] - 1), dtype)
    for c, s, sigma in _split_singular_values(t):
        cut = p["tau"] * sigma[0] if p["relative"] else p["tau"]
        ess[c, s - 1] = np.count_nonzero(sigma > cut)
    return {"ess": ess}


def ess_entropy(p, x, dtype):
    """exp(-sum_m p_m ln p_m), p_m = sigma_m / sum sigma (L1 normalisation, 0 ln 0 = 0); 0 when H_s = 0."""
    t = x["t"].astype(dtype)
    ess = np.zeros((t.shape[0], t.shape[1] - 1), dtype)
    for c, s, sigma in _split_singular_values(t):
        total = sigma.sum()
        if total == 0:
            continue
        prob = sigma[sigma > 0] / total
        ess[c, s - 1] = np.exp(-np.sum(prob * np.log(prob)))
    return {"ess": ess}



# Differentiable connectomics (hypercoil semantics: x [..., V, T], statistics over the last axis).
# Written from the definitions: weighted moments as numpy.cov's aweights generalize to a coupling
# matrix M, matrix functions by numpy.linalg.eigh, least squares by numpy.linalg.solve.

def _weight_matrix(x, t, dtype):
    w = x.get("weight")
    if w is None:
        return np.eye(t, dtype=dtype)
    w = w.astype(dtype)
    return np.diag(w) if w.ndim == 1 else w


def _connectome_cov(p, x, dtype):
    """S = X0 M X0^T / f + l2 I, X0 = x - x (M 1 / W), W = 1^T M 1, f = W - ddof |M^T 1|^2 / W."""
    series = x["x"].astype(dtype)
    m = _weight_matrix(x, series.shape[-1], dtype)
    total = m.sum()
    centred = series - (series @ (m.sum(axis=1) / total))[..., None]
    colsum = m.sum(axis=0)
    f = total - p["ddof"] * (colsum @ colsum) / total
    s = centred @ m @ np.swapaxes(centred, -1, -2) / f
    return s + dtype(p["l2"]) * np.eye(s.shape[-1], dtype=dtype)


def _normalize_correlation(s):
    d = np.sqrt(np.diagonal(s, axis1=-2, axis2=-1))
    return s / (d[..., :, None] * d[..., None, :])


def connectomics_covariance(p, x, dtype):
    return {"cov": _connectome_cov(p, x, dtype).astype(dtype)}


def connectomics_correlation(p, x, dtype):
    return {"corr": _normalize_correlation(_connectome_cov(p, x, dtype)).astype(dtype)}


def connectomics_partial_correlation(p, x, dtype):
    """-P_ij / sqrt(P_ii P_jj) off the diagonal (1 on it), P = S^-1."""
    prec = np.linalg.inv(_connectome_cov(p, x, dtype))
    n = prec.shape[-1]
    flipped = np.where(np.eye(n, dtype=bool), prec, -prec)
    return {"pcorr": _normalize_correlation(flipped).astype(dtype)}


def _symmetric_function(a, f):
    lam, q = np.linalg.eigh((a + np.swapaxes(a, -1, -2)) / 2)
    return (q * f(lam)[..., None, :]) @ np.swapaxes(q, -1, -2)


def connectomics_tangent_projection(p, x, dtype):
    """log(O^-1/2 X O^-1/2)."""
    w = _symmetric_function(x["reference"].astype(dtype), lambda l: 1 / np.sqrt(l))
    return {"tangent": _symmetric_function(w @ x["x"].astype(dtype) @ w, np.log).astype(dtype)}


def connectomics_residualize(p, x, dtype):
    """R = y - beta^T X with (X X^T + l2^2 I) beta = X y^T."""
    y = x["y"].astype(dtype)
    conf = x["confounds"].astype(dtype)
    gram = conf @ conf.T + dtype(p["l2"]) ** 2 * np.eye(conf.shape[0], dtype=dtype)
    beta = np.linalg.solve(gram, conf @ np.swapaxes(y, -1, -2))
    return {"residual": (y - np.swapaxes(beta, -1, -2) @ conf).astype(dtype)}


def connectomics_soft_atlas(p, x, dtype):
    """parcels = (A / A.sum(1)) x with A = softmax over parcels (axis 0) of the logits."""
    theta = x["logits"].astype(dtype)
    e = np.exp(theta - theta.max(axis=0, keepdims=True))
    a = e / e.sum(axis=0, keepdims=True)
    return {"parcels": ((a / a.sum(axis=1, keepdims=True)) @ x["x"].astype(dtype)).astype(dtype)}
def connectomics_precision(p, x, dtype):
    """P = S^-1, S the weighted covariance (with its ridge)."""
    return {"prec": np.linalg.inv(_connectome_cov(p, x, dtype)).astype(dtype)}


def connectomics_cone_projection(p, x, dtype):
    """O^1/2 exp(T) O^1/2, the inverse of the tangent projection."""
    root = _symmetric_function(x["reference"].astype(dtype), np.sqrt)
    return {"x": (root @ _symmetric_function(x["t"].astype(dtype), np.exp) @ root).astype(dtype)}


def connectomics_spd_projection(p, x, dtype):
    """Eigenvalues of the symmetric part clamped below at eps."""
    eps = dtype(p["eps"])
    return {"spd": _symmetric_function(x["a"].astype(dtype), lambda l: np.maximum(l, eps)).astype(dtype)}


def connectomics_spd_mean(p, x, dtype):
    """Euclidean, harmonic, log-Euclidean or geometric (Karcher fixed point, fixed step count) mean over axis 0."""
    mats = x["x"].astype(dtype)
    kind = p["mean"]
    if kind == "euclidean":
        m = mats.mean(axis=0)
    elif kind == "harmonic":
        m = np.linalg.inv(np.linalg.inv(mats).mean(axis=0))
    elif kind == "log_euclidean":
        m = _symmetric_function(_symmetric_function(mats, np.log).mean(axis=0), np.exp)
    elif kind == "geometric":
        m = mats.mean(axis=0)
        for _ in range(p["iterations"]):
            root = _symmetric_function(m, np.sqrt)
            inv_root = _symmetric_function(m, lambda l: 1 / np.sqrt(l))
            step = _symmetric_function(inv_root @ mats @ inv_root, np.log).mean(axis=0)
            m = root @ _symmetric_function(step, np.exp) @ root
    else:
        raise ValueError(f"mean = {kind!r}")
    return {"mean": m.astype(dtype)}


def connectomics_modularity(p, x, dtype):
    """Girvan-Newman modularity matrix B = A - gamma k k'^T / 2m and Q = <B, C C^T> / 2m (diagonal of C C^T optionally zeroed)."""
    a = x["adjacency"].astype(dtype)
    c = x["assignment"].astype(dtype)
    two_m = a.sum()
    b = a - dtype(p["gamma"]) * np.outer(a.sum(axis=1), a.sum(axis=0)) / two_m
    h = c @ c.T
    if p["exclude_diagonal"]:
        np.fill_diagonal(h, 0)
    return {"q": np.asarray((b * h).sum() / two_m, dtype=dtype), "modularity_matrix": b.astype(dtype)}


def connectomics_product_filter(p, x, dtype):
    """irfft(w * rfft(x), T) over the last axis; w given (re + i im) or the ideal band mask on the rfft frequencies k / (T dt)."""
    series = x["x"].astype(dtype)
    t = series.shape[-1]
    if p["mask"] == "ideal":
        freq = np.arange(t // 2 + 1) / (t * p["dt"])
        w = ((freq >= p["low"]) & (freq <= p["high"])).astype(np.float64)
    else:
        w = x["re"].astype(np.float64) + 1j * x["im"].astype(np.float64)
        if p["mask"] == "amplitude_atanh":
            # hypercoil's amplitude-tanh image of the learned preimage: amplitude tanh(|p|), phase of p.
            w = np.tanh(np.abs(w)) * np.exp(1j * np.angle(w))
    return {"y": np.fft.irfft(w * np.fft.rfft(series.astype(np.float64), axis=-1), n=t, axis=-1).astype(dtype)}


def connectomics_loss(p, x, dtype):
    """Scalar regularizers (means as in hypercoil's loss functions, squared equilibrium deviation, no eps, no thresholds)."""
    a = x["a"].astype(dtype)
    kind = p["kind"]
    if kind == "entropy":
        logs = np.log(np.where(a > 0, a, 1))
        val = -(a * logs).sum() / a.shape[0]
    elif kind == "equilibrium":
        mass = a.mean(axis=1)
        val = ((mass - mass.mean()) ** 2).mean()
    elif kind == "compactness":
        coords = x["coords"].astype(dtype)
        centre = a @ coords / a.sum(axis=1, keepdims=True)
        dist = np.linalg.norm(coords[None, :, :] - centre[:, None, :], axis=-1)
        val = (a * dist).mean()
    elif kind == "second_moment":
        series = x["b"].astype(dtype)
        mass = a.sum(axis=1, keepdims=True)
        mu = a @ series / mass
        spread = (a[:, :, None] * (series[None, :, :] - mu[:, None, :]) ** 2).sum(axis=1) / mass
        val = spread.mean()
    elif kind == "log_det":
        val = -np.linalg.slogdet((a + a.T) / 2)[1]
    elif kind == "qcfc":
        fc = a - a.mean(axis=0)
        qc = x["b"].astype(dtype)
        qc = qc - qc.mean()
        r = (qc @ fc) / np.sqrt((fc ** 2).sum(axis=0) * (qc @ qc))
        val = np.abs(r).mean()
    else:
        raise ValueError(f"kind = {kind!r}")
    return {"loss": np.asarray(val, dtype=dtype)}


def monarch_multiply(p, x, dtype):
    """Monarch (Dao et al. 2022, Def. 3.1; shapes as in shared/spec/operators.md): y = P2 BlockDiag(w2) P1 BlockDiag(w1) x.
    x [B, K P] is cut into K blocks of P; block i is multiplied by w1[i] [Q, P]; the K Q vector is read as an
    R x L grid and transposed (P1); L blocks of R are multiplied by w2[l] [S, R]; the L S vector is read as an
    L x S grid and transposed (P2)."""
    k, q, pp, l, s, r = (p[name] for name in ("k", "q", "p", "l", "s", "r"))
    if p.get("complex", False):
        kind = np.complex64 if dtype == np.float32 else np.complex128
    else:
        kind = dtype
    w1, w2, v = (x[name].astype(kind) for name in ("w1", "w2", "x"))
    batch = v.shape[0]
    h = np.einsum("iqp,bip->biq", w1, v.reshape(batch, k, pp)).reshape(batch, r, l)
    z = np.transpose(h, (0, 2, 1))
    g = np.einsum("lsr,blr->bls", w2, z)
    y = np.transpose(g, (0, 2, 1)).reshape(batch, s * l)
    if p.get("complex", False):
        return {"y": y.astype(np.complex128)}
    return {"y": y.astype(dtype)}



def monarch_causal_conv(p, x, dtype):
    """Causal M2 with the monomial basis (shared/spec/operators.md): the digit-wise causal convolution
    y[i] = sum over j with every base-b digit j_a <= i_a of k[i - j] u[j]. Computed as a p-dimensional
    linear convolution: the sequences padded to b^p are reshaped to p axes of b (digit 0 last), zero
    padded to 2b per axis (no wrap-around), multiplied in numpy's n-dimensional FFT domain, and the
    first b entries of every axis read back. float32 outputs are rounded (numpy's FFT is float64)."""
    b, digits = p["block"], p["digits"]
    n = b ** digits
    u, k = x["u"].astype(dtype), x["k"].astype(dtype)
    nb, channels, length = u.shape
    up = np.zeros((nb, channels, n))
    up[:, :, :length] = u
    kp = np.zeros((channels, n))
    kp[:, :k.shape[1]] = k
    axes = tuple(range(-digits, 0))
    shape = (2 * b,) * digits
    uf = np.fft.fftn(up.reshape((nb, channels) + (b,) * digits), s=shape, axes=axes)
    kf = np.fft.fftn(kp.reshape((channels,) + (b,) * digits), s=shape, axes=axes)
    y = np.fft.ifftn(uf * kf[None], axes=axes).real[(Ellipsis,) + (slice(0, b),) * digits]
    y = y.reshape(nb, channels, n)[:, :, :length]
    if "d" in x:
        y = y + x["d"].astype(dtype)[None, :, None] * u
    return {"y": y.astype(dtype)}


def _m2_filter(p, f, names, length, dtype):
    """An M2 implicit filter [D, L] (Hyena's: Sin-MLP of positional features times exp(-t |delta|)); names maps
    w0, b0, w1, b1, w2, b2, w3 to the filter's arrays (the reverse filter of M2-BERT has its own)."""
    hp = {"max_length": p["max_length"], "embedding_dim": p["embedding_dim"], "filter_width": p["filter_width"],
          "order": 2, "width": p["width"]}
    return _hyena_filters(hp, lambda name: f(names.get(name, name)), length, dtype)


def _m2_mixer(p, x, dtype, long_conv):
    """M2 sequence mixer (Fu et al. 2023; m2's MonarchMixerSequenceMixing): in_linear to 3D, 3-tap causal
    depthwise conv, split x1, x2, v (M2's order); v = v x1; y = long_conv(v) (with the filter bias skip);
    y = y x2; out_linear."""
    f = lambda name: x[name].astype(dtype)
    u = f("u")
    nb, length, dm = u.shape
    s = (u @ f("in_w").reshape(3 * dm, dm).T + f("in_b")).transpose(0, 2, 1)
    w = f("short_w").reshape(3 * dm, 3)
    padded = np.concatenate([np.zeros((nb, 3 * dm, 2), dtype), s], axis=2)
    s = sum(w[:, j, None] * padded[:, :, j:j + length] for j in range(3)) + f("short_b")[:, None]
    x1, x2, v = s[:, :dm], s[:, dm:2 * dm], s[:, 2 * dm:]
    y = long_conv(f, v * x1, length) * x2
    return {"y": (y.transpose(0, 2, 1) @ f("out_w").reshape(dm, dm).T + f("out_b")).astype(dtype)}


def monarch_m2_bert(p, x, dtype):
    """M2-BERT mixer: the long convolution is bidirectional with m2's padding, kernel [h, 0..0] + [0..0, reverse(h_rev)]
    of length 2L used as a circular convolution of size 2L (fftconv_ref with k_rev)."""
    def long_conv(f, v, length):
        h = _m2_filter(p, f, {}, length, dtype)
        h_rev = _m2_filter(p, f, {"w0": "r0", "b0": "rb0", "w1": "r1", "b1": "rb1", "w2": "r2", "b2": "rb2", "w3": "r3"}, length, dtype)
        n = 2 * length
        kernel = np.concatenate([h, h_rev[:, ::-1]], axis=1)
        y = np.fft.irfft(np.fft.rfft(v, n) * np.fft.rfft(kernel, n), n)[..., :length]
        return y + f("filter_bias")[:, None] * v
    return _m2_mixer(p, x, dtype, long_conv)


def monarch_m2_gpt(p, x, dtype):
    """M2-GPT mixer: the long convolution is causal M2 (monomial basis), i.e. the digit-wise causal convolution
    of monarch.causal_conv with the implicit filter h."""
    def long_conv(f, v, length):
        h = _m2_filter(p, f, {}, length, dtype)
        conv = {"block": p["block"], "digits": p["digits"]}
        return monarch_causal_conv(conv, {"u": v, "k": h, "d": f("filter_bias")}, dtype)["y"]
    return _m2_mixer(p, x, dtype, long_conv)


def monarch_glu_mlp(p, x, dtype):
    """M2's block-diagonal GLU (m2's BertGatedLinearUnitMLP with BlockdiagLinear): h = blockdiag(w_in) x,
    GELU(h[:I]) * h[I:], then blockdiag(w_out) plus b_out; blockdiag by einsum over (block, out, in)."""
    nb, d, hidden = p["blocks"], p["width"], p["hidden"]
    v = x["x"].astype(dtype)
    lead = v.shape[:-1]
    h = np.einsum("kqp,...kp->...kq", x["w_in"].astype(dtype), v.reshape(lead + (nb, d // nb))).reshape(lead + (2 * hidden,))
    z = _gelu(h[..., :hidden]).astype(dtype) * h[..., hidden:]
    y = np.einsum("kqp,...kp->...kq", x["w_out"].astype(dtype), z.reshape(lead + (nb, hidden // nb))).reshape(lead + (d,))
    return {"y": (y + x["b_out"].astype(dtype)).astype(dtype)}

OPS = {"linalg.gemm": gemm, "nn.softmax": softmax, "fft.fft": fft, "fft.causal_conv": causal_conv,
       "ssm.shift": shift_ssm, "ssm.h3": h3, "ssm.selective_scan": selective_scan, "ssm.mamba_block": mamba_block,
       "ssm.ssd": ssd, "nn.log_softmax": log_softmax, "nn.layer_norm": layer_norm, "nn.rms_norm": rms_norm}
OPS.update({"conv.causal": conv_causal, "conv.bidirectional": conv_bidirectional, "conv.long": conv_long,
            "conv.flash_butterfly": conv_flash_butterfly, "conv.flash_butterfly_learned": conv_flash_butterfly_learned,
            "conv.hyena": conv_hyena, "ssm.s4d": s4d, "attention.softmax": attention_softmax,
            "attention.linear": attention_linear, "attention.decayed_linear": attention_decayed_linear,
            "recurrence.gla": recurrence_gla, "ess.tolerance": ess_tolerance, "ess.entropy": ess_entropy})
OPS.update({"monarch.multiply": monarch_multiply})
OPS.update({"ssm.h3_inner": ssm_h3_inner, "conv.block_fft": conv_block_fft,
            "conv.hyena_filter": conv_hyena_filter, "ssm.s4d_state": ssm_s4d_state,
            "conv.block_fft_conv": conv_block_fft_conv})
OPS.update({"monarch.causal_conv": monarch_causal_conv, "monarch.m2_bert": monarch_m2_bert, "monarch.m2_gpt": monarch_m2_gpt,
            "monarch.glu_mlp": monarch_glu_mlp})
OPS.update({name: _activation(name) for name in ACTIVATIONS})
OPS.update({"connectomics.covariance": connectomics_covariance, "connectomics.correlation": connectomics_correlation,
            "connectomics.partial_correlation": connectomics_partial_correlation,
            "connectomics.tangent_projection": connectomics_tangent_projection, "connectomics.residualize": connectomics_residualize,
            "connectomics.soft_atlas": connectomics_soft_atlas})
OPS.update({"connectomics.precision": connectomics_precision, "connectomics.cone_projection": connectomics_cone_projection,
            "connectomics.spd_projection": connectomics_spd_projection, "connectomics.spd_mean": connectomics_spd_mean,
            "connectomics.modularity": connectomics_modularity, "connectomics.product_filter": connectomics_product_filter,
            "connectomics.loss": connectomics_loss})


def run_process(op, in_dir, out_dir):
    if op not in OPS:
        print("numpy backend: %s is not implemented" % op, file=sys.stderr)
        return UNSUPPORTED
    with open(os.path.join(in_dir, "params.json")) as f:
        info = json.load(f)
    inputs = {name: np.load(os.path.join(in_dir, name + ".npy"), allow_pickle=False) for name in info["inputs"]}
    outputs = OPS[op](info["params"], inputs, np.float64)
    for name in info["outputs"]:
        np.save(os.path.join(out_dir, name + ".npy"), outputs[name])
    return 0


def run_batch(golden, out, precision):
    dtype = np.float32 if precision == "float32" else np.float64
    with open(os.path.join(golden, "index.json")) as f:
        index = json.load(f)
    written = 0
    for entry in index["cases"]:
        if entry["op"] not in OPS:
            continue
        case_dir = os.path.join(golden, entry["op"], entry["case_id"])
        with open(os.path.join(case_dir, "manifest.json")) as f:
            manifest = json.load(f)
        inputs = {a["name"]: np.load(os.path.join(case_dir, a["file"]), allow_pickle=False) for a in manifest["inputs"]}
        outputs = OPS[entry["op"]](manifest["params"], inputs, dtype)
        target = os.path.join(out, entry["op"], entry["case_id"])
        os.makedirs(target, exist_ok=True)
        for o in manifest["outputs"]:
            np.save(os.path.join(target, o["name"] + ".npy"), outputs[o["name"]])
        written += 1
    print("numpy backend: wrote %d cases to %s" % (written, out))
    return 0


def _joint_cov(p, x, dtype, first, second):
    """Covariance of the stacked variables [first; second] per batch: numpy.cov with aweights (none or vector
    weights), the coupling-matrix formula for matrix weights; returns the joint [B, V1 + V2, V1 + V2] matrix."""
    a = x[first].astype(dtype)
    b = x[second].astype(dtype)
    w = x.get("weight")
    out = []
    for i in range(a.shape[0]):
        joint = np.concatenate([a[i], b[i]], axis=0)
        if w is not None and w.ndim == 2:
            m = w.astype(dtype)
            total = m.sum()
            centred = joint - (joint @ (m.sum(axis=1) / total))[:, None]
            colsum = m.sum(axis=0)
            out.append(centred @ m @ centred.T / (total - p["ddof"] * (colsum @ colsum) / total))
        else:
            out.append(np.atleast_2d(np.cov(joint, ddof=p["ddof"], aweights=None if w is None else w.astype(dtype))))
    return np.stack(out)


def connectomics_paired_covariance(p, x, dtype):
    """The off-diagonal block C_XY of the joint covariance of [x; y]."""
    vx = x["x"].shape[-2]
    return {"pcov": _joint_cov(p, x, dtype, "x", "y")[:, :vx, vx:].astype(dtype)}


def connectomics_conditional_covariance(p, x, dtype):
    """Schur complement S_XX - S_XZ S_ZZ^-1 S_ZX of the joint covariance of [x; z] with l2 on its diagonal."""
    v = x["x"].shape[-2]
    joint = _joint_cov(p, x, dtype, "x", "z")
    joint = joint + dtype(p["l2"]) * np.eye(joint.shape[-1], dtype=dtype)
    sxx, sxz, szz = joint[:, :v, :v], joint[:, :v, v:], joint[:, v:, v:]
    return {"ccov": (sxx - sxz @ np.linalg.solve(szz, np.swapaxes(sxz, -1, -2))).astype(dtype)}


OPS.update({"connectomics.paired_covariance": connectomics_paired_covariance,
            "connectomics.conditional_covariance": connectomics_conditional_covariance})


def main(argv):
    if argv and not argv[0].startswith("-"):
        if len(argv) != 3:
            print("usage: numpy_backend.py OP IN_DIR OUT_DIR", file=sys.stderr)
            return 2
        return run_process(*argv)
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="Independent NumPy backend for the golden ops.")
    parser.add_argument("--golden", default=here)
    parser.add_argument("--out", required=True, help="directory for <op>/<case-id>/<output>.npy")
    parser.add_argument("--precision", choices=["float32", "float64"], default="float64")
    args = parser.parse_args(argv)
    return run_batch(args.golden, args.out, args.precision)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
