using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reference.Core.Kernels;

/// <summary>
/// Fast tier of <see cref="NaiveElementwise"/> (same contract), generic over float and double.
/// Every loop is a TensorPrimitives call: +, -, *, / and Max/Min are exactly rounded IEEE operations,
/// so they are bit-identical to the naive loop in the same precision; Exp, Log and Sqrt use
/// TensorPrimitives' vectorized approximations (within a few ulp; results may differ by ISA).
/// <para>
/// Broadcasting is planned once (<see cref="BroadcastPlan"/>): equal shapes and a one-element side
/// are a single flat call; otherwise adjacent axes that are contiguous in both operands are merged
/// and the innermost run is one call (span-span, span-scalar or scalar-span), so a row-vector
/// operand such as a bias [D] against [B, L, D] costs one vectorized call per row.
/// </para>
/// </summary>
public static class FastElementwise
{
    /// <summary>
    /// destination = row repeated (destination.Length / row.Length rows of it), e.g. a bias written into every row of a
    /// product's output before the product is accumulated onto it. Copies only (the same bits as a per-row copy); the
    /// written part is copied onto the next in doubling blocks, log2(rows) block copies instead of one short copy per row
    /// (a 32-wide bias over 1024 rows was 1024 calls of 256 bytes).
    /// </summary>
    public static void BroadcastRows<T>(ReadOnlySpan<T> row, Span<T> destination) where T : unmanaged
    {
        int width = row.Length;
        if (width == 0 ? destination.Length != 0 : destination.Length % width != 0)
            throw new ArgumentException($"destination has length {destination.Length}, expected a multiple of row.Length = {width}.", nameof(destination));
        if (destination.IsEmpty) return;
        row.CopyTo(destination);
        for (int done = width; done < destination.Length; done *= 2)
        {
            int count = Math.Min(done, destination.Length - done);
            destination[..count].CopyTo(destination.Slice(done, count));
        }
    }

    /// <summary>
    /// sums[j] += x[0, j] + x[1, j] + ... in row order, for x [rows, sums.Length] row-major (a bias gradient: the sum of the
    /// output gradient's rows). Each column's additions are those of one TensorPrimitives.Add(sums, row, sums) per row, in the
    /// same order, so the bits are the same; the sums of up to 32 columns stay in registers over all rows instead of one call
    /// per row (1,024 calls of 32 or 128 elements per product in the width-32 H3 step).
    /// </summary>
    public static void AddColumnSums(ReadOnlySpan<double> x, Span<double> sums)
    {
        int columns = sums.Length;
        if (columns == 0 ? !x.IsEmpty : x.Length % columns != 0)
            throw new ArgumentException($"x has length {x.Length}, expected a multiple of sums.Length = {columns}.", nameof(x));
        if (columns == 0) return;
        int rows = x.Length / columns, j = 0;
        ref double xr = ref MemoryMarshal.GetReference(x);
        ref double sr = ref MemoryMarshal.GetReference(sums);
        if (Vector512.IsHardwareAccelerated)
        {
            const int W = 8;
            for (; j + 4 * W <= columns; j += 4 * W)
            {
                var a0 = Vector512.LoadUnsafe(ref sr, (nuint)j);
                var a1 = Vector512.LoadUnsafe(ref sr, (nuint)(j + W));
                var a2 = Vector512.LoadUnsafe(ref sr, (nuint)(j + 2 * W));
                var a3 = Vector512.LoadUnsafe(ref sr, (nuint)(j + 3 * W));
                for (int r = 0; r < rows; r++)
                {
                    nuint at = (nuint)((long)r * columns + j);
                    a0 += Vector512.LoadUnsafe(ref xr, at);
                    a1 += Vector512.LoadUnsafe(ref xr, at + W);
                    a2 += Vector512.LoadUnsafe(ref xr, at + 2 * W);
                    a3 += Vector512.LoadUnsafe(ref xr, at + 3 * W);
                }
                a0.StoreUnsafe(ref sr, (nuint)j);
                a1.StoreUnsafe(ref sr, (nuint)(j + W));
                a2.StoreUnsafe(ref sr, (nuint)(j + 2 * W));
                a3.StoreUnsafe(ref sr, (nuint)(j + 3 * W));
            }
            for (; j + W <= columns; j += W)
            {
                var a0 = Vector512.LoadUnsafe(ref sr, (nuint)j);
                for (int r = 0; r < rows; r++) a0 += Vector512.LoadUnsafe(ref xr, (nuint)((long)r * columns + j));
                a0.StoreUnsafe(ref sr, (nuint)j);
            }
        }
        for (; j < columns; j++)
        {
            double acc = Unsafe.Add(ref sr, j);
            for (int r = 0; r < rows; r++) acc += Unsafe.Add(ref xr, (nint)((long)r * columns + j));
            Unsafe.Add(ref sr, j) = acc;
        }
    }

    public static void Add<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Add, a, b, result);
    public static void Subtract<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Subtract, a, b, result);
    public static void Multiply<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Multiply, a, b, result);
    public static void Divide<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Divide, a, b, result);
    public static void Maximum<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Maximum, a, b, result);
    public static void Minimum<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Minimum, a, b, result);

    /// <summary>a + b with NumPy broadcasting; the result has shape Broadcast(a.Shape, b.Shape).</summary>
    public static Tensor<T> Add<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Add, a, b);
    public static Tensor<T> Subtract<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Subtract, a, b);
    public static Tensor<T> Multiply<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Multiply, a, b);
    public static Tensor<T> Divide<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Divide, a, b);
    public static Tensor<T> Maximum<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Maximum, a, b);
    public static Tensor<T> Minimum<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T> => Binary(BinaryOp.Minimum, a, b);

    public static void Negate<T>(ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Negate, x, result);
    public static void Abs<T>(ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Abs, x, result);
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Exp, x, result);
    public static void Log<T>(ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Log, x, result);
    public static void Sqrt<T>(ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Sqrt, x, result);
    public static void Square<T>(ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Square, x, result);
    public static void Reciprocal<T>(ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Reciprocal, x, result);

    public static Tensor<T> Negate<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Negate, x);
    public static Tensor<T> Abs<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Abs, x);
    public static Tensor<T> Exp<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Exp, x);
    public static Tensor<T> Log<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Log, x);
    public static Tensor<T> Sqrt<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Sqrt, x);
    public static Tensor<T> Square<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Square, x);
    public static Tensor<T> Reciprocal<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Unary(UnaryOp.Reciprocal, x);

    /// <summary>result[i] = alpha * x[i].</summary>
    public static void Scale<T>(ReadOnlySpan<T> x, T alpha, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, result.Length, nameof(result));
        TensorPrimitives.Multiply(x, alpha, result);
    }

    /// <summary>result[i] = x[i] + c.</summary>
    public static void AddScalar<T>(ReadOnlySpan<T> x, T c, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, result.Length, nameof(result));
        TensorPrimitives.Add(x, c, result);
    }

    public static Tensor<T> Scale<T>(Tensor<T> x, T alpha) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var result = Tensor<T>.Zeros(x.ShapeArray);
        TensorPrimitives.Multiply(x.Data, alpha, result.Data);
        return result;
    }

    public static Tensor<T> AddScalar<T>(Tensor<T> x, T c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var result = Tensor<T>.Zeros(x.ShapeArray);
        TensorPrimitives.Add(x.Data, c, result.Data);
        return result;
    }

    /// <summary>BLAS axpy, in place: y[i] = y[i] + alpha * x[i] (TensorPrimitives.MultiplyAdd, which may fuse the multiply-add where the ISA has FMA).</summary>
    public static void Axpy<T>(T alpha, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        TensorPrimitives.MultiplyAdd(x, alpha, y, y);
    }

    internal static void Apply<T>(BinaryOp op, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(a, b, result); break;
            case BinaryOp.Subtract: TensorPrimitives.Subtract(a, b, result); break;
            case BinaryOp.Multiply: TensorPrimitives.Multiply(a, b, result); break;
            case BinaryOp.Divide: TensorPrimitives.Divide(a, b, result); break;
            case BinaryOp.Maximum: TensorPrimitives.Max(a, b, result); break;
            case BinaryOp.Minimum: TensorPrimitives.Min(a, b, result); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), $"op = {op} is not a binary operation.");
        }
    }

    /// <summary>result = a (op) b with b one value repeated.</summary>
    internal static void Apply<T>(BinaryOp op, ReadOnlySpan<T> a, T b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(a, b, result); break;
            case BinaryOp.Subtract: TensorPrimitives.Subtract(a, b, result); break;
            case BinaryOp.Multiply: TensorPrimitives.Multiply(a, b, result); break;
            case BinaryOp.Divide: TensorPrimitives.Divide(a, b, result); break;
            case BinaryOp.Maximum: TensorPrimitives.Max(a, b, result); break;
            case BinaryOp.Minimum: TensorPrimitives.Min(a, b, result); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), $"op = {op} is not a binary operation.");
        }
    }

    /// <summary>result = a (op) b with a one value repeated (operand order kept for - and /).</summary>
    internal static void Apply<T>(BinaryOp op, T a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (op)
        {
            case BinaryOp.Subtract: TensorPrimitives.Subtract(a, b, result); break;
            case BinaryOp.Divide: TensorPrimitives.Divide(a, b, result); break;
            default: Apply(op, b, a, result); break; // the remaining operations are commutative
        }
    }

    internal static void Apply<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (op)
        {
            case UnaryOp.Negate: TensorPrimitives.Negate(x, result); break;
            case UnaryOp.Abs: TensorPrimitives.Abs(x, result); break;
            case UnaryOp.Exp: VectorMath.Exp(x, result); break;
            case UnaryOp.Log: VectorMath.Log(x, result); break;
            case UnaryOp.Sqrt: TensorPrimitives.Sqrt(x, result); break;
            case UnaryOp.Square: TensorPrimitives.Multiply(x, x, result); break;
            case UnaryOp.Reciprocal: TensorPrimitives.Divide(T.One, x, result); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), $"op = {op} is not a unary operation.");
        }
    }

    private static void Binary<T>(BinaryOp op, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(a.Length, b.Length, nameof(b));
        ElementwiseChecks.SameLength(a.Length, result.Length, nameof(result));
        Apply(op, a, b, result);
    }

    private static void Unary<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> result) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ElementwiseChecks.SameLength(x.Length, result.Length, nameof(result));
        Apply(op, x, result);
    }

    private static Tensor<T> Unary<T>(UnaryOp op, Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var result = Tensor<T>.Zeros(x.ShapeArray);
        Apply(op, x.Data, result.Data);
        return result;
    }

    private static Tensor<T> Binary<T>(BinaryOp op, Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var plan = BroadcastPlan.Create(a.Shape, b.Shape);
        var result = Tensor<T>.Zeros(plan.ResultShape);
        int n = result.Length;
        if (n == 0) return result;
        if (a.Length == n && b.Length == n && a.Shape.SequenceEqual(b.Shape))
        {
            Apply(op, a.Data, b.Data, result.Data);
            return result;
        }
        if (b.Length == 1 && a.Length == n)
        {
            Apply(op, a.Data, b.Data[0], result.Data);
            return result;
        }
        if (a.Length == 1 && b.Length == n)
        {
            Apply(op, a.Data[0], b.Data, result.Data);
            return result;
        }

        int inner = plan.InnerLength, strideA = plan.InnerStrideA, strideB = plan.InnerStrideB;
        Span<T> run = result.Data;
        var walker = plan.Outer();
        for (int dst = 0; dst < n; dst += inner, walker.Next())
        {
            var target = run.Slice(dst, inner);
            int offA = walker.OffsetA, offB = walker.OffsetB;
            if (strideA == 1 && strideB == 1) Apply(op, a.Data.AsSpan(offA, inner), b.Data.AsSpan(offB, inner), target);
            else if (strideA == 1) Apply(op, a.Data.AsSpan(offA, inner), b.Data[offB], target);
            else if (strideB == 1) Apply(op, a.Data[offA], b.Data.AsSpan(offB, inner), target);
            else target.Fill(T.CreateTruncating(NaiveElementwise.Apply(op, double.CreateTruncating(a.Data[offA]), double.CreateTruncating(b.Data[offB]))));
        }
        return result;
    }
}
