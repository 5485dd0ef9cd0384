using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reference.Core.Kernels;

/// <summary>
/// Fast tier of <see cref="NaiveActivations"/> (same definitions, same backward conventions:
/// Sigmoid and Tanh backward read the output y, the others the input x), generic over float and
/// double. Input and output may be the same span (in-place).
/// <para>
/// Relu, GeluTanh, Silu, Sigmoid and Tanh are compositions of TensorPrimitives calls over blocks of
/// <see cref="Block"/> elements staged in stack buffers (no allocation, L1-resident); Sigmoid is
/// 1 / (1 + exp(-x)), which saturates to 0 or 1 without overflow trouble (exp(-x) = Inf gives 0).
/// In float64 every exp runs in fixed groups of 4 from index 0 (<see cref="VectorMath.Exp{T}(ReadOnlySpan{T}, Span{T})"/>),
/// not through TensorPrimitives' Sigmoid/Tanh, whose results depended on the span's address (<see cref="SigmoidSpan{T}"/>). Gelu in float64 is Cody's erf in SIMD lanes (<see cref="GeluVector"/>). Gelu in float32, LogSigmoid and Softplus (log1p) and Elu (expm1)
/// need functions TensorPrimitives lacks in accurate form (its LogP1/ExpM1 are log(1 + x) and
/// exp(x) - 1, which lose all digits near 0), so they run the naive float64 scalar function per
/// element, rounded once to T (float32 results are then correctly rounded up to one ulp), with long
/// inputs split over the cores.
/// </para>
/// </summary>
public static class FastActivations
{
    private const int Block = 256;

    public static void Relu<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        TensorPrimitives.Max(x, T.Zero, y);
    }

    /// <summary>GELU; float64 runs <see cref="GeluVector"/> (Cody's erf in SIMD lanes), float32 the scalar float64 function.</summary>
    public static unsafe void Gelu<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(double))
        {
            MapScalar<T, GeluOp>(x, y);
            return;
        }
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        fixed (T* px = x, py = y)
        {
            nint ax = (nint)px, ay = (nint)py;
            RowParallel.For(x.Length, x.Length, (first, count) =>
                GeluVector.Forward(new ReadOnlySpan<double>((double*)ax + first, count), new Span<double>((double*)ay + first, count)));
        }
    }
    /// <summary>
    /// float64 GELU that also writes its derivative: y = GELU(x), d = Phi(x) + x phi(x) (<see cref="GeluVector.ForwardWithDerivative"/>).
    /// A training forward keeps d so that the VJP is dy * d, bitwise <see cref="GeluBackward{T}"/>'s result without its second erf.
    /// </summary>
    public static unsafe void GeluWithDerivative(ReadOnlySpan<double> x, Span<double> y, Span<double> d)
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        ElementwiseChecks.SameLength(x.Length, d.Length, nameof(d));
        fixed (double* px = x, py = y, pd = d)
        {
            nint ax = (nint)px, ay = (nint)py, ad = (nint)pd;
            RowParallel.For(x.Length, x.Length, (first, count) =>
                GeluVector.ForwardWithDerivative(new ReadOnlySpan<double>((double*)ax + first, count), new Span<double>((double*)ay + first, count),
                    new Span<double>((double*)ad + first, count)));
        }
    }

    public static void LogSigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => MapScalar<T, LogSigmoidOp>(x, y);
    public static void Softplus<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> => MapScalar<T, SoftplusOp>(x, y);

    public static void Elu<T>(ReadOnlySpan<T> x, Span<T> y, double alpha = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        for (int i = 0; i < x.Length; i++) y[i] = T.CreateTruncating(NaiveActivations.Elu(double.CreateTruncating(x[i]), alpha));
    }

    /// <summary>y = x (1 + tanh(beta x + beta kappa x^3)) / 2.</summary>
    public static void GeluTanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        Span<T> t = stackalloc T[Block];
        for (int start = 0; start < x.Length; start += Block)
        {
            int len = Math.Min(Block, x.Length - start);
            var xb = x.Slice(start, len);
            var tb = t[..len];
            TanhOfGeluInner(xb, tb);
            TensorPrimitives.Add(tb, T.One, tb);
            TensorPrimitives.Multiply(tb, xb, tb);
            TensorPrimitives.Multiply(tb, T.CreateTruncating(0.5), y.Slice(start, len));
        }
    }

    public static void Silu<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        Span<T> s = stackalloc T[Block];
        for (int start = 0; start < x.Length; start += Block)
        {
            int len = Math.Min(Block, x.Length - start);
            var xb = x.Slice(start, len);
            SigmoidSpan<T>(xb, s[..len]);
            TensorPrimitives.Multiply(xb, s[..len], y.Slice(start, len));
        }
    }

    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        SigmoidSpan(x, y);
    }

    /// <summary>
    /// 1 / (1 + exp(-x)). float32: TensorPrimitives.Sigmoid. float64: the same formula with exp by <see cref="VectorMath.Exp{T}(ReadOnlySpan{T}, Span{T})"/>
    /// (fixed groups of 4 from index 0) over blocks of <see cref="Block"/> (a multiple of 4) from index 0. TensorPrimitives'
    /// float64 exp computes a whole vector by scalar code when one lane is beyond about +-708 and groups a long span's elements
    /// by the address alignment, so a value's last bit depended on where the span lay (bench/NOTES.md, detbits and h3gelu).
    /// x and y may be the same span.
    /// </summary>
    private static void SigmoidSpan<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(double))
        {
            TensorPrimitives.Sigmoid(x, y);
            return;
        }
        var xd = MemoryMarshal.Cast<T, double>(x);
        var yd = MemoryMarshal.Cast<T, double>(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 8 <= xd.Length; i += 8)
                (Vector512<double>.One / (Vector512<double>.One + VectorMath.ExpTwoGroups(-Vector512.Create(xd.Slice(i))))).CopyTo(yd.Slice(i));
        // The rest (or everything without Vector512) in blocks from i, a multiple of 8: its groups of 4 are index 0's.
        Span<double> e = stackalloc double[Block];
        for (int start = i; start < xd.Length; start += Block)
        {
            int len = Math.Min(Block, xd.Length - start);
            var eb = e[..len];
            TensorPrimitives.Negate(xd.Slice(start, len), eb);
            VectorMath.Exp<double>(eb, eb);
            TensorPrimitives.Add(eb, 1.0, eb);
            TensorPrimitives.Divide(1.0, eb, yd.Slice(start, len));
        }
    }

    /// <summary>
    /// tanh(x) = sign(x) (-z / (z + 2)), z = exp(-2 |x|) - 1 (= (1 - e) / (1 + e), e = exp(-2 |x|); it cancels near 0, so callers that need
    /// relative accuracy there recompute |x| &lt; <see cref="TanhSmallArgument"/>). float32: TensorPrimitives.Tanh. float64: exp by
    /// <see cref="VectorMath.Exp{T}(ReadOnlySpan{T}, Span{T})"/> in fixed groups of 4 from the span's start, for the reason
    /// given at <see cref="SigmoidSpan{T}"/>; callers pass blocks of at most <see cref="Block"/> starting at a multiple of 4
    /// from their index 0. x and y may be the same span.
    /// </summary>
    private static void TanhSpan<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(double))
        {
            TensorPrimitives.Tanh(x, y);
            return;
        }
        var xd = MemoryMarshal.Cast<T, double>(x);
        var yd = MemoryMarshal.Cast<T, double>(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sign = Vector512.Create(-0.0);
            for (; i + 8 <= xd.Length; i += 8)
            {
                var v = Vector512.Create(xd.Slice(i));
                var z = VectorMath.ExpTwoGroups(Vector512.Abs(v) * Vector512.Create(-2.0)) - Vector512<double>.One;
                Vector512.ConditionalSelect(sign, v, -(z / (z + Vector512.Create(2.0)))).CopyTo(yd.Slice(i));
            }
        }
        // The rest (fewer than 8, or everything without Vector512) from i, a multiple of 8: its groups of 4 are index 0's.
        int rest = xd.Length - i;
        if (rest == 0) return;
        Span<double> zb = stackalloc double[Block];
        Span<double> wb = stackalloc double[Block];
        var zs = zb[..rest];
        var ws = wb[..rest];
        var xs = xd[i..];
        TensorPrimitives.Abs(xs, zs);
        TensorPrimitives.Multiply(zs, -2.0, zs);
        VectorMath.Exp<double>(zs, zs);
        TensorPrimitives.Subtract(zs, 1.0, zs);
        TensorPrimitives.Add(zs, 2.0, ws);
        TensorPrimitives.Divide(zs, ws, zs);
        TensorPrimitives.Negate(zs, zs);
        TensorPrimitives.CopySign(zs, xs, yd[i..]);
    }

    /// <summary>
    /// tanh, vectorized (<see cref="TanhSpan{T}"/>) where it is accurate. The vector formula (1 - e) / (1 + e), e = exp(-2|x|),
    /// cancels near 0 (as TensorPrimitives' kernel does: float64 tanh(1e-8) off by 1.6e-9 relative, float32 tanh(0) = -6e-8),
    /// so entries with |x| below <see cref="TanhSmallArgument"/> are recomputed by the scalar T.Tanh (correctly rounded to a few ulp).
    /// </summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        // Blocks through a stack copy of x, so that y may alias x (in-place use) and the fix-up
        // still sees the argument, not the vectorized result.
        const int block = 256;
        Span<T> xb = stackalloc T[block];
        var small = T.CreateTruncating(TanhSmallArgument);
        for (int start = 0; start < x.Length; start += block)
        {
            int n = Math.Min(block, x.Length - start);
            var xs = xb[..n];
            x.Slice(start, n).CopyTo(xs);
            var ys = y.Slice(start, n);
            TanhSpan<T>(xs, ys);
            for (int i = 0; i < n; i++)
                if (T.Abs(xs[i]) < small) ys[i] = T.Tanh(xs[i]);
        }
    }

    /// <summary>Below this |x| the vectorized tanh loses relative accuracy to cancellation (e^{2x} - 1).</summary>
    public const double TanhSmallArgument = 0.625;

    /// <summary>dx = dy where x &gt; 0, else 0 (a vector select; NaN x gives 0 as in the naive tier).</summary>
    public static void ReluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ActivationChecks.Backward(x.Length, dy.Length, dx.Length);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int width = Vector<T>.Count;
            for (; i <= x.Length - width; i += width)
            {
                var positive = Vector.GreaterThan(new Vector<T>(x[i..]), Vector<T>.Zero);
                Vector.ConditionalSelect(positive, new Vector<T>(dy[i..]), Vector<T>.Zero).CopyTo(dx[i..]);
            }
        }
        for (; i < x.Length; i++) dx[i] = x[i] > T.Zero ? dy[i] : T.Zero;
    }

    /// <summary>GELU's VJP; float64 by <see cref="GeluVector"/>, float32 by the scalar float64 derivative.</summary>
    public static unsafe void GeluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(double))
        {
            MapScalarBackward<T, GeluOp>(x, dy, dx);
            return;
        }
        ActivationChecks.Backward(x.Length, dy.Length, dx.Length);
        fixed (T* px = x, pdy = dy, pdx = dx)
        {
            nint ax = (nint)px, ady = (nint)pdy, adx = (nint)pdx;
            RowParallel.For(x.Length, x.Length, (first, count) =>
                GeluVector.Backward(new ReadOnlySpan<double>((double*)ax + first, count), new ReadOnlySpan<double>((double*)ady + first, count),
                    new Span<double>((double*)adx + first, count)));
        }
    }
    public static void LogSigmoidBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T> => MapScalarBackward<T, LogSigmoidOp>(x, dy, dx);
    public static void SoftplusBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T> => MapScalarBackward<T, SoftplusOp>(x, dy, dx);

    public static void EluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, double alpha = 1.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ActivationChecks.Backward(x.Length, dy.Length, dx.Length);
        for (int i = 0; i < x.Length; i++)
            dx[i] = dy[i] * T.CreateTruncating(NaiveActivations.EluDerivative(double.CreateTruncating(x[i]), alpha));
    }

    /// <summary>dx = dy ((1 + t)/2 + x/2 (1 - t^2) beta (1 + 3 kappa x^2)), t = tanh(beta (x + kappa x^3)).</summary>
    public static void GeluTanhBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ActivationChecks.Backward(x.Length, dy.Length, dx.Length);
        Span<T> t = stackalloc T[Block];
        Span<T> w = stackalloc T[Block];
        Span<T> a = stackalloc T[Block];
        T half = T.CreateTruncating(0.5);
        for (int start = 0; start < x.Length; start += Block)
        {
            int len = Math.Min(Block, x.Length - start);
            var xb = x.Slice(start, len);
            var tb = t[..len];
            var wb = w[..len];
            var ab = a[..len];
            TanhOfGeluInner(xb, tb);
            TensorPrimitives.Multiply(xb, xb, wb);
            TensorPrimitives.Multiply(wb, T.CreateTruncating(3.0 * NaiveActivations.GeluTanhKappa * NaiveActivations.GeluTanhBeta), wb);
            TensorPrimitives.Add(wb, T.CreateTruncating(NaiveActivations.GeluTanhBeta), wb);
            TensorPrimitives.Multiply(tb, tb, ab);
            TensorPrimitives.Subtract(T.One, ab, ab);
            TensorPrimitives.Multiply(wb, ab, wb);
            TensorPrimitives.Multiply(wb, xb, wb);
            TensorPrimitives.Add(tb, T.One, ab);
            TensorPrimitives.Add(ab, wb, ab);
            TensorPrimitives.Multiply(ab, half, ab);
            TensorPrimitives.Multiply(ab, dy.Slice(start, len), dx.Slice(start, len));
        }
    }

    /// <summary>dx = dy s (1 + x (1 - s)), s = Sigmoid(x).</summary>
    public static void SiluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ActivationChecks.Backward(x.Length, dy.Length, dx.Length);
        Span<T> s = stackalloc T[Block];
        Span<T> a = stackalloc T[Block];
        for (int start = 0; start < x.Length; start += Block)
        {
            int len = Math.Min(Block, x.Length - start);
            var xb = x.Slice(start, len);
            var sb = s[..len];
            var ab = a[..len];
            SigmoidSpan<T>(xb, sb);
            TensorPrimitives.Subtract(T.One, sb, ab);
            TensorPrimitives.Multiply(ab, xb, ab);
            TensorPrimitives.Add(ab, T.One, ab);
            TensorPrimitives.Multiply(ab, sb, ab);
            TensorPrimitives.Multiply(ab, dy.Slice(start, len), dx.Slice(start, len));
        }
    }

    /// <summary>From the output y: dx = dy y (1 - y).</summary>
    public static void SigmoidBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ActivationChecks.Backward(y.Length, dy.Length, dx.Length);
        Span<T> a = stackalloc T[Block];
        for (int start = 0; start < y.Length; start += Block)
        {
            int len = Math.Min(Block, y.Length - start);
            var yb = y.Slice(start, len);
            var ab = a[..len];
            TensorPrimitives.Subtract(T.One, yb, ab);
            TensorPrimitives.Multiply(ab, yb, ab);
            TensorPrimitives.Multiply(ab, dy.Slice(start, len), dx.Slice(start, len));
        }
    }

    /// <summary>From the output y: dx = dy (1 - y^2).</summary>
    public static void TanhBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ActivationChecks.Backward(y.Length, dy.Length, dx.Length);
        Span<T> a = stackalloc T[Block];
        for (int start = 0; start < y.Length; start += Block)
        {
            int len = Math.Min(Block, y.Length - start);
            var yb = y.Slice(start, len);
            var ab = a[..len];
            TensorPrimitives.Multiply(yb, yb, ab);
            TensorPrimitives.Subtract(T.One, ab, ab);
            TensorPrimitives.Multiply(ab, dy.Slice(start, len), dx.Slice(start, len));
        }
    }

    /// <summary>t = tanh(beta x + beta kappa x^3), computed as tanh(x (beta + beta kappa x^2)).</summary>
    private static void TanhOfGeluInner<T>(ReadOnlySpan<T> x, Span<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        TensorPrimitives.Multiply(x, x, t);
        TensorPrimitives.Multiply(t, T.CreateTruncating(NaiveActivations.GeluTanhBeta * NaiveActivations.GeluTanhKappa), t);
        TensorPrimitives.Add(t, T.CreateTruncating(NaiveActivations.GeluTanhBeta), t);
        TensorPrimitives.Multiply(t, x, t);
        TanhSpan<T>(t, t);
    }

    /// <summary>y[i] = f(x[i]) in float64, rounded once to T; long inputs are split over the cores (element-wise, so the split cannot change a result).</summary>
    private static unsafe void MapScalar<T, TOp>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> where TOp : IScalarActivation
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        fixed (T* px = x, py = y)
        {
            nint ax = (nint)px, ay = (nint)py;
            RowParallel.For(x.Length, x.Length, (first, count) =>
            {
                T* xs = (T*)ax + first, ys = (T*)ay + first;
                for (int i = 0; i < count; i++) ys[i] = T.CreateTruncating(TOp.Value(double.CreateTruncating(xs[i])));
            });
        }
    }

    /// <summary>dx[i] = dy[i] f'(x[i]) in float64, rounded once to T; split over the cores like <see cref="MapScalar{T, TOp}"/>.</summary>
    private static unsafe void MapScalarBackward<T, TOp>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T> where TOp : IScalarActivation
    {
        ActivationChecks.Backward(x.Length, dy.Length, dx.Length);
        fixed (T* px = x, pdy = dy, pdx = dx)
        {
            nint ax = (nint)px, ady = (nint)pdy, adx = (nint)pdx;
            RowParallel.For(x.Length, x.Length, (first, count) =>
            {
                T* xs = (T*)ax + first, dys = (T*)ady + first, dxs = (T*)adx + first;
                for (int i = 0; i < count; i++)
                    dxs[i] = T.CreateTruncating(double.CreateTruncating(dys[i]) * TOp.Derivative(double.CreateTruncating(xs[i])));
            });
        }
    }
}
