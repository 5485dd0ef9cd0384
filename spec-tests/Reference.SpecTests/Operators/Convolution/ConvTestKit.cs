using FsCheck;
using FsCheck.Fluent;
using Reference.Core;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>A causal-convolution case: Batch x C rows of length L, kernels of Lk taps, values from SplitMix64(Seed).</summary>
public sealed record ConvCase(int Batch, int C, int L, int Lk, int Seed)
{
    public static Arbitrary<ConvCase> Arbitrary() =>
        (from batch in Gen.Choose(1, 2)
         from c in Gen.Elements(1, 2, 3)
         from l in Gen.Elements(1, 2, 7, 8, 9, 16, 17, 33)
         from lk in Gen.Elements(1, 2, 3, 4, 8, 9, 17, 40)
         from seed in Cases.Seed
         select new ConvCase(batch, c, l, lk, seed)).ToArbitrary();
}

/// <summary>Helpers shared by the convolution and state-space tests (float64 checks).</summary>
public static class ConvTestKit
{
    /// <summary>y[r, t] = sum_s T[r mod C, t, s] u[r, s] for u [rows, L] and T [C, L, L].</summary>
    public static double[] ApplyOperator(Tensor<double> t, double[] u, int rows, int length)
    {
        int channels = t.Dim(0);
        var y = new double[rows * length];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < length; i++)
            {
                double acc = 0;
                for (int s = 0; s < length; s++) acc += t.Data[((r % channels) * length + i) * length + s] * u[r * length + s];
                y[r * length + i] = acc;
            }
        return y;
    }

    /// <summary>
    /// Causality of a layer over u [B, L, C]: moves every input at t &gt;= cut by <paramref name="perturb"/>(t),
    /// then asserts the outputs before cut are bitwise unchanged and some output from cut on changed.
    /// </summary>
    public static void AssertCausal(Func<Tensor<double>, Tensor<double>> forward, Tensor<double> u, int cut, Func<int, double> perturb)
    {
        int batch = u.Dim(0), length = u.Dim(1), channels = u.Dim(2);
        var y = forward(u);
        var perturbed = u.Clone();
        for (int b = 0; b < batch; b++)
            for (int t = cut; t < length; t++)
                for (int c = 0; c < channels; c++) perturbed.Data[(b * length + t) * channels + c] += perturb(t);
        var yp = forward(perturbed);
        bool changed = false;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                for (int c = 0; c < channels; c++)
                {
                    int i = (b * length + t) * channels + c;
                    if (t < cut) Assert.Equal(y.Data[i], yp.Data[i]);
                    else changed |= y.Data[i] != yp.Data[i];
                }
        Assert.True(changed);
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double acc = 0;
        for (int i = 0; i < a.Length; i++) acc += a[i] * b[i];
        return acc;
    }

    /// <summary>
    /// Central finite differences of the scalar loss f at every entry of x (modified in place and
    /// restored), compared with the analytic gradient; returns ||numeric - analytic|| / (||analytic|| + 1e-6)
    /// (the floor keeps an all-but-zero gradient from turning rounding noise into a large ratio).
    /// </summary>
    public static double GradCheck(double[] x, ReadOnlySpan<double> analytic, Func<double> loss, double step = 1e-5)
    {
        var numeric = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double saved = x[i];
            x[i] = saved + step;
            double plus = loss();
            x[i] = saved - step;
            double minus = loss();
            x[i] = saved;
            numeric[i] = (plus - minus) / (2 * step);
        }
        return Metrics.RelativeError(analytic, numeric, 1e-6);
    }
}
