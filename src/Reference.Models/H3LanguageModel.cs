// The small H3 language model of the paper's synthetic experiments, trained with the autodiff tape.
//
// Paper: H3, Fu, Dao et al., arXiv:2212.14052, Sec. 3.1 (Table 1: 2-layer models of width 64 solve
// induction head and associative recall) and the official configs (HazyResearch/safari,
// experiment/synthetics/*/h3.yaml: lm_simple, d_model 32, n_layer 2, d_inner 4 d_model, H3 layers
// with d_state 64, head_dim 1, S4D-Lin, bilinear; model/layer/h3.yaml). The backbone is the
// pre-norm residual stack of flash-attention's Block:
//   x_0 = E[tokens]                                   token embedding, no positional embedding
//   x'  = x + H3(LN_1(x));   x_next = x' + MLP(LN_2(x'))   MLP = fc2(GELU_tanh(fc1 .)), width 4 D
//   logits = LN_f(x_last) E^T                         output head tied to the embedding
// Initialization as the official _init_weights: embedding and every Linear weight ~ N(0, 0.02),
// biases 0, the two residual-output projections (H3's W_O, the MLP's fc2) ~ N(0, 0.02 / sqrt(2 layers)),
// LayerNorms 1 / 0; the SSMs keep their own init (shift SSM B = e1, S4D-Lin, log Delta ~ U[log 1e-3, log 1e-1]).
//
// Glossary (code -> paper): tokens [B, T]; D ModelWidth (d_model); N StateSize (d_state); hd HeadDim;
// Mixer: the sequence mixer of each block (H3, or None for the ablation that removes all token mixing:
// the model then sees one token at a time and cannot beat chance on the recall tasks).
// Deliberate simplifications: no dropout (the config's embed_dropout 0.1 is left out: the CPU runs are
// short and a deterministic forward is easier to check); float64 throughout. The mixer runs composed
// from tape operations by default (H3Mixer.ForwardComposed: Linear in the tape's tier, ssm.shift,
// broadcast outer product, ssm.s4d, gate), which equals the one-node ssm.h3 primitive (VJP H3.Backward)
// to ~1e-13 in value and gradient (tested) and, inside Tape.UseFastKernels, takes about half the
// time of a training step with the primitive (bench H3ToyBench); ComposedMixer = false runs the
// primitive.
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.Models;

/// <summary>Sequence mixer of each block.</summary>
public enum ToyMixer
{
    /// <summary>The H3 layer (shift SSM, multiplicative gate, diagonal SSM).</summary>
    H3,

    /// <summary>Ablation: no mixer at all (each block is LN + MLP only).</summary>
    None,
}

/// <summary>Architecture of <see cref="H3LanguageModel"/> (defaults: the paper's synthetic-task config).</summary>
public sealed record H3LanguageModelOptions(
    int Vocabulary, int ModelWidth = 32, int Layers = 2, int StateSize = 64, int HeadDim = 1,
    ToyMixer Mixer = ToyMixer.H3, double InitStd = 0.02, bool ComposedMixer = true)
{
    /// <summary>MLP inner width (4 D as the config's d_inner).</summary>
    public int InnerWidth => 4 * ModelWidth;

    internal void Validate(string argument)
    {
        if (Vocabulary < 2 || ModelWidth < 1 || Layers < 1 || StateSize < 2 || StateSize % 2 != 0 || HeadDim < 1
            || ModelWidth % HeadDim != 0 || !(InitStd > 0))
            throw new ArgumentException(
                $"options need Vocabulary >= 2, ModelWidth >= 1 divisible by HeadDim >= 1, Layers >= 1, even StateSize >= 2, InitStd > 0; got {this}.",
                argument);
    }
}

/// <summary>The H3 layer as a module: every H3 parameter registered under a flat name.</summary>
public sealed class H3Mixer : Layer
{
    public H3Mixer(H3Parameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        int dm = p.ModelWidth, heads = p.Heads, m = p.Ssm.Modes, n = p.StateSize;
        Variable W(string name, double[] x) => RegisterParameter(name, new Tensor<double>((double[])x.Clone(), dm, dm));
        Variable V(string name, double[] x, params int[] shape) => RegisterParameter(name, new Tensor<double>((double[])x.Clone(), shape));
        var wq = W("wq", p.Wq); var bq = V("bq", p.Bq, dm);
        var wk = W("wk", p.Wk); var bk = V("bk", p.Bk, dm);
        var wv = W("wv", p.Wv); var bv = V("bv", p.Bv, dm);
        var shift = new ShiftSsmVariables(V("shift_b", p.Shift.B, dm, n), V("shift_c", p.Shift.C, dm, n), V("shift_d", p.Shift.Skip, dm));
        var ssm = new S4DVariables(V("log_a", p.Ssm.LogNegRealA, heads, m), V("imag_a", p.Ssm.ImagA, heads, m),
            V("b_re", p.Ssm.BRe, heads, m), V("b_im", p.Ssm.BIm, heads, m), V("c_re", p.Ssm.CRe, heads, m), V("c_im", p.Ssm.CIm, heads, m),
            V("log_dt", p.Ssm.LogDelta, heads), V("d", p.Ssm.D, heads));
        var wo = W("wo", p.Wo); var bo = V("bo", p.Bo, dm);
        Variables = new H3Variables(dm, p.HeadDim, n, p.Method, wq, bq, wk, bk, wv, bv, shift, ssm, wo, bo);
    }

    public H3Variables Variables { get; }

    /// <summary>
    /// The SSM dynamics (A, B, Delta of the diagonal SSM and B of the shift SSM): the official H3
    /// registers them with their own learning rate min(1e-3, lr) and no weight decay.
    /// </summary>
    public IEnumerable<Variable> DynamicsParameters() =>
        [Variables.Ssm.LogNegRealA, Variables.Ssm.ImagA, Variables.Ssm.BRe, Variables.Ssm.BIm, Variables.Ssm.LogDelta, Variables.Shift.B];

    /// <summary>
    /// True: <see cref="Forward"/> runs <see cref="ForwardComposed"/> (the dense projections in the
    /// tape's current tier, FastGemm inside Tape.UseFastKernels); false: the ssm.h3 primitive (Naive).
    /// </summary>
    public bool Composed { get; init; }

    /// <summary>x [B, L, D] -> [B, L, D].</summary>
    public override Variable Forward(Variable x) => Composed ? ForwardComposed(x) : SsmOps.H3(x, Variables);

    /// <summary>
    /// The same layer as the ssm.h3 primitive, composed from tape operations in the order of the
    /// paper's Algorithm 1 (the check that the primitive's hand-written VJP and this chain agree is
    /// in the tests): Linear q, k, v; kbar = ssm.shift(k); kv = kbar (x) v per head (outer product
    /// over the head, broadcast multiply); ys = ssm.s4d(kv) with heads as S4D channels; o = sum over
    /// d1 of q * ys; Linear W_O. x [B, L, D] -> [B, L, D].
    /// </summary>
    public Variable ForwardComposed(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[2] != Variables.ModelWidth)
            throw new ArgumentException($"x must have shape [B, L, {Variables.ModelWidth}], got {Shapes.Format(x.Shape)}.", nameof(x));
        var p = Variables;
        int batch = x.Shape[0], length = x.Shape[1], hd = p.HeadDim, heads = p.ModelWidth / hd;
        Variable ChannelMajor(Variable w, Variable b) => Ops.Permute(Ops.Linear(x, w, b), 0, 2, 1);
        var q = ChannelMajor(p.Wq, p.Bq);
        var kbar = SsmOps.ShiftSsm(ChannelMajor(p.Wk, p.Bk), p.Shift);
        var v = ChannelMajor(p.Wv, p.Bv);
        // kv[b, h, d1, d2, l] = kbar[b, h hd + d1, l] v[b, h hd + d2, l], then heads next to L for S4D.
        var kv = Ops.Reshape(kbar, batch, heads, hd, 1, length) * Ops.Reshape(v, batch, heads, 1, hd, length);
        var ys = SsmOps.S4D(Ops.Permute(kv, 0, 2, 3, 1, 4), p.Ssm, p.Method);
        var gated = Ops.Reshape(q, batch, heads, hd, 1, length) * Ops.Permute(ys, 0, 3, 1, 2, 4);
        var o = Ops.Reshape(Ops.Sum(gated, 2), batch, p.ModelWidth, length);
        return Ops.Linear(Ops.Permute(o, 0, 2, 1), p.Wo, p.Bo);
    }
}

/// <summary>One pre-norm residual block: x + mixer(LN_1 x), then + MLP(LN_2 .).</summary>
public sealed class H3Block : Layer
{
    public H3Block(H3LanguageModelOptions o, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(rng);
        Norm1 = RegisterModule("norm1", new LayerNorm(o.ModelWidth));
        if (o.Mixer == ToyMixer.H3)
            Mixer = RegisterModule("mixer", new H3Mixer(H3Parameters.Initialize(rng, o.ModelWidth, o.HeadDim, o.StateSize)) { Composed = o.ComposedMixer });
        Norm2 = RegisterModule("norm2", new LayerNorm(o.ModelWidth));
        Mlp = RegisterModule("mlp", new Mlp(o.ModelWidth, o.InnerWidth, o.ModelWidth, ActivationKind.GeluTanh, rng));
    }

    public LayerNorm Norm1 { get; }
    public H3Mixer? Mixer { get; }
    public LayerNorm Norm2 { get; }
    public Mlp Mlp { get; }

    /// <summary>x [B, L, D] -> [B, L, D].</summary>
    public override Variable Forward(Variable x)
    {
        if (Mixer is not null) x = x + Mixer.Forward(Norm1.Forward(x));
        return x + Mlp.Forward(Norm2.Forward(x));
    }
}

/// <summary>Embedding, <see cref="H3Block"/>s, final LayerNorm, head tied to the embedding.</summary>
public sealed class H3LanguageModel : Module
{
    private readonly H3Block[] blocks;

    /// <summary>A seeded model: every random draw comes from SplitMix64(seed), in registration order.</summary>
    public H3LanguageModel(H3LanguageModelOptions options, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(nameof(options));
        Options = options;
        var rng = new SplitMix64(seed);
        Embedding = RegisterModule("embedding", new Embedding(options.Vocabulary, options.ModelWidth, rng));
        blocks = new H3Block[options.Layers];
        for (int i = 0; i < blocks.Length; i++) blocks[i] = RegisterModule($"block{i}", new H3Block(options, rng));
        FinalNorm = RegisterModule("final_norm", new LayerNorm(options.ModelWidth));
        Reinitialize(rng);
    }

    public H3LanguageModelOptions Options { get; }
    public Embedding Embedding { get; }
    public IReadOnlyList<H3Block> Blocks => blocks;
    public LayerNorm FinalNorm { get; }

    /// <summary>The H3 dynamics parameters of every block (see <see cref="H3Mixer.DynamicsParameters"/>).</summary>
    public IReadOnlyList<Variable> DynamicsParameters() =>
        blocks.Where(b => b.Mixer is not null).SelectMany(b => b.Mixer!.DynamicsParameters()).ToList();

    /// <summary>Every other parameter (weights, biases, norms, embedding, SSM output C and skips).</summary>
    public IReadOnlyList<Variable> MainParameters()
    {
        var dynamics = DynamicsParameters().ToHashSet();
        return Parameters().Where(p => !dynamics.Contains(p)).ToList();
    }

    /// <summary>Hidden states LN_f(x_last) [B, T, D] of tokens [B, T] (row-major ids).</summary>
    public Variable Hidden(int[] tokens, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (batch < 1 || length < 1 || tokens.Length != batch * length)
            throw new ArgumentException($"tokens must hold B * T = {batch} * {length} ids (B, T >= 1), got {tokens.Length}.", nameof(tokens));
        var x = Embedding.Forward(tokens, batch, length);
        foreach (var block in blocks) x = block.Forward(x);
        return FinalNorm.Forward(x);
    }

    /// <summary>Next-token logits [B T, V] at every position of tokens [B, T].</summary>
    public Variable Logits(int[] tokens, int batch, int length)
    {
        var h = Ops.Reshape(Hidden(tokens, batch, length), batch * length, Options.ModelWidth);
        return Ops.MatMul(h, Embedding.Weight, transB: true);
    }

    /// <summary>Logits [B, V] at the final position only (what the tasks score).</summary>
    public Variable FinalLogits(int[] tokens, int batch, int length)
    {
        var h = Ops.Reshape(Ops.Slice(Hidden(tokens, batch, length), 1, length - 1, 1), batch, Options.ModelWidth);
        return Ops.MatMul(h, Embedding.Weight, transB: true);
    }

    /// <summary>The official _init_weights over this module's parameters (see the file head).</summary>
    private void Reinitialize(SplitMix64 rng)
    {
        double std = Options.InitStd, residualStd = std / Math.Sqrt(2.0 * Options.Layers);
        foreach (var (name, p) in NamedParameters())
        {
            var data = p.Value.Data;
            if (name.EndsWith(".mixer.wo", StringComparison.Ordinal) || name.EndsWith(".mlp.fc2.weight", StringComparison.Ordinal))
                rng.FillNormal<double>(data, 0.0, residualStd);
            else if (name == "embedding.weight" || name.EndsWith(".weight", StringComparison.Ordinal) && p.Rank == 2
                     || name.EndsWith(".mixer.wq", StringComparison.Ordinal) || name.EndsWith(".mixer.wk", StringComparison.Ordinal)
                     || name.EndsWith(".mixer.wv", StringComparison.Ordinal))
                rng.FillNormal<double>(data, 0.0, std);
            else if (name.EndsWith(".bias", StringComparison.Ordinal) && !name.Contains("norm", StringComparison.Ordinal)
                     || name.EndsWith(".mixer.bq", StringComparison.Ordinal) || name.EndsWith(".mixer.bk", StringComparison.Ordinal)
                     || name.EndsWith(".mixer.bv", StringComparison.Ordinal) || name.EndsWith(".mixer.bo", StringComparison.Ordinal))
                Array.Clear(data);
        }
    }
}
