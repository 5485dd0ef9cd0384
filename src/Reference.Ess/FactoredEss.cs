using Reference.Operators;
// Factored ESS for operators with an explicit diagonal N-dim state: N x N problems instead of
// (L - s) x s ones.
//
// ESS paper (arXiv:2504.19561), Section 3.3 / Appendix: for a realization with state x, the split
// block factors as H_s = O_s R_s (observability times reachability):
//     O_s [L - s, N],  row i = c_i^T A_i A_{i-1} ... A_s            (i = s..L-1)
//     R_s [N, s],   column j = A_{s-1} ... A_{j+1} b_j              (j = 0..s-1)
// and the nonzero singular values of H_s are those of (O_s^T O_s)^{1/2} (R_s R_s^T)^{1/2}. Both Gram
// matrices obey one-step recursions along s:
//     O_s = [c_s^T; O_{s+1}] A_s        R_{s+1} = [A_s R_s, b_s]
// Glossary:  Ro_s (N x N, upper triangular)  Ro_s^T Ro_s = O_s^T O_s   (a Cholesky factor of the Gram)
//            Rr_s (N x N, upper triangular)  Rr_s^T Rr_s = R_s R_s^T
//            M_s = Ro_s Rr_s^T              H_s = Q_o M_s Q_r^T, so sigma(H_s) = sigma(M_s)
//
// Numerically delicate spot, and the deliberate choice: forming the Gram matrices squares the
// condition number (singular values below sqrt(eps) sigma_1 of O_s would be lost), and the
// Vandermonde-like O_s of an SSM is very ill-conditioned. The recursions are therefore run on the
// triangular square-root factors (the QR form of the Gram update): multiply by the transition,
// restore triangularity with Givens rotations, append the new row with N more rotations; O(N^2)
// per step, O(L N^2) per channel, plus an N x N product and SVD per requested split. Entries below
// 2^-600 of the factor's largest are flushed to zero (see FlushNegligible: subnormal arithmetic).
// Complex modes are carried as real 2 x 2 blocks [[Re a, -Im a], [Im a, Re a]] on the state pair
// (Re x, Im x), which makes the bulge of each block one subdiagonal entry.

namespace Reference.Ess;

/// <summary>ESS of diagonal-state realizations through their N x N factored split blocks.</summary>
public static class FactoredEss
{
    /// <summary>
    /// Singular values of H_s for every split in <paramref name="splits"/> (default 1..L-1), each
    /// truncated to min(N, s, L - s) values (the rest are zero in exact arithmetic), descending.
    /// </summary>
    public static double[][] SplitSingularValues(DiagonalRealization realization, int[]? splits = null)
    {
        ArgumentNullException.ThrowIfNull(realization);
        splits ??= EffectiveStateSize.AllSplits(realization.Length);
        CheckSplits(splits, realization.Length);
        var work = new double[WorkspaceSize(realization, splits.Length)];
        var result = new double[splits.Length][];
        Run(realization, splits, work, (k, sigma) => result[k] = sigma.ToArray());
        return result;
    }

    /// <summary>
    /// ESS[c, k] of channel c at split splits[k] (default 1..L-1): one realization per channel (all
    /// of the same length), channels spread over up to <paramref name="maxThreads"/> threads.
    /// </summary>
    public static Reference.Core.Tensor<double> Compute(IReadOnlyList<DiagonalRealization> channels, EssOptions? options = null, int[]? splits = null, int maxThreads = 0,
        Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(channels);
        options ??= EssOptions.Default;
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        if (channels.Count == 0) return Reference.Core.Tensor<double>.Zeros(0, splits?.Length ?? 0);
        ArgumentNullException.ThrowIfNull(channels[0], nameof(channels));
        int length = channels[0].Length;
        for (int c = 0; c < channels.Count; c++)
        {
            ArgumentNullException.ThrowIfNull(channels[c], nameof(channels));
            if (channels[c].Length != length)
                throw new ArgumentException($"channels[{c}] has length {channels[c].Length}, expected {length} (the length of channels[0]).", nameof(channels));
        }
        splits ??= EffectiveStateSize.AllSplits(length);
        CheckSplits(splits, length);
        var result = Reference.Core.Tensor<double>.Zeros(channels.Count, splits.Length);
        int workspace = channels.Max(r => WorkspaceSize(r, splits.Length));
        var output = result.Data;
        var splitList = splits;
        int done = 0;
        SingularValues.ForEachWithWorkspace(channels.Count, workspace, maxThreads, (c, work) =>
        {
            Run(channels[c], splitList, work, (k, sigma) => output[c * splitList.Length + k] = EffectiveStateSize.FromSingularValues(sigma, options));
            progress?.Invoke(Interlocked.Increment(ref done), channels.Count);
        });
        return result;
    }

    private delegate void SplitHandler(int splitIndex, ReadOnlySpan<double> sigma);

    private static int WorkspaceSize(DiagonalRealization r, int splitCount)
    {
        int n = r.RealStateSize;
        // Stored Ro per split, running Ro and Rr, a row, the product M, and the SVD's workspace.
        return (splitCount + 3) * n * n + n + n + SingularValues.WorkspaceSize(n, n);
    }

    private static void Run(DiagonalRealization r, int[] splits, Span<double> work, SplitHandler handler)
    {
        int l = r.Length, n = r.RealStateSize;
        int nn = n * n;
        var stored = work[..(splits.Length * nn)];
        int offset = splits.Length * nn;
        var factor = work.Slice(offset, nn); offset += nn;
        var product = work.Slice(offset, nn); offset += nn;
        var row = work.Slice(offset, n); offset += n;
        var sigmaBuffer = work.Slice(offset, n); offset += n;
        var svdWork = work[offset..];

        // Which stored slot (if any) each split s wants; splits may come in any order.
        var slotOfSplit = new Dictionary<int, int>(splits.Length);
        for (int k = 0; k < splits.Length; k++) slotOfSplit.TryAdd(splits[k], k);

        // Backward pass: Ro_L = 0, Ro_s = triang([Ro_{s+1}; c_s^T] A_s) for s = L-1 .. 1.
        factor.Clear();
        for (int s = l - 1; s >= 1; s--)
        {
            ReadoutRow(r, s, row);
            AppendRow(factor, row, n);
            MultiplyByTransition(factor, r, s, n, transpose: false);
            FlushNegligible(factor);
            if (slotOfSplit.TryGetValue(s, out int slot)) factor.CopyTo(stored.Slice(slot * nn, nn));
        }
        // Slots of duplicate splits copy the first occurrence.
        for (int k = 0; k < splits.Length; k++)
            if (slotOfSplit[splits[k]] != k) stored.Slice(slotOfSplit[splits[k]] * nn, nn).CopyTo(stored.Slice(k * nn, nn));

        // Forward pass: Rr_{s+1} = triang([Rr_s A_s^T; b_s^T]), from Rr_0 = 0; at each split s the
        // product M_s = Ro_s Rr_s^T gives the singular values.
        factor.Clear();
        var order = Enumerable.Range(0, splits.Length).OrderBy(k => splits[k]).ToArray();
        int next = 0;
        for (int s = 0; s < l && next < order.Length; s++)
        {
            while (next < order.Length && splits[order[next]] == s)
            {
                int k = order[next++];
                var ro = stored.Slice(k * nn, nn);
                // M[i, j] = sum_p Ro[i, p] Rr[j, p]: rows of two upper-triangular factors from p = max(i, j).
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                    {
                        int from = Math.Max(i, j);
                        product[i * n + j] = from < n
                            ? TensorPrimitives.Dot(ro.Slice(i * n + from, n - from), factor.Slice(j * n + from, n - from))
                            : 0;
                    }
                int keep = Math.Min(n, Math.Min(s, l - s));
                SingularValues.Compute(product, n, n, n, sigmaBuffer, svdWork);
                handler(k, sigmaBuffer[..keep]);
            }
            MultiplyByTransition(factor, r, s, n, transpose: true);
            InputRow(r, s, row);
            AppendRow(factor, row, n);
            FlushNegligible(factor);
        }
    }

    /// <summary>
    /// Sets entries below 2^-600 max|factor| to zero. They cannot move any singular value that is
    /// above 1e-180 of the largest, and left alone the decaying directions of a stable SSM sink into
    /// subnormal numbers, whose arithmetic is two orders of magnitude slower on x86.
    /// </summary>
    private static void FlushNegligible(Span<double> factor)
    {
        double max = Math.Abs(TensorPrimitives.MaxMagnitude(factor));
        double cut = max * NegligibleRatio;
        foreach (ref double x in factor)
            if (Math.Abs(x) < cut) x = 0;
    }

    private static readonly double NegligibleRatio = Math.ScaleB(1.0, -600);

    /// <summary>c_s as a real row: (c_n) for real modes, (Re c_m, -Im c_m) pairs for complex ones (Re(c x) = Re c Re x - Im c Im x).</summary>
    private static void ReadoutRow(DiagonalRealization r, int s, Span<double> row)
    {
        int m = r.Modes;
        if (r.ReadoutImag is null) { r.Readout.AsSpan(s * m, m).CopyTo(row); return; }
        for (int k = 0; k < m; k++)
        {
            row[2 * k] = r.Readout[s * m + k];
            row[2 * k + 1] = -r.ReadoutImag[s * m + k];
        }
    }

    /// <summary>b_s as a real column read as a row: (b_n), or (Re b_m, Im b_m) pairs.</summary>
    private static void InputRow(DiagonalRealization r, int s, Span<double> row)
    {
        int m = r.Modes;
        if (r.InputImag is null) { r.Input.AsSpan(s * m, m).CopyTo(row); return; }
        for (int k = 0; k < m; k++)
        {
            row[2 * k] = r.Input[s * m + k];
            row[2 * k + 1] = r.InputImag[s * m + k];
        }
    }

    /// <summary>
    /// factor = triang(factor A_s) (or A_s^T): column scaling for real modes; for complex modes each
    /// 2 x 2 block mixes a column pair and one Givens rotation of the row pair removes the bulge.
    /// </summary>
    private static void MultiplyByTransition(Span<double> factor, DiagonalRealization r, int s, int n, bool transpose)
    {
        int m = r.Modes;
        var aRe = r.Transition.AsSpan(s * m, m);
        if (r.TransitionImag is null)
        {
            for (int i = 0; i < n; i++)
                TensorPrimitives.Multiply(factor.Slice(i * n + i, n - i), aRe[i..], factor.Slice(i * n + i, n - i));
            return;
        }
        var aIm = r.TransitionImag.AsSpan(s * m, m);
        for (int k = 0; k < m; k++)
        {
            int p = 2 * k, q = p + 1;
            // Block [[a00, a01], [a10, a11]] = [[Re a, -Im a], [Im a, Re a]] (transposed: Im a flips sign).
            double re = aRe[k], im = transpose ? -aIm[k] : aIm[k];
            for (int i = 0; i <= q; i++)
            {
                double fp = factor[i * n + p], fq = factor[i * n + q];
                factor[i * n + p] = fp * re + fq * im;
                factor[i * n + q] = -fp * im + fq * re;
            }
            RotateRows(factor, n, p, q, p);
        }
    }

    /// <summary>Givens rotation of rows p &lt; q zeroing factor[q, col] into factor[p, col]; columns col..n-1.</summary>
    private static void RotateRows(Span<double> factor, int n, int p, int q, int col)
    {
        double x = factor[p * n + col], y = factor[q * n + col];
        if (y == 0) return;
        double h = SingularValues.Hypot(x, y), c = x / h, s = y / h;
        for (int j = col; j < n; j++)
        {
            double fp = factor[p * n + j], fq = factor[q * n + j];
            factor[p * n + j] = c * fp + s * fq;
            factor[q * n + j] = -s * fp + c * fq;
        }
    }

    /// <summary>factor = triang([factor; row]) by N Givens rotations (row is destroyed).</summary>
    private static void AppendRow(Span<double> factor, Span<double> row, int n)
    {
        for (int k = 0; k < n; k++)
        {
            double y = row[k];
            if (y == 0) continue;
            double x = factor[k * n + k];
            double h = SingularValues.Hypot(x, y), c = x / h, s = y / h;
            for (int j = k; j < n; j++)
            {
                double fk = factor[k * n + j], rj = row[j];
                factor[k * n + j] = c * fk + s * rj;
                row[j] = -s * fk + c * rj;
            }
        }
    }

    private static void CheckSplits(int[] splits, int length)
    {
        foreach (int s in splits)
            if (s < 1 || s >= length)
                throw new ArgumentOutOfRangeException(nameof(splits), $"split {s} must be in [1, L - 1] = [1, {length - 1}].");
    }
}
