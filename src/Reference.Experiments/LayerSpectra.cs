// Per-position ESS of every mixer of a backbone on one sequence, in the two forms the experiments
// compare (docs/ess.md; arXiv:2504.19561, sec. 3.2):
//   entropy-ESS(s)   = exp(H(sigma(H_s) / ||sigma(H_s)||_1)), scale invariant: it sees the *shape* of
//                      the spectrum of the block that carries the past across split s;
//   tolerance-ESS(s) = #{m : sigma_m(H_s) > tau}, with tau absolute for the sequence: tau = rho * the
//                      largest sigma_1(H_s') over all splits s' of this channel's operator on this
//                      sequence (rho = 1e-2 by default). A per-split relative tolerance, like the
//                      entropy, cannot see a soft reset (a gate that scales the whole past by 1e-3
//                      leaves the spectrum's shape unchanged); this one counts the directions that
//                      still carry a non-negligible share of the operator's largest transfer.
// The operator of each layer is materialized exactly as ModelEss does (the model runs up to the
// block, SequenceMixer.OperatorView feeds the descriptor's Materialize) and the singular values of
// every split are computed once for both forms.
using Reference.Autodiff;
using Reference.Core;
using Reference.Ess;
using Reference.Models;

namespace Reference.Experiments;

/// <summary>ESS of one sequence, per layer, channel (head) and split s = 1..L-1 (null for a layer without a mixer).</summary>
/// <param name="Entropy">Per layer [C, L - 1] entropy-ESS.</param>
/// <param name="Tolerance">Per layer [C, L - 1] tolerance-ESS with the sequence-level absolute tau.</param>
/// <param name="Capacity">Per layer [L - 1] the TSS per channel at each split from the descriptor's formula (null without a mixer or a formula).</param>
/// <param name="Length">Sequence length L.</param>
internal sealed record SequenceSpectra(double[,]?[] Entropy, double[,]?[] Tolerance, double[]?[] Capacity, int Length)
{
    /// <summary>The largest excess of either ESS form over its layer's TSS per channel (0 or less when ESS is within [0, TSS] everywhere), and the smallest ESS value.</summary>
    public (double Excess, double Minimum) CheckBounds()
    {
        double excess = double.NegativeInfinity, minimum = double.PositiveInfinity;
        for (int layer = 0; layer < Entropy.Length; layer++)
        {
            foreach (var ess in new[] { Entropy[layer], Tolerance[layer] })
            {
                if (ess is null) continue;
                for (int c = 0; c < ess.GetLength(0); c++)
                    for (int k = 0; k < ess.GetLength(1); k++)
                    {
                        minimum = Math.Min(minimum, ess[c, k]);
                        if (Capacity[layer] is { } cap) excess = Math.Max(excess, ess[c, k] - cap[k]);
                    }
            }
        }
        return (excess, minimum);
    }

    /// <summary>ESS [C, L - 1] at split index k (split k + 1), averaged over the channels.</summary>
    public static double ChannelMean(double[,] ess, int k)
    {
        double sum = 0;
        int c = ess.GetLength(0);
        for (int i = 0; i < c; i++) sum += ess[i, k];
        return sum / c;
    }

    /// <summary>Summed over channels.</summary>
    public static double ChannelSum(double[,] ess, int k)
    {
        double sum = 0;
        for (int i = 0; i < ess.GetLength(0); i++) sum += ess[i, k];
        return sum;
    }
}

internal static class LayerSpectra
{
    public const double DefaultRho = 1e-2;

    /// <summary>
    /// The materialized operator T [C, L, L] of every layer with a mixer (null otherwise) on one
    /// sequence, with the layer's TSS per channel at each split s = 1..L-1 (null without a formula).
    /// </summary>
    public static (Tensor<double>?[] Operators, double[]?[] Capacity) Operators(BackboneModel model, int[] sequence)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sequence);
        int length = sequence.Length;
        var result = new Tensor<double>?[model.Blocks.Count];
        var capacity = new double[]?[model.Blocks.Count];
        using (Tape.NoGrad())
        {
            var x = Ops.Embedding(model.Embedding, sequence, 1, length);
            for (int i = 0; i < model.Blocks.Count; i++)
            {
                var block = model.Blocks[i];
                if (block.Mixer is { } mixer)
                {
                    var materialize = mixer.Operator.Materialize
                        ?? throw new ArgumentException($"block {i}: operator '{mixer.Operator.Name}' has no materialized form, so its ESS is not defined.", nameof(model));
                    var (p, inputs) = mixer.OperatorView(block.MixerNorm!.Forward(x));
                    result[i] = materialize(p, inputs);
                    if (mixer.Operator.TotalStateSize is { } tss)
                        capacity[i] = [.. Enumerable.Range(1, length - 1).Select(s => (double)tss(p, s, length))];
                }
                x = block.Forward(x);
            }
        }
        return (result, capacity);
    }

    /// <summary>Entropy- and tolerance-ESS of every split of every channel of <paramref name="operators"/> (see the file head).</summary>
    public static SequenceSpectra Of(Tensor<double>?[] operators, double[]?[] capacity, double rho = DefaultRho)
    {
        ArgumentNullException.ThrowIfNull(capacity);
        ArgumentNullException.ThrowIfNull(operators);
        if (!(rho > 0 && rho < 1)) throw new ArgumentOutOfRangeException(nameof(rho), $"rho = {rho} must be in (0, 1).");
        var entropy = new double[operators.Length][,];
        var tolerance = new double[operators.Length][,];

        int length = 0;
        for (int layer = 0; layer < operators.Length; layer++)
        {
            if (operators[layer] is not { } t) continue;
            int c = t.Dim(0), l = t.Dim(1);
            length = l;
            var e = new double[c, l - 1];
            var k = new double[c, l - 1];
            for (int ch = 0; ch < c; ch++)
            {
                var spectra = new double[l - 1][];
                double top = 0;
                for (int s = 1; s < l; s++)
                {
                    spectra[s - 1] = EffectiveStateSize.SplitSingularValues(t.Data.AsSpan(ch * l * l, l * l), l, s);
                    if (spectra[s - 1].Length > 0) top = Math.Max(top, spectra[s - 1].Max());
                }
                for (int s = 1; s < l; s++)
                {
                    e[ch, s - 1] = EffectiveStateSize.EntropyEss(spectra[s - 1]);
                    k[ch, s - 1] = top > 0 ? EffectiveStateSize.ToleranceEss(spectra[s - 1], rho * top, relative: false) : 0;
                }
            }
            entropy[layer] = e;
            tolerance[layer] = k;
        }
        return new SequenceSpectra(entropy, tolerance, capacity, length);
    }

    /// <summary>Both ESS forms of <paramref name="model"/> on one sequence.</summary>
    public static SequenceSpectra Of(BackboneModel model, int[] sequence, double rho = DefaultRho)
    {
        var (operators, capacity) = Operators(model, sequence);
        return Of(operators, capacity, rho);
    }
}
