using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using static Reference.SpecTests.Autodiff.Conv3dTests;

namespace Reference.SpecTests.Autodiff;

/// <summary>
/// The fused training-mode tail BatchNorm -> ReLU -> Dropout3d (<see cref="Ops.BatchNormReluDropout3d"/>):
/// bitwise the three Fast-tier primitives in sequence (values, gradients, running statistics, dropout
/// draws), close to the Naive tier's three primitives, the same on 1 and 2 kernel threads, and by gradcheck.
/// </summary>
public class FusedBlockTests
{
    /// <summary>z and the gradients of x, gamma and beta for the seed cotangent, then the running statistics and the stream's next draw.</summary>
    private static double[][] Step(Func<Variable, Variable?, Variable?, double[], double[], SplitMix64?, Variable> tail,
        Tensor<double> x, Tensor<double>? w, Tensor<double>? b, bool dropout, ulong seed, bool fast, int threads)
    {
        using var limit = KernelThreads.Limit(threads);
        int c = x.Shape[1];
        var (xv, wv, bv) = (Variable.Parameter(x), w is null ? null : Variable.Parameter(w), b is null ? null : Variable.Parameter(b));
        var rm = Enumerable.Range(0, c).Select(i => 0.25 * i).ToArray();
        var rv = Enumerable.Range(0, c).Select(i => 1.0 + 0.5 * i).ToArray();
        var rng = dropout ? new SplitMix64(seed) : null;
        var z = Run(fast, () => tail(xv, wv, bv, rm, rv, rng));
        using (fast ? Tape.UseFastKernels() : default) z.Backward(Grad.Normal(seed + 7, z.Shape.ToArray()));
        return [z.Value.Data, xv.Grad!.Data, wv?.Grad!.Data ?? [], bv?.Grad!.Data ?? [], rm, rv, [rng?.Uniform() ?? 0]];
    }

    private static Variable Fused(Variable x, Variable? w, Variable? b, double[] rm, double[] rv, SplitMix64? rng) =>
        Ops.BatchNormReluDropout3d(x, w, b, rm, rv, 0.2, 1e-3, 0.3, rng);

    private static Variable Separate(Variable x, Variable? w, Variable? b, double[] rm, double[] rv, SplitMix64? rng)
    {
        var r = Ops.Relu(Ops.BatchNorm(x, w, b, rm, rv, training: true, momentum: 0.2, eps: 1e-3));
        return rng is null ? r : Ops.Dropout3d(r, 0.3, rng);
    }

    [Property(MaxTest = 16)]
    public Property Fused_IsTheThreeFastPrimitivesBitwise_AndCloseToNaive() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            // Rows up to 7 x 7 x 8 = 392 values cross the backward's 256-value chunks.
            int[] shape = [2 + rng.NextInt(4), 1 + rng.NextInt(5), 1 + rng.NextInt(7), 1 + rng.NextInt(7), 1 + rng.NextInt(8)];
            int c = shape[1];
            var x = new SplitMix64((ulong)seed + 1).NormalTensor<double>(0.5, 2, shape);
            bool affine = rng.NextInt(4) > 0, dropout = rng.NextInt(3) > 0;
            var w = affine ? Grad.Normal((ulong)seed + 2, c) : null;
            var b = affine ? Grad.Normal((ulong)seed + 3, c) : null;
            var fused = Step(Fused, x, w, b, dropout, (ulong)seed, fast: true, threads: 1);
            var separate = Step(Separate, x, w, b, dropout, (ulong)seed, fast: true, threads: 1);
            var naive = Step(Separate, x, w, b, dropout, (ulong)seed, fast: false, threads: 1);
            var twoThreads = Step(Fused, x, w, b, dropout, (ulong)seed, fast: true, threads: 2);
            for (int i = 0; i < fused.Length; i++)
            {
                Assert.Equal(separate[i], fused[i]);
                Assert.Equal(fused[i], twoThreads[i]);
                for (int j = 0; j < fused[i].Length; j++)
                    Assert.True(Math.Abs(fused[i][j] - naive[i][j]) <= 1e-11 * (1 + Math.Abs(naive[i][j])),
                        $"part {i} element {j}: fused {fused[i][j]:R} vs naive {naive[i][j]:R}");
            }
        });

    [Theory]
    [InlineData(5, true, true)]
    [InlineData(6, false, false)]
    public void Fused_LargeBlock_IsTheSameOnOneAndTwoThreads_AndTheSeparatePrimitives(int samples, bool affine, bool dropout)
    {
        // samples x 8 x 891 values: above the size (2^15) where the block runs on several threads, by
        // samples (an odd count splits unevenly) or by channels; on one thread by channels. All are bitwise
        // the separate primitives and close to the Naive tier.
        var x = new SplitMix64(3).NormalTensor<double>(0.5, 2, samples, 8, 9, 11, 9);
        var w = affine ? Grad.Normal(4, 8) : null;
        var b = affine ? Grad.Normal(5, 8) : null;
        var one = Step(Fused, x, w, b, dropout, 6, fast: true, threads: 1);
        double[][] two, three, twoByChannels;
        try
        {
            Ops.FusedTailItemsChoice = Ops.FusedTailItems.Samples;
            two = Step(Fused, x, w, b, dropout, 6, fast: true, threads: 2);
            three = Step(Fused, x, w, b, dropout, 6, fast: true, threads: 3);
            Ops.FusedTailItemsChoice = Ops.FusedTailItems.Channels;
            twoByChannels = Step(Fused, x, w, b, dropout, 6, fast: true, threads: 2);
        }
        finally
        {
            Ops.FusedTailItemsChoice = Ops.FusedTailItems.Auto;
        }
        var separate = Step(Separate, x, w, b, dropout, 6, fast: true, threads: 2);
        var naive = Step(Separate, x, w, b, dropout, 6, fast: false, threads: 1);
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(one[i], two[i]);
            Assert.Equal(one[i], three[i]);
            Assert.Equal(one[i], twoByChannels[i]);
            Assert.Equal(separate[i], two[i]);
            for (int j = 0; j < two[i].Length; j++)
                Assert.True(Math.Abs(two[i][j] - naive[i][j]) <= 1e-11 * (1 + Math.Abs(naive[i][j])),
                    $"part {i} element {j}: fused {two[i][j]:R} vs naive {naive[i][j]:R}");
        }
    }

    [Property(MaxTest = 8)]
    public Property Fused_PassesGradCheck() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var rng = new SplitMix64((ulong)seed);
            int[] shape = [2, 1 + rng.NextInt(3), 1 + rng.NextInt(3), 1 + rng.NextInt(3), 2];
            int c = shape[1];
            var x = Grad.Normal((ulong)seed + 1, shape);
            var w = Grad.Normal((ulong)seed + 2, c);
            var b = Grad.Normal((ulong)seed + 3, c);
            var rm = new double[c];
            var rv = Enumerable.Repeat(1.0, c).ToArray();
            // A fresh stream per evaluation: every perturbed call sees the same mask.
            Grad.AssertPasses(v => Run(true, () => Grad.Probe(Ops.BatchNormReluDropout3d(v[0], v[1], v[2], rm, rv, 0.1, 1e-5, 0.4, new SplitMix64((ulong)seed)))), x, w, b);
            Grad.AssertPasses(v => Run(true, () => Grad.Probe(Ops.BatchNormReluDropout3d(v[0], null, null, rm, rv, 0.1, 1e-5, 0, null))), x);
        });

    [Fact]
    public void FusedBlocks_TrainingStep_IsTheLayersOneByOne_AndEvalModeIsNotFused()
    {
        var rng = new SplitMix64(11);
        Sequential Net() => new(new Conv3d(1, 4, 3, new SplitMix64(12), stride: 2), new BatchNorm(4), new Activation(ActivationKind.Relu),
            new Dropout3d(0.3, 13), new Conv3d(4, 4, 3, new SplitMix64(14)), new BatchNorm(4), new Activation(ActivationKind.Relu), new Flatten());
        var x = rng.NormalTensor<double>(0, 1, 3, 1, 9, 9, 9);
        double[][] TrainStep(Func<Sequential, Variable, Variable> forward)
        {
            var net = Net();
            using var fast = Tape.UseFastKernels();
            var y = forward(net, Variable.Constant(x));
            Ops.Sum(Ops.Mul(y, y)).Backward();
            var bn = (BatchNorm)net.Layers[1];
            return [y.Value.Data, .. net.Parameters().Select(p => p.Grad!.Data), bn.RunningMean, bn.RunningVar];
        }
        var fused = TrainStep((net, v) => FusedBlocks.Forward(net.Layers, v));
        var layers = TrainStep((net, v) => net.Forward(v));
        Assert.Equal(layers.Length, fused.Length);
        for (int i = 0; i < fused.Length; i++) Assert.Equal(layers[i], fused[i]);

        var eval = Net();
        eval.Eval();
        using var scope = Tape.UseFastKernels();
        var traced = Tape.Trace(Ops.Sum(FusedBlocks.Forward(eval.Layers, new Variable(x, requiresGrad: true)))).Select(t => t.Name).ToArray();
        Assert.Contains("relu", traced);
        Assert.Contains("batch_norm_eval", traced);
        Assert.DoesNotContain("batch_norm_relu_dropout3d", traced);
    }

    [Fact]
    public void Fused_BadInput_NamesTheArgument()
    {
        var x = Variable.Constant(Tensor<double>.Zeros(2, 3, 2, 2, 2));
        Assert.Equal("p", Assert.Throws<ArgumentOutOfRangeException>(() => Ops.BatchNormReluDropout3d(x, null, null, new double[3], new double[3], 0.1, 1e-5, 1.5, null)).ParamName);
        Assert.Equal("runningVar", Assert.Throws<ArgumentException>(() => Ops.BatchNormReluDropout3d(x, null, null, new double[3], new double[2], 0.1, 1e-5, 0, null)).ParamName);
        var one = Variable.Constant(Tensor<double>.Zeros(1, 3, 1, 1, 1));
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => Ops.BatchNormReluDropout3d(one, null, null, new double[3], new double[3], 0.1, 1e-5, 0, null)).ParamName);
    }
}
