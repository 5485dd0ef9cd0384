using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;

namespace Reference.Operators;

/// <summary>A parameter of an operator: its name in params, its type, its default and what it means.</summary>
public sealed record OperatorParameter(string Name, string Type, string Default, string Meaning);

/// <summary>An input or output array: its name, its shape in the shared vocabulary (B, L, D, H, N, K, V) and its meaning.</summary>
public sealed record OperatorTensor(string Name, string Shape, string Meaning, bool Optional = false);

/// <summary>
/// One representation of the operator besides the naive parallel definition (recurrent, chunked,
/// materialized, ...): the C# entry point it calls and a run on named inputs that returns the
/// outputs named in <see cref="Outputs"/>, each of which must equal the definition's.
/// </summary>
public sealed record OperatorForm(string Name, string Entry, Func<JsonObject, NamedArrays, NamedArrays> Run, params string[] Outputs);

/// <summary>Settings of a seeded random instance of an operator (options an operator does not use are ignored).</summary>
/// <param name="Length">Sequence length L.</param>
/// <param name="Channels">Channels C (or model width); heads come from <paramref name="Heads"/>.</param>
/// <param name="Seed">SplitMix64 seed of every draw.</param>
/// <param name="Taps">Short convolutions: taps k.</param>
/// <param name="State">State-space models: real state size N.</param>
/// <param name="Discretization">S4D-style models: zoh or bilinear.</param>
/// <param name="Heads">Attention-style operators: heads H.</param>
/// <param name="KeyDim">Attention-style operators: key dimension K.</param>
/// <param name="OfficialInit">
/// Draw the operator's parameters as its official code does where that differs from this project's default
/// (ssm.h3 and ssm.shift: the shift SSM's C kaiming-uniform instead of N(0, 1)); operators without such a
/// difference ignore it.
/// </param>
public sealed record SampleOptions(int Length, int Channels = 4, ulong Seed = 0, int Taps = 4, int State = 16,
    string Discretization = "zoh", int Heads = 1, int KeyDim = 16, bool OfficialInit = false);

/// <summary>A seeded random instance: parameters and inputs as the descriptor's entry points take them.</summary>
public sealed record OperatorSample(JsonObject Params, NamedArrays Inputs);

/// <summary>
/// Everything the project knows about one operator, in one place next to its file: the one dotted
/// name used everywhere (golden op, ESS, CLI, docs, numpy backend, models), what it computes, its
/// parameters, inputs and outputs, every entry point (naive definition, fast tier, the paper's other
/// forms, the materialized operator, the diagonal realization, the recurrent step and its state),
/// its total-state-size formula, its autodiff adapter, and its conformance cases (the golden set is
/// written from them). The golden runner, the ESS catalog, the CLI (<c>reference ops</c>), the demo
/// and the registry tests read descriptors; nothing repeats them.
/// <para>Entry points run on named float64 arrays (<see cref="NamedArrays"/>, keyed by the names in
/// <see cref="Inputs"/>) with parameters in a JSON object (keyed by <see cref="Parameters"/>), so
/// every consumer drives every operator the same way; the <c>...Entry</c> strings name the typed C#
/// methods a reader opens next to the paper.</para>
/// <para>A capability the operator does not have is stated, with the reason, in
/// <see cref="Without"/> (keys: <c>fast</c>, <c>forms</c>, <c>materialize</c>, <c>realize</c>,
/// <c>step</c>, <c>autodiff</c>, <c>golden</c>, <c>ess</c>); the registry test fails on a capability that is
/// neither present nor explained.</para>
/// </summary>
public sealed class OperatorDescriptor
{
    /// <summary>Stable dotted name, family.operator (e.g. "recurrence.gla"); the golden directory and the CLI name.</summary>
    public required string Name { get; init; }

    /// <summary>Bumped when the definition or the meaning of a parameter changes.</summary>
    public required int Version { get; init; }

    /// <summary>Human name (e.g. "Gated linear attention").</summary>
    public required string Title { get; init; }

    /// <summary>The paper and the section or equation the definition follows.</summary>
    public required string Paper { get; init; }

    /// <summary>The file that holds the definition, relative to the repository root.</summary>
    public required string File { get; init; }

    /// <summary>One line: what the op computes, with shapes and layouts.</summary>
    public required string Summary { get; init; }

    /// <summary>Whether output t depends only on inputs up to t (the materialized operator is lower triangular; ESS needs it).</summary>
    public bool Causal { get; init; } = true;

    public required IReadOnlyList<OperatorParameter> Parameters { get; init; }

    public required IReadOnlyList<OperatorTensor> Inputs { get; init; }

    public required IReadOnlyList<OperatorTensor> Outputs { get; init; }

    // ---------------------------------------------------------------- tiers and forms

    /// <summary>The typed C# entry point of the definition (float64, naive tier).</summary>
    public required string NaiveEntry { get; init; }

    /// <summary>The definition on named inputs: float64 naive tier. Golden outputs come only from here.</summary>
    public required Func<JsonObject, NamedArrays, NamedArrays> Naive { get; init; }

    /// <summary>The typed C# entry point(s) of the fast tier (float32 and float64), or null.</summary>
    public string? FastEntry { get; init; }

    /// <summary>The fast tier at a precision (outputs in that precision), or null.</summary>
    public Func<JsonObject, NamedArrays, Precision, NamedArrays>? Fast { get; init; }

    /// <summary>The paper's other representations, each checked against <see cref="Naive"/> by the registry test and the demo.</summary>
    public IReadOnlyList<OperatorForm> Forms { get; init; } = [];

    // ---------------------------------------------------------------- the operator view

    /// <summary>The typed C# entry point of the materialized operator matrix, or null.</summary>
    public string? MaterializeEntry { get; init; }

    /// <summary>The operator matrix T per channel or head, [C, L, L] (y[c] = T[c] u[c] for the operator's mixing input), or null.</summary>
    public Func<JsonObject, NamedArrays, Tensor<double>>? Materialize { get; init; }

    /// <summary>The typed C# entry point of the diagonal realization, or null.</summary>
    public string? RealizeEntry { get; init; }

    /// <summary>One diagonal realization (a_t, b_t, c_t) per channel or head, in the order of <see cref="Materialize"/>'s rows, or null.</summary>
    public Func<JsonObject, NamedArrays, IReadOnlyList<DiagonalRealization>>? Realize { get; init; }

    /// <summary>The typed C# entry point of one recurrent (decoding) step, or null.</summary>
    public string? StepEntry { get; init; }

    /// <summary>The recurrent state the step carries, with its shape (e.g. "S [B, H, K, V]").</summary>
    public string? State { get; init; }

    /// <summary>
    /// Decoding through <see cref="StepEntry"/> for generation: (params, inputs, B) -> a fresh
    /// <see cref="OperatorDecoder"/> for B sequences whose parameter inputs (those without B and L) are
    /// read from inputs now; its Step takes the sequence inputs one position at a time. Null when the
    /// operator has no recurrent form wired for generation.
    /// </summary>
    public Func<JsonObject, NamedArrays, int, OperatorDecoder>? Decoder { get; init; }

    /// <summary>Total state size per channel or head, the capacity ESS is compared to, as a formula.</summary>
    public string? TotalStateSizeFormula { get; init; }

    /// <summary>Total state size per channel or head at split s of a length-L sequence: (params, s, L) -> TSS.</summary>
    public Func<JsonObject, int, int, double>? TotalStateSize { get; init; }

    /// <summary>
    /// The learned parameters the operator owns (its parameter inputs, not the sequence inputs), as a
    /// count from params, or null. Written from the paper's shapes, independently of the tensors
    /// <see cref="Sample"/> builds (the models' tests check one against the other).
    /// </summary>
    public Func<JsonObject, long>? ParameterCount { get; init; }

    /// <summary>The inference cache one sequence carries after L tokens (elements of the decoding state), as a formula, or null.</summary>
    public string? CacheSizeFormula { get; init; }

    /// <summary>
    /// Elements of the decoding state (<see cref="State"/>) of one sequence after L tokens: (params, L) -> count
    /// (complex values count twice), or null. STAR's cache objective and the models' per-block cache read it.
    /// </summary>
    public Func<JsonObject, int, long>? CacheSize { get; init; }

    /// <summary>A seeded random instance with the paper's initialization (ESS, the demo, benches).</summary>
    public Func<SampleOptions, OperatorSample>? Sample { get; init; }

    // ---------------------------------------------------------------- gradients

    /// <summary>The typed C# entry point of the autodiff adapter (its VJP is the operator's hand-written backward), or null.</summary>
    public string? AutodiffEntry { get; init; }

    /// <summary>The inputs the adapter differentiates with respect to (a subset of <see cref="Inputs"/>).</summary>
    public IReadOnlyList<string> Differentiable { get; init; } = [];

    /// <summary>
    /// The adapter on the tape: given params, every input as a constant tensor and the differentiable
    /// ones as variables (in the order of <see cref="Differentiable"/>), the primary output.
    /// </summary>
    public Func<JsonObject, NamedArrays, Variable[], Variable>? Autodiff { get; init; }

    /// <summary>
    /// The domain of each learned parameter input that has one (absent: any real value). A trainer keeps it
    /// by storing a raw tensor and feeding the constraint's map of it (<see cref="ParameterConstraints"/>),
    /// started at the inverse of the Sample's value; the operator itself still refuses values outside it.
    /// </summary>
    public IReadOnlyDictionary<string, ParameterConstraint> Constraints { get; init; } = new Dictionary<string, ParameterConstraint>();

    /// <summary>The constraint of input <paramref name="name"/> (None when it has none).</summary>
    public ParameterConstraint ConstraintOf(string name) => Constraints.TryGetValue(name, out var c) ? c : ParameterConstraint.None;

    /// <summary>
    /// The learned inputs that are a state-space model's dynamics (A, B and the step Delta) in the paper's
    /// training recipe: S4, S4D and H3 register them through OptimModule.register with their own learning
    /// rate (H3's configs: min(1e-3, lr)) and no weight decay (HazyResearch/safari src/utils/train.py and
    /// ss_kernel_diag.py: log_dt, B, inv_A_real, A_imag; ss_kernel_shift.py: the shift SSM's B), while C and
    /// the skip D train with the others. A trainer may put them in their own optimizer group. Each name is
    /// one of <see cref="Differentiable"/>.
    /// </summary>
    public IReadOnlyList<string> SsmDynamics { get; init; } = [];

    /// <summary>
    /// The affine maps among the learned inputs, as (weight [out, in], bias [out] or null): an operator that
    /// owns its projections (ssm.h3) lists them so that a language model's initialization scheme can redraw
    /// them like its own Linear layers (safari's simple_lm _init_weights: N(0, 0.02), zero bias).
    /// </summary>
    public IReadOnlyList<(string Weight, string? Bias)> LinearInputs { get; init; } = [];

    // ---------------------------------------------------------------- conformance cases

    /// <summary>The naive tier's documented summation order (written into every manifest).</summary>
    public required string AccumulationOrder { get; init; }

    /// <summary>How <see cref="DrawInputs"/> turns the seed into arrays, precisely enough to redo it in Python.</summary>
    public required string Distribution { get; init; }

    public required IReadOnlyList<ConformanceCase> Cases { get; init; }

    /// <summary>Draws the inputs of a case from a generator seeded with the case's seed.</summary>
    public required Func<JsonObject, SplitMix64, NamedArrays> DrawInputs { get; init; }

    /// <summary>The tolerance of an output given the case's parameters.</summary>
    public required Func<JsonObject, string, Tolerance> Tolerance { get; init; }

    /// <summary>Canonicalization hint per output ("none" unless the output is non-unique).</summary>
    public Func<string, string> Canonicalization { get; init; } = _ => "none";

    /// <summary>What the operator deliberately lacks, and why (see the class remarks for the keys).</summary>
    public IReadOnlyDictionary<string, string> Without { get; init; } = new Dictionary<string, string>();

    /// <summary>The case the demo runs (default: the last case, usually the largest).</summary>
    public string? DemoCase { get; init; }

    /// <summary>The case <see cref="DemoCase"/> names, or the last case.</summary>
    public ConformanceCase DemoCaseSpec => DemoCase is null ? Cases[^1]
        : Cases.FirstOrDefault(c => c.Id == DemoCase) ?? throw new InvalidOperationException($"{Name}: DemoCase '{DemoCase}' is not one of its cases.");

    /// <summary>The inputs of a case, drawn from its seed.</summary>
    public NamedArrays InputsOf(ConformanceCase c) => DrawInputs(c.Params, new SplitMix64(c.Seed));

    public override string ToString() => Name;
}

/// <summary>Helpers the descriptors share for moving between named arrays and tensors.</summary>
public static class NamedTensors
{
    /// <summary>The float64 tensor of input <paramref name="name"/> (ArgumentException naming it when missing).</summary>
    public static Tensor<double> Double(this NamedArrays x, string name) => x.Get(name).ToTensorDouble();

    /// <summary>The tensor of input <paramref name="name"/> in precision T, or null when the input is absent.</summary>
    public static Tensor<T>? Optional<T>(this NamedArrays x, string name) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        x.TryGetValue(name, out var a) ? a.ToTensor<T>() : null;

    /// <summary>The tensor of input <paramref name="name"/> in precision T.</summary>
    public static Tensor<T> As<T>(this NamedArrays x, string name) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        x.Get(name).ToTensor<T>();

    /// <summary>One output array per (name, tensor) pair, in order.</summary>
    public static NamedArrays Outputs<T>(params (string Name, Tensor<T> Value)[] outputs) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var result = new NamedArrays();
        foreach (var (name, value) in outputs) result[name] = NpyArray.FromTensor(value);
        return result;
    }
}
