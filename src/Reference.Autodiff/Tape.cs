using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Reverse-mode automatic differentiation (Griewank and Walther, "Evaluating Derivatives", 2nd ed.,
/// ch. 3; the dynamic-graph design of Paszke et al., "Automatic differentiation in PyTorch", 2017).
/// <para>
/// Recording: every primitive (see <see cref="Function.Apply(string, Variable[], Tensor{double}, Func{Tensor{double}, Tensor{double}?[]}, Func{Variable[], Variable}?)"/>)
/// that receives at least one variable requiring grad creates a <see cref="Node"/> linked to its
/// inputs. The "tape" is therefore the graph reachable from a result; nothing global is kept, so a
/// graph that is no longer referenced is garbage collected.
/// </para>
/// <para>
/// Backward from a root r (a scalar, or any shape with an explicit seed g_r): nodes are visited in
/// reverse topological order; each node's VJP turns the cotangents of its outputs into cotangents
/// of its inputs, which are summed per input variable (a variable used k times receives the sum of
/// k contributions, in the order the consumers are visited). Leaves add their cotangent into
/// <see cref="Variable.Grad"/>, so gradients accumulate across backward calls.
/// </para>
/// Glossary: cotangent / "grad" = d r / d v (same shape as v); VJP = v^T J of a primitive.
/// Simplifications: no higher-order gradients (VJPs compute plain tensors, not variables); the
/// graph is kept after backward (backward may be called again on the same graph).
/// </summary>
public static class Tape
{
    [ThreadStatic] private static int noGradDepth;
    [ThreadStatic] private static int fastDepth;
    [ThreadStatic] private static Dictionary<string, BackwardRule>? rules;

    /// <summary>True when primitives record nodes on this thread (no enclosing <see cref="NoGrad"/>).</summary>
    public static bool IsRecording => noGradDepth == 0;

    /// <summary>
    /// True inside <see cref="UseFastKernels"/>: matrix products use FastGemm (float64, threaded) and
    /// activations / softmax / norms use the FastActivations / FastNormalization kernels instead of
    /// the Naive definitions. Arithmetic, reductions and gradient accumulation are identical in both
    /// tiers (single IEEE operations per element, fixed accumulation orders).
    /// </summary>
    public static bool FastKernels => fastDepth > 0;

    /// <summary>Scope in which primitives compute values without recording anything (inference, finite differences).</summary>
    public static Scope NoGrad()
    {
        noGradDepth++;
        return new Scope(() => noGradDepth--);
    }

    /// <summary>Scope in which the primitives use the Fast tier kernels (see <see cref="FastKernels"/>).</summary>
    public static Scope UseFastKernels()
    {
        fastDepth++;
        return new Scope(() => fastDepth--);
    }

    /// <summary>
    /// Scope in which <see cref="Backward"/> uses <paramref name="overrides"/>' rule instead of the
    /// recorded VJP for every node whose primitive name (e.g. "relu", "linear") is a key. This is
    /// how attribution methods change the backward pass of one kind of primitive without copying
    /// any layer (guided backprop's ReLU, DeepLift's rescale multipliers, LRP's relevance rules),
    /// as module backward hooks do in Captum and Zennit. Scopes nest: an inner scope's rule for a
    /// name wins, and disposing it restores the outer rules. Forward passes are unaffected.
    /// </summary>
    public static Scope OverrideBackward(IReadOnlyDictionary<string, BackwardRule> overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        var previous = rules;
        var merged = previous is null ? new Dictionary<string, BackwardRule>(StringComparer.Ordinal) : new Dictionary<string, BackwardRule>(previous, StringComparer.Ordinal);
        foreach (var (name, rule) in overrides)
        {
            ArgumentException.ThrowIfNullOrEmpty(name, nameof(overrides));
            merged[name] = rule ?? throw new ArgumentNullException(nameof(overrides), $"the rule for '{name}' is null.");
        }
        rules = merged;
        return new Scope(() => rules = previous);
    }

    /// <summary>Scope in which no backward override applies (a rule that back-propagates through a replayed primitive uses it).</summary>
    public static Scope SuspendOverrides()
    {
        var previous = rules;
        rules = null;
        return new Scope(() => rules = previous);
    }

    /// <summary>
    /// The recorded primitives that <paramref name="root"/> depends on, producers before consumers
    /// (the order backward visits in reverse). Attribution methods use it to find a layer's output
    /// by primitive name (Grad-CAM's last convolution).
    /// </summary>
    public static IReadOnlyList<TracedNode> Trace(Variable root)
    {
        ArgumentNullException.ThrowIfNull(root);
        return root.Creator is null ? [] : TopologicalOrder(root.Creator).Select(n => new TracedNode(n.Name, n.Inputs, n.Outputs)).ToList();
    }

    /// <summary>Restores the previous mode when disposed (use with <c>using</c>).</summary>
    public readonly struct Scope(Action exit) : IDisposable
    {
        public void Dispose() => exit?.Invoke();
    }

    /// <summary>Back-propagates from <paramref name="root"/>; see the type's documentation.</summary>
    public static void Backward(Variable root, Tensor<double>? seed = null) => Propagate(root, seed, null);

    /// <summary>
    /// Back-propagates from <paramref name="root"/> like <see cref="Backward"/>, but returns the cotangent
    /// of every leaf that requires grad and was reached (summed over its uses, in the same order
    /// Backward adds them) instead of accumulating into <see cref="Variable.Grad"/>, which stays
    /// untouched (torch.autograd.grad). Data-parallel training runs one such pass per micro-batch on
    /// its own thread and sums the results in a fixed order (<see cref="DataParallelStep"/>). Inside a
    /// <see cref="TensorArena"/> scope the returned tensors are the arena's (valid until its Reset).
    /// </summary>
    public static Dictionary<Variable, Tensor<double>> Gradients(Variable root, Tensor<double>? seed = null)
    {
        var leaves = new Dictionary<Variable, Tensor<double>>(ReferenceEqualityComparer.Instance);
        Propagate(root, seed, leaves);
        return leaves;
    }

    private static void Propagate(Variable root, Tensor<double>? seed, Dictionary<Variable, Tensor<double>>? leaves)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!root.RequiresGrad)
            throw new InvalidOperationException($"backward from {root}: it does not require grad (no input of its graph requires grad, or it was computed under Tape.NoGrad()).");
        if (seed is null)
        {
            if (root.Length != 1)
                throw new ArgumentException($"backward without a seed needs a one-element root, the root has shape {Shapes.Format(root.Shape)}.", nameof(seed));
            seed = Tensor<double>.Full(1.0, root.Value.ShapeArray);
        }
        else if (!seed.Shape.SequenceEqual(root.Shape))
            throw new ArgumentException($"seed has shape {Shapes.Format(seed.Shape)}, expected the root's shape {Shapes.Format(root.Shape)}.", nameof(seed));

        if (root.IsLeaf)
        {
            Accumulate(root, seed, leaves);
            return;
        }

        var grads = new Dictionary<Variable, Tensor<double>>(ReferenceEqualityComparer.Instance) { [root] = seed };
        var order = TopologicalOrder(root.Creator!);
        for (int n = order.Count - 1; n >= 0; n--)
        {
            var node = order[n];
            var outputGrads = new Tensor<double>[node.Outputs.Length];
            bool any = false;
            for (int o = 0; o < node.Outputs.Length; o++)
            {
                var output = node.Outputs[o];
                if (grads.Remove(output, out var g))
                {
                    any = true;
                    outputGrads[o] = g;
                    if (output.RetainsGrad) Accumulate(output, g, null);
                }
                else outputGrads[o] = TensorArena.Zeros(output.Value.ShapeArray);
            }
            if (!any) continue;

            var inputGrads = rules is not null && rules.TryGetValue(node.Name, out var rule)
                ? rule(new BackwardContext(node, outputGrads))
                : node.Vjp(outputGrads);
            CheckVjpResult(node, inputGrads);
            for (int i = 0; i < node.Inputs.Length; i++)
            {
                var input = node.Inputs[i];
                var g = inputGrads[i];
                if (g is null || !input.RequiresGrad) continue;
                if (input.IsLeaf) Accumulate(input, g, leaves);
                else if (grads.TryGetValue(input, out var existing)) grads[input] = Sum(existing, g);
                else grads[input] = g;
            }
        }
    }

    /// <summary>
    /// Leaf accumulation: the first gradient is copied (VJPs may share buffers), later ones are added in place.
    /// Into <paramref name="leaves"/> when given (copies from the current arena), else into <see cref="Variable.Grad"/>
    /// (a plain array: it outlives any arena).
    /// </summary>
    private static void Accumulate(Variable v, Tensor<double> g, Dictionary<Variable, Tensor<double>>? leaves)
    {
        if (leaves is not null)
        {
            if (leaves.TryGetValue(v, out var sum)) TensorPrimitives.Add(sum.Data, g.Data, sum.Data);
            else
            {
                var copy = TensorArena.Uninitialized(g.ShapeArray);
                g.Data.CopyTo(copy.Data, 0);
                leaves[v] = copy;
            }
            return;
        }
        if (v.Grad is null) v.Grad = g.Clone();
        else TensorPrimitives.Add(v.Grad.Data, g.Data, v.Grad.Data);
    }

    private static Tensor<double> Sum(Tensor<double> a, Tensor<double> b)
    {
        var result = TensorArena.Uninitialized(a.ShapeArray);   // every element written by the add
        TensorPrimitives.Add(a.Data, b.Data, result.Data);
        return result;
    }

    private static void CheckVjpResult(Node node, Tensor<double>?[] inputGrads)
    {
        if (inputGrads is null || inputGrads.Length != node.Inputs.Length)
            throw new InvalidOperationException($"the VJP of '{node.Name}' returned {inputGrads?.Length ?? 0} gradients, expected {node.Inputs.Length} (one per input, null for none).");
        for (int i = 0; i < inputGrads.Length; i++)
        {
            var g = inputGrads[i];
            if (g is not null && !g.Shape.SequenceEqual(node.Inputs[i].Shape))
                throw new InvalidOperationException($"the VJP of '{node.Name}' returned a gradient of shape {Shapes.Format(g.Shape)} for input {i}, expected {Shapes.Format(node.Inputs[i].Shape)}.");
        }
    }

    /// <summary>Nodes reachable from <paramref name="start"/> in post-order (producers before consumers); iterative DFS so deep graphs cannot overflow the stack.</summary>
    private static List<Node> TopologicalOrder(Node start)
    {
        var order = new List<Node>();
        var visited = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Node Node, int NextInput)>();
        stack.Push((start, 0));
        visited.Add(start);
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            if (next < node.Inputs.Length)
            {
                stack.Push((node, next + 1));
                var producer = node.Inputs[next].Creator;
                if (producer is not null && visited.Add(producer)) stack.Push((producer, 0));
            }
            else order.Add(node);
        }
        return order;
    }
}

/// <summary>One recorded primitive as <see cref="Tape.Trace"/> lists it.</summary>
public sealed record TracedNode(string Name, IReadOnlyList<Variable> Inputs, IReadOnlyList<Variable> Outputs);

/// <summary>
/// A replacement backward pass for one kind of primitive (see <see cref="Tape.OverrideBackward"/>):
/// the same contract as a VJP (one entry per input, that input's shape or null), given the node.
/// </summary>
public delegate Tensor<double>?[] BackwardRule(BackwardContext context);

/// <summary>What a <see cref="BackwardRule"/> sees of the node it replaces.</summary>
public sealed class BackwardContext
{
    private readonly Node node;

    internal BackwardContext(Node node, Tensor<double>[] outputGrads)
    {
        this.node = node;
        OutputGrads = outputGrads;
    }

    /// <summary>The primitive's name.</summary>
    public string Name => node.Name;

    /// <summary>The node's inputs (their forward values are <c>Inputs[i].Value</c>).</summary>
    public IReadOnlyList<Variable> Inputs => node.Inputs;

    /// <summary>The node's outputs.</summary>
    public IReadOnlyList<Variable> Outputs => node.Outputs;

    /// <summary>The cotangent of each output (zeros for an output that did not reach the root); do not modify.</summary>
    public IReadOnlyList<Tensor<double>> OutputGrads { get; }

    /// <summary>The cotangent of the single output.</summary>
    public Tensor<double> OutputGrad => OutputGrads[0];

    /// <summary>The recorded VJP applied to <paramref name="outputGrads"/> (one per output).</summary>
    public Tensor<double>?[] Default(params Tensor<double>[] outputGrads) => node.Vjp(outputGrads);

    /// <summary>True when the primitive registered a replay (see <see cref="Function.Apply(string, Variable[], Tensor{double}, Func{Tensor{double}, Tensor{double}?[]}, Func{Variable[], Variable}?)"/>).</summary>
    public bool CanReplay => node.Replay is not null;

    /// <summary>The same primitive applied to <paramref name="inputs"/> (recorded as usual).</summary>
    public Variable Replay(params Variable[] inputs) =>
        (node.Replay ?? throw new InvalidOperationException($"the primitive '{node.Name}' registered no replay, which this backward rule needs."))(inputs);
}
