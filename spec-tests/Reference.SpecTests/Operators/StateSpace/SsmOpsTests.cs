using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>The autodiff adapters: one tape node per operator, gradients = the operator's Backward (checked by the tape's gradcheck).</summary>
public class SsmOpsTests
{
    private static Variable Weighted(Variable y, int seed) =>
        Ops.Sum(Ops.Mul(y, Variable.Constant(new SplitMix64((ulong)seed).NormalTensor<double>(0, 1, y.Value.ShapeArray))));

    [Fact]
    public void Property_CausalConvolutionAdapter_PassesGradcheck()
    {
        var rng = new SplitMix64(1);
        var u = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2, 3, 9));
        var k = Variable.Parameter(rng.NormalTensor<double>(0, 1, 3, 4));
        var d = Variable.Parameter(rng.NormalTensor<double>(0, 1, 3));
        var result = GradCheck.CheckParameters(() => Weighted(SsmOps.CausalConvolution(u, k, d), 2), [u, k, d]);
        Assert.True(result.Passed, result.ToString());
        Assert.Equal("conv.causal", SsmOps.CausalConvolution(u, k, d).CreatorName);

        // Without a skip the op has two inputs, and their gradients are those of y = k * u alone.
        var bare = GradCheck.CheckParameters(() => Weighted(SsmOps.CausalConvolution(u, k), 3), [u, k]);
        Assert.True(bare.Passed, bare.ToString());
    }

    [Theory]
    [InlineData(Discretization.Zoh)]
    [InlineData(Discretization.Bilinear)]
    public void Property_S4DAdapter_PassesGradcheck(Discretization method)
    {
        var p = S4DVariables.From(S4DParameters.Initialize(new SplitMix64(3), 2, 6, S4DInit.Inv, 0.05, 0.5));
        var u = Variable.Parameter(new SplitMix64(4).NormalTensor<double>(0, 1, 2, 2, 11));
        var result = GradCheck.CheckParameters(() => Weighted(SsmOps.S4D(u, p, method), 5), [u, .. p.All]);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void Property_H3Adapter_PassesGradcheck()
    {
        var raw = H3Parameters.Initialize(new SplitMix64(6), 4, 2, 4);
        var p = H3Variables.From(raw);
        var u = Variable.Parameter(new SplitMix64(7).NormalTensor<double>(0, 1, 2, 5, 4));
        var y = SsmOps.H3(u, p);
        Assert.Equal(H3.Forward(raw, u.Value).Data, y.Value.Data);
        var result = GradCheck.CheckParameters(() => Weighted(SsmOps.H3(u, p), 8), [u, .. p.All]);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void Property_SsdAdapter_PassesGradcheckOverEveryInput()
    {
        // Two batches, four heads in two groups: the group gradients of B and C sum over their heads.
        var s = new SsdCase(2, 4, 2, 2, 5, 3, 4, 31).Inputs();
        Variable P(Tensor<double> t) => Variable.Parameter(t.Clone());
        var vars = new[] { P(s.X), P(s.Dt), P(s.ALog), P(s.B), P(s.C), P(s.D!), P(s.DtBias!) };
        Variable Probe() => Weighted(SsmOps.StateSpaceDuality(vars[0], vars[1], vars[2], vars[3], vars[4], vars[5], vars[6]), 32);
        var result = GradCheck.CheckParameters(Probe, vars);
        Assert.True(result.Passed, result.ToString());
        var bare = new[] { P(s.X), P(s.Dt), P(s.ALog), P(s.B), P(s.C) };
        var bareResult = GradCheck.CheckParameters(
            () => Weighted(SsmOps.StateSpaceDuality(bare[0], bare[1], bare[2], bare[3], bare[4]), 33), bare);
        Assert.True(bareResult.Passed, bareResult.ToString());
    }

    [Fact]
    public void SsdAdapter_ForwardIsTheRecurrence()
    {
        var s = new SsdCase(2, 4, 2, 3, 7, 4, 4, 34).Inputs();
        Variable P(Tensor<double> t) => Variable.Parameter(t.Clone());
        var y = SsmOps.StateSpaceDuality(P(s.X), P(s.Dt), P(s.ALog), P(s.B), P(s.C), P(s.D!), P(s.DtBias!));
        Assert.Equal("ssm.ssd", y.CreatorName);
        Assert.Equal(s.X.ShapeArray, y.Value.ShapeArray);
        Assert.Equal(StateSpaceDuality.Forward(s).Data, y.Value.Data);
        var bare = SsmOps.StateSpaceDuality(P(s.X), P(s.Dt), P(s.ALog), P(s.B), P(s.C));
        Assert.Equal(StateSpaceDuality.Forward(s with { D = null, DtBias = null }).Data, bare.Value.Data);
    }
}
