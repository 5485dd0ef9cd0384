using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

/// <summary>Conv3d (both tiers) against an explicit loop over a zero-padded copy of the input, and by gradcheck.</summary>
public class Conv3dTests
{
    /// <summary>A random small convolution: shapes, stride and (asymmetric) padding drawn from the seed.</summary>
    internal sealed record Case(int N, int Cin, int Cout, int[] In, int[] K, Conv3dGeometry G)
    {
        public static Case Draw(SplitMix64 rng, int maxIn = 6, int maxK = 3, int maxC = 3)
        {
            int[] input = [1 + rng.NextInt(maxIn), 1 + rng.NextInt(maxIn), 1 + rng.NextInt(maxIn)];
            int[] stride = [1 + rng.NextInt(3), 1 + rng.NextInt(3), 1 + rng.NextInt(3)];
            int[] pb = [rng.NextInt(3), rng.NextInt(3), rng.NextInt(3)];
            int[] pa = [rng.NextInt(3), rng.NextInt(3), rng.NextInt(3)];
            var k = new int[3];
            for (int a = 0; a < 3; a++) k[a] = 1 + rng.NextInt(Math.Min(maxK, input[a] + pb[a] + pa[a]));
            return new Case(1 + rng.NextInt(2), 1 + rng.NextInt(maxC), 1 + rng.NextInt(maxC), input, k, new Conv3dGeometry(stride, pb, pa));
        }
    }

    /// <summary>The definition written out: copy x into a zero-padded volume, then correlate every output position with the kernel.</summary>
    internal static Tensor<double> Explicit(Tensor<double> x, Tensor<double> w, Tensor<double>? bias, Conv3dGeometry g)
    {
        int n = x.Shape[0], cin = x.Shape[1], cout = w.Shape[0];
        int[] size = [x.Shape[2], x.Shape[3], x.Shape[4]];
        int[] k = [w.Shape[2], w.Shape[3], w.Shape[4]];
        var padded = new int[3];
        var outSize = new int[3];
        for (int a = 0; a < 3; a++)
        {
            padded[a] = size[a] + g.PadBefore[a] + g.PadAfter[a];
            outSize[a] = (padded[a] - k[a]) / g.Stride[a] + 1;
        }
        var xp = new double[n, cin, padded[0], padded[1], padded[2]];
        for (int b = 0; b < n; b++)
            for (int c = 0; c < cin; c++)
                for (int i = 0; i < size[0]; i++)
                    for (int j = 0; j < size[1]; j++)
                        for (int l = 0; l < size[2]; l++)
                            xp[b, c, i + g.PadBefore[0], j + g.PadBefore[1], l + g.PadBefore[2]] = x[b, c, i, j, l];
        var y = Tensor<double>.Zeros(n, cout, outSize[0], outSize[1], outSize[2]);
        for (int b = 0; b < n; b++)
            for (int o = 0; o < cout; o++)
                for (int z = 0; z < outSize[0]; z++)
                    for (int u = 0; u < outSize[1]; u++)
                        for (int v = 0; v < outSize[2]; v++)
                        {
                            double s = bias is null ? 0.0 : bias[o];
                            for (int c = 0; c < cin; c++)
                                for (int a = 0; a < k[0]; a++)
                                    for (int bb = 0; bb < k[1]; bb++)
                                        for (int e = 0; e < k[2]; e++)
                                            s += w[o, c, a, bb, e] * xp[b, c, z * g.Stride[0] + a, u * g.Stride[1] + bb, v * g.Stride[2] + e];
                            y[b, o, z, u, v] = s;
                        }
        return y;
    }

    internal static Variable Run(bool fast, Func<Variable> f)
    {
        if (!fast) return f();
        using var scope = Tape.UseFastKernels();
        return f();
    }

    internal static void AssertClose(Tensor<double> expected, Tensor<double> actual, double tol = 1e-12)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected.Data[i] - actual.Data[i]) <= tol * (1 + Math.Abs(expected.Data[i])),
                $"element {i}: expected {expected.Data[i]:R}, got {actual.Data[i]:R}");
    }

    [Property(MaxTest = 30)]
    public Property Conv3d_BothTiers_MatchExplicitLoop() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            var c = Case.Draw(rng);
            var x = Grad.Normal((ulong)seed + 1, [c.N, c.Cin, .. c.In]);
            var w = Grad.Normal((ulong)seed + 2, [c.Cout, c.Cin, .. c.K]);
            var b = Grad.Normal((ulong)seed + 3, c.Cout);
            var expected = Explicit(x, w, b, c.G);
            foreach (bool fast in new[] { false, true })
            {
                AssertClose(expected, Run(fast, () => Ops.Conv3d(Variable.Constant(x), Variable.Constant(w), Variable.Constant(b), c.G)).Value);
                AssertClose(Explicit(x, w, null, c.G), Run(fast, () => Ops.Conv3d(Variable.Constant(x), Variable.Constant(w), null, c.G)).Value);
            }
        });

    [Property(MaxTest = 6)]
    public Property Conv3d_BothTiers_PassGradCheck() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            var c = Case.Draw(rng, maxIn: 4, maxC: 2);
            var x = Grad.Normal((ulong)seed + 1, [c.N, c.Cin, .. c.In]);
            var w = Grad.Normal((ulong)seed + 2, [c.Cout, c.Cin, .. c.K]);
            var b = Grad.Normal((ulong)seed + 3, c.Cout);
            foreach (bool fast in new[] { false, true })
                Grad.AssertPasses(v => Run(fast, () => Grad.Probe(Ops.Conv3d(v[0], v[1], v[2], c.G))), x, w, b);
        });

    /// <summary>
    /// The Fast tier's direct kernels on channel counts that fill and overflow their 8-channel blocks
    /// (up to 13 output and 9 input channels), larger volumes and every padding case: output and all
    /// three gradients against the Naive tier (the explicit loops), and bitwise the same on 1 and 2
    /// kernel threads (fixed work items, partial sums in a fixed order).
    /// </summary>
    [Property(MaxTest = 12)]
    public Property Conv3d_FastTier_ManyChannels_MatchesNaiveForwardAndBackward() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            var c = Case.Draw(rng, maxIn: 9, maxK: 3, maxC: 1) with { N = 1 + rng.NextInt(3), Cin = 1 + rng.NextInt(9), Cout = 1 + rng.NextInt(13) };
            var x = Grad.Normal((ulong)seed + 1, [c.N, c.Cin, .. c.In]);
            var w = Grad.Normal((ulong)seed + 2, [c.Cout, c.Cin, .. c.K]);
            var b = Grad.Normal((ulong)seed + 3, c.Cout);
            Tensor<double>[] Step(bool fast, int threads)
            {
                using var limit = KernelThreads.Limit(threads);
                var (xv, wv, bv) = (Variable.Parameter(x), Variable.Parameter(w), Variable.Parameter(b));
                var y = Run(fast, () => Ops.Conv3d(xv, wv, bv, c.G));
                var seedGrad = Grad.Normal((ulong)seed + 4, y.Shape.ToArray());
                using (fast ? Tape.UseFastKernels() : default) y.Backward(seedGrad);
                return [y.Value, xv.Grad!, wv.Grad!, bv.Grad!];
            }
            var naive = Step(false, 1);
            var one = Step(true, 1);
            var two = Step(true, 2);
            for (int i = 0; i < naive.Length; i++)
            {
                AssertClose(naive[i], one[i], 1e-11);
                Assert.Equal(one[i].Data, two[i].Data);
            }
        });

    /// <summary>
    /// The weight-only backward (input data needs no gradient: each chunk of 2,048 positions transposes
    /// its own cotangent rows): against the Naive tier, several chunks that straddle samples, padded and
    /// not, and bitwise the same on 1 and 2 kernel threads.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Conv3d_FastTier_WeightOnlyBackward_ManyChunks_MatchesNaive(int pad)
    {
        var x = Grad.Normal(31, 5, 1, 20, 24, 20);
        var w = Grad.Normal(32, 5, 1, 3, 3, 3);
        var b = Grad.Normal(33, 5);
        var g = new Conv3dGeometry([2, 2, 2], [pad, 0, pad], [0, pad, pad]);
        Tensor<double>[] Step(bool fast, int threads)
        {
            using var limit = KernelThreads.Limit(threads);
            var (wv, bv) = (Variable.Parameter(w), Variable.Parameter(b));
            var y = Run(fast, () => Ops.Conv3d(Variable.Constant(x), wv, bv, g));
            using (fast ? Tape.UseFastKernels() : default) y.Backward(Grad.Normal(34, y.Shape.ToArray()));
            return [y.Value, wv.Grad!, bv.Grad!];
        }
        var naive = Step(false, 1);
        var one = Step(true, 1);
        var two = Step(true, 2);
        Assert.True(naive[0].Length / 5 > 2 * 2048);
        for (int i = 0; i < naive.Length; i++)
        {
            AssertClose(naive[i], one[i], 1e-11);
            Assert.Equal(one[i].Data, two[i].Data);
        }
    }

    /// <summary>
    /// The 3D-CNN decoder's geometries (3 x 3 x 3 kernels, stride 2, 1 -> 8 and 8 -> 8 channels, 8 and 16
    /// output channels): the forward tiles whose 8 positions lie in one sample are stored transposed by
    /// the kernel, the others (100 positions per sample) through the scalar scatter, and the weight gradient runs 27-tap tiles
    /// (one per input channel); output and gradients against the Naive tier, bitwise the same on 1 and
    /// 2 kernel threads.
    /// </summary>
    [Theory]
    [InlineData(1, 8, 2)]
    [InlineData(8, 8, 3)]
    [InlineData(8, 16, 2)]
    public void Conv3d_FastTier_DecoderGeometry_MatchesNaive(int cin, int cout, int n)
    {
        var x = Grad.Normal(41, n, cin, 9, 11, 11);
        var w = Grad.Normal(42, cout, cin, 3, 3, 3);
        var b = Grad.Normal(43, cout);
        var g = new Conv3dGeometry([2, 2, 2], [0, 0, 0], [0, 0, 0]);
        Tensor<double>[] Step(bool fast, int threads)
        {
            using var limit = KernelThreads.Limit(threads);
            var (xv, wv, bv) = (Variable.Parameter(x), Variable.Parameter(w), Variable.Parameter(b));
            var y = Run(fast, () => Ops.Conv3d(xv, wv, bv, g));
            using (fast ? Tape.UseFastKernels() : default) y.Backward(Grad.Normal(44, y.Shape.ToArray()));
            return [y.Value, xv.Grad!, wv.Grad!, bv.Grad!];
        }
        var naive = Step(false, 1);
        var one = Step(true, 1);
        var two = Step(true, 2);
        Assert.Equal([n, cout, 4, 5, 5], naive[0].Shape.ToArray());   // 100 positions: 12 whole tiles of 8, then one that straddles
        for (int i = 0; i < naive.Length; i++)
        {
            AssertClose(naive[i], one[i], 1e-11);
            Assert.Equal(one[i].Data, two[i].Data);
        }
    }

    [Fact]
    public void Conv3d_SamePadding_IsTensorFlows()
    {
        // TF "same": out = ceil(in / s); total padding (out - 1) s + k - in, the extra one after.
        var g = Conv3dGeometry.Same([20, 24, 5], [3, 3, 3], [2, 2, 1]);
        Assert.Equal([0, 0, 1], g.PadBefore);
        Assert.Equal([1, 1, 1], g.PadAfter);
        Assert.Equal([10, 12, 5], g.OutputSize([20, 24, 5], [3, 3, 3]));
    }

    [Fact]
    public void Conv3d_BadInput_NamesTheArgument()
    {
        var x = Variable.Constant(Tensor<double>.Zeros(1, 2, 4, 4, 4));
        var ex = Assert.Throws<ArgumentException>(() => Ops.Conv3d(x, Variable.Constant(Tensor<double>.Zeros(3, 1, 3, 3, 3))));
        Assert.Equal("w", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Ops.Conv3d(x, Variable.Constant(Tensor<double>.Zeros(3, 2, 5, 3, 3))));
        Assert.Equal("input", ex.ParamName);
        Assert.Throws<ArgumentException>(() => new Conv3dGeometry([1, 0, 1], [0, 0, 0], [0, 0, 0]));
    }

    [Fact]
    public void Conv3dModule_HasPyTorchParameterCountAndInitBound()
    {
        var conv = new Reference.Autodiff.Nn.Conv3d(2, 5, 3, new SplitMix64(1), stride: 2);
        Assert.Equal(5 * 2 * 27 + 5, conv.ParameterCount());
        double bound = 1.0 / Math.Sqrt(2 * 27);
        Assert.All(conv.Weight.Value.Data, v => Assert.InRange(v, -bound, bound));
        Assert.True(conv.Weight.Value.Data.Max() > 0.8 * bound);
        var y = conv.Forward(Variable.Constant(Tensor<double>.Zeros(1, 2, 20, 24, 20)));
        Assert.Equal([1, 5, 9, 11, 9], y.Shape.ToArray());
    }
}
