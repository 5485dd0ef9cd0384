using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Convolution;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>A long-conv layer case: B x L x H input, C kernel copies, kernel length Lk, smoothing window, seed.</summary>
public sealed record LongConvCase(int Batch, int H, int C, int L, int Lk, int Window, int Seed)
{
    public static Arbitrary<LongConvCase> Arbitrary() =>
        (from batch in Gen.Choose(1, 2)
         from h in Gen.Elements(1, 2, 3)
         from c in Gen.Elements(1, 2)
         from l in Gen.Elements(1, 2, 7, 8, 9, 16, 17)
         from lk in Gen.Elements(1, 3, 8, 9, 17, 33)
         from window in Gen.Elements(1, 3, 5, 7)
         from seed in Cases.Seed
         select new LongConvCase(batch, h, c, l, lk, window, seed)).ToArbitrary();
}

/// <summary>Long-conv cases with L &gt;= 2, so a causality cut 1 &lt;= cut &lt; L exists (L = 1 has nothing to cut).</summary>
public static class LongConvCaseWithCut
{
    public static Arbitrary<LongConvCase> Arbitrary() => LongConvCase.Arbitrary().Generator.Where(c => c.L >= 2).ToArbitrary();
}

public class LongConvolutionTests
{
    // Realistic trained-kernel magnitudes (std 0.05) so that lambda = 3e-3 zeroes some taps, not all.
    private static LongConvolutionParameters Params(LongConvCase c, double dropout = 0.0) =>
        LongConvolutionParameters.Initialize(new SplitMix64((ulong)c.Seed), c.H, c.Lk, c.C, 3e-3, c.Window, dropout, kernelStd: 0.05);

    private static Tensor<double> Input(LongConvCase c) =>
        new SplitMix64((ulong)c.Seed + 100).NormalTensor<double>(0, 1, c.Batch, c.L, c.H);

    [Fact]
    public void Golden_Smooth_HandExample()
    {
        // window 3, zero padded, divisor 3 everywhere: [3, 0, 0, 6] -> [1, 1, 2, 2].
        Assert.Equal([1.0, 1.0, 2.0, 2.0], LongConvolution.Smooth([3.0, 0.0, 0.0, 6.0], 1, 4, 3));
        Assert.Equal([3.0, 0.0, 0.0, 6.0], LongConvolution.Smooth([3.0, 0.0, 0.0, 6.0], 1, 4, 1));
    }

    [Property(Arbitrary = [typeof(LongConvCase)])]
    public void Property_Smooth_IsSelfAdjointBoxFilter(LongConvCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var x = rng.NormalTensor<double>(0, 1, 2, c.Lk).Data;
        var y = rng.NormalTensor<double>(0, 1, 2, c.Lk).Data;
        var sx = LongConvolution.Smooth(x, 2, c.Lk, c.Window);
        var sy = LongConvolution.Smooth(y, 2, c.Lk, c.Window);
        double lhs = ConvTestKit.Dot(sx, y), rhs = ConvTestKit.Dot(x, sy);
        Assert.True(Math.Abs(lhs - rhs) <= 1e-12 * (1 + Math.Abs(lhs)), $"{lhs} vs {rhs}");
        // Independent route: convolution with the box [1/w]*w centered, via the causal direct sum shifted by w/2.
        int half = c.Window / 2;
        for (int t = 0; t < c.Lk; t++)
        {
            double acc = 0;
            for (int s = 0; s < c.Lk; s++) if (Math.Abs(t - s) <= half) acc += x[s];
            Assert.True(Math.Abs(acc / c.Window - sx[t]) <= 1e-14);
        }
    }

    [Fact]
    public void Property_Squash_SoftThresholdsRealisticKernel()
    {
        var p = LongConvolutionParameters.Initialize(new SplitMix64(5), 4, 64, 1, lambda: 3e-3, kernelStd: 0.01);
        var k = LongConvolution.ProcessedKernel(p);
        int zeros = 0;
        for (int i = 0; i < k.Length; i++)
        {
            double w = p.Kernel[i];
            if (Math.Abs(w) <= 3e-3) { Assert.Equal(0.0, k.Data[i]); zeros++; }
            else
            {
                Assert.Equal(Math.Sign(w), Math.Sign(k.Data[i]));
                Assert.True(Math.Abs(Math.Abs(w) - 3e-3 - Math.Abs(k.Data[i])) <= 1e-18);
            }
        }
        // std 0.01: P(|w| <= 0.003) = 0.236; some but not all taps vanish.
        Assert.InRange(zeros, k.Length / 10, k.Length / 2);
    }

    [Fact]
    public void Edge_DefaultClassLambdaZeroesFreshKernel()
    {
        // The spec's warning: lambda = 0.1 on a randn * 0.002 kernel leaves nothing.
        var p = LongConvolutionParameters.Initialize(new SplitMix64(6), 3, 32, 2, lambda: 0.1);
        Assert.All(LongConvolution.ProcessedKernel(p).Data, v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void Property_KernelDropout_TrainOnlyAndSeeded()
    {
        var p = LongConvolutionParameters.Initialize(new SplitMix64(7), 4, 256, 2, lambda: 0.0, kernelDropout: 0.25, kernelStd: 0.05);
        var mask = LongConvolution.DrawDropoutMask(p, new SplitMix64(8));
        Assert.Equal(mask, LongConvolution.DrawDropoutMask(p, new SplitMix64(8)));
        double kept = mask.Count(m => m != 0.0) / (double)mask.Length;
        Assert.InRange(kept, 0.70, 0.80);
        Assert.All(mask, m => Assert.True(m == 0.0 || m == 1.0 / 0.75));
        var eval = LongConvolution.ProcessedKernel(p);
        var train = LongConvolution.ProcessedKernel(p, mask);
        for (int i = 0; i < mask.Length; i++) Assert.Equal(eval.Data[i] * mask[i], train.Data[i]);
    }

    [Property(Arbitrary = [typeof(LongConvCase)])]
    public void Property_Convolve_EqualsMaterializedOperator(LongConvCase c)
    {
        var p = Params(c);
        var u = new SplitMix64((ulong)c.Seed + 1).NormalTensor<double>(0, 1, c.Batch, c.H, c.L);
        var y = LongConvolution.Convolve(p, u);
        var t = LongConvolution.Materialize(p, c.L);
        // Row (b, c, h) of y is T[c H + h] applied to u[b, h].
        for (int b = 0; b < c.Batch; b++)
            for (int cc = 0; cc < c.C; cc++)
                for (int h = 0; h < c.H; h++)
                {
                    int row = cc * c.H + h;
                    for (int i = 0; i < c.L; i++)
                    {
                        double acc = 0;
                        for (int s = 0; s < c.L; s++) acc += t[row, i, s] * u[b, h, s];
                        Assert.True(Math.Abs(acc - y[b, row, i]) <= 1e-12 * (1 + Math.Abs(acc)));
                    }
                }
    }

    [Theory]
    [InlineData(9, 17)]
    [InlineData(70, 70)]
    [InlineData(200, 33)]
    public void Property_ConvolveFast_MatchesNaive_Float64AndFloat32(int length, int kernelLength)
    {
        // Lengths below and above CausalConvolution.FftThreshold: both Fast routes are covered.
        var p = Params(new LongConvCase(2, 3, 2, length, kernelLength, 3, 81));
        var u = new SplitMix64(82).NormalTensor<double>(0, 1, 2, 3, length);
        var y = LongConvolution.Convolve(p, u);
        Assert.True(Metrics.RelativeError(y.Data, LongConvolution.ConvolveFast(p, u, maxThreads: 1).Data) <= 1e-12);
        var y32 = LongConvolution.ConvolveFast(p, u.Cast<float>()).Cast<double>();
        Assert.True(Metrics.RelativeError(y.Data, y32.Data) <= 1e-5);
    }

    [Property(Arbitrary = [typeof(LongConvCaseWithCut)])]
    public void Property_Layer_IsCausal_Exactly(LongConvCase c)
    {
        Assert.True(c.L >= 2, $"{c}");
        var p = Params(c);
        var u = Input(c);
        int cut = 1 + new SplitMix64((ulong)c.Seed + 2).NextInt(c.L - 1);
        ConvTestKit.AssertCausal(x => LongConvolution.Forward(p, x), u, cut, t => 1.0 + t);
    }

    [Property(Arbitrary = [typeof(LongConvCase)])]
    public void Property_Layer_IsShiftEquivariant(LongConvCase c)
    {
        var p = Params(c);
        var u = Input(c);
        int shift = 1 + c.Seed % 3;
        var shifted = Tensor<double>.Zeros(c.Batch, c.L + shift, c.H);
        for (int b = 0; b < c.Batch; b++)
            u.Data.AsSpan(b * c.L * c.H, c.L * c.H).CopyTo(shifted.Data.AsSpan((b * (c.L + shift) + shift) * c.H));
        var y = LongConvolution.Forward(p, u);
        var ys = LongConvolution.Forward(p, shifted);
        for (int b = 0; b < c.Batch; b++)
            for (int t = 0; t < c.L; t++)
                for (int h = 0; h < c.H; h++)
                    Assert.True(Math.Abs(y[b, t, h] - ys[b, t + shift, h]) <= 1e-14 * (1 + Math.Abs(y[b, t, h])));
    }

    [Property(Arbitrary = [typeof(LongConvCase)])]
    public void Property_Composition_EqualsNaiveForward(LongConvCase c)
    {
        var p = Params(c);
        var u = Input(c);
        var y = LongConvolution.Forward(p, u);
        var v = LongConvolution.Layer(Variable.Constant(u), LongConvolution.Variables.From(p));
        Assert.True(Metrics.RelativeError(y.Data, v.Value.Data) <= 1e-13);
    }

    [Theory]
    [InlineData(1, 0.0)]
    [InlineData(3, 0.0)]
    [InlineData(5, 0.3)]
    public void Property_Backward_MatchesFiniteDifferences(int window, double dropout)
    {
        var c = new LongConvCase(2, 3, 2, 9, 11, window, 21);
        var p = Params(c, dropout);
        var mask = dropout > 0 ? LongConvolution.DrawDropoutMask(p, new SplitMix64(22)) : null;
        var u = Input(c);
        var weights = new SplitMix64(23).NormalTensor<double>(0, 1, c.Batch, c.L, c.H);
        double Loss() => ConvTestKit.Dot(LongConvolution.Forward(p, u, mask).Data, weights.Data);
        var g = LongConvolution.Backward(p, u, weights, mask);
        Assert.True(ConvTestKit.GradCheck(u.Data, g.Input.Data, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.Kernel, g.Kernel, Loss) <= 1e-6);
        Assert.True(ConvTestKit.GradCheck(p.D, g.D, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.W, g.W, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.Bias, g.Bias, Loss) <= 1e-7);
    }

    [Fact]
    public void Property_ConvolveOp_PassesTapeGradcheck()
    {
        var p = LongConvolution.Variables.From(Params(new LongConvCase(2, 2, 2, 8, 8, 3, 31)));
        var u = Variable.Parameter(new SplitMix64(32).NormalTensor<double>(0, 1, 2, 2, 8));
        var w = Variable.Constant(new SplitMix64(33).NormalTensor<double>(0, 1, 2, 4, 8));
        var result = GradCheck.CheckParameters(() => Ops.Sum(Ops.Mul(LongConvolution.ConvolveOp(u, p), w)), [u, p.Kernel, p.D]);
        Assert.True(result.Passed, result.ToString());
        Assert.Equal("conv.long", LongConvolution.ConvolveOp(u, p).CreatorName);
    }

    [Fact]
    public void Negative_EvenWindowAndWrongShapesAreRejected()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => LongConvolution.Smooth([1.0, 2.0], 1, 2, 2));
        Assert.Equal("window", ex.ParamName);
        var p = Params(new LongConvCase(1, 2, 1, 4, 4, 3, 1));
        var bad = Assert.Throws<ArgumentException>(() => LongConvolution.Forward(p, Tensor<double>.Zeros(1, 4, 3)));
        Assert.Equal("u", bad.ParamName);
        Assert.Throws<ArgumentException>(() => LongConvolution.ProcessedKernel(p with { Window = 4 }));
    }

    [Fact]
    public void Golden_Initialize_DrawsTheDocumentedDistributionsInTheDocumentedOrder()
    {
        // The doc comment of LongConvolutionParameters.Initialize (safari LongConv, long convolutions
        // Sec. 3): Kernel ~ N(0, kernelStd^2), D ~ N(0, 1), the output Linear W [2H, C H] and Bias [2H]
        // ~ U(-1/sqrt(C H), 1/sqrt(C H)), drawn in that order; rebuilt from a second generator's scalar draws.
        const int h = 3, lk = 5, c = 2;
        const double std = 0.03;
        var p = LongConvolutionParameters.Initialize(new SplitMix64(77), h, lk, c, lambda: 0.01, window: 3, kernelDropout: 0.2, kernelStd: std);
        var rng = new SplitMix64(77);
        Assert.Equal(c * h * lk, p.Kernel.Length);
        for (int i = 0; i < p.Kernel.Length; i++) Assert.Equal(std * rng.Normal(), p.Kernel[i]);
        Assert.Equal(c * h, p.D.Length);
        for (int i = 0; i < p.D.Length; i++) Assert.Equal(rng.Normal(), p.D[i]);
        double bound = 1.0 / Math.Sqrt(c * h);
        Assert.Equal(2 * h * c * h, p.W.Length);
        foreach (var w in p.W)
        {
            Assert.True(Math.Abs(-bound + 2 * bound * rng.Uniform() - w) <= 1e-15);
            Assert.InRange(w, -bound, bound);
        }
        Assert.Equal(2 * h, p.Bias.Length);
        foreach (var b in p.Bias)
        {
            Assert.True(Math.Abs(-bound + 2 * bound * rng.Uniform() - b) <= 1e-15);
            Assert.InRange(b, -bound, bound);
        }
        // The regularizer settings are stored as given, and the defaults are the documented ones
        // (lambda 3e-3 as the paper's configs, no smoothing, no dropout, kernel std 0.002).
        Assert.Equal((h, c, lk, 0.01, 3, 0.2), (p.Width, p.Channels, p.KernelLength, p.Lambda, p.Window, p.KernelDropout));
        var q = LongConvolutionParameters.Initialize(new SplitMix64(78), h, lk);
        Assert.Equal((1, 3e-3, 1, 0.0), (q.Channels, q.Lambda, q.Window, q.KernelDropout));
        var r = new SplitMix64(78);
        for (int i = 0; i < q.Kernel.Length; i++) Assert.Equal(0.002 * r.Normal(), q.Kernel[i]);
    }

    [Fact]
    public void Negative_InitializeAndRecordChecks_NameTheArgument_AndTheSmallestValidValuesAreAccepted()
    {
        var rng = new SplitMix64(1);
        Assert.Equal("rng", Assert.Throws<ArgumentNullException>(() => LongConvolutionParameters.Initialize(null!, 1, 1)).ParamName);
        Assert.Equal("width", Assert.Throws<ArgumentOutOfRangeException>(() => LongConvolutionParameters.Initialize(rng, 0, 1)).ParamName);
        Assert.Equal("kernelLength", Assert.Throws<ArgumentOutOfRangeException>(() => LongConvolutionParameters.Initialize(rng, 1, 0)).ParamName);
        Assert.Equal("channels", Assert.Throws<ArgumentOutOfRangeException>(() => LongConvolutionParameters.Initialize(rng, 1, 1, 0)).ParamName);
        // Initialize validates the record it returns (its settings are checked there).
        Assert.Equal("width", Assert.Throws<ArgumentException>(() => LongConvolutionParameters.Initialize(rng, 1, 1, window: 2)).ParamName);
        var p = LongConvolutionParameters.Initialize(rng, 1, 1, 1);
        Assert.Equal((1, 1, 1), (p.Width, p.Channels, p.KernelLength));
        var u = Tensor<double>.Zeros(1, 1, 1);
        void Rejected(LongConvolutionParameters bad) =>
            Assert.Equal("p", Assert.Throws<ArgumentException>(() => LongConvolution.ProcessedKernel(bad)).ParamName);
        Rejected(p with { Width = 0 });
        Rejected(p with { Channels = 0 });
        Rejected(p with { KernelLength = 0 });
        Rejected(p with { Kernel = new double[2] });
        Rejected(p with { D = new double[2] });
        Rejected(p with { W = new double[3] });
        Rejected(p with { Bias = new double[3] });
        Rejected(p with { Window = 0 });
        Rejected(p with { Window = 2 });
        Rejected(p with { Lambda = -1e-9 });
        Rejected(p with { Lambda = double.NaN });
        Rejected(p with { KernelDropout = -1e-9 });
        Rejected(p with { KernelDropout = 1.0 });
        // The boundaries themselves are valid: lambda 0, dropout 0 and just below 1, window 1.
        LongConvolution.ProcessedKernel(p with { Lambda = 0.0, KernelDropout = 0.0, Window = 1 });
        LongConvolution.ProcessedKernel(p with { KernelDropout = 0.999 });
        Assert.Equal("u", Assert.Throws<ArgumentNullException>(() => LongConvolution.Forward(p, null!)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentNullException>(() => LongConvolution.Forward(null!, u)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentNullException>(() => LongConvolution.Materialize(null!, 1)).ParamName);
    }

    [Fact]
    public void Negative_InputAndCotangentShapes_NameTheArgument_AndBatchOneLengthOneAreAccepted()
    {
        var p = LongConvolutionParameters.Initialize(new SplitMix64(5), 2, 3, 2);
        // Token-major [B, L, H]: B = 1, L = 1 accepted; B = 0, L = 0, wrong H, wrong rank rejected.
        Assert.Equal([1, 1, 2], LongConvolution.Forward(p, Tensor<double>.Zeros(1, 1, 2)).ShapeArray);
        foreach (var bad in new[] { Tensor<double>.Zeros(0, 1, 2), Tensor<double>.Zeros(1, 0, 2), Tensor<double>.Zeros(1, 1, 3), Tensor<double>.Zeros(1, 2) })
            Assert.Equal("u", Assert.Throws<ArgumentException>(() => LongConvolution.Forward(p, bad)).ParamName);
        // Channel-major [B, H, L] for the convolution core and its backward.
        var u = Tensor<double>.Zeros(1, 2, 1);
        Assert.Equal([1, 4, 1], LongConvolution.Convolve(p, u).ShapeArray);
        foreach (var bad in new[] { Tensor<double>.Zeros(0, 2, 1), Tensor<double>.Zeros(1, 2, 0), Tensor<double>.Zeros(1, 3, 1), Tensor<double>.Zeros(2, 1) })
            Assert.Equal("u", Assert.Throws<ArgumentException>(() => LongConvolution.Convolve(p, bad)).ParamName);
        LongConvolution.ConvolveBackward(p, u, Tensor<double>.Zeros(1, 4, 1));
        foreach (var dy in new[] { null, Tensor<double>.Zeros(4, 1), Tensor<double>.Zeros(1, 4), Tensor<double>.Zeros(2, 4, 1), Tensor<double>.Zeros(1, 3, 1), Tensor<double>.Zeros(1, 4, 2) })
            Assert.Equal("dy", Assert.Throws<ArgumentException>(() => LongConvolution.ConvolveBackward(p, u, dy!)).ParamName);
        var x = Tensor<double>.Zeros(1, 1, 2);
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() => LongConvolution.Backward(p, x, Tensor<double>.Zeros(1, 2, 2))).ParamName);
        Assert.Equal("dropMask", Assert.Throws<ArgumentException>(() => LongConvolution.Forward(p, x, new double[5])).ParamName);
    }

    [Fact]
    public void Edge_SquashBoundary_BackwardUsesSubgradientZero()
    {
        // The file head: Squash is not differentiable at |S| = lambda and Backward uses the subgradient 0
        // there. Window 1 (S = W) and taps exactly +-lambda, just above and just below it: the kernel
        // gradient is 0 at and below the threshold, and dL/dK (= sum_t dy[t] u[t - j], here u = 1, dy = 1,
        // L = 4: 4 - j) above it.
        const double lambda = 0.25;
        var p = LongConvolutionParameters.Initialize(new SplitMix64(9), 1, 4, 1, lambda: lambda) with
        {
            Kernel = [lambda, -lambda, 0.5, 0.125],
            D = [0.0],
        };
        var u = Tensor<double>.Full(1.0, 1, 1, 4);
        var g = LongConvolution.ConvolveBackward(p, u, Tensor<double>.Full(1.0, 1, 1, 4));
        Assert.Equal([0.0, 0.0, 2.0, 0.0], g.Kernel);
    }
}
