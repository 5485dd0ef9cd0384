using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// One recorded primitive: its inputs, its outputs and its vector-Jacobian product. The VJP maps the
/// gradients of the outputs (each with its output's shape; zeros where an output was unused) to the
/// gradients of the inputs (null where an input gets none).
/// </summary>
internal sealed class Node(string name, Variable[] inputs, Func<Tensor<double>[], Tensor<double>?[]> vjp, Func<Variable[], Variable>? replay = null)
{
    public string Name { get; } = name;

    public Variable[] Inputs { get; } = inputs;

    public Variable[] Outputs { get; set; } = [];

    public Func<Tensor<double>[], Tensor<double>?[]> Vjp { get; } = vjp;

    /// <summary>The same primitive applied to other inputs (null when the primitive did not register one).</summary>
    public Func<Variable[], Variable>? Replay { get; } = replay;

    public override string ToString() => Name;
}
