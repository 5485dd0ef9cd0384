// The long-convolution layer: an explicit kernel as long as the sequence, regularized so that it
// trains as well as an SSM kernel.
//
// Paper: "Simple Hardware-Efficient Long Convolutions for Sequence Modeling" (Fu, Epstein, Nguyen,
// Thomas, Zhang, Dao, Rudra, Re; arXiv:2302.06646), Sec. 3.1 (the two regularizers: Squash
// = soft-threshold sparsification, Smooth = moving-average pooling of the kernel), Sec. 2 (the layer
// y = K * u + D u followed by the activation and the output projection, as in S4/H3 blocks).
// The order of the kernel processing follows docs/operators.md (and safari's LongConvKernel):
//   W  --Smooth-->  S = MA_w(W)   (odd window w, zero padded, divided by w everywhere)
//      --Squash-->  Q = sign(S) max(|S| - lambda, 0)
//      --Dropout--> K = Q * mask / (1 - p)   (train only; mask ~ Bernoulli(1 - p), seeded)
// Layer (per copy c of the C kernel channels, every model channel h):
//   y[b, c, h, :] = causal_conv(u[b, h, :], K[c, h, :]) + D[c, h] u[b, h, :]
//   z = GELU(y)   (exact erf GELU), flattened channel index c*H + h
//   o = z W^T + bias  [B, L, 2H];   out = o[..., :H] * sigmoid(o[..., H:])   (Linear + GLU)
//
// Glossary (code -> paper):
//   Kernel [C, H, Lk]   W, the explicit kernel parameters (Lk = l_max; C "channels" copies)
//   Window              the moving-average window length (1 = no smoothing)
//   Lambda              lambda of Squash (configs use ~3e-3; the class default 0.1 zeroes a fresh
//                       randn * 0.002 kernel, so tests use realistic kernels)
//   DropMask [C, H, Lk] 0 or 1/(1-p) per tap, drawn by DrawDropoutMask (null = eval mode)
//   D [C, H]            skip D;  W [2H, C H], Bias [2H]  the output Linear (PyTorch y = x W^T + b)
//   u, out [B, L, H]    layer input and output, token-major as in H3.cs
//
// Deliberate simplifications: unidirectional (causal) only (the bidirectional pair lives in
// CausalConvolution.ForwardBidirectional); no activation dropout; taps beyond lag L-1 never act
// (kernels longer than the input are truncated after smoothing, as rfft(k, n = 2L) does).
// Squash is not differentiable at |S| = lambda; Backward uses the subgradient 0 there.
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Operators.Convolution;

/// <summary>Parameters of the long-convolution layer (float64 arrays, row-major).</summary>
public sealed record LongConvolutionParameters(
    int Width, int Channels, int KernelLength, double[] Kernel, double[] D, double[] W, double[] Bias,
    double Lambda = 3e-3, int Window = 1, double KernelDropout = 0.0)
{
    /// <summary>
    /// Seeded init as safari's LongConv: kernel ~ N(0, kernelStd^2) (0.002 there), D ~ N(0, 1), the
    /// output Linear ~ U(-1/sqrt(C H), 1/sqrt(C H)) (PyTorch default), in that draw order.
    /// </summary>
    public static LongConvolutionParameters Initialize(SplitMix64 rng, int width, int kernelLength, int channels = 1,
        double lambda = 3e-3, int window = 1, double kernelDropout = 0.0, double kernelStd = 0.002)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1, nameof(width));
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelLength, 1, nameof(kernelLength));
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        var kernel = new double[channels * width * kernelLength];
        rng.FillNormal<double>(kernel, 0.0, kernelStd);
        var d = new double[channels * width];
        rng.FillNormal<double>(d);
        double bound = 1.0 / Math.Sqrt(channels * width);
        var w = new double[2 * width * channels * width];
        rng.FillUniform<double>(w, -bound, bound);
        var bias = new double[2 * width];
        rng.FillUniform<double>(bias, -bound, bound);
        var p = new LongConvolutionParameters(width, channels, kernelLength, kernel, d, w, bias, lambda, window, kernelDropout);
        p.Validate(nameof(width));
        return p;
    }

    internal void Validate(string argument)
    {
        if (Width < 1 || Channels < 1 || KernelLength < 1)
            throw new ArgumentException($"Width, Channels and KernelLength must be >= 1, got {Width}, {Channels}, {KernelLength}.", argument);
        int ch = Channels * Width;
        if (Kernel.Length != ch * KernelLength || D.Length != ch || W.Length != 2 * Width * ch || Bias.Length != 2 * Width)
            throw new ArgumentException(
                $"expected Kernel [{Channels}, {Width}, {KernelLength}], D [{Channels}, {Width}], W [{2 * Width}, {ch}], Bias [{2 * Width}]; "
                + $"got lengths {Kernel.Length}, {D.Length}, {W.Length}, {Bias.Length}.", argument);
        if (Window < 1 || Window % 2 == 0)
            throw new ArgumentException($"Window must be odd and >= 1, got {Window}.", argument);
        if (!(Lambda >= 0.0))
            throw new ArgumentException($"Lambda must be >= 0, got {Lambda}.", argument);
        if (!(KernelDropout >= 0.0 && KernelDropout < 1.0))
            throw new ArgumentException($"KernelDropout must be in [0, 1), got {KernelDropout}.", argument);
    }
}

/// <summary>Gradients of the convolution core: du [B, H, L], dKernel [C, H, Lk], dD [C, H].</summary>
public sealed record LongConvolutionGradients(Tensor<double> Input, double[] Kernel, double[] D);

/// <summary>Gradients of the whole layer (du [B, L, H] and one array per parameter).</summary>
public sealed record LongConvolutionLayerGradients(Tensor<double> Input, double[] Kernel, double[] D, double[] W, double[] Bias);

public static partial class LongConvolution
{
    // ------------------------------------------------------------------ kernel processing

    /// <summary>
    /// Moving average along the last axis of x [rows, Lk]: s[t] = (1/w) sum_{j=-(w-1)/2..(w-1)/2} x[t+j],
    /// zeros outside [0, Lk) (count_include_pad: the divisor is always w). Summed j ascending.
    /// </summary>
    public static double[] Smooth(ReadOnlySpan<double> x, int rows, int length, int window)
    {
        if (window < 1 || window % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(window), $"window must be odd and >= 1, got {window}.");
        if (x.Length != rows * length)
            throw new ArgumentException($"x must hold rows * length = {rows * length} values, got {x.Length}.", nameof(x));
        var s = new double[x.Length];
        int half = window / 2;
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < length; t++)
            {
                double acc = 0.0;
                for (int j = Math.Max(0, t - half); j <= Math.Min(length - 1, t + half); j++) acc += x[r * length + j];
                s[r * length + t] = acc / window;
            }
        return s;
    }

    /// <summary>Squash (soft threshold): sign(s) max(|s| - lambda, 0), elementwise.</summary>
    public static double Squash(double s, double lambda) => Math.Sign(s) * Math.Max(Math.Abs(s) - lambda, 0.0);

    /// <summary>
    /// A training-time kernel dropout mask [C, H, Lk]: 1/(1-p) where a SplitMix64 uniform (drawn in
    /// row-major order) is &gt;= p, else 0 (inverted dropout, as torch.nn.Dropout).
    /// </summary>
    public static double[] DrawDropoutMask(LongConvolutionParameters p, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(rng);
        p.Validate(nameof(p));
        var mask = new double[p.Kernel.Length];
        double keep = 1.0 / (1.0 - p.KernelDropout);
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.Uniform() >= p.KernelDropout ? keep : 0.0;
        return mask;
    }

    /// <summary>The processed kernel K [C H, Lk] = Dropout(Squash(Smooth(W))) (dropMask null = eval).</summary>
    public static Tensor<double> ProcessedKernel(LongConvolutionParameters p, double[]? dropMask = null)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        CheckMask(p, dropMask);
        int rows = p.Channels * p.Width;
        var s = Smooth(p.Kernel, rows, p.KernelLength, p.Window);
        for (int i = 0; i < s.Length; i++)
            s[i] = Squash(s[i], p.Lambda) * (dropMask is null ? 1.0 : dropMask[i]);
        return new Tensor<double>(s, rows, p.KernelLength);
    }

    // ------------------------------------------------------------------ convolution core

    /// <summary>
    /// y [B, C H, L]: y[b, c H + h, :] = K[c, h, :] * u[b, h, :] + D[c, h] u[b, h, :] for u [B, H, L]
    /// (channel-major), by <see cref="CausalConvolution.Forward"/> on the input copied over the C kernel channels.
    /// </summary>
    public static Tensor<double> Convolve(LongConvolutionParameters p, Tensor<double> u, double[]? dropMask = null)
    {
        var (batch, length) = CheckChannelMajor(p, u);
        var k = ProcessedKernel(p, dropMask);
        return CausalConvolution.Forward(Replicate(u, p.Channels, batch, p.Width, length), k, new Tensor<double>(p.D, p.D.Length))
            .Reshape(batch, p.Channels * p.Width, length);
    }

    /// <summary>
    /// VJP of <see cref="Convolve"/>: CausalConvolution.Backward on the copies, du summed over the
    /// copies, then back through Dropout (times the mask), Squash (1 where |S| &gt; lambda, else 0)
    /// and Smooth (its adjoint is itself: the zero-padded symmetric window is a symmetric matrix).
    /// </summary>
    public static LongConvolutionGradients ConvolveBackward(LongConvolutionParameters p, Tensor<double> u, Tensor<double> dy,
        double[]? dropMask = null)
    {
        var (batch, length) = CheckChannelMajor(p, u);
        int ch = p.Channels * p.Width;
        if (dy is null || dy.Rank != 3 || dy.Dim(0) != batch || dy.Dim(1) != ch || dy.Dim(2) != length)
            throw new ArgumentException($"dy must have shape [{batch}, {ch}, {length}], got {(dy is null ? "null" : Shapes.Format(dy.Shape))}.", nameof(dy));
        var k = ProcessedKernel(p, dropMask);
        var g = CausalConvolution.Backward(Replicate(u, p.Channels, batch, p.Width, length), k,
            new Tensor<double>(p.D, p.D.Length), dy);

        var du = Tensor<double>.Zeros(batch, p.Width, length);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < p.Channels; c++)
                for (int i = 0; i < p.Width * length; i++)
                    du.Data[b * p.Width * length + i] += g.Input.Data[(b * p.Channels + c) * p.Width * length + i];

        var s = Smooth(p.Kernel, ch, p.KernelLength, p.Window);
        var dq = new double[s.Length];
        for (int i = 0; i < s.Length; i++)
            dq[i] = Math.Abs(s[i]) > p.Lambda ? g.Kernel.Data[i] * (dropMask is null ? 1.0 : dropMask[i]) : 0.0;
        return new LongConvolutionGradients(du, Smooth(dq, ch, p.KernelLength, p.Window), g.Skip!.Data);
    }

    /// <summary>T [C H, L, L]: the operator of <see cref="Convolve"/> per output channel c H + h (Toeplitz K plus D).</summary>
    public static Tensor<double> Materialize(LongConvolutionParameters p, int length, double[]? dropMask = null)
    {
        ArgumentNullException.ThrowIfNull(p);
        return CausalConvolution.Materialize(ProcessedKernel(p, dropMask), new Tensor<double>(p.D, p.D.Length), length);
    }

    // ------------------------------------------------------------------ the layer (Naive)

    /// <summary>The layer on u [B, L, H] -> out [B, L, H]: Convolve, GELU, Linear to 2H, GLU.</summary>
    public static Tensor<double> Forward(LongConvolutionParameters p, Tensor<double> u, double[]? dropMask = null)
    {
        var (batch, length) = CheckTokenMajor(p, u);
        int h = p.Width, ch = p.Channels * h;
        var y = Convolve(p, u.Permute(0, 2, 1), dropMask);
        var z = y.Permute(0, 2, 1);
        for (int i = 0; i < z.Length; i++) z.Data[i] = NaiveActivations.Gelu(z.Data[i]);
        var o = new double[batch * length * 2 * h];
        Reference.Core.Linear.NaiveGemm.Multiply(false, true, batch * length, 2 * h, ch, 1.0, z.Data, ch, p.W, ch, 0.0, o, 2 * h);
        var output = Tensor<double>.Zeros(batch, length, h);
        for (int r = 0; r < batch * length; r++)
            for (int j = 0; j < h; j++)
            {
                double a = o[r * 2 * h + j] + p.Bias[j], gate = o[r * 2 * h + h + j] + p.Bias[h + j];
                output.Data[r * h + j] = a * NaiveActivations.Sigmoid(gate);
            }
        return output;
    }

    // ------------------------------------------------------------------ autodiff composition

    /// <summary>Layer parameters as trainable variables (Kernel [C, H, Lk], D [C, H], W [2H, C H], Bias [2H]).</summary>
    public sealed record Variables(LongConvolutionParameters Template, Variable Kernel, Variable D, Variable W, Variable Bias)
    {
        public static Variables From(LongConvolutionParameters p)
        {
            ArgumentNullException.ThrowIfNull(p);
            p.Validate(nameof(p));
            return new Variables(p,
                Variable.Parameter(new Tensor<double>((double[])p.Kernel.Clone(), p.Channels, p.Width, p.KernelLength), "longconv.kernel"),
                Variable.Parameter(new Tensor<double>((double[])p.D.Clone(), p.Channels, p.Width), "longconv.d"),
                Variable.Parameter(new Tensor<double>((double[])p.W.Clone(), 2 * p.Width, p.Channels * p.Width), "longconv.w"),
                Variable.Parameter(new Tensor<double>((double[])p.Bias.Clone(), 2 * p.Width), "longconv.bias"));
        }

        public Variable[] All => [Kernel, D, W, Bias];

        /// <summary>A parameter record viewing the variables' current values (no copy).</summary>
        public LongConvolutionParameters View() => Template with
        {
            Kernel = Kernel.Value.Data, D = D.Value.Data, W = W.Value.Data, Bias = Bias.Value.Data,
        };
    }

    /// <summary>`conv.long`: <see cref="Convolve"/> as ONE tape node whose VJP is <see cref="ConvolveBackward"/>. u [B, H, L].</summary>
    public static Variable ConvolveOp(Variable u, Variables p, double[]? dropMask = null)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        var y = Convolve(p.View(), u.Value, dropMask);
        return Function.Apply("conv.long", [u, p.Kernel, p.D], y, g =>
        {
            var r = ConvolveBackward(p.View(), u.Value, g, dropMask);
            return [r.Input, new Tensor<double>(r.Kernel, p.Kernel.Value.ShapeArray), new Tensor<double>(r.D, p.D.Value.ShapeArray)];
        });
    }

    /// <summary>The layer as a composition: conv.long, then GELU, Linear and GLU from Reference.Autodiff. u [B, L, H].</summary>
    public static Variable Layer(Variable u, Variables p, double[]? dropMask = null)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(p);
        int h = p.Template.Width;
        var y = ConvolveOp(Ops.Permute(u, 0, 2, 1), p, dropMask);
        var z = Ops.Gelu(Ops.Permute(y, 0, 2, 1));
        var o = Ops.Add(Ops.MatMul(z, p.W, transB: true), p.Bias);
        return Ops.Mul(Ops.Slice(o, 2, 0, h), Ops.Sigmoid(Ops.Slice(o, 2, h, h)));
    }

    /// <summary>VJP of the layer for the cotangent dy [B, L, H] (through the autodiff composition).</summary>
    public static LongConvolutionLayerGradients Backward(LongConvolutionParameters p, Tensor<double> u, Tensor<double> dy,
        double[]? dropMask = null)
    {
        CheckTokenMajor(p, u);
        Shapes.Same(dy, u.Shape, nameof(dy));
        var v = Variables.From(p);
        var x = Variable.Parameter(u.Clone());
        Layer(x, v, dropMask).Backward(dy);
        return new LongConvolutionLayerGradients(x.Grad!, v.Kernel.Grad!.Data, v.D.Grad!.Data, v.W.Grad!.Data, v.Bias.Grad!.Data);
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>u [B, H, L] -> [B, C, H, L] (C copies, so that row (b, c, h) uses kernel row c H + h).</summary>
    private static Tensor<double> Replicate(Tensor<double> u, int copies, int batch, int width, int length)
    {
        var r = Tensor<double>.Zeros(batch, copies, width, length);
        int slab = width * length;
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < copies; c++)
                u.Data.AsSpan(b * slab, slab).CopyTo(r.Data.AsSpan((b * copies + c) * slab, slab));
        return r.Reshape(batch, copies * width, length);
    }

    private static void CheckMask(LongConvolutionParameters p, double[]? dropMask)
    {
        if (dropMask is not null && dropMask.Length != p.Kernel.Length)
            throw new ArgumentException($"dropMask must hold C H Lk = {p.Kernel.Length} values, got {dropMask.Length}.", nameof(dropMask));
    }

    private static (int Batch, int Length) CheckChannelMajor(LongConvolutionParameters p, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3 || u.Dim(1) != p.Width || u.Dim(0) < 1 || u.Dim(2) < 1)
            throw new ArgumentException($"u must have shape [B, {p.Width}, L] with B, L >= 1, got {Shapes.Format(u.Shape)}.", nameof(u));
        return (u.Dim(0), u.Dim(2));
    }

    private static (int Batch, int Length) CheckTokenMajor(LongConvolutionParameters p, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3 || u.Dim(2) != p.Width || u.Dim(0) < 1 || u.Dim(1) < 1)
            throw new ArgumentException($"u must have shape [B, L, {p.Width}] with B, L >= 1, got {Shapes.Format(u.Shape)}.", nameof(u));
        return (u.Dim(0), u.Dim(1));
    }
}
