using System.Runtime.Intrinsics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.SpecTests.Core;

/// <summary>A strided W x W transpose: source and destination row strides (at least W), seed for SplitMix64.</summary>
public sealed record TransposeCase(int SourceStride, int DestinationStride, int Seed)
{
    public static Arbitrary<TransposeCase> Arbitrary() =>
        (from src in Gen.Choose(8, 40)
         from dst in Gen.Choose(8, 40)
         from seed in Cases.Seed
         select new TransposeCase(src, dst, seed)).ToArbitrary();
}

/// <summary>BlockTranspose.Square against the index definition, float and double; also run with AVX2 and with all hardware intrinsics off (.ci/run).</summary>
[Trait("Category", "IsaParity")]
public class BlockTransposeTests
{
    [Property(Arbitrary = [typeof(TransposeCase)])]
    public void Property_Square_IsTheExactTranspose_Float(TransposeCase c) => Check<float>(c);

    [Property(Arbitrary = [typeof(TransposeCase)])]
    public void Property_Square_IsTheExactTranspose_Double(TransposeCase c) => Check<double>(c);

    private static void Check<T>(TransposeCase c) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        var rng = new SplitMix64((ulong)c.Seed);
        var src = new T[w * c.SourceStride];
        rng.FillNormal<T>(src);
        var dst = new T[w * c.DestinationStride];
        var sentinel = T.CreateChecked(-12345.0);
        dst.AsSpan().Fill(sentinel);
        BlockTranspose.Square(ref src[0], c.SourceStride, ref dst[0], c.DestinationStride);
        for (int r = 0; r < w; r++)
            for (int col = 0; col < c.DestinationStride; col++)
                // Inside the block: the transposed element, bit for bit; beyond column W: untouched.
                Assert.Equal(col < w ? src[col * c.SourceStride + r] : sentinel, dst[r * c.DestinationStride + col]);
    }
}
