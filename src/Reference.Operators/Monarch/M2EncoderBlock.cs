// A small M2-BERT encoder block: the M2-BERT sequence mixer (M2Mixer.cs, monarch.m2_bert) followed by the
// block-diagonal GLU dimension mixer (M2DimensionMixer.cs, monarch.glu_mlp) with M2-BERT's residual and
// post-LayerNorm around the dimension mixer:
//
//   a = M2BertMixer(x)                       [B, L, D]
//   y = LayerNorm(a + GluMlp(a))             LayerNorm over D, eps 1e-12 (BERT's layer_norm_eps)
//
// Paper: Fu, Arora et al., "Monarch Mixer" (arXiv:2310.12109), Sec. 4 (M2-BERT); order of HazyResearch/m2
// BertLayer with monarch_mixer_sequence_mixing (layer_output = mlp(attention(x))) and BertGatedLinearUnitMLP
// (LayerNorm(hidden + residual)). The sequence mixer has no residual of its own there (residual_long_conv,
// a second filter on the raw input, is not modelled: see M2Mixer.cs).
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Operators.Monarch;

/// <summary>The M2-BERT encoder block x [B, L, D] -> [B, L, D] on the tape (file head).</summary>
public sealed class M2EncoderBlock : Layer
{
    /// <summary>BERT's LayerNorm epsilon (m2's configs keep HuggingFace's 1e-12).</summary>
    public const double LayerNormEps = 1e-12;

    private readonly Variable[] mixerParameters;

    /// <param name="width">Model width D.</param>
    /// <param name="maxLength">l_max of the implicit filters.</param>
    /// <param name="hidden">Hidden width I of the GLU (a multiple of <paramref name="blocks"/>).</param>
    /// <param name="blocks">Blocks nb of the block-diagonal maps (M2-BERT: 4; divides D and I).</param>
    /// <param name="filterWidth">Width F of the implicit filters' MLP.</param>
    /// <param name="embeddingDim">Positional feature size E (odd, >= 3).</param>
    /// <param name="rng">Draws: the sequence mixer (M2MixerParameters.Initialize), then the GLU (M2DimensionParameters.Initialize).</param>
    public M2EncoderBlock(int width, int maxLength, int hidden, int blocks, SplitMix64 rng, int filterWidth = 16, int embeddingDim = 5)
    {
        ArgumentNullException.ThrowIfNull(rng);
        SequenceParameters = M2MixerParameters.Initialize(rng, width, maxLength, bidirectional: true, filterWidth, embeddingDim);
        DimensionParameters = M2DimensionParameters.Initialize(rng, width, hidden, blocks);
        var sv = M2MixerVariables.From(SequenceParameters);
        Sequence = sv;
        mixerParameters = [.. sv.All.Select((v, i) => RegisterParameter("seq_" + i, v.Value))];
        int d = width, nb = blocks;
        WIn = RegisterParameter("w_in", new Tensor<double>((double[])DimensionParameters.WIn.Clone(), nb, 2 * hidden / nb, d / nb));
        WOut = RegisterParameter("w_out", new Tensor<double>((double[])DimensionParameters.WOut.Clone(), nb, d / nb, hidden / nb));
        BOut = RegisterParameter("b_out", new Tensor<double>((double[])DimensionParameters.BOut.Clone(), d));
        Norm = RegisterModule("norm", new LayerNorm(d, LayerNormEps));
    }

    /// <summary>The initial sequence-mixer parameters (the naive forward's input).</summary>
    public M2MixerParameters SequenceParameters { get; }

    /// <summary>The initial dimension-mixer parameters.</summary>
    public M2DimensionParameters DimensionParameters { get; }

    /// <summary>The sequence mixer's variables as first built (Forward swaps in the registered parameters seq_0 .. in M2MixerVariables.All order).</summary>
    public M2MixerVariables Sequence { get; }

    public Variable WIn { get; }
    public Variable WOut { get; }
    public Variable BOut { get; }
    public LayerNorm Norm { get; }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var registered = mixerParameters;
        var v = Sequence with
        {
            InW = registered[0], InB = registered[1], ShortW = registered[2], ShortB = registered[3],
            W0 = registered[4], B0 = registered[5], W1 = registered[6], B1 = registered[7], W2 = registered[8], B2 = registered[9], W3 = registered[10],
            R0 = registered[11], RB0 = registered[12], R1 = registered[13], RB1 = registered[14], R2 = registered[15], RB2 = registered[16], R3 = registered[17],
            Freq = registered[18], FilterBias = registered[19], OutW = registered[20], OutB = registered[21],
        };
        var a = M2BertMixer.Operator(x, v);
        return Norm.Forward(Ops.Add(a, M2DimensionMixer.Operator(a, WIn, WOut, BOut)));
    }

    /// <summary>The block by the naive definitions of its parts (monarch.m2_bert, monarch.glu_mlp, NaiveNormalization.LayerNorm with unit gain, zero bias).</summary>
    public static Tensor<double> ForwardNaive(M2MixerParameters sequence, M2DimensionParameters dimension, Tensor<double> x)
    {
        var a = M2BertMixer.Forward(sequence, x);
        var h = M2DimensionMixer.Forward(dimension, a);
        for (int i = 0; i < h.Length; i++) h.Data[i] += a.Data[i];
        var y = Tensor<double>.Zeros(h.ShapeArray);
        int d = sequence.ModelWidth;
        NaiveNormalization.LayerNorm(h.Data, Enumerable.Repeat(1.0, d).ToArray(), new double[d], y.Data, default, default, d, LayerNormEps);
        return y;
    }
}
