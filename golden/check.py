#!/usr/bin/env python3
"""Check a directory of candidate outputs against the golden set, with numpy only.

    python3 golden/check.py CANDIDATES [--golden DIR] [--op PATTERN] [--precision float32|float64]

CANDIDATES holds one file per output of each case: CANDIDATES/<op>/<case-id>/<output>.npy (the
output names are those of the case's manifest.json). A case without candidate files is skipped.
The tolerance semantics are those of `reference golden run` (golden/README.md, "Tolerances"):
shapes must match, non-finite values must match position by position, and the metric of the
output's tolerance kind (ulp, allclose, norm_rel, exact) is taken over the finite positions. The
precision whose bound applies is --precision, or per output the candidate's dtype (float32 ->
float32 bound, anything else -> float64 bound).

One line per case, then exactly "N passed, N failed, N skipped". Exit status: 0 all passed,
1 a case failed, 2 usage, 3 golden integrity (a hash or a manifest is wrong).
"""
import argparse
import fnmatch
import hashlib
import json
import os
import sys

import numpy as np


class IntegrityError(Exception):
    pass


def fmt(v):
    if v != v:
        return "nan"
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4 and v == round(v):
        return str(int(v))
    return ("%.1e" % v).replace(".0e", "e")


def load_golden(path, entry):
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise IntegrityError("%s: sha256 %s does not match the manifest's %s" % (path, digest, entry["sha256"]))
    array = np.load(path, allow_pickle=False)
    if array.dtype.name != entry["dtype"] or list(array.shape) != entry["shape"]:
        raise IntegrityError("%s: holds %s %s, the manifest says %s %s"
                             % (path, array.dtype.name, array.shape, entry["dtype"], tuple(entry["shape"])))
    return array


def ordered(x, precision):
    """Float bits mapped to integers that order like the reals (-0 and +0 both 0)."""
    if precision == "float32":
        b = x.astype(np.float32).view(np.int32).astype(np.int64)
        return np.where(b < 0, np.int64(-(2 ** 31)) - b, b)
    b = x.astype(np.float64).view(np.int64)
    return np.where(b < 0, np.int64(-(2 ** 63)) - b, b)


def ulp_distance(e, a, precision):
    oe, oa = ordered(e, precision), ordered(a, precision)
    same = (oe >= 0) == (oa >= 0)
    # Same sign: the int64 difference is exact. Opposite signs: the distance passes through zero
    # and is |oe| + |oa| (computed in float64; it is large unless both values are tiny).
    exact = np.abs(np.where(same, oe, 0) - np.where(same, oa, 0)).astype(np.float64)
    across = np.abs(oe.astype(np.float64)) + np.abs(oa.astype(np.float64))
    return np.where(same, exact, across)


def index_text(shape, flat):
    return "[" + ",".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]" if shape else "[]"


def compare(name, expected, actual, tol, precision):
    """Returns (passed, text) for one output."""
    if tuple(expected.shape) != tuple(actual.shape):
        return False, "%s shape: shape %s, expected %s" % (name, tuple(actual.shape), tuple(expected.shape))
    e_complex, a_complex = np.iscomplexobj(expected), np.iscomplexobj(actual)
    e_float = expected.dtype.kind == "f"
    a_float = actual.dtype.kind == "f"
    if e_complex != a_complex or e_float != a_float or (not e_complex and not e_float and expected.dtype != actual.dtype):
        return False, "%s dtype: dtype %s, expected %s" % (name, actual.dtype.name, expected.dtype.name)
    e = expected.reshape(-1)
    a = actual.reshape(-1)
    if tol["kind"] == "exact" or not (e_complex or e_float):
        bad = np.flatnonzero(~((e == a) | ((e != e) & (a != a))))
        text = "%s mismatches=%d %s 0" % (name, bad.size, "<=" if bad.size == 0 else ">")
        return bad.size == 0, text
    parts_e = [e.real.astype(np.float64), e.imag.astype(np.float64)] if e_complex else [e.astype(np.float64)]
    parts_a = [a.real.astype(np.float64), a.imag.astype(np.float64)] if e_complex else [a.astype(np.float64)]
    finite = np.ones(e.shape, dtype=bool)
    for pe, pa in zip(parts_e, parts_a):
        same_class = np.where(np.isfinite(pe), np.isfinite(pa), np.where(np.isnan(pe), np.isnan(pa), pe == pa))
        if not same_class.all():
            i = int(np.flatnonzero(~same_class)[0])
            return False, "%s nonfinite: %s expected %r, actual %r (non-finite values must match exactly)" % (
                name, index_text(expected.shape, i), e[i], a[i])
        finite &= np.isfinite(pe)
    ef = e.astype(np.complex128)[finite] if e_complex else e.astype(np.float64)[finite]
    af = a.astype(np.complex128)[finite] if e_complex else a.astype(np.float64)[finite]
    diff = np.abs(ef - af)
    bound = tol[precision]
    kind = tol["kind"]
    if kind == "norm_rel":
        value = np.sqrt(np.sum(diff ** 2)) / (np.sqrt(np.sum(np.abs(ef) ** 2)) + bound["floor"])
        threshold = bound["max"]
        metric = "norm_rel"
    elif kind == "allclose":
        allowed = bound["atol"] + bound["rtol"] * np.abs(ef)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(diff == 0, 0.0, np.where(allowed == 0, np.inf, diff / np.where(allowed == 0, 1, allowed)))
        value = float(ratio.max()) if ratio.size else 0.0
        threshold = 1.0
        metric = "allclose(rtol %s, atol %s) ratio" % (fmt(bound["rtol"]), fmt(bound["atol"]))
    elif kind == "ulp":
        atol = bound.get("atol", 0.0)
        if e_complex:
            u = np.maximum(ulp_distance(ef.real, af.real, precision), ulp_distance(ef.imag, af.imag, precision))
        else:
            u = ulp_distance(ef, af, precision)
        u = np.where(diff <= atol, 0.0, u)
        value = float(u.max()) if u.size else 0.0
        threshold = bound["max_ulp"]
        metric = "ulp32" if precision == "float32" else "ulp64"
    else:
        raise IntegrityError("unknown tolerance kind %r" % kind)
    passed = value <= threshold
    text = "%s %s=%s %s %s" % (name, metric, fmt(value), "<=" if passed else ">", fmt(threshold))
    if not passed and diff.size:
        flat = np.flatnonzero(finite)
        worst = np.argsort(-diff, kind="stable")[:3]
        pairs = " ".join("%s (%r, %r)" % (index_text(expected.shape, int(flat[i])), ef[i], af[i]) for i in worst)
        text += " max_abs %s @ %s (expected, actual): %s" % (
            fmt(float(diff.max())), index_text(expected.shape, int(flat[worst[0]])), pairs)
    return passed, text


def matches(pattern, op, case_id):
    target = op + "/" + case_id if "/" in pattern else op
    return fnmatch.fnmatchcase(target, pattern)


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="Check candidate outputs against the golden set (numpy only).")
    parser.add_argument("candidates", help="directory with <op>/<case-id>/<output>.npy files")
    parser.add_argument("--golden", default=here, help="the golden directory (default: this script's)")
    parser.add_argument("--op", help="only cases whose op (or op/case-id) matches this glob")
    parser.add_argument("--precision", choices=["float32", "float64"],
                        help="which tolerance bound applies (default: from each candidate's dtype)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if not os.path.isdir(args.candidates):
        print("error: candidates directory %r does not exist" % args.candidates, file=sys.stderr)
        return 2
    passed = failed = skipped = 0
    try:
        with open(os.path.join(args.golden, "index.json"), "rb") as f:
            index = json.load(f)
        for entry in sorted(index["cases"], key=lambda c: c["id"]):
            if args.op and not matches(args.op, entry["op"], entry["case_id"]):
                continue
            case_dir = os.path.join(args.golden, entry["op"], entry["case_id"])
            with open(os.path.join(case_dir, "manifest.json"), "rb") as f:
                manifest = json.load(f)
            if manifest["op"] + "/" + manifest["case_id"] != entry["id"]:
                raise IntegrityError("%s: manifest names %s/%s" % (case_dir, manifest["op"], manifest["case_id"]))
            cand_dir = os.path.join(args.candidates, entry["op"], entry["case_id"])
            files = [os.path.join(cand_dir, o["name"] + ".npy") for o in manifest["outputs"]]
            if not any(os.path.exists(p) for p in files):
                print("SKIP %s (no candidate outputs)" % entry["id"])
                skipped += 1
                continue
            results = []
            for o, path in zip(manifest["outputs"], files):
                expected = load_golden(os.path.join(case_dir, o["file"]), o)
                if not os.path.exists(path):
                    results.append((False, "%s missing: no %s" % (o["name"], path)))
                    continue
                actual = np.load(path, allow_pickle=False)
                precision = args.precision or ("float32" if actual.dtype == np.float32 else "float64")
                results.append(compare(o["name"], expected, actual, o["tolerance"], precision))
            ok = all(r[0] for r in results)
            print("%s %s %s" % ("PASS" if ok else "FAIL", entry["id"], "; ".join(r[1] for r in results)))
            if ok:
                passed += 1
            else:
                failed += 1
    except (IntegrityError, OSError, KeyError, ValueError) as e:
        print("error: golden integrity: %s" % e, file=sys.stderr)
        return 3
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
