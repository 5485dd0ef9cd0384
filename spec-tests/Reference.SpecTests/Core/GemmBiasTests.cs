using System.Numerics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.SpecTests.Core;

/// <summary>
/// FastGemm's row and column bias (C = alpha op(A) op(B) + beta bias, the bias added in the micro-kernels' store of the
/// first rank-KC update): against the float64 definition, and bitwise against the path it replaces (C filled with the
/// bias, then the product with beta accumulated onto it), for every kernel, 1 and 2 threads, float32 and float64.
/// </summary>
public class GemmBiasTests
{
    /// <summary>
    /// Shapes: tile edges of both kernels (m 1, 5, 7, 13-15, 29, 85 around MR 6 / 14, the 7-row half kernel and MC = 84; n
    /// around NR 16 / 32), k = 257 (two rank-KC updates: the bias in the first only), lda = 32 and 256 (full panels of A
    /// read in place, H3's projections: 32 x 256 x 32 with a row bias, 256 x 32 x 32 transposed with a column bias), and
    /// products past the threading threshold (column tiles: 256 x 256 x 32, lda 32; the shared schedule: 300 x 200 x 257).
    /// </summary>
    public static TheoryData<int, int, int, bool, bool> Shapes => new()
    {
        { 1, 1, 1, false, false },
        { 5, 17, 3, false, true },
        { 7, 16, 32, true, false },
        { 13, 33, 257, false, false },
        { 14, 32, 32, false, true },
        { 15, 15, 9, true, true },
        { 29, 64, 32, false, true },
        { 85, 47, 257, true, false },
        { 32, 256, 32, false, true },
        { 256, 32, 32, true, true },
        { 256, 256, 32, false, true },
        { 300, 200, 257, true, false },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Property_Bias_EqualsFillThenAccumulateBitwise_AndTheDefinition(int m, int n, int k, bool transA, bool transB)
    {
        foreach (var kernel in new[] { GemmKernel.Vector512, GemmKernel.Vector256, GemmKernel.Scalar })
            foreach (bool perRow in new[] { false, true })
                foreach (int threads in new[] { 1, 2 })
                {
                    Check<double>(kernel, m, n, k, transA, transB, perRow, threads, 1.0, 1.0, 1e-13);
                    Check<float>(kernel, m, n, k, transA, transB, perRow, threads, 1.0, 1.0, 1e-5);
                    Check<double>(kernel, m, n, k, transA, transB, perRow, threads, 0.75, -0.5, 1e-13);
                }
    }

    /// <summary>Batched with a bias shared by the products (H3's per-sequence projections), A broadcast: as above.</summary>
    [Theory]
    [InlineData(32, 256, 32, false, true, true)]
    [InlineData(256, 32, 32, true, true, false)]
    [InlineData(9, 20, 5, false, false, true)]
    public void Property_BatchedBias_EqualsFillThenAccumulateBitwise(int m, int n, int k, bool transA, bool transB, bool perRow)
    {
        const int batch = 3;
        var rng = new SplitMix64(11);
        int lda = transA ? m : k, ldb = transB ? k : n;
        var a = Draw<double>(rng, m * k);
        var b = Draw<double>(rng, batch * k * n);
        var bias = Draw<double>(rng, perRow ? m : n);
        foreach (int threads in new[] { 1, 2 })
        {
            var expected = new double[batch * m * n];
            for (int i = 0; i < batch * m; i++)
                for (int j = 0; j < n; j++) expected[i * n + j] = perRow ? bias[i % m] : bias[j];
            FastGemm.MultiplyBatched(transA, transB, m, n, k, 1.0, a, lda, 0, b, ldb, k * n, 1.0, expected, n, m * n, batch, threads);
            var actual = Enumerable.Repeat(double.NaN, batch * m * n).ToArray();
            FastGemm.MultiplyBatched(transA, transB, m, n, k, 1.0, a, lda, 0, b, ldb, k * n, 1.0, actual, n, m * n, batch, threads,
                columnBias: perRow ? default : bias, rowBias: perRow ? bias : default);
            Assert.Equal(expected, actual);
        }
    }

    /// <summary>k = 0: C = beta bias (the reference-BLAS early return, with the bias as C).</summary>
    [Fact]
    public void Edge_EmptyDepth_WritesBetaTimesBias()
    {
        var bias = new[] { 1.5, -2.0, 3.0 };
        var c = Enumerable.Repeat(double.NaN, 6).ToArray();
        FastGemm.Multiply(false, false, 2, 3, 0, 1.0, [], 1, [], 3, -0.5, c, 3, columnBias: bias);
        Assert.Equal(new[] { -0.75, 1.0, -1.5, -0.75, 1.0, -1.5 }, c);
        FastGemm.Multiply(false, false, 3, 2, 0, 1.0, [], 1, [], 2, 2.0, c, 2, rowBias: bias);
        Assert.Equal(new[] { 3.0, 3.0, -4.0, -4.0, 6.0, 6.0 }, c);
    }

    [Fact]
    public void Arguments_BiasOfTheWrongLengthOrBoth_AreRejectedByName()
    {
        var a = new double[6];
        var b = new double[6];
        var c = new double[4];
        var e1 = Assert.Throws<ArgumentException>(() => FastGemm.Multiply(false, false, 2, 2, 3, 1.0, a, 3, b, 2, 1.0, c, 2, columnBias: new double[3]));
        Assert.Equal("columnBias", e1.ParamName);
        Assert.Contains("expected n = 2", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => FastGemm.Multiply(false, false, 2, 2, 3, 1.0, a, 3, b, 2, 1.0, c, 2, rowBias: new double[1]));
        Assert.Equal("rowBias", e2.ParamName);
        var e3 = Assert.Throws<ArgumentException>(() => FastGemm.Multiply(false, false, 2, 2, 3, 1.0, a, 3, b, 2, 1.0, c, 2,
            columnBias: new double[2], rowBias: new double[2]));
        Assert.Equal("rowBias", e3.ParamName);
    }

    private static void Check<T>(GemmKernel kernel, int m, int n, int k, bool transA, bool transB, bool perRow, int threads,
        double alpha, double beta, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64((ulong)(m * 1000003 + n * 1009 + k));
        int lda = transA ? m : k, ldb = transB ? k : n;
        var a = Draw<T>(rng, m * k);
        var b = Draw<T>(rng, k * n);
        var bias = Draw<T>(rng, perRow ? m : n);
        T alphaT = T.CreateChecked(alpha), betaT = T.CreateChecked(beta);

        // The path the bias replaces: C filled with the bias, the product accumulated onto it with beta.
        var filled = new T[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) filled[i * n + j] = perRow ? bias[i] : bias[j];
        var definition = filled.Select(double.CreateChecked).ToArray();
        FastGemm.MultiplyWithKernel(kernel, transA, transB, m, n, k, alphaT, a, lda, b, ldb, betaT, filled, n, threads);

        // NaN in C: the bias path must not read it.
        var actual = Enumerable.Repeat(T.NaN, m * n).ToArray();
        FastGemm.MultiplyWithKernel(kernel, transA, transB, m, n, k, alphaT, a, lda, b, ldb, betaT, actual, n, threads,
            columnBias: perRow ? default : bias, rowBias: perRow ? bias : default);
        Assert.Equal(filled, actual);

        NaiveGemm.Multiply(transA, transB, m, n, k, alpha, a.Select(double.CreateChecked).ToArray(), lda,
            b.Select(double.CreateChecked).ToArray(), ldb, beta, definition, n);
        Assert.True(Metrics.RelativeError(definition, actual.Select(double.CreateChecked).ToArray()) <= tolerance,
            $"{kernel} {typeof(T).Name} {m}x{n}x{k} perRow={perRow} threads={threads}");
    }

    private static T[] Draw<T>(SplitMix64 rng, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        rng.FillNormal<T>(values);
        return values;
    }
}
