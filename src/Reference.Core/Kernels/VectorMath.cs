// Elementary functions on one Vector256, for kernels that need them inside a register-resident
// loop (the selective scan's decays exp(Delta A), online-softmax rescales) where calling a span
// routine would mean a round trip through memory per element.
//
// Exp(float): Cody-Waite reduction x = k ln2 + r with ln2 split in two (the high part has 9
// significant bits, so k ln2_hi is exact for |k| <= 2^15), |r| <= ln2/2, then
// e^r = 1 + r + r^2 P(r) with Cephes' degree-5 minimax P (S. Moshier, Cephes expf), and 2^k put
// into the exponent field. Max error about 1 ulp over the normal range (tested against Math.Exp
// rounded to float). Results for x < -87 (below 1.6e-38, near the smallest normal float) flush to
// 0, x above 88.7228 (where e^x reaches float.MaxValue) gives +inf, NaN stays NaN. Everything is plain Vector256 arithmetic, so it runs, with the
// same results, whether or not the JIT has AVX2/FMA (FusedMultiplyAdd falls back to the exact
// scalar fused operation).
//
// Exp(double) delegates to Vector256.Exp(Vector256<double>), which is fast and accurate already
// (the float overload of Vector256.Exp widens to double and costs ~6x this kernel).
//
// Exp/Log over spans route T = float/double to the non-generic TensorPrimitives overloads, which are
// vectorized; the generic TensorPrimitives.Exp<T> ran one scalar call per element here (~7x slower).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reference.Core.Kernels;

/// <summary>exp on one Vector256 of float or double (see the file head for accuracy and range).</summary>
public static class VectorMath
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2High = 0.693359375f;          // 355/512: exact, 9 significant bits
    private const float Ln2Low = -2.12194440e-4f;        // ln 2 - Ln2High
    private const float RoundingShift = 12582912f;       // 1.5 * 2^23: adding it rounds to an integer
    // Below -87 (e^-87 = 1.6e-38, just above the smallest normal float) results flush to 0: there
    // k >= -126 and e^r >= 1.4 whenever k = -126, so 2^k e^r never lands in the subnormal field.
    private const float MinArgument = -87f;
    private const float MaxArgument = 88.72283172607422f; // the float just below 128 ln 2 (~ln float.MaxValue)

    /// <summary>e^x for each lane of a float vector (about 1 ulp; results below e^-87 flush to 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var clamped = Vector256.Min(Vector256.Max(x, Vector256.Create(MinArgument)), Vector256.Create(MaxArgument));
        // k = round(x / ln 2): the shift leaves k in the low mantissa bits of t.
        var t = Vector256.FusedMultiplyAdd(clamped, Vector256.Create(Log2E), Vector256.Create(RoundingShift));
        var k = t - Vector256.Create(RoundingShift);
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2High), clamped);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Low), r);
        var p = Vector256.Create(1.9875691500E-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894E-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459E-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201E-1f));
        var er = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        // 2^k: k (an integer in [-126, 128]) added to the exponent field of e^r in [0.70, 1.42].
        // k = 128 only for x within rounding of ln(float.MaxValue), where r < 0 keeps e^r <= 1.
        var kBits = t.AsInt32() - Vector256.Create(RoundingShift).AsInt32();
        var scaled = (er.AsInt32() + Vector256.ShiftLeft(kBits, 23)).AsSingle();
        scaled = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(MinArgument)), Vector256<float>.Zero, scaled);
        scaled = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(MaxArgument)),
            Vector256.Create(float.PositiveInfinity), scaled);
        return scaled;
    }

    /// <summary>e^x for each lane of a double vector (Vector256.Exp).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Exp(Vector256<double> x) => Vector256.Exp(x);

    /// <summary>e^x for a Vector256 of float or double (the JIT keeps only the branch of T).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Exp<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Exp(x.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double)) return Exp(x.As<T, double>()).As<double, T>();
        throw new NotSupportedException($"VectorMath.Exp runs on float or double, not {typeof(T).Name}.");
    }

    /// <summary>y = e^x over a span (x and y may be the same span).</summary>
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            TensorPrimitives.Exp(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else if (typeof(T) == typeof(double))
            TensorPrimitives.Exp(MemoryMarshal.Cast<T, double>(x), MemoryMarshal.Cast<T, double>(y));
        else
            TensorPrimitives.Exp(x, y);
    }

    /// <summary>y = ln x over a span (x and y may be the same span).</summary>
    public static void Log<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            TensorPrimitives.Log(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else if (typeof(T) == typeof(double))
            TensorPrimitives.Log(MemoryMarshal.Cast<T, double>(x), MemoryMarshal.Cast<T, double>(y));
        else
            TensorPrimitives.Log(x, y);
    }
}
