using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using Reference.SpecTests.Operators.Convolution;

namespace Reference.SpecTests.Operators.StateSpace;

public sealed record ShiftCase(int Batch, int D, int N, int L, bool RandomB, int Seed)
{
    public static Arbitrary<ShiftCase> Arbitrary() =>
        (from batch in Gen.Choose(1, 2)
         from d in Gen.Elements(1, 2, 3)
         from n in Gen.Elements(1, 2, 4, 7, 8, 9)
         from l in Gen.Elements(1, 2, 7, 8, 9, 17)
         from randomB in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new ShiftCase(batch, d, n, l, randomB, seed)).ToArbitrary();

    public ShiftSsmParameters Parameters()
    {
        var rng = new SplitMix64((ulong)Seed);
        var p = ShiftSsmParameters.Initialize(rng, D, N);
        if (RandomB) rng.FillNormal<double>(p.B);
        return p;
    }

    public Tensor<double> Input() => new SplitMix64((ulong)Seed + 1).NormalTensor<double>(0, 1, Batch, D, L);
}

public class ShiftSsmTests
{
    [Property(Arbitrary = [typeof(ShiftCase)])]
    public void Property_ParallelEqualsShiftRegisterEqualsChunkedEqualsMaterialized(ShiftCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        int rows = c.Batch * c.D;
        var y = ShiftSsm.Forward(p, u);
        var t = ShiftSsm.Materialize(p, c.L);
        Assert.True(Metrics.RelativeError(ConvTestKit.ApplyOperator(t, u.Data, rows, c.L), y.Data, 1e-300) <= 1e-13);

        var state = ShiftSsm.InitialState(p, rows);
        int split = c.L / 2;
        var y1 = ShiftSsm.ForwardChunk(p, state, u.Slice(2, 0, split == 0 ? c.L : split));
        var parts = new List<Tensor<double>> { y1 };
        if (split > 0) parts.Add(ShiftSsm.ForwardChunk(p, state, u.Slice(2, split, c.L - split)));
        var recurrent = new double[y.Length];
        int offset = 0;
        foreach (var part in parts)
        {
            int len = part.Dim(-1);
            for (int r = 0; r < rows; r++) part.Data.AsSpan(r * len, len).CopyTo(recurrent.AsSpan(r * c.L + offset, len));
            offset += len;
        }
        Assert.True(Metrics.RelativeError(y.Data, recurrent, 1e-300) <= 1e-13);
    }

    [Property(Arbitrary = [typeof(ShiftCase)])]
    public void Property_Taps_AreTheImpulseResponse_AndEqualCWhenBIsE1(ShiftCase c)
    {
        var p = c.Parameters();
        var taps = ShiftSsm.Taps(p);
        if (!c.RandomB) Assert.Equal(p.C, taps.Data);
        var state = ShiftSsm.InitialState(p, c.D);
        for (int t = 0; t < c.N + 2; t++)
        {
            var ut = new double[c.D];
            if (t == 0) Array.Fill(ut, 1.0);
            var yt = ShiftSsm.Step(p, state, ut);
            for (int ch = 0; ch < c.D; ch++)
            {
                // C A^t B by explicit matrix powers of the shift matrix.
                var x = new double[c.N];
                for (int n = 0; n < c.N; n++) x[n] = n - t >= 0 ? p.B[ch * c.N + n - t] : 0.0;
                double expected = ConvTestKit.Dot(p.C.AsSpan(ch * c.N, c.N), x) + (t == 0 ? p.Skip[ch] : 0.0);
                Assert.Equal(expected, yt[ch], 12);
            }
        }
    }

    [Property(Arbitrary = [typeof(ShiftCase)], MaxTest = 15)]
    public void Property_Backward_MatchesCentralFiniteDifferences(ShiftCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var g = new SplitMix64((ulong)c.Seed + 2).NormalTensor<double>(0, 1, c.Batch, c.D, c.L);
        double Loss() => ConvTestKit.Dot(g.Data, ShiftSsm.Forward(p, u).Data);
        var grads = ShiftSsm.Backward(p, u, g);
        Assert.True(ConvTestKit.GradCheck(u.Data, grads.Input.Data, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.B, grads.B, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.C, grads.C, Loss) <= 1e-7);
        Assert.True(ConvTestKit.GradCheck(p.Skip, grads.Skip, Loss) <= 1e-7);
    }

    [Fact]
    public void Negative_StateOfTheWrongSize_NamesTheArgument()
    {
        var p = ShiftSsmParameters.Initialize(new SplitMix64(1), 2, 4);
        var e = Assert.Throws<ArgumentException>(() => ShiftSsm.InitialState(p, 3));
        Assert.Equal("rows", e.ParamName);
        var other = ShiftSsmParameters.Initialize(new SplitMix64(1), 2, 5);
        var e2 = Assert.Throws<ArgumentException>(() => ShiftSsm.Step(p, ShiftSsm.InitialState(other, 2), new double[2]));
        Assert.Equal("state", e2.ParamName);
    }
}
