using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Where a 3-D convolution or pooling window sits: stride and implicit zero padding per spatial axis
/// (depth, height, width). Padding may differ before and after an axis, which is what TensorFlow's
/// padding = "same" needs for an even input and stride 2 (total = max((out - 1) s + k - in, 0),
/// before = total / 2, after = the rest; see <see cref="Same"/>); PyTorch's symmetric padding p is
/// before = after = p. Output length per axis: out = (in + before + after - k) / s + 1 (floor).
/// </summary>
public sealed record Conv3dGeometry
{
    public Conv3dGeometry(int[] stride, int[] padBefore, int[] padAfter)
    {
        Check(stride, nameof(stride), 1);
        Check(padBefore, nameof(padBefore), 0);
        Check(padAfter, nameof(padAfter), 0);
        Stride = stride;
        PadBefore = padBefore;
        PadAfter = padAfter;
    }

    public int[] Stride { get; }
    public int[] PadBefore { get; }
    public int[] PadAfter { get; }

    /// <summary>PyTorch's Conv3d(stride = s, padding = p) on every axis.</summary>
    public static Conv3dGeometry Symmetric(int stride = 1, int padding = 0) => new([stride, stride, stride], [padding, padding, padding], [padding, padding, padding]);

    /// <summary>TensorFlow / Keras padding = "same" for an input of spatial size <paramref name="input"/> (out = ceil(in / s)).</summary>
    public static Conv3dGeometry Same(ReadOnlySpan<int> input, ReadOnlySpan<int> kernel, ReadOnlySpan<int> stride)
    {
        var before = new int[3];
        var after = new int[3];
        for (int a = 0; a < 3; a++)
        {
            int output = (input[a] + stride[a] - 1) / stride[a];
            int total = Math.Max((output - 1) * stride[a] + kernel[a] - input[a], 0);
            before[a] = total / 2;
            after[a] = total - before[a];
        }
        return new Conv3dGeometry(stride.ToArray(), before, after);
    }

    /// <summary>Output sizes for input sizes <paramref name="input"/> and kernel sizes <paramref name="kernel"/>; throws when an axis would be empty.</summary>
    public int[] OutputSize(ReadOnlySpan<int> input, ReadOnlySpan<int> kernel)
    {
        var output = new int[3];
        for (int a = 0; a < 3; a++)
        {
            int span = input[a] + PadBefore[a] + PadAfter[a] - kernel[a];
            if (span < 0)
                throw new ArgumentException($"spatial axis {a}: input {input[a]} + padding {PadBefore[a]} + {PadAfter[a]} is smaller than the kernel {kernel[a]}.", nameof(input));
            output[a] = span / Stride[a] + 1;
        }
        return output;
    }

    private static void Check(int[] v, string name, int min)
    {
        ArgumentNullException.ThrowIfNull(v, name);
        if (v.Length != 3 || v.Any(e => e < min))
            throw new ArgumentException($"{name} is [{string.Join(", ", v)}], expected 3 entries (depth, height, width), each >= {min}.", name);
    }
}

/// <summary>
/// 3-D convolution (cross-correlation, as torch.nn.functional.conv3d) in NCDHW layout.
/// Shapes: x [N, Cin, D, H, W], w [Cout, Cin, kd, kh, kw], bias [Cout] or null,
/// y [N, Cout, Do, Ho, Wo] with Do = (D + pd0 + pd1 - kd) / sd + 1 (likewise H, W; see
/// <see cref="Conv3dGeometry"/>).
/// <code>
///   y[n, o, z, u, v] = bias[o] + sum_{c, a, b, e} w[o, c, a, b, e] x[n, c, z sd - pd0 + a, u sh - ph0 + b, v sw - pw0 + e]
/// </code>
/// with x = 0 outside the volume (implicit zero padding).
/// <para>Backward (G = dL/dy). y is linear in w, x and bias, so each VJP is the adjoint of the sum:
/// <code>
///   dL/dbias[o]            = sum_{n, z, u, v} G[n, o, z, u, v]
///   dL/dw[o, c, a, b, e]   = sum_{n, z, u, v} G[n, o, z, u, v] x[n, c, z sd - pd0 + a, ...]
///   dL/dx[n, c, i, j, l]   = sum_{o, a, b, e; z sd - pd0 + a = i, ...} w[o, c, a, b, e] G[n, o, z, u, v]
/// </code>
/// (the last one is the transposed convolution of G: every output element scatters w-weighted
/// copies of its cotangent back onto the input positions it read; padded positions are dropped).</para>
/// <para>Im2col form (the Fast tier, <c>Conv3d.Fast.cs</c>, evaluates it without building X_col): with the column matrix
/// X_col [Cin kd kh kw, N Do Ho Wo] (row (c, a, b, e), column (n, z, u, v) holds the input element
/// that tap meets, 0 in the padding) and W_mat = w viewed as [Cout, Cin kd kh kw], the convolution is
/// one GEMM Y = W_mat X_col, and the backward is dW_mat = G_mat X_col^T, dX_col = W_mat^T G_mat,
/// dx = col2im(dX_col) (each column entry added back onto the input element it was copied from).</para>
/// Tier: the Naive tier is the definition above as loops (accumulation over c, a, b, e in row-major
/// order, bias first); inside <see cref="Tape.UseFastKernels"/> the im2col products run as direct
/// register-tiled kernels (<c>Conv3d.Fast.cs</c>). Both agree to rounding (the kernels accumulate in
/// another order).
/// </summary>
public static partial class Ops
{
    /// <summary>Conv3d with PyTorch's symmetric stride and padding on every axis.</summary>
    public static Variable Conv3d(Variable x, Variable w, Variable? bias = null, int stride = 1, int padding = 0) =>
        Conv3d(x, w, bias, Conv3dGeometry.Symmetric(stride, padding));

    /// <summary>Conv3d with per-axis stride and (possibly asymmetric) padding.</summary>
    public static Variable Conv3d(Variable x, Variable w, Variable? bias, Conv3dGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        if (x.Rank != 5) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, Cin, D, H, W].", nameof(x));
        if (w.Rank != 5 || w.Shape[1] != x.Shape[1])
            throw new ArgumentException($"w has shape {Shapes.Format(w.Shape)}, expected [Cout, {x.Shape[1]}, kd, kh, kw].", nameof(w));
        var p = new Conv3dPlan(x.Shape, w.Shape, geometry);
        CheckVector(bias, p.Cout, nameof(bias));
        Variable[] inputs = bias is null ? [x, w] : [x, w, bias];
        if (Tape.FastKernels && Conv3dDirectAvailable)
        {
            var yFast = Conv3dFastForward(p, x.Value.Data, w.Value.Data, bias?.Value.Data);
            return Function.Apply("conv3d", inputs, yFast, g =>
            {
                var (gx, gw, gb) = Conv3dFastBackward(p, x.Value.Data, w.Value.Data, g.Data, x.RequiresGrad, w.RequiresGrad, bias is not null && bias.RequiresGrad);
                return bias is null ? [gx, gw] : [gx, gw, gb];
            }, replay: v => Conv3d(v[0], v[1], v.Length > 2 ? v[2] : null, geometry));
        }
        var y = Conv3dNaiveForward(p, x.Value.Data, w.Value.Data, bias?.Value.Data);
        return Function.Apply("conv3d", inputs, y, g =>
        {
            var (gx, gw, gb) = Conv3dNaiveBackward(p, x.Value.Data, w.Value.Data, g.Data, bias is not null);
            return bias is null ? [gx, gw] : [gx, gw, gb];
        }, replay: v => Conv3d(v[0], v[1], v.Length > 2 ? v[2] : null, geometry));
    }

    /// <summary>Sizes of one convolution; index helpers for row-major NCDHW buffers.</summary>
    internal sealed class Conv3dPlan
    {
        public Conv3dPlan(ReadOnlySpan<int> x, ReadOnlySpan<int> kernelShape, Conv3dGeometry g)
        {
            N = x[0]; Cin = x[1]; D = x[2]; H = x[3]; W = x[4];
            Cout = kernelShape[0]; Kd = kernelShape[2]; Kh = kernelShape[3]; Kw = kernelShape[4];
            var o = g.OutputSize(x[2..], kernelShape[2..]);
            Do = o[0]; Ho = o[1]; Wo = o[2];
            Sd = g.Stride[0]; Sh = g.Stride[1]; Sw = g.Stride[2];
            Pd = g.PadBefore[0]; Ph = g.PadBefore[1]; Pw = g.PadBefore[2];
            PdAfter = g.PadAfter[0]; PhAfter = g.PadAfter[1]; PwAfter = g.PadAfter[2];
        }

        public int N, Cin, D, H, W, Cout, Kd, Kh, Kw, Do, Ho, Wo, Sd, Sh, Sw, Pd, Ph, Pw, PdAfter, PhAfter, PwAfter;

        public int InVolume => D * H * W;
        public int OutVolume => Do * Ho * Wo;
        public int Taps => Cin * Kd * Kh * Kw;
        public int[] XShape => [N, Cin, D, H, W];
        public int[] YShape => [N, Cout, Do, Ho, Wo];
        public int[] WShape => [Cout, Cin, Kd, Kh, Kw];

        /// <summary>Taps of one channel's window: kd kh kw.</summary>
        public int WindowTaps => Kd * Kh * Kw;

        /// <summary>The in-volume taps of the window of output position (z, u, v); see <see cref="Window3d"/>.</summary>
        public Window3d Window(int z, int u, int v) => new(this, z, u, v);
    }

    /// <summary>
    /// The 3-D index walk shared by the naive convolution and the pools: the taps (a, b, e) of output
    /// (z, u, v)'s window whose input position (z sd - pd + a, u sh - ph + b, v sw - pw + e) lies inside
    /// the volume (padding is skipped), in row-major tap order. Each step yields Tap = (a kh + b) kw + e
    /// (the tap's index in one channel of the kernel) and Offset = (i H + j) W + l (the input element's
    /// index in one channel of the volume). Use: <c>foreach (var (tap, offset) in plan.Window(z, u, v))</c>.
    /// </summary>
    internal struct Window3d
    {
        private readonly Conv3dPlan p;
        private readonly int i0, j0, l0, a1, b0, b1, e0, e1;
        private int a, b, e;

        public Window3d(Conv3dPlan plan, int z, int u, int v)
        {
            p = plan;
            i0 = z * p.Sd - p.Pd; j0 = u * p.Sh - p.Ph; l0 = v * p.Sw - p.Pw;
            // Tap ranges clipped to the volume: 0 <= origin + tap < size.
            int a0 = Math.Max(0, -i0); a1 = Math.Min(p.Kd, p.D - i0);
            b0 = Math.Max(0, -j0); b1 = Math.Min(p.Kh, p.H - j0);
            e0 = Math.Max(0, -l0); e1 = Math.Min(p.Kw, p.W - l0);
            (a, b, e) = a0 < a1 && b0 < b1 && e0 < e1 ? (a0, b0, e0 - 1) : (a1, b0, e0);
        }

        public readonly Window3d GetEnumerator() => this;

        public readonly (int Tap, int Offset) Current => ((a * p.Kh + b) * p.Kw + e, ((i0 + a) * p.H + j0 + b) * p.W + l0 + e);

        public bool MoveNext()
        {
            if (a >= a1) return false;
            if (++e < e1) return true;
            e = e0;
            if (++b < b1) return true;
            b = b0;
            return ++a < a1;
        }
    }

    private static Tensor<double> Conv3dNaiveForward(Conv3dPlan p, double[] x, double[] w, double[]? bias)
    {
        var y = Tensor<double>.Zeros(p.YShape);
        int yi = 0;
        for (int n = 0; n < p.N; n++)
            for (int o = 0; o < p.Cout; o++)
                for (int z = 0; z < p.Do; z++)
                    for (int u = 0; u < p.Ho; u++)
                        for (int v = 0; v < p.Wo; v++)
                        {
                            double acc = bias?[o] ?? 0.0;
                            for (int c = 0; c < p.Cin; c++)
                            {
                                int wBase = (o * p.Cin + c) * p.WindowTaps, xBase = (n * p.Cin + c) * p.InVolume;
                                foreach (var (tap, offset) in p.Window(z, u, v)) acc += w[wBase + tap] * x[xBase + offset];
                            }
                            y.Data[yi++] = acc;
                        }
        return y;
    }

    private static (Tensor<double> Gx, Tensor<double> Gw, Tensor<double>? Gb) Conv3dNaiveBackward(Conv3dPlan p, double[] x, double[] w, double[] g, bool hasBias)
    {
        var gx = Tensor<double>.Zeros(p.XShape);
        var gw = Tensor<double>.Zeros(p.WShape);
        var gb = hasBias ? Tensor<double>.Zeros(p.Cout) : null;
        int yi = 0;
        for (int n = 0; n < p.N; n++)
            for (int o = 0; o < p.Cout; o++)
                for (int z = 0; z < p.Do; z++)
                    for (int u = 0; u < p.Ho; u++)
                        for (int v = 0; v < p.Wo; v++)
                        {
                            double gy = g[yi++];
                            if (gb is not null) gb.Data[o] += gy;
                            for (int c = 0; c < p.Cin; c++)
                            {
                                int wBase = (o * p.Cin + c) * p.WindowTaps, xBase = (n * p.Cin + c) * p.InVolume;
                                foreach (var (tap, offset) in p.Window(z, u, v))
                                {
                                    gw.Data[wBase + tap] += gy * x[xBase + offset];
                                    gx.Data[xBase + offset] += gy * w[wBase + tap];
                                }
                            }
                        }
        return (gx, gw, gb);
    }
}
