using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// One recorded primitive: its inputs, its outputs and its vector-Jacobian product. The VJP maps the
/// gradients of the outputs (each with its output's shape; zeros where an output was unused) to the
/// gradients of the inputs (null where an input gets none).
/// </summary>
internal sealed class Node(string name, Variable[] inputs, Func<Tensor<double>[], Tensor<double>?[]> vjp)
{
    public string Name { get; } = name;

    public Variable[] Inputs { get; } = inputs;

    public Variable[] Outputs { get; set; } = [];

    public Func<Tensor<double>[], Tensor<double>?[]> Vjp { get; } = vjp;

    public override string ToString() => Name;
}
