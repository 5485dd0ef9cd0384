// Elementary functions on one Vector256, for kernels that need them inside a register-resident
// loop (the selective scan's decays exp(Delta A), online-softmax rescales) where calling a span
// routine would mean a round trip through memory per element.
//
// Exp(float): Cody-Waite reduction x = k ln2 + r with ln2 split in two (the high part has 9
// significant bits, so k ln2_hi is exact for |k| <= 2^15), |r| <= ln2/2, then
// e^r = 1 + r + r^2 P(r) with Cephes' degree-5 minimax P (S. Moshier, Cephes expf, evaluated by
// Estrin's scheme), and 2^k put into the exponent field. Max error about 1 ulp over the normal range (tested against Math.Exp
// rounded to float). Results for x < -87 (below 1.6e-38, near the smallest normal float) flush to
// 0, x above 88.7228 (where e^x reaches float.MaxValue) gives +inf, NaN stays NaN. Everything is plain Vector256 arithmetic, so it runs, with the
// same results, whether or not the JIT has AVX2/FMA (FusedMultiplyAdd falls back to the exact
// scalar fused operation).
//
// Exp(double) is the same scheme with a degree-13 Taylor polynomial. (Vector256.Exp's float overload
// widens to double, its double overload is an out-of-line call; figures in bench/NOTES.md,
// "Vector exponential".)
//
// Exp/Log over spans route T = float/double to the non-generic TensorPrimitives overloads, which are
// vectorized; the generic TensorPrimitives.Exp<T> makes one scalar call per element.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
        // e^r = 1 + r + r^2 P(r), P(r) = p0 + p1 r + ... + p5 r^5 by Estrin's scheme (pairs, then r^2
        // powers): three dependent FMAs instead of Horner's six. The exp is latency bound wherever it
        // sits in a loop-carried chain, so the shorter chain is the faster one (bench/NOTES.md).
        var r2 = r * r;
        var p01 = Vector256.FusedMultiplyAdd(Vector256.Create(1.6666665459E-1f), r, Vector256.Create(5.0000001201E-1f));
        var p23 = Vector256.FusedMultiplyAdd(Vector256.Create(8.3334519073E-3f), r, Vector256.Create(4.1665795894E-2f));
        var p45 = Vector256.FusedMultiplyAdd(Vector256.Create(1.9875691500E-4f), r, Vector256.Create(1.3981999507E-3f));
        var p = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(p45, r2, p23), r2, p01);
        var er = Vector256.FusedMultiplyAdd(p, r2, r) + Vector256<float>.One;
        // 2^k: k (an integer in [-126, 128]) added to the exponent field of e^r in [0.70, 1.42].
        // k = 128 only for x within rounding of ln(float.MaxValue), where r < 0 keeps e^r <= 1.
        var kBits = t.AsInt32() - Vector256.Create(RoundingShift).AsInt32();
        var scaled = (er.AsInt32() + Vector256.ShiftLeft(kBits, 23)).AsSingle();
        scaled = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(MinArgument)), Vector256<float>.Zero, scaled);
        scaled = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(MaxArgument)),
            Vector256.Create(float.PositiveInfinity), scaled);
        return scaled;
    }

    private const double Log2EDouble = 1.4426950408889634074;
    private const double Ln2HighDouble = 0.693145751953125;              // Cephes' C1: n C1 exact for |n| <= 2^11
    private const double Ln2LowDouble = 1.42860682030941723212e-6;       // ln 2 - C1
    private const double RoundingShiftDouble = 6755399441055744.0;       // 1.5 * 2^52
    private const double MinArgumentDouble = -708.0;                     // e^-708 = 3.3e-308, just above the smallest normal
    private const double MaxArgumentDouble = 709.78271289338397;         // the double just below 1024 ln 2

    /// <summary>
    /// e^x for each lane of a double vector, inlined (Vector256.Exp(double) is an out-of-line call):
    /// the same reduction as the float kernel with Cephes' two-part ln 2, e^r by its Taylor polynomial
    /// to degree 13 (remainder (ln2/2)^14 / 14! &lt; 1e-17, below half an ulp), 2^k in the exponent
    /// field. About 1 ulp; x &lt; -708 (results below 3.3e-308) flushes to 0, x above 709.78 gives +inf.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Exp(Vector256<double> x)
    {
        var clamped = Vector256.Min(Vector256.Max(x, Vector256.Create(MinArgumentDouble)), Vector256.Create(MaxArgumentDouble));
        var t = Vector256.FusedMultiplyAdd(clamped, Vector256.Create(Log2EDouble), Vector256.Create(RoundingShiftDouble));
        var k = t - Vector256.Create(RoundingShiftDouble);
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2HighDouble), clamped);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2LowDouble), r);
        // Taylor coefficients 1/2! .. 1/13! (P(r) = sum_i r^i / (i + 2)!), evaluated by Estrin's scheme as for float.
        var r2 = r * r;
        var r4 = r2 * r2;
        var r8 = r4 * r4;
        var q0 = Vector256.FusedMultiplyAdd(Vector256.Create(1.0 / 6.0), r, Vector256.Create(0.5));
        var q1 = Vector256.FusedMultiplyAdd(Vector256.Create(1.0 / 120.0), r, Vector256.Create(1.0 / 24.0));
        var q2 = Vector256.FusedMultiplyAdd(Vector256.Create(1.0 / 5040.0), r, Vector256.Create(1.0 / 720.0));
        var q3 = Vector256.FusedMultiplyAdd(Vector256.Create(1.0 / 362880.0), r, Vector256.Create(1.0 / 40320.0));
        var q4 = Vector256.FusedMultiplyAdd(Vector256.Create(1.0 / 39916800.0), r, Vector256.Create(1.0 / 3628800.0));
        var q5 = Vector256.FusedMultiplyAdd(Vector256.Create(1.0 / 6227020800.0), r, Vector256.Create(1.0 / 479001600.0));
        var low = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(q3, r2, q2), r4, Vector256.FusedMultiplyAdd(q1, r2, q0));
        var high = Vector256.FusedMultiplyAdd(q5, r2, q4);
        var p = Vector256.FusedMultiplyAdd(high, r8, low);
        var er = Vector256.FusedMultiplyAdd(p, r2, r) + Vector256<double>.One;
        // As for float: k in [-1021, 1024] added to the exponent field of e^r in [0.70, 1.42].
        var kBits = t.AsInt64() - Vector256.Create(RoundingShiftDouble).AsInt64();
        var scaled = (er.AsInt64() + Vector256.ShiftLeft(kBits, 52)).AsDouble();
        scaled = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(MinArgumentDouble)), Vector256<double>.Zero, scaled);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(MaxArgumentDouble)),
            Vector256.Create(double.PositiveInfinity), scaled);
    }

    private const float Exp2MinArgument = -126f;                   // 2^-126: the smallest normal float
    private const float Exp2MaxArgument = 127.99999237060547f;      // the float just below 128

    /// <summary>
    /// 2^x for each lane of a float vector: x = n + f with n = round(x) and f = x - n exact in
    /// [-1/2, 1/2], 2^f by a degree-6 polynomial (relative least squares on [-1/2, 1/2], Estrin's
    /// scheme; 1.6e-8 before rounding), 2^n put into the exponent field. About 1 ulp. No split
    /// constant is needed (unlike e^x, whose reduction subtracts n ln 2), so the dependency chain is
    /// about half of <see cref="Exp(Vector256{float})"/>'s: kernels that need e^(a b) for many b with
    /// a fixed (the selective scan's decays) fold log2(e) into the fixed factor and call this.
    /// x &lt; -126 flushes to 0, x above 127.99999 gives +inf, NaN stays NaN (as for Exp).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp2(Vector256<float> x)
    {
        // MaxNative / MinNative with the constant first return the second operand, x, for NaN.
        var scaled = Exp2Core(Vector256.MinNative(Vector256.Create(Exp2MaxArgument), Vector256.MaxNative(Vector256.Create(Exp2MinArgument), x)));
        scaled = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Exp2MinArgument)), Vector256<float>.Zero, scaled);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(Exp2MaxArgument)), Vector256.Create(float.PositiveInfinity), scaled);
    }

    /// <summary>2^y for y in [-126, 128) (or NaN): the reduction, the polynomial and the exponent insertion of <see cref="Exp2(Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Exp2Core(Vector256<float> y)
    {
        var t = y + Vector256.Create(RoundingShift);
        var n = t - Vector256.Create(RoundingShift);
        var f = y - n;
        var f2 = f * f;
        var p01 = Vector256.FusedMultiplyAdd(Vector256.Create(6.931471825e-01f), f, Vector256<float>.One);
        var p23 = Vector256.FusedMultiplyAdd(Vector256.Create(5.550329015e-02f), f, Vector256.Create(2.402264625e-01f));
        var p45 = Vector256.FusedMultiplyAdd(Vector256.Create(1.339985989e-03f), f, Vector256.Create(9.618519805e-03f));
        var p46 = Vector256.FusedMultiplyAdd(Vector256.Create(1.533759787e-04f), f2, p45);
        var p = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(p46, f2, p23), f2, p01);
        // n in [-126, 128] added to the exponent field of 2^f in [0.70, 1.42] (n = 128 only with f < 0).
        var nBits = t.AsInt32() - Vector256.Create(RoundingShift).AsInt32();
        return (p.AsInt32() + Vector256.ShiftLeft(nBits, 23)).AsSingle();
    }

    /// <summary>
    /// 2^x for decay factors, x &lt;= 0: <see cref="Exp2(Vector256{float})"/> without its range selects
    /// (a third of its instructions). x below -126 gives 2^-126, the smallest normal float (a decay
    /// that has vanished: 1.2e-38 instead of a subnormal or 0, so the products that follow never meet
    /// subnormals); x in [-126, 128) is 2^x to about 1 ulp; above that the result is unspecified.
    /// NaN x gives NaN (the hardware's NaNs; a NaN with low payload bits set may not survive the
    /// exponent arithmetic, so callers keep NaN out of x, e.g. by validating their parameters).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp2Decay(Vector256<float> x) => Exp2Core(Vector256.MaxNative(Vector256.Create(Exp2MinArgument), x));

    /// <summary>
    /// 2^x for decay factors, x &lt;= 0, sixteen floats with AVX-512 (callers check
    /// <c>Avx512F.IsSupported</c>): the cheapest form that keeps a float32 scan within its bound. n =
    /// round(x) by one vrndscaleps, f = x - n in [-1/2, 1/2], 2^f by a degree-5 polynomial in Horner's
    /// form (relative minimax on [-1/2, 1/2] by Lawson's iteration: 9.2e-8 before rounding, 1.6e-7 =
    /// 1.35 ulp evaluated in float32), and 2^n applied by one vscalefps, which replaces the exponent-field
    /// arithmetic (three integer instructions) of <see cref="Exp2Decay(Vector256{float})"/>: 9
    /// instructions in all against 15. Degree 4 (2.9e-6) would save one FMA, but the scan's state
    /// carries the decays' errors over its memory (about 1 / (Delta |A|) steps, 100 and more for slow
    /// channels), which puts it past the float32 tier's 1e-5 relative bound; degree 5 stays ~100x below it
    /// (bench/NOTES.md, "Selective scan (S6)"). As for the Vector256 form, x below -126 gives 2^-126
    /// (no subnormal decays), NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp2Decay(Vector512<float> x)
    {
        var y = Avx512F.Max(Vector512.Create(Exp2MinArgument), x);
        var n = Avx512F.RoundScale(y, 0);   // imm 0: round to nearest even, keep 0 fraction bits
        var f = y - n;
        var p = Avx512F.FusedMultiplyAdd(Vector512.Create(1.3264631852507591e-03f), f, Vector512.Create(9.671486914157867e-03f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(5.550733581185341e-02f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(2.4022242426872253e-01f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(6.931470036506653e-01f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512<float>.One);
        return Avx512F.Scale(p, n);
    }

    /// <summary>The double form of <see cref="Exp2Decay(Vector256{float})"/>: x below -1022 gives 2^-1022.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Exp2Decay(Vector256<double> x) => Exp2Core(Vector256.MaxNative(Vector256.Create(Exp2MinArgumentDouble), x));

    /// <summary>2^x for decay factors (see <see cref="Exp2Decay(Vector256{float})"/>), float or double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Exp2Decay<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Exp2Decay(x.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double)) return Exp2Decay(x.As<T, double>()).As<double, T>();
        throw new NotSupportedException($"VectorMath.Exp2Decay runs on float or double, not {typeof(T).Name}.");
    }

    private const double Exp2MinArgumentDouble = -1022.0;                 // 2^-1022: the smallest normal double
    private const double Exp2MaxArgumentDouble = 1023.9999999999999;      // the double just below 1024

    /// <summary>
    /// 2^x for each lane of a double vector: the float kernel's scheme with 2^f = e^(f ln 2) by its
    /// Taylor polynomial to degree 13 (remainder (ln2/2)^14 / 14! &lt; 5e-18), Estrin's scheme. About
    /// 1 ulp; x &lt; -1022 flushes to 0, x above 1023.9999999999999 gives +inf, NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Exp2(Vector256<double> x)
    {
        var scaled = Exp2Core(Vector256.MinNative(Vector256.Create(Exp2MaxArgumentDouble), Vector256.MaxNative(Vector256.Create(Exp2MinArgumentDouble), x)));
        scaled = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Exp2MinArgumentDouble)), Vector256<double>.Zero, scaled);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(Exp2MaxArgumentDouble)),
            Vector256.Create(double.PositiveInfinity), scaled);
    }

    /// <summary>2^y for y in [-1022, 1024) (or NaN): the reduction, the polynomial and the exponent insertion of <see cref="Exp2(Vector256{double})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Exp2Core(Vector256<double> y)
    {
        var t = y + Vector256.Create(RoundingShiftDouble);
        var n = t - Vector256.Create(RoundingShiftDouble);
        var f = y - n;
        var f2 = f * f;
        var f4 = f2 * f2;
        var f8 = f4 * f4;
        // Coefficients (ln 2)^i / i!, i = 0..13, in pairs.
        var q0 = Vector256.FusedMultiplyAdd(Vector256.Create(0.6931471805599453), f, Vector256<double>.One);
        var q1 = Vector256.FusedMultiplyAdd(Vector256.Create(0.055504108664821576), f, Vector256.Create(0.2402265069591007));
        var q2 = Vector256.FusedMultiplyAdd(Vector256.Create(0.0013333558146428441), f, Vector256.Create(0.009618129107628477));
        var q3 = Vector256.FusedMultiplyAdd(Vector256.Create(1.5252733804059838e-05), f, Vector256.Create(0.00015403530393381606));
        var q4 = Vector256.FusedMultiplyAdd(Vector256.Create(1.0178086009239696e-07), f, Vector256.Create(1.3215486790144305e-06));
        var q5 = Vector256.FusedMultiplyAdd(Vector256.Create(4.44553827187081e-10), f, Vector256.Create(7.054911620801121e-09));
        var q6 = Vector256.FusedMultiplyAdd(Vector256.Create(1.3691488853904124e-12), f, Vector256.Create(2.5678435993488196e-11));
        var low = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(q3, f2, q2), f4, Vector256.FusedMultiplyAdd(q1, f2, q0));
        var high = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(q6, f2, q5), f2, q4);
        var p = Vector256.FusedMultiplyAdd(high, f8, low);
        var nBits = t.AsInt64() - Vector256.Create(RoundingShiftDouble).AsInt64();
        return (p.AsInt64() + Vector256.ShiftLeft(nBits, 52)).AsDouble();
    }

    /// <summary>2^x for a Vector256 of float or double (the JIT keeps only the branch of T).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Exp2<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Exp2(x.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double)) return Exp2(x.As<T, double>()).As<double, T>();
        throw new NotSupportedException($"VectorMath.Exp2 runs on float or double, not {typeof(T).Name}.");
    }

    /// <summary>e^x for a Vector256 of float or double (the JIT keeps only the branch of T).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Exp<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Exp(x.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double)) return Exp(x.As<T, double>()).As<double, T>();
        throw new NotSupportedException($"VectorMath.Exp runs on float or double, not {typeof(T).Name}.");
    }

    /// <summary>
    /// ln x for a Vector256 of float or double: the runtime's vectorized Vector256.Log (a few ulp), for
    /// kernels that need one log per vector outside their innermost loop (the scan's softplus).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Log<T>(Vector256<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Vector256.Log(x.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector256.Log(x.As<T, double>()).As<double, T>();
        throw new NotSupportedException($"VectorMath.Log runs on float or double, not {typeof(T).Name}.");
    }

    /// <summary>
    /// y = e^x over a span (x and y may be the same span). float: TensorPrimitives.Exp. double: the runtime's Vector256.Exp
    /// in fixed groups of 4 from index 0, the last partial group zero-padded. TensorPrimitives.Exp on double computes a whole
    /// vector by scalar code when one lane is beyond about +-708 (a masked score, a fast-decaying mode) and, on spans longer
    /// than 8 vectors, groups the elements by the span's address alignment: the same row then rounded differently in the
    /// last bit at another address (another thread's buffer, after a GC), against the fast tier's bit-for-bit repeatability
    /// (bench/NOTES.md, detbits). Its float Exp showed no such dependence (probed at 16 offsets, values beyond +-88 mixed in).
    /// </summary>
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            TensorPrimitives.Exp(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else if (typeof(T) == typeof(double))
            ExpFixedGroups(MemoryMarshal.Cast<T, double>(x), MemoryMarshal.Cast<T, double>(y));
        else
            TensorPrimitives.Exp(x, y);
    }

    /// <summary>Beyond this |x| a pair of groups of 4 is computed group by group (<see cref="ExpTwoGroups"/>).</summary>
    private const double ExpGroupPairLimit = 700.0;

    /// <summary>
    /// e^x for two consecutive groups of 4 of <see cref="Exp{T}(ReadOnlySpan{T}, Span{T})"/>'s float64 grouping, bitwise what the
    /// two Vector256.Exp calls give: Vector512.Exp is the same per-lane computation wherever no lane leaves the vector code's
    /// range (|x| up to about 708); a pair with a lane beyond +-700 (or NaN) runs as its two groups, so that a fallback to
    /// scalar code covers the same 4 values as on the 4-wide path. For kernels that fuse the exp into a Vector512 loop whose
    /// vectors start at a multiple of 8 from their span's index 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> ExpTwoGroups(Vector512<double> x)
    {
        if (Vector512.GreaterThanAny(Vector512.Abs(x), Vector512.Create(ExpGroupPairLimit)) || !Vector512.EqualsAll(x, x))
            return Vector512.Create(Vector256.Exp(x.GetLower()), Vector256.Exp(x.GetUpper()));
        return Vector512.Exp(x);
    }

    /// <summary>e^x in Vector256 groups of 4 from index 0 (see <see cref="Exp{T}(ReadOnlySpan{T}, Span{T})"/>); where Vector512 is accelerated, pairs of groups whose lanes are all within +-700 as one Vector512 (the same bits).</summary>
    private static void ExpFixedGroups(ReadOnlySpan<double> x, Span<double> y)
    {
        int n = x.Length, w = Vector256<double>.Count, i = 0;
        if (y.Length < n) throw new ArgumentException($"y has {y.Length} elements; expected at least {n} (x's).", nameof(y));
        if (Vector512.IsHardwareAccelerated)
        {
            // Two groups of 4 at once: Vector512.Exp is the same per-lane computation as Vector256.Exp wherever no lane leaves
            // the vector code's range (|x| up to about 708), so the same bits; a pair with a lane beyond +-700 runs as its two
            // groups of 4, so that a fallback to scalar code covers the same 4 values as on the 4-wide path.
            for (; i + 2 * w <= n; i += 2 * w) ExpTwoGroups(Vector512.Create(x.Slice(i))).CopyTo(y.Slice(i));
        }
        for (; i + w <= n; i += w) Vector256.Exp(Vector256.Create(x.Slice(i))).CopyTo(y.Slice(i));
        if (i == n) return;
        Span<double> tail = stackalloc double[4];
        tail.Clear();
        x[i..].CopyTo(tail);
        Vector256.Exp(Vector256.Create((ReadOnlySpan<double>)tail)).CopyTo(tail);
        tail[..(n - i)].CopyTo(y[i..]);
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

    /// <summary>a b + c with one rounding per lane, for a Vector256 of float or double (the JIT keeps only the branch of T).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> FusedMultiplyAdd<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException($"VectorMath.FusedMultiplyAdd runs on float or double, not {typeof(T).Name}.");
    }
}
