using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Decoding.Interpretation;

namespace Reference.SpecTests.Decoding;

/// <summary>The convolution-specific rules: LRP through Conv3d (replayed with w + gamma w+), BatchNorm folding, Grad-CAM.</summary>
public class InterpretationConvolutionTests
{
    private static Tensor<double> Random(SplitMix64 rng, params int[] shape)
    {
        var t = Tensor<double>.Zeros(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = rng.Normal();
        return t;
    }

    [Fact]
    public void Lrp0_ThroughBiasFreeConvolutions_IsInputTimesGradient_AndConserves()
    {
        var rng = new SplitMix64(12);
        var net = new Sequential(new Conv3d(1, 3, 2, rng, stride: 1, bias: false), new Activation(ActivationKind.Relu),
            new Conv3d(3, 2, 2, rng, stride: 2, bias: false), new Activation(ActivationKind.Relu), new Flatten(), new Linear(2 * 2 * 2 * 2, 3, rng, bias: false));
        var x = Random(rng, 2, 1, 5, 5, 5);
        int[] t = [0, 2];
        var lrp = Attribution.Lrp(net.Forward, x, t, gamma: 0, epsilon: 0);
        var ixg = Attribution.Compute("input_x_gradient", net.Forward, x, t);
        for (int i = 0; i < lrp.Length; i++) Assert.Equal(ixg.Data[i], lrp.Data[i], 10);
        var logits = Attribution.Logits(net.Forward, x);
        for (int n = 0; n < 2; n++)
            Assert.Equal(logits.Data[n * 3 + t[n]], lrp.Data.AsSpan(n * 125, 125).ToArray().Sum(), 9);
        // The gamma rule changes the map (it favours positive contributions).
        var gamma = Attribution.Lrp(net.Forward, x, t, gamma: 0.25, epsilon: 0);
        Assert.Contains(gamma.Data.Zip(lrp.Data), p => Math.Abs(p.First - p.Second) > 1e-6);
    }

    [Fact]
    public void BatchNormFolding_KeepsTheForward_RestoresTheParameters_AndMakesLrp0InputTimesGradient()
    {
        var rng = new SplitMix64(13);
        var conv = new Conv3d(1, 2, 2, rng, stride: 2);
        var bn = new BatchNorm(2);
        var net = new Sequential(conv, bn, new Activation(ActivationKind.Relu), new Flatten(), new Linear(2 * 8, 3, rng, bias: false));
        net.Eval();
        bn.RunningMean[0] = 0.3; bn.RunningMean[1] = -0.2;
        bn.RunningVar[0] = 2.0; bn.RunningVar[1] = 0.5;
        bn.Weight!.Value.Data[0] = -1.5; bn.Weight.Value.Data[1] = 0.7;
        // conv bias = running mean and beta = 0: the folded convolution has no bias, so LRP-0 = input x gradient.
        conv.Bias!.Value.Data[0] = 0.3; conv.Bias.Value.Data[1] = -0.2;
        var x = Random(rng, 2, 1, 4, 4, 4);
        int[] t = [1, 2];
        var before = Attribution.Logits(net.Forward, x);
        var saved = net.Parameters().Select(p => (double[])p.Value.Data.Clone()).ToArray();
        using (BatchNormFolding.Merge(net))
        {
            var folded = Attribution.Logits(net.Forward, x);
            for (int i = 0; i < before.Length; i++) Assert.Equal(before.Data[i], folded.Data[i], 10);
        }
        var parameters = net.Parameters();
        for (int i = 0; i < parameters.Count; i++) Assert.Equal(saved[i], parameters[i].Value.Data);
        Assert.Equal([0.3, -0.2], bn.RunningMean);
        var lrp = Attribution.Lrp(net.Forward, x, t, 0, 0, () => BatchNormFolding.Merge(net));
        var ixg = Attribution.Compute("input_x_gradient", net.Forward, x, t);
        for (int i = 0; i < lrp.Length; i++) Assert.Equal(ixg.Data[i], lrp.Data[i], 10);
    }

    [Fact]
    public void GradCam_IsTheReluOfChannelWeightedActivations_AndGuidedGradCamMultipliesGuidedBackprop()
    {
        var rng = new SplitMix64(14);
        var w = Variable.Parameter(Random(rng, 3, 1, 2, 2, 2));
        var b = Variable.Parameter(Random(rng, 3));
        var head = new Linear(3 * 8, 2, rng);
        Variable Body(Variable v, out Variable a)
        {
            a = Ops.Conv3d(v, w, b, stride: 2);
            return head.Forward(Ops.Reshape(Ops.Relu(a), v.Shape[0], 3 * 8));
        }
        Variable f(Variable v) => Body(v, out _);
        var x = Random(rng, 2, 1, 4, 4, 4);
        int[] t = [1, 0];
        var cam = Attribution.GradCam(f, x, t);
        var xv = Variable.Parameter(x.Clone());
        var logits = Body(xv, out var act);
        act.RetainGrad();
        var seed = Tensor<double>.Zeros(2, 2);
        seed.Data[0 * 2 + 1] = 1;
        seed.Data[1 * 2 + 0] = 1;
        logits.Backward(seed);
        Assert.Equal([2, 1, 2, 2, 2], cam.ShapeArray);
        for (int n = 0; n < 2; n++)
            for (int s = 0; s < 8; s++)
            {
                double sum = 0;
                for (int k = 0; k < 3; k++)
                {
                    double alpha = Enumerable.Range(0, 8).Average(j => act.Grad!.Data[(n * 3 + k) * 8 + j]);
                    sum += alpha * act.Value.Data[(n * 3 + k) * 8 + s];
                }
                Assert.Equal(Math.Max(sum, 0), cam.Data[n * 8 + s], 12);
            }
        var ggc = Attribution.Compute("guided_gradcam", f, x, t);
        var gbp = Attribution.Compute("guided_backprop", f, x, t);
        for (int n = 0; n < 2; n++)
            for (int z = 0; z < 4; z++)
                for (int y = 0; y < 4; y++)
                    for (int xx = 0; xx < 4; xx++)
                    {
                        int i = n * 64 + (z * 4 + y) * 4 + xx;
                        Assert.Equal(gbp.Data[i] * cam.Data[n * 8 + ((z / 2) * 2 + y / 2) * 2 + xx / 2], ggc.Data[i], 12);
                    }
    }

    [Fact]
    public void CnnDecoder_EveryMethodGivesAFiniteMapOfTheInputsShape()
    {
        var spec = new DecoderSpec { Kind = "cnn", Hidden = 4, Classes = 3, InputShape = [1, 7, 8, 7], Volume = true, Seed = 2 };
        var decoder = ExplainedDecoder.Create(spec);
        var rng = new SplitMix64(15);
        var x = Random(rng, 2, 1, 7, 8, 7);
        var options = new AttributionOptions
        {
            SmoothGradSamples = 2, IntegratedGradientsSteps = 3, ShapBaselines = Random(rng, 3, 1, 7, 8, 7), ShapSamples = 3,
            Canonize = decoder.Canonize, Baselines = [Tensor<double>.Zeros(1, 7, 8, 7)],
        };
        foreach (var method in Attribution.Methods)
        {
            var m = Attribution.Compute(method, decoder.Forward, x, [0, 2], options);
            Assert.Equal(x.ShapeArray, m.ShapeArray);
            Assert.True(m.Data.All(double.IsFinite), method);
            if (method != "guided_gradcam") Assert.True(m.Data.Any(v => v != 0), method);
        }
        // DeepLift's completeness through Conv3d + BatchNorm (eval) + ReLU.
        var dl = Attribution.DeepLift(decoder.Forward, x, [0, 2], Tensor<double>.Zeros(1, 7, 8, 7));
        var fx = Attribution.Logits(decoder.Forward, x);
        var f0 = Attribution.Logits(decoder.Forward, Tensor<double>.Zeros(2, 1, 7, 8, 7));
        Assert.Equal(fx.Data[0] - f0.Data[0], dl.Data.AsSpan(0, 392).ToArray().Sum(), 9);
        Assert.Equal(fx.Data[5] - f0.Data[5], dl.Data.AsSpan(392, 392).ToArray().Sum(), 9);
    }
}
