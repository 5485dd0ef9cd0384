using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Ess;
using Reference.Operators;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Ess;

/// <summary>An ESS case: sequence length L, a state/taps size N and a seed.</summary>
public sealed record EssCase(int Length, int State, int Seed)
{
    public static Arbitrary<EssCase> Arbitrary() =>
        (from length in Gen.Elements(2, 3, 5, 8, 9, 16, 17, 24, 33)
         from state in Gen.Elements(1, 2, 3, 4, 5, 7, 8)
         from seed in Cases.Seed
         select new EssCase(length, state, seed)).ToArbitrary();

    public SplitMix64 Rng() => new((ulong)Seed);
}

public class EffectiveStateSizeTests
{
    private static readonly EssOptions Entropy = new(EssMode.Entropy);

    private static double[] Row(Tensor<double> ess) => ess.Data;

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_BoundsAndEntropyBelowToleranceRank(EssCase c)
    {
        var t = c.Rng().NormalTensor<double>(0, 1, 2, c.Length, c.Length);
        var tol = EffectiveStateSize.Compute(t);
        var tolZero = EffectiveStateSize.Compute(t, new EssOptions(Tolerance: 0));
        var ent = EffectiveStateSize.Compute(t, Entropy);
        var splits = EffectiveStateSize.AllSplits(c.Length);
        Assert.Equal([2, c.Length - 1], tol.ShapeArray);
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < splits.Length; k++)
            {
                int s = splits[k], at = b * splits.Length + k;
                Assert.InRange(tol.Data[at], 0, Math.Min(s, c.Length - s));
                Assert.True(ent.Data[at] <= tolZero.Data[at] + 1e-12, $"{c} s={s}: entropy {ent.Data[at]} > rank {tolZero.Data[at]}");
                Assert.True(ent.Data[at] >= 1 - 1e-12);
            }
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_FastDenseEqualsNaiveDefinition(EssCase c)
    {
        var rng = c.Rng();
        var t = EssOperators.RandomReal(c.Length, c.State, rng, lti: false).Materialize();
        foreach (var options in new[] { EssOptions.Default, Entropy, new EssOptions(Tolerance: 1e-3, Relative: false) })
        {
            var fast = EffectiveStateSize.Compute(t, options);
            var naive = EffectiveStateSize.ComputeNaive(t, options);
            if (options.Mode == EssMode.Entropy)
                Assert.True(Metrics.RelativeError(naive.Data, fast.Data) <= 1e-12, $"{c} {options}");
            else
                Assert.Equal(naive.Data, fast.Data);
        }
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_DiagonalOperatorHasZeroEss(EssCase c)
    {
        var t = Tensor<double>.Zeros(c.Length, c.Length);
        var rng = c.Rng();
        for (int i = 0; i < c.Length; i++) t[i, i] = rng.Normal();
        Assert.All(Row(EffectiveStateSize.Compute(t)), e => Assert.Equal(0, e));
        Assert.All(Row(EffectiveStateSize.Compute(t, Entropy)), e => Assert.Equal(0, e));
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_ShortConvolutionIsMinOfTapsAndSplit(EssCase c)
    {
        var rng = c.Rng();
        int taps = c.State + 1;
        var h = Enumerable.Range(0, taps).Select(_ => rng.Uniform(0.5, 1.5) * (rng.Uniform() < 0.5 ? -1 : 1)).ToArray();
        var t = EssOperators.ShortConvolution(h, c.Length);
        var gateC = Enumerable.Range(0, c.Length).Select(_ => rng.Uniform(0.5, 2)).ToArray();
        var gateB = Enumerable.Range(0, c.Length).Select(_ => -rng.Uniform(0.5, 2)).ToArray();
        var plain = EffectiveStateSize.Compute(t);
        var gated = EffectiveStateSize.Compute(EssOperators.Gated(t, gateC, gateB));
        var splits = EffectiveStateSize.AllSplits(c.Length);
        for (int k = 0; k < splits.Length; k++)
        {
            int expected = Math.Min(taps - 1, Math.Min(splits[k], c.Length - splits[k]));
            Assert.Equal(expected, plain.Data[k]);
            Assert.Equal(expected, gated.Data[k]);
        }
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_DiagonalLtiSsmIsMinOfStateAndSplit(EssCase c)
    {
        // Distinct poles spread over (-0.9, 0.9) with b_n c_n = 1: exact Hankel rank min(N, s, L - s).
        // The Vandermonde structure makes the smallest singular value small, so the rank is read with
        // relative tau = 1e-10 (float64 rounding sits near 1e-16).
        int n = Math.Min(c.State, 4);
        var rng = c.Rng();
        var poles = Enumerable.Range(0, n).Select(p => -0.9 + 1.8 * (p + rng.Uniform(0.25, 0.75)) / n).ToArray();
        var options = new EssOptions(Tolerance: 1e-10);
        int l = Math.Min(c.Length, 17);
        var a = new double[l * n];
        var b = new double[l * n];
        var cc = new double[l * n];
        for (int t = 0; t < l; t++)
            for (int p = 0; p < n; p++) { a[t * n + p] = poles[p]; b[t * n + p] = 1; cc[t * n + p] = 1; }
        var realization = DiagonalRealization.Real(l, n, a, b, cc);
        var ess = EffectiveStateSize.Compute(realization.Materialize(), options);
        var factored = FactoredEss.Compute([realization], options);
        var splits = EffectiveStateSize.AllSplits(l);
        for (int k = 0; k < splits.Length; k++)
        {
            int expected = Math.Min(n, Math.Min(splits[k], l - splits[k]));
            Assert.Equal(expected, ess.Data[k]);
            Assert.Equal(expected, factored.Data[k]);
        }
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_StateSizeBoundsEssForEveryInput(EssCase c)
    {
        var rng = c.Rng();
        var real = EssOperators.RandomReal(c.Length, c.State, rng, lti: false);
        var complex = EssOperators.RandomComplex(c.Length, c.State, rng, lti: false);
        Assert.All(Row(EffectiveStateSize.Compute(real.Materialize())), e => Assert.True(e <= c.State));
        Assert.All(Row(EffectiveStateSize.Compute(complex.Materialize())), e => Assert.True(e <= 2 * c.State));
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_AttentionWithEqualKeysIsRankOne(EssCase c)
    {
        var rng = c.Rng();
        var q = rng.NormalTensor<double>(0, 1, c.Length, 4);
        var key = rng.NormalTensor<double>(0, 1, 4);
        var k = Tensor<double>.Zeros(c.Length, 4);
        for (int i = 0; i < c.Length; i++)
            for (int p = 0; p < 4; p++) k[i, p] = key.Data[p];
        Assert.All(Row(EffectiveStateSize.Compute(EssOperators.SoftmaxAttention(q, k))), e => Assert.Equal(1, e));
    }

    [Property(Arbitrary = [typeof(EssCase)], MaxTest = 15)]
    public void Property_GenericAttentionIsFullRank(EssCase c)
    {
        var rng = c.Rng();
        int l = Math.Min(c.Length, 17);
        var q = rng.NormalTensor<double>(0, 1.5, l, 32);
        var k = rng.NormalTensor<double>(0, 1.5, l, 32);
        var ess = EffectiveStateSize.Compute(EssOperators.SoftmaxAttention(q, k));
        var splits = EffectiveStateSize.AllSplits(l);
        for (int s = 0; s < splits.Length; s++) Assert.Equal(Math.Min(splits[s], l - splits[s]), ess.Data[s]);
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_ResetDropsEssAtAndBeforeTheDelimiter(EssCase c)
    {
        // A transition a_e = 0 wipes the state before input e is written, so T[i, j] = 0 whenever
        // j < e <= i (the product prod_{t=j+1..i} a_t contains a_e). The split block H_s = T[s:L, 0:s]
        // then keeps only rows s..e-1 (s < e) or columns e..s-1 (s > e), and H_e = 0. Between resets
        // a diagonal SSM with R distinct lanes (distinct decays, generic time-varying inputs and
        // readouts; R = N reals, or R = 2M for M complex modes since Re(c x) splits into two real
        // lanes) has rank(H) = min(R, rows, cols) (ESS paper, Section 3: rank(H_s) is the minimal
        // state), so ESS(s) = min(R, s, e - s) for s < e, 0 at s = e and min(R, s - e, L - s) for s > e.
        var rng = c.Rng();
        int l = c.Length, e = 1 + rng.NextInt(l - 1);
        int modes = Math.Max(1, c.State / 2);
        var real = ResetRealization(l, c.State, e, rng, complex: false);
        var complex = ResetRealization(l, modes, e, rng, complex: true);
        // Relative tau = 1e-9: far above float64 rounding of the exact zeros (about 1e-16), far below
        // the smallest nonzero singular value of these well-conditioned blocks (decays in (0.75, 1)).
        var options = new EssOptions(Tolerance: 1e-9);
        var splits = EffectiveStateSize.AllSplits(l);
        foreach (var (realization, rank) in new[] { (real, c.State), (complex, 2 * modes) })
        {
            var dense = EffectiveStateSize.Compute(realization.Materialize(), options);
            var factored = FactoredEss.Compute([realization], options);
            for (int k = 0; k < splits.Length; k++)
            {
                int s = splits[k];
                int expected = s < e ? Math.Min(rank, Math.Min(s, e - s)) : s == e ? 0 : Math.Min(rank, Math.Min(s - e, l - s));
                Assert.True(expected == dense.Data[k], $"{c} e={e} R={rank} s={s}: dense ESS {dense.Data[k]}, expected {expected}");
                Assert.True(expected == factored.Data[k], $"{c} e={e} R={rank} s={s}: factored ESS {factored.Data[k]}, expected {expected}");
            }
        }

        // The same structure in causal softmax attention with a delimiter: queries at or after e see
        // no key before e, so H_e = 0 and ESS(s) <= e - s before it (the rank of the exp kernel block
        // itself is only generic, so this part checks the zero and the bound).
        var q = rng.NormalTensor<double>(0, 1, l, 8);
        var keys = rng.NormalTensor<double>(0, 1, l, 8);
        var attention = EffectiveStateSize.Compute(EssOperators.SoftmaxAttention(q, keys, delimiter: e));
        Assert.Equal(0, attention.Data[e - 1]);
        for (int s = 1; s < e; s++) Assert.True(attention.Data[s - 1] <= e - s, $"{c} e={e} s={s}: {attention.Data[s - 1]} > {e - s}");
    }

    /// <summary>
    /// A time-varying diagonal realization with <paramref name="modes"/> lanes whose transition is 0 at
    /// step <paramref name="reset"/>: lane n decays by |a| = 0.75 + 0.2 n / modes (distinct per lane)
    /// times a small per-step jitter, complex lanes rotate by a per-lane phase in (0.3, 2.8); b_t, c_t ~ N(0, 1) per lane and step.
    /// </summary>
    private static DiagonalRealization ResetRealization(int length, int modes, int reset, SplitMix64 rng, bool complex)
    {
        var a = new Complex[length * modes];
        var b = new Complex[length * modes];
        var cc = new Complex[length * modes];
        var phase = Enumerable.Range(0, modes).Select(n => 0.3 + 2.5 * (n + rng.Uniform(0.2, 0.8)) / modes).ToArray();
        for (int t = 0; t < length; t++)
            for (int n = 0; n < modes; n++)
            {
                int at = t * modes + n;
                double magnitude = (0.75 + 0.2 * n / modes) * rng.Uniform(0.97, 1.0);
                a[at] = t == reset ? 0 : complex ? Complex.FromPolarCoordinates(magnitude, phase[n]) : magnitude;
                b[at] = complex ? new Complex(rng.Normal(), rng.Normal()) : rng.Normal();
                cc[at] = complex ? new Complex(rng.Normal(), rng.Normal()) : rng.Normal();
            }
        return complex
            ? DiagonalRealization.Complex(length, modes, a, b, cc)
            : DiagonalRealization.Real(length, modes, a.Select(z => z.Real).ToArray(), b.Select(z => z.Real).ToArray(), cc.Select(z => z.Real).ToArray());
    }

    [Fact]
    public void Edge_EntropySanityValues()
    {
        Assert.Equal(3.0, EffectiveStateSize.EntropyEss([1.0, 1.0, 1.0]), 1e-15);
        Assert.Equal(5.0, EffectiveStateSize.EntropyEss([2.5, 2.5, 2.5, 2.5, 2.5, 0]), 1e-14);
        Assert.Equal(Math.Pow(2, 1.5), EffectiveStateSize.EntropyEss([2.0, 1.0, 1.0]), 1e-14);
        Assert.Equal(0.0, EffectiveStateSize.EntropyEss([0.0, 0.0]));
        Assert.Equal(0.0, EffectiveStateSize.EntropyEss([]));
        Assert.Equal(1.0, EffectiveStateSize.EntropyEss([7.0]));
    }

    [Property(Arbitrary = [typeof(EssCase)])]
    public void Property_EntropyIsScaleInvariantAndToleranceRelativeIsToo(EssCase c)
    {
        var rng = c.Rng();
        var t = EssOperators.RandomReal(c.Length, c.State, rng, lti: false).Materialize();
        double scale = Math.Pow(10, rng.Uniform(-6, 6));
        var scaled = t.Clone();
        TensorPrimitives.Multiply(scaled.Data, scale, scaled.Data);
        var e1 = EffectiveStateSize.Compute(t, Entropy);
        var e2 = EffectiveStateSize.Compute(scaled, Entropy);
        Assert.True(Metrics.RelativeError(e1.Data, e2.Data) <= 1e-12);
        Assert.Equal(EffectiveStateSize.Compute(t).Data, EffectiveStateSize.Compute(scaled).Data);
    }

    [Fact]
    public void Edge_ToleranceModes()
    {
        double[] sigma = [10, 1, 1e-4, 1e-7];
        Assert.Equal(3, EffectiveStateSize.ToleranceEss(sigma, 1e-6, relative: true));
        Assert.Equal(2, EffectiveStateSize.ToleranceEss(sigma, 1e-6 * 1e4, relative: false));
        Assert.Equal(4, EffectiveStateSize.ToleranceEss(sigma, 0, relative: true));
        Assert.Equal(0, EffectiveStateSize.ToleranceEss([0.0, 0.0], 0, relative: true));
        Assert.Equal(0, EffectiveStateSize.ToleranceEss(sigma, 100, relative: false));
    }

    [Fact]
    public void Edge_ShortSequencesAndGrid()
    {
        Assert.Equal([0], EffectiveStateSize.Compute(Tensor<double>.Zeros(1, 1)).ShapeArray);
        Assert.Equal([3, 0], EffectiveStateSize.Compute(Tensor<double>.Zeros(3, 1, 1)).ShapeArray);
        Assert.Equal([1.0], EffectiveStateSize.Compute(new Tensor<double>([5, 0, 3, 5], 2, 2)).Data);
        Assert.Equal([0.0], EffectiveStateSize.Compute(new Tensor<double>([5, 0, 0, 5], 2, 2)).Data);
        Assert.Equal([2, 4, 6], EffectiveStateSize.SplitGrid(8, 3));
        Assert.Equal([1, 2, 3], EffectiveStateSize.SplitGrid(4, 10));
        var t = new SplitMix64(1).NormalTensor<double>(0, 1, 3, 9, 9);
        var grid = EffectiveStateSize.SplitGrid(9, 3);
        var all = EffectiveStateSize.Compute(t);
        var some = EffectiveStateSize.Compute(t, splits: grid);
        for (int m = 0; m < 3; m++)
            for (int k = 0; k < grid.Length; k++) Assert.Equal(all[m, grid[k] - 1], some[m, k]);
    }

    [Fact]
    public void Negative_BadArgumentsNameTheArgument()
    {
        var t = Tensor<double>.Zeros(4, 4);
        Assert.Equal("t", Assert.Throws<ArgumentException>(() => EffectiveStateSize.Compute(Tensor<double>.Zeros(4, 3))).ParamName);
        Assert.Equal("splits", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.Compute(t, splits: [0])).ParamName);
        Assert.Equal("splits", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.Compute(t, splits: [4])).ParamName);
        Assert.Equal("Tolerance", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.Compute(t, new EssOptions(Tolerance: -1))).ParamName);
        Assert.Equal("Tolerance", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.Compute(t, new EssOptions(Tolerance: double.NaN))).ParamName);
    }

    [Fact]
    public void Negative_WrongRankIsDetected()
    {
        // A deliberately wrong operator (one tap too many) changes the short-conv ESS: the check can fail.
        var t = EssOperators.ShortConvolution([1, 1, 1, 1], 12);
        Assert.NotEqual(Enumerable.Range(1, 11).Select(s => (double)Math.Min(2, Math.Min(s, 12 - s))).ToArray(), EffectiveStateSize.Compute(t).Data);
    }

    /// <summary>
    /// T_m = U_m V_m^T with rank m + 1 (not triangular: H_s is then a block of a rank-(m + 1)
    /// matrix, so tolerance-ESS = min(m + 1, s, L - s) and every matrix of the stack differs).
    /// </summary>
    private static Tensor<double> StackOfRanks(int count, int length, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var t = Tensor<double>.Zeros(count, length, length);
        for (int m = 0; m < count; m++)
        {
            int rank = m + 1;
            var u = new double[length * rank];
            var v = new double[length * rank];
            rng.FillNormal<double>(u);
            rng.FillNormal<double>(v);
            for (int i = 0; i < length; i++)
                for (int j = 0; j < length; j++)
                {
                    double acc = 0;
                    for (int r = 0; r < rank; r++) acc += u[i * rank + r] * v[j * rank + r];
                    t.Data[(m * length + i) * length + j] = acc;
                }
        }
        return t;
    }

    /// <summary>The entropy-ESS of H_s of one matrix, by MathNet's SVD and the entropy written out.</summary>
    private static double MathNetEntropyEss(Tensor<double> t, int matrix, int length, int split)
    {
        var block = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(length - split, split,
            (i, j) => t.Data[(matrix * length + split + i) * length + j]);
        var sigma = block.Svd(computeVectors: false).S.ToArray();
        double sum = sigma.Sum(), h = 0;
        foreach (double x in sigma)
            if (x > 0) h -= x / sum * Math.Log(x / sum);
        return Math.Exp(h);
    }

    [Fact]
    public void Property_StackOfDifferentMatrices_EachResultIsItsOwnMatrixAtItsOwnSplit()
    {
        const int count = 3, length = 9;
        var t = StackOfRanks(count, length, 42);
        int[] splits = [2, 4, 7];
        foreach (var compute in new Func<Tensor<double>, EssOptions?, int[]?, Tensor<double>>[]
                 { (x, o, s) => EffectiveStateSize.Compute(x, o, s), EffectiveStateSize.ComputeNaive })
        {
            var rank = compute(t, null, splits);
            var entropy = compute(t, Entropy, splits);
            Assert.Equal([count, splits.Length], rank.ShapeArray);
            for (int m = 0; m < count; m++)
                for (int k = 0; k < splits.Length; k++)
                {
                    int s = splits[k];
                    Assert.Equal(Math.Min(m + 1, Math.Min(s, length - s)), rank[m, k]);
                    Assert.Equal(MathNetEntropyEss(t, m, length, s), entropy[m, k], 1e-10);
                }
            // A leading batch axis: [2, 3, L, L] -> [2, 3, S], each slot its own matrix.
            var batched = Tensor<double>.Zeros(2, count, length, length);
            t.Data.CopyTo(batched.Data, 0);
            for (int m = 0; m < count; m++)
                t.Data.AsSpan((count - 1 - m) * length * length, length * length).CopyTo(batched.Data.AsSpan((count + m) * length * length));
            var both = compute(batched, Entropy, splits);
            Assert.Equal([2, count, splits.Length], both.ShapeArray);
            for (int m = 0; m < count; m++)
                for (int k = 0; k < splits.Length; k++)
                {
                    Assert.Equal(entropy[m, k], both[0, m, k]);
                    Assert.Equal(entropy[count - 1 - m, k], both[1, m, k]);
                }
        }
    }

    [Fact]
    public void Edge_EmptyAndTwoLongOperators()
    {
        // L = 0: no matrix entries, no splits; the result keeps the leading axes.
        Assert.Equal([0], EffectiveStateSize.Compute(Tensor<double>.Zeros(0, 0)).ShapeArray);
        Assert.Equal([0], EffectiveStateSize.ComputeNaive(Tensor<double>.Zeros(0, 0)).ShapeArray);
        Assert.Equal([2, 0], EffectiveStateSize.ComputeNaive(Tensor<double>.Zeros(2, 0, 0)).ShapeArray);
        // L = 2 has exactly one split, whatever the requested count.
        Assert.Equal([1], EffectiveStateSize.SplitGrid(2, 1));
        Assert.Equal([1], EffectiveStateSize.SplitGrid(2, 5));
        Assert.Equal([], EffectiveStateSize.SplitGrid(1, 5));
        Assert.Equal([], EffectiveStateSize.SplitGrid(0, 1));
        Assert.Equal([1], EffectiveStateSize.AllSplits(2));
        Assert.Equal([], EffectiveStateSize.AllSplits(0));
    }

    [Fact]
    public void Golden_SplitSingularValues_OfAHandMatrix()
    {
        // T = [[1, 0, 0], [2, 3, 0], [4, 5, 6]]: H_1 = [2; 4], H_2 = [4, 5]; diagonal never enters.
        double[] t = [1, 0, 0, 2, 3, 0, 4, 5, 6];
        var h1 = EffectiveStateSize.SplitSingularValues(t, 3, 1);
        var h2 = EffectiveStateSize.SplitSingularValues(t, 3, 2);
        Assert.Equal(Math.Sqrt(20), Assert.Single(h1), 1e-14);
        Assert.Equal(Math.Sqrt(41), Assert.Single(h2), 1e-14);
    }

    [Fact]
    public void Golden_OptionsDescribeTheirConvention()
    {
        Assert.Equal("tolerance-ESS, relative tau = 1E-06 * sigma_1", EssOptions.Default.ToString());
        Assert.Equal("tolerance-ESS, absolute tau = 0.001", new EssOptions(Tolerance: 1e-3, Relative: false).ToString());
        Assert.Equal("entropy-ESS (L1-normalized singular values, 0 ln 0 = 0)", Entropy.ToString());
    }

    [Fact]
    public void Negative_SplitsGridModeAndSingleSplit_NameTheArgument()
    {
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.SplitGrid(-1, 3)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.SplitGrid(8, 0)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.SplitGrid(8, -2)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.AllSplits(-1)).ParamName);
        var t = Tensor<double>.Zeros(4, 4);
        var badMode = new EssOptions((EssMode)7);
        Assert.Equal("Mode", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.Compute(t, badMode)).ParamName);
        Assert.Equal("Mode", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.ComputeNaive(t, badMode)).ParamName);
        Assert.Equal("Mode", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.ComputeNaive(t, new EssOptions((EssMode)(-1)))).ParamName);
        Assert.Equal("maxThreads", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.Compute(t, maxThreads: -1)).ParamName);
        Assert.Equal("t", Assert.Throws<ArgumentNullException>(() => EffectiveStateSize.ComputeNaive(null!)).ParamName);
        Assert.Equal("splits", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.ComputeNaive(t, splits: [4])).ParamName);
        double[] m = new double[16];
        Assert.Equal("t", Assert.Throws<ArgumentException>(() => EffectiveStateSize.SplitSingularValues(new double[15], 4, 2)).ParamName);
        Assert.Equal("t", Assert.Throws<ArgumentException>(() => EffectiveStateSize.SplitSingularValues(new double[17], 4, 2)).ParamName);
        Assert.Equal("split", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.SplitSingularValues(m, 4, 0)).ParamName);
        Assert.Equal("split", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.SplitSingularValues(m, 4, 4)).ParamName);
        Assert.Equal("split", Assert.Throws<ArgumentOutOfRangeException>(() => EffectiveStateSize.SplitSingularValues(m, 4, -1)).ParamName);
        Assert.Equal([0.0], EffectiveStateSize.SplitSingularValues(m, 4, 3));
    }
}
