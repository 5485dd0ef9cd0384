using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using static Reference.SpecTests.Autodiff.Conv3dTests;

namespace Reference.SpecTests.Autodiff;

/// <summary>BatchNorm (train / eval), Dropout3d and the 3-D pools in both tiers against their definitions written out, and by gradcheck.</summary>
public class NormPoolTests
{
    private static int[] DrawShape(SplitMix64 rng) => [1 + rng.NextInt(3), 1 + rng.NextInt(3), 1 + rng.NextInt(4), 1 + rng.NextInt(4), 1 + rng.NextInt(4)];

    [Property(MaxTest = 20)]
    public Property BatchNorm_Train_IsBatchStatistics_AndUpdatesRunningAverages() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            var shape = DrawShape(rng);
            shape[0] = 2 + rng.NextInt(2);
            int n = shape[0], c = shape[1], s = shape[2] * shape[3] * shape[4];
            var x = new SplitMix64((ulong)seed + 1).NormalTensor<double>(3, 2, shape);
            var w = Grad.Normal((ulong)seed + 2, c);
            var b = Grad.Normal((ulong)seed + 3, c);
            foreach (bool fast in new[] { false, true })
            {
                var rm = Enumerable.Range(0, c).Select(i => 0.5 * i).ToArray();
                var rv = Enumerable.Range(0, c).Select(i => 1.0 + i).ToArray();
                var rm0 = (double[])rm.Clone();
                var rv0 = (double[])rv.Clone();
                var y = Run(fast, () => Ops.BatchNorm(Variable.Constant(x), Variable.Constant(w), Variable.Constant(b), rm, rv, training: true, momentum: 0.2, eps: 1e-3)).Value;
                for (int ch = 0; ch < c; ch++)
                {
                    var vals = new List<double>();
                    for (int bi = 0; bi < n; bi++)
                        for (int i = 0; i < s; i++) vals.Add(x.Data[(bi * c + ch) * s + i]);
                    double mu = vals.Average();
                    double var = vals.Sum(v => (v - mu) * (v - mu)) / vals.Count;
                    for (int bi = 0; bi < n; bi++)
                        for (int i = 0; i < s; i++)
                        {
                            int e = (bi * c + ch) * s + i;
                            double expected = w.Data[ch] * (x.Data[e] - mu) / Math.Sqrt(var + 1e-3) + b.Data[ch];
                            Assert.True(Math.Abs(expected - y.Data[e]) < 1e-12 * (1 + Math.Abs(expected)), $"y[{e}]: {expected} vs {y.Data[e]}");
                        }
                    Assert.Equal(0.8 * rm0[ch] + 0.2 * mu, rm[ch], 12);
                    Assert.Equal(0.8 * rv0[ch] + 0.2 * var * vals.Count / (vals.Count - 1), rv[ch], 12);
                }
                // Eval: the running statistics, left unchanged.
                var rmE = (double[])rm.Clone();
                var ye = Run(fast, () => Ops.BatchNorm(Variable.Constant(x), Variable.Constant(w), Variable.Constant(b), rm, rv, training: false, eps: 1e-3)).Value;
                for (int e = 0; e < x.Length; e++)
                {
                    int ch = e / s % c;
                    double expected = w.Data[ch] * (x.Data[e] - rm[ch]) / Math.Sqrt(rv[ch] + 1e-3) + b.Data[ch];
                    Assert.True(Math.Abs(expected - ye.Data[e]) < 1e-12 * (1 + Math.Abs(expected)));
                }
                Assert.Equal(rmE, rm);
            }
        });

    [Property(MaxTest = 8)]
    public Property BatchNorm_TrainAndEval_BothTiers_PassGradCheck() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int[] shape = [2, 1 + rng.NextInt(3), 1 + rng.NextInt(3), 1 + rng.NextInt(3), 2];
            int c = shape[1];
            var x = Grad.Normal((ulong)seed + 1, shape);
            var w = Grad.Normal((ulong)seed + 2, c);
            var b = Grad.Normal((ulong)seed + 3, c);
            var rm = Grad.Normal((ulong)seed + 4, c).Data;
            var rv = Enumerable.Range(0, c).Select(i => 0.5 + i).ToArray();
            foreach (bool fast in new[] { false, true })
                foreach (bool training in new[] { true, false })
                {
                    Grad.AssertPasses(v => Run(fast, () => Grad.Probe(Ops.BatchNorm(v[0], v[1], v[2], rm, rv, training))), x, w, b);
                    Grad.AssertPasses(v => Run(fast, () => Grad.Probe(Ops.BatchNorm(v[0], null, null, rm, rv, training))), x);
                }
        });

    [Fact]
    public void BatchNorm_TrainingOnOneValuePerChannel_Throws()
    {
        var x = Variable.Constant(Tensor<double>.Zeros(1, 2, 1, 1, 1));
        var ex = Assert.Throws<ArgumentException>(() => Ops.BatchNorm(x, null, null, new double[2], new double[2], training: true));
        Assert.Equal("x", ex.ParamName);
        Assert.Throws<ArgumentException>(() => Ops.BatchNorm(x, null, null, new double[3], new double[2], training: false));
    }

    [Fact]
    public void Dropout3d_DropsWholeChannels_AtRateP_IdenticallyInBothTiers()
    {
        var x = new SplitMix64(5).NormalTensor<double>(0, 1, 50, 40, 2, 2, 3);
        var slow = Ops.Dropout3d(Variable.Constant(x), 0.3, new SplitMix64(9)).Value;
        var fast = Run(true, () => Ops.Dropout3d(Variable.Constant(x), 0.3, new SplitMix64(9))).Value;
        Assert.Equal(slow.Data, fast.Data);
        int dropped = 0, rows = 50 * 40, s = 12;
        for (int r = 0; r < rows; r++)
        {
            var ratio = Enumerable.Range(0, s).Select(i => slow.Data[r * s + i] / x.Data[r * s + i]).ToArray();
            Assert.True(ratio.All(q => Math.Abs(q) < 1e-15) || ratio.All(q => Math.Abs(q - 1 / 0.7) < 1e-12), $"channel {r} is partly dropped");
            if (Math.Abs(ratio[0]) < 1e-15) dropped++;
        }
        // Binomial(2000, 0.3): sd ~ 20.5; 5 sd.
        Assert.InRange(dropped, 600 - 103, 600 + 103);
    }

    [Property(MaxTest = 10)]
    public Property Dropout3d_PassesGradCheck() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var x = Grad.Normal((ulong)seed, DrawShape(new SplitMix64((ulong)seed)));
            foreach (bool fast in new[] { false, true })
                Grad.AssertPasses(v => Run(fast, () => Grad.Probe(Ops.Dropout3d(v[0], 0.4, new SplitMix64((ulong)seed)))), x);
        });

    /// <summary>Pooling written out: the window's in-volume values listed, then max or sum / kernel volume.</summary>
    private static Tensor<double> ExplicitPool(Tensor<double> x, int[] k, Conv3dGeometry g, bool max)
    {
        var o = g.OutputSize(x.Shape[2..], k);
        var y = Tensor<double>.Zeros(x.Shape[0], x.Shape[1], o[0], o[1], o[2]);
        for (int n = 0; n < x.Shape[0]; n++)
            for (int c = 0; c < x.Shape[1]; c++)
                for (int z = 0; z < o[0]; z++)
                    for (int u = 0; u < o[1]; u++)
                        for (int v = 0; v < o[2]; v++)
                        {
                            var vals = new List<double>();
                            for (int a = 0; a < k[0]; a++)
                                for (int b = 0; b < k[1]; b++)
                                    for (int e = 0; e < k[2]; e++)
                                    {
                                        int i = z * g.Stride[0] - g.PadBefore[0] + a, j = u * g.Stride[1] - g.PadBefore[1] + b, l = v * g.Stride[2] - g.PadBefore[2] + e;
                                        if (i >= 0 && j >= 0 && l >= 0 && i < x.Shape[2] && j < x.Shape[3] && l < x.Shape[4]) vals.Add(x[n, c, i, j, l]);
                                    }
                            y[n, c, z, u, v] = max ? vals.Max() : vals.Sum() / (k[0] * k[1] * k[2]);
                        }
        return y;
    }

    [Property(MaxTest = 25)]
    public Property Pools_MatchDefinition_AndPassGradCheck() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int[] shape = [1 + rng.NextInt(2), 1 + rng.NextInt(2), 2 + rng.NextInt(4), 2 + rng.NextInt(4), 2 + rng.NextInt(4)];
            int[] k = [1 + rng.NextInt(2), 1 + rng.NextInt(2), 2];
            var pad = k.Select(kk => rng.NextInt(kk / 2 + 1)).ToArray();
            var g = new Conv3dGeometry([1 + rng.NextInt(2), 1 + rng.NextInt(2), 1 + rng.NextInt(2)], pad, pad);
            var x = Grad.Normal((ulong)seed + 1, shape);
            foreach (bool max in new[] { true, false })
            {
                var y = max ? Ops.MaxPool3d(Variable.Constant(x), k, g) : Ops.AvgPool3d(Variable.Constant(x), k, g);
                AssertClose(ExplicitPool(x, k, g, max), y.Value);
                Grad.AssertPasses(v => Grad.Probe(max ? Ops.MaxPool3d(v[0], k, g) : Ops.AvgPool3d(v[0], k, g)), x);
            }
            int rows = shape[0] * shape[1], s = x.Length / rows;
            foreach (bool fast in new[] { false, true })
            {
                var avg = Run(fast, () => Ops.GlobalAvgPool(Variable.Constant(x))).Value;
                var mx = Run(fast, () => Ops.GlobalMaxPool(Variable.Constant(x))).Value;
                Assert.Equal([shape[0], shape[1]], avg.Shape.ToArray());
                for (int r = 0; r < rows; r++)
                {
                    var row = x.Data.Skip(r * s).Take(s).ToArray();
                    Assert.Equal(row.Average(), avg.Data[r], 12);
                    Assert.Equal(row.Max(), mx.Data[r]);
                }
                Grad.AssertPasses(v => Run(fast, () => Grad.Probe(Ops.GlobalAvgPool(v[0]))), x);
                Grad.AssertPasses(v => Run(fast, () => Grad.Probe(Ops.GlobalMaxPool(v[0]))), x);
            }
        });
}
