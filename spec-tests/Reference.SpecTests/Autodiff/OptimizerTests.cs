using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

public class OptimizerTests
{
    /// <summary>Updates.Adam's definition, element by element (the scalar loop it runs past its vector steps).</summary>
    private static void AdamByElement(double[] param, double[] grad, double[] m, double[] v, long step, double lr, double beta1, double beta2,
        double eps, double weightDecay, bool decoupled)
    {
        double stepSize = lr / (1.0 - Math.Pow(beta1, step)), bc2 = Math.Sqrt(1.0 - Math.Pow(beta2, step)), w = 1.0 - beta1;
        for (int i = 0; i < param.Length; i++)
        {
            double g = grad[i];
            if (decoupled) param[i] *= 1.0 - lr * weightDecay;
            else if (weightDecay != 0) g += weightDecay * param[i];
            m[i] = w < 0.5 ? m[i] + w * (g - m[i]) : g - (g - m[i]) * (1.0 - w);
            v[i] = v[i] * beta2 + (1.0 - beta2) * g * g;
            param[i] += -stepSize * m[i] / (Math.Sqrt(v[i]) / bc2 + eps);
        }
    }

    [Theory]
    [InlineData(3, 0.9, 0.0, false)]
    [InlineData(17, 0.9, 0.01, false)]
    [InlineData(40, 0.3, 0.05, true)]
    [InlineData(64, 0.9, 0.0, true)]
    public void Adam_Update_IsItsElementwiseDefinitionBitwise(int length, double beta1, double weightDecay, bool decoupled)
    {
        // Lengths below, between and past the 8-element vector steps; beta1 on both sides of torch's lerp switch (w = 1 - beta1 < 0.5).
        var rng = new SplitMix64((ulong)length);
        double[] Draw(double scale) => Enumerable.Range(0, length).Select(_ => scale * rng.Normal()).ToArray();
        var (param, grad, m) = (Draw(1), Draw(0.5), Draw(0.1));
        var v = Draw(0.1).Select(x => x * x).ToArray();
        var (p2, m2, v2) = ((double[])param.Clone(), (double[])m.Clone(), (double[])v.Clone());
        for (long step = 1; step <= 3; step++)
        {
            Updates.Adam(param, grad, m, v, step, 1e-3, beta1, 0.999, 1e-8, weightDecay, decoupled);
            AdamByElement(p2, grad, m2, v2, step, 1e-3, beta1, 0.999, 1e-8, weightDecay, decoupled);
        }
        Assert.Equal(p2, param);
        Assert.Equal(m2, m);
        Assert.Equal(v2, v);
    }

    private static Variable Param(params double[] values) => Variable.Parameter(Tensor<double>.FromSpan(values, values.Length));

    private static void SetGrad(Variable p, params double[] g) => p.Grad = Tensor<double>.FromSpan(g, g.Length);

    [Fact]
    public void Golden_AdamW_OneStep_EqualsTheHandComputedUpdate()
    {
        // lr = 0.1, betas (0.9, 0.999), eps = 1e-8, weight_decay = 0.01, t = 1.
        // p = 1.0, g = 0.5:  p <- 1.0 (1 - 0.1 * 0.01) = 0.999;  m = 0.1 * 0.5 = 0.05;  v = 0.001 * 0.25 = 0.00025
        //   step_size = 0.1 / (1 - 0.9) = 1;  denom = sqrt(0.00025) / sqrt(0.001) + 1e-8 = 0.50000001
        //   p = 0.999 - 0.05 / 0.50000001 = 0.999 - 0.099999998 = 0.899000002
        // p = -2.0, g = -0.25: p <- -1.998;  m = -0.025;  denom = 0.25 + 1e-8 = 0.25000001
        //   p = -1.998 + 0.025 / 0.25000001 = -1.998 + 0.099999996 = -1.898000004
        var p = Param(1.0, -2.0);
        var opt = new AdamW([p], lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01);
        SetGrad(p, 0.5, -0.25);
        opt.Step();
        Assert.Equal(0.899000002, p.Value.Data[0], 1e-15);
        Assert.Equal(-1.898000004, p.Value.Data[1], 1e-15);
        var state = opt.State(0).ToDictionary(s => s.Name, s => s.Buffer);
        // 1 - 0.9 rounds to 0.09999999999999998 in float64 (as in PyTorch), hence m = 0.04999999999999999.
        Assert.Equal(0.05, state["exp_avg"][0], 1e-16);
        // likewise 1 - 0.999 = 0.0010000000000000009, hence v = 0.00025000000000000022.
        Assert.Equal(0.00025, state["exp_avg_sq"][0], 1e-18);
    }

    [Fact]
    public void Golden_Adam_L2WeightDecay_FoldsIntoTheGradient()
    {
        // Adam (not W): g = 0.5 + 0.01 * 1.0 = 0.51; m = 0.051; v = 0.001 * 0.2601;
        // denom = 0.51 + 1e-8; p = 1 - 0.051 / 0.51000001 = 1 - 0.09999999803921573 = 0.9000000019607842.
        var p = Param(1.0);
        var opt = new Adam([p], lr: 0.1, weightDecay: 0.01);
        SetGrad(p, 0.5);
        opt.Step();
        Assert.Equal(0.9000000019607842, p.Value.Data[0], 1e-15);
    }

    [Fact]
    public void Golden_Adam_SecondStep_AppliesBothBiasCorrections()
    {
        // g1 = 1, g2 = -1, lr = 0.01, no decay. m2 = 0.9 * 0.1 + 0.1 * (-1) = -0.01; v2 = 0.999 * 0.001 + 0.001 = 0.001999
        // p1 = 1 - 0.01 * 0.1 / 0.1 / (sqrt(0.001) / sqrt(0.001) + 1e-8) = 1 - 0.01 / (1 + 1e-8)
        // p2 = p1 + (0.01 / 0.19) * 0.01 / (sqrt(0.001999) / sqrt(1 - 0.998001) + 1e-8)
        var p = Param(1.0);
        var opt = new Adam([p], lr: 0.01);
        SetGrad(p, 1.0);
        opt.Step();
        SetGrad(p, -1.0);
        opt.Step();
        double p1 = 1 - 0.01 / (1 + 1e-8);
        double p2 = p1 + 0.01 / (1 - 0.81) * 0.01 / (Math.Sqrt(0.001999) / Math.Sqrt(1 - 0.998001) + 1e-8);
        Assert.Equal(p2, p.Value.Data[0], 1e-14);
    }

    [Fact]
    public void Golden_SgdMomentum_TwoSteps_EqualTheHandComputedUpdates()
    {
        // lr = 0.1, momentum 0.9, g1 = 1, g2 = 2.
        // plain:    buf1 = 1, p1 = 1 - 0.1 = 0.9;  buf2 = 0.9 + 2 = 2.9, p2 = 0.9 - 0.29 = 0.61
        // nesterov: buf1 = 1, step 1 + 0.9 = 1.9, p1 = 0.81;  buf2 = 2.9, step 2 + 2.61 = 4.61, p2 = 0.349
        // dampening 0.5: buf1 = g1 = 1 (no dampening on the first step), buf2 = 0.9 + 0.5 * 2 = 1.9, p2 = 0.9 - 0.19 = 0.71
        var plain = Param(1.0);
        var nesterov = Param(1.0);
        var damped = Param(1.0);
        var optimizers = new Optimizer[]
        {
            new Sgd([plain], lr: 0.1, momentum: 0.9),
            new Sgd([nesterov], lr: 0.1, momentum: 0.9, nesterov: true),
            new Sgd([damped], lr: 0.1, momentum: 0.9, dampening: 0.5),
        };
        foreach (double g in new[] { 1.0, 2.0 })
            foreach (var opt in optimizers)
            {
                SetGrad(opt.Parameters[0], g);
                opt.Step();
            }
        Assert.Equal(0.61, plain.Value.Data[0], 1e-15);
        Assert.Equal(0.349, nesterov.Value.Data[0], 1e-15);
        Assert.Equal(0.71, damped.Value.Data[0], 1e-15);
    }

    [Fact]
    public void Golden_SgdWeightDecay_AddsTheL2Gradient()
    {
        // g = 1 + 0.1 * 2 = 1.2, p = 2 - 0.5 * 1.2 = 1.4
        var p = Param(2.0);
        var opt = new Sgd([p], lr: 0.5, weightDecay: 0.1);
        SetGrad(p, 1.0);
        opt.Step();
        Assert.Equal(1.4, p.Value.Data[0], 1e-15);
    }

    [Fact]
    public void Property_Optimizers_SkipParametersWithoutGradient()
    {
        var p = Param(3.0);
        new AdamW([p], lr: 0.1).Step();
        Assert.Equal(3.0, p.Value.Data[0]);
    }

    [Fact]
    public void Golden_ClipGradNorm_ScalesByMaxNormOverTotalPlusEpsilon()
    {
        // ||(3, 4)|| = 5, ||(12)|| = 12: total = 13; coef = 6.5 / (13 + 1e-6).
        var a = Param(0, 0);
        var b = Param(0);
        SetGrad(a, 3, 4);
        SetGrad(b, 12);
        double total = GradClip.ClipGradNorm([a, b], 6.5);
        Assert.Equal(13.0, total, 1e-15);
        double coef = 6.5 / (13 + 1e-6);
        Assert.Equal(3 * coef, a.Grad!.Data[0], 1e-15);
        Assert.Equal(12 * coef, b.Grad!.Data[0], 1e-15);
        // Below the threshold the coefficient is clamped to 1: gradients unchanged.
        GradClip.ClipGradNorm([a, b], 100);
        Assert.Equal(3 * coef, a.Grad!.Data[0], 1e-15);
    }

    [Fact]
    public void GlobalNorm_IsTheTwoNormOfAllGradientsConcatenated_AndLeavesThemUnchanged()
    {
        // Independent value: MathNet's 2-norm of every gradient element in one vector; a parameter without a
        // gradient is skipped. ClipGradNorm returns the same total (before scaling).
        var rng = new Random(7);
        double[] ga = [.. Enumerable.Range(0, 37).Select(_ => rng.NextDouble() * 4 - 2)];
        double[] gc = [.. Enumerable.Range(0, 5).Select(_ => rng.NextDouble() * 40 - 20)];
        var a = Param(new double[ga.Length]);
        var b = Param(1, 2, 3);
        var c = Param(new double[gc.Length]);
        SetGrad(a, ga);
        SetGrad(c, gc);
        double expected = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray([.. ga, .. gc]).L2Norm();
        Assert.Equal(expected, GradClip.GlobalNorm([a, b, c]), 1e-12);
        Assert.Equal(ga, a.Grad!.Data.ToArray());
        Assert.Equal(expected, GradClip.ClipGradNorm([a, b, c], 1e9), 1e-12);
    }

    [Fact]
    public void Golden_LrSchedules_WarmUpThenDecay()
    {
        // W = 10, T = 110.
        Assert.Equal(0.0, LrSchedule.LinearWarmupLinearDecay(0, 10, 110));
        Assert.Equal(0.5, LrSchedule.LinearWarmupLinearDecay(5, 10, 110));
        Assert.Equal(1.0, LrSchedule.LinearWarmupLinearDecay(10, 10, 110));
        Assert.Equal(0.5, LrSchedule.LinearWarmupLinearDecay(60, 10, 110));
        Assert.Equal(0.0, LrSchedule.LinearWarmupLinearDecay(200, 10, 110));
        Assert.Equal(1.0, LrSchedule.LinearWarmupCosineDecay(10, 10, 110));
        Assert.Equal(0.5, LrSchedule.LinearWarmupCosineDecay(60, 10, 110), 1e-15);
        Assert.Equal(0.5 * (1 + Math.Cos(Math.PI * 0.25)), LrSchedule.LinearWarmupCosineDecay(35, 10, 110), 1e-15);
        Assert.Equal(0.1, LrSchedule.LinearWarmupCosineDecay(110, 10, 110, minRatio: 0.1), 1e-15);
    }

    [Fact]
    public void Negative_Schedule_RejectsTotalBelowWarmup()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LrSchedule.LinearWarmupLinearDecay(0, 10, 5));
        Assert.Equal("totalSteps", e.ParamName);
    }
}
