using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Elementwise arithmetic with NumPy broadcasting. VJPs (g = cotangent of z, then summed over the
/// broadcast axes of each operand by <see cref="Broadcasting.ReduceTo"/>):
/// z = a + b: (g, g); z = a - b: (g, -g); z = a * b: (g b, g a); z = a / b: (g / b, -g a / b^2).
/// Every element is one IEEE operation, so TensorPrimitives gives the same bits as a scalar loop.
/// </summary>
public static partial class Ops
{
    public static Variable Add(Variable a, Variable b)
    {
        Tensor<double> z;
        if (a.Rank >= 1 && b.Rank == 1 && a.Shape[^1] == b.Shape[0])
        {
            // Bias add ([..., D] + [D]) without materializing the broadcast bias.
            z = Empty(a.Value);
            int d = b.Length;
            for (int row = 0; row < z.Length; row += d)
                TensorPrimitives.Add(a.Value.Data.AsSpan(row, d), b.Value.Data, z.Data.AsSpan(row, d));
        }
        else
        {
            (var ea, var eb, z) = Operands(a, b);
            TensorPrimitives.Add(ea.Data, eb.Data, z.Data);
        }
        return Function.Apply("add", [a, b], z, g =>
            [a.RequiresGrad ? Broadcasting.ReduceTo(g, a.Shape) : null, b.RequiresGrad ? Broadcasting.ReduceTo(g, b.Shape) : null]);
    }

    public static Variable Sub(Variable a, Variable b)
    {
        var (ea, eb, z) = Operands(a, b);
        TensorPrimitives.Subtract(ea.Data, eb.Data, z.Data);
        return Function.Apply("sub", [a, b], z, g =>
            [a.RequiresGrad ? Broadcasting.ReduceTo(g, a.Shape) : null, b.RequiresGrad ? Broadcasting.ReduceTo(Negate(g), b.Shape) : null]);
    }

    public static Variable Mul(Variable a, Variable b)
    {
        var (ea, eb, z) = Operands(a, b);
        TensorPrimitives.Multiply(ea.Data, eb.Data, z.Data);
        return Function.Apply("mul", [a, b], z, g =>
        {
            Tensor<double>? ga = null, gb = null;
            if (a.RequiresGrad) { ga = Empty(g); TensorPrimitives.Multiply(g.Data, Broadcasting.Expand(b.Value, g.Shape).Data, ga.Data); }
            if (b.RequiresGrad) { gb = Empty(g); TensorPrimitives.Multiply(g.Data, Broadcasting.Expand(a.Value, g.Shape).Data, gb.Data); }
            return [ga is null ? null : Broadcasting.ReduceTo(ga, a.Shape), gb is null ? null : Broadcasting.ReduceTo(gb, b.Shape)];
        });
    }

    public static Variable Div(Variable a, Variable b)
    {
        var (ea, eb, z) = Operands(a, b);
        TensorPrimitives.Divide(ea.Data, eb.Data, z.Data);
        return Function.Apply("div", [a, b], z, g =>
        {
            var bx = Broadcasting.Expand(b.Value, g.Shape);
            var ga = Empty(g);
            TensorPrimitives.Divide(g.Data, bx.Data, ga.Data);
            Tensor<double>? gb = null;
            if (b.RequiresGrad)
            {
                // d(a/b)/db = -(a/b)/b = -z/b: reuses the output instead of forming b^2.
                gb = Empty(g);
                for (int i = 0; i < gb.Length; i++) gb.Data[i] = -ga.Data[i] * z.Data[i];
            }
            return [Broadcasting.ReduceTo(ga, a.Shape), gb is null ? null : Broadcasting.ReduceTo(gb, b.Shape)];
        });
    }

    public static Variable Neg(Variable a)
    {
        var z = Negate(a.Value);
        return Function.Apply("neg", [a], z, g => [Negate(g)]);
    }

    /// <summary>a + c for a constant c.</summary>
    public static Variable AddScalar(Variable a, double c)
    {
        var z = Empty(a.Value);
        TensorPrimitives.Add(a.Value.Data, c, z.Data);
        return Function.Apply("add_scalar", [a], z, g => [g]);
    }

    /// <summary>c a for a constant c.</summary>
    public static Variable MulScalar(Variable a, double c)
    {
        var z = Empty(a.Value);
        TensorPrimitives.Multiply(a.Value.Data, c, z.Data);
        return Function.Apply("mul_scalar", [a], z, g =>
        {
            var ga = Empty(g);
            TensorPrimitives.Multiply(g.Data, c, ga.Data);
            return [ga];
        });
    }

    /// <summary>a^p elementwise for a constant exponent (Math.Pow; p = 2 is exact a*a).</summary>
    public static Variable Pow(Variable a, double p)
    {
        var z = Empty(a.Value);
        for (int i = 0; i < z.Length; i++) z.Data[i] = p == 2.0 ? a.Value.Data[i] * a.Value.Data[i] : Math.Pow(a.Value.Data[i], p);
        return Function.Apply("pow", [a], z, g =>
        {
            var ga = Empty(g);
            for (int i = 0; i < ga.Length; i++)
                ga.Data[i] = g.Data[i] * (p == 2.0 ? 2.0 * a.Value.Data[i] : p * Math.Pow(a.Value.Data[i], p - 1.0));
            return [ga];
        });
    }

    public static Variable Square(Variable a) => Pow(a, 2.0);

    /// <summary>A zero tensor of t's shape (from the current <see cref="TensorArena"/>, else the heap).</summary>
    internal static Tensor<double> Like(Tensor<double> t) => TensorArena.Zeros(t.ShapeArray);

    /// <summary>A tensor of t's shape with uninitialized contents, for results that are fully overwritten (skips zeroing large buffers).</summary>
    internal static Tensor<double> Empty(Tensor<double> t) => Empty(t.ShapeArray);

    internal static Tensor<double> Empty(int[] shape) => TensorArena.Uninitialized(shape);

    internal static Tensor<double> Negate(Tensor<double> t)
    {
        var r = Empty(t);
        TensorPrimitives.Negate(t.Data, r.Data);
        return r;
    }

    private static (Tensor<double> A, Tensor<double> B, Tensor<double> Z) Operands(Variable a, Variable b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        int[] shape;
        try { shape = Shapes.Broadcast(a.Shape, b.Shape); }
        catch (ArgumentException e) { throw new ArgumentException(e.Message, nameof(b)); }
        return (Broadcasting.Expand(a.Value, shape), Broadcasting.Expand(b.Value, shape), Empty(shape));
    }
}
