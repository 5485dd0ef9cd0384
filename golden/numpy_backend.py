#!/usr/bin/env python3
"""A small NumPy backend for a few golden ops: an example of a non-.NET backend.

Ops: linalg.gemm, nn.softmax, fft.fft, fft.causal_conv (the FFT convolution theorem, as the
project's fast tier computes it). Two ways to use it:

1. As a process backend of the conformance runner (one case per call, golden/README.md,
   "Process backends"):
       reference golden run --backend "process:/usr/bin/python3 golden/numpy_backend.py"
   It is called as `numpy_backend.py OP IN_DIR OUT_DIR`, reads IN_DIR/params.json and
   IN_DIR/NAME.npy, writes OUT_DIR/NAME.npy per output, and exits 77 for an op it lacks.

2. In batch mode, writing a candidate tree for golden/check.py:
       python3 golden/numpy_backend.py --golden golden --out /tmp/cand [--precision float32]
       python3 golden/check.py /tmp/cand
   float32 casts the inputs to float32 (exact: golden inputs are float32-representable) and
   computes in float32 where numpy does (matmul, softmax); numpy's FFT computes float32 input in
   float64, so FFT outputs are rounded to float32 (complex outputs stay complex128).
"""
import argparse
import json
import os
import sys

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


OPS = {"linalg.gemm": gemm, "nn.softmax": softmax, "fft.fft": fft, "fft.causal_conv": causal_conv}


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


def main(argv):
    if argv and not argv[0].startswith("-"):
        if len(argv) != 3:
            print("usage: numpy_backend.py OP IN_DIR OUT_DIR", file=sys.stderr)
            return 2
        return run_process(*argv)
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="NumPy backend for a few golden ops.")
    parser.add_argument("--golden", default=here)
    parser.add_argument("--out", required=True, help="directory for <op>/<case-id>/<output>.npy")
    parser.add_argument("--precision", choices=["float32", "float64"], default="float64")
    args = parser.parse_args(argv)
    return run_batch(args.golden, args.out, args.precision)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
