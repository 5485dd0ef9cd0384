// The Fast tier of the H3 layer (see H3.cs for the paper, the glossary and the naive definition):
// float or double, FastGemm projections, TensorPrimitives elementwise work, the Fast causal
// convolution for both SSMs, and a decoding step whose cost does not depend on the position.
using System.Numerics;
using Reference.Core;
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
    public static void StepFast<T>(H3Fast<T> f, H3FastState<T> s, ReadOnlySpan<T> uT, Span<T> y, int maxThreads = 1)
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
        LinearInto(uT, f.Wq, f.Bq, batch, dm, s.Q, maxThreads);
        LinearInto(uT, f.Wk, f.Bk, batch, dm, s.K, maxThreads);
        LinearInto(uT, f.Wv, f.Bv, batch, dm, s.V, maxThreads);

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
        LinearInto(s.O, f.Wo, f.Bo, batch, dm, y, maxThreads);
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
