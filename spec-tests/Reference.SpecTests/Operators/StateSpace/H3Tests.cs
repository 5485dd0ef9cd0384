using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using Reference.SpecTests.Operators.Convolution;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>An H3 case: batch, d_model Dm = Heads x HeadDim, state N, length L, SplitMix64(Seed).</summary>
public sealed record H3Case(int Batch, int Heads, int HeadDim, int N, int L, Discretization Method, int Seed)
{
    public static Arbitrary<H3Case> Arbitrary() =>
        (from batch in Gen.Choose(1, 2)
         from heads in Gen.Elements(1, 2, 3)
         from hd in Gen.Elements(1, 2, 3)
         from n in Gen.Elements(2, 4, 8)
         from l in Gen.Elements(1, 2, 5, 8, 9)
         from method in Gen.Elements(Discretization.Bilinear, Discretization.Zoh)
         from seed in Cases.Seed
         select new H3Case(batch, heads, hd, n, l, method, seed)).ToArbitrary();

    public int Dm => Heads * HeadDim;

    public H3Parameters Parameters()
    {
        var rng = new SplitMix64((ulong)Seed);
        var p = H3Parameters.Initialize(rng, Dm, HeadDim, N, S4DInit.Lin, Method);
        // Larger steps than the init range so that the SSM mixes over these short sequences.
        for (int h = 0; h < p.Ssm.Channels; h++) p.Ssm.LogDelta[h] = rng.Uniform(Math.Log(0.05), Math.Log(0.5));
        return p;
    }

    public Tensor<double> Input() => new SplitMix64((ulong)Seed + 1).NormalTensor<double>(0, 1, Batch, L, Dm);
}

public class H3Tests
{
    [Property(Arbitrary = [typeof(H3Case)])]
    public void Property_StepAndChunkedAndPrefill_EqualTheParallelPath(H3Case c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var y = H3.Forward(p, u);

        var state = H3.InitialState(p, c.Batch);
        for (int t = 0; t < c.L; t++)
        {
            var ut = u.Slice(1, t, 1).Reshape(c.Batch, c.Dm);
            var yt = H3.Step(p, state, ut);
            var expected = y.Slice(1, t, 1).Reshape(c.Batch, c.Dm);
            Assert.True(Metrics.RelativeError(expected.Data, yt.Data) <= 1e-12, $"position {t}");
        }

        int split = (c.L + 1) / 2;
        var (y1, chunkState) = H3.Prefill(p, u.Slice(1, 0, split));
        Assert.True(Metrics.RelativeError(y.Slice(1, 0, split).Data, y1.Data) <= 1e-12);
        if (split < c.L)
        {
            var y2 = H3.ForwardChunk(p, chunkState, u.Slice(1, split, c.L - split));
            Assert.True(Metrics.RelativeError(y.Slice(1, split, c.L - split).Data, y2.Data) <= 1e-12);
        }
    }

    [Property(Arbitrary = [typeof(H3Case)])]
    public void Property_Gate_EqualsComposedSsmsWithHeadMajorLayout(H3Case c)
    {
        // Rebuild o from the public pieces: o[h hd + d2] = sum_d1 q[h hd + d1] S4D_h(kbar[h hd + d1] v[h hd + d2]).
        var p = c.Parameters();
        var u = c.Input();
        var it = H3.ForwardWithIntermediates(p, u);
        Assert.True(Metrics.RelativeError(ShiftSsm.Forward(p.Shift, it.K).Data, it.KBar.Data) <= 1e-15);
        int hd = c.HeadDim, dm = c.Dm, l = c.L;
        for (int b = 0; b < c.Batch; b++)
            for (int d1 = 0; d1 < hd; d1++)
                for (int d2 = 0; d2 < hd; d2++)
                {
                    var kv = Tensor<double>.Zeros(c.Heads, l);
                    for (int h = 0; h < c.Heads; h++)
                        for (int t = 0; t < l; t++)
                            kv[h, t] = it.KBar.Data[(b * dm + h * hd + d1) * l + t] * it.V.Data[(b * dm + h * hd + d2) * l + t];
                    var ys = S4D.Forward(p.Ssm, kv, c.Method);
                    for (int h = 0; h < c.Heads; h++)
                        for (int t = 0; t < l; t++)
                            Assert.Equal(ys[h, t], it.Ys.Data[((((b * hd + d1) * hd + d2) * c.Heads) + h) * l + t], 12);
                }
        for (int b = 0; b < c.Batch; b++)
            for (int h = 0; h < c.Heads; h++)
                for (int d2 = 0; d2 < hd; d2++)
                    for (int t = 0; t < l; t++)
                    {
                        double expected = 0;
                        for (int d1 = 0; d1 < hd; d1++)
                            expected += it.Q.Data[(b * dm + h * hd + d1) * l + t] * it.Ys.Data[((((b * hd + d1) * hd + d2) * c.Heads) + h) * l + t];
                        Assert.Equal(expected, it.O.Data[(b * dm + h * hd + d2) * l + t], 12);
                    }
    }

    [Property(Arbitrary = [typeof(H3Case)])]
    public void Property_Materialize_MapsVToThePreProjectionOutput(H3Case c)
    {
        var p = c.Parameters();
        var u = c.Input().Slice(0, 0, 1).Reshape(c.L, c.Dm);
        var t = H3.Materialize(p, u);
        var it = H3.ForwardWithIntermediates(p, u.Reshape(1, c.L, c.Dm));
        var o = ConvTestKit.ApplyOperator(t, it.V.Data, c.Dm, c.L);
        Assert.True(Metrics.RelativeError(it.O.Data, o, 1e-300) <= 1e-12);
        for (int ch = 0; ch < c.Dm; ch++)
            for (int i = 0; i < c.L; i++)
                for (int j = i + 1; j < c.L; j++) Assert.Equal(0.0, t[ch, i, j]);
    }

    [Property(Arbitrary = [typeof(H3Case)])]
    public void Property_Causality_FutureTokensLeavePastOutputsUnchanged(H3Case c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var y = H3.Forward(p, u);
        int t0 = new SplitMix64((ulong)c.Seed + 5).NextInt(c.L);
        var perturbed = u.Clone();
        for (int b = 0; b < c.Batch; b++)
            for (int t = t0 + 1; t < c.L; t++)
                for (int j = 0; j < c.Dm; j++) perturbed[b, t, j] += 1.5;
        var y2 = H3.Forward(p, perturbed);
        for (int b = 0; b < c.Batch; b++)
            for (int t = 0; t <= t0; t++)
                for (int j = 0; j < c.Dm; j++) Assert.Equal(y[b, t, j], y2[b, t, j]);
    }

    [Property(Arbitrary = [typeof(H3Case)], MaxTest = 8)]
    public void Property_Backward_MatchesCentralFiniteDifferences(H3Case c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var g = new SplitMix64((ulong)c.Seed + 7).NormalTensor<double>(0, 1, c.Batch, c.L, c.Dm);
        double Loss() => ConvTestKit.Dot(g.Data, H3.Forward(p, u).Data);
        var grads = H3.Backward(p, u, g);
        var checks = new (string Name, double[] X, double[] Grad)[]
        {
            ("u", u.Data, grads.Input.Data), ("Wq", p.Wq, grads.Wq), ("Bq", p.Bq, grads.Bq), ("Wk", p.Wk, grads.Wk),
            ("Bk", p.Bk, grads.Bk), ("Wv", p.Wv, grads.Wv), ("Bv", p.Bv, grads.Bv), ("Wo", p.Wo, grads.Wo), ("Bo", p.Bo, grads.Bo),
            ("shift.B", p.Shift.B, grads.Shift.B), ("shift.C", p.Shift.C, grads.Shift.C), ("shift.D", p.Shift.Skip, grads.Shift.Skip),
            ("ssm.logA", p.Ssm.LogNegRealA, grads.Ssm.LogNegRealA), ("ssm.imA", p.Ssm.ImagA, grads.Ssm.ImagA),
            ("ssm.BRe", p.Ssm.BRe, grads.Ssm.BRe), ("ssm.CIm", p.Ssm.CIm, grads.Ssm.CIm),
            ("ssm.logDelta", p.Ssm.LogDelta, grads.Ssm.LogDelta), ("ssm.D", p.Ssm.D, grads.Ssm.D),
        };
        foreach (var (name, x, grad) in checks)
        {
            double err = ConvTestKit.GradCheck(x, grad, Loss);
            Assert.True(err <= 1e-6, $"{name}: {err}");
        }
    }

    [Property(Arbitrary = [typeof(H3Case)])]
    public void Property_FastForwardAndFastStep_EqualNaive(H3Case c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var y = H3.Forward(p, u);
        var f64 = H3.Prepare<double>(p);
        Assert.True(Metrics.RelativeError(y.Data, H3.ForwardFast(f64, u).Data) <= 1e-12);
        var f32 = H3.Prepare<float>(p);
        Assert.True(Metrics.RelativeError(y.Data, H3.ForwardFast(f32, u.Cast<float>()).Data) <= 1e-5);

        foreach (var (name, tol, step) in new (string, double, Func<int, double[]>)[]
        {
            ("float64", 1e-12, Stepper(f64, c, u)),
            ("float32", 1e-5, Stepper(f32, c, u)),
        })
            for (int t = 0; t < c.L; t++)
            {
                var expected = y.Slice(1, t, 1).Data;
                Assert.True(Metrics.RelativeError(expected, step(t)) <= tol, $"{name} position {t}");
            }
    }

    private static Func<int, double[]> Stepper<T>(H3Fast<T> f, H3Case c, Tensor<double> u)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var state = H3.InitialFastState(f, c.Batch);
        var uT = u.Cast<T>();
        return t =>
        {
            var ut = uT.Slice(1, t, 1).Data;
            var yt = new T[ut.Length];
            H3.StepFast(f, state, ut, yt);
            return yt.Select(double.CreateTruncating).ToArray();
        };
    }

    [Fact]
    public void Negative_HeadDimNotDividingWidth_AndWrongInputWidth_NameTheArgument()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => H3Parameters.Initialize(new SplitMix64(1), 6, 4));
        Assert.Equal("headDim", e.ParamName);
        var p = H3Parameters.Initialize(new SplitMix64(1), 4, 2, 4);
        var e2 = Assert.Throws<ArgumentException>(() => H3.Forward(p, Tensor<double>.Zeros(1, 3, 5)));
        Assert.Equal("u", e2.ParamName);
        Assert.Contains("[B, L, 4]", e2.Message);
    }

    [Fact]
    public void Negative_StateStepMaterializeAndRealize_CheckTheirArguments_NamingThem()
    {
        var p = H3Parameters.Initialize(new SplitMix64(2), 4, 2, 4);
        var u = new SplitMix64(3).NormalTensor<double>(0, 1, 1, 3, 4);
        void Shape(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentException>(call).ParamName);
        void Null(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentNullException>(call).ParamName);
        void Range(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(call).ParamName);
        // A malformed record (a weight of the wrong size) is rejected before any arithmetic.
        Shape("p", () => H3.Forward(p with { Wq = new double[15] }, u));
        Shape("p", () => H3.Forward(p with { Bo = new double[3] }, u));
        // ForwardChunk and Step check the carried state: null, or made for another batch.
        Null("state", () => H3.ForwardChunk(p, null!, u));
        Shape("state", () => H3.ForwardChunk(p, H3.InitialState(p, 2), u));
        var uT = Tensor<double>.Zeros(1, 4);
        Null("uT", () => H3.Step(p, H3.InitialState(p, 1), null!));
        Shape("uT", () => H3.Step(p, H3.InitialState(p, 1), Tensor<double>.Zeros(1, 5)));
        Shape("uT", () => H3.Step(p, H3.InitialState(p, 1), Tensor<double>.Zeros(1, 1, 4)));
        Null("state", () => H3.Step(p, null!, uT));
        Shape("state", () => H3.Step(p, H3.InitialState(p, 2), uT));
        Assert.Equal([1, 4], H3.Step(p, H3.InitialState(p, 1), uT).ShapeArray);
        Shape("u", () => H3.Materialize(p, u));
        // Realize: null arguments, and the first channel and batch past the end.
        var it = H3.ForwardWithIntermediates(p, u);
        Null("p", () => H3.Realize(null!, it, 0, 0));
        Null("intermediates", () => H3.Realize(p, null!, 0, 0));
        Range("channel", () => H3.Realize(p, it, 0, 4));
        Range("channel", () => H3.Realize(p, it, 0, -1));
        Range("batch", () => H3.Realize(p, it, 1, 0));
        Range("batch", () => H3.Realize(p, it, -1, 0));
        Assert.Equal(3, H3.Realize(p, it, 0, 3).Length);
    }
}
