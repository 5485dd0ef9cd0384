using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>A selective-scan case: B, D channels in G groups, L steps, N state lanes, a chunk size, gate/skip/bias on or off.</summary>
public sealed record ScanCase(int B, int D, int G, int L, int N, int Chunk, bool Gate, int Seed)
{
    public static Arbitrary<ScanCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from g in Gen.Elements(1, 2)
         from perGroup in Gen.Elements(1, 2, 3)
         from l in Gen.Elements(1, 2, 5, 8, 9, 17)
         from n in Gen.Elements(1, 3, 4, 8)
         from chunk in Gen.Elements(1, 3, 4, 16)
         from gate in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new ScanCase(b, g * perGroup, g, l, n, chunk, gate, seed)).ToArbitrary();

    /// <summary>Inputs with Mamba-like scales: delta around softplus^-1(0.01..0.1), A_log from Mamba's init plus noise.</summary>
    public SelectiveScanInputs<double> Inputs()
    {
        var rng = new SplitMix64((ulong)Seed);
        var u = rng.NormalTensor<double>(0, 1, B, D, L);
        var delta = rng.NormalTensor<double>(-2.5, 1.0, B, D, L);
        var aLog = SelectiveScan.InitialALog(D, N);
        for (int i = 0; i < aLog.Length; i++) aLog.Data[i] += rng.Normal(0, 0.3);
        var bIn = rng.NormalTensor<double>(0, 1, B, G, N, L);
        var cOut = rng.NormalTensor<double>(0, 1, B, G, N, L);
        var skip = rng.NormalTensor<double>(0, 1, D);
        var z = Gate ? rng.NormalTensor<double>(0, 1, B, D, L) : null;
        var bias = rng.NormalTensor<double>(0, 0.5, D);
        return new SelectiveScanInputs<double>(u, delta, aLog, bIn, cOut, skip, z, bias);
    }
}

public class SelectiveScanTests
{
    /// <summary>out = T u row by row, with T [B, D, L, L] and u [B, D, L].</summary>
    private static Tensor<double> ApplyPerChannel(Tensor<double> t, Tensor<double> u) =>
        Apply(t, u.Reshape(u.Dim(0), u.Dim(1), u.Dim(2), 1)).Reshape(u.ShapeArray);

    [Property(Arbitrary = [typeof(ScanCase)])]
    public void Property_RecurrenceEqualsMaterializedEqualsChunked(ScanCase c)
    {
        var p = c.Inputs();
        var recurrent = SelectiveScan.Forward(p);
        Assert.True(Rel(recurrent, ApplyPerChannel(SelectiveScan.Materialize(p), p.U)) <= 1e-12);
        Assert.True(Rel(recurrent, SelectiveScan.Chunked(p, c.Chunk)) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(ScanCase)], MaxTest = 20)]
    public void Property_StepByStep_EqualsRecurrence(ScanCase c)
    {
        var p = c.Inputs();
        var expected = SelectiveScan.Forward(p);
        var state = new SelectiveScanState(c.B, c.D, c.N);
        for (int t = 0; t < c.L; t++)
        {
            var token = new SelectiveScanInputs<double>(p.U.Slice(2, t, 1), p.Delta.Slice(2, t, 1), p.ALog,
                p.B.Slice(3, t, 1), p.C.Slice(3, t, 1), p.D, p.Z?.Slice(2, t, 1), p.DeltaBias);
            var y = SelectiveScan.Step(token, state);
            Assert.True(Rel(expected.Slice(2, t, 1).Reshape(c.B, c.D), y) <= 1e-12);
        }
    }

    [Property(Arbitrary = [typeof(ScanCase)], MaxTest = 20)]
    public void Property_Causality_FutureInputsDoNotReachThePast(ScanCase c)
    {
        var p = c.Inputs();
        var y = SelectiveScan.Forward(p);
        int t0 = c.L / 2;
        var perturbed = p with { U = p.U.Clone(), Delta = p.Delta.Clone(), B = p.B.Clone() };
        for (int b = 0; b < c.B; b++)
            for (int d = 0; d < c.D; d++)
                for (int t = t0 + 1; t < c.L; t++) { perturbed.U[b, d, t] += 3.0; perturbed.Delta[b, d, t] -= 1.0; }
        var y2 = SelectiveScan.Forward(perturbed);
        for (int b = 0; b < c.B; b++)
            for (int d = 0; d < c.D; d++)
                for (int t = 0; t <= t0; t++) Assert.Equal(y[b, d, t], y2[b, d, t]);
    }

    [Property(Arbitrary = [typeof(ScanCase)], MaxTest = 12)]
    public void Property_Backward_MatchesFiniteDifferences(ScanCase c)
    {
        var p = c.Inputs();
        var cot = new SplitMix64((ulong)c.Seed + 99).UniformTensor<double>(-1, 1, c.B, c.D, c.L);
        double Loss() => Dot(cot, SelectiveScan.Forward(p));
        var grads = SelectiveScan.Backward(p, cot);
        AssertGradient(p.U, Loss, grads.DU, "du");
        AssertGradient(p.Delta, Loss, grads.DDelta, "ddelta");
        AssertGradient(p.ALog, Loss, grads.DALog, "dA_log");
        AssertGradient(p.B, Loss, grads.DB, "dB");
        AssertGradient(p.C, Loss, grads.DC, "dC");
        AssertGradient(p.D!, Loss, grads.DD!, "dD");
        AssertGradient(p.DeltaBias!, Loss, grads.DDeltaBias!, "dbias");
        if (p.Z is not null) AssertGradient(p.Z, Loss, grads.DZ!, "dz");
    }

    [Fact]
    public void Property_SingleLaneClosedForm_MatchesHandComputation()
    {
        // One channel, N = 1, no bias/gate: x_0 = dt0 b0 u0, x_1 = e^{dt1 a} x_0 + dt1 b1 u1, y_t = c_t x_t + D u_t.
        double a = -2.0, d0 = 0.3, d1 = 0.7;
        double Inverse(double dt) => Math.Log(Math.Exp(dt) - 1.0);  // softplus^-1
        var p = new SelectiveScanInputs<double>(
            Tensor<double>.FromSpan([1.5, -0.5], 1, 1, 2), Tensor<double>.FromSpan([Inverse(d0), Inverse(d1)], 1, 1, 2),
            Tensor<double>.FromSpan([Math.Log(2.0)], 1, 1), Tensor<double>.FromSpan([0.8, -1.1], 1, 1, 1, 2),
            Tensor<double>.FromSpan([2.0, 0.5], 1, 1, 1, 2), Tensor<double>.FromSpan([0.25], 1));
        double x0 = d0 * 0.8 * 1.5, x1 = Math.Exp(d1 * a) * x0 + d1 * -1.1 * -0.5;
        var y = SelectiveScan.Forward(p);
        Assert.Equal(2.0 * x0 + 0.25 * 1.5, y[0, 0, 0], 1e-14);
        Assert.Equal(0.5 * x1 + 0.25 * -0.5, y[0, 0, 1], 1e-14);
    }

    [Property(Arbitrary = [typeof(ScanCase)], MaxTest = 15)]
    public void Property_Realization_ReproducesTheOperatorWithAndWithoutSkip(ScanCase c)
    {
        foreach (var p in new[] { c.Inputs(), c.Inputs() with { D = null } })
        {
            var t = SelectiveScan.Materialize(p);
            for (int b = 0; b < c.B; b++)
                for (int d = 0; d < c.D; d++)
                {
                    // The realization's own definition: impulse responses propagated by repeated products.
                    var fromRealization = SelectiveScan.Realize(p, b, d).Materialize();
                    // The whole lower triangle, the diagonal (c_t . b_t plus the skip term) included.
                    for (int i = 0; i < c.L; i++)
                        for (int j = 0; j <= i; j++)
                            Assert.Equal(t[b, d, i, j], fromRealization[i, j], 1e-12 * (1 + Math.Abs(t[b, d, i, j])));
                }
        }
    }

    private static Tensor<T> Fast<T>(SelectiveScanInputs<double> p, int maxThreads) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        SelectiveScan.ForwardFast(p.U.Cast<T>(), p.Delta.Cast<T>(), p.ALog.Cast<T>(), p.B.Cast<T>(), p.C.Cast<T>(),
            p.D?.Cast<T>(), p.Z?.Cast<T>(), p.DeltaBias?.Cast<T>(), maxThreads);

    [Property(Arbitrary = [typeof(ScanCase)], MaxTest = 40)]
    public void Property_Fast_MatchesNaive_Float64AndFloat32(ScanCase c)
    {
        // State sizes around the vector widths (4 doubles, 8 floats) exercise the padded lanes; N = 16
        // is the float32 path with the whole state in registers (on AVX-512 cores).
        foreach (int n in new[] { c.N, 9, 16, 17 })
        {
            var p = (c with { N = n }).Inputs();
            var expected = SelectiveScan.Forward(p);
            Assert.True(Rel(expected, Fast<double>(p, 1 + c.Seed % 3)) <= 1e-12);
            Assert.True(Rel(expected, Fast<float>(p, 0).Cast<double>()) <= 1e-5);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Edge_FastFullVectorBlocksAndTimeChunks_MatchNaive(bool gate)
    {
        // 11 channels per group: one full block of 8 floats (two of 4 doubles) taking the register
        // transposes, then a partial block; L = 300 crosses the fast tier's 256-step chunk (the N = 16 path's 128-step chunks) and ends
        // on a tail that is no multiple of the block width.
        var p = new ScanCase(2, 22, 2, 300, 5, 4, gate, 11).Inputs();
        var expected = SelectiveScan.Forward(p);
        Assert.True(Rel(expected, Fast<double>(p, 2)) <= 1e-12);
        Assert.True(Rel(expected, Fast<float>(p, 1).Cast<double>()) <= 1e-5);
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    public void Edge_FastSixteenStates_FullAndPartialBlocksChunksAndTail_MatchNaive(bool gate, int threads)
    {
        // N = 16, 21 channels per group: one full block of 16 float lanes, then a partial one of 5;
        // L = 300 crosses two 128-step chunks and ends on 44 steps, no multiple of the 16-step blocks.
        var p = new ScanCase(2, 42, 2, 300, 16, 4, gate, 12).Inputs();
        var expected = SelectiveScan.Forward(p);
        Assert.True(Rel(expected, Fast<double>(p, threads)) <= 1e-12);
        double rel = Rel(expected, Fast<float>(p, threads).Cast<double>());
        Assert.True(rel <= 1e-5, $"float32 {rel:E2}");
        var noOptions = p with { D = null, Z = null, DeltaBias = null };
        Assert.True(Rel(SelectiveScan.Forward(noOptions), Fast<float>(noOptions, threads).Cast<double>()) <= 1e-5);
    }

    [Fact]
    public void Edge_FastSixteenStates_ExtremeSteps_DecayToZeroOrHold()
    {
        // delta + bias far above softplus's threshold (Delta = delta, the decay underflows to 0: x = Delta u B)
        // and far below (Delta ~ 0: the state holds), against the float64 definition.
        var p = new ScanCase(1, 16, 1, 40, 16, 4, true, 5).Inputs();
        for (int i = 0; i < p.Delta.Length; i++) p.Delta.Data[i] = i % 3 == 0 ? 500 : i % 3 == 1 ? -120 : p.Delta.Data[i];
        var expected = SelectiveScan.Forward(p);
        double rel = Rel(expected, Fast<float>(p, 1).Cast<double>());
        Assert.True(rel <= 1e-5, $"float32 {rel:E2}");
    }

    [Fact]
    public void Edge_FastWithoutSkipGateOrBias_MatchesNaive()
    {
        var p = new ScanCase(2, 4, 2, 33, 5, 4, false, 3).Inputs() with { D = null, Z = null, DeltaBias = null };
        Assert.True(Rel(SelectiveScan.Forward(p), Fast<double>(p, 2)) <= 1e-12);
    }

    [Fact]
    public void Negative_FastShapeMismatch_NamesTheArgument()
    {
        var p = new ScanCase(1, 2, 1, 4, 2, 2, false, 1).Inputs();
        var e = Assert.Throws<ArgumentException>(() => SelectiveScan.ForwardFast(p.U, p.Delta, p.ALog, p.B, p.C.Slice(3, 0, 3)));
        Assert.Equal("c", e.ParamName);
    }

    [Fact]
    public void Negative_FastNonFiniteALog_NamesTheArgument()
    {
        var p = new ScanCase(1, 2, 1, 4, 2, 2, false, 1).Inputs();
        var aLog = p.ALog.Clone();
        aLog.Data[3] = double.NaN;
        var e = Assert.Throws<ArgumentException>(() => SelectiveScan.ForwardFast(p.U, p.Delta, aLog, p.B, p.C));
        Assert.Equal("aLog", e.ParamName);
        Assert.Contains("finite", e.Message);
    }

    [Fact]
    public void Edge_GroupsMustDivideChannels_NamesTheArgument()
    {
        var p = new ScanCase(1, 3, 1, 4, 2, 2, false, 1).Inputs() with { B = Tensor<double>.Zeros(1, 2, 2, 4), C = Tensor<double>.Zeros(1, 2, 2, 4) };
        var e = Assert.Throws<ArgumentException>(() => SelectiveScan.Forward(p));
        Assert.Equal("B", e.ParamName);
    }

    [Fact]
    public void Backward_GivesGradientsExactlyForTheInputsThatArePresent()
    {
        var full = new ScanCase(2, 2, 1, 5, 3, 2, true, 7).Inputs();
        var dOut = new SplitMix64(8).NormalTensor<double>(0, 1, 2, 2, 5);
        var g = SelectiveScan.Backward(full, dOut);
        Assert.NotNull(g.DD);
        Assert.NotNull(g.DZ);
        Assert.NotNull(g.DDeltaBias);
        var bare = SelectiveScan.Backward(full with { D = null, Z = null, DeltaBias = null }, dOut);
        Assert.Null(bare.DD);
        Assert.Null(bare.DZ);
        Assert.Null(bare.DDeltaBias);
    }
}
