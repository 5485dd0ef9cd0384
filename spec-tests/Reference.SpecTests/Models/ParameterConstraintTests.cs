using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Models;
using Reference.Operators;

namespace Reference.SpecTests.Models;

/// <summary>
/// The descriptor's parameter constraints as the backbone applies them: attention.decayed_linear's
/// log_lambda (domain &lt;= 0) is learned raw and fed as -softplus(raw).
/// </summary>
public sealed class ParameterConstraintTests
{
    private const string Op = "attention.decayed_linear";
    private const int Width = 8, Length = 6, Heads = 2;

    private static SequenceMixer Mixer(ulong seed) => new(new MixerSpec(Op, Heads), Width, Length, seed, new SplitMix64(seed + 100));

    private static Variable X(ulong seed) => Variable.Constant(new SplitMix64(seed).NormalTensor<double>(0, 1, 1, Length, Width));

    private static Variable Raw(SequenceMixer mixer) => mixer.NamedParameters().Single(p => p.Name == "log_lambda").Parameter;

    [Fact]
    public void Property_OnlyDomainRestrictedLearnedParametersAreConstrained()
    {
        // Every constraint names a learned parameter input (differentiable, without B); decayed linear attention's log decay has one.
        foreach (var d in OperatorRegistry.All)
            foreach (var (name, _) in d.Constraints)
            {
                var input = d.Inputs.Single(i => i.Name == name);
                Assert.Contains(name, d.Differentiable);
                Assert.DoesNotContain("B", SequenceMixers.ShapeTokens(input.Shape));
            }
        Assert.Equal(ParameterConstraint.NonPositive, OperatorRegistry.Get(Op).ConstraintOf("log_lambda"));
    }

    [Fact]
    public void Property_InverseRoundTrips()
    {
        // Apply(Inverse(v)) = v to a few ulp (log and exp compose with condition number ~1 here), from the
        // tiniest decays to where softplus turns into the identity (threshold 20) and past it.
        foreach (double value in new[] { -1e-12, -1e-6, -0.01, -0.3, -1, -1.5, -7, -19.5, -40 })
        {
            double raw = ParameterConstraint.NonPositive.Inverse(value);
            Assert.True(Math.Abs(ParameterConstraint.NonPositive.Apply(raw) - value) <= 4e-15 * Math.Abs(value), $"value {value}: raw {raw} maps back to {ParameterConstraint.NonPositive.Apply(raw)}");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => ParameterConstraint.NonPositive.Inverse(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ParameterConstraint.NonPositive.Inverse(1e-3));
    }

    [Fact]
    public void Property_ConstrainedParameterStartsAtTheSampleValue()
    {
        const ulong seed = 5;
        var mixer = Mixer(seed);
        var sample = OperatorRegistry.Get(Op).Sample!(new SampleOptions(Length, Width, seed, Heads: Heads, KeyDim: Width / Heads, Discretization: "bilinear"));
        double[] expected = sample.Inputs["log_lambda"].ToDoubles();
        double[] seen = mixer.OperatorView(X(1)).Inputs["log_lambda"].ToDoubles();
        Assert.Equal(expected.Length, seen.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(seen[i] - expected[i]) <= 4e-15 * Math.Abs(expected[i]), $"log_lambda[{i}]: {seen[i]} vs the sample's {expected[i]}");
        // The raw tensor is what is stored (and counted): the same shape, other values.
        Assert.Equal(expected.Length, Raw(mixer).Length);
        Assert.True(Raw(mixer).Value.Data[0] != expected[0]);
    }

    [Fact]
    public void Property_GradientThroughTheConstraintMatchesFiniteDifferences()
    {
        var mixer = Mixer(3);
        var x = X(4);
        var weights = Variable.Constant(new SplitMix64(8).NormalTensor<double>(0, 1, 1, Length, Width));
        double Loss() => Ops.Sum(mixer.Forward(x) * weights).Item();
        var raw = Raw(mixer);
        mixer.ZeroGrad();
        Ops.Sum(mixer.Forward(x) * weights).Backward();
        for (int i = 0; i < raw.Length; i++)
        {
            double keep = raw.Value.Data[i], h = 1e-5;
            raw.Value.Data[i] = keep + h; double up = Loss();
            raw.Value.Data[i] = keep - h; double down = Loss();
            raw.Value.Data[i] = keep;
            Assert.Equal((up - down) / (2 * h), raw.Grad!.Data[i], 6);
        }
    }

    [Fact]
    public void Property_TrainingTowardsZeroStaysInTheDomain()
    {
        // A loss that rewards log_lambda -> 0 (minus its sum, plus the model's output so the operator runs on the
        // tape every step) with Adam at a large rate: unconstrained, the first steps would cross 0 (the
        // operator then refuses the input); constrained, every step stays < 0 and approaches 0.
        var mixer = Mixer(7);
        var x = X(2);
        var raw = Raw(mixer);
        var optimizer = new Adam(mixer.Parameters(), lr: 0.5);
        for (int step = 0; step < 60; step++)
        {
            optimizer.ZeroGrad();
            var loss = Ops.Sum(mixer.Forward(x)) * 1e-3
                - Ops.Sum(ParameterConstraint.NonPositive.Apply(raw));
            loss.Backward();
            optimizer.Step();
            var view = mixer.OperatorView(x).Inputs["log_lambda"].ToDoubles();
            Assert.All(view, v => Assert.True(v <= 0 && double.IsFinite(v), $"step {step}: log_lambda {v}"));
        }
        Assert.True(mixer.OperatorView(x).Inputs["log_lambda"].ToDoubles().Max() > -1e-3, "the loss did not push log_lambda towards 0");
    }
}
