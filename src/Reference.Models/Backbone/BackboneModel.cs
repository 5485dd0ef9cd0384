// The language-model backbone built from a ModelSpec (the one factory: BackboneModel.Create):
//   x_0 = E[tokens]                                   token embedding ~ N(0, init_std); no absolute positions
//   per block: x = x + Mixer(Norm(x))                  when the block has a sequence mixer (a registered operator)
//              x = x + Channel(Norm(x))                when it has a channel mixer (MLP, GLU, SwiGLU)
//   logits = Norm_f(x) W_head^T                        W_head = E (tied) or its own [V, D] ~ N(0, init_std)
// This is MAD's benchmark backbone (Poli et al., arXiv:2403.17844, sec. 3 and appendix: pre-norm
// residual layers, token embedding N(0, 0.02), final norm and a Linear head) and, with one mixer and
// one channel mixer per block, the flash-attention Block of H3's experiments. Linear layers keep
// PyTorch's default init (kaiming uniform); each operator keeps its paper's init (its Sample).
// Draws: one SplitMix64(seed) in registration order (embedding, blocks in order, head); operator i's
// Sample is seeded with seed + 1 + i so its own init does not depend on the projections before it.
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;

namespace Reference.Models;

/// <summary>One pre-norm residual block: optional sequence mixer, optional channel mixer, each with its own norm.</summary>
public sealed class BackboneBlock : Layer
{
    public BackboneBlock(BlockSpec spec, int width, int length, ulong mixerSeed, NormKind norm, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        if (spec.Mixer is not null)
        {
            MixerNorm = RegisterModule("mixer_norm", NewNorm(norm, width));
            Mixer = RegisterModule("mixer", new SequenceMixer(spec.Mixer, width, length, mixerSeed, rng));
        }
        if (spec.ChannelMixer is { } c)
        {
            ChannelNorm = RegisterModule("channel_norm", NewNorm(norm, width));
            int inner = c.InnerWidth(width);
            Channel = RegisterModule("channel", c.Kind switch
            {
                ChannelMixerKind.Mlp => new Mlp(width, inner, width, ActivationKind.Gelu, rng),
                ChannelMixerKind.Glu => (Layer)GatedMlp.Glu(width, inner, rng),
                _ => GatedMlp.SwiGlu(width, inner, rng),
            });
        }
    }

    public BlockSpec Spec { get; }
    public Layer? MixerNorm { get; }
    public SequenceMixer? Mixer { get; }
    public Layer? ChannelNorm { get; }
    public Layer? Channel { get; }

    public override Variable Forward(Variable x)
    {
        if (Mixer is not null) x = x + Mixer.Forward(MixerNorm!.Forward(x));
        if (Channel is not null) x = x + Channel.Forward(ChannelNorm!.Forward(x));
        return x;
    }

    internal static Layer NewNorm(NormKind kind, int width) => kind == NormKind.LayerNorm ? new LayerNorm(width) : new RmsNorm(width);
}

/// <summary>The backbone language model of a <see cref="ModelSpec"/>.</summary>
public sealed class BackboneModel : Module
{
    private readonly BackboneBlock[] blocks;

    private BackboneModel(ModelSpec spec, int vocabulary, int length, ulong seed)
    {
        Spec = spec;
        Vocabulary = vocabulary;
        Length = length;
        var rng = new SplitMix64(seed);
        Embedding = RegisterParameter("embedding", Init.Normal(rng, 0.0, spec.InitStd, vocabulary, spec.Width));
        blocks = new BackboneBlock[spec.Blocks.Count];
        for (int i = 0; i < blocks.Length; i++)
            blocks[i] = RegisterModule($"block{i}", new BackboneBlock(spec.Blocks[i], spec.Width, length, seed + 1 + (ulong)i, spec.Norm, rng));
        FinalNorm = RegisterModule("final_norm", BackboneBlock.NewNorm(spec.Norm, spec.Width));
        Head = spec.TiedHead ? Embedding : RegisterParameter("head", Init.Normal(rng, 0.0, spec.InitStd, vocabulary, spec.Width));
    }

    /// <summary>
    /// The one factory: the model of <paramref name="spec"/> for a vocabulary (the spec's when it has
    /// one, which must then agree) and the sequence length it will see, seeded.
    /// </summary>
    public static BackboneModel Create(ModelSpec spec, int vocabulary, int length, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        if (spec.Vocabulary is { } v && v != vocabulary)
            throw new ArgumentException($"model field 'vocabulary' = {v} does not match the task's vocabulary {vocabulary}.", nameof(spec));
        if (vocabulary < 2) throw new ArgumentOutOfRangeException(nameof(vocabulary), $"vocabulary must be >= 2, got {vocabulary}.");
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), $"length must be >= 1, got {length}.");
        return new BackboneModel(spec, vocabulary, length, seed);
    }

    public ModelSpec Spec { get; }
    public int Vocabulary { get; }
    public int Length { get; }
    public Variable Embedding { get; }
    public IReadOnlyList<BackboneBlock> Blocks => blocks;
    public Layer FinalNorm { get; }
    public Variable Head { get; }

    /// <summary>Logits [B T, V] at every position of tokens [B, T] (row-major ids).</summary>
    public Variable Logits(int[] tokens, int batch, int length) => Ops.MatMul(Hidden(tokens, batch, length), Head, transB: true);

    /// <summary>
    /// Logits [n, V] at the positions <paramref name="rows"/> (indices into the B T positions, row-major)
    /// only: the same rows as <see cref="Logits"/> without the head's product at the other positions
    /// (a task scored at a few positions, MQAR, spends most of a step in the vocabulary-wide head).
    /// </summary>
    public Variable LogitsAt(int[] tokens, int batch, int length, int[] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Length == 0) throw new ArgumentException("rows must name at least one position.", nameof(rows));
        var picked = Ops.Embedding(Hidden(tokens, batch, length), rows, rows.Length);   // a gather of rows; its VJP scatters back
        return Ops.MatMul(picked, Head, transB: true);
    }

    /// <summary>The final norm's output [B T, D] at every position of tokens [B, T] (what the head reads).</summary>
    public Variable Hidden(int[] tokens, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (batch < 1 || length < 1 || tokens.Length != batch * length)
            throw new ArgumentException($"tokens must hold B * T = {batch} * {length} ids (B, T >= 1), got {tokens.Length}.", nameof(tokens));
        var x = Ops.Embedding(Embedding, tokens, batch, length);
        foreach (var block in blocks) x = block.Forward(x);
        return Ops.Reshape(FinalNorm.Forward(x), batch * length, Spec.Width);
    }

    /// <summary>Per block, the learned parameters from the formulas (norms, the operator's ParameterCount plus projections, channel mixer).</summary>
    public IReadOnlyList<long> FormulaBlockParameterCounts()
    {
        int d = Spec.Width;
        long norm = Spec.Norm == NormKind.LayerNorm ? 2L * d : d;
        return [.. blocks.Select(b =>
        {
            long n = 0;
            if (b.Mixer is not null) n += norm + b.Mixer.FormulaParameterCount();
            if (b.Spec.ChannelMixer is { } c)
            {
                long inner = c.InnerWidth(d);
                n += norm + (c.Kind == ChannelMixerKind.Mlp ? d * inner + inner + inner * d + d : 3 * d * inner);
            }
            return n;
        })];
    }

    /// <summary>All learned parameters from the formulas: embedding, blocks, final norm, head (once when tied).</summary>
    public long FormulaParameterCount()
    {
        long d = Spec.Width, v = Vocabulary;
        return v * d + FormulaBlockParameterCounts().Sum() + (Spec.Norm == NormKind.LayerNorm ? 2 * d : d) + (Spec.TiedHead ? 0 : v * d);
    }

    /// <summary>
    /// Starts decoding <paramref name="batch"/> sequences through every mixer's recurrent form
    /// (Generation/BackboneDecoder.cs), with the parameters as they are now.
    /// </summary>
    public BackboneDecoder StartDecoding(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        return new BackboneDecoder(this, batch);
    }

    /// <summary>Per block, elements of the inference cache of one sequence after <paramref name="length"/> tokens (0 without a mixer).</summary>
    public IReadOnlyList<long> CacheSizes(int length) => [.. blocks.Select(b => b.Mixer?.CacheSize(length) ?? 0L)];
}
