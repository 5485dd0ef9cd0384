using Reference.Autodiff;
using Reference.Core;
using Reference.Models;
using Reference.Operators.StateSpace;

namespace Reference.SpecTests.Models;

/// <summary>
/// The small H3 language model of the synthetic tasks: gradients of the whole model (tied head,
/// residual blocks, the ssm.h3 primitive) against central finite differences, causality of the
/// logits, and the official initialization (names matched to the right distributions).
/// </summary>
public class H3LanguageModelTests
{
    [Theory]
    [InlineData(ToyMixer.H3, 1)]
    [InlineData(ToyMixer.H3, 2)]
    [InlineData(ToyMixer.None, 1)]
    public void Property_LanguageModel_GradientsMatchFiniteDifferences(ToyMixer mixer, int headDim)
    {
        // InitStd 0.3 so the mixer's gate is not negligible (at 0.02 every product q kbar v ~ 1e-5).
        var model = new H3LanguageModel(new H3LanguageModelOptions(5, ModelWidth: 4, Layers: 2, StateSize: 2, HeadDim: headDim,
            Mixer: mixer, InitStd: 0.3), seed: 17);
        var rng = new SplitMix64(4);
        const int batch = 2, length = 5;
        var tokens = Enumerable.Range(0, batch * length).Select(_ => rng.NextInt(5)).ToArray();
        var targets = Enumerable.Range(0, batch * length).Select(_ => rng.NextInt(5)).ToArray();
        var result = GradCheck.CheckParameters(() => Ops.CrossEntropy(model.Logits(tokens, batch, length), targets), model.Parameters());
        Assert.True(result.Passed, result.ToString());
    }

    [Theory]
    [InlineData(1, 8, 9)]
    [InlineData(2, 8, 7)]
    [InlineData(4, 8, 16)]
    public void Property_ComposedMixer_EqualsThePrimitive(int headDim, int width, int length)
    {
        // The same parameters through the ssm.h3 primitive (hand-written VJP) and through the chain of
        // tape operations (Linear, ssm.shift, broadcast outer product, ssm.s4d, gate, Linear).
        var rng = new SplitMix64((ulong)(headDim * 100 + length));
        var mixer = new H3Mixer(H3Parameters.Initialize(rng, width, headDim, stateSize: 4));
        var u = rng.NormalTensor<double>(0, 1, 2, length, width);
        var w = rng.NormalTensor<double>(0, 1, 2, length, width);
        (Tensor<double> Y, Tensor<double>[] Grads) Run(Func<Variable, Variable> f)
        {
            foreach (var p in mixer.Parameters()) p.ZeroGrad();
            var x = new Variable(u.Clone(), requiresGrad: true);
            var y = f(x);
            Ops.Sum(y * Variable.Constant(w)).Backward();
            return (y.Value, [x.Grad!, .. mixer.Parameters().Select(p => p.Grad!)]);
        }
        var primitive = Run(x => SsmOps.H3(x, mixer.Variables));
        var composed = Run(mixer.ForwardComposed);
        Assert.True(Metrics.RelativeError(primitive.Y.Data, composed.Y.Data) < 1e-13, $"forward rel err {Metrics.RelativeError(primitive.Y.Data, composed.Y.Data):E2}");
        for (int i = 0; i < primitive.Grads.Length; i++)
            Assert.True(Metrics.RelativeError(primitive.Grads[i].Data, composed.Grads[i].Data) < 1e-11,
                $"gradient {i} rel err {Metrics.RelativeError(primitive.Grads[i].Data, composed.Grads[i].Data):E2}");
        // Negative control: a different input must not pass the forward comparison.
        var other = rng.NormalTensor<double>(0, 1, 2, length, width);
        Tensor<double> moved;
        using (Tape.NoGrad()) moved = mixer.ForwardComposed(Variable.Constant(other)).Value;
        Assert.True(Metrics.RelativeError(primitive.Y.Data, moved.Data) > 1e-3);
    }

    [Fact]
    public void Property_LanguageModel_IsCausal()
    {
        var model = new H3LanguageModel(new H3LanguageModelOptions(9, ModelWidth: 8, Layers: 2, StateSize: 4, InitStd: 0.5), seed: 3);
        var rng = new SplitMix64(8);
        const int length = 17, v = 9;
        var tokens = Enumerable.Range(0, length).Select(_ => rng.NextInt(v)).ToArray();
        Tensor<double> reference;
        using (Tape.NoGrad()) reference = model.Logits(tokens, 1, length).Value;
        foreach (int t in new[] { 0, 7, 15 })
        {
            var changed = (int[])tokens.Clone();
            for (int i = t + 1; i < length; i++) changed[i] = (changed[i] + 1) % v;
            Tensor<double> logits;
            using (Tape.NoGrad()) logits = model.Logits(changed, 1, length).Value;
            for (int i = 0; i < (t + 1) * v; i++) Assert.Equal(reference.Data[i], logits.Data[i], 13);
            // Negative control: the first changed position's logits move.
            double moved = 0;
            for (int i = (t + 1) * v; i < (t + 2) * v; i++) moved = Math.Max(moved, Math.Abs(reference.Data[i] - logits.Data[i]));
            Assert.True(moved > 1e-3, $"changing token {t + 1} moved its logits by only {moved}");
        }
    }

    [Fact]
    public void Property_FinalLogits_AreTheLastRowOfLogits()
    {
        var model = new H3LanguageModel(new H3LanguageModelOptions(7, ModelWidth: 8, Layers: 1, StateSize: 4, InitStd: 0.3), seed: 9);
        var rng = new SplitMix64(2);
        const int batch = 3, length = 9, v = 7;
        var tokens = Enumerable.Range(0, batch * length).Select(_ => rng.NextInt(v)).ToArray();
        using var scope = Tape.NoGrad();
        var all = model.Logits(tokens, batch, length).Value.Data;
        var last = model.FinalLogits(tokens, batch, length).Value.Data;
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < v; c++) Assert.Equal(all[(b * length + length - 1) * v + c], last[b * v + c], 14);
    }

    [Fact]
    public void Edge_Initialization_FollowsTheOfficialScheme()
    {
        const int d = 64, layers = 2;
        var model = new H3LanguageModel(new H3LanguageModelOptions(20, ModelWidth: d, Layers: layers, StateSize: 8), seed: 1);
        var p = model.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter.Value.Data);
        AssertStd(p["embedding.weight"], 0.02);
        AssertStd(p["block0.mixer.wq"], 0.02);
        AssertStd(p["block1.mlp.fc1.weight"], 0.02);
        AssertStd(p["block0.mixer.wo"], 0.02 / Math.Sqrt(2 * layers));
        AssertStd(p["block1.mlp.fc2.weight"], 0.02 / Math.Sqrt(2 * layers));
        foreach (var name in new[] { "block0.mixer.bq", "block0.mixer.bo", "block1.mlp.fc1.bias", "block1.mlp.fc2.bias", "final_norm.bias" })
            Assert.All(p[name], x => Assert.Equal(0.0, x));
        Assert.All(p["block0.norm1.weight"], x => Assert.Equal(1.0, x));
        // The SSMs keep their own init: shift SSM B = e1 per channel, S4D-Lin imaginary parts pi n.
        Assert.Equal(1.0, p["block0.mixer.shift_b"][0]);
        Assert.Equal(0.0, p["block0.mixer.shift_b"][1]);
        Assert.Equal(Math.PI, p["block1.mixer.imag_a"][1], 15);
        Assert.Equal(6 * layers, model.DynamicsParameters().Count);
        Assert.Equal(model.Parameters().Count, model.MainParameters().Count + model.DynamicsParameters().Count);
    }

    [Fact]
    public void Negative_InvalidOptionsAndTokens()
    {
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new H3LanguageModel(new H3LanguageModelOptions(20, ModelWidth: 6, HeadDim: 4), 0)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new H3LanguageModel(new H3LanguageModelOptions(20, StateSize: 3), 0)).ParamName);
        var model = new H3LanguageModel(new H3LanguageModelOptions(5, ModelWidth: 4, Layers: 1, StateSize: 2), 0);
        Assert.Equal("tokens", Assert.Throws<ArgumentException>(() => model.Logits([1, 2, 3], 2, 2)).ParamName);
        Assert.Equal("ids", Assert.Throws<ArgumentOutOfRangeException>(() => model.Logits([1, 5], 1, 2)).ParamName);
    }

    private static void AssertStd(double[] x, double expected)
    {
        double mean = x.Average();
        double std = Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1));
        // >= 1,280 samples each: the sample std is within 5 % of sigma with overwhelming probability.
        Assert.InRange(std, 0.93 * expected, 1.07 * expected);
        Assert.InRange(mean, -4 * expected / Math.Sqrt(x.Length), 4 * expected / Math.Sqrt(x.Length));
    }
}
