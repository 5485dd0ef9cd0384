using Reference.Autodiff;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

/// <summary>
/// The registration API as operator authors use it (the example of Function's documentation,
/// verbatim), and argument errors at the public boundary.
/// </summary>
public class RegistrationTests
{
    /// <summary>y = a * x + b elementwise, registered as one primitive "axpb" with its VJP.</summary>
    private static Variable Axpb(Variable a, Variable x, Variable b)
    {
        var y = Tensor<double>.Zeros(x.Value.ShapeArray);
        for (int i = 0; i < y.Length; i++) y.Data[i] = a.Value.Data[i] * x.Value.Data[i] + b.Value.Data[i];
        return Function.Apply("axpb", [a, x, b], y, gy =>
        {
            var ga = Tensor<double>.Zeros(gy.ShapeArray);
            var gx = Tensor<double>.Zeros(gy.ShapeArray);
            for (int i = 0; i < gy.Length; i++)
            {
                ga.Data[i] = gy.Data[i] * x.Value.Data[i];
                gx.Data[i] = gy.Data[i] * a.Value.Data[i];
            }
            return [ga, gx, gy];
        });
    }

    [Fact]
    public void Property_DocumentedFusedOperator_PassesGradCheck_AndIsOneNode()
    {
        var a0 = Grad.Normal(1, 4, 5);
        var x0 = Grad.Normal(2, 4, 5);
        var b0 = Grad.Normal(3, 4, 5);
        var result = GradCheck.Check(v => Ops.Sum(Axpb(v[0], v[1], v[2])), [a0, x0, b0]);
        Assert.True(result.Passed, result.ToString());
        var y = Axpb(Variable.Parameter(a0), Variable.Constant(x0), Variable.Constant(b0));
        Assert.Equal("axpb", y.CreatorName);
        // The fused op composes with built-in primitives: d/dx of sum(axpb(a, x, b)^2) = 2 y a.
        var x = Variable.Parameter(x0);
        var a = Variable.Constant(a0);
        var z = Axpb(a, x, Variable.Constant(b0));
        Ops.Sum(z * z).Backward();
        for (int i = 0; i < x0.Length; i++) Assert.Equal(2 * z.Value.Data[i] * a0.Data[i], x.Grad!.Data[i], 1e-14);
    }

    [Fact]
    public void Property_SharedCotangentReturnedForTwoInputs_IsNotAliased()
    {
        // add's VJP returns g for both inputs; accumulation must copy so the leaves do not share a buffer.
        var a = Variable.Parameter(Tensor<double>.Zeros(3));
        var b = Variable.Parameter(Tensor<double>.Zeros(3));
        Ops.Sum(a + b).Backward();
        a.Grad!.Data[0] = 42;
        Assert.Equal(1.0, b.Grad!.Data[0]);
    }

    [Fact]
    public void Negative_BoundaryErrors_NameTheArgument()
    {
        var table = Variable.Parameter(Tensor<double>.Zeros(4, 2));
        Assert.Equal("ids", Assert.Throws<ArgumentOutOfRangeException>(() => Ops.Embedding(table, [0, 4])).ParamName);
        var logits = Variable.Parameter(Tensor<double>.Zeros(2, 3));
        Assert.Equal("targets", Assert.Throws<ArgumentOutOfRangeException>(() => Ops.CrossEntropy(logits, [0, 3])).ParamName);
        Assert.Equal("targets", Assert.Throws<ArgumentException>(() => Ops.CrossEntropy(logits, [0])).ParamName);
        var x = Variable.Parameter(Tensor<double>.Zeros(2, 3));
        var y = Variable.Parameter(Tensor<double>.Zeros(3, 3));
        Assert.Equal("xs", Assert.Throws<ArgumentException>(() => Ops.Concat([x, y], 1)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => Ops.MatMul(x, x)).ParamName);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => Ops.LayerNorm(x, y, null)).ParamName);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => Ops.CausalConv1d(Variable.Constant(Tensor<double>.Zeros(1, 4, 3)), x)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentOutOfRangeException>(() => Ops.Dropout(x, 1.5, new SplitMix64(1))).ParamName);
        Assert.Equal("target", Assert.Throws<ArgumentException>(() => Ops.MseLoss(x, y)).ParamName);
        var check = Assert.Throws<ArgumentException>(() => GradCheck.Check(v => v[0], [Tensor<double>.Zeros(2)]));
        Assert.Equal("f", check.ParamName);
    }

    [Fact]
    public void Edge_CrossEntropy_AllTargetsIgnored_IsNaNAsPyTorch()
    {
        var logits = Variable.Parameter(Tensor<double>.Zeros(2, 3));
        Assert.True(double.IsNaN(Ops.CrossEntropy(logits, [-100, -100]).Item()));
    }

    [Fact]
    public void Edge_LengthOneAndWidthOne_Work()
    {
        // L = 1 causal conv sees only its last tap; D = 1 layer norm outputs beta.
        var x = Variable.Parameter(Tensor<double>.FromSpan([2.0, 3.0], 1, 1, 2));
        var w = Variable.Parameter(Tensor<double>.FromSpan([5.0, 7.0, 11.0, 13.0], 2, 2));
        Assert.Equal([14.0, 39.0], Ops.CausalConv1d(x, w).Value.Data);
        var one = Variable.Parameter(Tensor<double>.FromSpan([4.0], 1, 1));
        var beta = Variable.Constant(Tensor<double>.FromSpan([0.25], 1));
        Assert.Equal([0.25], Ops.LayerNorm(one, null, beta).Value.Data);
    }
}
