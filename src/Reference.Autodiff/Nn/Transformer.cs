using Reference.Core;

namespace Reference.Autodiff.Nn;

/// <summary>
/// Multi-head self-attention (Vaswani et al. 2017, sec. 3.2.2): x [B, L, D] -> [B, L, D];
/// q, k, v = x W_q^T + b_q, ... split into h heads of D / h, <see cref="Ops.ScaledDotProductAttention"/>
/// per head with the given additive mask, heads concatenated and projected by W_o. Four Linear(D, D)
/// with biases (GPT-2's fused c_attn [D, 3D] is the same parameters stacked; BERT's query/key/value
/// are separate), so 4 D^2 + 4 D parameters.
/// </summary>
public sealed class MultiHeadSelfAttention : Module
{
    private readonly SplitMix64 dropoutRng;

    public MultiHeadSelfAttention(int dim, int heads, SplitMix64 rng, double attentionDropout = 0.0, ulong seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        if (dim <= 0 || dim % heads != 0) throw new ArgumentException($"dim = {dim} must be a positive multiple of heads = {heads}.", nameof(dim));
        if (!(attentionDropout is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(attentionDropout), $"attentionDropout = {attentionDropout} must be in [0, 1].");
        Dim = dim;
        Heads = heads;
        AttentionDropout = attentionDropout;
        dropoutRng = new SplitMix64(seed);
        Query = RegisterModule("query", new Linear(dim, dim, rng));
        Key = RegisterModule("key", new Linear(dim, dim, rng));
        Value = RegisterModule("value", new Linear(dim, dim, rng));
        Output = RegisterModule("output", new Linear(dim, dim, rng));
    }

    public int Dim { get; }
    public int Heads { get; }
    public double AttentionDropout { get; }
    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }
    public Linear Output { get; }

    /// <param name="x">[B, L, D].</param>
    /// <param name="mask">Additive mask broadcastable to [B, h, L, L] (<see cref="Ops.CausalMask"/>, <see cref="Ops.PaddingMask"/>, or their sum), or null.</param>
    public Variable Forward(Variable x, Tensor<double>? mask)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[2] != Dim) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [B, L, {Dim}].", nameof(x));
        int b = x.Shape[0], len = x.Shape[1], dh = Dim / Heads;
        Variable Split(Linear proj) => Ops.Permute(Ops.Reshape(proj.Forward(x), b, len, Heads, dh), 0, 2, 1, 3);
        var y = Ops.ScaledDotProductAttention(Split(Query), Split(Key), Split(Value), mask,
            Training && AttentionDropout > 0 ? (AttentionDropout, dropoutRng) : null);
        return Output.Forward(Ops.Reshape(Ops.Permute(y, 0, 2, 1, 3), b, len, Dim));
    }
}

/// <summary>
/// GPT-2 transformer block (Radford et al. 2019, sec. 2.3: layer norm moved to the input of each
/// sub-block, i.e. pre-LN), causal self-attention and a GELU (tanh approximation) MLP of width 4 D:
/// <code>
///   x = x + drop(attn(ln_1(x), causal))
///   x = x + drop(W_2 gelu_tanh(W_1 ln_2(x) + b_1) + b_2)
/// </code>
/// x [B, L, D] -> [B, L, D]. LayerNorm eps 1e-5 (GPT-2's layer_norm_epsilon).
/// </summary>
public sealed class Gpt2Block : Layer
{
    public Gpt2Block(int dim, int heads, SplitMix64 rng, double dropout = 0.0, ulong seed = 0, int? mlpHidden = null)
    {
        Ln1 = RegisterModule("ln_1", new LayerNorm(dim, 1e-5));
        Attention = RegisterModule("attn", new MultiHeadSelfAttention(dim, heads, rng, dropout, seed));
        Ln2 = RegisterModule("ln_2", new LayerNorm(dim, 1e-5));
        Mlp = RegisterModule("mlp", new Mlp(dim, mlpHidden ?? 4 * dim, dim, ActivationKind.GeluTanh, rng));
        Drop1 = RegisterModule("drop_1", new Dropout(dropout, seed + 1));
        Drop2 = RegisterModule("drop_2", new Dropout(dropout, seed + 2));
    }

    public LayerNorm Ln1 { get; }
    public MultiHeadSelfAttention Attention { get; }
    public LayerNorm Ln2 { get; }
    public Mlp Mlp { get; }
    public Dropout Drop1 { get; }
    public Dropout Drop2 { get; }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [B, L, D].", nameof(x));
        x = x + Drop1.Forward(Attention.Forward(Ln1.Forward(x), Ops.CausalMask(x.Shape[1])));
        return x + Drop2.Forward(Mlp.Forward(Ln2.Forward(x)));
    }
}

/// <summary>
/// BERT encoder layer (Devlin et al. 2019, sec. 3; Vaswani et al.'s post-LN residual blocks),
/// bidirectional self-attention with an optional key padding mask, GELU (exact erf form) MLP:
/// <code>
///   h = LN_1(x + drop(attn(x, padding)))
///   y = LN_2(h + drop(W_2 gelu(W_1 h + b_1) + b_2))
/// </code>
/// x [B, L, D] -> [B, L, D]; LayerNorm eps 1e-12 (BERT's layer_norm_eps); intermediate width 4 D by default.
/// </summary>
public sealed class BertEncoderBlock : Layer
{
    public BertEncoderBlock(int dim, int heads, SplitMix64 rng, double dropout = 0.0, ulong seed = 0, int? intermediate = null, double eps = 1e-12)
    {
        Attention = RegisterModule("attention", new MultiHeadSelfAttention(dim, heads, rng, dropout, seed));
        Ln1 = RegisterModule("attention_norm", new LayerNorm(dim, eps));
        Mlp = RegisterModule("mlp", new Mlp(dim, intermediate ?? 4 * dim, dim, ActivationKind.Gelu, rng));
        Ln2 = RegisterModule("output_norm", new LayerNorm(dim, eps));
        Drop1 = RegisterModule("drop_1", new Dropout(dropout, seed + 1));
        Drop2 = RegisterModule("drop_2", new Dropout(dropout, seed + 2));
    }

    public MultiHeadSelfAttention Attention { get; }
    public LayerNorm Ln1 { get; }
    public Mlp Mlp { get; }
    public LayerNorm Ln2 { get; }
    public Dropout Drop1 { get; }
    public Dropout Drop2 { get; }

    public override Variable Forward(Variable x) => Forward(x, null);

    /// <param name="x">[B, L, D].</param>
    /// <param name="valid">valid[b][t] = false marks padding keys (ignored by every query), or null.</param>
    public Variable Forward(Variable x, bool[][]? valid)
    {
        ArgumentNullException.ThrowIfNull(x);
        var mask = valid is null ? null : Ops.PaddingMask(valid);
        if (mask is not null && (mask.Shape[0] != x.Shape[0] || mask.Shape[3] != x.Shape[1]))
            throw new ArgumentException($"valid is [{mask.Shape[0]}][{mask.Shape[3]}], expected [{x.Shape[0]}][{x.Shape[1]}].", nameof(valid));
        var h = Ln1.Forward(x + Drop1.Forward(Attention.Forward(x, mask)));
        return Ln2.Forward(h + Drop2.Forward(Mlp.Forward(h)));
    }
}

/// <summary>BERT pooler: tanh(W h_0 + b) on the first position's state, x [B, L, D] -> [B, D].</summary>
public sealed class Pooler : Layer
{
    public Pooler(int dim, SplitMix64 rng) => Dense = RegisterModule("dense", new Linear(dim, dim, rng));

    public Linear Dense { get; }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[1] < 1) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [B, L >= 1, D].", nameof(x));
        var first = Ops.Reshape(Ops.Slice(x, 1, 0, 1), x.Shape[0], x.Shape[2]);
        return Ops.Tanh(Dense.Forward(first));
    }
}
