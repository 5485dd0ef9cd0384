using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Operators.Convolution;

namespace Reference.SpecTests.Operators.Convolution;

/// <summary>
/// The FlashButterfly backward passes and their tape adapters: gradients checked by central finite
/// differences (GradCheck) and against the direct-loop backward of the causal convolution.
/// </summary>
public class ConvolutionOpsTests
{
    private static Variable Weighted(Variable y, int seed) =>
        Ops.Sum(Ops.Mul(y, Variable.Constant(new SplitMix64((ulong)seed).NormalTensor<double>(0, 1, y.Value.ShapeArray))));

    /// <summary>Exact DFT blocks plus N(0, 0.1) noise on every entry, so that no DFT symmetry hides a wrong adjoint.</summary>
    private static ButterflyParameters Perturbed(int n, int channels, int seed)
    {
        var p = ButterflyParameters.InitializeExact(n, channels);
        var rng = new SplitMix64((ulong)seed);
        foreach (var block in p.BlockRe.Concat(p.BlockIm))
            for (int e = 0; e < block.Length; e++) block[e] += 0.1 * rng.Normal(0, 1);
        return p;
    }

    [Theory]
    [InlineData(BidirectionalMode.Conjugate, 7, 3, 4)]
    [InlineData(BidirectionalMode.PadFlip, 7, 3, 4)]
    [InlineData(BidirectionalMode.PadFlip, 5, 6, 8)]   // kernels longer than L: the far taps get zero gradient
    [InlineData(BidirectionalMode.Conjugate, 1, 1, 1)]
    public void Property_BidirectionalAdapter_PassesGradcheck(BidirectionalMode mode, int length, int kernelLength, int reverseLength)
    {
        var rng = new SplitMix64((ulong)(length * 1000 + kernelLength * 10 + reverseLength));
        var u = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2, 3, length));
        var k = Variable.Parameter(rng.NormalTensor<double>(0, 1, 3, kernelLength));
        var kRev = Variable.Parameter(rng.NormalTensor<double>(0, 1, 3, reverseLength));
        var d = Variable.Parameter(rng.NormalTensor<double>(0, 1, 3));
        var result = GradCheck.CheckParameters(() => Weighted(ConvolutionOps.Bidirectional(u, k, kRev, mode, d), 4), [u, k, kRev, d]);
        Assert.True(result.Passed, result.ToString());
        var bare = GradCheck.CheckParameters(() => Weighted(ConvolutionOps.Bidirectional(u, k, kRev, mode), 5), [u, k, kRev]);
        Assert.True(bare.Passed, bare.ToString());
    }

    [Theory]
    [InlineData(8, 8)]     // N = 16: one dense block
    [InlineData(16, 5)]    // N = 32: blocks 16 and 2
    [InlineData(9, 24)]    // Lk > L: only the first L taps reach y, the rest get zero gradient
    public void Property_FlashButterflyAdapter_PassesGradcheck(int length, int kernelLength)
    {
        var rng = new SplitMix64((ulong)(length * 100 + kernelLength));
        var u = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2, 3, length));
        var k = Variable.Parameter(rng.NormalTensor<double>(0, 1, 3, kernelLength));
        var d = Variable.Parameter(rng.NormalTensor<double>(0, 1, 3));
        var result = GradCheck.CheckParameters(() => Weighted(ConvolutionOps.FlashButterfly(u, k, d), 2), [u, k, d]);
        Assert.True(result.Passed, result.ToString());
        var bare = GradCheck.CheckParameters(() => Weighted(ConvolutionOps.FlashButterfly(u, k), 3), [u, k]);
        Assert.True(bare.Passed, bare.ToString());
        var y = ConvolutionOps.FlashButterfly(u, k, d);
        Assert.Equal("conv.flash_butterfly", y.CreatorName);
        Assert.Equal(FlashButterfly.Convolve(u.Value, k.Value, d.Value).Data, y.Value.Data);
    }

    [Theory]
    [InlineData(40, 40)]   // N = 128: blocks 16 and 8
    [InlineData(33, 7)]
    [InlineData(5, 12)]
    public void Property_Backward_EqualsDirectConvolutionBackward(int length, int kernelLength)
    {
        var rng = new SplitMix64((ulong)(length + kernelLength));
        var u = rng.NormalTensor<double>(0, 1, 2, 3, length);
        var k = rng.NormalTensor<double>(0, 1, 3, kernelLength);
        var d = rng.NormalTensor<double>(0, 1, 3);
        var dy = rng.NormalTensor<double>(0, 1, 2, 3, length);
        var expected = CausalConvolution.Backward(u, k, d, dy);
        var actual = FlashButterfly.Backward(u, k, d, dy);
        Assert.True(Metrics.RelativeError(expected.Input.Data, actual.Input.Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(expected.Kernel.Data, actual.Kernel.Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(expected.Skip!.Data, actual.Skip!.Data) <= 1e-12);
    }

    [Fact]
    public void Property_LearnedBackward_AtExactInit_EqualsExactBackward()
    {
        var rng = new SplitMix64(41);
        var u = rng.NormalTensor<double>(0, 1, 2, 2, 20);
        var k = rng.NormalTensor<double>(0, 1, 2, 20);
        var d = rng.NormalTensor<double>(0, 1, 2);
        var dy = rng.NormalTensor<double>(0, 1, 2, 2, 20);
        var p = ButterflyParameters.InitializeExact(FftConvolution.FftSize(20, 20), 2);
        var exact = FlashButterfly.Backward(u, k, d, dy);
        var learned = FlashButterfly.BackwardLearned(p, u, k, d, dy);
        Assert.True(Metrics.RelativeError(exact.Input.Data, learned.Input.Data) <= 1e-12);
        Assert.True(Metrics.RelativeError(exact.Kernel.Data, learned.Kernel.Data) <= 1e-12);
        Assert.Equal(exact.Skip!.Data, learned.Skip!.Data);
    }

    [Fact]
    public void Property_LearnedAdapter_PassesGradcheckOverInputsAndBlocks()
    {
        // L = Lk = 9: N = 32, two levels (a 16-block with twiddles, then the dense 2-block).
        var rng = new SplitMix64(51);
        var u = Variable.Parameter(rng.NormalTensor<double>(0, 1, 1, 2, 9));
        var k = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2, 9));
        var d = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2));
        var p = ButterflyVariables.From(Perturbed(32, 2, 52));
        Assert.Equal([16, 2], p.Factors);
        var result = GradCheck.CheckParameters(() => Weighted(ConvolutionOps.FlashButterflyLearned(p, u, k, d), 53), [u, k, d, .. p.All]);
        Assert.True(result.Passed, result.ToString());
        var y = ConvolutionOps.FlashButterflyLearned(p, u, k, d);
        Assert.Equal("conv.flash_butterfly_learned", y.CreatorName);
        Assert.Equal(FlashButterfly.ConvolveLearned(p.View(), u.Value, k.Value, d.Value).Data, y.Value.Data);
    }

    [Fact]
    public void Property_LearnedAdapter_ThreeLevels_PassesGradcheckOverBlocks()
    {
        // N = 512 = 16 x 16 x 2: the middle level runs on 16 rows per input row.
        var rng = new SplitMix64(61);
        var u = Variable.Constant(rng.NormalTensor<double>(0, 1, 1, 1, 256));
        var k = Variable.Constant(rng.NormalTensor<double>(0, 0.1, 1, 256));
        var p = ButterflyVariables.From(Perturbed(512, 1, 62));
        Assert.Equal([16, 16, 2], p.Factors);
        var result = GradCheck.CheckParameters(() => Weighted(ConvolutionOps.FlashButterflyLearned(p, u, k), 63), p.All);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void Property_PackedBlocksAdapter_PassesGradcheck_AndMatchesThePerLevelAdapter()
    {
        // The registry's adapter (blocks packed [C, S, 2]): finite differences over u, k, d and every packed
        // entry, and the same values and gradients as the per-level adapter on the same blocks.
        var rng = new SplitMix64(71);
        var u = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2, 2, 9));
        var k = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2, 9));
        var d = Variable.Parameter(rng.NormalTensor<double>(0, 1, 2));
        var p = Perturbed(32, 2, 72);
        var packed = Variable.Parameter(FlashButterfly.PackBlocks(p));
        Assert.Equal([2, 16 * 16 + 2 * 2, 2], packed.Value.ShapeArray);
        var result = GradCheck.CheckParameters(() => Weighted(ConvolutionOps.FlashButterflyLearned(32, packed, u, k, d), 73), [u, k, d, packed]);
        Assert.True(result.Passed, result.ToString());

        var levels = ButterflyVariables.From(p);
        var y = Weighted(ConvolutionOps.FlashButterflyLearned(levels, u, k, d), 74);
        Tape.Backward(y);
        packed.ZeroGrad();
        var yPacked = Weighted(ConvolutionOps.FlashButterflyLearned(32, packed, u, k, d), 74);
        Tape.Backward(yPacked);
        var expected = FlashButterfly.PackBlocks(p with
        {
            BlockRe = levels.BlockRe.Select(v => v.Grad!.Data).ToArray(),
            BlockIm = levels.BlockIm.Select(v => v.Grad!.Data).ToArray(),
        });
        Assert.Equal(expected.Data, packed.Grad!.Data);
        Assert.Equal(y.Value.Data, yPacked.Value.Data);

        // Unpack inverts Pack; a wrong packed shape names the argument.
        var round = FlashButterfly.UnpackBlocks(32, packed.Value);
        Assert.Equal(p.BlockRe.SelectMany(x => x), round.BlockRe.SelectMany(x => x));
        Assert.Equal(p.BlockIm.SelectMany(x => x), round.BlockIm.SelectMany(x => x));
        Assert.Equal("blocks", Assert.Throws<ArgumentException>(() => FlashButterfly.UnpackBlocks(64, packed.Value)).ParamName);
    }
}
