using FsCheck;
using FsCheck.Fluent;

namespace Reference.SpecTests.Core;

/// <summary>
/// Shared FsCheck generators. Shapes are drawn from sizes near SIMD widths and odd primes
/// (1, 7, 8, 9, 16 +/- 1, 31, 33, ...) rather than raw integers, and values come from a seeded
/// SplitMix64 so a case is fully described by its (shape, seed) record.
/// </summary>
public static class Cases
{
    /// <summary>Sizes that stress vector tails and blocking edges.</summary>
    public static readonly int[] EdgeSizes = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65];

    public static Gen<int> Size => Gen.Elements(EdgeSizes);

    public static Gen<int> Seed => Gen.Choose(0, int.MaxValue);
}

/// <summary>A GEMM case: C[m x n] = op(A) op(B), values from SplitMix64(Seed).</summary>
public sealed record GemmCase(int M, int N, int K, bool TransA, bool TransB, int Seed)
{
    public static Arbitrary<GemmCase> Arbitrary() =>
        (from m in Cases.Size
         from n in Cases.Size
         from k in Gen.Elements([.. Cases.EdgeSizes, 257])
         from ta in ArbMap.Default.GeneratorFor<bool>()
         from tb in ArbMap.Default.GeneratorFor<bool>()
         from seed in Cases.Seed
         select new GemmCase(m, n, k, ta, tb, seed)).ToArbitrary();
}
