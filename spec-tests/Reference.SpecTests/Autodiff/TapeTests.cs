using Reference.Autodiff;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

public class TapeTests
{
    [Fact]
    public void Property_VariableUsedTwice_ReceivesTheSumOfBothPaths()
    {
        // f = sum(x * x + 3 x) => df/dx = 2x + 3 (analytic).
        var x = Variable.Parameter(Tensor<double>.FromSpan([1.5, -2.0, 0.25], 3));
        Ops.Sum(x * x + x * 3.0).Backward();
        Assert.Equal([6.0, -1.0, 3.5], x.Grad!.Data);
    }

    [Fact]
    public void Property_GradientsAccumulateAcrossBackwardCalls_UntilZeroGrad()
    {
        var x = Variable.Parameter(Tensor<double>.FromSpan([2.0, 5.0], 2));
        Ops.Sum(x * x).Backward();
        Ops.Sum(x * x).Backward();
        Assert.Equal([8.0, 20.0], x.Grad!.Data);
        x.ZeroGrad();
        Ops.Sum(x * 2.0).Backward();
        Assert.Equal([2.0, 2.0], x.Grad!.Data);
    }

    [Fact]
    public void Property_InputGradients_AreReturnedForInputsThatRequireThem()
    {
        // Interpretation methods need d loss / d input: y = sum(W x), dy/dx = column sums of W.
        var w = Variable.Parameter(Tensor<double>.FromSpan([1.0, 2.0, 3.0, 4.0], 2, 2));
        var x = new Variable(Tensor<double>.FromSpan([1.0, 1.0], 2, 1), requiresGrad: true);
        var c = Variable.Constant(Tensor<double>.FromSpan([7.0, 7.0], 2, 1));
        Ops.Sum(Ops.MatMul(w, x) + c).Backward();
        Assert.Equal([4.0, 6.0], x.Grad!.Data);
        Assert.Equal([1.0, 1.0, 1.0, 1.0], w.Grad!.Data);
        Assert.Null(c.Grad);
    }

    [Fact]
    public void Property_NoGradScope_RecordsNothing()
    {
        var x = Variable.Parameter(Tensor<double>.FromSpan([1.0, 2.0], 2));
        Variable y;
        using (Tape.NoGrad())
        {
            Assert.False(Tape.IsRecording);
            y = Ops.Sum(Ops.Exp(x) * x);
        }
        Assert.True(Tape.IsRecording);
        Assert.True(y.IsLeaf);
        Assert.False(y.RequiresGrad);
        Assert.Null(y.CreatorName);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Equal(Math.Exp(1) + 2 * Math.Exp(2), y.Item(), 1e-12);
        var recorded = Ops.Sum(Ops.Exp(x) * x);
        Assert.Equal("sum", recorded.CreatorName);
    }

    [Fact]
    public void Property_RetainGrad_KeepsTheIntermediateCotangent()
    {
        var x = Variable.Parameter(Tensor<double>.FromSpan([3.0], 1));
        var h = (x * 2.0).RetainGrad();
        Ops.Sum(h * h).Backward();
        Assert.Equal([12.0], h.Grad!.Data);
        Assert.Equal([24.0], x.Grad!.Data);
    }

    [Fact]
    public void Property_MultiOutputFunction_ReceivesZerosForUnusedOutputs()
    {
        // A registered primitive with two outputs (x^2, x^3); only the first reaches the root.
        var x = Variable.Parameter(Tensor<double>.FromSpan([2.0], 1));
        Tensor<double>[]? seen = null;
        var outs = Function.Apply("square_and_cube", [x],
            [Tensor<double>.FromSpan([4.0], 1), Tensor<double>.FromSpan([8.0], 1)],
            g =>
            {
                seen = g;
                return [Tensor<double>.FromSpan([g[0].Data[0] * 4.0 + g[1].Data[0] * 12.0], 1)];
            });
        Ops.Sum(outs[0]).Backward();
        Assert.Equal([0.0], seen![1].Data);
        Assert.Equal([4.0], x.Grad!.Data);
    }

    [Fact]
    public void Property_ExplicitSeed_GivesTheVectorJacobianProduct()
    {
        var x = Variable.Parameter(Tensor<double>.FromSpan([1.0, 2.0, 3.0], 3));
        var y = x * x;
        y.Backward(Tensor<double>.FromSpan([1.0, 0.0, -1.0], 3));
        Assert.Equal([2.0, 0.0, -6.0], x.Grad!.Data);
    }

    [Fact]
    public void Property_DeepChain_DoesNotOverflowTheStack()
    {
        var x = Variable.Parameter(Tensor<double>.FromSpan([1.0], 1));
        var y = x;
        for (int i = 0; i < 20000; i++) y = y + 0.0;
        Ops.Sum(y).Backward();
        Assert.Equal([1.0], x.Grad!.Data);
    }

    [Fact]
    public void Negative_BackwardFromNonScalarWithoutSeed_NamesTheSeed()
    {
        var x = Variable.Parameter(Tensor<double>.Zeros(2));
        var e = Assert.Throws<ArgumentException>(() => (x * 2.0).Backward());
        Assert.Equal("seed", e.ParamName);
    }

    [Fact]
    public void Negative_VjpReturningAWrongShape_IsReportedWithTheOperatorName()
    {
        var x = Variable.Parameter(Tensor<double>.Zeros(3));
        var y = Function.Apply("broken.op", [x], Tensor<double>.Zeros(3), g => [Tensor<double>.Zeros(2)]);
        var e = Assert.Throws<InvalidOperationException>(() => Ops.Sum(y).Backward());
        Assert.Contains("broken.op", e.Message);
    }

    [Fact]
    public void Negative_GradCheck_RejectsAWrongVjp()
    {
        // y = x^3 registered with the derivative 3x^2 scaled by 1 + 1e-3: gradcheck must fail.
        static Variable Cube(Variable x, double factor)
        {
            var y = Tensor<double>.Zeros(x.Value.ShapeArray);
            for (int i = 0; i < y.Length; i++) y.Data[i] = Math.Pow(x.Value.Data[i], 3);
            return Function.Apply("cube", [x], y, g =>
            {
                var gx = Tensor<double>.Zeros(g.ShapeArray);
                for (int i = 0; i < g.Length; i++) gx.Data[i] = g.Data[i] * 3 * x.Value.Data[i] * x.Value.Data[i] * factor;
                return [gx];
            });
        }
        var x0 = Grad.Normal(3, 7);
        Assert.True(GradCheck.Check(v => Grad.Probe(Cube(v[0], 1.0)), [x0]).Passed);
        var bad = GradCheck.Check(v => Grad.Probe(Cube(v[0], 1.0 + 1e-3)), [x0]);
        Assert.False(bad.Passed);
        Assert.Contains("FAILED", bad.ToString());
    }
}
