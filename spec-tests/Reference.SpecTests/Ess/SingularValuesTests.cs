using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using MathNet.Numerics.LinearAlgebra;
using Reference.Core;
using Reference.Ess;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Ess;

/// <summary>A dense matrix case: rows x cols with N(0, 1) entries from SplitMix64(Seed).</summary>
public sealed record MatrixCase(int Rows, int Cols, int Seed)
{
    public static Arbitrary<MatrixCase> Arbitrary() =>
        (from rows in Cases.Size
         from cols in Cases.Size
         from seed in Cases.Seed
         select new MatrixCase(rows, cols, seed)).ToArbitrary();

    public double[] Values() => new SplitMix64((ulong)Seed).NormalTensor<double>(0, 1, Rows, Cols).Data;
}

public class SingularValuesTests
{
    private static double[] MathNetSingularValues(double[] a, int rows, int cols) =>
        Matrix<double>.Build.DenseOfRowMajor(rows, cols, a).Svd(computeVectors: false).S.ToArray();

    /// <summary>A random orthogonal n x n matrix (Q of a Gaussian matrix), row-major.</summary>
    private static Matrix<double> RandomOrthogonal(int n, SplitMix64 rng) =>
        Matrix<double>.Build.Dense(n, n, (_, _) => rng.Normal()).QR().Q;

    [Property(Arbitrary = [typeof(MatrixCase)])]
    public void Property_FastEqualsMathNet(MatrixCase c)
    {
        var a = c.Values();
        var expected = MathNetSingularValues(a, c.Rows, c.Cols);
        var actual = SingularValues.Compute(a, c.Rows, c.Cols);
        Assert.True(Metrics.RelativeError(expected, actual) <= 1e-13, $"{c}: {Metrics.RelativeError(expected, actual):E2}");
    }

    [Property(Arbitrary = [typeof(MatrixCase)])]
    public void Property_NaiveJacobiEqualsMathNet(MatrixCase c)
    {
        var a = c.Values();
        var expected = MathNetSingularValues(a, c.Rows, c.Cols);
        var actual = NaiveSingularValues.Compute(a, c.Rows, c.Cols, c.Cols);
        Assert.True(Metrics.RelativeError(expected, actual) <= 1e-13, $"{c}: {Metrics.RelativeError(expected, actual):E2}");
    }

    [Property(Arbitrary = [typeof(MatrixCase)])]
    public void Property_SumOfSquaresIsFrobeniusNorm(MatrixCase c)
    {
        var a = c.Values();
        var sigma = SingularValues.Compute(a, c.Rows, c.Cols);
        double frob = a.Sum(x => x * x), sum = sigma.Sum(x => x * x);
        Assert.True(Math.Abs(frob - sum) <= 1e-13 * frob, $"{c}: ||A||_F^2 = {frob}, sum sigma^2 = {sum}");
        for (int k = 1; k < sigma.Length; k++) Assert.True(sigma[k - 1] >= sigma[k] && sigma[k] >= 0);
    }

    /// <summary>A = U diag(sigma) V^T with random orthogonal U, V and prescribed sigma (several decades).</summary>
    [Property(Arbitrary = [typeof(MatrixCase)])]
    public void Property_PrescribedSpectrumIsRecovered(MatrixCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int p = Math.Min(c.Rows, c.Cols);
        var sigma = Enumerable.Range(0, p).Select(k => Math.Pow(10, -8.0 * k / Math.Max(1, p - 1)) * (1 + rng.Uniform())).OrderDescending().ToArray();
        var u = RandomOrthogonal(c.Rows, rng);
        var v = RandomOrthogonal(c.Cols, rng);
        var s = Matrix<double>.Build.Dense(c.Rows, c.Cols);
        for (int k = 0; k < p; k++) s[k, k] = sigma[k];
        var a = (u * s * v.Transpose()).ToRowMajorArray();
        var fast = SingularValues.Compute(a, c.Rows, c.Cols);
        var naive = NaiveSingularValues.Compute(a, c.Rows, c.Cols, c.Cols);
        for (int k = 0; k < p; k++)
        {
            Assert.True(Math.Abs(fast[k] - sigma[k]) <= 1e-13 * sigma[0], $"{c} fast sigma[{k}] = {fast[k]}, expected {sigma[k]}");
            Assert.True(Math.Abs(naive[k] - sigma[k]) <= 1e-13 * sigma[0], $"{c} naive sigma[{k}] = {naive[k]}, expected {sigma[k]}");
        }
    }

    [Property(Arbitrary = [typeof(MatrixCase)])]
    public void Property_BatchEqualsOneByOne(MatrixCase c)
    {
        const int count = 5;
        var rng = new SplitMix64((ulong)c.Seed);
        var a = rng.NormalTensor<double>(0, 1, count, c.Rows, c.Cols).Data;
        int p = Math.Min(c.Rows, c.Cols);
        var batch = new double[count * p];
        SingularValues.ComputeBatch(a, count, c.Rows, c.Cols, batch, maxThreads: 2);
        for (int b = 0; b < count; b++)
        {
            var one = SingularValues.Compute(a.AsSpan(b * c.Rows * c.Cols, c.Rows * c.Cols), c.Rows, c.Cols);
            Assert.Equal(one, batch.AsSpan(b * p, p).ToArray());
        }
    }

    [Fact]
    public void Property_SubBlockWithLeadingDimensionEqualsCopiedBlock()
    {
        var t = new SplitMix64(3).NormalTensor<double>(0, 1, 20, 20);
        var copy = t.Slice(0, 12, 8).Slice(1, 0, 12);
        var sigma = new double[8];
        SingularValues.Compute(t.Data.AsSpan(12 * 20), 8, 12, 20, sigma, new double[SingularValues.WorkspaceSize(8, 12)]);
        Assert.Equal(SingularValues.Compute(copy.Data, 8, 12), sigma);
    }

    [Fact]
    public void Edge_DiagonalGivesSortedAbsoluteValues()
    {
        double[] diag = [3, -7, 0, 1e-9, 2.5];
        var a = new double[25];
        for (int k = 0; k < 5; k++) a[k * 5 + k] = diag[k];
        double[] expected = [7, 3, 2.5, 1e-9, 0];
        Assert.Equal(expected, SingularValues.Compute(a, 5, 5));
        Assert.Equal(expected, NaiveSingularValues.Compute(a, 5, 5, 5));
    }

    [Fact]
    public void Edge_RankOneGivesProductOfNorms()
    {
        var rng = new SplitMix64(11);
        var x = rng.NormalTensor<double>(0, 1, 17).Data;
        var y = rng.NormalTensor<double>(0, 1, 9).Data;
        var a = new double[17 * 9];
        for (int i = 0; i < 17; i++)
            for (int j = 0; j < 9; j++) a[i * 9 + j] = x[i] * y[j];
        double expected = Math.Sqrt(x.Sum(v => v * v)) * Math.Sqrt(y.Sum(v => v * v));
        foreach (var sigma in new[] { SingularValues.Compute(a, 17, 9), NaiveSingularValues.Compute(a, 17, 9, 9) })
        {
            Assert.Equal(expected, sigma[0], 1e-13 * expected);
            Assert.All(sigma.Skip(1), s => Assert.True(s <= 1e-14 * expected));
        }
    }

    /// <summary>
    /// Rank-deficient integer matrices (2..10 x 2..6, either orientation): column j of the first
    /// <c>trial mod n</c> columns is free, every later one an exact integer multiple of one vector, so
    /// rotations leave columns of pure rounding noise. Without the noise floor the naive Jacobi rotated
    /// such columns until the sweep cap (trials 55, 65, 75, 84, 85, 109, ... : 12 of the first 200).
    /// </summary>
    internal static (double[] A, int Rows, int Cols) ExactMultiples(int trial)
    {
        int m = 2 + trial % 9, n = 2 + trial / 9 % 5, free = trial % n;
        var a = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int x = (i * 7 + trial * 13) % 11 - 5;
                a[i * n + j] = j < free ? (i * 3 + j * 17 + trial * 5) % 13 - 6 : (x == 0 ? 1 : x) * ((j * 5 + trial * 3) % 9 - 4);
            }
        if (trial % 2 == 0) return (a, m, n);
        var t = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
        return (t, n, m);
    }

    [Fact]
    public void Edge_ExactMultipleColumnsConvergeAndMatchTheFastTier()
    {
        // The fast tier (bidiagonal QR) is the independent check; both are backward stable, so they
        // agree to a few u ||A||, also on the zero singular values.
        for (int trial = 0; trial < 200; trial++)
        {
            var (a, rows, cols) = ExactMultiples(trial);
            var naive = NaiveSingularValues.Compute(a, rows, cols, cols);
            var fast = SingularValues.Compute(a, rows, cols);
            double frobenius = Math.Sqrt(a.Sum(x => x * x));
            for (int k = 0; k < naive.Length; k++)
                Assert.True(Math.Abs(naive[k] - fast[k]) <= 1e-13 * frobenius, $"trial {trial} ({rows} x {cols}) sigma[{k}]: naive {naive[k]}, fast {fast[k]}");
        }
    }

    [Fact]
    public void Edge_OrthogonalMatrixHasUnitSingularValues()
    {
        var q = RandomOrthogonal(33, new SplitMix64(5)).ToRowMajorArray();
        Assert.All(SingularValues.Compute(q, 33, 33), s => Assert.Equal(1.0, s, 1e-14));
        Assert.All(NaiveSingularValues.Compute(q, 33, 33, 33), s => Assert.Equal(1.0, s, 1e-14));
    }

    [Fact]
    public void Edge_ZeroVectorAndEmptyShapes()
    {
        Assert.Equal([0.0, 0.0, 0.0], SingularValues.Compute(new double[12], 3, 4));
        Assert.Equal([5.0], SingularValues.Compute([3.0, 4.0], 1, 2));
        Assert.Equal([5.0], SingularValues.Compute([3.0, 4.0], 2, 1));
        Assert.Empty(SingularValues.Compute([], 0, 4));
        Assert.Equal([5.0], NaiveSingularValues.Compute([3.0, -4.0], 2, 1, 1));
    }

    [Fact]
    public void Negative_NonFiniteInputAndBadArgumentsAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => SingularValues.Compute([1.0, double.NaN], 1, 2));
        Assert.Equal("a", e.ParamName);
        Assert.Throws<ArgumentException>(() => NaiveSingularValues.Compute([1.0, double.PositiveInfinity], 2, 1, 1));
        var lda = Assert.Throws<ArgumentOutOfRangeException>(() => SingularValues.Compute(new double[6], 2, 3, 2, new double[2], new double[100]));
        Assert.Equal("lda", lda.ParamName);
        Assert.Throws<ArgumentException>(() => SingularValues.Compute(new double[5], 2, 3));
    }

    [Fact]
    public void Negative_PerturbedSingularValuesFailTheComparison()
    {
        var a = new MatrixCase(9, 7, 1).Values();
        var expected = MathNetSingularValues(a, 9, 7);
        var wrong = SingularValues.Compute(a, 9, 7).Select(s => s * (1 + 1e-3)).ToArray();
        Assert.True(Metrics.RelativeError(expected, wrong) > 1e-13);
    }
}
