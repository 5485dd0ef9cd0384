using MathNet.Numerics.LinearAlgebra;
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Connectomics;
using static Reference.SpecTests.Operators.Connectomics.ConnectomicsTestKit;

namespace Reference.SpecTests.Operators.Connectomics;

/// <summary>
/// Paired and conditional covariance against blocks of the joint covariance of the stacked variables
/// (an independent route through Covariance.Forward and a MathNet inverse), and the amplitude-atanh
/// transfer function against its closed form, its no-gain property and finite differences.
/// </summary>
public class PairedConditionalAmplitudeTests
{
    private static void AssertPassed(GradCheck.Result r) => Assert.True(r.Passed, r.ToString());

    /// <summary>[x; y] stacked along the variable axis of [B, V, T] tensors.</summary>
    private static Tensor<double> Stack(Tensor<double> x, Tensor<double> y)
    {
        int b = x.Dim(0), vx = x.Dim(1), vy = y.Dim(1), t = x.Dim(2);
        var s = Tensor<double>.Zeros(b, vx + vy, t);
        for (int m = 0; m < b; m++)
        {
            x.Data.AsSpan(m * vx * t, vx * t).CopyTo(s.Data.AsSpan(m * (vx + vy) * t));
            y.Data.AsSpan(m * vy * t, vy * t).CopyTo(s.Data.AsSpan((m * (vx + vy) + vx) * t));
        }
        return s;
    }

    private static Matrix<double> Block(Tensor<double> joint, int b, int row, int rows, int col, int cols)
    {
        int n = joint.Dim(-1);
        return Matrix<double>.Build.Dense(rows, cols, (i, j) => joint.Data[b * n * n + (row + i) * n + col + j]);
    }

    [Theory]
    [InlineData("none", 1)]
    [InlineData("vector", 2)]
    [InlineData("matrix", 0)]
    public void Paired_IsTheOffDiagonalBlockOfTheJointCovariance(string weights, int ddof)
    {
        var rng = new SplitMix64(181);
        const int t = 19;
        var x = rng.NormalTensor<double>(0, 1, 2, 3, t);
        var y = rng.NormalTensor<double>(0, 1, 2, 4, t);
        Tensor<double>? w = weights switch { "vector" => rng.UniformTensor<double>(0.1, 1, t), "matrix" => Spd(rng, t), _ => null };
        var joint = Covariance.Forward(Stack(x, y), w, ddof);
        var c = Covariance.Paired(x, y, w, ddof);
        for (int b = 0; b < 2; b++)
            Assert.True(RelativeError(Flat(Block(joint, b, 0, 3, 3, 4)), c.Data.AsSpan(b * 12, 12).ToArray()) < 1e-14);
    }

    [Theory]
    [InlineData("none", 1, 0.0)]
    [InlineData("vector", 1, 0.3)]
    [InlineData("matrix", 0, 0.1)]
    public void Conditional_IsTheSchurComplementOfTheJointCovarianceWithTheRidge(string weights, int ddof, double l2)
    {
        var rng = new SplitMix64(182);
        const int t = 23;
        var x = rng.NormalTensor<double>(0, 1, 2, 3, t);
        var z = rng.NormalTensor<double>(0, 1, 2, 2, t);
        Tensor<double>? w = weights switch { "vector" => rng.UniformTensor<double>(0.1, 1, t), "matrix" => Spd(rng, t), _ => null };
        var joint = Covariance.Forward(Stack(x, z), w, ddof, l2);   // the ridge on the whole diagonal: S_XX and S_ZZ
        var c = Covariance.Conditional(x, z, w, ddof, l2);
        for (int b = 0; b < 2; b++)
        {
            var sxz = Block(joint, b, 0, 3, 3, 2);
            var expected = Block(joint, b, 0, 3, 0, 3) - sxz * Block(joint, b, 3, 2, 3, 2).Inverse() * sxz.Transpose();
            Assert.True(RelativeError(Flat(expected), c.Data.AsSpan(b * 9, 9).ToArray()) < 1e-12);
        }
        // Conditioning removes variance: S_XX - S_X|Z is PSD (its smallest eigenvalue is >= 0 up to rounding).
        var plain = Covariance.Forward(x, w, ddof, l2);
        var removed = Matrix<double>.Build.Dense(3, 3, (i, j) => plain.Data[i * 3 + j] - c.Data[i * 3 + j]);
        Assert.True(removed.Evd().EigenValues.Min(e => e.Real) > -1e-12);
    }

    [Fact]
    public void Gradient_PairedAndConditionalCovariance()
    {
        var rng = new SplitMix64(183);
        const int t = 9;
        var w = rng.UniformTensor<double>(0.1, 1, t);
        AssertPassed(Check(v => ConnectomicsOps.PairedCovariance(v[0], v[1], v[2]),
            rng.NormalTensor<double>(0, 1, 2, 3, t), rng.NormalTensor<double>(0, 1, 2, 2, t), w));
        AssertPassed(Check(v => ConnectomicsOps.ConditionalCovariance(v[0], v[1], v[2], 1, 0.2),
            rng.NormalTensor<double>(0, 1, 1, 3, t), rng.NormalTensor<double>(0, 1, 1, 2, t), w));
    }

    [Fact]
    public void AmplitudeTanh_SquashesTheAmplitudeAndKeepsThePhase()
    {
        // p = 3 + 4i: |p| = 5, so w = tanh(5) (0.6 + 0.8i); p = 0 maps to 0; a small p maps to about itself.
        var re = new Tensor<double>([3.0, 0.0, 1e-5, -0.2, 0.0], 5);
        var im = new Tensor<double>([4.0, 0.0, 0.0, 0.1, -2.0], 5);
        var (wre, wim) = FrequencyFilter.AmplitudeTanh(re, im);
        Assert.Equal(Math.Tanh(5) * 0.6, wre[0], 15);
        Assert.Equal(Math.Tanh(5) * 0.8, wim[0], 15);
        Assert.Equal(0.0, wre[1]);
        Assert.Equal(0.0, wim[1]);
        Assert.True(Math.Abs(Math.Tanh(1e-5) - wre[2]) <= 1e-15 * Math.Tanh(1e-5));
        for (int k = 0; k < 5; k++)
        {
            double r = Math.Sqrt(re[k] * re[k] + im[k] * im[k]);
            Assert.Equal(Math.Tanh(r), Math.Sqrt(wre[k] * wre[k] + wim[k] * wim[k]), 14);
            if (r > 0) Assert.Equal(Math.Atan2(im[k], re[k]), Math.Atan2(wim[k], wre[k]), 14);
        }
    }

    [Fact]
    public void AmplitudeTanh_SeriesAndClosedFormAgreeAtTheSwitch_AndTheJacobianMatchesFiniteDifferences()
    {
        // Just below and above r = 1e-2 (series vs closed form), and p = 0, a tiny p and generic values.
        double[] radii = [0.0, 1e-7, 0.0099999, 0.0100001, 0.3, 2.5];
        foreach (var r in radii)
        {
            var re = new Tensor<double>([r * 0.6], 1);
            var im = new Tensor<double>([r * -0.8], 1);
            double h = 1e-6;
            var (dre, dim) = FrequencyFilter.AmplitudeTanhBackward(re, im, new Tensor<double>([1.0], 1), new Tensor<double>([0.5], 1));
            double F(double a, double b)
            {
                var (x, y) = FrequencyFilter.AmplitudeTanh(new Tensor<double>([a], 1), new Tensor<double>([b], 1));
                return x[0] + 0.5 * y[0];
            }
            Assert.Equal((F(re[0] + h, im[0]) - F(re[0] - h, im[0])) / (2 * h), dre[0], 8);
            Assert.Equal((F(re[0], im[0] + h) - F(re[0], im[0] - h)) / (2 * h), dim[0], 8);
        }
        var rng = new SplitMix64(184);
        AssertPassed(Check(v => { var (a, b) = ConnectomicsOps.AmplitudeTanh(v[0], v[1]); return Ops.Add(a, Ops.Mul(b, b)); },
            rng.NormalTensor<double>(0, 1, 6), rng.NormalTensor<double>(0, 1, 6)));
    }

    [Theory]
    [InlineData(16)]
    [InlineData(13)]
    public void AmplitudeAtanhFilter_NeverAmplifies_AndItsGradientMatchesFiniteDifferences(int t)
    {
        // |w_k| = tanh(|p_k|) < 1 on every bin, so by Parseval ||y|| < ||x|| however large the preimage.
        var rng = new SplitMix64(185);
        int k = t / 2 + 1;
        var x = rng.NormalTensor<double>(0, 1, 3, t);
        var re = rng.NormalTensor<double>(0, 10, k);
        var im = rng.NormalTensor<double>(0, 10, k);
        var (wre, wim) = FrequencyFilter.AmplitudeTanh(re, im);
        var y = FrequencyFilter.Forward(x, wre, wim);
        for (int r = 0; r < 3; r++)
        {
            double nx = 0, ny = 0;
            for (int s = 0; s < t; s++) { nx += x[r, s] * x[r, s]; ny += y[r, s] * y[r, s]; }
            Assert.True(ny < nx, $"row {r}: |y|^2 {ny} >= |x|^2 {nx}");
        }
        AssertPassed(Check(v => { var (a, b) = ConnectomicsOps.AmplitudeTanh(v[1], v[2]); return ConnectomicsOps.FrequencyFilter(v[0], a, b); },
            rng.NormalTensor<double>(0, 1, 2, t), rng.NormalTensor<double>(0, 1, k), rng.NormalTensor<double>(0, 1, k)));
    }
}
