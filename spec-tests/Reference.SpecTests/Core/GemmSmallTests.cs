using System.Numerics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.SpecTests.Core;

/// <summary>
/// FastGemm's small-product route (SmallGemm: operands read in place, or a transposed B packed once for all k; balanced row
/// tiles): against the float64 definition (NaiveGemm on float64 copies), and bitwise against the packed loops it replaces
/// on this thread (the documented accumulation order is the same), for float64 and float32, with and without a row or
/// column bias, beta 0, 1 and another value. Every shape here is asserted to take the route, so the comparison cannot
/// silently compare the packed loops with themselves.
/// </summary>
public class GemmSmallTests
{
    /// <summary>
    /// The width-32 H3 step's products that take the route (weight gradients A^T B at k = 1024 with lda 32, 128 and the tied
    /// head's 20; H3's du at 256 x 32 x 32, its 32 x 32 x 256 weight gradients untransposed and both transposed, its q/k/v
    /// projections 32 x 256 x 32 with B transposed, dO and the output projection with both transposed), and
    /// edges: row counts 1..15 and 29, 43 (balanced tiles of 1..14 rows), several KC blocks (k = 257, 300, 513; an
    /// untransposed A is read in place at lda 32..256 only, so k at most 256 there), n up to 8 NR.
    /// </summary>
    public static TheoryData<int, int, int, bool, bool> Shapes => new()
    {
        { 32, 128, 1024, true, false },
        { 128, 32, 1024, true, false },
        { 20, 32, 1024, true, false },
        { 256, 32, 32, true, false },
        { 32, 32, 256, false, false },
        { 32, 32, 256, true, true },
        { 1, 32, 7, true, false },
        { 2, 64, 130, false, false },
        { 3, 96, 257, true, false },
        { 5, 32, 513, true, true },
        { 6, 32, 128, false, false },
        { 9, 64, 300, true, false },
        { 13, 32, 250, false, false },
        { 14, 32, 64, true, false },
        { 15, 96, 33, true, false },
        { 29, 64, 129, true, true },
        { 43, 32, 200, false, true },
        { 32, 256, 32, false, true },
        { 32, 256, 32, true, true },
        { 256, 32, 32, true, true },
        { 100, 48, 40, true, true },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Property_SmallRoute_EqualsThePackedLoopsBitwise_AndTheDefinition(int m, int n, int k, bool transA, bool transB)
    {
        if (!FastGemm.VectorKernelAvailable || FastGemm.KernelVectorBits != 512) return;   // the route runs on the Vector512 kernel only
        foreach (int biasKind in new[] { 0, 1, 2 })
        {
            Check<double>(m, n, k, transA, transB, biasKind, 1.0, 0.0, 1e-13);
            Check<double>(m, n, k, transA, transB, biasKind, 1.0, 1.0, 1e-13);
            Check<double>(m, n, k, transA, transB, biasKind, 0.75, -0.5, 1e-13);
            if (n % 32 == 0) Check<float>(m, n, k, transA, transB, biasKind, 1.0, 1.0, 1e-5);
        }
    }

    /// <summary>Products the packed loops ran faster or as fast (bench/NOTES.md, h3gemm) keep that route.</summary>
    [Theory]
    [InlineData(1024, 128, 32, false, false)]
    [InlineData(1024, 32, 128, false, true)]
    [InlineData(65, 32, 32, false, false)]
    [InlineData(20, 20, 1024, true, false)]
    [InlineData(256, 256, 256, true, false)]
    public void Routing_ProductsOutsideTheSmallShapes_KeepThePackedLoops(int m, int n, int k, bool transA, bool transB) =>
        Assert.False(SmallGemm.Takes<double>(transA, transB, m, n, k, transA ? m : k, transB ? k : n));

    private static void Check<T>(int m, int n, int k, bool transA, bool transB, int biasKind, double alpha, double beta, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = transA ? m : k, ldb = transB ? k : n;
        if (!transA) lda = k <= 32 ? 32 : k <= 64 ? 64 : k <= 128 ? 128 : 256;   // the in-place strides of an untransposed A
        Assert.True(SmallGemm.Takes<T>(transA, transB, m, n, k, lda, ldb), $"{m}x{n}x{k} {transA}{transB} {typeof(T).Name} should take the small route");
        var rng = new SplitMix64((ulong)(m * 1000003 + n * 1009 + k * 7 + biasKind));
        var a = Draw<T>(rng, (transA ? k : m) * lda);
        var b = Draw<T>(rng, (transB ? n : k) * ldb);
        var c0 = Draw<T>(rng, m * n);
        var bias = Draw<T>(rng, biasKind == 1 ? m : n);
        ReadOnlySpan<T> rowBias = biasKind == 1 ? bias : default, columnBias = biasKind == 2 ? bias : default;
        T alphaT = T.CreateChecked(alpha), betaT = T.CreateChecked(beta);

        var packed = (T[])c0.Clone();
        SmallGemm.Disabled = true;
        try
        {
            FastGemm.Multiply(transA, transB, m, n, k, alphaT, a, lda, b, ldb, betaT, packed, n, 1, columnBias, rowBias);
        }
        finally
        {
            SmallGemm.Disabled = false;
        }
        var actual = (T[])c0.Clone();
        FastGemm.Multiply(transA, transB, m, n, k, alphaT, a, lda, b, ldb, betaT, actual, n, 1, columnBias, rowBias);
        Assert.Equal(packed, actual);

        // The definition: C (or the bias written into every row / column) scaled by beta plus alpha op(A) op(B), in float64.
        var definition = c0.Select(double.CreateChecked).ToArray();
        if (biasKind != 0)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) definition[i * n + j] = double.CreateChecked(biasKind == 1 ? bias[i] : bias[j]);
        NaiveGemm.Multiply(transA, transB, m, n, k, alpha, a.Select(double.CreateChecked).ToArray(), lda,
            b.Select(double.CreateChecked).ToArray(), ldb, beta, definition, n);
        double error = Metrics.RelativeError(definition, actual.Select(double.CreateChecked).ToArray());
        Assert.True(error <= tolerance, $"{typeof(T).Name} {m}x{n}x{k} {transA}{transB} bias {biasKind} alpha {alpha} beta {beta}: relative error {error}");
    }

    private static T[] Draw<T>(SplitMix64 rng, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        rng.FillNormal<T>(values);
        return values;
    }
}
