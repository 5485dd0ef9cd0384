using System.Numerics;
using FsCheck.Xunit;
using MathNet.Numerics.Statistics;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.SpecTests.Core;

/// <summary>Row-wise normalizations: Fast against Naive, invariants, backward kernels against central differences.</summary>
[Trait("Category", "IsaParity")]
public class KernelsNormalizationTests
{
    [Property(Arbitrary = [typeof(RowsCase)])]
    public void Property_FastFloat64_EqualsNaive(RowsCase c) => FastEqualsNaive<double>(c);

    [Property(Arbitrary = [typeof(RowsCase)])]
    public void Property_FastFloat32_EqualsNaive(RowsCase c) => FastEqualsNaive<float>(c);

    private static void FastEqualsNaive<T>(RowsCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int n = c.Rows * c.Cols, cols = c.Cols, rows = c.Rows;
        var x = Close.Normal<T>(rng, n, 0.5, 3);
        var dy = Close.Normal<T>(rng, n);
        var gamma = Close.Normal<T>(rng, cols, 1, 0.5);
        var beta = Close.Normal<T>(rng, cols);
        var (xd, dyd, gd, bd) = (Close.Widen<T>(x), Close.Widen<T>(dy), Close.Widen<T>(gamma), Close.Widen<T>(beta));
        var (rtol, atol) = Close.Tolerance<T>();
        // Row sums of cols terms in precision T: allow the summation-order error on top of allclose.
        double sumRtol = rtol + (cols / 8.0 + 16) * (typeof(T) == typeof(float) ? 1.2e-7 : 2.3e-16);

        var ye = new double[n];
        var y = new T[n];
        NaiveNormalization.Softmax(xd, ye, cols);
        FastNormalization.Softmax<T>(x, y, cols);
        Close.All(ye, y, sumRtol, atol, "softmax");
        var dxe = new double[n];
        var dx = new T[n];
        NaiveNormalization.SoftmaxBackward(Close.Widen<T>(y), dyd, dxe, cols);
        FastNormalization.SoftmaxBackward<T>(y, dy, dx, cols);
        Close.All(dxe, dx, sumRtol, atol, "softmax backward");

        NaiveNormalization.LogSoftmax(xd, ye, cols);
        FastNormalization.LogSoftmax<T>(x, y, cols);
        Close.All(ye, y, sumRtol, atol, "log-softmax");
        NaiveNormalization.LogSoftmaxBackward(Close.Widen<T>(y), dyd, dxe, cols);
        FastNormalization.LogSoftmaxBackward<T>(y, dy, dx, cols);
        Close.All(dxe, dx, sumRtol, atol, "log-softmax backward");

        foreach (bool affine in new[] { false, true })
        {
            var g = affine ? gamma : [];
            var b = affine ? beta : [];
            var (ge, be) = (affine ? gd : [], affine ? bd : []);
            var (meanE, rstdE, mean, rstd) = (new double[rows], new double[rows], new T[rows], new T[rows]);
            NaiveNormalization.LayerNorm(xd, ge, be, ye, meanE, rstdE, cols);
            FastNormalization.LayerNorm<T>(x, g, b, y, mean, rstd, cols);
            Close.All(ye, y, sumRtol, atol, "layer norm");
            Close.All(meanE, mean, sumRtol, atol, "layer norm mean");
            Close.All(rstdE, rstd, sumRtol, atol, "layer norm rstd");
            var (dge, dbe, dg, db) = (new double[affine ? cols : 0], new double[affine ? cols : 0], new T[affine ? cols : 0], new T[affine ? cols : 0]);
            NaiveNormalization.LayerNormBackward(xd, ge, Close.Widen<T>(mean), Close.Widen<T>(rstd), dyd, dxe, dge, dbe, cols);
            FastNormalization.LayerNormBackward<T>(x, g, mean, rstd, dy, dx, dg, db, cols);
            double rowsRtol = sumRtol + rows * (typeof(T) == typeof(float) ? 1.2e-7 : 2.3e-16);
            Close.All(dxe, dx, sumRtol * 4, atol, "layer norm dx");
            Close.All(dge, dg, rowsRtol, atol * rows, "layer norm dgamma");
            Close.All(dbe, db, rowsRtol, atol * rows, "layer norm dbeta");

            NaiveNormalization.RmsNorm(xd, ge, ye, rstdE, cols);
            FastNormalization.RmsNorm<T>(x, g, y, rstd, cols);
            Close.All(ye, y, sumRtol, atol, "rms norm");
            Close.All(rstdE, rstd, sumRtol, atol, "rms norm rstd");
            NaiveNormalization.RmsNormBackward(xd, ge, Close.Widen<T>(rstd), dyd, dxe, dge, cols);
            FastNormalization.RmsNormBackward<T>(x, g, rstd, dy, dx, dg, cols);
            Close.All(dxe, dx, sumRtol * 4, atol, "rms norm dx");
            Close.All(dge, dg, rowsRtol, atol * rows, "rms norm dgamma");
        }
    }

    [Property(Arbitrary = [typeof(RowsCase)])]
    public void Property_Softmax_RowsSumToOne_ShiftInvariant_AndLogSoftmaxIsItsLog(RowsCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var x = Close.Normal<double>(rng, c.Rows * c.Cols, 0, 5);
        var shifted = (double[])x.Clone();
        for (int r = 0; r < c.Rows; r++)
        {
            double shift = rng.Uniform(-50, 50);
            for (int j = 0; j < c.Cols; j++) shifted[r * c.Cols + j] += shift;
        }
        var y = new double[x.Length];
        var ys = new double[x.Length];
        var logY = new double[x.Length];
        NaiveNormalization.Softmax(x, y, c.Cols);
        FastNormalization.Softmax<double>(shifted, ys, c.Cols);
        NaiveNormalization.LogSoftmax(x, logY, c.Cols);
        for (int r = 0; r < c.Rows; r++)
            Assert.Equal(1.0, y.AsSpan(r * c.Cols, c.Cols).ToArray().Sum(), 1e-14 * c.Cols);
        Close.All(y, ys, 1e-12, 1e-300, "shifted softmax");
        Close.All(y, logY.Select(Math.Exp).ToArray(), 1e-13, 1e-300, "exp(log-softmax)");
    }

    [Property(Arbitrary = [typeof(RowsCase)])]
    public void Property_LayerNorm_RowsHaveZeroMeanAndUnitVariance(RowsCase c)
    {
        if (c.Cols < 2) return;
        var x = Close.Normal<double>(new SplitMix64((ulong)c.Seed), c.Rows * c.Cols, 7, 3);
        var y = new double[x.Length];
        var mean = new double[c.Rows];
        var rstd = new double[c.Rows];
        const double eps = 1e-5;
        NaiveNormalization.LayerNorm(x, [], [], y, mean, rstd, c.Cols, eps);
        for (int r = 0; r < c.Rows; r++)
        {
            var row = x.AsSpan(r * c.Cols, c.Cols).ToArray();
            var yr = y.AsSpan(r * c.Cols, c.Cols).ToArray();
            double variance = Statistics.PopulationVariance(row);
            Assert.Equal(Statistics.Mean(row), mean[r], 1e-12 * (1 + Math.Abs(mean[r])));
            Assert.Equal(1 / Math.Sqrt(variance + eps), rstd[r], 1e-12 * rstd[r]);
            Assert.Equal(0.0, Statistics.Mean(yr), 1e-13);
            Assert.Equal(variance / (variance + eps), Statistics.PopulationVariance(yr), 1e-12);
        }
        var z = new double[x.Length];
        NaiveNormalization.RmsNorm(x, [], z, [], c.Cols, 0.0);
        for (int r = 0; r < c.Rows; r++)
            Assert.Equal(1.0, z.AsSpan(r * c.Cols, c.Cols).ToArray().Select(v => v * v).Average(), 1e-13);
    }

    /// <summary>
    /// Every backward kernel against central differences of the scalar loss L = sum(w * y(x)), in
    /// float64 with h = 1e-6 (truncation O(h^2), rounding O(eps / h), both far below 1e-7).
    /// </summary>
    [Property(Arbitrary = [typeof(RowsCase)], MaxTest = 15)]
    public void Property_NaiveBackward_MatchesCentralDifferences(RowsCase c)
    {
        int rows = Math.Min(c.Rows, 3), cols = Math.Min(c.Cols, 9), n = rows * cols;
        var rng = new SplitMix64((ulong)c.Seed);
        var x = Close.Normal<double>(rng, n, 0.3, 2);
        var w = Close.Normal<double>(rng, n);
        var gamma = Close.Normal<double>(rng, cols, 1, 0.5);
        var beta = Close.Normal<double>(rng, cols);
        const double eps = 1e-3; // a visible eps, so its place inside the square root matters

        double Loss(Action<double[], double[]> forward, double[] input)
        {
            var y = new double[n];
            forward(input, y);
            return y.Zip(w, (a, b) => a * b).Sum();
        }

        void CheckGradient(string what, Action<double[], double[]> forward, double[] variable, double[] gradient)
        {
            for (int i = 0; i < variable.Length; i++)
            {
                double saved = variable[i], h = 1e-6 * (1 + Math.Abs(saved));
                variable[i] = saved + h;
                double up = Loss(forward, x);
                variable[i] = saved - h;
                double down = Loss(forward, x);
                variable[i] = saved;
                double fd = (up - down) / (2 * h);
                Assert.True(Math.Abs(fd - gradient[i]) <= 1e-7 * (1 + Math.Abs(fd)), $"{what}[{i}]: analytic {gradient[i]:R}, central difference {fd:R}");
            }
        }

        var y0 = new double[n];
        var dx = new double[n];
        NaiveNormalization.Softmax(x, y0, cols);
        NaiveNormalization.SoftmaxBackward(y0, w, dx, cols);
        CheckGradient("softmax dx", (i, o) => NaiveNormalization.Softmax(i, o, cols), x, dx);
        NaiveNormalization.LogSoftmax(x, y0, cols);
        NaiveNormalization.LogSoftmaxBackward(y0, w, dx, cols);
        CheckGradient("log-softmax dx", (i, o) => NaiveNormalization.LogSoftmax(i, o, cols), x, dx);

        var (mean, rstd, dgamma, dbeta) = (new double[rows], new double[rows], new double[cols], new double[cols]);
        void Ln(double[] i, double[] o) => NaiveNormalization.LayerNorm(i, gamma, beta, o, [], [], cols, eps);
        NaiveNormalization.LayerNorm(x, gamma, beta, y0, mean, rstd, cols, eps);
        NaiveNormalization.LayerNormBackward(x, gamma, mean, rstd, w, dx, dgamma, dbeta, cols);
        CheckGradient("layer norm dx", Ln, x, dx);
        CheckGradient("layer norm dgamma", Ln, gamma, dgamma);
        CheckGradient("layer norm dbeta", Ln, beta, dbeta);

        void Rms(double[] i, double[] o) => NaiveNormalization.RmsNorm(i, gamma, o, [], cols, eps);
        NaiveNormalization.RmsNorm(x, gamma, y0, rstd, cols, eps);
        NaiveNormalization.RmsNormBackward(x, gamma, rstd, w, dx, dgamma, cols);
        CheckGradient("rms norm dx", Rms, x, dx);
        CheckGradient("rms norm dgamma", Rms, gamma, dgamma);
    }

    /// <summary>[80 x 1024] is large enough to be split over the cores by rows; results match the naive rows.</summary>
    [Fact]
    public void Edge_LargeInputs_SplitByRows_MatchNaive() => FastEqualsNaive<float>(new RowsCase(80, 1024, 31));

    [Fact]
    public void Edge_LargeLogits_DoNotOverflow()
    {
        double[] x = [1000, 1001, 1002, -1000, -1001, -1e308];
        var y = new double[6];
        NaiveNormalization.Softmax(x, y, 3);
        Assert.Equal(1 / (1 + Math.Exp(-1) + Math.Exp(-2)), y[2], 1e-15);
        Assert.Equal(0.0, y[5]);
        var yf = new float[6];
        FastNormalization.Softmax<float>(x.Select(v => (float)v).ToArray(), yf, 3);
        Assert.All(yf, v => Assert.True(float.IsFinite(v)));
        NaiveNormalization.LogSoftmax(x, y, 3);
        Assert.Equal(-2 - Math.Log(1 + Math.Exp(-1) + Math.Exp(-2)), y[0], 1e-13);
    }

    [Fact]
    public void Edge_ConstantRow_LayerNormGivesBetaAndRstdOneOverSqrtEps()
    {
        var x = Enumerable.Repeat(3.25, 8).ToArray();
        double[] beta = [.. Enumerable.Range(0, 8).Select(i => i * 0.5)];
        double[] gamma = [.. Enumerable.Repeat(2.0, 8)];
        var y = new double[8];
        var rstd = new double[1];
        NaiveNormalization.LayerNorm(x, gamma, beta, y, [], rstd, 8, 1e-5);
        Assert.Equal(beta, y);
        Assert.Equal(1 / Math.Sqrt(1e-5), rstd[0], 1e-9);
        var yf = new float[8];
        FastNormalization.LayerNorm<float>(x.Select(v => (float)v).ToArray(), gamma.Select(v => (float)v).ToArray(), beta.Select(v => (float)v).ToArray(), yf, [], [], 8);
        Close.All(beta, yf);
    }

    [Fact]
    public void Edge_BadArguments_NameTheArgument()
    {
        Assert.Equal("cols", Assert.Throws<ArgumentOutOfRangeException>(() => FastNormalization.Softmax<float>(new float[6], new float[6], 0)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => NaiveNormalization.Softmax(new double[7], new double[7], 3)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => NaiveNormalization.LogSoftmax(new double[6], new double[5], 3)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => FastNormalization.LayerNorm<double>(new double[6], new double[2], [], new double[6], [], [], 3));
        Assert.Equal("gamma", e.ParamName);
        Assert.Contains("expected 3", e.Message);
        Assert.Equal("rstd", Assert.Throws<ArgumentException>(() => NaiveNormalization.RmsNormBackward(new double[6], [], new double[1], new double[6], new double[6], [], 3)).ParamName);
        Assert.Equal("eps", Assert.Throws<ArgumentOutOfRangeException>(() => NaiveNormalization.RmsNorm(new double[6], [], new double[6], [], 3, -1)).ParamName);
    }

    /// <summary>eps outside the square root (a common slip) changes rstd by far more than the float32 tolerance.</summary>
    [Fact]
    public void Negative_EpsOutsideTheSquareRootIsDetected()
    {
        var x = Close.Normal<double>(new SplitMix64(9), 16, 0, 0.01);
        var rstd = new double[1];
        NaiveNormalization.LayerNorm(x, [], [], new double[16], [], rstd, 16, 1e-5);
        double variance = NaiveReductions.Variance(x);
        double wrong = 1 / (Math.Sqrt(variance) + 1e-5);
        Assert.ThrowsAny<Exception>(() => Close.All(rstd, new[] { (float)wrong }));
    }

    /// <summary>
    /// The float64 LayerNorm parameter gradients of the Vector512 row path (columns a multiple of 8, with gamma) against the
    /// per-element loop written out: dgamma[j] = dy xhat + dgamma[j] and dbeta[j] = dbeta[j] + dy, rows in order from 0, with
    /// xhat = (x - mean) rstd from the forward's mean and rstd. Bitwise: the sums may be held anywhere but must be these.
    /// </summary>
    [Fact]
    public void Property_LayerNormParameterGradients_AreTheInOrderRowSumsBitwise()
    {
        var rng = new SplitMix64(21);
        foreach (int cols in (int[])[8, 32, 40, 64, 128])
            foreach (int rows in (int[])[1, 5, 300])
            {
                var x = rng.NormalTensor<double>(0.5, 2, rows * cols).Data;
                var dy = rng.NormalTensor<double>(0, 1, rows * cols).Data;
                var gamma = rng.NormalTensor<double>(1, 0.1, cols).Data;
                var beta = rng.NormalTensor<double>(0, 0.1, cols).Data;
                var (y, mean, rstd) = (new double[rows * cols], new double[rows], new double[rows]);
                FastNormalization.LayerNorm<double>(x, gamma, beta, y, mean, rstd, cols);
                var (dx, dg, db) = (new double[rows * cols], new double[cols], new double[cols]);
                FastNormalization.LayerNormBackward<double>(x, gamma, mean, rstd, dy, dx, dg, db, cols);
                var (eg, eb) = (new double[cols], new double[cols]);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < cols; j++)
                    {
                        double g = dy[r * cols + j], xhat = (x[r * cols + j] - mean[r]) * rstd[r];
                        eg[j] = g * xhat + eg[j];
                        eb[j] = eb[j] + g;
                    }
                Assert.Equal(eg, dg);
                Assert.Equal(eb, db);
            }
    }

    /// <summary>
    /// The float64 LayerNorm row path (columns a multiple of 8, gamma and beta: a model's LayerNorm) computes rows two at a time:
    /// every row of a block, its mean, rstd and the backward's dx, bitwise the same row computed alone (one-row calls), for
    /// odd and even row counts (a last row alone), in place and not.
    /// </summary>
    [Fact]
    public void Property_LayerNormRowPairs_EqualRowsAloneBitwise()
    {
        var rng = new SplitMix64(23);
        foreach (int cols in (int[])[8, 32, 40, 128])
            foreach (int rows in (int[])[2, 7, 64])
            {
                var x = rng.NormalTensor<double>(0.5, 2, rows * cols).Data;
                var dy = rng.NormalTensor<double>(0, 1, rows * cols).Data;
                var gamma = rng.NormalTensor<double>(1, 0.1, cols).Data;
                var beta = rng.NormalTensor<double>(0, 0.1, cols).Data;
                var (y, mean, rstd) = (new double[rows * cols], new double[rows], new double[rows]);
                FastNormalization.LayerNorm<double>(x, gamma, beta, y, mean, rstd, cols);
                var dx = new double[rows * cols];
                FastNormalization.LayerNormBackward<double>(x, gamma, mean, rstd, dy, dx, [], [], cols);
                var inPlace = (double[])x.Clone();
                FastNormalization.LayerNorm<double>(inPlace, gamma, beta, inPlace, new double[rows], new double[rows], cols);
                Assert.Equal(y, inPlace);
                for (int r = 0; r < rows; r++)
                {
                    var (y1, m1, s1, dx1) = (new double[cols], new double[1], new double[1], new double[cols]);
                    FastNormalization.LayerNorm<double>(x.AsSpan(r * cols, cols), gamma, beta, y1, m1, s1, cols);
                    FastNormalization.LayerNormBackward<double>(x.AsSpan(r * cols, cols), gamma, m1, s1, dy.AsSpan(r * cols, cols), dx1, [], [], cols);
                    Assert.Equal(m1[0], mean[r]);
                    Assert.Equal(s1[0], rstd[r]);
                    Assert.Equal(y1, y.AsSpan(r * cols, cols).ToArray());
                    Assert.Equal(dx1, dx.AsSpan(r * cols, cols).ToArray());
                }
            }
    }
}
