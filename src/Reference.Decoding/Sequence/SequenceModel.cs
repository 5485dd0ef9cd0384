// The sequence model of learning-from-brains (Thomas et al., arXiv:2206.11417, sec. 3 and its
// code's BaseEmbedder/CSMEmbedder), on parcel series x [B, W, P]:
//
//   e_t = Dropout(LayerNorm(x_t W_e + b_e)) + E_time[id(t)]      embedder + learned time embedding
//   id(t) = round(t / 0.2 s), t < 300 s (1500 bins); one extra "dummy" row for the CLS token
//   h = FinalNorm(Backbone(e))                                  [B, L, D]
//   reconstruction  x^_t = h_t W_r + b_r                        [B, L, P] (the self-supervised heads)
//   pooled          p = tanh(h_cls W_p + b_p)                   [B, D]   (the pooler)
//   is-next logit   p w_n + b_n;  class logits (the decoder's head, not part of this module)
//
// Learned input-space embeddings msk [P] (replaces masked inputs) and cls [P] (the summary token)
// ~ N(0, 1) as in the official code. The backbone here is a stack of the models issue's pre-norm
// blocks (BackboneBlock: any usable registered operator as the mixer, MLP/GLU/SwiGLU channel
// mixers), all of which are causal; the CLS token is therefore appended at the END of the sequence
// (as the official code does for its GPT), where it attends to every time point. The time table is
// N(0, 0.02) (GPT-2's initializer range) rather than nn.Embedding's N(0, 1), so it does not swamp the
// normalized input embedding at init.
// Architectures besides "liv" (the blocks above): "gpt2" (Autodiff's Gpt2Block: pre-LN, causal,
// GELU-tanh MLP), "bert" (BertEncoderBlock: post-LN, bidirectional, so the CLS token at the end sees
// every point either way) and "lstm" (one unidirectional Lstm of width D per block; with the
// autoencoding framework the pooled CLS state is the code and the time-embedded decoder reconstructs
// the window: an LSTM autoencoder). Width and depth come from the backbone spec in every case.
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Models;

namespace Reference.Decoding;

public sealed class SequenceModel : Module
{
    public const double TimeBin = 0.2;
    public const int TimeBins = 1500;

    private readonly Layer[] blocks;

    public static readonly string[] Architectures = ["liv", "gpt2", "bert", "lstm"];

    public SequenceModel(int parcels, ModelSpec backbone, int window, ulong seed, string architecture = "liv", int heads = 4)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        if (parcels < 1) throw new ArgumentException($"parcels = {parcels}; expected >= 1.", nameof(parcels));
        if (window < 2) throw new ArgumentException($"window = {window}; expected >= 2.", nameof(window));
        backbone.Validate();
        if (!Architectures.Contains(architecture)) throw new ArgumentException($"architecture '{architecture}'; expected one of {string.Join(", ", Architectures)}.", nameof(architecture));
        if (architecture is "gpt2" or "bert" && (heads < 1 || backbone.Width % heads != 0))
            throw new ArgumentException($"heads = {heads}; expected a divisor of the width {backbone.Width}.", nameof(heads));
        Backbone = backbone;
        Architecture = architecture;
        Heads = heads;
        Parcels = parcels;
        Window = window;
        int d = backbone.Width;
        var rng = new SplitMix64(seed);
        Embed = RegisterModule("embed", new Linear(parcels, d, rng));
        EmbedNorm = RegisterModule("embed_norm", new LayerNorm(d));
        TimeTable = RegisterParameter("time_embedding", Init.Normal(rng, 0, 0.02, TimeBins + 1, d));
        Mask = RegisterParameter("msk_embed", Init.Normal(rng, 0, 1, parcels));
        Cls = RegisterParameter("cls_embed", Init.Normal(rng, 0, 1, parcels));
        blocks = new Layer[backbone.Blocks.Count];
        for (int i = 0; i < blocks.Length; i++)
            blocks[i] = RegisterModule($"block{i}", architecture switch
            {
                "gpt2" => new Gpt2Block(d, heads, rng, 0, seed + 1 + (ulong)i),
                "bert" => new BertEncoderBlock(d, heads, rng, 0, seed + 1 + (ulong)i),
                "lstm" => new Lstm(d, d, rng),
                _ => (Layer)new BackboneBlock(backbone.Blocks[i], d, window + 1, seed + 1 + (ulong)i, backbone.Norm, rng),
            });
        FinalNorm = RegisterModule("final_norm", backbone.Norm == NormKind.LayerNorm ? new LayerNorm(d) : (Layer)new RmsNorm(d));
        Reconstruct = RegisterModule("reconstruct", new Linear(d, parcels, rng));
        Pooler = RegisterModule("pooler", new Linear(d, d, rng));
        NextHead = RegisterModule("is_next", new Linear(d, 1, rng));
    }

    public ModelSpec Backbone { get; }
    /// <summary>liv, gpt2, bert or lstm (see the head of the file).</summary>
    public string Architecture { get; }
    /// <summary>Attention heads of the gpt2 and bert blocks.</summary>
    public int Heads { get; }
    /// <summary>What makes two models of this class interchangeable (pre-training checkpoints are keyed by it).</summary>
    public string Identity => Architecture == "liv" ? Backbone.ToJson() : $"{Architecture}:width={Width},depth={Backbone.Blocks.Count},heads={Heads}";
    public int Parcels { get; }
    public int Window { get; }
    public int Width => Backbone.Width;
    public Linear Embed { get; }
    public LayerNorm EmbedNorm { get; }
    public Variable TimeTable { get; }
    public Variable Mask { get; }
    public Variable Cls { get; }
    public IReadOnlyList<Layer> Blocks => blocks;
    public Layer FinalNorm { get; }
    public Linear Reconstruct { get; }
    public Linear Pooler { get; }
    public Linear NextHead { get; }

    /// <summary>The time-embedding row of a time in seconds (clamped to the last bin).</summary>
    public static int TimeId(double seconds) => Math.Clamp((int)Math.Round(seconds / TimeBin), 0, TimeBins - 1);

    /// <summary>Parameters of the embedder (input projection, its norm, time table, mask and CLS embeddings).</summary>
    public IEnumerable<Variable> EmbedderParameters() =>
        Embed.Parameters().Concat(EmbedNorm.Parameters()).Concat([TimeTable, Mask, Cls]);

    /// <summary>Parameters of the backbone (blocks and final norm).</summary>
    public IEnumerable<Variable> BackboneParameters() => blocks.SelectMany(b => b.Parameters()).Concat(FinalNorm.Parameters());

    /// <summary>
    /// Hidden states [B, W + 1, D] of inputs [B, W, P] with the CLS token appended; times [B, W]
    /// in seconds (row-major); dropout from <paramref name="dropout"/> when given.
    /// </summary>
    public Variable Hidden(Variable inputs, double[] times, SplitMix64? dropout, double p)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        int b = inputs.Shape[0], w = inputs.Shape[1];
        if (inputs.Rank != 3 || w != Window || inputs.Shape[2] != Parcels)
            throw new ArgumentException($"inputs have shape {Shapes.Format(inputs.Shape)}, expected [B, {Window}, {Parcels}].", nameof(inputs));
        if (times.Length != b * w) throw new ArgumentException($"{times.Length} times for B * W = {b * w} inputs.", nameof(times));
        var cls = Ops.Add(Variable.Constant(Tensor<double>.Zeros(b, 1, Parcels)), Ops.Reshape(Cls, 1, 1, Parcels));
        var x = Ops.Concat([inputs, cls], 1);
        var ids = new int[b * (w + 1)];
        for (int i = 0; i < b; i++)
        {
            for (int t = 0; t < w; t++) ids[i * (w + 1) + t] = TimeId(times[i * w + t]);
            ids[i * (w + 1) + w] = TimeBins;
        }
        var e = EmbedNorm.Forward(Embed.Forward(x));
        if (dropout is not null && p > 0) e = Ops.Dropout(e, p, dropout);
        e = Ops.Add(e, Ops.Embedding(TimeTable, ids, b, w + 1));
        foreach (var block in blocks) e = block.Forward(e);
        return FinalNorm.Forward(e);
    }

    /// <summary>Reconstructions [B, W, P] of the W time points from hidden states [B, W + 1, D].</summary>
    public Variable Reconstruction(Variable hidden) => Reconstruct.Forward(Ops.Slice(hidden, 1, 0, Window));

    /// <summary>The pooled summary tanh(h_cls W_p + b_p) [B, D] from hidden states [B, W + 1, D].</summary>
    public Variable Pool(Variable hidden)
    {
        int b = hidden.Shape[0];
        return Ops.Tanh(Pooler.Forward(Ops.Reshape(Ops.Slice(hidden, 1, Window, 1), b, Width)));
    }

    /// <summary>Window times (seconds) repeated for a batch: [B, W].</summary>
    public static double[] RepeatTimes(double[] times, int batch)
    {
        var result = new double[batch * times.Length];
        for (int i = 0; i < batch; i++) times.CopyTo(result, i * times.Length);
        return result;
    }

    /// <summary>A copy of every parameter's values, by name (what fine-tuning starts from).</summary>
    public Dictionary<string, double[]> Snapshot() => NamedParameters().ToDictionary(p => p.Name, p => (double[])p.Parameter.Value.Data.Clone());

    /// <summary>Copies a snapshot of a model of the same architecture into this one.</summary>
    public void Load(IReadOnlyDictionary<string, double[]> snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        foreach (var (name, p) in NamedParameters())
        {
            if (!snapshot.TryGetValue(name, out var values) || values.Length != p.Value.Length)
                throw new ArgumentException($"the pre-trained snapshot lacks '{name}' or has another size; expected the same architecture.", nameof(snapshot));
            values.CopyTo(p.Value.Data, 0);
        }
    }
}
