// The inner op of the H3 layer with its SSM kernels given: everything H3 does between the three input
// projections and the output projection, as a function of q, k, v and two precomputed kernels. A backend
// that materializes its shift and diagonal SSM kernels elsewhere checks its kernel path (the long
// convolutions) and its gating (the per-head outer products) here, apart from the kernel generation.
//
// Paper: H3, Fu, Dao et al., arXiv:2212.14052, Sec. 3.2 and Algorithm 1 (steps between the projections and
// W_O), Sec. 4 (FlashConv evaluates both SSMs as FFT convolutions of their kernels). Conventions follow
// H3's reference path `fftconv_h3_ref` (HazyResearch/H3, src/ops/fftconv.py) and the shift stage of the
// H3 module (the shift kernel convolved with k, plus its skip D_shift):
//   kbar[b, c, t]      = sum_{j <= t} shift_k[c, j] k[b, c, t - j] + shift_d[c] k[b, c, t]      (c < Dm)
//   kv[b, d1, d2, h, t] = kbar[b, h hd + d1, t] v[b, h hd + d2, t]                            (per-head outer product)
//   ys[b, d1, d2, h, t] = sum_{j <= t} ssm_k[h, j] kv[b, d1, d2, h, t - j] + d[h] kv[b, d1, d2, h, t]
//   y[b, h hd + d2, t]  = sum_{d1} q[b, h hd + d1, t] ys[b, d1, d2, h, t]
// fftconv_h3_ref evaluates the convolution by an FFT of size 2L on a kernel of L taps; here the kernel may
// have any length Lk (taps at lags >= L never act), and the definition is the direct causal sum.
//
// Glossary (code -> paper / H3):
//   q, k, v [B, Dm, L]    the projections, channel-major, channel h hd + d (head-major, 'b (h d) l')
//   shift_k [Dm, Ls]      the shift SSM's kernel (C A^j B of the shift matrix A), shift_d [Dm] its D; both absent:
//                         kbar = k (fftconv_h3_ref alone)
//   ssm_k [H, Lk], d [H]  the diagonal SSM's kernel per head and its D (H = Dm / hd)
//   hd                    head_dim (1: y = q . (ssm_k * (kbar . v) + d kbar . v))
//
// Operator view: for fixed q and k the map v -> y is linear and causal, per (b, h, d2) the matrix
//   T = sum_{d1} diag(q_{h hd + d1}) (Toeplitz(ssm_k[h]) + d[h] I) diag(kbar_{h hd + d1}),
// the same for every d2 of the head (Materialize).
// Decoding form: both convolutions carry their input history (CausalConvolution's ConvolutionState): Dm rows
// of Ls - 1 values for the shift stage and B hd^2 H rows of Lk - 1 values for the diagonal stage; a kernel
// given as an array has no finite diagonal state.
// Backward pass: the composition on the tape (Operator): two conv.causal nodes (CausalConvolution.Backward),
// broadcast products and one sum over d1; its gradcheck runs in the registry tests.
using Reference.Autodiff;
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.Operators.StateSpace;

/// <summary>Decoding state of <see cref="H3Inner"/>: the shift stage's and the diagonal stage's input histories.</summary>
public sealed class H3InnerState
{
    internal H3InnerState(int batch, ConvolutionState? shift, ConvolutionState diagonal)
    {
        Batch = batch;
        Shift = shift;
        Diagonal = diagonal;
    }

    public int Batch { get; }

    /// <summary>Rows B Dm, Lk = Ls; null when the op has no shift stage.</summary>
    public ConvolutionState? Shift { get; }

    /// <summary>Rows B hd hd H (layout [B, hd, hd, H]), Lk = the diagonal kernel's length.</summary>
    public ConvolutionState Diagonal { get; }
}

public static partial class H3Inner
{
    // ------------------------------------------------------------------ parallel form (Naive)

    /// <summary>
    /// y [B, Dm, L] from q, k, v [B, Dm, L], the optional shift kernel shiftK [Dm, Ls] with shiftD [Dm], and the
    /// diagonal kernel ssmK [H, Lk] with d [H] (H = Dm / headDim); see the file head.
    /// </summary>
    public static Tensor<double> Forward(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double>? shiftK, Tensor<double>? shiftD,
        Tensor<double> ssmK, Tensor<double>? d, int headDim)
    {
        var (batch, dm, length) = Check(q, k, v, shiftK, shiftD, ssmK, d, headDim);
        var kbar = shiftK is null ? k : CausalConvolution.Forward(k, shiftK, shiftD);
        var kv = OuterProducts(kbar, v, headDim);
        var ys = CausalConvolution.Forward(kv, ssmK, d);
        return Contract(q, ys, batch, dm, length, headDim);
    }

    /// <summary>kv [B, hd, hd, H, L]: kv[b, d1, d2, h, t] = kbar[b, h hd + d1, t] v[b, h hd + d2, t].</summary>
    internal static Tensor<T> OuterProducts<T>(Tensor<T> kbar, Tensor<T> v, int hd) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int batch = kbar.Dim(0), dm = kbar.Dim(1), length = kbar.Dim(2), heads = dm / hd;
        var kv = Tensor<T>.Zeros(batch, hd, hd, heads, length);
        for (int b = 0; b < batch; b++)
            for (int d1 = 0; d1 < hd; d1++)
                for (int d2 = 0; d2 < hd; d2++)
                    for (int h = 0; h < heads; h++)
                    {
                        var kr = kbar.Data.AsSpan(((b * dm) + h * hd + d1) * length, length);
                        var vr = v.Data.AsSpan(((b * dm) + h * hd + d2) * length, length);
                        var o = kv.Data.AsSpan((((b * hd + d1) * hd + d2) * heads + h) * length, length);
                        for (int t = 0; t < length; t++) o[t] = kr[t] * vr[t];
                    }
        return kv;
    }

    /// <summary>y[b, h hd + d2, t] = sum_{d1 ascending} q[b, h hd + d1, t] ys[b, d1, d2, h, t].</summary>
    internal static Tensor<T> Contract<T>(Tensor<T> q, Tensor<T> ys, int batch, int dm, int length, int hd)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int heads = dm / hd;
        var y = Tensor<T>.Zeros(batch, dm, length);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int d2 = 0; d2 < hd; d2++)
                {
                    var o = y.Data.AsSpan((b * dm + h * hd + d2) * length, length);
                    for (int d1 = 0; d1 < hd; d1++)
                    {
                        var qr = q.Data.AsSpan((b * dm + h * hd + d1) * length, length);
                        var yr = ys.Data.AsSpan((((b * hd + d1) * hd + d2) * heads + h) * length, length);
                        for (int t = 0; t < length; t++) o[t] += qr[t] * yr[t];
                    }
                }
        return y;
    }

    // ------------------------------------------------------------------ decoding form

    /// <summary>An empty state for B sequences (no history).</summary>
    public static H3InnerState InitialState(int batch, int modelWidth, int headDim, int shiftLength, int kernelLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1, nameof(batch));
        if (headDim < 1 || modelWidth < 1 || modelWidth % headDim != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), $"headDim must divide modelWidth = {modelWidth}, got {headDim}.");
        int heads = modelWidth / headDim;
        var shift = shiftLength > 0 ? CausalConvolution.InitialState(batch * modelWidth, modelWidth, shiftLength) : null;
        return new H3InnerState(batch, shift, CausalConvolution.InitialState(batch * headDim * headDim * heads, heads, kernelLength));
    }

    /// <summary>
    /// One token: q_t, k_t, v_t [B, Dm] -> y_t [B, Dm], advancing both histories (one ConvolutionState step per stage;
    /// token by token equals <see cref="Forward"/> exactly: the same terms in the same order).
    /// </summary>
    public static Tensor<double> Step(H3InnerState state, Tensor<double> qT, Tensor<double> kT, Tensor<double> vT,
        Tensor<double>? shiftK, Tensor<double>? shiftD, Tensor<double> ssmK, Tensor<double>? d, int headDim)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(qT);
        int batch = state.Batch, dm = qT.Length / batch;
        if ((state.Shift is null) != (shiftK is null))
            throw new ArgumentException("the state was made for the op with(out) a shift stage; pass shiftK accordingly.", nameof(state));
        var q = qT.Reshape(batch, dm, 1);
        var k = kT.Reshape(batch, dm, 1);
        var v = vT.Reshape(batch, dm, 1);
        Check(q, k, v, shiftK, shiftD, ssmK, d, headDim);
        var kbar = state.Shift is null ? k : new Tensor<double>(CausalConvolution.Step(state.Shift, k.Data, shiftK!, shiftD), batch, dm, 1);
        var kv = OuterProducts(kbar, v, headDim);
        var ys = new Tensor<double>(CausalConvolution.Step(state.Diagonal, kv.Data, ssmK, d), kv.ShapeArray);
        return Contract(q, ys, batch, dm, 1, headDim).Reshape(batch, dm);
    }

    // ------------------------------------------------------------------ operator matrix

    /// <summary>
    /// T [B Dm, L, L] for fixed q, k: row b Dm + h hd + d2 is sum_{d1} diag(q_{h hd + d1}) (Toeplitz(ssm_k[h]) + d[h] I)
    /// diag(kbar_{h hd + d1}), so y[b, c] = T[b Dm + c] v[b, c].
    /// </summary>
    public static Tensor<double> Materialize(Tensor<double> q, Tensor<double> k, Tensor<double>? shiftK, Tensor<double>? shiftD,
        Tensor<double> ssmK, Tensor<double>? d, int headDim)
    {
        var (batch, dm, length) = Check(q, k, k, shiftK, shiftD, ssmK, d, headDim);
        var kbar = shiftK is null ? k : CausalConvolution.Forward(k, shiftK, shiftD);
        var th = CausalConvolution.Materialize(ssmK, d, length);                  // [H, L, L]
        int heads = dm / headDim, ll = length * length;
        var t = Tensor<double>.Zeros(batch * dm, length, length);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                var head = new double[ll];
                for (int d1 = 0; d1 < headDim; d1++)
                {
                    var qr = q.Data.AsSpan((b * dm + h * headDim + d1) * length, length);
                    var kr = kbar.Data.AsSpan((b * dm + h * headDim + d1) * length, length);
                    for (int i = 0; i < length; i++)
                        for (int s = 0; s <= i; s++) head[i * length + s] += qr[i] * th.Data[h * ll + i * length + s] * kr[s];
                }
                for (int d2 = 0; d2 < headDim; d2++) head.CopyTo(t.Data, (b * dm + h * headDim + d2) * ll);
            }
        return t;
    }

    // ------------------------------------------------------------------ backward pass (tape composition)

    /// <summary>
    /// The op on the tape: conv.causal (shift stage), broadcast products kbar[b, d1, 1, h] v[b, 1, d2, h],
    /// conv.causal (diagonal stage), the product with q[b, d1, 1, h] and the sum over d1. Each node's VJP is the
    /// adjoint of its linear or bilinear map (CausalConvolution.Backward for the two convolutions).
    /// </summary>
    public static Variable Operator(Variable q, Variable k, Variable v, Variable? shiftK, Variable? shiftD, Variable ssmK, Variable? d, int headDim)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(ssmK);
        var (batch, dm, length) = Check(q.Value, k.Value, v.Value, shiftK?.Value, shiftD?.Value, ssmK.Value, d?.Value, headDim);
        int hd = headDim, heads = dm / hd;
        var kbar = shiftK is null ? k : SsmOps.CausalConvolution(k, shiftK, shiftD);
        // [B, Dm, L] -> [B, hd, 1, H, L] (d1 axis) or [B, 1, hd, H, L] (d2 axis).
        Variable Heads(Variable x, bool first) =>
            Ops.Reshape(Ops.Permute(Ops.Reshape(x, batch, heads, hd, length), 0, 2, 1, 3), first ? new[] { batch, hd, 1, heads, length } : new[] { batch, 1, hd, heads, length });
        var kv = Ops.Mul(Heads(kbar, true), Heads(v, false));
        var ys = SsmOps.CausalConvolution(kv, ssmK, d);
        var o = Ops.Sum(Ops.Mul(Heads(q, true), ys), 1);                                    // [B, hd (d2), H, L]
        return Ops.Reshape(Ops.Permute(o, 0, 2, 1, 3), batch, dm, length);
    }

    // ------------------------------------------------------------------ checks

    internal static (int Batch, int ModelWidth, int Length) Check<T>(Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T>? shiftK, Tensor<T>? shiftD,
        Tensor<T> ssmK, Tensor<T>? d, int headDim) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(ssmK);
        if (q.Rank != 3 || q.Dim(0) < 1 || q.Dim(1) < 1 || q.Dim(2) < 1)
            throw new ArgumentException($"q must have shape [B, Dm, L] with B, Dm, L >= 1, got {Shapes.Format(q.Shape)}.", nameof(q));
        Shapes.Same(k, q.Shape, nameof(k));
        Shapes.Same(v, q.Shape, nameof(v));
        int batch = q.Dim(0), dm = q.Dim(1), length = q.Dim(2);
        if (headDim < 1 || dm % headDim != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), $"headDim must divide Dm = {dm}, got {headDim}.");
        int heads = dm / headDim;
        if (ssmK.Rank != 2 || ssmK.Dim(0) != heads || ssmK.Dim(1) < 1)
            throw new ArgumentException($"ssmK must have shape [H = {heads}, Lk] with Lk >= 1, got {Shapes.Format(ssmK.Shape)}.", nameof(ssmK));
        if (d is not null && (d.Rank != 1 || d.Dim(0) != heads))
            throw new ArgumentException($"d must have shape [H = {heads}], got {Shapes.Format(d.Shape)}.", nameof(d));
        if (shiftK is null && shiftD is not null)
            throw new ArgumentException("shiftD is given without shiftK: the shift stage needs its kernel.", nameof(shiftD));
        if (shiftK is not null && (shiftK.Rank != 2 || shiftK.Dim(0) != dm || shiftK.Dim(1) < 1))
            throw new ArgumentException($"shiftK must have shape [Dm = {dm}, Ls] with Ls >= 1, got {Shapes.Format(shiftK.Shape)}.", nameof(shiftK));
        if (shiftD is not null && (shiftD.Rank != 1 || shiftD.Dim(0) != dm))
            throw new ArgumentException($"shiftD must have shape [Dm = {dm}], got {Shapes.Format(shiftD.Shape)}.", nameof(shiftD));
        return (batch, dm, length);
    }
}
