using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>
/// A fast-SSD case: head dims P and state sizes N around the vector widths (4 doubles, 8 floats),
/// lengths that are not multiples of the chunk, L = 1, one to three heads per group.
/// </summary>
public sealed record SsdFastCase(int B, int H, int G, int P, int L, int N, int Chunk, int Seed)
{
    public static Arbitrary<SsdFastCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2)
         from perGroup in Gen.Elements(1, 3)
         from p in Gen.Elements(1, 3, 8, 9, 17)
         from l in Gen.Elements(1, 7, 16, 17, 33, 65)
         from n in Gen.Elements(1, 4, 8, 9, 17)
         from chunk in Gen.Elements(1, 4, 8, 16, 64)
         from seed in Cases.Seed
         select new SsdFastCase(b, g * perGroup, g, p, l, n, chunk, seed)).ToArbitrary();

    public StateSpaceDualityInputs<double> Inputs() => new SsdCase(B, H, G, P, L, N, Chunk, Seed).Inputs();
}

public class StateSpaceDualityFastTests
{
    private static Tensor<T> Fast<T>(StateSpaceDualityInputs<double> p, int chunk, int maxThreads) where T : unmanaged, IFloatingPointIeee754<T> =>
        StateSpaceDuality.ForwardFast(p.X.Cast<T>(), p.Dt.Cast<T>(), p.ALog.Cast<T>(), p.B.Cast<T>(), p.C.Cast<T>(),
            p.D?.Cast<T>(), p.DtBias?.Cast<T>(), chunk, maxThreads);

    /// <summary>
    /// Float32 bound, the conventions' 1e-5: measured ~1.4e-7 at L = 200-257 and below 1e-6 over ~1,400 random
    /// cases of <see cref="SsdFastCase"/> (tile sums of float32 products, exps of float32 segment sums).
    /// </summary>
    private const double Float32Bound = 1e-5;

    [Property(Arbitrary = [typeof(SsdFastCase)], MaxTest = 40)]
    public void Property_Fast_MatchesTheRecurrence_Float64AndFloat32(SsdFastCase c)
    {
        var p = c.Inputs();
        var expected = StateSpaceDuality.Forward(p);
        Assert.True(Rel(expected, Fast<double>(p, c.Chunk, 1 + c.Seed % 2)) <= 1e-12);
        Assert.True(Rel(expected, Fast<float>(p, c.Chunk, 0).Cast<double>()) <= Float32Bound);
    }

    [Property(Arbitrary = [typeof(SsdFastCase)], MaxTest = 15)]
    public void Property_Fast_EqualsTheMaterializedOperator(SsdFastCase c)
    {
        // An independent representation: y[:, h, p] = T_h x[:, h, p] with T from Materialize (cumulative-sum differences).
        var p = new SsdFastCase(c.B, c.H, c.G, c.P, Math.Min(c.L, 17), c.N, c.Chunk, c.Seed).Inputs();
        var t = StateSpaceDuality.Materialize(p);
        var y = Fast<double>(p, c.Chunk, 1);
        int l = p.Length, hs = p.Heads, ps = p.HeadDim;
        var expected = Tensor<double>.Zeros(p.X.ShapeArray);
        for (int b = 0; b < p.Batch; b++)
            for (int h = 0; h < hs; h++)
                for (int i = 0; i < l; i++)
                    for (int q = 0; q < ps; q++)
                    {
                        double acc = 0;
                        for (int j = 0; j <= i; j++) acc += t[b, h, i, j] * p.X[b, j, h, q];
                        expected[b, i, h, q] = acc;
                    }
        Assert.True(Rel(expected, y) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(SsdFastCase)], MaxTest = 20)]
    public void Property_FastFromCarriedState_EqualsTheRecurrenceAndLeavesTheSameState(SsdFastCase c)
    {
        var p = c.Inputs();
        var s0 = new SplitMix64((ulong)c.Seed + 5).NormalTensor<double>(0, 1, c.B, c.H, c.P, c.N);
        var recurrent = new StateSpaceDualityState(c.B, c.H, c.P, c.N);
        s0.Data.CopyTo(recurrent.S.Data, 0);
        var expected = StateSpaceDuality.Recurrent(p, recurrent);
        var state = s0.Clone();
        var y = StateSpaceDuality.ForwardFast(p.X, p.Dt, p.ALog, p.B, p.C, p.D, p.DtBias, c.Chunk, 1, state);
        Assert.True(Rel(expected, y) <= 1e-12);
        Assert.True(Rel(recurrent.S, state) <= 1e-12);

        // The same sequence fed in two pieces through the state (a prefill, then the rest).
        int cut = c.L / 3;
        Tensor<double> Piece(Tensor<double> t, int start, int length) => t.Slice(1, start, length);
        var piecewise = s0.Clone();
        var y1 = StateSpaceDuality.ForwardFast(Piece(p.X, 0, cut), Piece(p.Dt, 0, cut), p.ALog, Piece(p.B, 0, cut), Piece(p.C, 0, cut),
            p.D, p.DtBias, c.Chunk, 1, piecewise);
        var y2 = StateSpaceDuality.ForwardFast(Piece(p.X, cut, c.L - cut), Piece(p.Dt, cut, c.L - cut), p.ALog, Piece(p.B, cut, c.L - cut),
            Piece(p.C, cut, c.L - cut), p.D, p.DtBias, c.Chunk, 1, piecewise);
        Assert.True(Rel(Piece(expected, 0, cut), y1) <= 1e-12);
        Assert.True(Rel(Piece(expected, cut, c.L - cut), y2) <= 1e-12);
        Assert.True(Rel(recurrent.S, piecewise) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(SsdFastCase)], MaxTest = 15)]
    public void Property_Fast_IsIndependentOfTheThreadCount(SsdFastCase c)
    {
        // Each (batch, head) and each score block is computed by one thread in a fixed order.
        var p = c.Inputs();
        Assert.Equal(Fast<float>(p, c.Chunk, 1).Data, Fast<float>(p, c.Chunk, 2).Data);
    }

    [Fact]
    public void Edge_FastDecaysOverLongChunks_UnderflowToZeroCleanly()
    {
        // A = -16 on every head and Delta ~ 0.5: segment sums reach ~-500 within a chunk of 64, so most decays
        // (and the carried state's) underflow to exactly 0 in float32 and float64; nothing may turn into NaN.
        var q = new SsdCase(1, 4, 1, 8, 200, 16, 64, 77).Inputs();
        var p = q with { ALog = Tensor<double>.Full(Math.Log(16), 4), Dt = q.Dt.Clone() };
        for (int i = 0; i < p.Dt.Length; i++) p.Dt.Data[i] = new SplitMix64((ulong)i).Uniform(-1, 0);
        var expected = StateSpaceDuality.Forward(p);
        Assert.True(Rel(expected, Fast<double>(p, 64, 1)) <= 1e-12);
        Assert.True(Rel(expected, Fast<float>(p, 64, 1).Cast<double>()) <= Float32Bound);
    }

    [Fact]
    public void Edge_NoSkipNoBias_LengthOne_AndOneChunkCoveringTheSequence()
    {
        var p = new SsdCase(2, 4, 2, 5, 1, 3, 1, 5).Inputs() with { D = null, DtBias = null };
        Assert.True(Rel(StateSpaceDuality.Forward(p), Fast<double>(p, 64, 1)) <= 1e-12);
        var longer = new SsdCase(1, 2, 1, 3, 40, 6, 1, 6).Inputs() with { D = null };
        var expected = StateSpaceDuality.Forward(longer);
        foreach (int chunk in new[] { 1, 39, 40, 41, 1000 })
            Assert.True(Rel(expected, Fast<double>(longer, chunk, 1)) <= 1e-12, $"chunk {chunk}");
    }

    [Fact]
    public void Negative_FastShapeMismatchAndChunk_NameTheArgument()
    {
        var p = new SsdCase(1, 2, 1, 2, 4, 3, 2, 1).Inputs();
        Assert.Equal("c", Assert.Throws<ArgumentException>(() =>
            StateSpaceDuality.ForwardFast(p.X, p.Dt, p.ALog, p.B, p.C.Slice(3, 0, 2))).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() =>
            StateSpaceDuality.ForwardFast(p.X, p.Dt, p.ALog, Tensor<double>.Zeros(1, 4, 3, 3), Tensor<double>.Zeros(1, 4, 3, 3))).ParamName);
        Assert.Equal("dt", Assert.Throws<ArgumentException>(() =>
            StateSpaceDuality.ForwardFast(p.X, p.Dt.Slice(1, 0, 3), p.ALog, p.B, p.C)).ParamName);
        Assert.Equal("chunk", Assert.Throws<ArgumentOutOfRangeException>(() =>
            StateSpaceDuality.ForwardFast(p.X, p.Dt, p.ALog, p.B, p.C, chunk: 0)).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() =>
            StateSpaceDuality.ForwardFast(p.X, p.Dt, p.ALog, p.B, p.C, state: Tensor<double>.Zeros(1, 2, 3, 2))).ParamName);
    }
}
