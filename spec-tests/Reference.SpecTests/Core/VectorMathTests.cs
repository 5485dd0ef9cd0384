using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.SpecTests.Core;

/// <summary>VectorMath.Exp against Math.Exp (float64, rounded to float), lane by lane; also run with SIMD switched off (.ci/run).</summary>
[Trait("Category", "IsaParity")]
public class VectorMathTests
{
    private static float[] Exp(float[] x)
    {
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i += Vector256<float>.Count)
            VectorMath.Exp(Vector256.Create(x.AsSpan(i))).CopyTo(y.AsSpan(i));
        return y;
    }

    private static long UlpDistance(float a, float b)
    {
        int ia = BitConverter.SingleToInt32Bits(a), ib = BitConverter.SingleToInt32Bits(b);
        if (ia < 0) ia = int.MinValue - ia;
        if (ib < 0) ib = int.MinValue - ib;
        return Math.Abs((long)ia - ib);
    }

    [Fact]
    public void Property_ExpFloat_WithinOneUlpOverTheNormalRange()
    {
        // Every float from -87 to 88.72 would be 2^31 values; a dense sweep plus random draws instead.
        var rng = new SplitMix64(41);
        var x = new float[1 << 20];
        for (int i = 0; i < x.Length / 2; i++) x[i] = -87f + (88.72f + 87f) * i / (x.Length / 2);
        for (int i = x.Length / 2; i < x.Length; i++) x[i] = (float)rng.Uniform(-87, 88.72);
        x[0] = 0f; x[1] = -0f; x[2] = 1e-30f; x[3] = -1e-30f; x[4] = 88.7228f; x[5] = -86.99f;
        var y = Exp(x);
        long worst = 0;
        for (int i = 0; i < x.Length; i++) worst = Math.Max(worst, UlpDistance((float)Math.Exp(x[i]), y[i]));
        Assert.True(worst <= 1, $"max ulp error {worst}");
    }

    [Fact]
    public void Edge_ExpFloat_SpecialValues()
    {
        float[] x = [float.NegativeInfinity, -1000f, -87.5f, 88.73f, 1000f, float.PositiveInfinity, float.NaN, 0f];
        var y = Exp(x);
        Assert.Equal(0f, y[0]);
        Assert.Equal(0f, y[1]);
        Assert.Equal(0f, y[2]);   // e^-87.5 = 1.0e-38 flushes to 0 (documented)
        Assert.Equal(float.PositiveInfinity, y[3]);
        Assert.Equal(float.PositiveInfinity, y[4]);
        Assert.Equal(float.PositiveInfinity, y[5]);
        Assert.True(float.IsNaN(y[6]));
        Assert.Equal(1f, y[7]);
    }

    [Fact]
    public void Property_ExpDouble_WithinAboutTwoUlpsOfMathExp()
    {
        var rng = new SplitMix64(42);
        var x = new double[4096];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Uniform(-700, 700);
        for (int i = 0; i < x.Length; i += 4)
        {
            var y = VectorMath.Exp(Vector256.Create(x.AsSpan(i)));
            for (int j = 0; j < 4; j++)
                Assert.True(Math.Abs(y[j] - Math.Exp(x[i + j])) <= 4.5e-16 * Math.Exp(x[i + j]), $"x = {x[i + j]}: {(y[j] - Math.Exp(x[i + j])) / Math.Exp(x[i + j])}");
        }
    }
}
