using Reference.Autodiff;
using Reference.Core;

namespace Reference.SpecTests.Autodiff;

public sealed class DistillationKlTests
{
    private static Tensor<double> Random(ulong seed, int n, int c, double scale = 2.0)
    {
        var rng = new SplitMix64(seed);
        var t = Tensor<double>.Zeros(n, c);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = scale * rng.Normal();
        return t;
    }

    /// <summary>KL from the definition: T^2 sum_c p (log p - log q), p = softmax(t / T), q = softmax(z / T), computed directly.</summary>
    private static double Definition(Tensor<double> z, Tensor<double> t, double temperature, int row)
    {
        int c = z.Dim(1);
        double[] P(Tensor<double> x)
        {
            var e = Enumerable.Range(0, c).Select(k => x.Data[row * c + k] / temperature).ToArray();
            double m = e.Max(), s = e.Sum(v => Math.Exp(v - m));
            return [.. e.Select(v => Math.Exp(v - m) / s)];
        }
        var p = P(t);
        var q = P(z);
        return temperature * temperature * Enumerable.Range(0, c).Sum(k => p[k] * Math.Log(p[k] / q[k]));
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.5)]
    public void Property_ValueEqualsTheDefinition(double temperature)
    {
        var z = Random(1, 5, 7);
        var t = Random(2, 5, 7);
        var perRow = Ops.DistillationKl(Variable.Constant(z), t, temperature, reduction: Reduction.None).Value.Data;
        for (int i = 0; i < 5; i++) Assert.Equal(Definition(z, t, temperature, i), perRow[i], 1e-12);
        double mean = Ops.DistillationKl(Variable.Constant(z), t, temperature).Item();
        Assert.Equal(perRow.Average(), mean, 1e-12);
    }

    [Fact]
    public void Property_ZeroExactlyWhenTheStudentEqualsTheTeacherUpToAShift()
    {
        var t = Random(3, 4, 6);
        var z = t.Clone();
        for (int i = 0; i < z.Data.Length; i++) z.Data[i] += 3.0 * (i / 6);   // a per-row constant leaves softmax unchanged
        Assert.Equal(0.0, Ops.DistillationKl(Variable.Constant(z), t).Item(), 1e-12);
        Assert.True(Ops.DistillationKl(Variable.Constant(Random(4, 4, 6)), t).Item() > 0);
    }

    [Theory]
    [InlineData(1.0, false)]
    [InlineData(0.7, true)]
    public void Property_GradientMatchesFiniteDifferences(double temperature, bool masked)
    {
        var t = Random(5, 4, 5);
        bool[]? rows = masked ? [true, false, true, true] : null;
        var result = GradCheck.Check(v => Ops.DistillationKl(v[0], t, temperature, rows), [Random(6, 4, 5)]);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void Property_MaskedRowsNeitherCountNorReceiveGradient()
    {
        var t = Random(7, 3, 4);
        var z = new Variable(Random(8, 3, 4), requiresGrad: true);
        var loss = Ops.DistillationKl(z, t, rows: [true, false, true]);
        loss.Backward();
        var perRow = Ops.DistillationKl(Variable.Constant(z.Value), t, reduction: Reduction.None).Value.Data;
        Assert.Equal((perRow[0] + perRow[2]) / 2, loss.Item(), 1e-12);
        Assert.All(z.Grad!.Data.Skip(4).Take(4), g => Assert.Equal(0.0, g));
    }

    [Fact]
    public void Edge_BadArgumentsAreNamed()
    {
        var z = Variable.Constant(Random(9, 2, 3));
        Assert.Contains("teacherLogits", Assert.Throws<ArgumentException>(() => Ops.DistillationKl(z, Random(9, 2, 4))).Message);
        Assert.Contains("temperature", Assert.Throws<ArgumentOutOfRangeException>(() => Ops.DistillationKl(z, Random(9, 2, 3), 0)).Message);
        Assert.Contains("rows", Assert.Throws<ArgumentException>(() => Ops.DistillationKl(z, Random(9, 2, 3), rows: [true])).Message);
    }
}
