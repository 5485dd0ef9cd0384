// The Fast tier of the H3 layer (see H3.cs for the paper, the glossary and the naive definition):
// float or double, FastGemm projections, TensorPrimitives elementwise work, the Fast causal
// convolution for both SSMs, and a decoding step whose cost does not depend on the position.
using System.Numerics;
using Reference.Core;
using Reference.Core.Fourier;
using Reference.Core.Kernels;
using Reference.Core.Linear;
using Reference.Operators.Convolution;

namespace Reference.Operators.StateSpace;

/// <summary>H3 weights rounded to T once, plus the discretized diagonal SSM for decoding.</summary>
public sealed class H3Fast<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal H3Fast(H3Parameters p)
    {
        Parameters = p;
        int dm = p.ModelWidth;
        Wq = RoundTransposed(p.Wq, dm); Bq = Round(p.Bq); Wk = RoundTransposed(p.Wk, dm); Bk = Round(p.Bk);
        Wv = RoundTransposed(p.Wv, dm); Bv = Round(p.Bv); Wo = RoundTransposed(p.Wo, dm); Bo = Round(p.Bo);
        WqRows = Round(p.Wq); WkRows = Round(p.Wk); WvRows = Round(p.Wv); WoRows = Round(p.Wo);
        ShiftTaps = ShiftSsm.Taps(p.Shift).Cast<T>();
        ShiftB = Round(p.Shift.B); ShiftC = Round(p.Shift.C); ShiftSkip = Round(p.Shift.Skip);
        Skip = Round(p.Ssm.D);
        int hm = p.Ssm.Channels * p.Ssm.Modes;
        ARe = new T[hm]; AIm = new T[hm]; BRe = new T[hm]; BIm = new T[hm]; CRe = new T[hm]; CIm = new T[hm];
        for (int h = 0; h < p.Ssm.Channels; h++)
            for (int n = 0; n < p.Ssm.Modes; n++)
            {
                int i = h * p.Ssm.Modes + n;
                var (abar, bbar, _) = S4D.Discretize(p.Ssm, h, n, p.Method);
                var c2 = 2.0 * p.Ssm.C(h, n);
                ARe[i] = T.CreateTruncating(abar.Real); AIm[i] = T.CreateTruncating(abar.Imaginary);
                BRe[i] = T.CreateTruncating(bbar.Real); BIm[i] = T.CreateTruncating(bbar.Imaginary);
                CRe[i] = T.CreateTruncating(c2.Real); CIm[i] = T.CreateTruncating(c2.Imaginary);
            }
    }

    public H3Parameters Parameters { get; }

    /// <summary>Projection weights stored transposed, W^T [in, out], so x W^T is a plain row-major product.</summary>
    internal T[] Wq, Bq, Wk, Bk, Wv, Bv, Wo, Bo, ShiftB, ShiftC, ShiftSkip, Skip;
    /// <summary>The same weights as stored [out, in], for the decoding step's matrix-vector products (one dot per output).</summary>
    internal T[] WqRows, WkRows, WvRows, WoRows;
    internal T[] ARe, AIm, BRe, BIm, CRe, CIm;
    internal Tensor<T> ShiftTaps;

    private static T[] RoundTransposed(double[] w, int dm)
    {
        var r = new T[w.Length];
        for (int i = 0; i < dm; i++)
            for (int j = 0; j < dm; j++) r[j * dm + i] = T.CreateTruncating(w[i * dm + j]);
        return r;
    }

    private static T[] Round(double[] x)
    {
        var r = new T[x.Length];
        for (int i = 0; i < x.Length; i++) r[i] = T.CreateTruncating(x[i]);
        return r;
    }
}

/// <summary>Fast decoding state: shift register [B*Dm, N] and complex modes [B*hd*hd*H, M] as re/im arrays.</summary>
public sealed class H3FastState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal H3FastState(int batch, int dm, int stateSize, int ssmRows, int modes)
    {
        Batch = batch;
        Register = new T[batch * dm * stateSize];
        XRe = new T[ssmRows * modes];
        XIm = new T[ssmRows * modes];
        Q = new T[batch * dm]; K = new T[batch * dm]; V = new T[batch * dm]; O = new T[batch * dm];
    }

    public int Batch { get; }

    internal T[] Register, XRe, XIm, Q, K, V, O;
}

public static partial class H3
{
    /// <summary>Rounds the parameters to T and discretizes the SSM once (reuse across calls).</summary>
    public static H3Fast<T> Prepare<T>(H3Parameters p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        return new H3Fast<T>(p);
    }

    /// <summary>Fast tier of <see cref="Forward"/> on u [B, L, Dm].</summary>
    public static Tensor<T> ForwardFast<T>(H3Fast<T> f, Tensor<T> u, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(f);
        var p = f.Parameters;
        var (batch, length) = CheckInput(p, u);
        int dm = p.ModelWidth, hd = p.HeadDim, heads = p.Heads, rows = batch * length;
        var q = ToChannels(LinearFast(u.Data, f.Wq, f.Bq, rows, dm, maxThreads), batch, dm, length);
        var k = ToChannels(LinearFast(u.Data, f.Wk, f.Bk, rows, dm, maxThreads), batch, dm, length);
        var v = ToChannels(LinearFast(u.Data, f.Wv, f.Bv, rows, dm, maxThreads), batch, dm, length);
        var kbar = CausalConvolution.ForwardFast(new Tensor<T>(k, batch, dm, length), f.ShiftTaps, new Tensor<T>(f.ShiftSkip, dm), maxThreads);

        var kv = Tensor<T>.Zeros(batch * hd * hd, heads, length);
        for (int b = 0; b < batch; b++)
            for (int d1 = 0; d1 < hd; d1++)
                for (int d2 = 0; d2 < hd; d2++)
                    for (int h = 0; h < heads; h++)
                        TensorPrimitives.Multiply(kbar.Data.AsSpan((b * dm + h * hd + d1) * length, length),
                            v.AsSpan((b * dm + h * hd + d2) * length, length),
                            kv.Data.AsSpan(((((b * hd + d1) * hd + d2) * heads) + h) * length, length));
        var kernel = S4D.KernelFast<T>(p.Ssm, length, p.Method, maxThreads);
        var ys = CausalConvolution.ForwardFast(kv, kernel, new Tensor<T>(f.Skip, heads), maxThreads);

        var o = new T[batch * dm * length];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int d2 = 0; d2 < hd; d2++)
                {
                    var oc = o.AsSpan((b * dm + h * hd + d2) * length, length);
                    for (int d1 = 0; d1 < hd; d1++)
                        TensorPrimitives.FusedMultiplyAdd(q.AsSpan((b * dm + h * hd + d1) * length, length),
                            ys.Data.AsSpan(((((b * hd + d1) * hd + d2) * heads) + h) * length, length), oc, oc);
                }
        var oTok = new T[o.Length];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < dm; j++)
                for (int l = 0; l < length; l++) oTok[(b * length + l) * dm + j] = o[(b * dm + j) * length + l];
        return new Tensor<T>(LinearFast(oTok, f.Wo, f.Bo, rows, dm, maxThreads), batch, length, dm);
    }

    public static H3FastState<T> InitialFastState<T>(H3Fast<T> f, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1, nameof(batch));
        var p = f.Parameters;
        return new H3FastState<T>(batch, p.ModelWidth, p.StateSize, batch * p.HeadDim * p.HeadDim * p.Heads, p.Ssm.Modes);
    }

    /// <summary>
    /// Fast decoding step: uT [B, Dm] -> y [B, Dm]. O(Dm^2 + Dm N + hd Dm N) per token, independent of the position.
    /// </summary>
    public static void StepFast<T>(H3Fast<T> f, H3FastState<T> s, ReadOnlySpan<T> uT, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(s);
        var p = f.Parameters;
        int dm = p.ModelWidth, hd = p.HeadDim, heads = p.Heads, n = p.StateSize, modes = p.Ssm.Modes, batch = s.Batch;
        if (uT.Length != batch * dm)
            throw new ArgumentException($"uT has {uT.Length} values, expected B * Dm = {batch * dm}.", nameof(uT));
        if (y.Length != batch * dm)
            throw new ArgumentException($"y has {y.Length} values, expected B * Dm = {batch * dm}.", nameof(y));
        MatVec(uT, f.WqRows, f.Bq, batch, dm, s.Q);
        MatVec(uT, f.WkRows, f.Bk, batch, dm, s.K);
        MatVec(uT, f.WvRows, f.Bv, batch, dm, s.V);

        // Shift SSM: x <- shift(x) + B k, kbar = C . x + D_k k (kbar overwrites K).
        for (int r = 0; r < batch * dm; r++)
        {
            int c = r % dm;
            var x = s.Register.AsSpan(r * n, n);
            x[..(n - 1)].CopyTo(x[1..]);
            x[0] = T.Zero;
            T kr = s.K[r];
            TensorPrimitives.MultiplyAdd(f.ShiftB.AsSpan(c * n, n), kr, x, x);
            s.K[r] = TensorPrimitives.Dot(f.ShiftC.AsSpan(c * n, n), x) + f.ShiftSkip[c] * kr;
        }

        // Outer product, diagonal SSM step (x = Abar x + Bbar kv, ys = Re(2C x) + D kv), gate with q.
        Array.Clear(s.O);
        for (int b = 0; b < batch; b++)
            for (int d1 = 0; d1 < hd; d1++)
                for (int d2 = 0; d2 < hd; d2++)
                    for (int h = 0; h < heads; h++)
                    {
                        T kv = s.K[b * dm + h * hd + d1] * s.V[b * dm + h * hd + d2];
                        int row = (((b * hd + d1) * hd + d2) * heads) + h;
                        var xr = s.XRe.AsSpan(row * modes, modes);
                        var xi = s.XIm.AsSpan(row * modes, modes);
                        int o = h * modes;
                        T acc = T.Zero;
                        for (int m = 0; m < modes; m++)
                        {
                            T ar = f.ARe[o + m], ai = f.AIm[o + m];
                            T re = ar * xr[m] - ai * xi[m] + f.BRe[o + m] * kv;
                            T im = ar * xi[m] + ai * xr[m] + f.BIm[o + m] * kv;
                            xr[m] = re;
                            xi[m] = im;
                            acc += f.CRe[o + m] * re - f.CIm[o + m] * im;
                        }
                        T ys = acc + f.Skip[h] * kv;
                        s.O[b * dm + h * hd + d2] += s.Q[b * dm + h * hd + d1] * ys;
                    }
        MatVec(s.O, f.WoRows, f.Bo, batch, dm, y);
    }

    /// <summary>y[r, j] = W[j, :] . x[r, :] + b[j] for a few rows (decoding): one SIMD dot per output, no packing.</summary>
    private static void MatVec<T>(ReadOnlySpan<T> x, T[] w, T[] bias, int rows, int dm, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dm, dm);
            for (int j = 0; j < dm; j++) y[r * dm + j] = TensorPrimitives.Dot(w.AsSpan(j * dm, dm), xr) + bias[j];
        }
    }

    private static T[] LinearFast<T>(ReadOnlySpan<T> x, T[] w, T[] bias, int rows, int dm, int maxThreads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = new T[rows * dm];
        LinearInto(x, w, bias, rows, dm, y, maxThreads);
        return y;
    }

    /// <summary>y = x W^T + b with wT = W^T [in, out] (no transposed operand in the product).</summary>
    private static void LinearInto<T>(ReadOnlySpan<T> x, T[] wT, T[] bias, int rows, int dm, Span<T> y, int maxThreads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        FastGemm.Multiply(false, false, rows, dm, dm, T.One, x, dm, wT, dm, T.Zero, y, dm, maxThreads);
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(y.Slice(r * dm, dm), bias, y.Slice(r * dm, dm));
    }

    private static T[] ToChannels<T>(T[] tokens, int batch, int dm, int length)
    {
        var c = new T[tokens.Length];
        for (int b = 0; b < batch; b++)
            for (int l = 0; l < length; l++)
                for (int j = 0; j < dm; j++) c[(b * dm + j) * length + l] = tokens[(b * length + l) * dm + j];
        return c;
    }
}

/// <summary>
/// What the fast float64 training forward keeps for <see cref="H3.BackwardFast"/>: the intermediates, the SSM kernel, the shift taps,
/// and the spectra of the two convolutions' inputs (k and kv, as <see cref="FftConvolution.CausalBatched{T}"/> keeps them; null
/// where a convolution took the direct route).
/// </summary>
public sealed record H3FastIntermediates(H3Intermediates Values, Tensor<double> Kernel, Tensor<double> ShiftTaps,
    Tensor<double>? KSpectra = null, Tensor<double>? KvSpectra = null);

public static partial class H3
{
    /// <summary>
    /// The float64 fast-tier forward of training (the tape's fast tier): the same stages as
    /// <see cref="ForwardWithIntermediates"/> with FastGemm projections (the bias added in the GEMM's store, the bits of a fill
    /// with the bias and a product accumulated onto it), both convolutions by the real-FFT route of <see cref="CausalConvolution.ForwardFast{T}"/>,
    /// the S4D kernel by <see cref="S4D.KernelFastShared"/> (KernelFast's values, computed once for the callers that use the same
    /// parameters together: the micro-batches of a training step), TensorPrimitives for the gate; keeps what
    /// <see cref="BackwardFast"/> needs so the backward does not run the forward again.
    /// No layout transposes: the projections are batched products that write q, k, v channel-major
    /// directly (q_b [Dm, L] = Wq u_b^T + bq, one product per sequence b) and read o channel-major
    /// (y_b [L, Dm] = o_b^T Wo^T + bo). Every buffer comes from the current <see cref="Reference.Autodiff.TensorArena"/>
    /// (the heap outside one) and every element of it is written.
    /// </summary>
    public static H3FastIntermediates ForwardTrainingFast(H3Parameters p, Tensor<double> u, int maxThreads = 0)
    {
        var (batch, length) = CheckInput(p, u);
        int dm = p.ModelWidth, hd = p.HeadDim, heads = p.Heads;
        var q = ProjectToChannels(u.Data, p.Wq, p.Bq, batch, length, dm, maxThreads);
        var k = ProjectToChannels(u.Data, p.Wk, p.Bk, batch, length, dm, maxThreads);
        var v = ProjectToChannels(u.Data, p.Wv, p.Bv, batch, length, dm, maxThreads);
        var taps = ShiftSsm.Taps(p.Shift);
        var kbar = ConvolveFast(k, taps, p.Shift.Skip, maxThreads, out var kSpectra);
        var kv = Scratch(batch * hd * hd, heads, length);
        for (int b = 0; b < batch; b++)
            for (int d1 = 0; d1 < hd; d1++)
                for (int d2 = 0; d2 < hd; d2++)
                    for (int h = 0; h < heads; h++)
                        TensorPrimitives.Multiply(kbar.Data.AsSpan((b * dm + h * hd + d1) * length, length),
                            v.Data.AsSpan((b * dm + h * hd + d2) * length, length),
                            kv.Data.AsSpan(((((b * hd + d1) * hd + d2) * heads) + h) * length, length));
        // Shared by the micro-batches of a data-parallel step (same parameter values): computed once, KernelFast's values.
        var kernel = S4D.KernelFastShared(p.Ssm, length, p.Method, maxThreads);
        var ys = ConvolveFast(kv, kernel, p.Ssm.D, maxThreads, out var kvSpectra);
        var o = Scratch(batch, dm, length);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int d2 = 0; d2 < hd; d2++)
                {
                    var oc = o.Data.AsSpan((b * dm + h * hd + d2) * length, length);
                    for (int d1 = 0; d1 < hd; d1++)
                    {
                        var qc = q.Data.AsSpan((b * dm + h * hd + d1) * length, length);
                        var yc = ys.Data.AsSpan(((((b * hd + d1) * hd + d2) * heads) + h) * length, length);
                        // The first term is written (0 + q ys rounds to q ys), the rest accumulated in d1 order.
                        if (d1 == 0) TensorPrimitives.Multiply(qc, yc, oc);
                        else TensorPrimitives.FusedMultiplyAdd(qc, yc, oc, oc);
                    }
                }
        var output = Scratch(batch, length, dm);
        FastGemm.MultiplyBatched(true, true, length, dm, dm, 1.0, o.Data, length, dm * length, p.Wo, dm, 0,
            1.0, output.Data, dm, length * dm, batch, maxThreads, columnBias: p.Bo.AsSpan(0, dm));
        return new H3FastIntermediates(new H3Intermediates(q, k, v, kbar, kv, ys, o, output), kernel, taps, kSpectra, kvSpectra);
    }

    /// <summary>
    /// Fast-tier VJP of the layer from the saved forward: the stages of <see cref="Backward"/> in the same
    /// order, with FastGemm for the projections' products (channel-major operands read in place, as in the
    /// forward: dO_b = Wo^T dy_b^T, dWo = sum_b dy_b^T o_b^T, du_b = dq_b^T Wq + dk_b^T Wk + dv_b^T Wv,
    /// dWq = sum_b dq_b u_b), the convolutions' gradients by the correlation theorem
    /// (<see cref="FftConvolution.CausalBackward{T}"/>, per sequence, kernel gradients summed over the batch
    /// in order), and the S4D kernel's parameter gradients with powers carried by multiplication.
    /// Bias gradients are summed over (b, l) in order. Buffers as in <see cref="ForwardTrainingFast"/>.
    /// Equal to <see cref="Backward"/> up to float64 reassociation (checked by the tests).
    /// kernelGradient: given dK [H, L] (the S4D kernel's gradient), returns true when the caller takes over the map dK -&gt;
    /// the S4D kernel parameters' gradients (<see cref="S4D.KernelGradients"/>; the tape's fast tier hands it to the
    /// data-parallel step, which runs it once on the micro-batches' sum): those seven arrays of the result are then zeros,
    /// not gradients. Null or false: computed here.
    /// </summary>
    public static H3Gradients BackwardFast(H3Parameters p, Tensor<double> u, Tensor<double> dy, H3FastIntermediates saved, int maxThreads = 0,
        Func<double[], bool>? kernelGradient = null)
    {
        ArgumentNullException.ThrowIfNull(saved);
        var (batch, length) = CheckInput(p, u);
        Shapes.Same(dy, u.Shape, nameof(dy));
        int dm = p.ModelWidth, hd = p.HeadDim, heads = p.Heads, rows = batch * length, slab = dm * length;
        var it = saved.Values;

        var dO = Scratch(batch, dm, length).Data;
        FastGemm.MultiplyBatched(true, true, dm, length, dm, 1.0, p.Wo, dm, 0, dy.Data, dm, length * dm,
            0.0, dO, length, slab, batch, maxThreads);
        var dWo = GC.AllocateUninitializedArray<double>(dm * dm);
        for (int b = 0; b < batch; b++)
            FastGemm.Multiply(true, true, dm, dm, length, 1.0, dy.Data.AsSpan(b * length * dm, length * dm), dm,
                it.O.Data.AsSpan(b * slab, slab), length, b == 0 ? 0.0 : 1.0, dWo, dm, maxThreads);
        var dBo = new double[dm];
        FastElementwise.AddColumnSums(dy.Data.AsSpan(0, rows * dm), dBo);

        var dq = Scratch(batch, dm, length);
        var dys = Scratch(it.Ys.ShapeArray);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int d1 = 0; d1 < hd; d1++)
                    for (int d2 = 0; d2 < hd; d2++)
                    {
                        int ys = ((((b * hd + d1) * hd + d2) * heads) + h) * length;
                        var dqc = dq.Data.AsSpan((b * dm + h * hd + d1) * length, length);
                        var doc = dO.AsSpan((b * dm + h * hd + d2) * length, length);
                        if (d2 == 0) TensorPrimitives.Multiply(doc, it.Ys.Data.AsSpan(ys, length), dqc);
                        else TensorPrimitives.FusedMultiplyAdd(doc, it.Ys.Data.AsSpan(ys, length), dqc, dqc);
                        TensorPrimitives.Multiply(doc, it.Q.Data.AsSpan((b * dm + h * hd + d1) * length, length), dys.Data.AsSpan(ys, length));
                    }

        var (dkv, dKernel, dSkip) = ConvolutionBackwardFast(it.KV, saved.Kernel, p.Ssm.D, dys, maxThreads, saved.KvSpectra);
        int hm = p.Ssm.Channels * p.Ssm.Modes;
        var ssmGrads = new S4DGradients(dkv, new double[hm], new double[hm], new double[hm], new double[hm],
            new double[hm], new double[hm], new double[p.Ssm.Channels], dSkip);
        if (kernelGradient?.Invoke(dKernel) != true)
            S4D.KernelGradients(p.Ssm, dKernel, length, p.Method, ssmGrads, powersByMultiplication: true);

        var dkbar = Scratch(it.KBar.ShapeArray);
        var dv = Scratch(it.V.ShapeArray);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int d1 = 0; d1 < hd; d1++)
                    for (int d2 = 0; d2 < hd; d2++)
                    {
                        var g = dkv.Data.AsSpan(((((b * hd + d1) * hd + d2) * heads) + h) * length, length);
                        int kc = (b * dm + h * hd + d1) * length, vc = (b * dm + h * hd + d2) * length;
                        // First terms written, the rest accumulated in the order of the naive backward.
                        if (d2 == 0) TensorPrimitives.Multiply(g, it.V.Data.AsSpan(vc, length), dkbar.Data.AsSpan(kc, length));
                        else TensorPrimitives.FusedMultiplyAdd(g, it.V.Data.AsSpan(vc, length), dkbar.Data.AsSpan(kc, length), dkbar.Data.AsSpan(kc, length));
                        if (d1 == 0) TensorPrimitives.Multiply(g, it.KBar.Data.AsSpan(kc, length), dv.Data.AsSpan(vc, length));
                        else TensorPrimitives.FusedMultiplyAdd(g, it.KBar.Data.AsSpan(kc, length), dv.Data.AsSpan(vc, length), dv.Data.AsSpan(vc, length));
                    }

        var (dk, dTaps, dShiftSkip) = ConvolutionBackwardFast(it.K, saved.ShiftTaps, p.Shift.Skip, dkbar, maxThreads, saved.KSpectra);
        var shiftGrads = ShiftSsm.TapGradients(p.Shift, dTaps, dk, dShiftSkip);

        // du_b = dq_b^T Wq, then + dk_b^T Wk, then + dv_b^T Wv (each product added onto the sum so far).
        var du = Scratch(u.ShapeArray);
        FastGemm.MultiplyBatched(true, false, length, dm, dm, 1.0, dq.Data, length, slab, p.Wq, dm, 0, 0.0, du.Data, dm, length * dm, batch, maxThreads);
        FastGemm.MultiplyBatched(true, false, length, dm, dm, 1.0, dk.Data, length, slab, p.Wk, dm, 0, 1.0, du.Data, dm, length * dm, batch, maxThreads);
        FastGemm.MultiplyBatched(true, false, length, dm, dm, 1.0, dv.Data, length, slab, p.Wv, dm, 0, 1.0, du.Data, dm, length * dm, batch, maxThreads);
        var (dWq, dBq) = ProjectWeightGradients(u.Data, dq.Data, batch, length, dm, maxThreads);
        var (dWk, dBk) = ProjectWeightGradients(u.Data, dk.Data, batch, length, dm, maxThreads);
        var (dWv, dBv) = ProjectWeightGradients(u.Data, dv.Data, batch, length, dm, maxThreads);
        return new H3Gradients(du, dWq, dBq, dWk, dBk, dWv, dBv, shiftGrads, ssmGrads, dWo, dBo);
    }

    /// <summary>
    /// Kernels of at most this many effective taps (the shift SSM's N = 64) are convolved by direct sums in the
    /// training path (<see cref="CausalConvolution.DirectBatched"/>, forward and backward): at L = 256, FFTs of
    /// size 512 for 64 taps cost more than the 64 multiply-adds per output (bench/NOTES.md, h3w32).
    /// </summary>
    private const int DirectConvolutionMaxTaps = 64;

    /// <summary>A buffer every element of which the caller writes: from the current TensorArena, else the heap.</summary>
    private static Tensor<double> Scratch(params int[] shape) => Reference.Autodiff.TensorArena.Uninitialized(shape);

    /// <summary>
    /// Channel-major projection y [B, Dm, L], y_b = W u_b^T + b (u [B, L, Dm] token-major, W [out, in]):
    /// each row y_b[j, :] is the product plus b[j] (FastGemm's row bias: the bits of filling the row with b[j] and
    /// accumulating onto it with beta 1, without that pass).
    /// </summary>
    private static Tensor<double> ProjectToChannels(double[] u, double[] w, double[] bias, int batch, int length, int dm, int maxThreads)
    {
        var y = Scratch(batch, dm, length);
        FastGemm.MultiplyBatched(false, true, dm, length, dm, 1.0, w, dm, 0, u, dm, length * dm, 1.0, y.Data, length, dm * length, batch, maxThreads,
            rowBias: bias.AsSpan(0, dm));
        return y;
    }

    /// <summary>For y_b = W u_b^T + b (channel-major dy [B, Dm, L]): dW = sum_b dy_b u_b (in b order), db[j] = sum over (b, l) in order of dy.</summary>
    private static (double[] Dw, double[] Db) ProjectWeightGradients(double[] u, double[] dy, int batch, int length, int dm, int maxThreads)
    {
        var dw = GC.AllocateUninitializedArray<double>(dm * dm);
        for (int b = 0; b < batch; b++)
            FastGemm.Multiply(false, false, dm, dm, length, 1.0, dy.AsSpan(b * dm * length, dm * length), length,
                u.AsSpan(b * length * dm, length * dm), dm, b == 0 ? 0.0 : 1.0, dw, dm, maxThreads);
        var db = new double[dm];
        for (int b = 0; b < batch; b++) AddRowSums(dy.AsSpan(b * dm * length, dm * length), length, db);
        return (dw, db);
    }

    /// <summary>
    /// sums[j] += x[j, 0] + x[j, 1] + ... in that order, for the rows of x [sums.Length, length]. Four rows at a time so that four
    /// independent addition chains overlap (one chain waits the adder's latency per element); each row's sum keeps its order.
    /// </summary>
    private static void AddRowSums(ReadOnlySpan<double> x, int length, Span<double> sums)
    {
        int rows = sums.Length, j = 0;
        for (; j + 4 <= rows; j += 4)
        {
            var x0 = x.Slice(j * length, length);
            var x1 = x.Slice((j + 1) * length, length);
            var x2 = x.Slice((j + 2) * length, length);
            var x3 = x.Slice((j + 3) * length, length);
            double a0 = sums[j], a1 = sums[j + 1], a2 = sums[j + 2], a3 = sums[j + 3];
            for (int l = 0; l < length; l++)
            {
                a0 += x0[l]; a1 += x1[l]; a2 += x2[l]; a3 += x3[l];
            }
            sums[j] = a0; sums[j + 1] = a1; sums[j + 2] = a2; sums[j + 3] = a3;
        }
        for (; j < rows; j++)
        {
            double acc = sums[j];
            foreach (double g in x.Slice(j * length, length)) acc += g;
            sums[j] = acc;
        }
    }

    /// <summary>
    /// y = k * u + D u (causal, per channel) into a <see cref="Scratch"/> buffer: kernels of more than
    /// <see cref="DirectConvolutionMaxTaps"/> effective taps by the real-FFT route for all sequences at once
    /// (<see cref="FftConvolution.CausalBatched{T}"/>: each kernel transformed once; bitwise the per-sequence
    /// result), shorter ones by direct sums (<see cref="CausalConvolution.DirectBatched"/>); every output
    /// written, then D u added per row.
    /// <paramref name="spectra"/>: u's spectra [rows, 2 bins] from the FFT route (kept for the backward), null on the direct route.
    /// </summary>
    private static Tensor<double> ConvolveFast(Tensor<double> u, Tensor<double> k, double[] skip, int maxThreads, out Tensor<double>? spectra)
    {
        int channels = k.Dim(0), kernelLength = k.Dim(1), length = u.Dim(-1), rows = u.Length / length;
        spectra = null;
        var y = Scratch(u.ShapeArray);
        if (Math.Min(kernelLength, length) <= DirectConvolutionMaxTaps)
        {
            // D u added in the direct sums' store (the same rounding as the pass below).
            CausalConvolution.DirectBatched(u.Data, k.Data, y.Data, rows / channels, channels, length, kernelLength, maxThreads, skip);
            return y;
        }
        spectra = Scratch(rows, 2 * FftConvolution.SpectrumBins(length, kernelLength));
        FftConvolution.CausalBatched<double>(u.Data, k.Data, y.Data, rows / channels, channels, length, kernelLength, maxThreads, spectra.Data);
        for (int r = 0; r < rows; r++)
            TensorPrimitives.MultiplyAdd(u.Data.AsSpan(r * length, length), skip[r % channels], y.Data.AsSpan(r * length, length), y.Data.AsSpan(r * length, length));
        return y;
    }

    /// <summary>
    /// VJP of y = k * u + D u for u [S, C, L] (channel c of every sequence uses kernel k[c], Lk taps):
    /// du = correlation of dy with k plus D dy, dk = sum over sequences (in order) of the correlation of
    /// dy with u, dD = sum over sequences and time of dy u (as <see cref="CausalConvolution.Backward"/>);
    /// the correlations by <see cref="FftConvolution.CausalBackwardBatched{T}"/> (k transformed once, dk summed
    /// over sequences as spectra and transformed back once per channel; u's spectra from the forward when it kept them).
    /// </summary>
    private static (Tensor<double> Du, double[] Dk, double[] Dd) ConvolutionBackwardFast(Tensor<double> u, Tensor<double> k, double[] skip,
        Tensor<double> dy, int maxThreads, Tensor<double>? uSpectra)
    {
        int channels = k.Dim(0), kernelLength = k.Dim(1), length = u.Dim(-1), slab = channels * length, sequences = u.Length / slab;
        var du = Scratch(u.ShapeArray);
        var dk = new double[channels * kernelLength];
        var dd = new double[channels];
        // The direct route adds D dy in its store (the same rounding as the pass below).
        bool direct = Math.Min(kernelLength, length) <= DirectConvolutionMaxTaps;
        if (direct)
            CausalConvolution.DirectBackwardBatched(dy.Data, u.Data, k.Data, du.Data, dk, sequences, channels, length, kernelLength, maxThreads, skip);
        else
            FftConvolution.CausalBackwardBatched<double>(dy.Data, u.Data, k.Data, du.Data, dk, sequences, channels, length, kernelLength, maxThreads,
                uSpectra is null ? default : uSpectra.Data);
        for (int s = 0; s < sequences; s++)
            for (int c = 0; c < channels; c++)
            {
                var g = dy.Data.AsSpan(s * slab + c * length, length);
                var ur = u.Data.AsSpan(s * slab + c * length, length);
                var dur = du.Data.AsSpan(s * slab + c * length, length);
                if (!direct) TensorPrimitives.MultiplyAdd(g, skip[c], dur, dur);
                dd[c] += TensorPrimitives.Dot(g, ur);
            }
        return (du, dk, dd);
    }
}
