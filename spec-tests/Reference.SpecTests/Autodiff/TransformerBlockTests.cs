using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using static Reference.SpecTests.Autodiff.Conv3dTests;

namespace Reference.SpecTests.Autodiff;

/// <summary>
/// Masked multi-head attention against a per-head loop, GPT-2 and BERT blocks against their
/// equations composed from the layers, causality and padding invariance, parameter counts and
/// gradcheck on tiny instances.
/// </summary>
public class TransformerBlockTests
{
    /// <summary>Attention for one batch row and head written out: s_ij = q_i . k_j / sqrt(d) (+ mask), p = softmax, y_i = sum_j p_ij v_j.</summary>
    private static double[] HeadLoop(double[][] q, double[][] k, double[][] v, Func<int, int, bool> allowed)
    {
        int len = q.Length, d = q[0].Length;
        var y = new double[len * d];
        for (int i = 0; i < len; i++)
        {
            var s = new double[len];
            double max = double.NegativeInfinity;
            for (int j = 0; j < len; j++)
            {
                if (!allowed(i, j)) { s[j] = double.NegativeInfinity; continue; }
                for (int e = 0; e < d; e++) s[j] += q[i][e] * k[j][e];
                s[j] /= Math.Sqrt(d);
                max = Math.Max(max, s[j]);
            }
            double z = s.Sum(x => Math.Exp(x - max));
            for (int j = 0; j < len; j++)
                for (int e = 0; e < d; e++) y[i * d + e] += Math.Exp(s[j] - max) / z * v[j][e];
        }
        return y;
    }

    [Property(MaxTest = 15)]
    public Property MultiHeadAttention_MatchesPerHeadLoop_WithCausalAndPaddingMasks() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int bsz = 1 + rng.NextInt(2), len = 1 + rng.NextInt(5), heads = 1 + rng.NextInt(2), dh = 1 + rng.NextInt(3), dim = heads * dh;
            var attn = new MultiHeadSelfAttention(dim, heads, new SplitMix64((ulong)seed + 1));
            var x = Grad.Normal((ulong)seed + 2, bsz, len, dim);
            var valid = Enumerable.Range(0, bsz).Select(_ => Enumerable.Range(0, len).Select(t => t == 0 || rng.NextInt(3) > 0).ToArray()).ToArray();
            foreach (bool causal in new[] { false, true })
                foreach (bool fast in new[] { false, true })
                {
                    var mask = Ops.PaddingMask(valid);
                    var y = Run(fast, () => attn.Forward(Variable.Constant(x), causal ? Ops.Add(Variable.Constant(Ops.CausalMask(len)), Variable.Constant(mask)).Value : mask)).Value;
                    using var _ = Tape.NoGrad();
                    var q = attn.Query.Forward(Variable.Constant(x)).Value;
                    var k = attn.Key.Forward(Variable.Constant(x)).Value;
                    var v = attn.Value.Forward(Variable.Constant(x)).Value;
                    var concat = Tensor<double>.Zeros(bsz, len, dim);
                    for (int b = 0; b < bsz; b++)
                        for (int h = 0; h < heads; h++)
                        {
                            double[][] Take(Tensor<double> t) => Enumerable.Range(0, len).Select(i => Enumerable.Range(0, dh).Select(e => t[b, i, h * dh + e]).ToArray()).ToArray();
                            var o = HeadLoop(Take(q), Take(k), Take(v), (i, j) => valid[b][j] && (!causal || j <= i));
                            for (int i = 0; i < len; i++)
                                for (int e = 0; e < dh; e++) concat[b, i, h * dh + e] = o[i * dh + e];
                        }
                    AssertClose(attn.Output.Forward(Variable.Constant(concat)).Value, y, 1e-11);
                }
        });

    [Fact]
    public void Gpt2Block_IsPreLnWithGeluTanh_Causal_AndCounted()
    {
        int dim = 6, heads = 2, len = 4;
        var block = new Gpt2Block(dim, heads, new SplitMix64(1));
        Assert.Equal(12L * dim * dim + 13 * dim, block.ParameterCount());
        var x = Grad.Normal(2, 2, len, dim);
        var y = block.Forward(Variable.Constant(x));
        // The equations composed from the block's own layers.
        var h = Ops.Add(Variable.Constant(x), block.Attention.Forward(block.Ln1.Forward(Variable.Constant(x)), Ops.CausalMask(len)));
        var m = block.Mlp.Fc2.Forward(Ops.GeluTanh(block.Mlp.Fc1.Forward(block.Ln2.Forward(h))));
        AssertClose((h + m).Value, y.Value);
        // Causal: changing the last position leaves every earlier output unchanged.
        var x2 = x.Clone();
        for (int e = 0; e < dim; e++) x2[0, len - 1, e] += 1.0;
        var y2 = block.Forward(Variable.Constant(x2)).Value;
        for (int t = 0; t < len - 1; t++)
            for (int e = 0; e < dim; e++) Assert.Equal(y.Value[0, t, e], y2[0, t, e]);
        Assert.NotEqual(y.Value[0, len - 1, 0], y2[0, len - 1, 0]);
        foreach (bool fast in new[] { false, true })
        {
            AssertClose(y.Value, Run(fast, () => block.Forward(Variable.Constant(x))).Value, 1e-12);
            var r = GradCheck.CheckParameters(() => Run(fast, () => Grad.Probe(block.Forward(Variable.Constant(x)))), block.Parameters());
            Assert.True(r.Passed, r.ToString());
            Grad.AssertPasses(v => Run(fast, () => Grad.Probe(block.Forward(v[0]))), x);
        }
    }

    [Fact]
    public void BertBlock_IsPostLnWithGelu_IgnoresPadding_AndCounted()
    {
        int dim = 4, heads = 2, len = 5, inter = 8;
        var block = new BertEncoderBlock(dim, heads, new SplitMix64(3), intermediate: inter);
        Assert.Equal(4L * dim * dim + 4 * dim + 2 * dim * inter + inter + dim + 4 * dim, block.ParameterCount());
        var x = Grad.Normal(4, 2, len, dim);
        bool[][] valid = [[true, true, true, false, false], [true, true, true, true, true]];
        var y = block.Forward(Variable.Constant(x), valid);
        var a = block.Ln1.Forward(Variable.Constant(x) + block.Attention.Forward(Variable.Constant(x), Ops.PaddingMask(valid)));
        var expected = block.Ln2.Forward(a + block.Mlp.Fc2.Forward(Ops.Gelu(block.Mlp.Fc1.Forward(a))));
        AssertClose(expected.Value, y.Value);
        // Padding: new contents at padded positions change nothing at the real ones.
        var x2 = x.Clone();
        for (int e = 0; e < dim; e++) { x2[0, 3, e] = 7.0; x2[0, 4, e] = -3.0; }
        var y2 = block.Forward(Variable.Constant(x2), valid).Value;
        for (int t = 0; t < 3; t++)
            for (int e = 0; e < dim; e++) Assert.Equal(y.Value[0, t, e], y2[0, t, e], 13);
        // Bidirectional: the first position sees the last one of the unpadded row.
        var x3 = x.Clone();
        x3[1, len - 1, 0] += 1.0;
        Assert.NotEqual(y.Value[1, 0, 0], block.Forward(Variable.Constant(x3), valid).Value[1, 0, 0]);
        foreach (bool fast in new[] { false, true })
        {
            var r = GradCheck.CheckParameters(() => Run(fast, () => Grad.Probe(block.Forward(Variable.Constant(x), valid))), block.Parameters());
            Assert.True(r.Passed, r.ToString());
            Grad.AssertPasses(v => Run(fast, () => Grad.Probe(block.Forward(v[0], valid))), x);
        }
    }

    [Fact]
    public void Pooler_IsTanhOfLinearOnFirstPosition()
    {
        int dim = 3;
        var pooler = new Pooler(dim, new SplitMix64(5));
        Assert.Equal(dim * dim + dim, pooler.ParameterCount());
        var x = Grad.Normal(6, 2, 4, dim);
        var y = pooler.Forward(Variable.Constant(x)).Value;
        var w = pooler.Dense.Weight.Value;
        var b = pooler.Dense.Bias!.Value;
        for (int n = 0; n < 2; n++)
            for (int o = 0; o < dim; o++)
            {
                double s = b[o];
                for (int i = 0; i < dim; i++) s += w[o, i] * x[n, 0, i];
                Assert.Equal(Math.Tanh(s), y[n, o], 14);
            }
        Grad.AssertPasses(v => Grad.Probe(pooler.Forward(v[0])), x);
        Assert.True(GradCheck.CheckParameters(() => Grad.Probe(pooler.Forward(Variable.Constant(x))), pooler.Parameters()).Passed);
    }

    [Fact]
    public void Dropout_InTrainingOnly_AndSeeded()
    {
        var block = new Gpt2Block(4, 2, new SplitMix64(1), dropout: 0.5, seed: 11);
        var x = Variable.Constant(Grad.Normal(2, 1, 3, 4));
        var a = block.Forward(x).Value;
        var b = block.Forward(x).Value;
        Assert.NotEqual(a.Data, b.Data);
        block.Eval();
        Assert.Equal(block.Forward(x).Value.Data, block.Forward(x).Value.Data);
    }
}
