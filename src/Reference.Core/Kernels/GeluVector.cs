using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Reference.Core.Kernels;

/// <summary>
/// GELU(x) = x Phi(x) and its derivative Phi(x) + x phi(x) in float64 SIMD lanes (Vector512, else Vector256, else scalar):
/// the same three-interval Cody evaluation as <see cref="ScalarMath.NormalCdf"/> (z = -x / sqrt 2):
///   |z| &lt;= 0.46875:  Phi = (1 - erf(z)) / 2,      erf(z) = z P1(z^2) / Q1(z^2);
///   |z| &gt; 0.46875:   t = exp(-x^2 / 2) erfcx(|z|)  (0 from |z| = 26.543 on, where erfc underflows),
///                     Phi = t / 2 for z &gt; 0, 1 - t / 2 for z &lt; 0;
/// erfcx(|z|) = exp(z^2) erfc(|z|) by Cody's second (|z| &lt;= 4) or third rational function, and
/// phi(x) = exp(-x^2 / 2) / sqrt(2 pi). A vector evaluates every rational function one of its lanes
/// needs and the blend keeps the one each lane's interval uses (no per-element branches; the third
/// interval, |x| &gt; 5.66, is skipped when no lane reaches it). exp(-x^2 / 2) keeps the rounding of x^2
/// out of the exponent as <see cref="ScalarMath"/>'s table split does, by the exact product
/// x^2 = hi + lo (lo = fma(x, x, -hi)). The differences from the scalar path: the vector exp (1-2 ulp), z = x (-1 / sqrt 2) by one
/// multiplication instead of a division, and each polynomial of the rational functions in Horner form with
/// fused multiply-adds (one rounding per step instead of two): 25 % less time per element than the separate
/// multiplications and additions and the division (bench/NOTES.md, h3qkv).
/// The Vector512 path computes exp(-(hi + lo) / 2) inline by a 16-entry table (<see cref="ExpMinusHalfSquare512"/>,
/// lo / 2 folded into the reduced argument) instead of the runtime's out-of-line Vector512.Exp times (1 - lo / 2), and
/// forms GELU' = Phi + x (phi) with one fused multiply-add (bench/NOTES.md, h3gelu); the Vector256 path is unchanged.
/// Results agree with <see cref="NaiveActivations.Gelu(double)"/> to a few ulp (tests: Fast vs Naive, 1e-13).
/// </summary>
internal static class GeluVector
{
    private const double SmallLimit = 0.46875, ErfcZeroLimit = 26.543, DensityZeroLimit = 40.0;
    private const double InvSqrtPi = 0.56418958354775628695;
    /// <summary>-1 / sqrt 2 rounded: z = x (-1 / sqrt 2) is a multiplication (within an ulp of the scalar path's -x / sqrt 2).</summary>
    private const double MinusInvSqrt2 = -0.70710678118654752440;

    /// <summary>The Vector512 path: its exp uses AVX-512F's vpermi2pd and vscalefpd (every host that accelerates Vector512 has them).</summary>
    private static bool Use512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>y = GELU(x), float64, x and y of equal length (may be the same span).</summary>
    public static void Forward(ReadOnlySpan<double> x, Span<double> y)
    {
        int i = 0;
        if (Use512) Forward512(x, y, ref i);
        else if (Vector256.IsHardwareAccelerated) Forward256(x, y, ref i);
        for (; i < x.Length; i++) y[i] = NaiveActivations.Gelu(x[i]);
    }

    /// <summary>dx = dy (Phi(x) + x phi(x)), float64; dx may alias x or dy.</summary>
    public static void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx)
    {
        int i = 0;
        if (Use512) Backward512(x, dy, dx, ref i);
        else if (Vector256.IsHardwareAccelerated) Backward256(x, dy, dx, ref i);
        for (; i < x.Length; i++) dx[i] = dy[i] * NaiveActivations.GeluDerivative(x[i]);
    }

    /// <summary>
    /// y = GELU(x) and d = GELU'(x) = Phi(x) + x phi(x) in one pass (one erf evaluation for both), float64;
    /// d is the exact factor <see cref="Backward"/> multiplies dy by, so dy * d equals Backward's dx bitwise.
    /// </summary>
    public static void ForwardWithDerivative(ReadOnlySpan<double> x, Span<double> y, Span<double> d)
    {
        int i = 0;
        if (Use512)
        {
            var xs = MemoryMarshal.Cast<double, Vector512<double>>(x);
            var ys = MemoryMarshal.Cast<double, Vector512<double>>(y);
            var ds = MemoryMarshal.Cast<double, Vector512<double>>(d);
            for (int v = 0; v < xs.Length; v++, i += Vector512<double>.Count)
            {
                var xv = xs[v];
                var cdf = Cdf512(xv, out var e);
                ys[v] = xv * cdf;
                ds[v] = Vector512.FusedMultiplyAdd(xv, Vector512.Create(ScalarMath.InvSqrt2Pi) * e, cdf);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var xs = MemoryMarshal.Cast<double, Vector256<double>>(x);
            var ys = MemoryMarshal.Cast<double, Vector256<double>>(y);
            var ds = MemoryMarshal.Cast<double, Vector256<double>>(d);
            for (int v = 0; v < xs.Length; v++, i += Vector256<double>.Count)
            {
                var xv = xs[v];
                var cdf = Cdf256(xv, out var e);
                ys[v] = xv * cdf;
                ds[v] = cdf + xv * (Vector256.Create(ScalarMath.InvSqrt2Pi) * e);
            }
        }
        for (; i < x.Length; i++)
        {
            y[i] = NaiveActivations.Gelu(x[i]);
            d[i] = NaiveActivations.GeluDerivative(x[i]);
        }
    }

    private static void Forward512(ReadOnlySpan<double> x, Span<double> y, ref int i)
    {
        var xs = MemoryMarshal.Cast<double, Vector512<double>>(x);
        var ys = MemoryMarshal.Cast<double, Vector512<double>>(y);
        for (int v = 0; v < xs.Length; v++, i += Vector512<double>.Count)
        {
            var xv = xs[v];
            ys[v] = xv * Cdf512(xv, out _);
        }
    }

    private static void Backward512(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, ref int i)
    {
        var xs = MemoryMarshal.Cast<double, Vector512<double>>(x);
        var dys = MemoryMarshal.Cast<double, Vector512<double>>(dy);
        var dxs = MemoryMarshal.Cast<double, Vector512<double>>(dx);
        for (int v = 0; v < xs.Length; v++, i += Vector512<double>.Count)
        {
            var xv = xs[v];
            var cdf = Cdf512(xv, out var e);
            dxs[v] = dys[v] * Vector512.FusedMultiplyAdd(xv, Vector512.Create(ScalarMath.InvSqrt2Pi) * e, cdf);
        }
    }

    /// <summary>Phi(x) per lane; <paramref name="e"/> = exp(-x^2 / 2) (0 from |x| = 40 on, and for non-finite x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Cdf512(Vector512<double> x, out Vector512<double> e)
    {
        var z = x * Vector512.Create(MinusInvSqrt2);
        var az = Vector512.Abs(z);
        var hi = x * x;
        var lo = Vector512.FusedMultiplyAdd(x, x, -hi);
        e = ExpMinusHalfSquare512(hi, lo);
        e = Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Abs(x), Vector512.Create(DensityZeroLimit)), e, Vector512<double>.Zero);

        var half = Vector512.Create(0.5);
        // Each lane needs one of the two rational functions' quotients (erf's near 0, erfcx's beyond): their
        // numerators and denominators are selected per lane and divided once (the same division per lane as
        // dividing each and selecting after, so the same bits, for one vector division instead of two).
        var isSmall = Vector512.LessThanOrEqual(az, Vector512.Create(SmallLimit));
        var a = Vector512.Max(az, Vector512.Create(SmallLimit));
        var (smallNum, smallDen) = ErfSmallParts512(z);
        var (middleNum, middleDen) = ErfcScaledParts512(a);
        var quotient = Vector512.ConditionalSelect(isSmall, smallNum, middleNum) / Vector512.ConditionalSelect(isSmall, smallDen, middleDen);
        // (1 - q) / 2 with one rounding: the same value as rounding 1 - q and halving it exactly.
        var small = Vector512.FusedMultiplyAdd(-half, quotient, half);
        var tail = e * ErfcScaledFar512(a, quotient);
        tail = Vector512.ConditionalSelect(Vector512.LessThan(az, Vector512.Create(ErfcZeroLimit)), tail, Vector512<double>.Zero);
        var halfTail = half * tail;
        var large = Vector512.ConditionalSelect(Vector512.GreaterThan(z, Vector512<double>.Zero), halfTail, Vector512<double>.One - halfTail);
        var cdf = Vector512.ConditionalSelect(isSmall, small, large);
        // NaN in, NaN out (every comparison above is false for NaN and would pick the large branch).
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), cdf, x);
    }

    /// <summary>2^(j / 16), j = 0..7 and 8..15, correctly rounded (the two halves of <see cref="ExpMinusHalfSquare512"/>'s table).</summary>
    private static readonly Vector512<double> ExpTableLow = Vector512.Create(
        1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916, 1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927);
    private static readonly Vector512<double> ExpTableHigh = Vector512.Create(
        1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543, 1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474);
    private const double SixteenOverLn2 = 23.083120654223414, Ln2Over16High = 0.04332169878499658, Ln2Over16Low = 1.4494042586539372e-18;
    /// <summary>1.5 * 2^52: adding it rounds to an integer and leaves that integer (mod 2^51) in the low mantissa bits.</summary>
    private const double RoundingShift = 6755399441055744.0;

    /// <summary>
    /// exp(-(hi + lo) / 2) for the exact square x^2 = hi + lo (hi &gt;= 0), inline (the runtime's Vector512.Exp is an
    /// out-of-line call here, with the loop's live vectors spilled around it, and about twice the operations): the
    /// table method (Tang 1989, ACM TOMS 15(2), 144-157) with 16 entries. n = round(-hi / 2 * 16 / ln 2), r = -hi / 2 -
    /// n ln2 / 16 by two fused steps (|r| &lt;= ln2 / 32 + a rounding) minus lo / 2, which replaces the old (1 - lo / 2)
    /// factor: -hi / 2 is exact and lo / 2 is folded into the reduced argument. e^r - 1 by its Taylor polynomial of degree 7
    /// (truncation r^8 / 8! &lt;= 1.2e-18), 2^((n mod 16) / 16) from the table (vpermi2pd on n's low four bits), and
    /// 2^floor(n / 16) by vscalefpd, which rounds gradually into the subnormals and to 0 (hi &gt; 1490). About 1 ulp: the
    /// table entry's and the final product's roundings. Needs AVX-512F (Vector512 hosts have it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> ExpMinusHalfSquare512(Vector512<double> hi, Vector512<double> lo)
    {
        var y = Vector512.Create(-0.5) * hi;
        var shifted = Vector512.FusedMultiplyAdd(y, Vector512.Create(SixteenOverLn2), Vector512.Create(RoundingShift));
        var n = shifted - Vector512.Create(RoundingShift);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Over16High), y);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Over16Low), r);
        r = Vector512.FusedMultiplyAdd(lo, Vector512.Create(-0.5), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.0 / 5040), r, Vector512.Create(1.0 / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        var expm1 = p * r;
        var entry = Avx512F.PermuteVar8x64x2(ExpTableLow, shifted.AsInt64(), ExpTableHigh);
        return Avx512F.Scale(Vector512.FusedMultiplyAdd(entry, expm1, entry), n * Vector512.Create(0.0625));
    }

    /// <summary>erf(z) for |z| &lt;= 0.46875 as Cody's first-interval quotient z P1(z^2) / Q1(z^2), (numerator, denominator).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<double> Num, Vector512<double> Den) ErfSmallParts512(Vector512<double> z)
    {
        var y = z * z;
        var num = Vector512.FusedMultiplyAdd(Vector512.Create(1.85777706184603153e-1), y, Vector512.Create(3.16112374387056560e00));
        var den = y + Vector512.Create(2.36012909523441209e01);
        num = Vector512.FusedMultiplyAdd(num, y, Vector512.Create(1.13864154151050156e02)); den = Vector512.FusedMultiplyAdd(den, y, Vector512.Create(2.44024637934444173e02));
        num = Vector512.FusedMultiplyAdd(num, y, Vector512.Create(3.77485237685302021e02)); den = Vector512.FusedMultiplyAdd(den, y, Vector512.Create(1.28261652607737228e03));
        return (z * Vector512.FusedMultiplyAdd(num, y, Vector512.Create(3.20937758913846947e03)), Vector512.FusedMultiplyAdd(den, y, Vector512.Create(2.84423683343917062e03)));
    }

    /// <summary>erfcx(a) on Cody's second interval (a &lt;= 4) as its quotient (numerator, denominator).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<double> Num, Vector512<double> Den) ErfcScaledParts512(Vector512<double> a)
    {
        var num = Vector512.FusedMultiplyAdd(Vector512.Create(2.15311535474403846e-8), a, Vector512.Create(5.64188496988670089e-1));
        var den = a + Vector512.Create(1.57449261107098347e01);
        num = Vector512.FusedMultiplyAdd(num, a, Vector512.Create(8.88314979438837594e00)); den = Vector512.FusedMultiplyAdd(den, a, Vector512.Create(1.17693950891312499e02));
        num = Vector512.FusedMultiplyAdd(num, a, Vector512.Create(6.61191906371416295e01)); den = Vector512.FusedMultiplyAdd(den, a, Vector512.Create(5.37181101862009858e02));
        num = Vector512.FusedMultiplyAdd(num, a, Vector512.Create(2.98635138197400131e02)); den = Vector512.FusedMultiplyAdd(den, a, Vector512.Create(1.62138957456669019e03));
        num = Vector512.FusedMultiplyAdd(num, a, Vector512.Create(8.81952221241769090e02)); den = Vector512.FusedMultiplyAdd(den, a, Vector512.Create(3.29079923573345963e03));
        num = Vector512.FusedMultiplyAdd(num, a, Vector512.Create(1.71204761263407058e03)); den = Vector512.FusedMultiplyAdd(den, a, Vector512.Create(4.36261909014324716e03));
        num = Vector512.FusedMultiplyAdd(num, a, Vector512.Create(2.05107837782607147e03)); den = Vector512.FusedMultiplyAdd(den, a, Vector512.Create(3.43936767414372164e03));
        return (Vector512.FusedMultiplyAdd(num, a, Vector512.Create(1.23033935479799725e03)), Vector512.FusedMultiplyAdd(den, a, Vector512.Create(1.23033935480374942e03)));
    }

    /// <summary>erfcx(a) for a &gt;= 0.46875 given the second interval's quotient <paramref name="middle"/>: Cody's third interval where a &gt; 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> ErfcScaledFar512(Vector512<double> a, Vector512<double> middle)
    {
        var farLanes = Vector512.GreaterThan(a, Vector512.Create(4.0));
        return farLanes == Vector512<double>.Zero ? middle : ErfcScaledFarLanes512(a, middle, farLanes);
    }

    /// <summary>The far lanes of <see cref="ErfcScaledFar512"/> (rare: |x| &gt; 5.66), kept out of line so the common path inlines small.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector512<double> ErfcScaledFarLanes512(Vector512<double> a, Vector512<double> middle, Vector512<double> farLanes)
    {
        var z = Vector512<double>.One / (a * a);
        var num = Vector512.FusedMultiplyAdd(Vector512.Create(1.63153871373020978e-2), z, Vector512.Create(3.05326634961232344e-1));
        var den = z + Vector512.Create(2.56852019228982242e00);
        num = Vector512.FusedMultiplyAdd(num, z, Vector512.Create(3.60344899949804439e-1)); den = Vector512.FusedMultiplyAdd(den, z, Vector512.Create(1.87295284992346047e00));
        num = Vector512.FusedMultiplyAdd(num, z, Vector512.Create(1.25781726111229246e-1)); den = Vector512.FusedMultiplyAdd(den, z, Vector512.Create(5.27905102951428412e-1));
        num = Vector512.FusedMultiplyAdd(num, z, Vector512.Create(1.60837851487422766e-2)); den = Vector512.FusedMultiplyAdd(den, z, Vector512.Create(6.05183413124413191e-2));
        var r = z * Vector512.FusedMultiplyAdd(num, z, Vector512.Create(6.58749161529837803e-4)) / Vector512.FusedMultiplyAdd(den, z, Vector512.Create(2.33520497626869185e-3));
        var far = (Vector512.Create(InvSqrtPi) - r) / a;
        return Vector512.ConditionalSelect(farLanes, far, middle);
    }

    private static void Forward256(ReadOnlySpan<double> x, Span<double> y, ref int i)
    {
        var xs = MemoryMarshal.Cast<double, Vector256<double>>(x);
        var ys = MemoryMarshal.Cast<double, Vector256<double>>(y);
        for (int v = 0; v < xs.Length; v++, i += Vector256<double>.Count)
        {
            var xv = xs[v];
            ys[v] = xv * Cdf256(xv, out _);
        }
    }

    private static void Backward256(ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, ref int i)
    {
        var xs = MemoryMarshal.Cast<double, Vector256<double>>(x);
        var dys = MemoryMarshal.Cast<double, Vector256<double>>(dy);
        var dxs = MemoryMarshal.Cast<double, Vector256<double>>(dx);
        for (int v = 0; v < xs.Length; v++, i += Vector256<double>.Count)
        {
            var xv = xs[v];
            var cdf = Cdf256(xv, out var e);
            dxs[v] = dys[v] * (cdf + xv * (Vector256.Create(ScalarMath.InvSqrt2Pi) * e));
        }
    }

    /// <summary>Phi(x) per lane; <paramref name="e"/> = exp(-x^2 / 2) (0 from |x| = 40 on, and for non-finite x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Cdf256(Vector256<double> x, out Vector256<double> e)
    {
        var z = x * Vector256.Create(MinusInvSqrt2);
        var az = Vector256.Abs(z);
        var hi = x * x;
        var lo = Vector256.FusedMultiplyAdd(x, x, -hi);
        e = Vector256.Exp(Vector256.Create(-0.5) * hi) * (Vector256<double>.One - Vector256.Create(0.5) * lo);
        e = Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs(x), Vector256.Create(DensityZeroLimit)), e, Vector256<double>.Zero);

        var half = Vector256.Create(0.5);
        var small = half * (Vector256<double>.One - ErfSmall256(z));
        var tail = e * ErfcScaled256(Vector256.Max(az, Vector256.Create(SmallLimit)));
        tail = Vector256.ConditionalSelect(Vector256.LessThan(az, Vector256.Create(ErfcZeroLimit)), tail, Vector256<double>.Zero);
        var large = Vector256.ConditionalSelect(Vector256.GreaterThan(z, Vector256<double>.Zero), half * tail, Vector256<double>.One - half * tail);
        var cdf = Vector256.ConditionalSelect(Vector256.LessThanOrEqual(az, Vector256.Create(SmallLimit)), small, large);
        // NaN in, NaN out (every comparison above is false for NaN and would pick the large branch).
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), cdf, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ErfSmall256(Vector256<double> z)
    {
        var y = z * z;
        var num = Vector256.FusedMultiplyAdd(Vector256.Create(1.85777706184603153e-1), y, Vector256.Create(3.16112374387056560e00));
        var den = y + Vector256.Create(2.36012909523441209e01);
        num = Vector256.FusedMultiplyAdd(num, y, Vector256.Create(1.13864154151050156e02)); den = Vector256.FusedMultiplyAdd(den, y, Vector256.Create(2.44024637934444173e02));
        num = Vector256.FusedMultiplyAdd(num, y, Vector256.Create(3.77485237685302021e02)); den = Vector256.FusedMultiplyAdd(den, y, Vector256.Create(1.28261652607737228e03));
        return z * Vector256.FusedMultiplyAdd(num, y, Vector256.Create(3.20937758913846947e03)) / Vector256.FusedMultiplyAdd(den, y, Vector256.Create(2.84423683343917062e03));
    }

    /// <summary>exp(a^2) erfc(a) for a &gt;= 0.46875: Cody's second interval up to 4, his third beyond (evaluated only when a lane is there).</summary>
    private static Vector256<double> ErfcScaled256(Vector256<double> a)
    {
        var num = Vector256.FusedMultiplyAdd(Vector256.Create(2.15311535474403846e-8), a, Vector256.Create(5.64188496988670089e-1));
        var den = a + Vector256.Create(1.57449261107098347e01);
        num = Vector256.FusedMultiplyAdd(num, a, Vector256.Create(8.88314979438837594e00)); den = Vector256.FusedMultiplyAdd(den, a, Vector256.Create(1.17693950891312499e02));
        num = Vector256.FusedMultiplyAdd(num, a, Vector256.Create(6.61191906371416295e01)); den = Vector256.FusedMultiplyAdd(den, a, Vector256.Create(5.37181101862009858e02));
        num = Vector256.FusedMultiplyAdd(num, a, Vector256.Create(2.98635138197400131e02)); den = Vector256.FusedMultiplyAdd(den, a, Vector256.Create(1.62138957456669019e03));
        num = Vector256.FusedMultiplyAdd(num, a, Vector256.Create(8.81952221241769090e02)); den = Vector256.FusedMultiplyAdd(den, a, Vector256.Create(3.29079923573345963e03));
        num = Vector256.FusedMultiplyAdd(num, a, Vector256.Create(1.71204761263407058e03)); den = Vector256.FusedMultiplyAdd(den, a, Vector256.Create(4.36261909014324716e03));
        num = Vector256.FusedMultiplyAdd(num, a, Vector256.Create(2.05107837782607147e03)); den = Vector256.FusedMultiplyAdd(den, a, Vector256.Create(3.43936767414372164e03));
        var middle = (Vector256.FusedMultiplyAdd(num, a, Vector256.Create(1.23033935479799725e03))) / Vector256.FusedMultiplyAdd(den, a, Vector256.Create(1.23033935480374942e03));
        var farLanes = Vector256.GreaterThan(a, Vector256.Create(4.0));
        if (farLanes == Vector256<double>.Zero) return middle;

        var z = Vector256<double>.One / (a * a);
        num = Vector256.FusedMultiplyAdd(Vector256.Create(1.63153871373020978e-2), z, Vector256.Create(3.05326634961232344e-1));
        den = z + Vector256.Create(2.56852019228982242e00);
        num = Vector256.FusedMultiplyAdd(num, z, Vector256.Create(3.60344899949804439e-1)); den = Vector256.FusedMultiplyAdd(den, z, Vector256.Create(1.87295284992346047e00));
        num = Vector256.FusedMultiplyAdd(num, z, Vector256.Create(1.25781726111229246e-1)); den = Vector256.FusedMultiplyAdd(den, z, Vector256.Create(5.27905102951428412e-1));
        num = Vector256.FusedMultiplyAdd(num, z, Vector256.Create(1.60837851487422766e-2)); den = Vector256.FusedMultiplyAdd(den, z, Vector256.Create(6.05183413124413191e-2));
        var r = z * Vector256.FusedMultiplyAdd(num, z, Vector256.Create(6.58749161529837803e-4)) / Vector256.FusedMultiplyAdd(den, z, Vector256.Create(2.33520497626869185e-3));
        var far = (Vector256.Create(InvSqrtPi) - r) / a;
        return Vector256.ConditionalSelect(farLanes, far, middle);
    }
}
