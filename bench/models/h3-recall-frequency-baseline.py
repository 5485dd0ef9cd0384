#!/usr/bin/env python3
"""The no-binding baseline of H3's associative recall (V 20, L 40): answer with the value that occurs most
often in the context (ties split evenly), and its cross-entropy when predicting the in-context value counts
(add-0.5 smoothing over the 9 values). Monte Carlo over the task's distribution as the file head of
src/Reference.Models/H3SyntheticTasks.cs states it (9 keys, 9 values, 20 pairs, fresh table per example,
query redrawn among the keys present). Argument: the number of pairs (default 20). A model sitting at these two numbers has learned the value
frequencies of the context but not which value goes with the queried key (bench/NOTES.md, 2026-12-04
fourth session, "H3 associative recall and MQAR at full size")."""
import math
import random
import sys
from collections import Counter

KEYS = VALUES = 9
PAIRS = int(sys.argv[1]) if len(sys.argv) > 1 else 20   # floor(L / 2): 20 at H3's L 40
random.seed(1)
n, accuracy, loss = 20000, 0.0, 0.0
for _ in range(n):
    table = [random.randrange(VALUES) for _ in range(KEYS)]
    keys = [random.randrange(KEYS) for _ in range(PAIRS)]
    counts = Counter(table[k] for k in keys)
    query = random.randrange(KEYS)
    if query not in keys:
        query = random.choice(sorted(set(keys)))
    answer = table[query]
    top = max(counts.values())
    winners = [v for v in counts if counts[v] == top]
    accuracy += (answer in winners) / len(winners)
    loss -= math.log((counts[answer] + 0.5) / (PAIRS + 0.5 * VALUES))
print(f"most frequent value: accuracy {accuracy / n:.4f}; count predictor: cross-entropy {loss / n:.4f} (chance 1/9 = 0.1111, ln 9 = {math.log(9):.4f})")
