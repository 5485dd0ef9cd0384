using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// A node value of the computation graph: a float64 tensor, an optional accumulated gradient and the
/// primitive that produced it. Leaves (inputs and parameters) have no creator; their gradients
/// accumulate across <see cref="Backward"/> calls until <see cref="ZeroGrad"/> (PyTorch semantics).
/// Intermediate variables keep a gradient only after <see cref="RetainGrad"/>.
/// </summary>
public sealed class Variable
{
    /// <summary>Wraps <paramref name="value"/> (not copied) as a leaf.</summary>
    public Variable(Tensor<double> value, bool requiresGrad = false, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        Value = value;
        RequiresGrad = requiresGrad;
        Name = name;
    }

    internal Variable(Tensor<double> value, Node creator, int outputIndex)
    {
        Value = value;
        RequiresGrad = true;
        Creator = creator;
        OutputIndex = outputIndex;
    }

    /// <summary>The forward value. Mutating it after it was used by a recorded primitive invalidates that primitive's VJP.</summary>
    public Tensor<double> Value { get; }

    /// <summary>d(root)/d(this), summed over every backward call since the last <see cref="ZeroGrad"/>; null before the first.</summary>
    public Tensor<double>? Grad { get; set; }

    /// <summary>True for parameters, inputs whose gradient is wanted, and every recorded result that depends on one.</summary>
    public bool RequiresGrad { get; }

    public string? Name { get; set; }

    /// <summary>The primitive that produced this variable (null for leaves and for results computed without recording).</summary>
    internal Node? Creator { get; }

    /// <summary>Which of <see cref="Creator"/>'s outputs this variable is.</summary>
    internal int OutputIndex { get; }

    internal bool RetainsGrad { get; private set; }

    public bool IsLeaf => Creator is null;

    /// <summary>Name of the primitive that produced this variable, or null for a leaf.</summary>
    public string? CreatorName => Creator?.Name;

    public ReadOnlySpan<int> Shape => Value.Shape;

    public int Rank => Value.Rank;

    public int Length => Value.Length;

    /// <summary>A trainable leaf (requires grad).</summary>
    public static Variable Parameter(Tensor<double> value, string? name = null) => new(value, true, name);

    /// <summary>A leaf that never receives a gradient.</summary>
    public static Variable Constant(Tensor<double> value) => new(value, false);

    /// <summary>A rank-0 constant.</summary>
    public static Variable Scalar(double value) => new(Tensor<double>.Scalar(value), false);

    /// <summary>Keep this intermediate variable's gradient in <see cref="Grad"/> during backward.</summary>
    public Variable RetainGrad()
    {
        RetainsGrad = true;
        return this;
    }

    public void ZeroGrad() => Grad = null;

    /// <summary>
    /// Back-propagates from this variable. Without <paramref name="seed"/> the variable must hold
    /// one element and the seed is 1 (d root / d root); otherwise the seed has this variable's shape.
    /// </summary>
    public void Backward(Tensor<double>? seed = null) => Tape.Backward(this, seed);

    /// <summary>The same value as a leaf that does not require grad (the graph is cut here).</summary>
    public Variable Detach() => new(Value, false, Name);

    /// <summary>The single element of a one-element variable.</summary>
    public double Item()
    {
        if (Length != 1)
            throw new InvalidOperationException($"Item() needs exactly one element, the variable has shape {Shapes.Format(Shape)}.");
        return Value.Data[0];
    }

    public static Variable operator +(Variable a, Variable b) => Ops.Add(a, b);
    public static Variable operator -(Variable a, Variable b) => Ops.Sub(a, b);
    public static Variable operator *(Variable a, Variable b) => Ops.Mul(a, b);
    public static Variable operator /(Variable a, Variable b) => Ops.Div(a, b);
    public static Variable operator -(Variable a) => Ops.Neg(a);
    public static Variable operator +(Variable a, double b) => Ops.AddScalar(a, b);
    public static Variable operator +(double a, Variable b) => Ops.AddScalar(b, a);
    public static Variable operator -(Variable a, double b) => Ops.AddScalar(a, -b);
    public static Variable operator -(double a, Variable b) => Ops.AddScalar(Ops.Neg(b), a);
    public static Variable operator *(Variable a, double b) => Ops.MulScalar(a, b);
    public static Variable operator *(double a, Variable b) => Ops.MulScalar(b, a);
    public static Variable operator /(Variable a, double b) => Ops.MulScalar(a, 1.0 / b);

    public override string ToString() =>
        $"Variable{Shapes.Format(Shape)}{(Name is null ? "" : " " + Name)}{(Creator is null ? "" : " <- " + Creator.Name)}";
}
