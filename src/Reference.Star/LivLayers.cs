// The LIV classes as layers on the tape, each a composition of registered operators (their autodiff
// entry points, whose VJPs are the operators' hand-written backward passes) with a featurizer of
// bias-free projections (Thomas et al., STAR, arXiv:2411.17800, sec. 3.1: y = T(x) x with T factored into
// a featurizer, token mixing and channel mixing). Width D, heads H, head size dh = D / H; x [B, L, D].
//
//   SA-r      q = x Wq, k = x Wk, v = x Wv (Wk, Wv: D -> D / r), rotary on q, k, then
//             attention.softmax (Hq = H, Hkv = H / r), then Wo: D -> D.  r = 1 (SA-1, SA-2), 4 (SA-3), 2 (SA-4).
//             SA-2 also runs conv.causal (3 taps, depthwise) on q, k, v in the featurizer.
//   Rec-1     Mamba's block (Gu & Dao, arXiv:2312.00752, sec. 3.4 and fig. 3): u = silu(conv.causal(x Wu)) with a
//             depthwise short kernel [D, 3] (no bias), then Delta = u Wdt (+ bias), B = u Wb, C = u Wc (N = 16, one
//             group) from the convolved input, z = x Wz, A = -exp(a_log) with a_log = log(1..N) (S4D-real),
//             ssm.selective_scan(u, Delta, A, B, C, skip, z), Wo. Its decoding state is the scan state [D, N]
//             plus the convolution's last 2 inputs [D, 2].
//   Rec-2     q, k = x Wq, x Wk (K = 2 per head), v = x Wv, g = logsigmoid(x Wg) / 16, recurrence.gla, Wo.
//   GConv-1   q, k, v = x W{q,k,v}; y = q * (h conv (k * v)) by conv.causal with an explicit kernel h [D, 3]; Wo.
//   GConv-2   as GConv-1 with an implicit kernel of the input's length (Hyena, Poli et al. arXiv:2302.10866,
//             sec. 3.3): h[:, t] = (W2 silu(W1 z_t + b1)) * exp(-alpha_c t / L), z_t = (t / L, sin, cos of 2 pi f t / L,
//             f = 1..4); decay rates alpha_c spread over [0.3, 3] (fixed); the activation is Hyena's sin (w = 1),
//             the window and the positional features are Hyena's.
//   GMemless  SwiGLU: Wo (silu(x W1) * x W3), inner 8/3 D rounded up to a multiple of 8 (Shazeer 2020, eq. 6).
//   *-Diff    y = LIV_a(x) - LIV_b(x), two instances of the base class with separate weights (branches a, b).
//
// Featurizer weights are every parameter except Wo. Featurizer sharing hands a layer the leader layer's
// featurizer tensor of the same name and shape (the same Variable: one tensor, gradients of every use
// summed by the tape); feature-group sharing hands it the leader's computed features (attention K/V after
// rotary, B/C, the GLA q/k, the gated convolution's k/v), so the layer owns no weights for them and, for
// K/V and the convolution's input, carries no cache for them either.
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Models;
using Reference.Operators;
using Reference.Operators.Attention;

namespace Reference.Star;

/// <summary>Sizes every LIV of a model shares.</summary>
/// <param name="Width">Model width D.</param>
/// <param name="Heads">Heads H (attention, GLA); must divide D, and be a multiple of 4 when SA-3 is used.</param>
/// <param name="StateExpansion">Rec-1's state lanes N per channel.</param>
/// <param name="GlaKeyDim">Rec-2's key size K per head; its state H K (D / H) = K D elements is a state expansion K.</param>
/// <param name="ShortTaps">GConv-1's and SA-2's short kernel.</param>
/// <param name="FilterHidden">GConv-2's implicit filter width.</param>
public sealed record LivSizes(int Width, int Heads = 4, int StateExpansion = 16, int GlaKeyDim = 2, int ShortTaps = 3, int FilterHidden = 16)
{
    public int HeadDim => Width / Heads;
    public int SwiGluInner => (8 * Width / 3 + 7) / 8 * 8;
    public const int FilterFrequencies = 4;
    public int FilterFeatures => 1 + 2 * FilterFrequencies;

    public void Validate()
    {
        if (Width < 1 || Heads < 1 || Width % Heads != 0) throw new ArgumentException($"heads {Heads} must divide width {Width} (both >= 1).", "heads");
        if (HeadDim % 2 != 0) throw new ArgumentException($"head size {HeadDim} = width / heads must be even (rotary).", "heads");
        if (StateExpansion < 1 || GlaKeyDim < 1 || ShortTaps < 1 || FilterHidden < 1) throw new ArgumentException("LIV sizes must be >= 1.", "sizes");
    }

    /// <summary>K/V heads of an attention class (H / r), checked.</summary>
    public int KvHeads(int baseId)
    {
        int r = baseId switch { 3 => 4, 4 => 2, _ => 1 };
        if (Heads % r != 0) throw new ArgumentException($"{LivCatalog.Get(baseId).Name} repeats K/V {r}x and needs heads divisible by {r}, got {Heads}.", "heads");
        return Heads / r;
    }
}

/// <summary>A learned tensor of a LIV: its name within the branch, its shape, and whether it is featurizer (shareable) weight.</summary>
public sealed record LivPart(string Name, int[] Shape, bool Featurizer, string? Feature)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Per-class arithmetic: the parts (parameters) and the cache, from the sizes alone.</summary>
public static class LivFormulas
{
    /// <summary>The learned tensors of one branch of base class <paramref name="baseId"/>; Feature names the computed feature a part produces.</summary>
    public static IReadOnlyList<LivPart> Parts(int baseId, LivSizes s)
    {
        int d = s.Width;
        switch (baseId)
        {
            case 1 or 2 or 3 or 4:
            {
                int kv = s.KvHeads(baseId) * s.HeadDim;
                var parts = new List<LivPart> { new("q", [d, d], true, null), new("k", [kv, d], true, "k"), new("v", [kv, d], true, "v") };
                if (baseId == 2)
                    parts.AddRange([new("conv_q", [d, s.ShortTaps], true, null), new("conv_k", [kv, s.ShortTaps], true, "k"), new("conv_v", [kv, s.ShortTaps], true, "v")]);
                parts.Add(new("o", [d, d], false, null));
                return parts;
            }
            case 5:
                return
                [
                    new("u", [d, d], true, null), new("conv_u", [d, s.ShortTaps], true, null), new("dt", [d, d], true, null), new("dt_bias", [d], true, null), new("a_log", [d, s.StateExpansion], true, null),
                    new("b", [s.StateExpansion, d], true, "b"), new("c", [s.StateExpansion, d], true, "c"), new("skip", [d], true, null),
                    new("z", [d, d], true, null), new("o", [d, d], false, null),
                ];
            case 6:
                return
                [
                    new("q", [s.Heads * s.GlaKeyDim, d], true, "q"), new("k", [s.Heads * s.GlaKeyDim, d], true, "k"), new("v", [d, d], true, null),
                    new("g", [s.Heads * s.GlaKeyDim, d], true, null), new("o", [d, d], false, null),
                ];
            case 7 or 8:
            {
                var parts = new List<LivPart> { new("q", [d, d], true, null), new("k", [d, d], true, "k"), new("v", [d, d], true, "v") };
                if (baseId == 7) parts.Add(new("filter", [d, s.ShortTaps], true, null));
                else parts.AddRange([new("filter_w1", [s.FilterHidden, s.FilterFeatures], true, null), new("filter_b1", [s.FilterHidden], true, null), new("filter_w2", [d, s.FilterHidden], true, null)]);
                parts.Add(new("o", [d, d], false, null));
                return parts;
            }
            case 9:
                return [new("w1", [s.SwiGluInner, d], true, null), new("w3", [s.SwiGluInner, d], true, null), new("o", [d, s.SwiGluInner], false, null)];
            default:
                throw new ArgumentOutOfRangeException(nameof(baseId), $"base class id must be in 1..9, got {baseId}.");
        }
    }

    /// <summary>
    /// Cache elements of one branch after <paramref name="length"/> tokens, as (feature it belongs to or null, elements):
    /// entries tied to a shared feature are carried once, by the leader. From the registered operators' CacheSize formulas.
    /// </summary>
    public static IReadOnlyList<(string? Feature, long Elements)> Cache(int baseId, LivSizes s, int length)
    {
        int d = s.Width;
        long Conv(int channels, int taps) => OperatorRegistry.Get("conv.causal").CacheSize!(Params.Of(("channels", channels), ("kernel_length", taps)), length);
        switch (baseId)
        {
            case 1 or 2 or 3 or 4:
            {
                int hkv = s.KvHeads(baseId);
                long kv = OperatorRegistry.Get("attention.softmax").CacheSize!(
                    Params.Of(("b", 1), ("hq", s.Heads), ("hkv", hkv), ("l", length), ("k", s.HeadDim), ("v", s.HeadDim), ("window", 0)), length);
                var list = new List<(string?, long)> { ("k", kv) };
                if (baseId == 2) list.AddRange([(null, Conv(d, s.ShortTaps)), ("k", Conv(2 * hkv * s.HeadDim, s.ShortTaps))]);
                return list;
            }
            case 5: return [(null, (long)d * s.StateExpansion), (null, Conv(d, s.ShortTaps))];   // SelectiveScanState x [B, D, N] and the short conv's history
            case 6: return [(null, OperatorRegistry.Get("recurrence.gla").CacheSize!(Params.Of(("h", s.Heads), ("k", s.GlaKeyDim), ("v", s.HeadDim)), length))];
            case 7: return [("k", Conv(d, s.ShortTaps))];
            case 8: return [("k", Conv(d, length + 1))];   // the implicit kernel spans the whole history: the last L inputs
            case 9: return [];
            default: throw new ArgumentOutOfRangeException(nameof(baseId), $"base class id must be in 1..9, got {baseId}.");
        }
    }
}

/// <summary>One branch of a LIV: a base class with its own (or borrowed) weights.</summary>
public sealed class LivBranch
{
    private readonly Dictionary<string, Variable> weights = [];
    private readonly HashSet<string> sharedFeatures;
    private readonly Rotary rotary = new();

    /// <param name="baseId">Base class 1..9.</param>
    /// <param name="sizes">Model sizes.</param>
    /// <param name="featurizerLeader">The branch whose featurizer tensors of equal name and shape this one uses, or null.</param>
    /// <param name="sharedFeatures">Computed features taken from the feature leader (no weights for them here).</param>
    /// <param name="create">Creates and registers a new parameter (name within the branch, initial value).</param>
    /// <param name="rng">Initial values.</param>
    public LivBranch(int baseId, LivSizes sizes, LivBranch? featurizerLeader, IReadOnlySet<string> sharedFeatures,
        Func<string, Tensor<double>, Variable> create, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(create);
        ArgumentNullException.ThrowIfNull(rng);
        BaseId = baseId;
        Sizes = sizes;
        this.sharedFeatures = [.. sharedFeatures];
        foreach (var part in LivFormulas.Parts(baseId, sizes))
        {
            if (part.Feature is not null && this.sharedFeatures.Contains(part.Feature)) continue;
            if (part.Featurizer && featurizerLeader is not null && featurizerLeader.weights.TryGetValue(part.Name, out var borrowed)
                && borrowed.Shape.SequenceEqual(part.Shape))
            {
                weights[part.Name] = borrowed;
                Borrowed.Add(part.Name);
                continue;
            }
            weights[part.Name] = create(part.Name, Initial(part, sizes, rng));
        }
    }

    public int BaseId { get; }
    public LivSizes Sizes { get; }

    /// <summary>Names of the tensors taken from the featurizer leader.</summary>
    public HashSet<string> Borrowed { get; } = [];

    /// <summary>The tensors this branch uses, by name (borrowed ones included).</summary>
    public IReadOnlyDictionary<string, Variable> Weights => weights;

    private static Tensor<double> Initial(LivPart part, LivSizes s, SplitMix64 rng)
    {
        int n = part.Shape[0];
        switch (part.Name)
        {
            case "a_log":
            {
                var data = new double[part.Count];
                for (int c = 0; c < n; c++) for (int j = 0; j < part.Shape[1]; j++) data[c * part.Shape[1] + j] = Math.Log(j + 1);
                return new Tensor<double>(data, part.Shape);
            }
            case "dt_bias":
            {
                // Mamba's dt init: dt = exp(U(log 1e-3, log 1e-1)), bias = softplus^-1(dt) = dt + log(1 - exp(-dt)).
                var data = new double[n];
                for (int c = 0; c < n; c++) { double dt = Math.Exp(rng.Uniform(Math.Log(1e-3), Math.Log(1e-1))); data[c] = dt + Math.Log(1 - Math.Exp(-dt)); }
                return new Tensor<double>(data, part.Shape);
            }
            case "skip":
            {
                var data = new double[n];
                Array.Fill(data, 1.0);
                return new Tensor<double>(data, part.Shape);
            }
            case "filter_b1":
                return Init.Uniform(rng, -1.0 / Math.Sqrt(s.FilterFeatures), 1.0 / Math.Sqrt(s.FilterFeatures), part.Shape);
            default:
                return part.Shape.Length == 2 ? Init.KaimingUniform(rng, Math.Sqrt(5.0), part.Shape) : Init.Uniform(rng, -0.5, 0.5, part.Shape);
        }
    }

    private Variable W(string name) => weights[name];

    /// <summary>y [B, L, D] of x [B, L, D]; <paramref name="features"/> holds the leader's features for the shared names and receives this branch's own.</summary>
    public Variable Forward(Variable x, Dictionary<string, Variable> features)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(features);
        int b = x.Shape[0], l = x.Shape[1], d = Sizes.Width, h = Sizes.Heads, dh = Sizes.HeadDim;
        Variable Feature(string name, Func<Variable> compute)
        {
            if (sharedFeatures.Contains(name)) return features[name];
            var f = compute();
            features[name] = f;
            return f;
        }
        Variable Proj(string name) => Ops.Linear(x, W(name));
        Variable ChannelMajor(Variable t) => Ops.Permute(t, 0, 2, 1);                  // [B, L, C] <-> [B, C, L]
        Variable ShortConv(Variable t, string kernel) => ChannelMajor(Reference.Operators.StateSpace.SsmOps.CausalConvolution(ChannelMajor(t), W(kernel)));
        Variable Heads(Variable t, int heads, int size, bool rotate)
        {
            var split = Ops.Reshape(t, b, l, heads, size);
            if (rotate) split = rotary.Apply(split);
            return Ops.Permute(split, 0, 2, 1, 3);                                     // [B, heads, L, size]
        }
        Variable Merge(Variable t) => Ops.Reshape(Ops.Permute(t, 0, 2, 1, 3), b, l, d);
        switch (BaseId)
        {
            case 1 or 2 or 3 or 4:
            {
                int hkv = Sizes.KvHeads(BaseId);
                bool conv = BaseId == 2;
                var q = Heads(conv ? ShortConv(Proj("q"), "conv_q") : Proj("q"), h, dh, rotate: true);
                var k = Feature("k", () => Heads(conv ? ShortConv(Proj("k"), "conv_k") : Proj("k"), hkv, dh, rotate: true));
                var v = Feature("v", () => Heads(conv ? ShortConv(Proj("v"), "conv_v") : Proj("v"), hkv, dh, rotate: false));
                return Ops.Linear(Merge(AttentionOps.Softmax(q, k, v)), W("o"));
            }
            case 5:
            {
                int n = Sizes.StateExpansion;
                var convolved = Ops.Silu(ShortConv(Proj("u"), "conv_u"));              // [B, L, D]
                Variable FromU(string name) => ChannelMajor(Ops.Linear(convolved, W(name)));
                var u = ChannelMajor(convolved);
                var delta = FromU("dt");
                var bb = Feature("b", () => Ops.Reshape(FromU("b"), b, 1, n, l));
                var cc = Feature("c", () => Ops.Reshape(FromU("c"), b, 1, n, l));
                var z = ChannelMajor(Proj("z"));
                var y = Reference.Operators.StateSpace.SsmOps.SelectiveScan(u, delta, W("a_log"), bb, cc, W("skip"), z, W("dt_bias"));
                return Ops.Linear(ChannelMajor(y), W("o"));
            }
            case 6:
            {
                int kd = Sizes.GlaKeyDim;
                var q = Feature("q", () => Heads(Proj("q"), h, kd, rotate: false));
                var k = Feature("k", () => Heads(Proj("k"), h, kd, rotate: false));
                var v = Heads(Proj("v"), h, dh, rotate: false);
                var g = AttentionOps.LogSigmoidGate(Heads(Proj("g"), h, kd, rotate: false));
                return Ops.Linear(Merge(AttentionOps.GatedLinear(q, k, v, g)), W("o"));
            }
            case 7 or 8:
            {
                var q = Proj("q");
                var k = Feature("k", () => Proj("k"));
                var v = Feature("v", () => Proj("v"));
                var kernel = BaseId == 7 ? W("filter") : ImplicitFilter(l);
                var conv = ChannelMajor(Reference.Operators.StateSpace.SsmOps.CausalConvolution(ChannelMajor(k * v), kernel));
                return Ops.Linear(q * conv, W("o"));
            }
            case 9:
                return Ops.Linear(Ops.Silu(Proj("w1")) * Proj("w3"), W("o"));
            default:
                throw new InvalidOperationException($"base class {BaseId}");
        }
    }

    /// <summary>GConv-2's kernel [D, L]: a small MLP of positional features, times an exponential window per channel.</summary>
    public Variable ImplicitFilter(int length)
    {
        int e = Sizes.FilterFeatures, d = Sizes.Width;
        var z = new double[length * e];
        for (int t = 0; t < length; t++)
        {
            double s = (double)t / length;
            z[t * e] = s;
            for (int f = 1; f <= LivSizes.FilterFrequencies; f++)
            {
                z[t * e + 2 * f - 1] = Math.Sin(2 * Math.PI * f * s);
                z[t * e + 2 * f] = Math.Cos(2 * Math.PI * f * s);
            }
        }
        var hidden = Ops.Sin(Ops.Linear(Variable.Constant(new Tensor<double>(z, length, e)), W("filter_w1"), W("filter_b1")));
        var kernel = Ops.Transpose(Ops.Linear(hidden, W("filter_w2")));                 // [D, L]
        var window = new double[d * length];
        for (int c = 0; c < d; c++)
        {
            double alpha = d == 1 ? 1.0 : 0.3 + (3.0 - 0.3) * c / (d - 1);
            for (int t = 0; t < length; t++) window[c * length + t] = Math.Exp(-alpha * t / length);
        }
        return kernel * Variable.Constant(new Tensor<double>(window, d, length));
    }
}
