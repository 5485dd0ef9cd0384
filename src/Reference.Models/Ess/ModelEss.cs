// Effective state size of a (trained) backbone on given inputs (ESS paper, arXiv:2504.19561,
// sec. 3: the operator view of each layer, taken at the input the layer actually receives; sec. 4:
// ESS per layer of trained models). For each sequence b and block i with a sequence mixer, the
// model runs up to block i, the mixer's normalized input gives the operator's own inputs
// (SequenceMixer.OperatorView: q, k, v, gates or u from the projections, parameters as trained),
// the descriptor materializes T [C_i, L, L] for that input, and ESS[b, i, c, k] is the metric of
// split splits[k] of channel (or head) c (EffectiveStateSize.Compute). Blocks without a mixer, and
// channels c >= C_i of a layer with fewer channels than the widest layer, hold 0 (a memoryless layer
// has ESS 0); Channels[i] says how many are real, and the per-layer aggregates below use them only.
// Total state size per layer comes from the descriptor's TotalStateSize formula at each split.
using Reference.Autodiff;
using Reference.Core;
using Reference.Ess;

namespace Reference.Models;

/// <summary>The ESS tensor of a model on a batch of inputs, with what each layer is.</summary>
/// <param name="Ess">[B, layers, C_max, S].</param>
/// <param name="Splits">The splits s of the last axis.</param>
/// <param name="Operators">Per layer, the mixer's operator name (null without a mixer).</param>
/// <param name="Channels">Per layer, its real channels (or heads) C_i (0 without a mixer).</param>
/// <param name="TotalStateSize">Per layer and split, the TSS per channel from the descriptor's formula (0 without one).</param>
public sealed record ModelEssResult(Tensor<double> Ess, int[] Splits, string?[] Operators, int[] Channels, double[][] TotalStateSize)
{
    /// <summary>Per layer: mean over batch, sum over its real channels, mean over splits (EssReducers.PerLayer).</summary>
    public double[] PerLayer => [.. EssReducers.PerLayer(Ess).Data];

    /// <summary>Per layer: mean over batch, real channels and splits of ESS per channel.</summary>
    public double[] MeanPerChannel => [.. PerLayer.Select((v, i) => Channels[i] == 0 ? 0.0 : v / Channels[i])];

    /// <summary>Per layer: mean per-channel ESS over mean per-channel TSS (NaN when the layer has no TSS formula or no mixer).</summary>
    public double[] Utilization => [.. MeanPerChannel.Select((v, i) =>
    {
        double tss = TotalStateSize[i].Length == 0 ? 0 : TotalStateSize[i].Average();
        return tss > 0 ? v / tss : double.NaN;
    })];

    /// <summary>Whole model: the sum of <see cref="PerLayer"/>.</summary>
    public double Total => EssReducers.Total(Ess);
}

public static class ModelEss
{
    /// <summary>
    /// ESS [B, layers, C_max, S] of <paramref name="model"/> on tokens [B, L] (row-major), at
    /// <paramref name="splits"/> (default 1 .. L - 1). Throws ArgumentException naming a layer whose
    /// operator has no materialized form.
    /// </summary>
    public static ModelEssResult Compute(BackboneModel model, int[] tokens, int batch, int length, EssOptions? options = null, int[]? splits = null, int maxThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokens);
        if (batch < 1 || length < 2 || tokens.Length != batch * length)
            throw new ArgumentException($"tokens must hold B * L = {batch} * {length} ids with B >= 1 and L >= 2 (ESS needs a split), got {tokens.Length}.", nameof(tokens));
        foreach (int id in tokens)
            if ((uint)id >= (uint)model.Vocabulary)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {id} is outside the vocabulary [0, {model.Vocabulary}).");
        splits ??= EffectiveStateSize.AllSplits(length);
        int layers = model.Blocks.Count;
        var operators = new string?[layers];
        for (int i = 0; i < layers; i++)
        {
            var mixer = model.Blocks[i].Mixer;
            if (mixer is null) continue;
            if (mixer.Operator.Materialize is null)
                throw new ArgumentException($"block {i}: operator '{mixer.Operator.Name}' has no materialized form, so its ESS is not defined here.", nameof(model));
            operators[i] = mixer.Operator.Name;
        }
        var perSequence = new Tensor<double>?[batch, layers];
        var channels = new int[layers];
        var tss = new double[layers][];
        using (Tape.NoGrad())
        {
            for (int b = 0; b < batch; b++)
            {
                var x = Ops.Embedding(model.Embedding, tokens.AsSpan(b * length, length).ToArray(), 1, length);
                for (int i = 0; i < layers; i++)
                {
                    var block = model.Blocks[i];
                    if (block.Mixer is { } mixer)
                    {
                        var (p, inputs) = mixer.OperatorView(block.MixerNorm!.Forward(x));
                        var t = mixer.Operator.Materialize!(p, inputs);                         // [C, L, L]
                        perSequence[b, i] = EffectiveStateSize.Compute(t, options, splits, maxThreads);   // [C, S]
                        channels[i] = t.Dim(0);
                        tss[i] ??= mixer.Operator.TotalStateSize is { } f ? [.. splits.Select(s => f(p, s, length))] : [];
                    }
                    x = block.Forward(x);
                }
            }
        }
        int cMax = Math.Max(1, channels.Max());
        var ess = Tensor<double>.Zeros(batch, layers, cMax, splits.Length);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < layers; i++)
                if (perSequence[b, i] is { } e)
                    e.Data.CopyTo(ess.Data, (b * layers + i) * cMax * splits.Length);
        for (int i = 0; i < layers; i++) tss[i] ??= [];
        return new ModelEssResult(ess, splits, operators, channels, tss);
    }
}
