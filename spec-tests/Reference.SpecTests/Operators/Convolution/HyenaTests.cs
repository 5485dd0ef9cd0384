using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using MathNet.Numerics.LinearAlgebra;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Convolution;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>A Hyena case: B x L x D input, order N_o, l_max = L + Extra, embedding dim E, seed.</summary>
public sealed record HyenaCase(int Batch, int D, int Order, int L, int Extra, int E, int Seed)
{
    public int MaxLength => L + Extra;

    public static Arbitrary<HyenaCase> Arbitrary() =>
        (from batch in Gen.Choose(1, 2)
         from d in Gen.Elements(1, 2, 3)
         from order in Gen.Elements(2, 3)
         from l in Gen.Elements(1, 2, 7, 8, 9, 16, 17)
         from extra in Gen.Elements(0, 1, 7)
         from e in Gen.Elements(3, 5, 7)
         from seed in Cases.Seed
         select new HyenaCase(batch, d, order, l, extra, e, seed)).ToArbitrary();
}

/// <summary>Hyena cases with L &gt;= 2, so a causality cut 1 &lt;= cut &lt; L exists (L = 1 has nothing to cut).</summary>
public static class HyenaCaseWithCut
{
    public static Arbitrary<HyenaCase> Arbitrary() => HyenaCase.Arbitrary().Generator.Where(c => c.L >= 2).ToArbitrary();
}

public class HyenaTests
{
    private static HyenaParameters Params(HyenaCase c) =>
        HyenaParameters.Initialize(new SplitMix64((ulong)c.Seed), c.D, c.MaxLength, c.Order, filterWidth: 8, embeddingDim: c.E);

    private static Tensor<double> Input(HyenaCase c) =>
        new SplitMix64((ulong)c.Seed + 100).NormalTensor<double>(0, 1, c.Batch, c.L, c.D);

    [Fact]
    public void Golden_PositionalFeaturesAndDecays_HandValues()
    {
        var (z, t) = Hyena.PositionalFeatures(5, 4);
        // bands = 2, f = [1e-4, 1], t_k = k/3, w_k = 2 pi k / 4.
        Assert.Equal([0.0, 1.0 / 3, 2.0 / 3, 1.0], t);
        double w1 = Math.PI / 2;
        double[] expected = [1.0 / 3, Math.Cos(1e-4 * w1), Math.Cos(w1), -Math.Sin(1e-4 * w1), -Math.Sin(w1)];
        for (int j = 0; j < 5; j++) Assert.Equal(expected[j], z[1, j], 15);
        var p = HyenaParameters.Initialize(new SplitMix64(1), 3, 8, order: 2, filterWidth: 4);
        Assert.Equal(Math.Log(1e-2) / 1.5, p.Deltas[0], 15);
        Assert.Equal(Math.Log(1e-2) / 0.3, p.Deltas[^1], 15);
        Assert.Equal((Math.Log(1e-2) / 1.5 + Math.Log(1e-2) / 0.3) / 2, p.Deltas[1], 14);
    }

    [Property(Arbitrary = [typeof(HyenaCase)])]
    public void Property_FilterForShortInput_IsPrefixOfMaxLengthFilter(HyenaCase c)
    {
        var p = Params(c);
        var full = Hyena.Filter(p, c.MaxLength);
        var prefix = Hyena.Filter(p, c.L);
        for (int ch = 0; ch < p.FilterChannels; ch++)
            for (int k = 0; k < c.L; k++) Assert.Equal(full[ch, k], prefix[ch, k]);

        // Hyena Sec. 3.3: h_t = Window(t) (FFN o PositionalEncoding)(t), rebuilt here with MathNet
        // matrix-vector products: a = sin(Freq o (W a + B)) three times from the features z_t, then
        // W3 a, times the window exp(-t |delta_c|) (1 at t = 0, exp(-|delta_c|) at the end).
        var (z, times) = Hyena.PositionalFeatures(p.EmbeddingDim, p.MaxLength);
        int f = p.FilterWidth, e = p.EmbeddingDim;
        var freq = Vector<double>.Build.DenseOfArray(p.Freq);
        Vector<double> Sin(double[] w, int inputs, double[] bias, Vector<double> x) =>
            (Matrix<double>.Build.DenseOfRowMajor(f, inputs, w) * x + Vector<double>.Build.DenseOfArray(bias)).PointwiseMultiply(freq).PointwiseSin();
        var w3 = Matrix<double>.Build.DenseOfRowMajor(p.FilterChannels, f, p.W3);
        var expected = new double[p.FilterChannels * c.MaxLength];
        for (int k = 0; k < c.MaxLength; k++)
        {
            var a = Sin(p.W0, e, p.B0, Vector<double>.Build.Dense(e, j => z[k, j]));
            var mlp = w3 * Sin(p.W2, f, p.B2, Sin(p.W1, f, p.B1, a));
            for (int ch = 0; ch < p.FilterChannels; ch++) expected[ch * c.MaxLength + k] = mlp[ch] * Math.Exp(-times[k] * Math.Abs(p.Deltas[ch]));
        }
        Assert.True(Metrics.RelativeError(expected, full.Data) <= 1e-12, $"{c}: {Metrics.RelativeError(expected, full.Data)}");
    }

    [Property(Arbitrary = [typeof(HyenaCase)])]
    public void Property_ChunkedAndSteppedEqualParallel_Exactly(HyenaCase c)
    {
        var p = Params(c);
        var u = Input(c);
        var y = Hyena.Forward(p, u);
        var rng = new SplitMix64((ulong)c.Seed + 1);
        var state = Hyena.InitialState(p, c.Batch);
        var chunked = new double[y.Length];
        for (int start = 0; start < c.L;)
        {
            int len = Math.Min(1 + rng.NextInt(4), c.L - start);
            var yc = Hyena.ForwardChunk(p, state, u.Slice(1, start, len));
            for (int b = 0; b < c.Batch; b++)
                yc.Data.AsSpan(b * len * c.D, len * c.D).CopyTo(chunked.AsSpan((b * c.L + start) * c.D));
            start += len;
        }
        Assert.Equal(y.Data, chunked);

        int prefix = c.L / 2;
        var stepped = new double[y.Length];
        HyenaState s;
        if (prefix > 0)
        {
            (var yp, s) = Hyena.Prefill(p, u.Slice(1, 0, prefix));
            for (int b = 0; b < c.Batch; b++)
                yp.Data.AsSpan(b * prefix * c.D, prefix * c.D).CopyTo(stepped.AsSpan(b * c.L * c.D));
        }
        else s = Hyena.InitialState(p, c.Batch);
        for (int t = prefix; t < c.L; t++)
        {
            var yt = Hyena.Step(p, s, u.Slice(1, t, 1).Reshape(c.Batch, c.D));
            for (int b = 0; b < c.Batch; b++) yt.Data.AsSpan(b * c.D, c.D).CopyTo(stepped.AsSpan((b * c.L + t) * c.D));
        }
        Assert.Equal(y.Data, stepped);
        Assert.Equal(c.L, s.Position);
    }

    [Property(Arbitrary = [typeof(HyenaCase)])]
    public void Property_Materialize_MapsVToPreProjection(HyenaCase c)
    {
        var p = Params(c);
        var u = Input(c).Slice(0, 0, 1).Reshape(c.L, c.D);
        var inter = Hyena.ForwardWithIntermediates(p, u.Reshape(1, c.L, c.D));
        var t = Hyena.Materialize(p, u);
        int inner = (c.Order + 1) * c.D;
        var v = inter.S.Slice(1, c.Order * c.D, c.D).Reshape(c.D, c.L);
        var expected = ConvTestKit.ApplyOperator(t, v.Data, c.D, c.L);
        Assert.True(Metrics.RelativeError(inter.Y.Data, expected) <= 1e-12, $"inner {inner}");
        for (int d = 0; d < c.D; d++)
            for (int i = 0; i < c.L; i++)
                for (int s = i + 1; s < c.L; s++) Assert.Equal(0.0, t[d, i, s]);
    }

    [Fact]
    public void Property_Materialize_Order2_IsGatedToeplitz()
    {
        // Order 2 by hand: T[d] = diag(x_0) (Toeplitz(h_0) + bias I) diag(x_1).
        var c = new HyenaCase(1, 2, 2, 9, 3, 3, 41);
        var p = Params(c);
        var u = Input(c).Reshape(c.L, c.D);
        var inter = Hyena.ForwardWithIntermediates(p, u.Reshape(1, c.L, c.D));
        var h = Hyena.Filter(p, c.L);
        var t = Hyena.Materialize(p, u);
        for (int d = 0; d < c.D; d++)
            for (int i = 0; i < c.L; i++)
                for (int s = 0; s <= i; s++)
                {
                    double toeplitz = h[d, i - s] + (i == s ? p.FilterBias[d] : 0.0);
                    double expected = inter.S[0, d, i] * toeplitz * inter.S[0, c.D + d, s];
                    Assert.True(Math.Abs(expected - t[d, i, s]) <= 1e-14 * (1 + Math.Abs(expected)));
                }
    }

    [Property(Arbitrary = [typeof(HyenaCaseWithCut)])]
    public void Property_IsCausal_Exactly(HyenaCase c)
    {
        Assert.True(c.L >= 2, $"{c}");
        var p = Params(c);
        var u = Input(c);
        int cut = 1 + new SplitMix64((ulong)c.Seed + 2).NextInt(c.L - 1);
        ConvTestKit.AssertCausal(x => Hyena.Forward(p, x), u, cut, t => -(0.5 + t));
    }

    [Property(Arbitrary = [typeof(HyenaCase)])]
    public void Property_Composition_EqualsNaiveForward(HyenaCase c)
    {
        var p = Params(c);
        var u = Input(c);
        var y = Hyena.Forward(p, u);
        var v = Hyena.Operator(Variable.Constant(u), Hyena.Variables.From(p));
        Assert.True(Metrics.RelativeError(y.Data, v.Value.Data) <= 1e-12);
    }

    [Theory]
    [InlineData(2, 3)]
    [InlineData(3, 5)]
    public void Property_Backward_MatchesFiniteDifferences(int order, int e)
    {
        var c = new HyenaCase(2, 2, order, 6, 2, e, 51);
        var p = HyenaParameters.Initialize(new SplitMix64(51), c.D, c.MaxLength, order, filterWidth: 4, embeddingDim: e);
        var u = Input(c);
        var weights = new SplitMix64(52).NormalTensor<double>(0, 1, c.Batch, c.L, c.D);
        double Loss() => ConvTestKit.Dot(Hyena.Forward(p, u).Data, weights.Data);
        var g = Hyena.Backward(p, u, weights);
        (double[] X, double[] G, string Name)[] pairs =
        [
            (u.Data, g.Input.Data, "u"), (p.InW, g.InW, "InW"), (p.InB, g.InB, "InB"), (p.ShortW, g.ShortW, "ShortW"),
            (p.ShortB, g.ShortB, "ShortB"), (p.W0, g.W0, "W0"), (p.B0, g.B0, "B0"), (p.W1, g.W1, "W1"), (p.B1, g.B1, "B1"),
            (p.W2, g.W2, "W2"), (p.B2, g.B2, "B2"), (p.W3, g.W3, "W3"), (p.Freq, g.Freq, "Freq"),
            (p.FilterBias, g.FilterBias, "FilterBias"), (p.OutW, g.OutW, "OutW"), (p.OutB, g.OutB, "OutB"),
        ];
        foreach (var (x, grad, name) in pairs)
        {
            double err = ConvTestKit.GradCheck(x, grad, Loss);
            Assert.True(err <= 1e-7, $"{name}: {err}");
        }
    }

    [Fact]
    public void Property_Operator_PassesTapeGradcheck()
    {
        var p = Hyena.Variables.From(HyenaParameters.Initialize(new SplitMix64(61), 2, 6, 2, filterWidth: 3, embeddingDim: 3));
        var u = Variable.Parameter(new SplitMix64(62).NormalTensor<double>(0, 1, 1, 5, 2));
        var w = Variable.Constant(new SplitMix64(63).NormalTensor<double>(0, 1, 1, 5, 2));
        var result = GradCheck.CheckParameters(() => Ops.Sum(Ops.Mul(Hyena.Operator(u, p), w)), [u, .. p.All]);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void Negative_TooLongInputAndEvenEmbeddingAreRejected()
    {
        var p = HyenaParameters.Initialize(new SplitMix64(71), 2, 4, 2, filterWidth: 3);
        var ex = Assert.Throws<ArgumentException>(() => Hyena.Forward(p, Tensor<double>.Zeros(1, 5, 2)));
        Assert.Equal("u", ex.ParamName);
        var state = Hyena.InitialState(p, 1);
        Hyena.ForwardChunk(p, state, Tensor<double>.Zeros(1, 4, 2));
        Assert.Throws<ArgumentException>(() => Hyena.Step(p, state, Tensor<double>.Zeros(1, 2)));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Hyena.PositionalFeatures(4, 8));
        Assert.Equal("embeddingDim", e.ParamName);
    }

    [Fact]
    public void Golden_PositionalFeatures_ThreeBandsAndOneBand_HandValues()
    {
        // Hyena Sec. 3.3 / safari PositionalEmbedding: f = linspace(1e-4, bands - 1, bands); with E = 7,
        // bands = 3 and f = [1e-4, (2 + 1e-4) / 2, 2] (the middle band is where a wrong step shows).
        // l_max = 16 keeps the bands from aliasing on the grid w_k = 2 pi k / l_max (f and l_max - f agree there).
        const int l = 16;
        var (z, t) = Hyena.PositionalFeatures(7, l);
        double[] f = [1e-4, 1.00005, 2.0];
        for (int k = 0; k < l; k++)
        {
            double w = 2.0 * Math.PI * k / l;
            Assert.Equal(k / 15.0, t[k], 15);
            Assert.Equal(k / 15.0, z[k, 0], 15);
            for (int j = 0; j < 3; j++)
            {
                Assert.Equal(Math.Cos(f[j] * w), z[k, 1 + j], 14);
                Assert.Equal(-Math.Sin(f[j] * w), z[k, 4 + j], 14);
            }
        }
        // One band (E = 3): f = [1e-4]; one position (l_max = 1): t = 0 and w = 0.
        var (z3, _) = Hyena.PositionalFeatures(3, 4);
        Assert.Equal(Math.Cos(1e-4 * Math.PI / 2), z3[1, 1], 15);
        Assert.Equal(-Math.Sin(1e-4 * Math.PI / 2), z3[1, 2], 15);
        var (z1, t1) = Hyena.PositionalFeatures(3, 1);
        Assert.Equal([0.0], t1);
        Assert.Equal([0.0, 1.0, -0.0], z1.Data);
    }

    [Fact]
    public void Golden_Initialize_DrawsTheDocumentedDistributionsInTheDocumentedOrder()
    {
        // The doc comment of HyenaParameters.Initialize (safari / PyTorch defaults): every Linear and the
        // short conv ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (fan_in = 3 for the depthwise conv), FilterBias
        // ~ N(0, 1), Freq = frequency, Deltas = linspace(ln(1e-2)/1.5, ln(1e-2)/0.3, Df); draw order in_proj
        // W, b; short W, b; W0, B0, W1, B1, W2, B2, W3; FilterBias; out_proj W, b. Rebuilt here from the
        // scalar draws of a second generator with the same seed.
        const int d = 2, order = 3, f = 4, e = 5, lmax = 6;
        const double frequency = 0.5;
        var p = HyenaParameters.Initialize(new SplitMix64(2024), d, lmax, order, filterWidth: f, embeddingDim: e, frequency: frequency);
        var rng = new SplitMix64(2024);
        int inner = (order + 1) * d, df = (order - 1) * d;
        void Uniform(double[] actual, int count, int fanIn, string name)
        {
            Assert.Equal(count, actual.Length);
            double bound = 1.0 / Math.Sqrt(fanIn);
            for (int i = 0; i < count; i++)
            {
                double expected = -bound + 2.0 * bound * rng.Uniform();
                Assert.True(Math.Abs(expected - actual[i]) <= 1e-15, $"{name}[{i}]: {actual[i]} != {expected}");
                Assert.InRange(actual[i], -bound, bound);
            }
        }
        Uniform(p.InW, inner * d, d, "InW"); Uniform(p.InB, inner, d, "InB");
        Uniform(p.ShortW, inner * 3, 3, "ShortW"); Uniform(p.ShortB, inner, 3, "ShortB");
        Uniform(p.W0, f * e, e, "W0"); Uniform(p.B0, f, e, "B0");
        Uniform(p.W1, f * f, f, "W1"); Uniform(p.B1, f, f, "B1");
        Uniform(p.W2, f * f, f, "W2"); Uniform(p.B2, f, f, "B2");
        Uniform(p.W3, df * f, f, "W3");
        Assert.Equal(df, p.FilterBias.Length);
        for (int c = 0; c < df; c++) Assert.Equal(rng.Normal(), p.FilterBias[c]);
        Uniform(p.OutW, d * d, d, "OutW"); Uniform(p.OutB, d, d, "OutB");
        Assert.Equal(Enumerable.Repeat(frequency, f), p.Freq);
        double slow = Math.Log(1e-2) / 1.5, fast = Math.Log(1e-2) / 0.3;
        for (int c = 0; c < df; c++) Assert.Equal(slow + (fast - slow) * c / 3.0, p.Deltas[c], 14);
        // One filter channel (D = 1, N_o = 2): the single delta is the slow decay.
        Assert.Equal([slow], HyenaParameters.Initialize(new SplitMix64(1), 1, 4).Deltas);
    }

    [Fact]
    public void Negative_ArgumentChecks_NameTheArgument_AndTheSmallestValidValuesAreAccepted()
    {
        T Throws<T>(Action f, string name) where T : ArgumentException
        {
            var e = Assert.Throws<T>(f);
            Assert.Equal(name, e.ParamName);
            return e;
        }
        var rng = new SplitMix64(81);
        Throws<ArgumentNullException>(() => HyenaParameters.Initialize(null!, 1, 1), "rng");
        Throws<ArgumentOutOfRangeException>(() => HyenaParameters.Initialize(rng, 0, 1), "modelWidth");
        Throws<ArgumentOutOfRangeException>(() => HyenaParameters.Initialize(rng, 1, 0), "maxLength");
        Throws<ArgumentOutOfRangeException>(() => HyenaParameters.Initialize(rng, 1, 1, order: 1), "order");
        Throws<ArgumentOutOfRangeException>(() => HyenaParameters.Initialize(rng, 1, 1, filterWidth: 0), "filterWidth");
        Throws<ArgumentOutOfRangeException>(() => HyenaParameters.Initialize(rng, 1, 1, embeddingDim: 1), "embeddingDim");
        Throws<ArgumentOutOfRangeException>(() => HyenaParameters.Initialize(rng, 1, 1, embeddingDim: 4), "embeddingDim");
        Throws<ArgumentOutOfRangeException>(() => Hyena.PositionalFeatures(3, 0), "maxLength");
        Throws<ArgumentOutOfRangeException>(() => Hyena.PositionalFeatures(1, 4), "embeddingDim");
        // The smallest valid instance: D = 1, l_max = 1, N_o = 2, F = 1, E = 3, on one token.
        var small = HyenaParameters.Initialize(rng, 1, 1, order: 2, filterWidth: 1, embeddingDim: 3);
        Assert.Equal([1, 1, 1], Hyena.Forward(small, Tensor<double>.Zeros(1, 1, 1)).ShapeArray);
        Assert.Equal([1, 1], Hyena.Filter(small, 1).ShapeArray);

        // The record check: every size and every array length (each alone).
        var p = HyenaParameters.Initialize(rng, 2, 4, order: 2, filterWidth: 3, embeddingDim: 5);
        var u = Tensor<double>.Zeros(1, 3, 2);
        Hyena.Forward(p, u);
        HyenaParameters[] bad =
        [
            p with { ModelWidth = 0 }, p with { Order = 1 }, p with { FilterWidth = 0 }, p with { EmbeddingDim = 1 },
            p with { EmbeddingDim = 4 }, p with { MaxLength = 0 },
            p with { InW = new double[1] }, p with { InB = new double[1] }, p with { ShortW = new double[1] }, p with { ShortB = new double[1] },
            p with { W0 = new double[1] }, p with { B0 = new double[1] }, p with { W1 = new double[1] }, p with { B1 = new double[1] },
            p with { W2 = new double[1] }, p with { B2 = new double[1] }, p with { W3 = new double[1] }, p with { Freq = new double[1] },
            p with { Deltas = new double[1] }, p with { FilterBias = new double[1] }, p with { OutW = new double[1] }, p with { OutB = new double[1] },
        ];
        foreach (var b in bad)
        {
            Throws<ArgumentException>(() => Hyena.Forward(b, u), "p");
            Throws<ArgumentException>(() => Hyena.Filter(b, 1), "p");
            Throws<ArgumentException>(() => Hyena.InitialState(b, 1), "p");
            Throws<ArgumentException>(() => Hyena.Variables.From(b), "p");
        }

        // Filter length in [1, l_max]; batch >= 1; input [B, L, D] with B, L >= 1 and position + L <= l_max.
        Throws<ArgumentOutOfRangeException>(() => Hyena.Filter(p, 0), "length");
        Throws<ArgumentOutOfRangeException>(() => Hyena.Filter(p, 5), "length");
        Assert.Equal([2, 4], Hyena.Filter(p, 4).ShapeArray);
        Throws<ArgumentNullException>(() => Hyena.Filter(null!, 1), "p");
        Throws<ArgumentNullException>(() => Hyena.InitialState(null!, 1), "p");
        Throws<ArgumentOutOfRangeException>(() => Hyena.InitialState(p, 0), "batch");
        Throws<ArgumentNullException>(() => Hyena.Forward(null!, u), "p");
        Throws<ArgumentNullException>(() => Hyena.Forward(p, null!), "u");
        foreach (var x in new[] { Tensor<double>.Zeros(3, 2), Tensor<double>.Zeros(1, 3, 3), Tensor<double>.Zeros(0, 3, 2), Tensor<double>.Zeros(1, 0, 2) })
            Throws<ArgumentException>(() => Hyena.Forward(p, x), "u");
        Assert.Equal([1, 4, 2], Hyena.Forward(p, Tensor<double>.Zeros(1, 4, 2)).ShapeArray);

        // Decoding: null state, a state of another batch, a token of the wrong shape.
        var state = Hyena.InitialState(p, 2);
        Throws<ArgumentNullException>(() => Hyena.ForwardChunk(p, null!, u), "state");
        Throws<ArgumentException>(() => Hyena.ForwardChunk(p, state, u), "state");
        Throws<ArgumentNullException>(() => Hyena.Step(null!, state, Tensor<double>.Zeros(2, 2)), "p");
        Throws<ArgumentNullException>(() => Hyena.Step(p, state, null!), "uT");
        Throws<ArgumentException>(() => Hyena.Step(p, state, Tensor<double>.Zeros(2, 3)), "uT");
        Throws<ArgumentException>(() => Hyena.Step(p, state, Tensor<double>.Zeros(2, 2, 1)), "uT");
        Assert.Equal([2, 2], Hyena.Step(p, state, Tensor<double>.Zeros(2, 2)).ShapeArray);

        // Materialize takes one sequence [L, D]; Operator and Backward check their arguments.
        Throws<ArgumentNullException>(() => Hyena.Materialize(p, null!), "u");
        Throws<ArgumentException>(() => Hyena.Materialize(p, u), "u");
        Assert.Equal([2, 3, 3], Hyena.Materialize(p, Tensor<double>.Zeros(3, 2)).ShapeArray);
        Throws<ArgumentNullException>(() => Hyena.Variables.From(null!), "p");
        var v = Hyena.Variables.From(p);
        Throws<ArgumentNullException>(() => Hyena.Operator(null!, v), "u");
        Throws<ArgumentNullException>(() => Hyena.Operator(Variable.Constant(u), null!), "p");
        Throws<ArgumentException>(() => Hyena.Backward(p, u, Tensor<double>.Zeros(1, 3, 3)), "dy");
        Throws<ArgumentNullException>(() => Hyena.Backward(p, u, null!), "dy");
    }
}
