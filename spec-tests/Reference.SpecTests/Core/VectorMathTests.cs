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

    [Fact]
    public void Edge_ExpDouble_SpecialValuesAndRangeEnds()
    {
        double[] x = [double.NegativeInfinity, -745.2, -708.5, -708.0, 709.78, 710.0, double.NaN, 0.0];
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i += 4) VectorMath.Exp(Vector256.Create(x.AsSpan(i))).CopyTo(y.AsSpan(i));
        Assert.Equal(0.0, y[0]);
        Assert.Equal(0.0, y[1]);
        Assert.Equal(0.0, y[2]);   // below e^-708 = 3.3e-308 flushes to 0 (documented)
        Assert.True(Math.Abs(y[3] - Math.Exp(-708.0)) <= 4.5e-16 * Math.Exp(-708.0));
        Assert.True(Math.Abs(y[4] - Math.Exp(709.78)) <= 4.5e-16 * Math.Exp(709.78));
        Assert.Equal(double.PositiveInfinity, y[5]);
        Assert.True(double.IsNaN(y[6]));
        Assert.Equal(1.0, y[7]);
    }

    [Fact]
    public void Property_Exp2Float_WithinOneUlpOverTheNormalRange()
    {
        var rng = new SplitMix64(43);
        var x = new float[1 << 20];
        for (int i = 0; i < x.Length / 2; i++) x[i] = -126f + 254f * i / (x.Length / 2);
        for (int i = x.Length / 2; i < x.Length; i++) x[i] = (float)rng.Uniform(-126, 127.99);
        x[0] = 0f; x[1] = -0f; x[2] = 0.5f; x[3] = -0.5f; x[4] = 127.99999f; x[5] = -126f; x[6] = -125.5f; x[7] = 1e-30f;
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i += Vector256<float>.Count) VectorMath.Exp2(Vector256.Create(x.AsSpan(i))).CopyTo(y.AsSpan(i));
        long worst = 0;
        for (int i = 0; i < x.Length; i++) worst = Math.Max(worst, UlpDistance((float)Math.Pow(2, x[i]), y[i]));
        Assert.True(worst <= 1, $"max ulp error {worst}");
    }

    [Fact]
    public void Edge_Exp2Float_SpecialValues()
    {
        float[] x = [float.NegativeInfinity, -1000f, -126.5f, 128f, 1000f, float.PositiveInfinity, float.NaN, 3f];
        var y = new float[x.Length];
        VectorMath.Exp2(Vector256.Create(x)).CopyTo(y);
        Assert.Equal(0f, y[0]);
        Assert.Equal(0f, y[1]);
        Assert.Equal(0f, y[2]);   // below 2^-126 flushes to 0 (documented)
        Assert.Equal(float.PositiveInfinity, y[3]);
        Assert.Equal(float.PositiveInfinity, y[4]);
        Assert.Equal(float.PositiveInfinity, y[5]);
        Assert.True(float.IsNaN(y[6]));
        Assert.Equal(8f, y[7]);
    }

    [Fact]
    public void Property_Exp2Double_WithinAboutTwoUlpsOfMathPow()
    {
        var rng = new SplitMix64(44);
        var x = new double[4096];
        for (int i = 0; i < x.Length; i++) x[i] = rng.Uniform(-1022, 1023.99);
        x[0] = -1022.0; x[1] = 1023.9999999999999; x[2] = 0.5; x[3] = -0.5;
        for (int i = 0; i < x.Length; i += 4)
        {
            var y = VectorMath.Exp2(Vector256.Create(x.AsSpan(i)));
            for (int j = 0; j < 4; j++)
            {
                double expected = Math.Pow(2, x[i + j]);
                Assert.True(Math.Abs(y[j] - expected) <= 4.5e-16 * expected, $"x = {x[i + j]}: {(y[j] - expected) / expected}");
            }
        }
        double[] special = [double.NegativeInfinity, -1022.5, 1024.0, double.NaN];
        var z = VectorMath.Exp2(Vector256.Create(special));
        Assert.Equal(0.0, z[0]);
        Assert.Equal(0.0, z[1]);
        Assert.Equal(double.PositiveInfinity, z[2]);
        Assert.True(double.IsNaN(z[3]));
    }

    [Fact]
    public void Property_Exp2Decay_EqualsExp2OnItsRange_AndClampsBelow()
    {
        var rng = new SplitMix64(45);
        var x = new float[1 << 16];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.Uniform(-130, 0);
        x[0] = 0f; x[1] = -126f; x[2] = -126.5f; x[3] = float.NegativeInfinity; x[4] = float.NaN; x[5] = -0.5f;
        for (int i = 0; i < x.Length; i += 8)
        {
            var v = Vector256.Create(x.AsSpan(i));
            var decay = VectorMath.Exp2Decay(v);
            var exact = VectorMath.Exp2(v);
            for (int j = 0; j < 8; j++)
            {
                float xi = x[i + j];
                if (float.IsNaN(xi)) Assert.True(float.IsNaN(decay[j]));
                else if (xi < -126f) Assert.Equal(MathF.Pow(2, -126), decay[j]);   // the documented floor, never a subnormal
                else Assert.Equal(exact[j], decay[j]);
            }
        }
        var d = VectorMath.Exp2Decay(Vector256.Create(-1030.0, -1022.0, -0.5, 0.0));
        Assert.Equal(Math.Pow(2, -1022), d[0]);
        Assert.Equal(Math.Pow(2, -1022), d[1]);
        Assert.True(Math.Abs(d[2] - Math.Sqrt(0.5)) <= 2.3e-16);
        Assert.Equal(1.0, d[3]);
    }
    /// <summary>
    /// The span Exp in float64 of the same values at element offsets 0..15 of larger arrays (every 64-byte alignment), in
    /// place and not: bitwise the same at every offset, and within 4 ulp of Math.Exp. One value in 11 lies below -708 (a
    /// masked score), where TensorPrimitives.Exp computed its whole vector by scalar code, grouped by the address (it failed
    /// this test: bench/NOTES.md, detbits). Lengths 203 (over 8 vectors of 8, a partial group) and 7.
    /// </summary>
    [Theory]
    [InlineData(203)]
    [InlineData(7)]
    public void Property_SpanExpDouble_DoesNotDependOnTheAlignment(int n)
    {
        var rng = new SplitMix64(11);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = i % 11 == 6 ? -rng.Uniform(709, 2000) : rng.Uniform(-60, 20);
        long[]? first = null;
        for (int offset = 0; offset < 16; offset++)
            for (int inPlace = 0; inPlace < 2; inPlace++)
            {
                var a = new double[n + 16];
                var y = inPlace == 1 ? a : new double[n + 16];
                x.CopyTo(a, offset);
                VectorMath.Exp<double>(a.AsSpan(offset, n), y.AsSpan(offset, n));
                var bits = y.AsSpan(offset, n).ToArray().Select(BitConverter.DoubleToInt64Bits).ToArray();
                if (first is null)
                {
                    first = bits;
                    for (int i = 0; i < n; i++)
                        Assert.True(Math.Abs(bits[i] - BitConverter.DoubleToInt64Bits(Math.Exp(x[i]))) <= 4, $"exp({x[i]:R}) = {y[offset + i]:R}, expected {Math.Exp(x[i]):R}");
                }
                for (int i = 0; i < n; i++)
                    Assert.True(bits[i] == first[i], $"offset {offset} (in place: {inPlace == 1}), element {i} (x = {x[i]:R}): {BitConverter.Int64BitsToDouble(bits[i]):R} vs {BitConverter.Int64BitsToDouble(first[i]):R} at offset 0");
            }
    }
}
