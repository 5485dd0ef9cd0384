namespace Reference.Core.Kernels;

/// <summary>
/// Naive tier of the elementwise kernels (the definition): float64, one scalar loop per operation,
/// element i of the result depends only on element i of the operands (NumPy's ufunc semantics).
/// <para>
/// Broadcasting (NumPy rules, numpy.org/doc/stable/user/basics.broadcasting.html): the shapes are
/// aligned on the right; each pair of dimensions must be equal or one of them 1; a missing or size-1
/// dimension is repeated. The naive loop walks the result in row-major order and maps each result
/// index to an operand offset through broadcast strides (stride 0 on repeated axes).
/// </para>
/// <para>
/// IEEE semantics: Maximum/Minimum propagate NaN (numpy.maximum / torch.maximum) and order -0 &lt; +0,
/// as Math.Max/Math.Min do. Division by zero gives +-Inf or NaN, never an exception.
/// Every span overload accepts a result that aliases an operand (in-place use).
/// </para>
/// </summary>
public static class NaiveElementwise
{
    public static void Add(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> result) => Binary(BinaryOp.Add, a, b, result);
    public static void Subtract(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> result) => Binary(BinaryOp.Subtract, a, b, result);
    public static void Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> result) => Binary(BinaryOp.Multiply, a, b, result);
    public static void Divide(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> result) => Binary(BinaryOp.Divide, a, b, result);
    public static void Maximum(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> result) => Binary(BinaryOp.Maximum, a, b, result);
    public static void Minimum(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> result) => Binary(BinaryOp.Minimum, a, b, result);

    /// <summary>a + b with NumPy broadcasting; the result has shape Broadcast(a.Shape, b.Shape).</summary>
    public static Tensor<double> Add(Tensor<double> a, Tensor<double> b) => Binary(BinaryOp.Add, a, b);
    public static Tensor<double> Subtract(Tensor<double> a, Tensor<double> b) => Binary(BinaryOp.Subtract, a, b);
    public static Tensor<double> Multiply(Tensor<double> a, Tensor<double> b) => Binary(BinaryOp.Multiply, a, b);
    public static Tensor<double> Divide(Tensor<double> a, Tensor<double> b) => Binary(BinaryOp.Divide, a, b);
    public static Tensor<double> Maximum(Tensor<double> a, Tensor<double> b) => Binary(BinaryOp.Maximum, a, b);
    public static Tensor<double> Minimum(Tensor<double> a, Tensor<double> b) => Binary(BinaryOp.Minimum, a, b);

    public static void Negate(ReadOnlySpan<double> x, Span<double> result) => Unary(UnaryOp.Negate, x, result);
    public static void Abs(ReadOnlySpan<double> x, Span<double> result) => Unary(UnaryOp.Abs, x, result);
    public static void Exp(ReadOnlySpan<double> x, Span<double> result) => Unary(UnaryOp.Exp, x, result);
    public static void Log(ReadOnlySpan<double> x, Span<double> result) => Unary(UnaryOp.Log, x, result);
    public static void Sqrt(ReadOnlySpan<double> x, Span<double> result) => Unary(UnaryOp.Sqrt, x, result);
    public static void Square(ReadOnlySpan<double> x, Span<double> result) => Unary(UnaryOp.Square, x, result);
    public static void Reciprocal(ReadOnlySpan<double> x, Span<double> result) => Unary(UnaryOp.Reciprocal, x, result);

    public static Tensor<double> Negate(Tensor<double> x) => Unary(UnaryOp.Negate, x);
    public static Tensor<double> Abs(Tensor<double> x) => Unary(UnaryOp.Abs, x);
    public static Tensor<double> Exp(Tensor<double> x) => Unary(UnaryOp.Exp, x);
    public static Tensor<double> Log(Tensor<double> x) => Unary(UnaryOp.Log, x);
    public static Tensor<double> Sqrt(Tensor<double> x) => Unary(UnaryOp.Sqrt, x);
    public static Tensor<double> Square(Tensor<double> x) => Unary(UnaryOp.Square, x);
    public static Tensor<double> Reciprocal(Tensor<double> x) => Unary(UnaryOp.Reciprocal, x);

    /// <summary>result[i] = alpha * x[i].</summary>
    public static void Scale(ReadOnlySpan<double> x, double alpha, Span<double> result)
    {
        ElementwiseChecks.SameLength(x.Length, result.Length, nameof(result));
        for (int i = 0; i < x.Length; i++) result[i] = alpha * x[i];
    }

    /// <summary>result[i] = x[i] + c.</summary>
    public static void AddScalar(ReadOnlySpan<double> x, double c, Span<double> result)
    {
        ElementwiseChecks.SameLength(x.Length, result.Length, nameof(result));
        for (int i = 0; i < x.Length; i++) result[i] = x[i] + c;
    }

    public static Tensor<double> Scale(Tensor<double> x, double alpha)
    {
        ArgumentNullException.ThrowIfNull(x);
        var result = Tensor<double>.Zeros(x.ShapeArray);
        Scale(x.Data, alpha, result.Data);
        return result;
    }

    public static Tensor<double> AddScalar(Tensor<double> x, double c)
    {
        ArgumentNullException.ThrowIfNull(x);
        var result = Tensor<double>.Zeros(x.ShapeArray);
        AddScalar(x.Data, c, result.Data);
        return result;
    }

    /// <summary>BLAS axpy, in place: y[i] = y[i] + alpha * x[i] (product rounded, then the sum; no fused multiply-add).</summary>
    public static void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        ElementwiseChecks.SameLength(x.Length, y.Length, nameof(y));
        for (int i = 0; i < x.Length; i++) y[i] = y[i] + alpha * x[i];
    }

    /// <summary>The scalar definition of every binary operation.</summary>
    internal static double Apply(BinaryOp op, double a, double b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Subtract => a - b,
        BinaryOp.Multiply => a * b,
        BinaryOp.Divide => a / b,
        BinaryOp.Maximum => Math.Max(a, b),
        BinaryOp.Minimum => Math.Min(a, b),
        _ => throw new ArgumentOutOfRangeException(nameof(op), $"op = {op} is not a binary operation."),
    };

    /// <summary>The scalar definition of every unary operation.</summary>
    internal static double Apply(UnaryOp op, double x) => op switch
    {
        UnaryOp.Negate => -x,
        UnaryOp.Abs => Math.Abs(x),
        UnaryOp.Exp => Math.Exp(x),
        UnaryOp.Log => Math.Log(x),
        UnaryOp.Sqrt => Math.Sqrt(x),
        UnaryOp.Square => x * x,
        UnaryOp.Reciprocal => 1.0 / x,
        _ => throw new ArgumentOutOfRangeException(nameof(op), $"op = {op} is not a unary operation."),
    };

    private static void Binary(BinaryOp op, ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> result)
    {
        ElementwiseChecks.SameLength(a.Length, b.Length, nameof(b));
        ElementwiseChecks.SameLength(a.Length, result.Length, nameof(result));
        for (int i = 0; i < a.Length; i++) result[i] = Apply(op, a[i], b[i]);
    }

    private static void Unary(UnaryOp op, ReadOnlySpan<double> x, Span<double> result)
    {
        ElementwiseChecks.SameLength(x.Length, result.Length, nameof(result));
        for (int i = 0; i < x.Length; i++) result[i] = Apply(op, x[i]);
    }

    private static Tensor<double> Unary(UnaryOp op, Tensor<double> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var result = Tensor<double>.Zeros(x.ShapeArray);
        Unary(op, x.Data, result.Data);
        return result;
    }

    /// <summary>Row-major walk over the broadcast result; each operand is read through its broadcast strides.</summary>
    private static Tensor<double> Binary(BinaryOp op, Tensor<double> a, Tensor<double> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        int[] shape = Shapes.Broadcast(a.Shape, b.Shape);
        var result = Tensor<double>.Zeros(shape);
        int[] strideA = Shapes.BroadcastStrides(a.Shape, shape);
        int[] strideB = Shapes.BroadcastStrides(b.Shape, shape);
        var index = new int[shape.Length];
        for (int flat = 0; flat < result.Length; flat++)
        {
            int offA = 0, offB = 0, rest = flat;
            for (int axis = shape.Length - 1; axis >= 0; axis--)
            {
                index[axis] = rest % shape[axis];
                rest /= shape[axis];
                offA += index[axis] * strideA[axis];
                offB += index[axis] * strideB[axis];
            }
            result.Data[flat] = Apply(op, a.Data[offA], b.Data[offB]);
        }
        return result;
    }
}

/// <summary>The binary elementwise operations (shared by both tiers and by the tests).</summary>
public enum BinaryOp { Add, Subtract, Multiply, Divide, Maximum, Minimum }

/// <summary>The unary elementwise operations (shared by both tiers and by the tests).</summary>
public enum UnaryOp { Negate, Abs, Exp, Log, Sqrt, Square, Reciprocal }

/// <summary>Argument checks shared by the kernels: messages name the argument, the expected and the actual value.</summary>
internal static class ElementwiseChecks
{
    public static void SameLength(int expected, int actual, string argument)
    {
        if (actual != expected)
            throw new ArgumentException($"{argument} has {actual} elements, expected {expected}.", argument);
    }

    public static int Rows(int length, int cols, string argument)
    {
        if (cols <= 0)
            throw new ArgumentOutOfRangeException(nameof(cols), $"cols = {cols} must be > 0.");
        if (length % cols != 0)
            throw new ArgumentException($"{argument} has {length} elements, expected a multiple of cols = {cols}.", argument);
        return length / cols;
    }
}
