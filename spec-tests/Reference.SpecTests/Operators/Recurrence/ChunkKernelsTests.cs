using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Linear;
using Reference.Operators.Attention;
using Reference.Operators.Kernels;
using Reference.Operators.Recurrence;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Operators.Recurrence;

/// <summary>A tile-product case of the chunked GLA kernels: C[m x n] (+)= A[m x k] B[k x n], sizes near the SIMD widths.</summary>
public sealed record TileCase(int M, int N, int K, bool TransposedA, bool Accumulate, bool RowScale, int Seed)
{
    public static Arbitrary<TileCase> Arbitrary() =>
        (from m in Gen.Elements(1, 3, 4, 5, 8, 9, 16, 17)
         from n in Gen.Elements(1, 7, 8, 9, 15, 16, 17, 24, 25, 31, 32, 33, 64)
         from k in Gen.Elements(1, 7, 8, 9, 16, 17, 64)
         from ta in ArbMap.Default.GeneratorFor<bool>()
         from acc in ArbMap.Default.GeneratorFor<bool>()
         from rs in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new TileCase(m, n, k, ta, acc, rs, seed)).ToArbitrary();
}

public class ChunkKernelsTests
{
    /// <summary>Gemm (A row-major or read transposed, optional row-scaled accumulate) against NaiveGemm in float64.</summary>
    [Property(Arbitrary = [typeof(TileCase)])]
    public void Property_Gemm_EqualsNaiveGemm_Float64AndFloat32(TileCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = new double[c.M * c.K];
        var b = new double[c.K * c.N];
        var c0 = new double[c.M * c.N];
        var scale = new double[c.M];
        rng.FillNormal<double>(a);
        rng.FillNormal<double>(b);
        rng.FillNormal<double>(c0);
        rng.FillUniform<double>(scale);
        int ars = c.TransposedA ? 1 : c.K, acs = c.TransposedA ? c.M : 1;
        var expected = (double[])c0.Clone();
        if (c.Accumulate && c.RowScale)
            for (int i = 0; i < c.M; i++)
                for (int j = 0; j < c.N; j++) expected[i * c.N + j] *= scale[i];
        NaiveGemm.Multiply(c.TransposedA, false, c.M, c.N, c.K, 1.0, a, c.TransposedA ? c.M : c.K, b, c.N, c.Accumulate ? 1.0 : 0.0, expected, c.N);

        var actual = (double[])c0.Clone();
        TileGemm.Multiply<double>(c.M, c.N, c.K, a, ars, acs, b, c.N, actual, c.N, c.Accumulate, c.RowScale ? scale : default);
        Assert.True(Metrics.RelativeError(expected, actual) <= 1e-14, $"float64 rel {Metrics.RelativeError(expected, actual)}");

        var actual32 = c0.Select(x => (float)x).ToArray();
        TileGemm.Multiply<float>(c.M, c.N, c.K, a.Select(x => (float)x).ToArray(), ars, acs, b.Select(x => (float)x).ToArray(), c.N,
            actual32, c.N, c.Accumulate, c.RowScale ? scale.Select(x => (float)x).ToArray() : default);
        Assert.True(Metrics.RelativeError(expected, actual32.Select(x => (double)x).ToArray()) <= 1e-5);
    }

    /// <summary>GemmNT (C = A B^T, both row-major) against NaiveGemm with transB.</summary>
    [Property(Arbitrary = [typeof(TileCase)])]
    public void Property_GemmNT_EqualsNaiveGemmTransposedB(TileCase c)
    {
        var rng = new SplitMix64((ulong)c.Seed);
        var a = new double[c.M * c.K];
        var b = new double[c.N * c.K];
        rng.FillNormal<double>(a);
        rng.FillNormal<double>(b);
        var expected = new double[c.M * c.N];
        NaiveGemm.Multiply(false, true, c.M, c.N, c.K, 1.0, a, c.K, b, c.K, 0.0, expected, c.N);
        int ldc = c.N + 3;
        var actual = new double[c.M * ldc];
        ChunkKernels.GemmNT<double>(c.M, c.N, c.K, a, c.K, b, c.K, actual, ldc);
        for (int i = 0; i < c.M; i++)
        {
            for (int j = 0; j < c.N; j++)
                Assert.Equal(expected[i * c.N + j], actual[i * ldc + j], 1e-13 * (1 + Math.Abs(expected[i * c.N + j])) * c.K);
            for (int j = c.N; j < ldc; j++) Assert.Equal(0.0, actual[i * ldc + j]);
        }
    }
}
