using Reference.Core;

namespace Reference.Autodiff.Nn;

/// <summary>
/// A container of named parameters and child modules (PyTorch's nn.Module without hooks or
/// buffers). Names are hierarchical: a parameter "weight" of the child registered as "0" inside the
/// child "layers" is "layers.0.weight". Registration order is the enumeration order, so parameter
/// lists (and optimizer state) are deterministic.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Variable Parameter)> parameters = [];
    private readonly List<(string Name, Module Child)> children = [];

    /// <summary>True in training mode (dropout active); set recursively by <see cref="Train"/> / <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    public void Train(bool training = true)
    {
        Training = training;
        foreach (var (_, child) in children) child.Train(training);
    }

    public void Eval() => Train(false);

    /// <summary>Every parameter with its full dotted name, in registration order (depth first).</summary>
    public IEnumerable<(string Name, Variable Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (name, p) in parameters) yield return (prefix + name, p);
        foreach (var (name, child) in children)
            foreach (var item in child.NamedParameters(prefix + name + "."))
                yield return item;
    }

    /// <summary>The direct child modules with their names, in registration order.</summary>
    public IEnumerable<(string Name, Module Child)> NamedChildren() => children;

    public IReadOnlyList<Variable> Parameters() => NamedParameters().Select(p => p.Parameter).ToList();

    /// <summary>Total number of scalar parameters.</summary>
    public long ParameterCount() => NamedParameters().Sum(p => (long)p.Parameter.Length);

    public void ZeroGrad()
    {
        foreach (var (_, p) in NamedParameters()) p.ZeroGrad();
    }

    protected Variable RegisterParameter(string name, Tensor<double> value)
    {
        CheckName(name);
        var p = Variable.Parameter(value, name);
        parameters.Add((name, p));
        return p;
    }

    protected TModule RegisterModule<TModule>(string name, TModule module) where TModule : Module
    {
        CheckName(name);
        ArgumentNullException.ThrowIfNull(module);
        children.Add((name, module));
        return module;
    }

    private void CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('.')) throw new ArgumentException($"name '{name}' must not contain '.', the hierarchy separator.", nameof(name));
        if (parameters.Any(p => p.Name == name) || children.Any(c => c.Name == name))
            throw new ArgumentException($"name '{name}' is already registered in {GetType().Name}.", nameof(name));
    }
}

/// <summary>A module with one input and one output (what <see cref="Sequential"/> chains).</summary>
public abstract class Layer : Module
{
    /// <summary>x [..., in] -> y [..., out] (shapes per layer).</summary>
    public abstract Variable Forward(Variable x);
}
