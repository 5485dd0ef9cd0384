using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Models;
using Reference.Operators.Convolution;
using Reference.Operators.Monarch;

namespace Reference.SpecTests.Operators.Monarch;

/// <summary>
/// The M2 mixers and the encoder block against independent statements: the two mixers against each other
/// where they must agree (no reverse filter and p = 1: both are the causal FFT convolution), the M2-GPT
/// operator matrix lower triangular and the M2-BERT one not, the filter against Hyena's own, the dimension
/// mixer against dense matrices and finite differences, the encoder block's tape against the naive parts.
/// </summary>
public class M2MixerTests
{
    private static M2MixerParameters Bert(ulong seed, int d, int l) => M2MixerParameters.Initialize(new SplitMix64(seed), d, l, bidirectional: true, 8, 3);

    [Fact]
    public void BertWithoutReverseFilter_EqualsGptWithOneDigit_TheCausalConvolution()
    {
        const int d = 3, l = 7;
        var bert = Bert(11, d, l);
        bert = bert with { R3 = new double[bert.R3!.Length] };          // h_rev = 0: the bidirectional conv is the causal one
        var gpt = bert with { R0 = null, RB0 = null, R1 = null, RB1 = null, R2 = null, RB2 = null, R3 = null };
        var u = new SplitMix64(12).NormalTensor<double>(0, 1, 2, l, d);
        var yBert = M2BertMixer.Forward(bert, u);
        var yGpt = M2GptMixer.Forward(gpt, CausalMonarchPlan.Create(l, 1), u);
        Assert.True(Metrics.RelativeError(yBert.Data, yGpt.Data) <= 1e-12, $"rel {Metrics.RelativeError(yBert.Data, yGpt.Data)}");
    }

    [Fact]
    public void GptMatrixIsLowerTriangularAndBertMatrixIsNot()
    {
        const int d = 2, l = 9;
        var bert = Bert(13, d, l);
        var gpt = M2MixerParameters.Initialize(new SplitMix64(14), d, l, bidirectional: false, 8, 3);
        var u = new SplitMix64(15).NormalTensor<double>(0, 1, l, d);
        var tGpt = M2GptMixer.Materialize(gpt, CausalMonarchPlan.Create(3, 2), u);
        var tBert = M2BertMixer.Materialize(bert, u);
        double above = 0, aboveBert = 0;
        for (int c = 0; c < d; c++)
            for (int i = 0; i < l; i++)
                for (int j = i + 1; j < l; j++)
                {
                    above = Math.Max(above, Math.Abs(tGpt[c, i, j]));
                    aboveBert = Math.Max(aboveBert, Math.Abs(tBert[c, i, j]));
                }
        Assert.Equal(0.0, above);
        Assert.True(aboveBert > 1e-6, $"M2-BERT's T has nothing above the diagonal ({aboveBert})");
    }

    [Fact]
    public void Filters_AreHyenasImplicitFilterWithTheM2Weights()
    {
        var p = Bert(16, 2, 10);
        var hyena = HyenaParameters.Initialize(new SplitMix64(1), 2, 10, 2, 8, 3) with
        {
            W0 = p.R0!, B0 = p.RB0!, W1 = p.R1!, B1 = p.RB1!, W2 = p.R2!, B2 = p.RB2!, W3 = p.R3!, Freq = p.Freq, Deltas = p.Deltas,
        };
        Assert.Equal(Hyena.Filter(hyena, 6).Data, M2Mixing.ReverseFilter(p, 6).Data);
        // Freq is M2's w = 10 and the reverse filter differs from the forward one (its own MLP).
        Assert.All(p.Freq, f => Assert.Equal(10.0, f));
        Assert.NotEqual(M2Mixing.Filter(p, 6).Data, M2Mixing.ReverseFilter(p, 6).Data);
    }

    [Fact]
    public void Gpt_RejectsAPlanShorterThanTheSequence()
    {
        var gpt = M2MixerParameters.Initialize(new SplitMix64(17), 2, 10, bidirectional: false, 4, 3);
        var u = Tensor<double>.Zeros(1, 10, 2);
        Assert.Equal("plan", Assert.Throws<ArgumentException>(() => M2GptMixer.Forward(gpt, CausalMonarchPlan.Create(3, 2), u)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentException>(() => M2BertMixer.Forward(gpt, u)).ParamName);
    }

    [Fact]
    public void DimensionMixer_EqualsDenseGluAndItsBackwardMatchesFiniteDifferences()
    {
        var rng = new SplitMix64(18);
        var p = M2DimensionParameters.Initialize(rng, 4, 6, 2);
        var x = rng.NormalTensor<double>(0, 1, 3, 4);
        var y = M2DimensionMixer.Forward(p, x);
        var wIn = M2DimensionMixer.DenseBlockDiagonal(p.WIn, 2, 6, 2);
        var wOut = M2DimensionMixer.DenseBlockDiagonal(p.WOut, 2, 2, 3);
        for (int r = 0; r < 3; r++)
        {
            var h = new double[12];
            for (int o = 0; o < 12; o++)
                for (int c = 0; c < 4; c++) h[o] += wIn[o * 4 + c] * x[r, c];
            for (int o = 0; o < 4; o++)
            {
                double acc = p.BOut[o];
                for (int j = 0; j < 6; j++) acc += wOut[o * 6 + j] * NaiveActivations.Gelu(h[j]) * h[6 + j];
                Assert.True(Math.Abs(acc - y[r, o]) <= 1e-13 * (1 + Math.Abs(acc)));
            }
        }
        var result = GradCheck.Check(v => Ops.Sum(Ops.Square(M2DimensionMixer.Operator(v[0], v[1], v[2], v[3]))),
            [x, new Tensor<double>(p.WIn, 2, 6, 2), new Tensor<double>(p.WOut, 2, 2, 3), new Tensor<double>(p.BOut, 4)]);
        Assert.True(result.Passed, result.ToString());
    }

    [Theory]
    [InlineData("monarch.m2_gpt")]
    [InlineData("monarch.causal_conv")]
    public void CausalM2_IsABackboneMixerAndTheModelIsCausal(string op)
    {
        Assert.Contains(op, SequenceMixers.Usable);
        var spec = ModelSpec.Parse("{\"width\": 8, \"depth\": 2, \"block\": {\"mixer\": {\"operator\": \"" + op + "\"}, \"channel_mixer\": \"glu\"}}");
        var model = BackboneModel.Create(spec, 11, 8, 5);
        int[] a = [1, 2, 3, 4, 5, 6, 7, 8], b = [1, 2, 3, 4, 9, 6, 7, 8];
        var la = model.Logits(a, 1, 8).Value.Data;
        var lb = model.Logits(b, 1, 8).Value.Data;
        for (int i = 0; i < 4 * 11; i++) Assert.Equal(la[i], lb[i], 12);
        Assert.NotEqual(la[4 * 11], lb[4 * 11]);
        Assert.NotNull(SequenceMixers.Unusable(M2BertMixer.Descriptor));   // the non-causal M2-BERT mixer is refused
    }

    [Fact]
    public void EncoderBlock_TapeEqualsTheNaivePartsAndItsGradientMatchesFiniteDifferences()
    {
        var block = new M2EncoderBlock(4, 6, 8, 2, new SplitMix64(19), filterWidth: 4, embeddingDim: 3);
        var x = new SplitMix64(20).NormalTensor<double>(0, 1, 1, 6, 4);
        var expected = M2EncoderBlock.ForwardNaive(block.SequenceParameters, block.DimensionParameters, x);
        var y = block.Forward(Variable.Constant(x)).Value;
        Assert.True(Metrics.RelativeError(expected.Data, y.Data) <= 1e-12, $"rel {Metrics.RelativeError(expected.Data, y.Data)}");
        var w = new SplitMix64(21).NormalTensor<double>(0, 1, 1, 6, 4);
        var result = GradCheck.Check(v => Ops.Sum(Ops.Mul(block.Forward(v[0]), Variable.Constant(w))), [x]);
        Assert.True(result.Passed, result.ToString());
        var xv = Variable.Parameter(x.Clone());
        Ops.Sum(Ops.Mul(block.Forward(xv), Variable.Constant(w))).Backward();
        Assert.All(block.NamedParameters(), p => Assert.NotNull(p.Item2.Grad));
    }
}
