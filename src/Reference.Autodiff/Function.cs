using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// The one way a computation becomes a differentiable primitive. Every built-in primitive in
/// <see cref="Ops"/> goes through it, and so does a fused operator with a hand-written
/// vector-Jacobian product (an SSM scan, a long convolution, flash attention...): the operator
/// computes its output with its own Forward, then registers itself as ONE node whose VJP is its own
/// Backward.
/// <example>
/// <code>
/// // y = a * x + b elementwise, registered as one primitive "axpb" with its VJP.
/// public static Variable Axpb(Variable a, Variable x, Variable b)
/// {
///     var y = Tensor&lt;double&gt;.Zeros(x.Value.ShapeArray);
///     for (int i = 0; i &lt; y.Length; i++) y.Data[i] = a.Value.Data[i] * x.Value.Data[i] + b.Value.Data[i];
///     return Function.Apply("axpb", [a, x, b], y, gy =>
///     {
///         var ga = Tensor&lt;double&gt;.Zeros(gy.ShapeArray);
///         var gx = Tensor&lt;double&gt;.Zeros(gy.ShapeArray);
///         for (int i = 0; i &lt; gy.Length; i++)
///         {
///             ga.Data[i] = gy.Data[i] * x.Value.Data[i];   // d y / d a = x
///             gx.Data[i] = gy.Data[i] * a.Value.Data[i];   // d y / d x = a
///         }
///         return [ga, gx, gy];                             // d y / d b = 1; null = "no gradient"
///     });
/// }
/// // Check it: GradCheck.Check(v =&gt; Ops.Sum(Axpb(v[0], v[1], v[2])), [a0, x0, b0]).Passed
/// </code>
/// </example>
/// Contract of a VJP: it receives the cotangent of each output (same shape as the output; a zero
/// tensor when that output did not reach the root) and returns one gradient per input in input
/// order, each of that input's shape or null. It must not modify the cotangents it receives, nor
/// keep them; it may return the same tensor for several inputs (the tape copies before
/// accumulating). Closures may capture the forward's inputs and saved intermediates; inputs must
/// not be mutated between forward and backward. When nothing requires grad (or inside
/// <see cref="Tape.NoGrad"/>) the VJP is never stored and the result is a constant.
/// </summary>
public static class Function
{
    /// <summary>Registers a single-output primitive; returns its output as a variable.</summary>
    /// <param name="name">Stable dotted name shown in errors and graph dumps (e.g. "ssm.s4d").</param>
    /// <param name="inputs">The variables the output depends on (constants allowed).</param>
    /// <param name="output">The forward result (owned by the returned variable from now on).</param>
    /// <param name="vjp">g_out -> [g_input_0, g_input_1, ...] (null entries for inputs without gradient).</param>
    /// <param name="replay">
    /// Optional: the same primitive (same non-tensor settings) applied to other inputs of the same
    /// shapes. Backward rules of attribution methods use it to evaluate a layer with modified
    /// parameters (LRP's gamma rule evaluates z = f(a; w + gamma w+)); see <see cref="Tape.OverrideBackward"/>.
    /// </param>
    public static Variable Apply(string name, Variable[] inputs, Tensor<double> output, Func<Tensor<double>, Tensor<double>?[]> vjp, Func<Variable[], Variable>? replay = null)
    {
        ArgumentNullException.ThrowIfNull(vjp);
        return Apply(name, inputs, [output], grads => vjp(grads[0]), replay)[0];
    }

    /// <summary>Registers a multi-output primitive (e.g. a scan returning outputs and final state).</summary>
    /// <param name="name">Stable dotted name of the primitive.</param>
    /// <param name="inputs">The variables the outputs depend on.</param>
    /// <param name="outputs">The forward results, one variable each.</param>
    /// <param name="vjp">[g_out_0, g_out_1, ...] -> [g_input_0, ...]; unused outputs arrive as zeros.</param>
    /// <param name="replay">Optional single-output replay (see the single-output overload).</param>
    public static Variable[] Apply(string name, Variable[] inputs, Tensor<double>[] outputs, Func<Tensor<double>[], Tensor<double>?[]> vjp, Func<Variable[], Variable>? replay = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(vjp);
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i] is null) throw new ArgumentNullException(nameof(inputs), $"inputs[{i}] of '{name}' is null.");
        for (int o = 0; o < outputs.Length; o++)
            if (outputs[o] is null) throw new ArgumentNullException(nameof(outputs), $"outputs[{o}] of '{name}' is null.");

        bool record = Tape.IsRecording && inputs.Any(v => v.RequiresGrad);
        if (!record) return outputs.Select(Variable.Constant).ToArray();

        var node = new Node(name, inputs, vjp, replay);
        var results = new Variable[outputs.Length];
        for (int o = 0; o < outputs.Length; o++) results[o] = new Variable(outputs[o], node, o);
        node.Outputs = results;
        return results;
    }
}
