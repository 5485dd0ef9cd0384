using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>An SSD case: batch B, H heads in G groups, head dim P, L steps, N state, chunk Q.</summary>
public sealed record SsdCase(int B, int H, int G, int P, int L, int N, int Chunk, int Seed)
{
    public static Arbitrary<SsdCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2)
         from perGroup in Gen.Elements(1, 2)
         from p in Gen.Elements(1, 2, 3)
         from l in Gen.Elements(1, 2, 5, 8, 9, 17)
         from n in Gen.Elements(1, 3, 4)
         from chunk in Gen.Elements(1, 3, 4, 16)
         from seed in Cases.Seed
         select new SsdCase(b, g * perGroup, g, p, l, n, chunk, seed)).ToArbitrary();

    /// <summary>Mamba-2-like scales: dt around softplus^-1(0.01..0.1), A_log = log U[1, 16].</summary>
    public StateSpaceDualityInputs<double> Inputs()
    {
        var rng = new SplitMix64((ulong)Seed);
        return new StateSpaceDualityInputs<double>(
            rng.NormalTensor<double>(0, 1, B, L, H, P), rng.NormalTensor<double>(-2.5, 1.0, B, L, H),
            Tensor<double>.FromSpan(Enumerable.Range(0, H).Select(_ => Math.Log(rng.Uniform(1, 16))).ToArray(), H),
            rng.NormalTensor<double>(0, 1, B, L, G, N), rng.NormalTensor<double>(0, 1, B, L, G, N),
            rng.NormalTensor<double>(0, 1, H), rng.NormalTensor<double>(0, 0.5, H));
    }
}

public class StateSpaceDualityTests
{
    /// <summary>y[b, :, h, p] = T[b, h] x[b, :, h, p].</summary>
    private static Tensor<double> ApplyPerHead(Tensor<double> t, Tensor<double> x)
    {
        int bs = x.Dim(0), l = x.Dim(1), hs = x.Dim(2), ps = x.Dim(3);
        var y = Tensor<double>.Zeros(bs, l, hs, ps);
        for (int b = 0; b < bs; b++)
            for (int h = 0; h < hs; h++)
                for (int i = 0; i < l; i++)
                    for (int q = 0; q < ps; q++)
                    {
                        double acc = 0;
                        for (int j = 0; j < l; j++) acc += t[b, h, i, j] * x[b, j, h, q];
                        y[b, i, h, q] = acc;
                    }
        return y;
    }

    [Property(Arbitrary = [typeof(SsdCase)])]
    public void Property_RecurrenceEqualsChunkedEqualsMaterialized(SsdCase c)
    {
        var p = c.Inputs();
        var y = StateSpaceDuality.Forward(p);
        Assert.True(Rel(y, StateSpaceDuality.Chunked(p, c.Chunk)) <= 1e-12);
        Assert.True(Rel(y, ApplyPerHead(StateSpaceDuality.Materialize(p), p.X)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(SsdCase)], MaxTest = 20)]
    public void Property_ChunkedFromCarriedState_EqualsRecurrenceAndLeavesTheSameState(SsdCase c)
    {
        var p = c.Inputs();
        var rng = new SplitMix64((ulong)c.Seed + 5);
        var s0 = rng.NormalTensor<double>(0, 1, c.B, c.H, c.P, c.N);
        var recurrentState = new StateSpaceDualityState(c.B, c.H, c.P, c.N);
        var chunkedState = new StateSpaceDualityState(c.B, c.H, c.P, c.N);
        s0.Data.CopyTo(recurrentState.S.Data, 0);
        s0.Data.CopyTo(chunkedState.S.Data, 0);
        var y = StateSpaceDuality.Recurrent(p, recurrentState);
        Assert.True(Rel(y, StateSpaceDuality.Chunked(p, c.Chunk, chunkedState)) <= 1e-12);
        Assert.True(Rel(recurrentState.S, chunkedState.S) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(SsdCase)], MaxTest = 20)]
    public void Property_StepByStep_EqualsRecurrence(SsdCase c)
    {
        var p = c.Inputs();
        var y = StateSpaceDuality.Forward(p);
        var state = new StateSpaceDualityState(c.B, c.H, c.P, c.N);
        for (int t = 0; t < c.L; t++)
        {
            var token = p with { X = p.X.Slice(1, t, 1), Dt = p.Dt.Slice(1, t, 1), B = p.B.Slice(1, t, 1), C = p.C.Slice(1, t, 1) };
            var yt = StateSpaceDuality.Step(token, state);
            Assert.True(Rel(y.Slice(1, t, 1).Reshape(c.B, c.H, c.P), yt) <= 1e-12);
        }
    }

    [Property(Arbitrary = [typeof(SsdCase)], MaxTest = 20)]
    public void Property_Causality_FutureInputsDoNotReachThePast(SsdCase c)
    {
        var p = c.Inputs();
        var y = StateSpaceDuality.Forward(p);
        int t0 = c.L / 2;
        var q = p with { X = p.X.Clone(), Dt = p.Dt.Clone(), B = p.B.Clone() };
        for (int i = 0; i < q.X.Length; i++) if (i / (c.H * c.P) % c.L > t0) q.X.Data[i] += 3.0;
        for (int i = 0; i < q.Dt.Length; i++) if (i / c.H % c.L > t0) q.Dt.Data[i] -= 1.0;
        for (int i = 0; i < q.B.Length; i++) if (i / (c.G * c.N) % c.L > t0) q.B.Data[i] += 1.0;
        var y2 = StateSpaceDuality.Forward(q);
        for (int i = 0; i < y.Length; i++)
            if (i / (c.H * c.P) % c.L <= t0) Assert.Equal(y.Data[i], y2.Data[i]);
    }

    [Property(Arbitrary = [typeof(SsdCase)], MaxTest = 12)]
    public void Property_Backward_MatchesFiniteDifferences(SsdCase c)
    {
        var p = c.Inputs();
        var cot = new SplitMix64((ulong)c.Seed + 99).UniformTensor<double>(-1, 1, c.B, c.L, c.H, c.P);
        double Loss() => Dot(cot, StateSpaceDuality.Forward(p));
        var g = StateSpaceDuality.Backward(p, cot);
        AssertGradient(p.X, Loss, g.DX, "dx");
        AssertGradient(p.Dt, Loss, g.DDt, "ddt");
        AssertGradient(p.ALog, Loss, g.DALog, "dA_log");
        AssertGradient(p.B, Loss, g.DB, "dB");
        AssertGradient(p.C, Loss, g.DC, "dC");
        AssertGradient(p.D!, Loss, g.DD!, "dD");
        AssertGradient(p.DtBias!, Loss, g.DDtBias!, "dbias");
    }

    [Property(Arbitrary = [typeof(SsdCase)], MaxTest = 20)]
    public void Property_OneGroupEqualsOneGroupPerHeadWithCopiedBC(SsdCase c)
    {
        var p = c.Inputs() with { B = null!, C = null! };
        var rng = new SplitMix64((ulong)c.Seed + 7);
        var b1 = rng.NormalTensor<double>(0, 1, c.B, c.L, 1, c.N);
        var c1 = rng.NormalTensor<double>(0, 1, c.B, c.L, 1, c.N);
        var bh = Tensor<double>.Zeros(c.B, c.L, c.H, c.N);
        var ch = Tensor<double>.Zeros(c.B, c.L, c.H, c.N);
        for (int i = 0; i < bh.Length; i++)
        {
            int k = i % c.N, bt = i / (c.H * c.N);
            bh.Data[i] = b1.Data[bt * c.N + k];
            ch.Data[i] = c1.Data[bt * c.N + k];
        }
        Assert.True(Rel(StateSpaceDuality.Forward(p with { B = b1, C = c1 }), StateSpaceDuality.Forward(p with { B = bh, C = ch })) <= 1e-15);
    }

    [Property(Arbitrary = [typeof(SsdCase)], MaxTest = 20)]
    public void Property_HeadDimOne_EqualsSelectiveScanWithOneDecayPerChannel(SsdCase c)
    {
        // SSD with P = 1 is S6 with D = H channels whose N lanes share A (A_log[d, n] = A_log_h), in the other layout.
        var p = new SsdCase(c.B, c.H, c.G, 1, c.L, c.N, c.Chunk, c.Seed).Inputs();
        var aLog = Tensor<double>.Zeros(c.H, c.N);
        for (int h = 0; h < c.H; h++) for (int k = 0; k < c.N; k++) aLog[h, k] = p.ALog[h];
        var scan = new SelectiveScanInputs<double>(p.X.Reshape(c.B, c.L, c.H).Permute(0, 2, 1), p.Dt.Permute(0, 2, 1), aLog,
            p.B.Permute(0, 2, 3, 1), p.C.Permute(0, 2, 3, 1), p.D, null, p.DtBias);
        var expected = SelectiveScan.Forward(scan).Permute(0, 2, 1).Reshape(c.B, c.L, c.H, 1);
        Assert.True(Rel(expected, StateSpaceDuality.Forward(p)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(SsdCase)], MaxTest = 10)]
    public void Property_Realization_ReproducesTheOperatorWithAndWithoutSkip(SsdCase c)
    {
        foreach (var p in new[] { c.Inputs(), c.Inputs() with { D = null } })
        {
            var t = StateSpaceDuality.Materialize(p);
            for (int b = 0; b < c.B; b++)
                for (int h = 0; h < c.H; h++)
                {
                    // The realization's own definition: impulse responses propagated by repeated products.
                    var fromRealization = StateSpaceDuality.Realize(p, b, h).Materialize();
                    // The whole lower triangle, the diagonal (c_t . b_t plus the skip term) included.
                    for (int i = 0; i < c.L; i++)
                        for (int j = 0; j <= i; j++)
                            Assert.Equal(t[b, h, i, j], fromRealization[i, j], 1e-12 * (1 + Math.Abs(t[b, h, i, j])));
                }
        }
    }

    [Fact]
    public void Negative_GroupsMustDivideHeads_NamesTheArgument()
    {
        var p = new SsdCase(1, 3, 1, 2, 4, 2, 2, 1).Inputs() with { B = Tensor<double>.Zeros(1, 4, 2, 2), C = Tensor<double>.Zeros(1, 4, 2, 2) };
        Assert.Equal("B", Assert.Throws<ArgumentException>(() => StateSpaceDuality.Forward(p)).ParamName);
        Assert.Equal("chunk", Assert.Throws<ArgumentOutOfRangeException>(() => StateSpaceDuality.Chunked(new SsdCase(1, 1, 1, 1, 2, 1, 1, 1).Inputs(), 0)).ParamName);
    }
}
