using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

/// <summary>Layers: gradcheck with respect to input and every parameter, names, counts, initializers.</summary>
public class LayerTests
{
    private static void AssertLayerPasses(Layer layer, Tensor<double> x)
    {
        // Input gradient (parameters held fixed) ...
        Grad.AssertPasses(v => Grad.Probe(layer.Forward(v[0])), x);
        // ... and parameter gradients (input fixed).
        var input = Variable.Constant(x);
        var result = GradCheck.CheckParameters(() => Grad.Probe(layer.Forward(input)), layer.Parameters());
        Assert.True(result.Passed, result.ToString());
    }

    [Property(Arbitrary = [typeof(ShapeCase)], MaxTest = 10)]
    public void Property_EveryLayer_PassesGradCheck(ShapeCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int d = c.Shape[^1];
        int[] shape = c.Shape.Length == 3 ? c.Shape : [2, c.Shape[0], d];
        var x = Grad.Normal((ulong)c.Seed + 1, shape);
        int hidden = 1 + rng.NextInt(5);
        var layers = new Layer[]
        {
            new Linear(d, 3, rng),
            new Linear(d, 2, rng, bias: false),
            new LayerNorm(d),
            new RmsNorm(d),
            new Mlp(d, hidden, d, ActivationKind.GeluTanh, rng),
            GatedMlp.Glu(d, hidden, rng),
            GatedMlp.SwiGlu(d, hidden, rng),
            new PreNormResidual(new RmsNorm(d), GatedMlp.SwiGlu(d, hidden, rng)),
            new PreNormResidual(new LayerNorm(d), new Mlp(d, hidden, d, ActivationKind.Silu, rng)),
            new CausalConv1d(d, 1 + rng.NextInt(4), rng),
            new Sequential(new Linear(d, 4, rng), new Activation(ActivationKind.Tanh), new Softmax(log: true)),
        };
        // Norm weights start at 1 and biases at 0: perturb them so the check is not at a special point.
        foreach (var layer in layers)
            foreach (var p in layer.Parameters())
                for (int i = 0; i < p.Length; i++) p.Value.Data[i] += 0.1 * rng.Normal();
        foreach (var layer in layers) AssertLayerPasses(layer, x);
        foreach (var kind in Enum.GetValues<ActivationKind>()) AssertLayerPasses(new Activation(kind), x);

        var embedding = new Embedding(5, d, rng);
        int[] ids = [4, 0, 4, 2, 1, 1];
        var r = GradCheck.CheckParameters(() => Grad.Probe(embedding.Forward(ids, 2, 3)), embedding.Parameters());
        Assert.True(r.Passed, r.ToString());
    }

    [Fact]
    public void Property_ParameterNamesAreHierarchical_AndCounted()
    {
        var rng = new SplitMix64(1);
        var model = new Sequential(
            new PreNormResidual(new LayerNorm(8), GatedMlp.SwiGlu(8, 16, rng)),
            new Linear(8, 3, rng));
        var names = model.NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(["0.norm.weight", "0.norm.bias", "0.mixer.w.weight", "0.mixer.v.weight", "0.mixer.w2.weight", "1.weight", "1.bias"], names);
        // 8 + 8 + 3 * 128 + 24 + 3
        Assert.Equal(8 + 8 + 3 * 8 * 16 + 8 * 3 + 3, model.ParameterCount());
    }

    [Fact]
    public void Property_TrainEval_SwitchesDropoutRecursively()
    {
        var model = new Sequential(new Dropout(0.5, 3));
        var x = Variable.Constant(Tensor<double>.Full(1.0, 64));
        Assert.Contains(0.0, model.Forward(x).Value.Data);
        model.Eval();
        Assert.False(model.Layers[0].Training);
        Assert.Same(x, model.Forward(x));
    }

    [Fact]
    public void Property_LinearInit_IsPyTorchsKaimingUniformWithASqrt5()
    {
        // bound 1 / sqrt(in) for weight and bias; U(-b, b) has variance b^2 / 3.
        var linear = new Linear(64, 512, new SplitMix64(9));
        double bound = 1.0 / 8.0;
        var w = linear.Weight.Value.Data;
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.All(linear.Bias!.Value.Data, v => Assert.InRange(v, -bound, bound));
        double variance = w.Select(v => v * v).Average();
        Assert.Equal(bound * bound / 3, variance, bound * bound / 3 * 0.02);   // 32768 draws: ~0.8 % sd
        Assert.True(w.Max() > 0.99 * bound && w.Min() < -0.99 * bound);
    }

    [Fact]
    public void Property_Initializers_HaveTheDocumentedScale()
    {
        var rng = new SplitMix64(4);
        // Fans of a conv weight [out = 32, in = 16, k = 4]: fan_in = 64, fan_out = 128.
        Assert.Equal((64, 128), Init.Fans([32, 16, 4]));
        static double Std(Tensor<double> t) => Math.Sqrt(t.Data.Select(v => v * v).Average());
        Assert.Equal(Math.Sqrt(2.0) / 16.0, Std(Init.KaimingNormal(rng, 0, 256, 256)), 0.01 * Math.Sqrt(2.0) / 16.0);
        Assert.Equal(Math.Sqrt(2.0 / 512), Std(Init.XavierNormal(rng, 1.0, 256, 256)), 0.01 * Math.Sqrt(2.0 / 512));
        double xb = Math.Sqrt(6.0 / 512);
        var xu = Init.XavierUniform(rng, 1.0, 256, 256);
        Assert.All(xu.Data, v => Assert.InRange(v, -xb, xb));
        Assert.Equal(xb / Math.Sqrt(3), Std(xu), 0.01 * xb / Math.Sqrt(3));
        Assert.Equal(0.02, Std(Init.Normal(rng, 0, 0.02, 256, 256)), 0.0002);
        Assert.All(Init.Zeros(7).Data, v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void Negative_LinearRejectsAWrongInputWidth()
    {
        var linear = new Linear(4, 2, new SplitMix64(1));
        var e = Assert.Throws<ArgumentException>(() => linear.Forward(Variable.Constant(Tensor<double>.Zeros(3, 5))));
        Assert.Equal("x", e.ParamName);
        Assert.Contains("[..., 4]", e.Message);
    }
}
