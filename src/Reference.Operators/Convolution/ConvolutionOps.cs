// Autodiff adapters of the FlashButterfly convolution: one differentiable primitive each, whose VJP
// is the hand-written backward of FlashButterfly.cs (Reference.Autodiff.Function.Apply); the
// transform math lives there, nothing here recomputes it.
using Reference.Autodiff;
using Reference.Core;

namespace Reference.Operators.Convolution;

/// <summary>Learned butterfly blocks as autodiff variables: BlockRe[level], BlockIm[level] [C, f, f].</summary>
public sealed record ButterflyVariables(int Length, int Channels, int[] Factors, Variable[] BlockRe, Variable[] BlockIm)
{
    /// <summary>Trainable copies of <paramref name="p"/>.</summary>
    public static ButterflyVariables From(ButterflyParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        Variable Block(double[] x, int level, string part) => Variable.Parameter(
            new Tensor<double>((double[])x.Clone(), p.Channels, p.Factors[level], p.Factors[level]), $"butterfly.{part}{level}");
        return new ButterflyVariables(p.Length, p.Channels, (int[])p.Factors.Clone(),
            p.BlockRe.Select((x, l) => Block(x, l, "re")).ToArray(), p.BlockIm.Select((x, l) => Block(x, l, "im")).ToArray());
    }

    /// <summary>Every block, real parts level by level, then imaginary parts.</summary>
    public Variable[] All => [.. BlockRe, .. BlockIm];

    /// <summary>A parameter record viewing the variables' current values (no copy).</summary>
    public ButterflyParameters View() => new(Length, Channels, Factors,
        BlockRe.Select(v => v.Value.Data).ToArray(), BlockIm.Select(v => v.Value.Data).ToArray());
}

public static class ConvolutionOps
{
    /// <summary>
    /// `conv.flash_butterfly`: y = k * u + d u for u [.., C, L], k [C, Lk], d [C] (or null) through the
    /// exact block FFT (<see cref="Convolution.FlashButterfly.Convolve"/>); VJP <see cref="Convolution.FlashButterfly.Backward"/>.
    /// </summary>
    public static Variable FlashButterfly(Variable u, Variable k, Variable? d = null)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        var y = Convolution.FlashButterfly.Convolve(u.Value, k.Value, d?.Value);
        Variable[] inputs = d is null ? [u, k] : [u, k, d];
        return Function.Apply("conv.flash_butterfly", inputs, y, g =>
        {
            var r = Convolution.FlashButterfly.Backward(u.Value, k.Value, d?.Value, g);
            return d is null ? [r.Input, r.Kernel] : [r.Input, r.Kernel, r.Skip];
        });
    }

    /// <summary>
    /// `conv.bidirectional`: y = k * u + d u plus the anti-causal convolution with kRev of <paramref name="mode"/>
    /// (<see cref="CausalConvolution.ForwardBidirectional"/>); VJP <see cref="CausalConvolution.BackwardBidirectional"/>.
    /// </summary>
    public static Variable Bidirectional(Variable u, Variable k, Variable kRev, BidirectionalMode mode, Variable? d = null)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(kRev);
        var y = CausalConvolution.ForwardBidirectional(u.Value, k.Value, kRev.Value, d?.Value, mode);
        Variable[] inputs = d is null ? [u, k, kRev] : [u, k, kRev, d];
        return Function.Apply("conv.bidirectional", inputs, y, g =>
        {
            var r = CausalConvolution.BackwardBidirectional(u.Value, k.Value, kRev.Value, d?.Value, mode, g);
            return d is null ? [r.Input, r.Kernel, r.ReverseKernel] : [r.Input, r.Kernel, r.ReverseKernel, r.Skip];
        });
    }

    /// <summary>
    /// `conv.flash_butterfly_learned`: the learned-block convolution (<see cref="Convolution.FlashButterfly.ConvolveLearned"/>)
    /// with the blocks of <paramref name="p"/> among its inputs; VJP <see cref="Convolution.FlashButterfly.BackwardLearned"/>.
    /// </summary>
    public static Variable FlashButterflyLearned(ButterflyVariables p, Variable u, Variable k, Variable? d = null)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        var y = Convolution.FlashButterfly.ConvolveLearned(p.View(), u.Value, k.Value, d?.Value);
        Variable[] inputs = d is null ? [u, k, .. p.All] : [u, k, d, .. p.All];
        return Function.Apply("conv.flash_butterfly_learned", inputs, y, g =>
        {
            var r = Convolution.FlashButterfly.BackwardLearned(p.View(), u.Value, k.Value, d?.Value, g);
            Tensor<double>?[] grads = d is null ? [r.Input, r.Kernel] : [r.Input, r.Kernel, r.Skip];
            var blocks = r.BlockRe.Select((x, l) => new Tensor<double>(x, p.BlockRe[l].Value.ShapeArray))
                .Concat(r.BlockIm.Select((x, l) => new Tensor<double>(x, p.BlockIm[l].Value.ShapeArray)));
            return [.. grads, .. blocks];
        });
    }

    /// <summary>
    /// `conv.flash_butterfly_learned` with the blocks packed in one variable [C, S, 2] (<see cref="Convolution.FlashButterfly.PackBlocks"/>)
    /// for a transform of length <paramref name="n"/>: the registry's adapter; VJP <see cref="Convolution.FlashButterfly.BackwardLearned"/>
    /// with the block gradients packed the same way.
    /// </summary>
    public static Variable FlashButterflyLearned(int n, Variable blocks, Variable u, Variable k, Variable? d = null)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        var p = Convolution.FlashButterfly.UnpackBlocks(n, blocks.Value);
        var y = Convolution.FlashButterfly.ConvolveLearned(p, u.Value, k.Value, d?.Value);
        Variable[] inputs = d is null ? [u, k, blocks] : [u, k, d, blocks];
        return Function.Apply("conv.flash_butterfly_learned", inputs, y, g =>
        {
            var r = Convolution.FlashButterfly.BackwardLearned(p, u.Value, k.Value, d?.Value, g);
            var packed = Convolution.FlashButterfly.PackBlocks(p with { BlockRe = r.BlockRe, BlockIm = r.BlockIm });
            return d is null ? [r.Input, r.Kernel, packed] : [r.Input, r.Kernel, r.Skip, packed];
        });
    }

    /// <summary>
    /// `conv.block_fft`: safari's block FFT of x = xRe + i xIm [B, H, L] (xIm null: real input) to N = SafariSize(n), forward or
    /// inverse, with mats[i] = mat_f [Hb, f, f, 2] for f = 2, 4, 8, 16 (null: the exact DFT block, not differentiated);
    /// output [B, H, N, 2]. VJP <see cref="Convolution.FlashButterfly.SafariBackward"/>.
    /// </summary>
    public static Variable SafariBlockFft(Variable xRe, Variable? xIm, Variable?[] mats, int channels, int n, bool inverse)
    {
        ArgumentNullException.ThrowIfNull(xRe);
        ArgumentNullException.ThrowIfNull(mats);
        if (mats.Length != 4)
            throw new ArgumentException($"mats must hold 4 entries (mat_2, mat_4, mat_8, mat_16; null for the exact block), got {mats.Length}.", nameof(mats));
        int hb = mats.FirstOrDefault(m => m is not null)?.Value.Dim(0) ?? 1;
        var blocks = SafariBlocks.Exact(hb);
        for (int i = 0; i < 4; i++)
        {
            if (mats[i] is not { } m) continue;
            int f = SafariBlocks.Sizes[i];
            Shapes.Same(m.Value, [hb, f, f, 2], nameof(mats));
            for (int e = 0; e < hb * f * f; e++)
            {
                blocks.Re[i][e] = m.Value.Data[2 * e];
                blocks.Im[i][e] = m.Value.Data[2 * e + 1];
            }
        }
        var re = xRe.Value;
        var im = xIm?.Value ?? Tensor<double>.Zeros(re.ShapeArray);
        Shapes.Same(im, re.Shape, nameof(xIm));
        int length = re.Dim(-1), rows = re.Length / length, size = Convolution.FlashButterfly.SafariSize(n);
        var (yr, yi) = Convolution.FlashButterfly.SafariTransform(blocks, re.Data, im.Data, rows, channels, length, n, inverse);
        var y = Convolution.FlashButterfly.SafariBlockFft.Interleave(yr, yi, rows / channels, channels, size);
        var present = mats.Where(m => m is not null).Select(m => m!).ToArray();
        Variable[] inputs = xIm is null ? [xRe, .. present] : [xRe, xIm, .. present];
        return Function.Apply("conv.block_fft", inputs, y, g =>
        {
            var gRe = new double[rows * size];
            var gIm = new double[rows * size];
            for (int i = 0; i < rows * size; i++)
            {
                gRe[i] = g.Data[2 * i];
                gIm[i] = g.Data[2 * i + 1];
            }
            var r = Convolution.FlashButterfly.SafariBackward(blocks, re.Data, im.Data, rows, channels, length, n, inverse, gRe, gIm);
            var grads = new List<Tensor<double>?> { new(r.InputRe, re.ShapeArray) };
            if (xIm is not null) grads.Add(new Tensor<double>(r.InputIm, re.ShapeArray));
            for (int i = 0; i < 4; i++)
            {
                if (mats[i] is null) continue;
                int f = SafariBlocks.Sizes[i];
                var d = new double[hb * f * f * 2];
                for (int e = 0; e < hb * f * f; e++)
                {
                    d[2 * e] = r.BlockRe[i][e];
                    d[2 * e + 1] = r.BlockIm[i][e];
                }
                grads.Add(new Tensor<double>(d, hb, f, f, 2));
            }
            return [.. grads];
        });
    }

    /// <summary>
    /// `conv.flash_butterfly` on the fast tier in float64: the forward by <see cref="Convolution.FlashButterfly.ConvolveFast{T}"/>,
    /// the VJP by <see cref="Convolution.FlashButterfly.BackwardFast{T}"/> (two block-FFT correlations); threads up to
    /// <paramref name="maxThreads"/> (0 = all cores).
    /// </summary>
    public static Variable FlashButterflyFast(Variable u, Variable k, Variable? d = null, int maxThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        var y = Convolution.FlashButterfly.ConvolveFast(u.Value, k.Value, d?.Value, maxThreads);
        Variable[] inputs = d is null ? [u, k] : [u, k, d];
        return Function.Apply("conv.flash_butterfly", inputs, y, g =>
        {
            var r = Convolution.FlashButterfly.BackwardFast(u.Value, k.Value, d?.Value, g, maxThreads);
            return d is null ? [r.Input, r.Kernel] : [r.Input, r.Kernel, r.Skip];
        });
    }
}
