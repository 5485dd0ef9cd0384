// The H3 layer ("Hungry Hungry Hippos"): two stacked SSMs with multiplicative interactions, built to
// recall tokens (associative recall) and compare them (induction heads).
//
// Paper: H3, Fu, Dao et al., arXiv:2212.14052, Sec. 3.2 and Algorithm 1:
//   Q = u W_Q, K = u W_K, V = u W_V                       (three affine projections)
//   Kbar = SSM_shift(K)                                   (shift SSM + skip, see ShiftSsm.cs)
//   for each head h: KV_h = Kbar_h^T V_h  per position    (outer product over the head, hd x hd)
//   Y_h = SSM_diag(KV_h)                                  (S4D, bilinear by default, + skip D)
//   O_h = Q_h^T Y_h  per position                         (contract over d1)
//   output = O W_O                                        (output projection)
// With head_dim hd = 1 this is y = q . SSM_diag(SSM_shift(k) . v), the gated convolution whose
// operator matrix (for a fixed input) is diag(q) T_ssm diag(kbar) acting on v.
// Recurrent generation (Sec. 3.3): a shift register of N per channel for the shift SSM plus the
// diagonal state hd^2 x N (reals) per head, updated once per token in O(1) time in L.
//
// Glossary (code -> paper):
//   u, y [B, L, Dm]        layer input and output (Dm = d_model, token-major as in the paper)
//   Wq/Wk/Wv/Wo [Dm, Dm]   projection weights in PyTorch Linear convention y = x W^T + b; Bq/Bk/Bv/Bo biases
//   q, k, v, kbar [B, Dm, L] channel-major; channel index h*hd + d (head-major)
//   kv, ys [B, hd, hd, H, L] kv[b, d1, d2, h, l] = kbar[b, h*hd+d1, l] v[b, h*hd+d2, l]; ys = S4D(kv)
//   o [B, Dm, L]           o[b, h*hd+d2, l] = sum_d1 q[b, h*hd+d1, l] ys[b, d1, d2, h, l]
//   Shift                  shift SSM over Dm channels (state N per channel)
//   Ssm                    S4D over H = Dm/hd channels (N/2 complex modes = N reals per head copy)
//
// Deliberate simplifications / pinned conventions: the output of the heads is flattened head-major
// (h d2), as docs/operators.md states (the reference implementation's non-fused path flattens (d2 h); the two
// differ by a permutation of W_O's input columns); no dropout; the S4D kernel spans the whole
// sequence (l_max = None).
using System.Numerics;
using Reference.Core;
using Reference.Core.Linear;

namespace Reference.Operators.StateSpace;

/// <summary>H3 layer parameters (all float64 arrays; weights [Dm, Dm] row-major, out x in).</summary>
public sealed record H3Parameters(
    int ModelWidth, int HeadDim, int StateSize,
    double[] Wq, double[] Bq, double[] Wk, double[] Bk, double[] Wv, double[] Bv,
    ShiftSsmParameters Shift, S4DParameters Ssm, double[] Wo, double[] Bo,
    Discretization Method = Discretization.Bilinear)
{
    public int Heads => ModelWidth / HeadDim;

    /// <summary>
    /// Seeded init: Linear weights and biases ~ U(-1/sqrt(Dm), 1/sqrt(Dm)) (PyTorch's default), the
    /// shift SSM with B = e1 and C by <paramref name="shiftInit"/>, S4D with the given init over H heads.
    /// </summary>
    public static H3Parameters Initialize(SplitMix64 rng, int modelWidth, int headDim = 1, int stateSize = 64,
        S4DInit init = S4DInit.Lin, Discretization method = Discretization.Bilinear, ShiftSsmInit shiftInit = ShiftSsmInit.Normal)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(modelWidth, 1, nameof(modelWidth));
        if ((long)modelWidth * modelWidth > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(modelWidth), $"modelWidth = {modelWidth}: the {modelWidth} x {modelWidth} projections exceed the largest array ({Array.MaxLength} elements).");
        if (headDim < 1 || modelWidth % headDim != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), $"headDim must divide modelWidth = {modelWidth}, got {headDim}.");
        double bound = 1.0 / Math.Sqrt(modelWidth);
        double[] Draw(int count)
        {
            var a = new double[count];
            rng.FillUniform<double>(a, -bound, bound);
            return a;
        }
        int dm = modelWidth;
        var wq = Draw(dm * dm); var bq = Draw(dm);
        var wk = Draw(dm * dm); var bk = Draw(dm);
        var wv = Draw(dm * dm); var bv = Draw(dm);
        var shift = ShiftSsmParameters.Initialize(rng, dm, stateSize, shiftInit);
        var ssm = S4DParameters.Initialize(rng, dm / headDim, stateSize, init);
        var wo = Draw(dm * dm); var bo = Draw(dm);
        return new H3Parameters(dm, headDim, stateSize, wq, bq, wk, bk, wv, bv, shift, ssm, wo, bo, method);
    }

    internal void Validate(string argument)
    {
        int dm = ModelWidth;
        if (dm < 1 || HeadDim < 1 || dm % HeadDim != 0 || Wq.Length != dm * dm || Wk.Length != dm * dm || Wv.Length != dm * dm
            || Wo.Length != dm * dm || Bq.Length != dm || Bk.Length != dm || Bv.Length != dm || Bo.Length != dm
            || Shift.Channels != dm || Ssm.Channels != dm / HeadDim)
            throw new ArgumentException(
                $"parameters must hold [Dm, Dm] weights, [Dm] biases, a shift SSM over Dm and an S4D over H = Dm/hd channels (Dm = {dm}, hd = {HeadDim}).",
                argument);
    }
}

/// <summary>The intermediate sequences of one forward pass (channel-major [B, Dm, L] or [B*hd*hd, H, L]).</summary>
public sealed record H3Intermediates(
    Tensor<double> Q, Tensor<double> K, Tensor<double> V, Tensor<double> KBar, Tensor<double> KV,
    Tensor<double> Ys, Tensor<double> O, Tensor<double> Output);

/// <summary>Gradients of the H3 layer, one array per parameter plus du [B, L, Dm].</summary>
public sealed record H3Gradients(
    Tensor<double> Input,
    double[] Wq, double[] Bq, double[] Wk, double[] Bk, double[] Wv, double[] Bv,
    ShiftSsmGradients Shift, S4DGradients Ssm, double[] Wo, double[] Bo);

/// <summary>Recurrent state: the shift register [B*Dm, N] and the diagonal state [B*hd*hd*H, N/2] complex.</summary>
public sealed class H3State
{
    internal H3State(ShiftSsmState shift, S4DState ssm, int batch)
    {
        Shift = shift;
        Ssm = ssm;
        Batch = batch;
    }

    public int Batch { get; }

    public ShiftSsmState Shift { get; }

    public S4DState Ssm { get; }
}

public static partial class H3
{
    // ------------------------------------------------------------------ parallel form (Naive)

    /// <summary>The layer on u [B, L, Dm] (float64, NaiveGemm projections, direct-sum convolutions).</summary>
    public static Tensor<double> Forward(H3Parameters p, Tensor<double> u) => ForwardWithIntermediates(p, u).Output;

    /// <summary><see cref="Forward"/>, keeping every intermediate (used by Backward and Materialize).</summary>
    public static H3Intermediates ForwardWithIntermediates(H3Parameters p, Tensor<double> u)
    {
        var (batch, _) = CheckInput(p, u);
        return Run(p, u,
            k => ShiftSsm.Forward(p.Shift, k),
            kv => S4D.Forward(p.Ssm, kv, p.Method), batch);
    }

    // ------------------------------------------------------------------ recurrent form

    public static H3State InitialState(H3Parameters p, int batch)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1, nameof(batch));
        int hd = p.HeadDim;
        return new H3State(ShiftSsm.InitialState(p.Shift, batch * p.ModelWidth),
            S4D.InitialState(p.Ssm, batch * hd * hd * p.Heads), batch);
    }

    /// <summary>A chunk u [B, Lc, Dm] with carried state (both SSMs pass their state across chunks).</summary>
    public static Tensor<double> ForwardChunk(H3Parameters p, H3State state, Tensor<double> u)
    {
        var (batch, _) = CheckInput(p, u);
        CheckState(state, batch);
        return Run(p, u,
            k => ShiftSsm.ForwardChunk(p.Shift, state.Shift, k),
            kv => S4D.ForwardChunk(p.Ssm, state.Ssm, kv, p.Method), batch).Output;
    }

    /// <summary>Prefill: the parallel output of u [B, L, Dm] and the state after it.</summary>
    public static (Tensor<double> Output, H3State State) Prefill(H3Parameters p, Tensor<double> u)
    {
        var (batch, _) = CheckInput(p, u);
        var state = InitialState(p, batch);
        return (ForwardChunk(p, state, u), state);
    }

    /// <summary>One token uT [B, Dm] -> y_t [B, Dm]: shift register step, outer product, diagonal SSM step, gate, projection.</summary>
    public static Tensor<double> Step(H3Parameters p, H3State state, Tensor<double> uT)
    {
        ArgumentNullException.ThrowIfNull(uT);
        if (uT.Rank != 2 || uT.Dim(1) != p.ModelWidth)
            throw new ArgumentException($"uT must have shape [B, {p.ModelWidth}], got {Shapes.Format(uT.Shape)}.", nameof(uT));
        CheckState(state, uT.Dim(0));
        var u = uT.Reshape(uT.Dim(0), 1, p.ModelWidth);
        var y = Run(p, u,
            k => new Tensor<double>(ShiftSsm.Step(p.Shift, state.Shift, k.Data), k.ShapeArray),
            kv => new Tensor<double>(S4D.Step(p.Ssm, state.Ssm, kv.Data, p.Method), kv.ShapeArray), uT.Dim(0)).Output;
        return y.Reshape(uT.Dim(0), p.ModelWidth);
    }

    // ------------------------------------------------------------------ operator matrix

    /// <summary>
    /// The gated operator for a given input u [L, Dm] (one sequence): T [Dm, L, L] maps channel
    /// c = h*hd + d2 of v to the same channel of the pre-projection output o:
    /// T[c, i, j] = (sum_d1 q[h*hd+d1, i] kbar[h*hd+d1, j]) T_ssm[h, i, j]  (diag(q) T_ssm diag(kbar) for hd = 1).
    /// </summary>
    public static Tensor<double> Materialize(H3Parameters p, Tensor<double> u)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 2)
            throw new ArgumentException($"u must have shape [L, Dm] (one sequence), got {Shapes.Format(u.Shape)}.", nameof(u));
        int length = u.Dim(0), dm = p.ModelWidth, hd = p.HeadDim;
        var inter = ForwardWithIntermediates(p, u.Reshape(1, length, dm));
        var ssm = S4D.Materialize(p.Ssm, length, p.Method);
        var t = Tensor<double>.Zeros(dm, length, length);
        for (int h = 0; h < p.Heads; h++)
            for (int i = 0; i < length; i++)
                for (int j = 0; j <= i; j++)
                {
                    double gate = 0.0;
                    for (int d1 = 0; d1 < hd; d1++)
                        gate += inter.Q.Data[(h * hd + d1) * length + i] * inter.KBar.Data[(h * hd + d1) * length + j];
                    double value = gate * ssm.Data[(h * length + i) * length + j];
                    for (int d2 = 0; d2 < hd; d2++) t.Data[((h * hd + d2) * length + i) * length + j] = value;
                }
        return t;
    }

    // ------------------------------------------------------------------ backward

    /// <summary>
    /// Hand-written VJP, stage by stage in reverse: output projection, gate (dq, dys), S4D (dkv and
    /// its parameters), outer product (dkbar, dv), shift SSM (dk and its parameters), projections.
    /// </summary>
    public static H3Gradients Backward(H3Parameters p, Tensor<double> u, Tensor<double> dy)
    {
        var (batch, length) = CheckInput(p, u);
        Shapes.Same(dy, u.Shape, nameof(dy));
        int dm = p.ModelWidth, hd = p.HeadDim, heads = p.Heads, rows = batch * length;
        var it = ForwardWithIntermediates(p, u);

        // output = o^T Wo^T + bo (token-major o).
        var oTok = ChannelToToken(it.O, batch, dm, length);
        var (doTok, dWo, dBo) = LinearBackward(oTok, p.Wo, dy.Data, rows, dm);
        var dO = TokenToChannel(doTok, batch, dm, length);

        // o[b, h hd + d2, l] = sum_d1 q[b, h hd + d1, l] ys[b, d1, d2, h, l].
        var dq = new double[it.Q.Length];
        var dys = Tensor<double>.Zeros(it.Ys.ShapeArray);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int d1 = 0; d1 < hd; d1++)
                    for (int d2 = 0; d2 < hd; d2++)
                    {
                        int ys = ((((b * hd + d1) * hd + d2) * heads) + h) * length;
                        int qc = (b * dm + h * hd + d1) * length, oc = (b * dm + h * hd + d2) * length;
                        for (int l = 0; l < length; l++)
                        {
                            dq[qc + l] += dO[oc + l] * it.Ys.Data[ys + l];
                            dys.Data[ys + l] = dO[oc + l] * it.Q.Data[qc + l];
                        }
                    }

        var ssmGrads = S4D.Backward(p.Ssm, it.KV, dys, p.Method);

        // kv[b, d1, d2, h, l] = kbar[b, h hd + d1, l] v[b, h hd + d2, l].
        var dkbar = Tensor<double>.Zeros(it.KBar.ShapeArray);
        var dv = new double[it.V.Length];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int d1 = 0; d1 < hd; d1++)
                    for (int d2 = 0; d2 < hd; d2++)
                    {
                        int kv = ((((b * hd + d1) * hd + d2) * heads) + h) * length;
                        int kc = (b * dm + h * hd + d1) * length, vc = (b * dm + h * hd + d2) * length;
                        for (int l = 0; l < length; l++)
                        {
                            double g = ssmGrads.Input.Data[kv + l];
                            dkbar.Data[kc + l] += g * it.V.Data[vc + l];
                            dv[vc + l] += g * it.KBar.Data[kc + l];
                        }
                    }

        var shiftGrads = ShiftSsm.Backward(p.Shift, it.K, dkbar);

        var uRows = u.Data;
        var (duQ, dWq, dBq) = LinearBackward(uRows, p.Wq, ChannelToToken(new Tensor<double>(dq, it.Q.ShapeArray), batch, dm, length), rows, dm);
        var (duK, dWk, dBk) = LinearBackward(uRows, p.Wk, ChannelToToken(shiftGrads.Input, batch, dm, length), rows, dm);
        var (duV, dWv, dBv) = LinearBackward(uRows, p.Wv, ChannelToToken(new Tensor<double>(dv, it.V.ShapeArray), batch, dm, length), rows, dm);
        var du = Tensor<double>.Zeros(u.ShapeArray);
        for (int i = 0; i < du.Length; i++) du.Data[i] = duQ[i] + duK[i] + duV[i];
        return new H3Gradients(du, dWq, dBq, dWk, dBk, dWv, dBv, shiftGrads, ssmGrads, dWo, dBo);
    }

    // ------------------------------------------------------------------ shared pipeline

    private static H3Intermediates Run(H3Parameters p, Tensor<double> u,
        Func<Tensor<double>, Tensor<double>> shift, Func<Tensor<double>, Tensor<double>> ssm, int batch)
    {
        int dm = p.ModelWidth, hd = p.HeadDim, heads = p.Heads, length = u.Dim(1), rows = batch * length;
        var q = TokenToChannelTensor(Linear(u.Data, p.Wq, p.Bq, rows, dm), batch, dm, length);
        var k = TokenToChannelTensor(Linear(u.Data, p.Wk, p.Bk, rows, dm), batch, dm, length);
        var v = TokenToChannelTensor(Linear(u.Data, p.Wv, p.Bv, rows, dm), batch, dm, length);
        var kbar = shift(k);

        var kv = Tensor<double>.Zeros(batch * hd * hd, heads, length);
        for (int b = 0; b < batch; b++)
            for (int d1 = 0; d1 < hd; d1++)
                for (int d2 = 0; d2 < hd; d2++)
                    for (int h = 0; h < heads; h++)
                    {
                        int dst = ((((b * hd + d1) * hd + d2) * heads) + h) * length;
                        int kc = (b * dm + h * hd + d1) * length, vc = (b * dm + h * hd + d2) * length;
                        for (int l = 0; l < length; l++) kv.Data[dst + l] = kbar.Data[kc + l] * v.Data[vc + l];
                    }
        var ys = ssm(kv);

        // Gate, contracting over d1 in ascending order; output channel h hd + d2 (head-major).
        var o = Tensor<double>.Zeros(batch, dm, length);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int d2 = 0; d2 < hd; d2++)
                {
                    int oc = (b * dm + h * hd + d2) * length;
                    for (int l = 0; l < length; l++)
                    {
                        double acc = 0.0;
                        for (int d1 = 0; d1 < hd; d1++)
                            acc += q.Data[(b * dm + h * hd + d1) * length + l] * ys.Data[((((b * hd + d1) * hd + d2) * heads) + h) * length + l];
                        o.Data[oc + l] = acc;
                    }
                }

        var output = new Tensor<double>(Linear(ChannelToToken(o, batch, dm, length), p.Wo, p.Bo, rows, dm), batch, length, dm);
        return new H3Intermediates(q, k, v, kbar, kv, ys, o, output);
    }

    /// <summary>x [rows, Dm] W^T + b with NaiveGemm (float64, documented order).</summary>
    private static double[] Linear(double[] x, double[] w, double[] bias, int rows, int dm)
    {
        var y = new double[rows * dm];
        NaiveGemm.Multiply(false, true, rows, dm, dm, 1.0, x, dm, w, dm, 0.0, y, dm);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < dm; j++) y[r * dm + j] += bias[j];
        return y;
    }

    /// <summary>For y = x W^T + b: dx = dy W, dW = dy^T x, db = sum over rows of dy.</summary>
    private static (double[] Dx, double[] Dw, double[] Db) LinearBackward(double[] x, double[] w, double[] dy, int rows, int dm)
    {
        var dx = new double[rows * dm];
        var dw = new double[dm * dm];
        var db = new double[dm];
        NaiveGemm.Multiply(false, false, rows, dm, dm, 1.0, dy, dm, w, dm, 0.0, dx, dm);
        NaiveGemm.Multiply(true, false, dm, dm, rows, 1.0, dy, dm, x, dm, 0.0, dw, dm);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < dm; j++) db[j] += dy[r * dm + j];
        return (dx, dw, db);
    }

    private static Tensor<double> TokenToChannelTensor(double[] tokens, int batch, int dm, int length) =>
        new(TokenToChannel(tokens, batch, dm, length), batch, dm, length);

    /// <summary>[B, L, Dm] -> [B, Dm, L].</summary>
    private static double[] TokenToChannel(double[] tokens, int batch, int dm, int length)
    {
        var c = new double[tokens.Length];
        for (int b = 0; b < batch; b++)
            for (int l = 0; l < length; l++)
                for (int j = 0; j < dm; j++) c[(b * dm + j) * length + l] = tokens[(b * length + l) * dm + j];
        return c;
    }

    /// <summary>[B, Dm, L] -> [B, L, Dm].</summary>
    private static double[] ChannelToToken(Tensor<double> channels, int batch, int dm, int length)
    {
        var t = new double[channels.Length];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < dm; j++)
                for (int l = 0; l < length; l++) t[(b * length + l) * dm + j] = channels.Data[(b * dm + j) * length + l];
        return t;
    }

    private static (int Batch, int Length) CheckInput<T>(H3Parameters p, Tensor<T> u) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(u);
        if (u.Rank != 3 || u.Dim(2) != p.ModelWidth || u.Dim(0) < 1 || u.Dim(1) < 1)
            throw new ArgumentException($"u must have shape [B, L, {p.ModelWidth}] with B, L >= 1, got {Shapes.Format(u.Shape)}.", nameof(u));
        return (u.Dim(0), u.Dim(1));
    }

    private static void CheckState(H3State state, int batch)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Batch != batch)
            throw new ArgumentException($"state was made for batch {state.Batch}, the input has batch {batch}.", nameof(state));
    }

    /// <summary>
    /// The diagonal realization of channel c = h hd + d2 of sequence b of the gated operator <see cref="Materialize"/>
    /// (v -> o), from the intermediates of a forward pass on that input: for each d1 &lt; hd a copy of head h's S4D
    /// modes with a_t = Abar_n, b_t = Bbar_n kbar[h hd + d1, t], c_t = 2 C_n q[h hd + d1, t] (hd M complex modes), and
    /// skip_t = D_h sum_d1 q[h hd + d1, t] kbar[h hd + d1, t]; T[i, j] = (sum_d1 q[d1, i] kbar[d1, j]) T_ssm[h, i, j].
    /// </summary>
    public static DiagonalRealization Realize(H3Parameters p, H3Intermediates intermediates, int batch, int channel)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(intermediates);
        int dm = p.ModelWidth, hd = p.HeadDim, length = intermediates.Q.Dim(-1), modes = p.Ssm.Modes;
        if ((uint)channel >= (uint)dm)
            throw new ArgumentOutOfRangeException(nameof(channel), $"channel must be in [0, {dm}), got {channel}.");
        if ((uint)batch >= (uint)intermediates.Q.Dim(0))
            throw new ArgumentOutOfRangeException(nameof(batch), $"batch must be in [0, {intermediates.Q.Dim(0)}), got {batch}.");
        int h = channel / hd, width = hd * modes;
        var ssm = S4D.Realize(p.Ssm, h, length, p.Method);
        var a = new Complex[length * width];
        var b = new Complex[length * width];
        var c = new Complex[length * width];
        var skip = new double[length];
        for (int t = 0; t < length; t++)
        {
            double gate = 0.0;
            for (int d1 = 0; d1 < hd; d1++)
            {
                int row = (batch * dm + h * hd + d1) * length + t;
                double q = intermediates.Q.Data[row], kbar = intermediates.KBar.Data[row];
                gate += q * kbar;
                for (int n = 0; n < modes; n++)
                {
                    int from = t * modes + n, to = t * width + d1 * modes + n;
                    a[to] = new Complex(ssm.Transition[from], ssm.TransitionImag![from]);
                    b[to] = kbar * new Complex(ssm.Input[from], ssm.InputImag![from]);
                    c[to] = q * new Complex(ssm.Readout[from], ssm.ReadoutImag![from]);
                }
            }
            skip[t] = p.Ssm.D[h] * gate;
        }
        return DiagonalRealization.Complex(length, width, a, b, c, skip);
    }
}
