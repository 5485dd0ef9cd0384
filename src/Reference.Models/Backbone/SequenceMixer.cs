// A registered operator as the sequence mixer of a residual block, driven through its descriptor:
// the descriptor's Sample gives the paper's initialization of the operator's own parameters, its
// input shapes say how the block feeds it, and its autodiff adapter (whose VJP is the operator's
// hand-written backward) runs it on the tape. Nothing here is specific to one operator except the
// GLA gate activation (below).
//
// How the block feeds an operator, from the shapes in its descriptor (e.g. "[B, H, L, K]"):
//   - an input without B is a parameter of the operator: learned when the descriptor lists it as
//     differentiable, a fixed constant otherwise; its initial value is the descriptor's Sample;
//   - an input with B and L is a sequence input. If the operator has exactly one, laid out [B, L, D]
//     with D the model width, and its output is [B, L, D] too, the operator is a whole layer (ssm.h3,
//     ssm.mamba_block: they own their projections) and x goes in unchanged. Otherwise each sequence
//     input is a bias-free Linear of x, D -> the product of its other dims, reshaped and permuted
//     into the descriptor's layout (q, k, v of attention; u of a channel-wise SSM or convolution),
//     and the primary output, permuted back to [B, L, features], goes through a bias-free Linear to D.
//   - rotary position embedding (Su et al., RoFormer, arXiv:2104.09864, eq. 34, the half-split
//     pairing of GPT-NeoX) is applied to the inputs named q and k when the spec asks for it.
//   - a parameter with a domain in the descriptor's Constraints (attention.decayed_linear's log_lambda <= 0)
//     is stored raw r and fed through the constraint (-softplus(r)), r started at the inverse of the Sample's
//     value; Forward, OperatorView and StartDecoding all show the operator the constrained value.
//   - recurrence.gla's g goes through GLA's gate, logsigmoid(.)/16 (Yang et al., arXiv:2312.06635, sec. 4.4),
//     so its log forget gates stay <= 0 as the operator requires.
// Parameter count and cache size come from the descriptor's own formulas (ParameterCount, CacheSize)
// evaluated on the sample's params, plus the projections' D x features; tests compare both with the
// real tensors.
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Operators;
using Reference.Operators.Attention;

namespace Reference.Models;

/// <summary>Which registered operators can be sequence mixers, and why the others cannot.</summary>
public static class SequenceMixers
{
    /// <summary>The reason <paramref name="d"/> cannot be a mixer, or null when it can.</summary>
    public static string? Unusable(OperatorDescriptor d)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (d.Autodiff is null) return "it has no autodiff adapter";
        if (d.Sample is null) return "it has no Sample (the initialization the backbone uses)";
        if (d.ParameterCount is null) return "it has no ParameterCount formula";
        if (d.CacheSize is null) return "it has no CacheSize formula";
        if (!d.Causal) return "it is not causal";
        foreach (var input in d.Inputs)
        {
            // An optional input that is not differentiable (a forget gate, an initial state, sink logits) is
            // left out: the mixer feeds only the inputs the descriptor's Sample draws.
            if (input.Optional && !d.Differentiable.Contains(input.Name)) continue;
            var dims = ShapeTokens(input.Shape);
            bool hasB = dims.Contains("B"), hasL = dims.Contains("L");
            if (hasB != hasL) return $"its input {input.Name} {input.Shape} has B without L or L without B";
            if (hasB && !d.Differentiable.Contains(input.Name)) return $"its sequence input {input.Name} is not differentiable";
        }
        var output = ShapeTokens(d.Outputs[0].Shape);
        if (!output.Contains("B") || !output.Contains("L")) return $"its output {d.Outputs[0].Name} {d.Outputs[0].Shape} is not a sequence [B, ..., L, ...]";
        return null;
    }

    /// <summary>Every registered operator that can be a mixer, ordered.</summary>
    public static IReadOnlyList<string> Usable => [.. OperatorRegistry.All.Where(d => Unusable(d) is null).Select(d => d.Name)];

    /// <summary>Throws an ArgumentException naming <paramref name="field"/> when <paramref name="name"/> is unknown or unusable.</summary>
    public static void Check(string name, string field)
    {
        var d = OperatorRegistry.Find(name)
            ?? throw new ArgumentException($"model field '{field}': operator '{name}' is not registered; operators usable as mixers: {string.Join(", ", Usable)}.", "model");
        if (Unusable(d) is { } why)
            throw new ArgumentException($"model field '{field}': operator '{name}' cannot be a sequence mixer: {why}; operators usable as mixers: {string.Join(", ", Usable)}.", "model");
    }

    /// <summary>The dims of a descriptor shape ("[B, H, L, K]" -> B, H, L, K; only the first of "X or Y").</summary>
    internal static string[] ShapeTokens(string shape)
    {
        int or = shape.IndexOf(" or ", StringComparison.Ordinal);
        if (or >= 0) shape = shape[..or];
        return [.. shape.Trim().TrimStart('[').TrimEnd(']').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
    }
}

/// <summary>The sequence mixer layer: x [B, L, D] -> [B, L, D] through one registered operator.</summary>
public sealed class SequenceMixer : Layer
{
    private readonly OperatorDescriptor descriptor;
    private readonly JsonObject opParams;
    private readonly NamedArrays sampleInputs;
    private readonly (string Name, string[] Dims, int[] Features, Linear? Projection)[] sequenceInputs;
    private readonly Dictionary<string, Variable> parameters = [];
    private readonly string[] differentiable;
    private readonly bool wholeLayer;
    private readonly string[] outputDims;
    private readonly int outputFeatures;
    private readonly Rotary? rotary;

    /// <param name="spec">The mixer.</param>
    /// <param name="width">Model width D.</param>
    /// <param name="length">Sequence length the model is built for (operators whose parameters span the sequence need it).</param>
    /// <param name="seed">Seed of the operator's Sample (its own initialization).</param>
    /// <param name="rng">Draws of the projections.</param>
    /// <param name="officialInit">Ask the operator's Sample for its official code's init (<see cref="SampleOptions.OfficialInit"/>).</param>
    public SequenceMixer(MixerSpec spec, int width, int length, ulong seed, SplitMix64 rng, bool officialInit = false)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(rng);
        SequenceMixers.Check(spec.Operator, "mixer.operator");
        Spec = spec;
        descriptor = OperatorRegistry.Get(spec.Operator);
        int keyDim = spec.KeyDim ?? width / spec.Heads;
        var sample = descriptor.Sample!(new SampleOptions(length, width, seed, spec.Taps, spec.StateSize, spec.Discretization, spec.Heads, keyDim, officialInit));
        opParams = (JsonObject)sample.Params.DeepClone();
        if (spec.Params is not null)
            foreach (var (key, value) in spec.Params) opParams[key] = value?.DeepClone();
        sampleInputs = sample.Inputs;
        differentiable = [.. descriptor.Differentiable.Where(sampleInputs.ContainsKey)];

        var sequence = descriptor.Inputs.Where(i => sampleInputs.ContainsKey(i.Name) && SequenceMixers.ShapeTokens(i.Shape).Contains("B")).ToArray();
        var output = descriptor.Outputs[0];
        outputDims = SequenceMixers.ShapeTokens(output.Shape);
        wholeLayer = sequence.Length == 1 && IsTokenMajor(SequenceMixers.ShapeTokens(sequence[0].Shape), sampleInputs[sequence[0].Name].Shape.ToArray(), width)
            && outputDims.Length == 3 && outputDims[0] == "B" && outputDims[1] == "L";
        sequenceInputs = new (string, string[], int[], Linear?)[sequence.Length];
        for (int i = 0; i < sequence.Length; i++)
        {
            var dims = SequenceMixers.ShapeTokens(sequence[i].Shape);
            var shape = sampleInputs[sequence[i].Name].Shape.ToArray();
            if (shape.Length != dims.Length)
                throw new InvalidOperationException($"{descriptor.Name}: sample input {sequence[i].Name} has rank {shape.Length}, its shape {sequence[i].Shape} rank {dims.Length}.");
            int[] features = [.. Enumerable.Range(0, dims.Length).Where(a => dims[a] is not ("B" or "L")).Select(a => shape[a])];
            var projection = wholeLayer ? null
                : RegisterModule("in_" + sequence[i].Name, new Linear(width, features.Aggregate(1, (a, b) => a * b), rng, bias: false));
            sequenceInputs[i] = (sequence[i].Name, dims, features, projection);
        }
        foreach (var name in differentiable.Where(n => !sequence.Any(s => s.Name == n)))
        {
            // A parameter with a domain (the descriptor's Constraints) is stored raw and fed through the
            // constraint's map, started at its inverse of the Sample's value: the operator sees the
            // Sample's initialization and training cannot step out of the domain.
            var array = sampleInputs[name];
            var initial = new Tensor<double>(array.ToDoubles(), array.Shape.ToArray());
            parameters[name] = RegisterParameter(name, descriptor.ConstraintOf(name).Inverse(initial));
        }
        if (spec.UsesRotary)
        {
            if (!sequence.Any(s => s.Name == "q") || !sequence.Any(s => s.Name == "k"))
                throw new ArgumentException($"mixer.rotary: {descriptor.Name} has no q and k inputs to rotate.", nameof(spec));
            rotary = new Rotary();
        }
        // The output's feature size, from one run of the adapter on the sample (batch 1), without the tape.
        using (Tape.NoGrad())
        {
            var y = Run(sample.Inputs, [.. differentiable.Select(n => Variable.Constant(new Tensor<double>(sampleInputs[n].ToDoubles(), sampleInputs[n].Shape.ToArray())))]);
            outputFeatures = Enumerable.Range(0, outputDims.Length).Where(a => outputDims[a] is not ("B" or "L")).Aggregate(1, (a, axis) => a * y.Shape[axis]);
        }
        Output = wholeLayer ? null : RegisterModule("out", new Linear(outputFeatures, width, rng, bias: false));
        Width = width;
    }

    public MixerSpec Spec { get; }
    public int Width { get; }

    /// <summary>The output projection (null when the operator is a whole layer).</summary>
    public Linear? Output { get; }

    /// <summary>True when the operator takes and returns [B, L, D] itself (no projections around it).</summary>
    public bool WholeLayer => wholeLayer;

    /// <summary>The operator's params as the adapter sees them (the sample's, with the spec's overrides).</summary>
    public JsonObject OperatorParams => opParams;

    /// <summary>Learned parameters from the formulas: the operator's ParameterCount plus D x features per projection.</summary>
    public long FormulaParameterCount()
    {
        long n = descriptor.ParameterCount!(opParams);
        if (!wholeLayer)
        {
            foreach (var s in sequenceInputs) n += (long)Width * s.Features.Aggregate(1L, (a, b) => a * b);
            n += (long)outputFeatures * Width;
        }
        return n;
    }

    /// <summary>The learned parameters that are the operator's SSM dynamics (its descriptor's <see cref="OperatorDescriptor.SsmDynamics"/>), in registration order.</summary>
    public IReadOnlyList<Variable> SsmDynamicsParameters() =>
        [.. parameters.Where(kv => descriptor.SsmDynamics.Contains(kv.Key)).Select(kv => kv.Value)];

    /// <summary>
    /// Redraws every affine map of the mixer as a language model's Linear layers (safari's _init_weights): the
    /// input projections' weights and the operator's own (its descriptor's <see cref="OperatorDescriptor.LinearInputs"/>)
    /// N(0, <paramref name="std"/>) with zero biases, the output projection N(0, <paramref name="outputStd"/>) (the
    /// GPT-2 rescaling of a residual branch's last map, as MHA's out_proj). Draws in registration order.
    /// </summary>
    internal void InitializeLinears(SplitMix64 rng, double std, double outputStd)
    {
        ArgumentNullException.ThrowIfNull(rng);
        foreach (var (_, _, _, projection) in sequenceInputs)
            if (projection is not null) Redraw(rng, projection.Weight, std);
        foreach (var (weight, bias) in descriptor.LinearInputs)
        {
            if (!parameters.TryGetValue(weight, out var w)) continue;
            if (descriptor.ConstraintOf(weight) != ParameterConstraint.None)
                throw new InvalidOperationException($"{descriptor.Name}: linear input {weight} has a constraint; it cannot be redrawn as a Linear weight.");
            Redraw(rng, w, std);
            if (bias is not null && parameters.TryGetValue(bias, out var b)) Array.Clear(b.Value.Data);
        }
        if (Output is not null) Redraw(rng, Output.Weight, outputStd);
    }

    /// <summary>Every element of <paramref name="p"/> ~ N(0, <paramref name="std"/>), in order.</summary>
    internal static void Redraw(SplitMix64 rng, Variable p, double std)
    {
        var data = p.Value.Data;
        for (int i = 0; i < data.Length; i++) data[i] = std * rng.Normal();
    }

    /// <summary>Elements of the operator's decoding state of one sequence after <paramref name="length"/> tokens (the descriptor's CacheSize).</summary>
    public long CacheSize(int length) => descriptor.CacheSize!(opParams, length);

    /// <summary>
    /// Called by <see cref="Forward"/> with each sequence input of the operator as fed to it (on the tape,
    /// in the descriptor's layout: GLA's log gates after the gate activation), so a training loop can add
    /// a penalty on them (e.g. on the state transitions A_t = Diag(exp g_t)).
    /// </summary>
    public Action<string, Variable>? OnOperatorInput { get; set; }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[2] != Width)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [B, L, {Width}].", nameof(x));
        int batch = x.Shape[0], length = x.Shape[1];
        var fed = Feed(x, 0);
        if (OnOperatorInput is { } observe)
            foreach (var (name, value) in fed) observe(name, value);
        var variables = differentiable.Select(n => fed.TryGetValue(n, out var v) ? v : Constrained(n)).ToArray();
        var y = Run(sampleInputs, variables, batch, length);
        return Back(y, batch, length);
    }

    /// <summary>
    /// Starts decoding <paramref name="batch"/> sequences through the operator's recurrent form (its
    /// descriptor's Decoder), with the parameters as they are now. Throws when the operator has none.
    /// </summary>
    public MixerDecoder StartDecoding(int batch)
    {
        if (descriptor.Decoder is null)
            throw new InvalidOperationException($"operator '{descriptor.Name}' has no decoder (its descriptor wires no recurrent form for generation).");
        var inputs = new NamedArrays();
        foreach (var (name, array) in sampleInputs)
            if (!sequenceInputs.Any(s => s.Name == name)) inputs[name] = array;
        using (Tape.NoGrad())
            foreach (var name in parameters.Keys) inputs[name] = Core.IO.NpyArray.FromTensor(Constrained(name).Value);
        var p = (JsonObject)opParams.DeepClone();
        foreach (var parameter in descriptor.Parameters)
            if (parameter.Meaning.StartsWith("batch B", StringComparison.Ordinal)) p[parameter.Name] = batch;
        return new MixerDecoder(this, descriptor.Decoder(p, inputs, batch));
    }

    /// <summary>One position of x [B, 1, D] at position <paramref name="position"/> -> [B, 1, D] through <paramref name="decoder"/> (no tape).</summary>
    internal Variable Step(OperatorDecoder decoder, Variable x, int position)
    {
        int batch = x.Shape[0];
        var token = Feed(x, position).ToDictionary(kv => kv.Key, kv => kv.Value.Value);
        return Back(Variable.Constant(decoder.Step(token)), batch, 1);
    }

    /// <summary>The operator's sequence inputs from x [B, L, D] holding positions offset .. offset + L - 1, in the descriptor's layouts.</summary>
    private Dictionary<string, Variable> Feed(Variable x, int offset)
    {
        int batch = x.Shape[0], length = x.Shape[1];
        var fed = new Dictionary<string, Variable>();
        foreach (var (name, dims, features, projection) in sequenceInputs)
        {
            if (projection is null) { fed[name] = x; continue; }
            var flat = projection.Forward(x);                                         // [B, L, prod(features)]
            var split = Ops.Reshape(flat, [batch, length, .. features]);            // [B, L, f1, f2, ...]
            if ((name == "q" || name == "k") && rotary is not null) split = rotary.Apply(split, offset);
            // Permute [B, L, f...] into the descriptor's order: axis a of the target takes B (0), L (1) or the next feature.
            var perm = new int[dims.Length];
            for (int a = 0, f = 2; a < dims.Length; a++) perm[a] = dims[a] == "B" ? 0 : dims[a] == "L" ? 1 : f++;
            var laid = IsIdentity(perm) ? split : Ops.Permute(split, perm);
            if (descriptor.Name == "recurrence.gla" && name == "g") laid = AttentionOps.LogSigmoidGate(laid);
            fed[name] = laid;
        }
        return fed;
    }

    /// <summary>The operator's primary output back to [B, L, D] (through the output projection unless a whole layer).</summary>
    private Variable Back(Variable y, int batch, int length)
    {
        if (wholeLayer) return y;
        int[] order = [Array.IndexOf(outputDims, "B"), Array.IndexOf(outputDims, "L"), .. Enumerable.Range(0, outputDims.Length).Where(a => outputDims[a] is not ("B" or "L"))];
        var tokenMajor = IsIdentity(order) ? y : Ops.Permute(y, order);
        return Output!.Forward(Ops.Reshape(tokenMajor, batch, length, outputFeatures));
    }

    /// <summary>The registered operator this mixer runs.</summary>
    public OperatorDescriptor Operator => descriptor;

    /// <summary>
    /// The operator as it runs on x [B, L, D] (the mixer's normalized input): its params (B and L set)
    /// and every input by its descriptor name, sequence inputs from x and parameters as they are now,
    /// ready for the descriptor's Materialize, Realize or definition (ESS of a trained model).
    /// </summary>
    public (JsonObject Params, NamedArrays Inputs) OperatorView(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[2] != Width)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [B, L, {Width}].", nameof(x));
        int batch = x.Shape[0], length = x.Shape[1];
        var inputs = new NamedArrays();
        using (Tape.NoGrad())
        {
            var fed = Feed(x, 0);
            foreach (var (name, array) in sampleInputs)
                inputs[name] = fed.TryGetValue(name, out var v) ? Core.IO.NpyArray.FromTensor(v.Value)
                    : parameters.ContainsKey(name) ? Core.IO.NpyArray.FromTensor(Constrained(name).Value) : array;
        }
        var p = (JsonObject)opParams.DeepClone();
        foreach (var parameter in descriptor.Parameters)
        {
            if (parameter.Meaning.StartsWith("batch B", StringComparison.Ordinal)) p[parameter.Name] = batch;
            else if (parameter.Meaning.StartsWith("length L", StringComparison.Ordinal)) p[parameter.Name] = length;
        }
        return (p, inputs);
    }

    /// <summary>Operator parameter <paramref name="name"/> as the operator sees it: its raw tensor through the descriptor's constraint.</summary>
    private Variable Constrained(string name) => descriptor.ConstraintOf(name).Apply(parameters[name]);

    private Variable Run(NamedArrays constants, Variable[] variables, int batch = 1, int? length = null)
    {
        var p = opParams;
        if (length is { } l)
        {
            p = (JsonObject)opParams.DeepClone();
            foreach (var parameter in descriptor.Parameters)
            {
                if (parameter.Meaning.StartsWith("batch B", StringComparison.Ordinal)) p[parameter.Name] = batch;
                else if (parameter.Meaning.StartsWith("length L", StringComparison.Ordinal)) p[parameter.Name] = l;
            }
        }
        return descriptor.Autodiff!(p, constants, variables);
    }

    private static bool IsTokenMajor(string[] dims, int[] shape, int width) =>
        dims.Length == 3 && dims[0] == "B" && dims[1] == "L" && shape[2] == width;

    private static bool IsIdentity(int[] perm)
    {
        for (int i = 0; i < perm.Length; i++) if (perm[i] != i) return false;
        return true;
    }
}

/// <summary>A sequence mixer decoding B sequences one position at a time (its operator's recurrent state inside).</summary>
public sealed class MixerDecoder
{
    private readonly SequenceMixer mixer;

    internal MixerDecoder(SequenceMixer mixer, OperatorDecoder decoder) => (this.mixer, Operator) = (mixer, decoder);

    /// <summary>The operator's decoder (its state and position).</summary>
    public OperatorDecoder Operator { get; }

    /// <summary>x [B, 1, D] at the next position -> the mixer's output [B, 1, D] there (no tape).</summary>
    public Variable Step(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[0] != Operator.Batch || x.Shape[1] != 1 || x.Shape[2] != mixer.Width)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [{Operator.Batch}, 1, {mixer.Width}].", nameof(x));
        using (Tape.NoGrad()) return mixer.Step(Operator, x, checked((int)Operator.Position));
    }
}
