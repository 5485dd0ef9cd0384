using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.SpecTests.Core;

/// <summary>A BLAS-style GEMM case: alpha/beta drawn from small sets, leading dimensions padded past the width.</summary>
public sealed record GemmBlasCase(int M, int N, int K, bool TransA, bool TransB, int PadA, int PadB, int PadC,
    double Alpha, double Beta, int Seed)
{
    public static Arbitrary<GemmBlasCase> Arbitrary() =>
        (from m in Cases.Size
         from n in Cases.Size
         from k in Gen.Elements([.. Cases.EdgeSizes, 257])
         from ta in ArbMap.Default.GeneratorFor<bool>()
         from tb in ArbMap.Default.GeneratorFor<bool>()
         from pa in Gen.Elements(0, 1, 5)
         from pb in Gen.Elements(0, 3)
         from pc in Gen.Elements(0, 2, 17)
         from alpha in Gen.Elements(1.0, -0.5, 2.25)
         from beta in Gen.Elements(0.0, 1.0, -1.5)
         from seed in Cases.Seed
         select new GemmBlasCase(m, n, k, ta, tb, pa, pb, pc, alpha, beta, seed)).ToArbitrary();
}

/// <summary>Sizes above the threading threshold (m n k >= 2^21) so that two threads really split the work.</summary>
public sealed record GemmThreadCase(int M, int N, int K, bool TransA, bool TransB, int Seed)
{
    public static Arbitrary<GemmThreadCase> Arbitrary() =>
        (from m in Gen.Elements(129, 131, 200, 257)
         from n in Gen.Elements(129, 131, 200, 257)
         from k in Gen.Elements(129, 131, 257)
         from ta in ArbMap.Default.GeneratorFor<bool>()
         from tb in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new GemmThreadCase(m, n, k, ta, tb, seed)).ToArbitrary();
}

/// <summary>A strided batch: A is broadcast (stride 0) or strided with a gap, C strided with a gap.</summary>
public sealed record GemmBatchCase(int M, int N, int K, bool TransA, bool TransB, int Batch, bool BroadcastA, int Gap, int Seed)
{
    public static Arbitrary<GemmBatchCase> Arbitrary() =>
        (from m in Cases.Size
         from n in Cases.Size
         from k in Cases.Size
         from ta in ArbMap.Default.GeneratorFor<bool>()
         from tb in ArbMap.Default.GeneratorFor<bool>()
         from batch in Gen.Elements(1, 2, 3, 5)
         from broadcast in ArbMap.Default.GeneratorFor<bool>()
         from gap in Gen.Elements(0, 3)
         from seed in Cases.Seed
         select new GemmBatchCase(m, n, k, ta, tb, batch, broadcast, gap, seed)).ToArbitrary();
}

/// <summary>
/// Shapes around the Vector512 tile (14 x 32 float32, 14 x 16 float64) and blocks (MC = 84, KC = 256):
/// m in residues 0, 1, 7, 13 mod 14 (7 or fewer rows left run the 7-row edge kernel) and past MC, n on both sides of multiples of 16 and 32, k past KC;
/// transposes, padded leading dimensions, alpha and beta as in <see cref="GemmBlasCase"/>.
/// </summary>
public sealed record GemmKernelCase(int M, int N, int K, bool TransA, bool TransB, int PadA, int PadB, int PadC,
    double Alpha, double Beta, int Seed)
{
    public static Arbitrary<GemmKernelCase> Arbitrary() =>
        (from m in Gen.Elements(1, 7, 13, 14, 15, 21, 28, 29, 169, 183)
         from n in Gen.Elements(1, 15, 16, 17, 31, 32, 33, 48, 65, 97)
         from k in Gen.Elements(1, 7, 256, 257, 300)
         from ta in ArbMap.Default.GeneratorFor<bool>()
         from tb in ArbMap.Default.GeneratorFor<bool>()
         from pa in Gen.Elements(0, 3)
         from pb in Gen.Elements(0, 5)
         from pc in Gen.Elements(0, 17)
         from alpha in Gen.Elements(1.0, -0.5, 2.25)
         from beta in Gen.Elements(0.0, 1.0, -1.5)
         from seed in Cases.Seed
         select new GemmKernelCase(m, n, k, ta, tb, pa, pb, pc, alpha, beta, seed)).ToArbitrary();

    public GemmBlasCase AsBlasCase() => new(M, N, K, TransA, TransB, PadA, PadB, PadC, Alpha, Beta, Seed);
}

[Trait("Category", "IsaParity")]
public class GemmTests
{
    // norm_rel tolerances of conventions.md: float64 internal cross-check, float32 backend.
    private const double Float64Tolerance = 1e-13;
    private const double Float32Tolerance = 1e-5;

    [Property(Arbitrary = [typeof(GemmCase)])]
    public void Property_FastFloat64_EqualsNaive(GemmCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = rng.NormalTensor<double>(0, 1, c.TransA ? [c.K, c.M] : [c.M, c.K]);
        var b = rng.NormalTensor<double>(0, 1, c.TransB ? [c.N, c.K] : [c.K, c.N]);
        var expected = NaiveGemm.MatMul(a, b, c.TransA, c.TransB);
        var actual = FastGemm.MatMul(a, b, c.TransA, c.TransB);
        Assert.Equal(expected.ShapeArray, actual.ShapeArray);
        Assert.True(Metrics.RelativeError(expected.Data, actual.Data) <= Float64Tolerance);
    }

    [Property(Arbitrary = [typeof(GemmCase)])]
    public void Property_FastFloat32_EqualsNaive(GemmCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = rng.NormalTensor<float>(0, 1, c.TransA ? [c.K, c.M] : [c.M, c.K]);
        var b = rng.NormalTensor<float>(0, 1, c.TransB ? [c.N, c.K] : [c.K, c.N]);
        // The definition runs on the same float32 values widened, so only Fast's rounding is measured.
        var expected = NaiveGemm.MatMul(a.Cast<double>(), b.Cast<double>(), c.TransA, c.TransB);
        var actual = FastGemm.MatMul(a, b, c.TransA, c.TransB);
        Assert.Equal(expected.ShapeArray, actual.ShapeArray);
        Assert.True(Metrics.RelativeError(expected.Data, actual.Data) <= Float32Tolerance);
    }

    [Property(Arbitrary = [typeof(GemmBlasCase)])]
    public void Property_Float64_AlphaBetaAndLeadingDimensions_EqualNaive(GemmBlasCase c) =>
        CheckBlasCase<double>(c, useVectorKernel: true, Float64Tolerance);

    [Property(Arbitrary = [typeof(GemmBlasCase)])]
    public void Property_Float32_AlphaBetaAndLeadingDimensions_EqualNaive(GemmBlasCase c) =>
        CheckBlasCase<float>(c, useVectorKernel: true, Float32Tolerance);

    [Property(Arbitrary = [typeof(GemmBlasCase)], MaxTest = 20)]
    public void Property_ScalarFallbackKernel_Float64_EqualsNaive(GemmBlasCase c) =>
        CheckBlasCase<double>(c, useVectorKernel: false, Float64Tolerance);

    [Property(Arbitrary = [typeof(GemmBlasCase)], MaxTest = 20)]
    public void Property_ScalarFallbackKernel_Float32_EqualsNaive(GemmBlasCase c) =>
        CheckBlasCase<float>(c, useVectorKernel: false, Float32Tolerance);

    /// <summary>
    /// The Vector512 kernel (the Vector256 one where this process does not accelerate Vector512, e.g.
    /// DOTNET_EnableAVX512F=0) on shapes around its tile and blocks: equal to the float64 definition
    /// within the float32 / float64 bounds, padding untouched, and bitwise equal to the Vector256
    /// kernel, which runs the same FMA chain per element on its own tile and panel layout.
    /// </summary>
    [Property(Arbitrary = [typeof(GemmKernelCase)], MaxTest = 40)]
    public void Property_Vector512Kernel_EqualsNaive_AndVector256KernelBitwise(GemmKernelCase c)
    {
        var v512 = CheckBlasCase<float>(c.AsBlasCase(), GemmKernel.Vector512, Float32Tolerance);
        var v256 = CheckBlasCase<float>(c.AsBlasCase(), GemmKernel.Vector256, Float32Tolerance);
        Assert.Equal(v256, v512);
        var v512d = CheckBlasCase<double>(c.AsBlasCase(), GemmKernel.Vector512, Float64Tolerance);
        var v256d = CheckBlasCase<double>(c.AsBlasCase(), GemmKernel.Vector256, Float64Tolerance);
        Assert.Equal(v256d, v512d);
    }

    /// <summary>
    /// Two threads with the Vector512 kernel on shapes past the threading threshold: bitwise equal to one
    /// thread and to the Vector256 kernel.
    /// </summary>
    [Property(Arbitrary = [typeof(GemmThreadCase)], MaxTest = 4)]
    public void Property_Vector512Kernel_TwoThreads_MatchOneThreadAndVector256Bitwise(GemmThreadCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = Draw<float>(rng, c.M * c.K);
        var b = Draw<float>(rng, c.K * c.N);
        var c0 = Draw<float>(rng, c.M * c.N);
        int lda = c.TransA ? c.M : c.K, ldb = c.TransB ? c.K : c.N;
        float[] Run(GemmKernel kernel, int threads)
        {
            var result = (float[])c0.Clone();
            FastGemm.MultiplyWithKernel(kernel, c.TransA, c.TransB, c.M, c.N, c.K, 0.75f, a, lda, b, ldb, -0.5f, result, c.N, threads);
            return result;
        }
        var one = Run(GemmKernel.Vector512, 1);
        Assert.Equal(one, Run(GemmKernel.Vector512, 2));
        Assert.Equal(one, Run(GemmKernel.Vector256, 2));
        Assert.NotEqual(c0, one);
    }

    /// <summary>
    /// Two threads on products with at least 8 row blocks of MC = 84 (700 rows: 9 blocks; 1400: two
    /// super-blocks of 16 x 84 rows), where each tile covers all columns and packs its own A block:
    /// bitwise equal to one thread and to the Vector256 kernel (whose MC = 144 keeps shared A packs
    /// at m = 700), and within the float32 bound of the float64 definition.
    /// </summary>
    [Theory]
    [InlineData(700, 131, 300, false, false)]
    [InlineData(700, 97, 257, true, true)]
    [InlineData(1400, 40, 260, false, true)]
    public void Edge_TwoThreads_TilesPackTheirOwnA_MatchOneThreadBitwise(int m, int n, int k, bool transA, bool transB)
    {
        var rng = new SplitMix64(23);
        var a = Draw<float>(rng, m * k);
        var b = Draw<float>(rng, k * n);
        var c0 = Draw<float>(rng, m * n);
        int lda = transA ? m : k, ldb = transB ? k : n;
        float[] Run(GemmKernel kernel, int threads)
        {
            var result = (float[])c0.Clone();
            FastGemm.MultiplyWithKernel(kernel, transA, transB, m, n, k, 0.75f, a, lda, b, ldb, -0.5f, result, n, threads);
            return result;
        }
        var one = Run(GemmKernel.Vector512, 1);
        Assert.Equal(one, Run(GemmKernel.Vector512, 2));
        Assert.Equal(one, Run(GemmKernel.Vector256, 2));
        var expected = c0.Select(x => (double)x).ToArray();
        NaiveGemm.Multiply(transA, transB, m, n, k, 0.75, a.Select(x => (double)x).ToArray(), lda,
            b.Select(x => (double)x).ToArray(), ldb, -0.5, expected, n);
        Assert.True(Metrics.RelativeError(expected, one.Select(x => (double)x).ToArray()) <= Float32Tolerance);
    }

    /// <summary>
    /// Two-thread products of one rank-KC step whose A the Vector512 kernel reads in place (lda 32 to 256) run as column
    /// chunks, each the one-thread loops on its columns with its own packed B chunk (GemmColumnTiles): chunks of 128 at
    /// 256^3, edge rows of A (m = 100, 300) and an edge column panel (n = 200, 520), a transposed A, 4 chunks (n = 520);
    /// float32 and float64 (NC 512: n = 520 runs the shared schedule), alpha and beta. Bitwise equal to one thread and
    /// to the Vector256 kernel, and to the float64 definition within the bound.
    /// </summary>
    [Theory]
    [InlineData(256, 256, 256, false)]
    [InlineData(100, 200, 128, false)]
    [InlineData(128, 500, 64, true)]
    [InlineData(300, 520, 32, false)]
    public void Edge_TwoThreads_ColumnTiles_MatchOneThreadBitwise(int m, int n, int k, bool transA)
    {
        CheckColumnTiles<float>(m, n, k, transA, Float32Tolerance);
        CheckColumnTiles<double>(m, n, k, transA, Float64Tolerance);
    }

    private static void CheckColumnTiles<T>(int m, int n, int k, bool transA, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64(29);
        var a = Draw<T>(rng, m * k);
        var b = Draw<T>(rng, k * n);
        var c0 = Draw<T>(rng, m * n);
        int lda = transA ? m : k;
        T alpha = T.CreateChecked(0.75), beta = T.CreateChecked(-0.5);
        if (FastGemm.KernelVectorBits == 512 && (typeof(T) == typeof(float) || n <= 512))
            Assert.True(GemmColumnTiles<T>.Applies(m, n, k, lda, GemmKernel.Vector512), $"{m} x {n} x {k} (transA {transA}, {typeof(T).Name}) should run as column tiles");
        T[] Run(GemmKernel kernel, int threads)
        {
            var result = (T[])c0.Clone();
            FastGemm.MultiplyWithKernel(kernel, transA, false, m, n, k, alpha, a, lda, b, n, beta, result, n, threads);
            return result;
        }
        var one = Run(GemmKernel.Vector512, 1);
        Assert.Equal(one, Run(GemmKernel.Vector512, 2));
        Assert.Equal(one, Run(GemmKernel.Vector256, 2));
        var expected = Widen(c0);
        NaiveGemm.Multiply(transA, false, m, n, k, 0.75, Widen(a), lda, Widen(b), n, -0.5, expected, n);
        Assert.True(Metrics.RelativeError(expected, Widen(one)) <= tolerance);
    }

    /// <summary>
    /// The Vector512 path that packs A in the tiles (untransposed A with a leading dimension it does not read in place:
    /// each 14-row micro-panel copied by its first tile while it computes): m with and without an edge panel of A (m = 13:
    /// only the edge), n with and without a partial first or last tile (n = 31: the packing tile is partial), k with its
    /// last block a multiple of the vector width (packed in the tiles) or not (packed before), alpha and beta. Equal to the
    /// float64 definition within the bounds, padding untouched, and bitwise equal to the Vector256 kernel, which packs
    /// every block first; the same with B transposed and on two threads.
    /// </summary>
    [Theory]
    [InlineData(183, 100, 512, 3, 5, 1.0, 0.0)]
    [InlineData(29, 33, 272, 0, 0, -0.5, 1.0)]
    [InlineData(14, 64, 48, 1, 0, 2.25, -1.5)]
    [InlineData(90, 31, 256, 1, 2, 1.0, 1.0)]
    [InlineData(43, 97, 264, 5, 3, 1.0, 0.0)]
    [InlineData(13, 64, 256, 2, 0, 1.0, 1.0)]
    [InlineData(300, 260, 300, 7, 1, 0.75, -0.5)]
    public void Edge_PackedInTiles_EqualNaive_AndVector256KernelBitwise(int m, int n, int k, int padA, int padB, double alpha, double beta)
    {
        var c = new GemmBlasCase(m, n, k, false, false, padA, padB, 17, alpha, beta, 41);
        Assert.DoesNotContain(k + padA, new[] { 32, 64, 128, 256 });
        Assert.Equal(CheckBlasCase<float>(c, GemmKernel.Vector256, Float32Tolerance), CheckBlasCase<float>(c, GemmKernel.Vector512, Float32Tolerance));
        Assert.Equal(CheckBlasCase<double>(c, GemmKernel.Vector256, Float64Tolerance), CheckBlasCase<double>(c, GemmKernel.Vector512, Float64Tolerance));
        var transB = c with { TransB = true };
        Assert.Equal(CheckBlasCase<float>(transB, GemmKernel.Vector256, Float32Tolerance), CheckBlasCase<float>(transB, GemmKernel.Vector512, Float32Tolerance));
        var rng = new SplitMix64(43);
        var a = Draw<float>(rng, m * (k + padA));
        var b = Draw<float>(rng, k * (n + padB));
        var c0 = Draw<float>(rng, m * n);
        float[] Run(GemmKernel kernel, int threads)
        {
            var result = (float[])c0.Clone();
            FastGemm.MultiplyWithKernel(kernel, false, false, m, n, k, (float)alpha, a, k + padA, b, n + padB, (float)beta, result, n, threads);
            return result;
        }
        var two = Run(GemmKernel.Vector512, 2);
        Assert.Equal(Run(GemmKernel.Vector256, 1), two);
        Assert.NotEqual(c0, two);
    }

    private static void CheckBlasCase<T>(GemmBlasCase c, bool useVectorKernel, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        CheckBlasCase<T>(c, useVectorKernel ? GemmMicroKernel.Best : GemmKernel.Scalar, tolerance);

    /// <summary>
    /// Runs one BLAS case on padded buffers with the given kernel and compares every element of C's
    /// buffer with the float64 definition: the m x n window against NaiveGemm, the padding columns
    /// unchanged. Returns C's buffer.
    /// </summary>
    private static T[] CheckBlasCase<T>(GemmBlasCase c, GemmKernel kernel, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int lda = (c.TransA ? c.M : c.K) + c.PadA, ldb = (c.TransB ? c.K : c.N) + c.PadB, ldc = c.N + c.PadC;
        var a = Draw<T>(rng, (c.TransA ? c.K : c.M) * lda);
        var b = Draw<T>(rng, (c.TransB ? c.N : c.K) * ldb);
        var cFast = Draw<T>(rng, c.M * ldc);
        var cNaive = Widen(cFast);
        NaiveGemm.Multiply(c.TransA, c.TransB, c.M, c.N, c.K, c.Alpha, Widen(a), lda, Widen(b), ldb, c.Beta, cNaive, ldc);
        FastGemm.MultiplyWithKernel(kernel, c.TransA, c.TransB, c.M, c.N, c.K,
            T.CreateChecked(c.Alpha), a, lda, b, ldb, T.CreateChecked(c.Beta), cFast, ldc, maxThreads: 1);
        Assert.True(Metrics.RelativeError(cNaive, Widen(cFast)) <= tolerance);
        for (int i = 0; i < c.M; i++)
            for (int j = c.N; j < ldc; j++)
                Assert.Equal(cNaive[i * ldc + j], double.CreateChecked(cFast[i * ldc + j]));
        return cFast;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Edge_BetaZero_DoesNotReadC(bool useVectorKernel)
    {
        // 13 x 19 has full and edge tiles in both directions; NaN in C must not reach the result.
        const int m = 13, n = 19, k = 7;
        var rng = new SplitMix64(5);
        var a = Draw<double>(rng, m * k);
        var b = Draw<double>(rng, k * n);
        var expected = new double[m * n];
        NaiveGemm.Multiply(false, false, m, n, k, 1.5, a, k, b, n, 0.0, expected, n);
        var c = Enumerable.Repeat(double.NaN, m * n).ToArray();
        FastGemm.MultiplyWithKernel(useVectorKernel, false, false, m, n, k, 1.5, a, k, b, n, 0.0, c, n, maxThreads: 1);
        Assert.True(Metrics.RelativeError(expected, c) <= Float64Tolerance);
        var cf = Enumerable.Repeat(float.NaN, m * n).ToArray();
        FastGemm.MultiplyWithKernel(useVectorKernel, false, false, m, n, k, 1.5f,
            a.Select(x => (float)x).ToArray(), k, b.Select(x => (float)x).ToArray(), n, 0f, cf, n, maxThreads: 1);
        Assert.True(Metrics.RelativeError(expected, cf) <= Float32Tolerance);
    }

    [Fact]
    public void Edge_EmptyInnerDimensionOrZeroAlpha_ScalesCByBeta()
    {
        var c = new double[] { 1, 2, 3, double.NaN };
        FastGemm.Multiply(false, false, 2, 2, 0, 1.0, ReadOnlySpan<double>.Empty, 1, ReadOnlySpan<double>.Empty, 2, 0.0, c, 2);
        Assert.Equal([0.0, 0.0, 0.0, 0.0], c);
        c = [1, 2, 3, 4];
        FastGemm.Multiply(false, false, 2, 2, 1, 0.0, [double.NaN, 1.0], 1, [1.0, 2.0], 2, -2.0, c, 2);
        Assert.Equal([-2.0, -4.0, -6.0, -8.0], c);
        var empty = FastGemm.MatMul(Tensor<float>.Zeros(0, 3), Tensor<float>.Zeros(3, 4));
        Assert.Equal([0, 4], empty.ShapeArray);
    }

    [Theory]
    [InlineData(300, 520, 270, true, false)]
    [InlineData(300, 520, 270, false, true)]
    [InlineData(7, 4100, 9, false, false)]
    public void Edge_LargerThanEveryBlock_Float64AndFloat32_EqualNaive(int m, int n, int k, bool transA, bool transB)
    {
        // 300 > MC, 270 > KC (two rank-KC updates, the second with beta = 1), 4100 > NC (two column panels).
        var rng = new SplitMix64(17);
        var a = rng.NormalTensor<double>(0, 1, transA ? [k, m] : [m, k]);
        var b = rng.NormalTensor<double>(0, 1, transB ? [n, k] : [k, n]);
        var expected = NaiveGemm.MatMul(a, b, transA, transB);
        Assert.True(Metrics.RelativeError(expected.Data, FastGemm.MatMul(a, b, transA, transB).Data) <= Float64Tolerance);
        var a32 = a.Cast<float>();
        var b32 = b.Cast<float>();
        var expected32 = NaiveGemm.MatMul(a32.Cast<double>(), b32.Cast<double>(), transA, transB);
        Assert.True(Metrics.RelativeError(expected32.Data, FastGemm.MatMul(a32, b32, transA, transB).Data) <= Float32Tolerance);
    }

    /// <summary>
    /// The products of a width-32 training step (k or n of 32, one dimension the 1024 tokens of a micro-batch),
    /// whose transposed operands are packed in register blocks (m, k of 1024 and 32 are whole blocks, 37 and
    /// 131 leave ragged edges), with leading dimensions wider than the matrices.
    /// </summary>
    [Theory]
    [InlineData(32, 128, 1024, true, false)]
    [InlineData(128, 32, 1024, true, false)]
    [InlineData(1024, 128, 32, false, true)]
    [InlineData(256, 32, 32, true, true)]
    [InlineData(37, 131, 1029, true, false)]
    [InlineData(131, 37, 35, true, true)]
    public void Edge_SmallInnerOrOuterDimension_TransposedPacking_EqualsNaive(int m, int n, int k, bool transA, bool transB)
    {
        var rng = new SplitMix64(23);
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5;
        var a = rng.NormalTensor<double>(0, 1, (transA ? k : m) * lda).Data;
        var b = rng.NormalTensor<double>(0, 1, (transB ? n : k) * ldb).Data;
        var expected = new double[m * n];
        var actual = new double[m * n];
        NaiveGemm.Multiply(transA, transB, m, n, k, 1.0, a, lda, b, ldb, 0.0, expected, n);
        FastGemm.Multiply(transA, transB, m, n, k, 1.0, a, lda, b, ldb, 0.0, actual, n, maxThreads: 1);
        Assert.True(Metrics.RelativeError(expected, actual) <= Float64Tolerance, $"relative error {Metrics.RelativeError(expected, actual):E2}");
        var a32 = Array.ConvertAll(a, v => (float)v);
        var b32 = Array.ConvertAll(b, v => (float)v);
        var expected32 = new double[m * n];
        var actual32 = new float[m * n];
        NaiveGemm.Multiply(transA, transB, m, n, k, 1.0, Array.ConvertAll(a32, v => (double)v), lda, Array.ConvertAll(b32, v => (double)v), ldb, 0.0, expected32, n);
        FastGemm.Multiply(transA, transB, m, n, k, 1f, a32, lda, b32, ldb, 0f, actual32, n, maxThreads: 1);
        Assert.True(Metrics.RelativeError(expected32, Array.ConvertAll(actual32, v => (double)v)) <= Float32Tolerance);
    }

    /// <summary>
    /// An A stored with a leading dimension of 32, 64, 128 or 256 is read in place by the Vector512 kernel for its full 14-row
    /// panels (FastGemm's unpacked A; rows lda apart untransposed, columns lda apart transposed), the last m % 14 rows packed:
    /// equal to the float64 definition within the bounds and bitwise equal to the Vector256 kernel (which packs every panel),
    /// float32 and float64, with alpha and beta, m past MC = 84 and with an edge, k equal to, below and past lda or KC, n with a
    /// partial NR tile, B transposed or not; padding columns of C untouched.
    /// </summary>
    [Theory]
    [InlineData(101, 37, 32, false, 0, 1.0, 0.0)]
    [InlineData(14, 16, 20, false, 12, -0.5, 1.0)]
    [InlineData(90, 33, 64, false, 0, 2.25, -1.5)]
    [InlineData(200, 40, 100, false, 28, 1.0, 1.0)]
    [InlineData(170, 20, 256, false, 0, 1.0, 0.0)]
    [InlineData(1024, 32, 128, false, 0, 1.0, 0.0)]
    [InlineData(128, 32, 1024, true, 0, 1.0, 0.0)]
    [InlineData(32, 128, 300, true, 0, -0.5, 1.0)]
    [InlineData(101, 17, 90, true, 27, 2.25, -1.5)]
    [InlineData(250, 40, 7, true, 6, 1.0, 1.0)]
    [InlineData(60, 16, 257, true, 4, 1.0, 0.0)]
    public void Edge_UnpackedA_LeadingDimensionsOfWholeVectors_EqualNaive_AndVector256KernelBitwise(int m, int n, int k, bool transA, int padA,
        double alpha, double beta)
    {
        var c = new GemmBlasCase(m, n, k, transA, false, padA, 5, 17, alpha, beta, 31);
        Assert.Contains((transA ? m : k) + padA, new[] { 32, 64, 128, 256 });
        var v512 = CheckBlasCase<double>(c, GemmKernel.Vector512, Float64Tolerance);
        Assert.Equal(CheckBlasCase<double>(c, GemmKernel.Vector256, Float64Tolerance), v512);
        var v512f = CheckBlasCase<float>(c, GemmKernel.Vector512, Float32Tolerance);
        Assert.Equal(CheckBlasCase<float>(c, GemmKernel.Vector256, Float32Tolerance), v512f);
        var transB = c with { TransB = true };
        Assert.Equal(CheckBlasCase<double>(transB, GemmKernel.Vector256, Float64Tolerance), CheckBlasCase<double>(transB, GemmKernel.Vector512, Float64Tolerance));
    }

    /// <summary>
    /// Threads split C into disjoint ranges aligned to the register tile, and every element keeps the
    /// same K blocking and summation order, so 1 and 2 threads must agree to the bit.
    /// </summary>
    [Property(Arbitrary = [typeof(GemmThreadCase)], MaxTest = 6)]
    public void Property_OneAndTwoThreads_AreBitwiseIdentical(GemmThreadCase c)
    {
        CheckThreads<double>(c);
        CheckThreads<float>(c);
    }

    private static void CheckThreads<T>(GemmThreadCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = Draw<T>(rng, c.M * c.K);
        var b = Draw<T>(rng, c.K * c.N);
        var c0 = Draw<T>(rng, c.M * c.N);
        var c1 = (T[])c0.Clone();
        var c2 = (T[])c0.Clone();
        int lda = c.TransA ? c.M : c.K, ldb = c.TransB ? c.K : c.N;
        T alpha = T.CreateChecked(0.75), beta = T.CreateChecked(-0.5);
        FastGemm.Multiply(c.TransA, c.TransB, c.M, c.N, c.K, alpha, a, lda, b, ldb, beta, c1, c.N, maxThreads: 1);
        FastGemm.Multiply(c.TransA, c.TransB, c.M, c.N, c.K, alpha, a, lda, b, ldb, beta, c2, c.N, maxThreads: 2);
        Assert.Equal(c1, c2);
        Assert.NotEqual(c0, c1);
    }

    /// <summary>
    /// Shapes that cross every step boundary of the shared multi-thread schedule (more than 16 MC
    /// row blocks, more than one NC column panel, more than one KC depth block), on 2, 3 and 5
    /// threads: the tiles taken dynamically by the threads must reproduce the one-thread result
    /// bitwise, and the one-thread result must match the float64 definition. m = 2311 is past 16
    /// row blocks of the Vector256 kernel (MC = 144), m = 2711 past those of the Vector512 kernel
    /// (16 blocks of MC = 168 before the sixth session, 32 of MC = 84 now), where the steps of one (jc, pc) group share a B panel and alternate A panels.
    /// </summary>
    [Theory]
    [InlineData(2311, 19, 300, false, true)]
    [InlineData(2711, 40, 520, false, false)]
    [InlineData(9, 4100, 260, true, false)]
    [InlineData(300, 301, 777, true, true)]
    public void SharedSchedule_CrossesStepBoundaries_MatchesOneThreadBitwise(int m, int n, int k, bool transA, bool transB)
    {
        var rng = new SplitMix64((ulong)(m + n + k));
        var a = Draw<float>(rng, m * k);
        var b = Draw<float>(rng, k * n);
        var c0 = Draw<float>(rng, m * n);
        int lda = transA ? m : k, ldb = transB ? k : n;
        var c1 = (float[])c0.Clone();
        FastGemm.Multiply(transA, transB, m, n, k, 0.75f, a, lda, b, ldb, -0.5f, c1, n, maxThreads: 1);
        var cNaive = Widen(c0);
        NaiveGemm.Multiply(transA, transB, m, n, k, 0.75, Widen(a), lda, Widen(b), ldb, -0.5, cNaive, n);
        Assert.True(Metrics.RelativeError(cNaive, Widen(c1)) <= Float32Tolerance);
        foreach (int threads in new[] { 2, 3, 5 })
        {
            var ct = (float[])c0.Clone();
            FastGemm.Multiply(transA, transB, m, n, k, 0.75f, a, lda, b, ldb, -0.5f, ct, n, maxThreads: threads);
            Assert.Equal(c1, ct);
        }
    }

    [Property(Arbitrary = [typeof(GemmBatchCase)])]
    public void Property_MultiplyBatched_EqualsNaivePerBatch(GemmBatchCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        int lda = c.TransA ? c.M : c.K, ldb = c.TransB ? c.K : c.N;
        int sizeA = c.M * c.K, sizeB = c.K * c.N, sizeC = c.M * c.N;
        int strideA = c.BroadcastA ? 0 : sizeA + c.Gap, strideB = sizeB + c.Gap, strideC = sizeC + c.Gap;
        var a = Draw<double>(rng, c.BroadcastA ? sizeA : strideA * c.Batch);
        var b = Draw<double>(rng, strideB * c.Batch);
        var cFast = Draw<double>(rng, strideC * c.Batch);
        var cNaive = (double[])cFast.Clone();
        for (int i = 0; i < c.Batch; i++)
            NaiveGemm.Multiply(c.TransA, c.TransB, c.M, c.N, c.K, -1.25,
                a.AsSpan(i * strideA, sizeA), lda, b.AsSpan(i * strideB, sizeB), ldb, 0.5, cNaive.AsSpan(i * strideC, sizeC), c.N);
        FastGemm.MultiplyBatched(c.TransA, c.TransB, c.M, c.N, c.K, -1.25, a, lda, strideA, b, ldb, strideB,
            0.5, cFast, c.N, strideC, c.Batch);
        Assert.True(Metrics.RelativeError(cNaive, cFast) <= Float64Tolerance);
        for (int i = 0; i < c.Batch; i++)
            for (int g = 0; g < c.Gap; g++)
                Assert.Equal(cNaive[i * strideC + sizeC + g], cFast[i * strideC + sizeC + g]);
    }

    [Fact]
    public void Property_ManySmallBatches_SpreadOverThreads_MatchOneThreadBitwise()
    {
        // 64 products of 33^3 exceed the threading threshold together: they are spread by batch.
        const int batch = 64, s = 33;
        var rng = new SplitMix64(23);
        var a = Draw<float>(rng, batch * s * s);
        var b = Draw<float>(rng, batch * s * s);
        var c1 = new float[batch * s * s];
        var c2 = new float[batch * s * s];
        FastGemm.MultiplyBatched(false, true, s, s, s, 1f, a, s, s * s, b, s, s * s, 0f, c1, s, s * s, batch, maxThreads: 1);
        FastGemm.MultiplyBatched(false, true, s, s, s, 1f, a, s, s * s, b, s, s * s, 0f, c2, s, s * s, batch, maxThreads: 2);
        Assert.Equal(c1, c2);
        var expected = new double[batch * s * s];
        var a64 = Widen(a);
        var b64 = Widen(b);
        for (int i = 0; i < batch; i++)
            NaiveGemm.Multiply(false, true, s, s, s, 1.0, a64.AsSpan(i * s * s, s * s), s, b64.AsSpan(i * s * s, s * s), s,
                0.0, expected.AsSpan(i * s * s, s * s), s);
        Assert.True(Metrics.RelativeError(expected, c1) <= Float32Tolerance);
    }

    [Fact]
    public void Property_MatMul_BroadcastBatchAxes_EqualsNaive()
    {
        var rng = new SplitMix64(29);
        var a = rng.NormalTensor<double>(0, 1, 2, 1, 9, 17);
        var b = rng.NormalTensor<double>(0, 1, 3, 17, 8);
        var expected = NaiveGemm.MatMul(a, b);
        var actual = FastGemm.MatMul(a, b);
        Assert.Equal([2, 3, 9, 8], actual.ShapeArray);
        Assert.True(Metrics.RelativeError(expected.Data, actual.Data) <= Float64Tolerance);
    }

    [Fact]
    public void Negative_ScaledResult_FailsTheFloat32Tolerance()
    {
        // The comparator must reject an output off by a relative 1e-3.
        var rng = new SplitMix64(31);
        var a = rng.NormalTensor<float>(0, 1, 33, 31);
        var b = rng.NormalTensor<float>(0, 1, 31, 17);
        var expected = NaiveGemm.MatMul(a.Cast<double>(), b.Cast<double>());
        var actual = FastGemm.MatMul(a, b);
        Assert.True(Metrics.RelativeError(expected.Data, actual.Data) <= Float32Tolerance);
        for (int i = 0; i < actual.Length; i++) actual.Data[i] *= 1.001f;
        Assert.False(Metrics.RelativeError(expected.Data, actual.Data) <= Float32Tolerance);
    }

    /// <summary>
    /// MatMulInto overwrites a stale output (NaN-filled, so any element it did not write or that it
    /// read shows) with the broadcast batched product, equal to the float64 definition; repeated
    /// calls into the same buffer reuse the pooled panels and give the same result; a wrong output
    /// shape is rejected naming "output".
    /// </summary>
    [Fact]
    public void MatMulInto_OverwritesCallerBuffer_EqualsNaive_AndChecksShape()
    {
        var rng = new SplitMix64(29);
        var a = rng.NormalTensor<float>(0, 1, [3, 150, 70]);
        var b = rng.NormalTensor<float>(0, 1, [1, 130, 70]);
        var output = Tensor<float>.Zeros(3, 150, 130);
        var expected = NaiveGemm.MatMul(a.Cast<double>(), b.Cast<double>(), transB: true);
        for (int call = 0; call < 2; call++)
        {
            output.Data.AsSpan().Fill(float.NaN);
            FastGemm.MatMulInto(output, a, b, transB: true, maxThreads: 2);
            Assert.True(Metrics.RelativeError(expected.Data, Widen(output.Data)) <= Float32Tolerance);
        }
        Assert.Equal(FastGemm.MatMul(a, b, transB: true, maxThreads: 1).Data, output.Data);
        var e = Assert.Throws<ArgumentException>(() => FastGemm.MatMulInto(Tensor<float>.Zeros(3, 130, 150), a, b, transB: true));
        Assert.Equal("output", e.ParamName);
    }

    [Fact]
    public void Edge_MismatchedInnerDimension_NamesTheArgument()
    {
        var a = Tensor<double>.Zeros(3, 4);
        var b = Tensor<double>.Zeros(5, 2);
        var e = Assert.Throws<ArgumentException>(() => NaiveGemm.MatMul(a, b));
        Assert.Equal("b", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => FastGemm.MatMul(a, b));
        Assert.Equal("b", e.ParamName);
    }

    [Fact]
    public void Negative_InvalidArguments_NameTheArgument()
    {
        var buf = new double[64];
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            FastGemm.Multiply(false, false, 4, 4, 4, 1.0, buf, 3, buf, 4, 0.0, buf, 4));
        Assert.Equal("lda", e1.ParamName);
        Assert.Contains("3", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() =>
            FastGemm.Multiply(false, false, 4, 4, 4, 1.0, buf, 4, buf, 4, 0.0, new double[15], 4));
        Assert.Equal("c", e2.ParamName);
        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            FastGemm.Multiply(false, false, 4, 4, 4, 1.0, buf, 4, buf, 4, 0.0, buf, 4, maxThreads: -1));
        Assert.Equal("maxThreads", e3.ParamName);
        var e4 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            FastGemm.MultiplyBatched(false, false, 4, 4, 4, 1.0, buf, 4, 16, buf, 4, 16, 0.0, buf, 4, 8, 2));
        Assert.Equal("strideC", e4.ParamName);
        var e5 = Assert.Throws<ArgumentException>(() =>
            FastGemm.MultiplyBatched(false, false, 4, 4, 4, 1.0, buf, 4, 16, buf, 4, 16, 0.0, new double[128], 4, 16, 5));
        Assert.Equal("a", e5.ParamName);
        var e6 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            FastGemm.MultiplyBatched(false, false, 4, 4, 4, 1.0, buf, 4, 16, buf, 4, 16, 0.0, buf, 4, 16, -1));
        Assert.Equal("batchCount", e6.ParamName);
    }

    [Fact]
    public void Property_NaiveMatMul_MatchesMathNet()
    {
        var rng = new SplitMix64(11);
        var a = rng.NormalTensor<double>(0, 1, 9, 17);
        var b = rng.NormalTensor<double>(0, 1, 17, 5);
        var ma = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(9, 17, (i, j) => a[i, j]);
        var mb = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(17, 5, (i, j) => b[i, j]);
        var expected = ma * mb;
        var actual = NaiveGemm.MatMul(a, b);
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 5; j++)
                Assert.Equal(expected[i, j], actual[i, j], 1e-12);
    }

    private static T[] Draw<T>(SplitMix64 rng, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        rng.FillNormal<T>(values);
        return values;
    }

    private static double[] Widen<T>(T[] values) where T : unmanaged, IFloatingPointIeee754<T> =>
        values.Select(double.CreateChecked).ToArray();
}
