using Reference.Autodiff;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

/// <summary>Backward overrides by primitive name: applied only inside the scope, nested scopes restore, replay and trace.</summary>
public class BackwardOverrideTests
{
    private static Tensor<double>?[] Doubled(BackwardContext ctx)
    {
        var g = ctx.Default(ctx.OutputGrads.ToArray())[0]!.Clone();
        for (int i = 0; i < g.Length; i++) g.Data[i] *= 2;
        return [g];
    }

    private static double[] GradOf(Func<Variable, Variable> f, double[] x)
    {
        var v = Variable.Parameter(new Tensor<double>((double[])x.Clone(), x.Length));
        Ops.Sum(f(v)).Backward();
        return v.Grad!.Data;
    }

    [Fact]
    public void Override_AppliesInsideTheScopeOnly_AndNestedScopesRestore()
    {
        double[] x = [0.3, -0.7, 1.2];
        Variable f(Variable v) => Ops.Tanh(Ops.Relu(v));
        var plain = GradOf(f, x);
        using (Tape.OverrideBackward(new Dictionary<string, BackwardRule> { ["tanh"] = Doubled }))
        {
            var once = GradOf(f, x);
            for (int i = 0; i < x.Length; i++) Assert.Equal(2 * plain[i], once[i], 15);
            using (Tape.OverrideBackward(new Dictionary<string, BackwardRule> { ["relu"] = Doubled }))
            {
                var twice = GradOf(f, x);
                for (int i = 0; i < x.Length; i++) Assert.Equal(4 * plain[i], twice[i], 15);
                using (Tape.SuspendOverrides()) Assert.Equal(plain, GradOf(f, x));
            }
            var again = GradOf(f, x);
            for (int i = 0; i < x.Length; i++) Assert.Equal(2 * plain[i], again[i], 15);
        }
        Assert.Equal(plain, GradOf(f, x));
    }

    [Fact]
    public void Replay_OfLinear_IsTheSamePrimitiveOnOtherInputs_AndTraceListsProducersFirst()
    {
        var rng = new SplitMix64(2);
        var w = Variable.Parameter(new Tensor<double>([1, 2, 3, 4, 5, 6], 2, 3));
        var x = Variable.Parameter(new Tensor<double>([1, -1, 0.5], 1, 3));
        var y = Ops.Relu(Ops.Linear(x, w));
        var trace = Tape.Trace(y);
        Assert.Equal(["linear", "relu"], trace.Select(n => n.Name));
        Variable? replayed = null;
        var rules = new Dictionary<string, BackwardRule>
        {
            ["linear"] = ctx =>
            {
                replayed = ctx.Replay(Variable.Constant(new Tensor<double>([2, 0, 0], 1, 3)), ctx.Inputs[1]);
                return ctx.Default(ctx.OutputGrad);
            },
        };
        using (Tape.OverrideBackward(rules)) Ops.Sum(y).Backward();
        Assert.Equal([2.0, 8.0], replayed!.Value.Data);
        var e = Assert.Throws<InvalidOperationException>(() =>
        {
            var z = Ops.Tanh(x);
            using (Tape.OverrideBackward(new Dictionary<string, BackwardRule> { ["tanh"] = ctx => [ctx.Replay(ctx.Inputs[0]).Value] })) Ops.Sum(z).Backward();
        });
        Assert.Contains("tanh", e.Message);
        _ = rng;
    }
}
