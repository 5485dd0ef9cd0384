using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Decoding.Interpretation;

namespace Reference.SpecTests.Decoding;

/// <summary>
/// Attribution methods against closed forms: on a linear model IG = DeepLift = (x - x') w_y;
/// completeness of IG (to quadrature accuracy), DeepLift and LRP-0; LRP-0 = input x gradient on
/// bias-free ReLU networks; guided backprop's sign; SmoothGrad at sigma = 0; randomization.
/// </summary>
public class InterpretationMethodTests
{
    private static Tensor<double> Random(SplitMix64 rng, params int[] shape)
    {
        var t = Tensor<double>.Zeros(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = rng.Normal();
        return t;
    }

    private static Sequential Mlp(int d, int h, int c, SplitMix64 rng, bool bias) =>
        new(new Linear(d, h, rng, bias), new Activation(ActivationKind.Relu), new Linear(h, h, rng, bias), new Activation(ActivationKind.Relu), new Linear(h, c, rng, bias));

    private static double RowSum(Tensor<double> a, int row)
    {
        int per = a.Length / a.Shape[0];
        double s = 0;
        for (int j = 0; j < per; j++) s += a.Data[row * per + j];
        return s;
    }

    private static double Logit(Func<Variable, Variable> f, Tensor<double> x, int row, int target)
    {
        var l = Attribution.Logits(f, x);
        return l.Data[row * l.Shape[1] + target];
    }

    private static Gen<int> Seeds => Gen.Choose(1, 1_000_000);

    [Fact]
    public void GaussLegendre_IsExactForPolynomialsOfDegreeBelow2n()
    {
        foreach (int n in new[] { 1, 2, 3, 7, 50 })
        {
            var (a, w) = GaussLegendre.UnitInterval(n);
            Assert.Equal(1.0, w.Sum(), 12);
            for (int i = 1; i < n; i++) Assert.True(a[i] > a[i - 1]);
            for (int k = 0; k <= 2 * n - 1; k++)
            {
                double q = 0;
                for (int i = 0; i < n; i++) q += w[i] * Math.Pow(a[i], k);
                Assert.Equal(1.0 / (k + 1), q, 12);
            }
        }
        var (a3, w3) = GaussLegendre.UnitInterval(3);
        Assert.Equal(0.5 - Math.Sqrt(0.6) / 2, a3[0], 14);
        Assert.Equal(5.0 / 18, w3[0], 14);
        Assert.Equal(8.0 / 18, w3[1], 14);
    }

    [Property(MaxTest = 20)]
    public Property LinearModel_IntegratedGradientsAndDeepLiftAreDeltaTimesWeight() =>
        Prop.ForAll(Seeds.ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int n = 1 + rng.NextInt(4), d = 1 + rng.NextInt(12), c = 2 + rng.NextInt(3);
            var w = Variable.Constant(Random(rng, c, d));
            var b = Variable.Constant(Random(rng, c));
            Variable f(Variable x) => Ops.Linear(x, w, b);
            var x = Random(rng, n, d);
            var baseline = Random(rng, d);
            var targets = Enumerable.Range(0, n).Select(_ => rng.NextInt(c)).ToArray();
            var ig = Attribution.IntegratedGradients(f, x, targets, baseline, 1 + rng.NextInt(8));
            var dl = Attribution.DeepLift(f, x, targets, baseline);
            bool ok = true;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < d; j++)
                {
                    double expected = (x.Data[i * d + j] - baseline.Data[j]) * w.Value.Data[targets[i] * d + j];
                    ok &= Math.Abs(ig.Data[i * d + j] - expected) <= 1e-12 * (1 + Math.Abs(expected));
                    ok &= Math.Abs(dl.Data[i * d + j] - expected) <= 1e-12 * (1 + Math.Abs(expected));
                }
            return ok;
        });

    [Property(MaxTest = 15)]
    public Property Completeness_DeepLiftExact_IntegratedGradientsToQuadrature(bool bias) =>
        Prop.ForAll(Seeds.ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int n = 1 + rng.NextInt(3), d = 2 + rng.NextInt(8), c = 2 + rng.NextInt(3);
            var net = Mlp(d, 6, c, rng, bias);
            var x = Random(rng, n, d);
            var baseline = Random(rng, d);
            var targets = Enumerable.Range(0, n).Select(_ => rng.NextInt(c)).ToArray();
            var dl = Attribution.DeepLift(net.Forward, x, targets, baseline);
            var ig = Attribution.IntegratedGradients(net.Forward, x, targets, baseline, 200);
            var xb = Attribution.Broadcast(baseline, x);
            bool ok = true;
            for (int i = 0; i < n; i++)
            {
                double delta = Logit(net.Forward, x, i, targets[i]) - Logit(net.Forward, xb, i, targets[i]);
                ok &= Math.Abs(RowSum(dl, i) - delta) <= 1e-10 * (1 + Math.Abs(delta));
                // IG of a piecewise-linear path integrand: Gauss-Legendre with 200 nodes is not exact at the kinks.
                ok &= Math.Abs(RowSum(ig, i) - delta) <= 2e-2 * (1 + Math.Abs(delta));
            }
            return ok;
        });

    [Fact]
    public void IntegratedGradients_OnASmoothModel_ConvergesAtTheQuadratureRate()
    {
        var rng = new SplitMix64(5);
        var w1 = Variable.Constant(Random(rng, 5, 4));
        var w2 = Variable.Constant(Random(rng, 3, 5));
        Variable f(Variable x) => Ops.Linear(Ops.Tanh(Ops.Linear(x, w1)), w2);
        var x = Random(rng, 2, 4);
        var zero = Tensor<double>.Zeros(4);
        int[] targets = [0, 2];
        var ig = Attribution.IntegratedGradients(f, x, targets, zero, 20);
        for (int i = 0; i < 2; i++)
        {
            double delta = Logit(f, x, i, targets[i]) - Logit(f, Tensor<double>.Zeros(2, 4), i, targets[i]);
            Assert.Equal(delta, RowSum(ig, i), 10);
        }
    }

    [Property(MaxTest = 15)]
    public Property Lrp0_OnBiasFreeReluNets_IsInputTimesGradient_AndConserves() =>
        Prop.ForAll(Seeds.ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int n = 1 + rng.NextInt(3), d = 2 + rng.NextInt(8), c = 2 + rng.NextInt(3);
            var net = Mlp(d, 7, c, rng, bias: false);
            var x = Random(rng, n, d);
            var targets = Enumerable.Range(0, n).Select(_ => rng.NextInt(c)).ToArray();
            var lrp = Attribution.Lrp(net.Forward, x, targets, gamma: 0, epsilon: 0);
            var ixg = Attribution.Compute("input_x_gradient", net.Forward, x, targets);
            bool ok = true;
            for (int i = 0; i < lrp.Length; i++) ok &= Math.Abs(lrp.Data[i] - ixg.Data[i]) <= 1e-10 * (1 + Math.Abs(ixg.Data[i]));
            for (int i = 0; i < n; i++)
            {
                double f = Logit(net.Forward, x, i, targets[i]);
                ok &= Math.Abs(RowSum(lrp, i) - f) <= 1e-10 * (1 + Math.Abs(f));
            }
            return ok;
        });

    [Fact]
    public void LrpGamma_OnALinearLayer_MatchesTheRuleWrittenOut()
    {
        var rng = new SplitMix64(11);
        int d = 5, c = 3;
        var w = Variable.Constant(Random(rng, c, d));
        var b = Variable.Constant(Random(rng, c));
        Variable f(Variable x) => Ops.Linear(x, w, b);
        var x = Random(rng, 1, d);
        const double gamma = 0.25;
        Tensor<double> lrp;
        {
            var xv = Variable.Parameter(x.Clone());
            var logits = f(xv);
            var seed = Tensor<double>.Zeros(1, c);
            seed.Data[1] = logits.Value.Data[1];
            var rules = new Dictionary<string, BackwardRule> { ["linear"] = ctx => BackwardRules.Affine(ctx, gamma, 0) };
            using (Tape.OverrideBackward(rules)) logits.Backward(seed);
            lrp = xv.Grad!;
        }
        // R_j = x_j w'_1j / (sum_j x_j w'_1j + b'_1) * f_1, w' = w + gamma w+.
        double z = 0;
        var wp = new double[d];
        for (int j = 0; j < d; j++)
        {
            double wj = w.Value.Data[d + j];
            wp[j] = wj + gamma * Math.Max(wj, 0);
            z += x.Data[j] * wp[j];
        }
        double bj = b.Value.Data[1];
        z += bj + gamma * Math.Max(bj, 0);
        double f1 = Attribution.Logits(f, x).Data[1];
        for (int j = 0; j < d; j++) Assert.Equal(x.Data[j] * wp[j] / z * f1, lrp.Data[j], 12);
    }

    [Property(MaxTest = 15)]
    public Property GuidedBackprop_IsNonNegativeOnReluNets_AndZeroWhereTheGradientIsBlocked() =>
        Prop.ForAll(Seeds.ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int n = 1 + rng.NextInt(3), d = 2 + rng.NextInt(8), c = 2 + rng.NextInt(3);
            // A ReLU network whose input enters a ReLU first: the guided signal below every ReLU is >= 0.
            var net = new Sequential(new Activation(ActivationKind.Relu), new Linear(d, 6, rng), new Activation(ActivationKind.Relu), new Linear(6, c, rng));
            var x = Random(rng, n, d);
            var targets = Enumerable.Range(0, n).Select(_ => rng.NextInt(c)).ToArray();
            var gbp = Attribution.Compute("guided_backprop", net.Forward, x, targets);
            bool ok = gbp.Data.All(v => v >= 0);
            for (int i = 0; i < x.Length; i++) if (x.Data[i] <= 0) ok &= gbp.Data[i] == 0;
            return ok;
        });

    [Fact]
    public void GuidedBackprop_WithoutRelus_IsTheGradient()
    {
        var rng = new SplitMix64(3);
        var w = Variable.Constant(Random(rng, 3, 6));
        Variable f(Variable x) => Ops.Linear(Ops.Tanh(x), w);
        var x = Random(rng, 2, 6);
        int[] t = [2, 0];
        Assert.Equal(Attribution.Gradient(f, x, t).Data, Attribution.Compute("guided_backprop", f, x, t).Data);
    }

    [Fact]
    public void SmoothGrad_AtSigmaZero_IsTheAbsoluteGradient()
    {
        var rng = new SplitMix64(9);
        var net = Mlp(6, 5, 3, rng, bias: true);
        var x = Random(rng, 3, 6);
        int[] t = [0, 1, 2];
        var g = Attribution.Compute("gradient", net.Forward, x, t);
        Assert.True(g.Data.All(v => v >= 0));
        Assert.Equal(g.Data, Attribution.SmoothGrad(net.Forward, x, t, 4, 0, 1).Data);
        var near = Attribution.SmoothGrad(net.Forward, x, t, 4, 1e-9, 1);
        for (int i = 0; i < g.Length; i++) Assert.Equal(g.Data[i], near.Data[i], 6);
    }

    [Fact]
    public void DeepLiftShap_SumsToTheOutputMinusTheMeanReferenceOutput()
    {
        var rng = new SplitMix64(21);
        var net = Mlp(5, 6, 3, rng, bias: true);
        var x = Random(rng, 2, 5);
        var refs = Random(rng, 7, 5);
        int[] t = [1, 2];
        var a = Attribution.DeepLiftShap(net.Forward, x, t, refs, 7, 1);
        var lr = Attribution.Logits(net.Forward, refs);
        for (int i = 0; i < 2; i++)
        {
            double mean = Enumerable.Range(0, 7).Average(m => lr.Data[m * 3 + t[i]]);
            Assert.Equal(Logit(net.Forward, x, i, t[i]) - mean, RowSum(a, i), 10);
        }
    }

    [Fact]
    public void GradientOfAFixedLinearModel_DoesNotDependOnTheInput()
    {
        var rng = new SplitMix64(4);
        var lin = new Linear(8, 3, rng);
        var x1 = Random(rng, 1, 8);
        var x2 = Random(rng, 1, 8);
        foreach (var method in new[] { "gradient", "smoothgrad", "guided_backprop" })
            Assert.Equal(Attribution.Compute(method, lin.Forward, x1, [1]).Data, Attribution.Compute(method, lin.Forward, x2, [1]).Data);
        for (int j = 0; j < 8; j++) Assert.Equal(Math.Abs(lin.Weight.Value.Data[8 + j]), Attribution.Compute("gradient", lin.Forward, x1, [1]).Data[j], 15);
    }

    [Fact]
    public void EveryMethodsMap_ChangesWhenTheWeightsAreRandomized()
    {
        var rng = new SplitMix64(8);
        var trained = Mlp(10, 8, 3, new SplitMix64(1), bias: true);
        var random = Mlp(10, 8, 3, new SplitMix64(2), bias: true);
        var x = Random(rng, 4, 10);
        int[] t = [0, 1, 2, 0];
        var options = new AttributionOptions { SmoothGradSamples = 5, IntegratedGradientsSteps = 8, ShapBaselines = Random(rng, 6, 10), ShapSamples = 6 };
        foreach (var method in Attribution.Methods.Where(m => m != "guided_gradcam"))
        {
            var a = Attribution.Compute(method, trained.Forward, x, t, options);
            var b = Attribution.Compute(method, random.Forward, x, t, options);
            double diff = 0, norm = 0;
            for (int i = 0; i < a.Length; i++) { diff += (a.Data[i] - b.Data[i]) * (a.Data[i] - b.Data[i]); norm += a.Data[i] * a.Data[i]; }
            Assert.True(diff > 0.01 * norm, $"{method}: the map of the randomized model is the trained model's (relative change {Math.Sqrt(diff / norm):G3}).");
        }
    }

    [Fact]
    public void GradCam_WithoutAConvolution_IsOneClearError()
    {
        var lin = new Linear(4, 2, new SplitMix64(1));
        var e = Assert.Throws<InvalidOperationException>(() => Attribution.Compute("guided_gradcam", lin.Forward, Tensor<double>.Zeros(1, 4), [0]));
        Assert.Contains("conv", e.Message);
        Assert.Throws<ArgumentException>(() => Attribution.Compute("saliency", lin.Forward, Tensor<double>.Zeros(1, 4), [0]));
        Assert.Throws<ArgumentException>(() => Attribution.Compute("gradient", lin.Forward, Tensor<double>.Zeros(1, 4), [5]));
    }

    [Fact]
    public void UpsampleNearest_PicksFloorOfScaledIndex()
    {
        var map = new Tensor<double>([1, 2, 3, 4, 5, 6], 1, 1, 2, 3);
        var up = Attribution.UpsampleNearest(map, [4, 5]);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++) Assert.Equal(map.Data[(i * 2 / 4) * 3 + j * 3 / 5], up[i * 5 + j]);
    }
}
