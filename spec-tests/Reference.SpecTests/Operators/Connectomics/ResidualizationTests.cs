using MathNet.Numerics.LinearAlgebra;
using Reference.Core;
using Reference.Operators.Connectomics;
using static Reference.SpecTests.Operators.Connectomics.ConnectomicsTestKit;

namespace Reference.SpecTests.Operators.Connectomics;

public class ResidualizationTests
{
    [Fact]
    public void Residualize_EqualsMathNetLeastSquares_AndIsOrthogonalToTheConfounds()
    {
        var rng = new SplitMix64(31);
        var y = rng.NormalTensor<double>(0, 1, 4, 20);
        var x = rng.NormalTensor<double>(0, 1, 3, 20);
        var r = Residualization.Forward(y, x);
        var design = ToMatrix(x).Transpose();
        for (int i = 0; i < 4; i++)
        {
            var yi = Vector<double>.Build.Dense(20, t => y[i, t]);
            var expected = (yi - design * design.QR().Solve(yi)).ToArray();
            Assert.True(RelativeError(expected, r.Data.AsSpan(i * 20, 20).ToArray()) < 1e-12);
            for (int c = 0; c < 3; c++)
            {
                double dot = 0;
                for (int t = 0; t < 20; t++) dot += r[i, t] * x[c, t];
                Assert.True(Math.Abs(dot) < 1e-12);
            }
        }
    }

    [Fact]
    public void Residualize_Ridge_SolvesTheAugmentedSystem()
    {
        // hypercoil's ridge appends l2 I rows to the design: the normal equations get l2^2 I.
        var rng = new SplitMix64(32);
        var y = rng.NormalTensor<double>(0, 1, 2, 10);
        var x = rng.NormalTensor<double>(0, 1, 3, 10);
        const double l2 = 0.7;
        var r = Residualization.Forward(y, x, l2);
        var design = ToMatrix(x).Transpose();
        var augmented = design.Stack(Matrix<double>.Build.DenseIdentity(3) * l2);
        for (int i = 0; i < 2; i++)
        {
            var yi = Vector<double>.Build.Dense(13, t => t < 10 ? y[i, t] : 0);
            var beta = augmented.QR().Solve(yi);
            var expected = Enumerable.Range(0, 10).Select(t => y[i, t] - (design * beta)[t]).ToArray();
            Assert.True(RelativeError(expected, r.Data.AsSpan(i * 10, 10).ToArray()) < 1e-12);
        }
    }

    [Fact]
    public void Residualize_IsIdempotent_AndAnInterceptRemovesTheMean()
    {
        var rng = new SplitMix64(33);
        var y = rng.NormalTensor<double>(0, 1, 2, 3, 9);
        var ones = Tensor<double>.Full(1.0, 1, 9);
        var r = Residualization.Forward(y, ones);
        for (int row = 0; row < 6; row++)
        {
            double mean = 0;
            for (int t = 0; t < 9; t++) mean += y.Data[row * 9 + t] / 9;
            for (int t = 0; t < 9; t++) Assert.Equal(y.Data[row * 9 + t] - mean, r.Data[row * 9 + t], 1e-14);
        }
        Assert.True(RelativeError(r.Data, Residualization.Forward(r, ones).Data) < 1e-14);
    }
}
