// Effective state size (ESS): how much state a sequence operator actually uses at each position.
//
// Parnichkun, Massaroli et al., "Quantifying Memory Utilization with Effective State-Size"
// (arXiv:2504.19561, ICML 2025), Section 3 (the operator view y = T u and the split blocks) and
// Section 3.2 (tolerance-ESS and entropy-ESS). The project's conventions are in docs/ess.md.
//
// Glossary:  t (shape [..., L, L])   the materialized operator T, y = T u, lower triangular
//            split s                the boundary between past inputs 0..s-1 and outputs s..L-1
//            H_s = T[s:L, 0:s]      the (L - s) x s block that carries the past into the future
//            sigma_m                singular values of H_s, descending
//            tau                    the tolerance (absolute, or relative: tau * sigma_1)
//            p_m                    sigma_m / sum_k sigma_k (L1-normalized, not squared)
//
// rank(H_s) is the smallest state any recurrence realizing T must carry across s (Kalman, Ho and
// Kalman 1966), so tolerance-ESS(s) = #{m : sigma_m > tau} is a numerical rank and entropy-ESS(s) =
// exp(-sum_m p_m ln p_m) its smooth counterpart. Deliberate choices: the default is relative
// tau = 1e-6 (float64 operators); 0 ln 0 = 0; entropy-ESS = 0 for H_s = 0; diagonal entries of T
// never enter (H_s is strictly below the diagonal).

using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Ess;

/// <summary>Which ESS is computed from the singular values of each split block.</summary>
public enum EssMode
{
    /// <summary>#{m : sigma_m > tau} (numerical rank).</summary>
    Tolerance,

    /// <summary>exp(entropy of the L1-normalized singular values).</summary>
    Entropy,
}

/// <summary>The metric's settings: mode, tolerance tau and whether tau is relative to sigma_1.</summary>
public sealed record EssOptions(EssMode Mode = EssMode.Tolerance, double Tolerance = EffectiveStateSize.DefaultTolerance, bool Relative = true)
{
    public static EssOptions Default { get; } = new();

    /// <summary>One line stating the convention (every output carries it).</summary>
    public override string ToString() => Mode == EssMode.Entropy
        ? "entropy-ESS (L1-normalized singular values, 0 ln 0 = 0)"
        : $"tolerance-ESS, {(Relative ? "relative" : "absolute")} tau = {Tolerance:G3}{(Relative ? " * sigma_1" : "")}";

    internal void Validate()
    {
        if (!Enum.IsDefined(Mode))
            throw new ArgumentOutOfRangeException(nameof(Mode), $"Mode = {(int)Mode} must be Tolerance or Entropy.");
        if (!double.IsFinite(Tolerance) || Tolerance < 0)
            throw new ArgumentOutOfRangeException(nameof(Tolerance), $"Tolerance = {Tolerance} must be finite and >= 0.");
    }
}

/// <summary>
/// ESS per split of materialized operators (dense path: one singular-value problem per split) and
/// the metric's definitions on a list of singular values. The factored path for operators with an
/// explicit diagonal state is <see cref="FactoredEss"/>.
/// </summary>
public static class EffectiveStateSize
{
    /// <summary>The project's default tolerance: relative 1e-6 for float64 operators.</summary>
    public const double DefaultTolerance = 1e-6;

    /// <summary>Every split s = 1..L-1 (splits 0 and L give ESS 0 by definition).</summary>
    public static int[] AllSplits(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return length < 2 ? [] : Enumerable.Range(1, length - 1).ToArray();
    }

    /// <summary>About <paramref name="count"/> evenly spaced splits in 1..L-1 (rounded, duplicates removed).</summary>
    public static int[] SplitGrid(int length, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (length < 2) return [];
        if (count >= length - 1) return AllSplits(length);
        return Enumerable.Range(1, count).Select(k => (int)Math.Round(k * (double)length / (count + 1)))
            .Select(s => Math.Clamp(s, 1, length - 1)).Distinct().ToArray();
    }

    /// <summary>tolerance-ESS = #{m : sigma_m > tau}, tau absolute or relative (tau * max sigma).</summary>
    public static double ToleranceEss(ReadOnlySpan<double> sigma, double tolerance, bool relative)
    {
        if (sigma.IsEmpty) return 0;
        double cut = relative ? tolerance * TensorPrimitives.Max(sigma) : tolerance;
        int count = 0;
        foreach (double value in sigma)
            if (value > cut) count++;
        return count;
    }

    /// <summary>entropy-ESS = exp(-sum p_m ln p_m), p_m = sigma_m / sum sigma (0 ln 0 = 0; 0 when all sigma are 0).</summary>
    public static double EntropyEss(ReadOnlySpan<double> sigma)
    {
        double sum = 0;
        foreach (double value in sigma) sum += value;
        if (sum == 0) return 0;
        double entropy = 0;
        foreach (double value in sigma)
        {
            if (value == 0) continue;
            double p = value / sum;
            entropy -= p * Math.Log(p);
        }
        return Math.Exp(entropy);
    }

    /// <summary>The ESS of one split from its singular values under the given options.</summary>
    public static double FromSingularValues(ReadOnlySpan<double> sigma, EssOptions options) =>
        options.Mode == EssMode.Entropy ? EntropyEss(sigma) : ToleranceEss(sigma, options.Tolerance, options.Relative);

    /// <summary>
    /// Fast dense path: ESS[..., k] for split splits[k] of every operator matrix in
    /// <paramref name="t"/> (shape [..., L, L]); singular values by <see cref="SingularValues"/>,
    /// (matrix, split) pairs spread over up to <paramref name="maxThreads"/> threads (0: every core).
    /// <paramref name="splits"/> defaults to 1..L-1. <paramref name="progress"/>, when given, is
    /// called (from any worker thread) with (done, total) after each (matrix, split) pair.
    /// </summary>
    public static Tensor<double> Compute(Tensor<double> t, EssOptions? options = null, int[]? splits = null, int maxThreads = 0,
        Action<int, int>? progress = null)
    {
        options ??= EssOptions.Default;
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        var (count, length, resultShape) = Layout(t, ref splits);
        var result = Tensor<double>.Zeros(resultShape);
        Run(result.Data, t, options, splits, count, length, maxThreads, progress);
        return result;
    }

    /// <summary>
    /// <see cref="Compute"/> written into the caller's <paramref name="output"/> [..., S] (S = the number of
    /// splits; every element overwritten). The singular-value workspaces come from per-thread pools kept
    /// across calls, and with <paramref name="splits"/> null the split list 1..L-1 is cached, so a repeated
    /// call allocates nothing.
    /// </summary>
    public static void ComputeInto(Tensor<double> output, Tensor<double> t, EssOptions? options = null, int[]? splits = null, int maxThreads = 0)
    {
        options ??= EssOptions.Default;
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        ArgumentNullException.ThrowIfNull(t);
        if (t.Rank < 2 || t.Dim(-1) != t.Dim(-2))
            throw new ArgumentException($"t must have shape [..., L, L]; got {t}.", nameof(t));
        int length = t.Dim(-1);
        splits ??= CachedAllSplits(length);
        CheckSplits(splits, length);
        Span<int> expected = stackalloc int[t.Rank - 1];
        t.Shape[..^2].CopyTo(expected);
        expected[^1] = splits.Length;
        Shapes.Output(output, expected, nameof(output));
        int count = length == 0 ? 0 : t.Length / (length * length);
        Run(output.Data, t, options, splits, count, length, maxThreads, null);
    }

    private static int[]? allSplits;

    /// <summary><see cref="AllSplits"/>, kept for the last length asked (read-only here: never handed out).</summary>
    private static int[] CachedAllSplits(int length)
    {
        var cached = Volatile.Read(ref allSplits);
        if (cached is not null && cached.Length == Math.Max(length - 1, 0)) return cached;
        cached = AllSplits(length);
        Volatile.Write(ref allSplits, cached);
        return cached;
    }

    private static void CheckSplits(int[] splits, int length)
    {
        foreach (int s in splits)
            if (s < 1 || s >= length)
                throw new ArgumentOutOfRangeException(nameof(splits), $"split {s} must be in [1, L - 1] = [1, {length - 1}].");
    }

    private static void Run(double[] output, Tensor<double> t, EssOptions options, int[] splits, int count, int length, int maxThreads,
        Action<int, int>? progress)
    {
        int workspace = 0;
        foreach (int s in splits) workspace = Math.Max(workspace, SingularValues.WorkspaceSize(length - s, s) + Math.Min(s, length - s));
        var job = PerThread<EssJob, int>.Take(0);
        (job.Data, job.Output, job.Splits, job.Options, job.Progress) = (t.Data, output, splits, options, progress);
        (job.Length, job.Workspace, job.Total, job.Done) = (length, workspace, count * splits.Length, 0);
        ParallelItems.For(count * splits.Length, maxThreads, job);
        (job.Data, job.Output, job.Splits, job.Options, job.Progress) = (null!, null!, null!, null!, null);
        PerThread<EssJob, int>.Give(job);
    }

    /// <summary>One (matrix, split) pair of a call (a ParallelItems body, pooled per calling thread).</summary>
    private sealed class EssJob : IParallelBody, IPerThreadWorkspace<EssJob, int>
    {
        public double[] Data = null!, Output = null!;
        public int[] Splits = null!;
        public EssOptions Options = null!;
        public Action<int, int>? Progress;
        public int Length, Workspace, Total, Done;

        public static EssJob Create(int key) => new();

        public bool Fits(int key) => true;

        public void Run(int item)
        {
            int length = Length, matrix = item / Splits.Length, s = Splits[item % Splits.Length];
            int p = Math.Min(s, length - s);
            var pooled = PooledArray<double>.Rent(Workspace);
            var work = pooled.Data.AsSpan(0, Workspace);
            var sigma = work[..p];
            // H_s starts at row s, column 0 of the L x L matrix: rows L - s, columns s, stride L.
            SingularValues.Compute(Data.AsSpan(matrix * length * length + s * length), length - s, s, length, sigma, work[p..]);
            Output[item] = FromSingularValues(sigma, Options);
            PooledArray<double>.Return(pooled);
            Progress?.Invoke(Interlocked.Increment(ref Done), Total);
        }
    }

    /// <summary>
    /// Naive dense path (the definition): same result as <see cref="Compute"/>, one one-sided
    /// Jacobi SVD per split, sequential, matrices then splits in order.
    /// </summary>
    public static Tensor<double> ComputeNaive(Tensor<double> t, EssOptions? options = null, int[]? splits = null)
    {
        options ??= EssOptions.Default;
        options.Validate();
        var (count, length, resultShape) = Layout(t, ref splits);
        var result = Tensor<double>.Zeros(resultShape);
        for (int matrix = 0; matrix < count; matrix++)
            for (int k = 0; k < splits.Length; k++)
            {
                var sigma = NaiveSingularValues.Compute(t.Data.AsSpan(matrix * length * length + splits[k] * length),
                    length - splits[k], splits[k], length);
                result.Data[matrix * splits.Length + k] = FromSingularValues(sigma, options);
            }
        return result;
    }

    /// <summary>Singular values of H_s = T[s:L, 0:s] of one L x L operator matrix (row-major), descending.</summary>
    public static double[] SplitSingularValues(ReadOnlySpan<double> t, int length, int split)
    {
        if (t.Length != length * length)
            throw new ArgumentException($"t has {t.Length} elements, expected L * L = {length * length}.", nameof(t));
        if (split < 1 || split >= length)
            throw new ArgumentOutOfRangeException(nameof(split), $"split = {split} must be in [1, {length - 1}].");
        var sigma = new double[Math.Min(split, length - split)];
        SingularValues.Compute(t[(split * length)..], length - split, split, length, sigma,
            new double[SingularValues.WorkspaceSize(length - split, split)]);
        return sigma;
    }

    private static (int Count, int Length, int[] ResultShape) Layout(Tensor<double> t, [System.Diagnostics.CodeAnalysis.NotNull] ref int[]? splits)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t.Rank < 2 || t.Dim(-1) != t.Dim(-2))
            throw new ArgumentException($"t must have shape [..., L, L]; got {t}.", nameof(t));
        int length = t.Dim(-1);
        splits ??= AllSplits(length);
        foreach (int s in splits)
            if (s < 1 || s >= length)
                throw new ArgumentOutOfRangeException(nameof(splits), $"split {s} must be in [1, L - 1] = [1, {length - 1}].");
        var resultShape = t.ShapeArray[..^1];
        resultShape[^1] = splits.Length;
        int count = length == 0 ? 0 : t.Length / (length * length);
        return (count, length, resultShape);
    }
}
