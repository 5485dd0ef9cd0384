using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.StateSpace;
using Reference.SpecTests.Core;
using static Reference.SpecTests.Operators.Attention.AttentionCheck;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>A tiny Mamba block case: batch B, model width D, state N, expansion, conv taps K, L tokens.</summary>
public sealed record MambaCase(int B, int D, int N, int Expand, int K, int L, int Seed)
{
    public static Arbitrary<MambaCase> Arbitrary() =>
        (from b in Gen.Elements(1, 2)
         from d in Gen.Elements(1, 3, 4, 17)
         from n in Gen.Elements(1, 2, 4)
         from expand in Gen.Elements(1, 2)
         from k in Gen.Elements(1, 2, 4)
         from l in Gen.Elements(1, 2, 5, 9)
         from seed in Cases.Seed
         select new MambaCase(b, d, n, expand, k, l, seed)).ToArbitrary();

    public MambaParameters Parameters() => MambaParameters.Initialize(new SplitMix64((ulong)Seed), D, N, Expand, K);

    public Tensor<double> Input() => new SplitMix64((ulong)Seed + 1).NormalTensor<double>(0, 1, B, L, D);
}

public class MambaBlockTests
{
    [Property(Arbitrary = [typeof(MambaCase)], MaxTest = 30)]
    public void Property_StepByStep_EqualsForward(MambaCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var y = MambaBlock.Forward(p, u);
        var state = MambaBlock.InitialState(p, c.B);
        for (int t = 0; t < c.L; t++)
        {
            var yt = MambaBlock.Step(p, u.Slice(1, t, 1).Reshape(c.B, c.D), state);
            Assert.True(Rel(y.Slice(1, t, 1).Reshape(c.B, c.D), yt) <= 1e-12);
        }
    }

    [Property(Arbitrary = [typeof(MambaCase)], MaxTest = 20)]
    public void Property_TapeComposition_EqualsForward(MambaCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var v = MambaVariables.From(p);
        var y = MambaBlock.Forward(Variable.Parameter(u.Clone()), v);
        Assert.True(Rel(MambaBlock.Forward(p, u), y.Value) <= 1e-12);
    }

    [Property(Arbitrary = [typeof(MambaCase)], MaxTest = 20)]
    public void Property_Causality_FutureTokensDoNotReachThePast(MambaCase c)
    {
        var p = c.Parameters();
        var u = c.Input();
        var y = MambaBlock.Forward(p, u);
        int t0 = c.L / 2;
        var u2 = u.Clone();
        for (int b = 0; b < c.B; b++)
            for (int t = t0 + 1; t < c.L; t++)
                for (int d = 0; d < c.D; d++) u2[b, t, d] += 2.0;
        var y2 = MambaBlock.Forward(p, u2);
        for (int b = 0; b < c.B; b++)
            for (int t = 0; t <= t0; t++)
                for (int d = 0; d < c.D; d++) Assert.Equal(y[b, t, d], y2[b, t, d]);
    }

    [Fact]
    public void Property_TinyBlock_PassesGradcheck()
    {
        var raw = MambaParameters.Initialize(new SplitMix64(11), modelWidth: 3, stateSize: 2, expand: 2, convWidth: 3);
        var p = MambaVariables.From(raw);
        var u = Variable.Parameter(new SplitMix64(12).NormalTensor<double>(0, 1, 2, 4, 3));
        var w = Variable.Constant(new SplitMix64(13).NormalTensor<double>(0, 1, 2, 4, 3));
        var y = MambaBlock.Forward(u, p);
        Assert.Equal("matmul", y.CreatorName);
        var result = GradCheck.CheckParameters(() => Ops.Sum(Ops.Mul(MambaBlock.Forward(u, p), w)), [u, .. p.All]);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void Property_SelectiveScanAdapter_PassesGradcheck()
    {
        var s = new ScanCase(2, 4, 2, 6, 3, 4, true, 21).Inputs();
        Variable P(Tensor<double> t) => Variable.Parameter(t.Clone());
        var vars = new[] { P(s.U), P(s.Delta), P(s.ALog), P(s.B), P(s.C), P(s.D!), P(s.Z!), P(s.DeltaBias!) };
        var w = Variable.Constant(new SplitMix64(22).NormalTensor<double>(0, 1, 2, 4, 6));
        var y = SsmOps.SelectiveScan(vars[0], vars[1], vars[2], vars[3], vars[4], vars[5], vars[6], vars[7]);
        Assert.Equal("ssm.selective_scan", y.CreatorName);
        var result = GradCheck.CheckParameters(
            () => Ops.Sum(Ops.Mul(SsmOps.SelectiveScan(vars[0], vars[1], vars[2], vars[3], vars[4], vars[5], vars[6], vars[7]), w)), vars);
        Assert.True(result.Passed, result.ToString());
        var bare = SsmOps.SelectiveScan(vars[0], vars[1], vars[2], vars[3], vars[4]);
        Assert.Equal(SelectiveScan.Forward(s with { D = null, Z = null, DeltaBias = null }).Data, bare.Value.Data);
    }

    [Fact]
    public void Property_Initialize_FollowsMambaRecipe()
    {
        var p = MambaParameters.Initialize(new SplitMix64(5), modelWidth: 40, stateSize: 16);
        Assert.Equal(3, p.DtRank);                    // ceil(40 / 16)
        Assert.Equal(80, p.InnerWidth);
        Assert.Equal(Math.Log(16.0), p.ALog[79, 15], 15);
        Assert.All(p.D.Data, x => Assert.Equal(1.0, x));
        foreach (double bias in p.DtBias.Data)
        {
            double dt = Reference.Core.Kernels.NaiveActivations.Softplus(bias);
            Assert.InRange(dt, 1e-3 * (1 - 1e-12), 1e-1 * (1 + 1e-12));
        }
        double bound = 1.0 / Math.Sqrt(3);
        Assert.All(p.DtProj.Data, x => Assert.InRange(x, -bound, bound));
        // nn.Linear / nn.Conv1d defaults U(-1/sqrt(fan_in), 1/sqrt(fan_in)): inside the bound, and (with hundreds of
        // draws) reaching past 90% of it on both sides, so a wrong fan-in or a one-sided range is seen.
        AssertUniformWithin(p.InProj, 1.0 / Math.Sqrt(40));
        AssertUniformWithin(p.ConvWeight, 1.0 / Math.Sqrt(4));
        AssertUniformWithin(p.ConvBias, 1.0 / Math.Sqrt(4));
        AssertUniformWithin(p.XProj, 1.0 / Math.Sqrt(80));
        AssertUniformWithin(p.OutProj, 1.0 / Math.Sqrt(80));
    }

    private static void AssertUniformWithin(Tensor<double> x, double bound)
    {
        Assert.All(x.Data, v => Assert.InRange(v, -bound, bound));
        Assert.True(x.Data.Max() > 0.9 * bound && x.Data.Min() < -0.9 * bound, $"range [{x.Data.Min()}, {x.Data.Max()}] vs bound {bound}");
    }

    [Fact]
    public void Negative_Initialize_StepRangeAndWidths_AreChecked()
    {
        // dtMin = dtMax is a valid (degenerate) range; dtMin <= 0 or dtMax < dtMin is not.
        var fixedStep = MambaParameters.Initialize(new SplitMix64(2), 4, 2, dtMin: 0.01, dtMax: 0.01);
        Assert.All(fixedStep.DtBias.Data, b => Assert.Equal(0.01, Reference.Core.Kernels.NaiveActivations.Softplus(b), 12));
        Assert.Equal("dtMax", Assert.Throws<ArgumentOutOfRangeException>(() => MambaParameters.Initialize(new SplitMix64(2), 4, 2, dtMin: 0)).ParamName);
        Assert.Equal("dtMax", Assert.Throws<ArgumentOutOfRangeException>(() => MambaParameters.Initialize(new SplitMix64(2), 4, 2, dtMin: 0.1, dtMax: 0.05)).ParamName);
        var p = MambaParameters.Initialize(new SplitMix64(3), 4, 2);
        foreach (var bad in new[] { p with { ModelWidth = 0 }, p with { InnerWidth = 0 }, p with { StateSize = 0 }, p with { ConvWidth = 0 }, p with { DtRank = 0 } })
            Assert.Equal("ModelWidth", Assert.Throws<ArgumentOutOfRangeException>(() => bad.Check()).ParamName);
    }

    [Fact]
    public void Negative_Step_TokenAndStateShapes_AreChecked()
    {
        var p = MambaParameters.Initialize(new SplitMix64(4), 4, 2, convWidth: 3);
        var state = new MambaState(1, p.InnerWidth, p.ConvWidth, p.StateSize);
        Assert.Equal("token", Assert.Throws<ArgumentException>(() => MambaBlock.Step(p, Tensor<double>.Zeros(1, 3), state)).ParamName);
        Assert.Equal("token", Assert.Throws<ArgumentException>(() => MambaBlock.Step(p, Tensor<double>.Zeros(4), state)).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => MambaBlock.Step(p, Tensor<double>.Zeros(2, 4), state)).ParamName);
        // Only the scan state is of the wrong size (the conv window matches), then only the conv window.
        var wrongScan = new MambaState(1, p.InnerWidth, p.ConvWidth, p.StateSize + 1);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => MambaBlock.Step(p, Tensor<double>.Zeros(1, 4), wrongScan)).ParamName);
        var wrongConv = new MambaState(1, p.InnerWidth, p.ConvWidth + 1, p.StateSize);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => MambaBlock.Step(p, Tensor<double>.Zeros(1, 4), wrongConv)).ParamName);
    }

    [Fact]
    public void Negative_WrongInputWidth_NamesTheArgument()
    {
        var p = MambaParameters.Initialize(new SplitMix64(1), 4, 2);
        var e = Assert.Throws<ArgumentException>(() => MambaBlock.Forward(p, Tensor<double>.Zeros(1, 3, 5)));
        Assert.Equal("u", e.ParamName);
        var bad = p with { OutProj = Tensor<double>.Zeros(4, 3) };
        Assert.Equal("OutProj", Assert.Throws<ArgumentException>(() => MambaBlock.Forward(bad, Tensor<double>.Zeros(1, 3, 4))).ParamName);
    }
}
