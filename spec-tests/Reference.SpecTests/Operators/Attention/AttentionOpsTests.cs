using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Attention;

namespace Reference.SpecTests.Operators.Attention;

/// <summary>The autodiff adapters: gradcheck of a loss composed of the registered primitives and tape ops.</summary>
public class AttentionOpsTests
{
    private static Tensor<double> N(SplitMix64 rng, params int[] shape) => rng.NormalTensor<double>(0, 1, shape);

    [Fact]
    public void Property_Adapters_PassGradCheck_WhenChainedThroughTheTape()
    {
        var rng = new SplitMix64(31);
        int b = 1, h = 2, l = 6, k = 3, v = 2;
        var w = N(rng, b, h, l, v);
        Variable Weighted(Variable y) => Ops.Sum(Ops.Mul(y, Variable.Constant(w)));

        var softmax = GradCheck.Check(x => Weighted(AttentionOps.Softmax(x[0], x[1], x[2], new(Window: 3))),
            [N(rng, b, h, l, k), N(rng, b, 1, l, k), N(rng, b, 1, l, v)]);
        Assert.True(softmax.Passed, softmax.ToString());

        var linear = GradCheck.Check(x => Weighted(AttentionOps.Linear(x[0], x[1], x[2], new(FeatureMap.Taylor, Normalize: true))),
            [N(rng, b, h, l, k), N(rng, b, h, l, k), N(rng, b, h, l, v)]);
        Assert.True(linear.Passed, linear.ToString());

        var decayed = GradCheck.Check(x => Weighted(AttentionOps.DecayedLinear(x[0], x[1], x[2], x[3])),
            [N(rng, b, h, l, k), N(rng, b, h, l, k), N(rng, b, h, l, v), rng.UniformTensor<double>(-1, -0.01, h, k)]);
        Assert.True(decayed.Passed, decayed.ToString());

        var gla = GradCheck.Check(x => Weighted(AttentionOps.GatedLinear(x[0], x[1], x[2], AttentionOps.LogSigmoidGate(x[3], 1.0))),
            [N(rng, b, h, l, k), N(rng, b, h, l, k), N(rng, b, h, l, v), N(rng, b, h, l, k)]);
        Assert.True(gla.Passed, gla.ToString());
    }

    [Fact]
    public void Negative_GradCheckRejectsAWrongVjp()
    {
        var rng = new SplitMix64(32);
        var q = N(rng, 1, 1, 4, 2);
        var k = N(rng, 1, 1, 4, 2);
        var v = N(rng, 1, 1, 4, 2);
        var result = GradCheck.Check(x =>
        {
            var y = Function.Apply("wrong", [x[0], x[1], x[2]], SoftmaxAttention.Forward(x[0].Value, x[1].Value, x[2].Value), gy =>
            {
                var g = SoftmaxAttention.Backward(x[0].Value, x[1].Value, x[2].Value, gy);
                TensorPrimitives.Multiply(g.Dq.Data, 1 + 1e-3, g.Dq.Data);
                return [g.Dq, g.Dk, g.Dv];
            });
            return Ops.Sum(y);
        }, [q, k, v]);
        Assert.False(result.Passed);
    }

    [Fact]
    public void Negative_NullVariables_ThrowArgumentNullException_NamingTheArgument()
    {
        var rng = new SplitMix64(33);
        var x = Variable.Constant(N(rng, 1, 1, 3, 2));
        var ll = Variable.Constant(Tensor<double>.Full(-0.5, 1, 2));
        // Exact type: without the checks the adapters fail later with a NullReferenceException.
        void Null(string name, Action call) => Assert.Equal(name, Assert.Throws<ArgumentNullException>(call).ParamName);
        Null("q", () => AttentionOps.Softmax(null!, x, x));
        Null("k", () => AttentionOps.Softmax(x, null!, x));
        Null("v", () => AttentionOps.Softmax(x, x, null!));
        Null("q", () => AttentionOps.Linear(null!, x, x));
        Null("k", () => AttentionOps.Linear(x, null!, x));
        Null("v", () => AttentionOps.Linear(x, x, null!));
        Null("q", () => AttentionOps.DecayedLinear(null!, x, x, ll));
        Null("k", () => AttentionOps.DecayedLinear(x, null!, x, ll));
        Null("v", () => AttentionOps.DecayedLinear(x, x, null!, ll));
        Null("logLambda", () => AttentionOps.DecayedLinear(x, x, x, null!));
        Null("q", () => AttentionOps.GatedLinear(null!, x, x, x));
        Null("k", () => AttentionOps.GatedLinear(x, null!, x, x));
        Null("v", () => AttentionOps.GatedLinear(x, x, null!, x));
        Null("g", () => AttentionOps.GatedLinear(x, x, x, null!));
        Null("x", () => AttentionOps.LogSigmoidGate(null!));
        // The smallest valid calls are accepted (the checks do not reject good input).
        Assert.Equal([1, 1, 3, 2], AttentionOps.Softmax(x, x, x).Value.ShapeArray);
        Assert.Equal([1, 1, 3, 2], AttentionOps.DecayedLinear(x, x, x, ll).Value.ShapeArray);
    }
}
