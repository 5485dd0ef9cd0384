using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Reference.SpecTests.Core;

/// <summary>
/// .ci/run repeats the IsaParity tests under the JIT switches DOTNET_EnableAVX2=0 and
/// DOTNET_EnableHWIntrinsic=0. This test checks that a switch present in the environment really
/// reached the test process (otherwise the repeated runs would silently test the default ISA again).
/// </summary>
[Trait("Category", "IsaParity")]
public class IsaSwitchTests
{
    [Fact]
    public void Edge_JitSwitchesInTheEnvironment_TakeEffect()
    {
        bool avx2Off = Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0";
        bool simdOff = Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0";
        if (avx2Off || simdOff)
        {
            Assert.False(Avx2.IsSupported, "DOTNET_EnableAVX2=0 / DOTNET_EnableHWIntrinsic=0 is set but AVX2 is still enabled");
            Assert.False(Vector256.IsHardwareAccelerated);
            Assert.True(Vector<float>.Count <= 4, $"Vector<float>.Count = {Vector<float>.Count} with AVX2 off");
        }
        if (simdOff)
        {
            Assert.False(Vector128.IsHardwareAccelerated, "DOTNET_EnableHWIntrinsic=0 is set but 128-bit SIMD is still enabled");
            Assert.False(Sse2.IsSupported);
        }
        if (!avx2Off && !simdOff && Avx2.IsSupported)
            Assert.True(Vector256.IsHardwareAccelerated);
    }
}
