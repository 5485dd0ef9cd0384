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
// With "init": "safari" (ModelInit.Safari) the Linear maps are then redrawn as the official H3 code's LM
// does (safari simple_lm.py _init_weights) from SplitMix64(seed ^ SafariSalt), blocks in order.
// Embedding dropout (safari's embed_dropout; arXiv:2212.14052's synthetic runs use 0.1) is applied to
// x_0 only in a training step that passes an EmbeddingDropoutKey: the mask of sequence s of step t is
// drawn from its own generator (EmbeddingDropoutKey.SequenceSeed), so it is a function of (run seed,
// step, sequence) alone: the same with any micro-batch split or thread count, and after a resume.
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;

namespace Reference.Models;

/// <summary>One pre-norm residual block: optional sequence mixer, optional channel mixer, each with its own norm.</summary>
public sealed class BackboneBlock : Layer
{
    public BackboneBlock(BlockSpec spec, int width, int length, ulong mixerSeed, NormKind norm, SplitMix64 rng, bool officialInit = false)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        if (spec.Mixer is not null)
        {
            MixerNorm = RegisterModule("mixer_norm", NewNorm(norm, width));
            Mixer = RegisterModule("mixer", new SequenceMixer(spec.Mixer, width, length, mixerSeed, rng, officialInit));
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

    /// <summary>Safari's Linear init of the channel mixer: N(0, std), zero biases; its last map (fc2, w2) N(0, outputStd).</summary>
    internal void InitializeChannelLinears(SplitMix64 rng, double std, double outputStd)
    {
        (Linear Map, bool Last)[] maps = Channel switch
        {
            Mlp m => [(m.Fc1, false), (m.Fc2, true)],
            GatedMlp g => [(g.W, false), (g.V, false), (g.W2, true)],
            null => [],
            _ => throw new InvalidOperationException($"channel mixer {Channel.GetType().Name} has no safari init."),
        };
        foreach (var (map, last) in maps)
        {
            SequenceMixer.Redraw(rng, map.Weight, last ? outputStd : std);
            if (map.Bias is { } b) Array.Clear(b.Value.Data);
        }
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
        bool safari = spec.Init == ModelInit.Safari;
        for (int i = 0; i < blocks.Length; i++)
            blocks[i] = RegisterModule($"block{i}", new BackboneBlock(spec.Blocks[i], spec.Width, length, seed + 1 + (ulong)i, spec.Norm, rng, safari));
        FinalNorm = RegisterModule("final_norm", BackboneBlock.NewNorm(spec.Norm, spec.Width));
        Head = spec.TiedHead ? Embedding : RegisterParameter("head", Init.Normal(rng, 0.0, spec.InitStd, vocabulary, spec.Width));
        if (safari)
        {
            // The embedding and an untied head are N(0, init_std) already (safari: nn.Embedding N(0, 0.02); its head is tied).
            var redraw = new SplitMix64(seed ^ SafariSalt);
            double std = spec.InitStd, outputStd = spec.InitStd / Math.Sqrt(2.0 * blocks.Length);
            foreach (var block in blocks)
            {
                block.Mixer?.InitializeLinears(redraw, std, outputStd);
                block.InitializeChannelLinears(redraw, std, outputStd);
            }
        }
    }

    private const ulong SafariSalt = 0x5AFA_41A1_17E1_6875UL;

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

    /// <summary>Logits [B T, V] at every position of tokens [B, T] (row-major ids); embedding dropout only with <paramref name="dropout"/>.</summary>
    public Variable Logits(int[] tokens, int batch, int length, EmbeddingDropoutKey? dropout = null) =>
        Ops.MatMul(Hidden(tokens, batch, length, dropout), Head, transB: true);

    /// <summary>
    /// Logits [n, V] at the positions <paramref name="rows"/> (indices into the B T positions, row-major)
    /// only: the same rows as <see cref="Logits"/> without the head's product at the other positions
    /// (a task scored at a few positions, MQAR, spends most of a step in the vocabulary-wide head).
    /// </summary>
    public Variable LogitsAt(int[] tokens, int batch, int length, int[] rows, EmbeddingDropoutKey? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Length == 0) throw new ArgumentException("rows must name at least one position.", nameof(rows));
        var picked = Ops.Embedding(Hidden(tokens, batch, length, dropout), rows, rows.Length);   // a gather of rows; its VJP scatters back
        return Ops.MatMul(picked, Head, transB: true);
    }

    /// <summary>
    /// The final norm's output [B T, D] at every position of tokens [B, T] (what the head reads). With
    /// <paramref name="dropout"/> (a training step) and a non-zero <see cref="ModelSpec.EmbeddingDropout"/>,
    /// the embedding goes through dropout first; without it (evaluation, generation) never.
    /// </summary>
    public Variable Hidden(int[] tokens, int batch, int length, EmbeddingDropoutKey? dropout = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (batch < 1 || length < 1 || tokens.Length != batch * length)
            throw new ArgumentException($"tokens must hold B * T = {batch} * {length} ids (B, T >= 1), got {tokens.Length}.", nameof(tokens));
        var x = Ops.Embedding(Embedding, tokens, batch, length);
        if (dropout is { } key && Spec.EmbeddingDropout > 0) x = x * Variable.Constant(EmbeddingDropoutMask(key, batch, length));
        foreach (var block in blocks) x = block.Forward(x);
        return Ops.Reshape(FinalNorm.Forward(x), batch * length, Spec.Width);
    }

    /// <summary>
    /// The inverted-dropout mask [B, T, D] of a training step (torch.nn.Dropout: an element is kept with
    /// probability 1 - p and then scaled by 1 / (1 - p), else 0): sequence b of the batch draws its T D
    /// uniforms, in order, from SplitMix64(key.SequenceSeed(b)); kept when the uniform is >= p.
    /// </summary>
    public Tensor<double> EmbeddingDropoutMask(EmbeddingDropoutKey key, int batch, int length)
    {
        double p = Spec.EmbeddingDropout, scale = 1.0 / (1.0 - p);
        int n = length * Spec.Width;
        var mask = new double[batch * n];
        for (int b = 0; b < batch; b++)
        {
            var rng = new SplitMix64(key.SequenceSeed(b));
            for (int i = 0; i < n; i++) mask[b * n + i] = rng.Uniform() >= p ? scale : 0.0;
        }
        return new Tensor<double>(mask, batch, length, Spec.Width);
    }

    /// <summary>The learned parameters that are SSM dynamics (A, B, Delta: the operators' <see cref="Operators.OperatorDescriptor.SsmDynamics"/>), blocks in order.</summary>
    public IReadOnlyList<Variable> SsmDynamicsParameters() => [.. blocks.Where(b => b.Mixer is not null).SelectMany(b => b.Mixer!.SsmDynamicsParameters())];

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

/// <summary>
/// Which embedding-dropout masks a training step draws: sequence b of the (micro-)batch is sequence
/// <see cref="FirstSequence"/> + b of step <see cref="Step"/> of the run seeded <see cref="RunSeed"/>.
/// </summary>
public readonly record struct EmbeddingDropoutKey(ulong RunSeed, long Step, long FirstSequence)
{
    /// <summary>The seed of sequence b's mask: SplitMix64 outputs chained over (run seed, step, sequence), so distinct keys give unrelated streams.</summary>
    public ulong SequenceSeed(int b)
    {
        ulong s = new SplitMix64(RunSeed ^ 0xD209_0D2A_E3B1_7C45UL).NextUInt64();
        s = new SplitMix64(s + (ulong)Step).NextUInt64();
        return new SplitMix64(s + (ulong)(FirstSequence + b)).NextUInt64();
    }
}
