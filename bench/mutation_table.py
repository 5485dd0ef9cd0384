#!/usr/bin/env python3
"""Per-file score table and surviving-mutant list from a Stryker JSON report (mutation-testing-elements schema).

Usage: bench/mutation_table.py REPORT.json [--no-list]
Score = (killed + timeout) / (killed + timeout + survived + no coverage), as Stryker computes it
(compile errors and ignored mutants are not counted).
"""
import json, os, sys

def main():
    if len(sys.argv) < 2:
        print(__doc__); sys.exit(2)
    path = sys.argv[1]
    listing = "--no-list" not in sys.argv
    rep = json.load(open(path))
    rows, survivors = [], []
    tot = dict(k=0, s=0, t=0, n=0, c=0)
    for name, f in sorted(rep["files"].items()):
        ms = f["mutants"]
        st = [m["status"] for m in ms]
        k, s, t, n, c = (st.count("Killed"), st.count("Survived"), st.count("Timeout"),
                         st.count("NoCoverage"), st.count("CompileError"))
        if k + s + t + n == 0:
            continue
        src = f.get("source", "").splitlines()
        short = name.split("/src/", 1)[-1]
        rows.append((short, k, s, t, n, c, 100.0 * (k + t) / (k + s + t + n)))
        for key, v in zip("kstnc", (k, s, t, n, c)):
            tot[key] += v
        for m in ms:
            if m["status"] in ("Survived", "NoCoverage"):
                loc = m["location"]["start"]
                line = src[loc["line"] - 1].strip() if 0 < loc["line"] <= len(src) else ""
                survivors.append((short, loc["line"], loc["column"], m["status"], m["mutatorName"],
                                  m.get("replacement", ""), line))
    hdr = f"| {'file':<56} | killed | survived | timeout | no cov | compile err | score % |"
    print(hdr); print("|" + "|".join("-" * (len(x)) for x in hdr.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r[0]:<56} | {r[1]:>6} | {r[2]:>8} | {r[3]:>7} | {r[4]:>6} | {r[5]:>11} | {r[6]:>7.1f} |")
    den = tot["k"] + tot["s"] + tot["t"] + tot["n"]
    if den:
        print(f"| {'total':<56} | {tot['k']:>6} | {tot['s']:>8} | {tot['t']:>7} | {tot['n']:>6} | {tot['c']:>11} | "
              f"{100.0 * (tot['k'] + tot['t']) / den:>7.1f} |")
    if listing and survivors:
        print()
        print("surviving / uncovered mutants (file:line:col status mutator: replacement  <- source line)")
        for f, l, c, st, mu, rep_, line in survivors:
            print(f"{f}:{l}:{c} {st} {mu}: {rep_!r}  <- {line}")

if __name__ == "__main__":
    main()
