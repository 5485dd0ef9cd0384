using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Autodiff;

/// <summary>
/// One LSTM layer over a whole sequence as one fused primitive (Hochreiter and Schmidhuber 1997 with
/// the forget gate of Gers et al. 2000; torch.nn.LSTM's equations, gate order i, f, g, o).
/// Shapes (batch first): x [B, T, I], W_ih [4H, I], W_hh [4H, H], b_ih, b_hh [4H] or null,
/// h0, c0 [B, H] or null (zeros); outputs out [B, T, H], h_T [B, H], c_T [B, H].
/// <para>Recurrent form, for t = 0..T-1 (or T-1..0 when <c>reverse</c>, the backward direction of a
/// bidirectional LSTM, whose outputs stay at their own positions t):
/// <code>
///   a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          [4H] = (a_i, a_f, a_g, a_o)
///   i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
///   c_t = f c_{t-1} + i g          h_t = o tanh(c_t)          out[:, t] = h_t
/// </code></para>
/// <para>Backward through time (G_t = dL/dout_t; the carries dh, dc start at dL/dh_T, dL/dc_T and run
/// from the last processed step to the first):
/// <code>
///   dh   = G_t + dh_carry
///   dc   = dc_carry + dh o (1 - tanh^2 c_t)
///   da_o = dh tanh(c_t) o (1 - o)      da_i = dc g i (1 - i)
///   da_f = dc c_{t-1} f (1 - f)        da_g = dc i (1 - g^2)
///   dc_carry = dc f                    dh_carry = W_hh^T da_t
///   dx_t = W_ih^T da_t     dW_ih += da_t x_t^T     dW_hh += da_t h_{t-1}^T     db_ih = db_hh = sum_t da_t
/// </code>
/// and dh0, dc0 are the carries after the first processed step.</para>
/// Matrix form used for both tiers: the input projections of all steps are one GEMM
/// X_g [B T, 4H] = X W_ih^T + b_ih before the recurrence; each step adds h_{t-1} W_hh^T (a [B, H] x
/// [H, 4H] GEMM); after the recurrence dX = dA W_ih, dW_ih = dA^T X and dW_hh = dA^T H_prev are one
/// GEMM each over the stacked gate cotangents dA [B T, 4H] and previous states H_prev [B T, H].
/// Tier: NaiveGemm and NaiveActivations (the definitions), or FastGemm and FastActivations inside
/// <see cref="Tape.UseFastKernels"/>; the O(B H) cell update per step is the same scalar loop in
/// both. Its independent check is a step-by-step composition of the equations above from tape
/// primitives (spec tests).
/// </summary>
public static partial class Ops
{
    public static Variable[] Lstm(Variable x, Variable wIh, Variable wHh, Variable? bIh, Variable? bHh,
        Variable? h0 = null, Variable? c0 = null, bool reverse = false)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(wIh);
        ArgumentNullException.ThrowIfNull(wHh);
        if (x.Rank != 3) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [B, T, I].", nameof(x));
        int bsz = x.Shape[0], len = x.Shape[1], inF = x.Shape[2];
        if (wHh.Rank != 2 || wHh.Shape[0] != 4 * wHh.Shape[1] || wHh.Shape[1] == 0)
            throw new ArgumentException($"wHh has shape {Shapes.Format(wHh.Shape)}, expected [4H, H] with H >= 1.", nameof(wHh));
        int hid = wHh.Shape[1], g4 = 4 * hid;
        if (wIh.Rank != 2 || wIh.Shape[0] != g4 || wIh.Shape[1] != inF)
            throw new ArgumentException($"wIh has shape {Shapes.Format(wIh.Shape)}, expected [{g4}, {inF}].", nameof(wIh));
        CheckVector(bIh, g4, nameof(bIh));
        CheckVector(bHh, g4, nameof(bHh));
        foreach (var (v, name) in new[] { (h0, nameof(h0)), (c0, nameof(c0)) })
            if (v is not null && (v.Rank != 2 || v.Shape[0] != bsz || v.Shape[1] != hid))
                throw new ArgumentException($"{name} has shape {Shapes.Format(v.Shape)}, expected [{bsz}, {hid}].", name);

        bool fast = Tape.FastKernels;
        int rows = bsz * len;
        var xs = x.Value.Data;
        var wi = wIh.Value.Data;
        var wh = wHh.Value.Data;

        // X_g = X W_ih^T + b_ih for every (b, t), row b T + t.
        var xg = new double[rows * g4];
        if (bIh is not null) for (int r = 0; r < rows; r++) bIh.Value.Data.CopyTo(xg, r * g4);
        if (rows > 0 && inF > 0) GemmRaw(false, true, rows, g4, inF, xs, inF, wi, inF, bIh is null ? 0.0 : 1.0, xg, g4);

        var acts = new double[rows * g4];      // (i, f, g, o) after the nonlinearities, row b T + t
        var tcs = new double[rows * hid];      // tanh(c_t)
        var hPrev = new double[rows * hid];    // h_{t-1} as seen by step t
        var cPrev = new double[rows * hid];    // c_{t-1}
        var outY = TensorArena.Zeros(bsz, len, hid);
        var h = h0 is null ? new double[bsz * hid] : (double[])h0.Value.Data.Clone();
        var c = c0 is null ? new double[bsz * hid] : (double[])c0.Value.Data.Clone();
        var gates = new double[bsz * g4];
        for (int step = 0; step < len; step++)
        {
            int t = reverse ? len - 1 - step : step;
            for (int b = 0; b < bsz; b++)
            {
                var row = gates.AsSpan(b * g4, g4);
                xg.AsSpan((b * len + t) * g4, g4).CopyTo(row);
                if (bHh is not null) TensorPrimitives.Add(row, bHh.Value.Data, row);
            }
            GemmRaw(false, true, bsz, g4, hid, h, hid, wh, hid, 1.0, gates, g4);
            for (int b = 0; b < bsz; b++)
            {
                int r = b * len + t;
                var a = acts.AsSpan(r * g4, g4);
                var pre = gates.AsSpan(b * g4, g4);
                if (fast)
                {
                    FastActivations.Sigmoid<double>(pre[..(2 * hid)], a[..(2 * hid)]);
                    FastActivations.Tanh<double>(pre.Slice(2 * hid, hid), a.Slice(2 * hid, hid));
                    FastActivations.Sigmoid<double>(pre[(3 * hid)..], a[(3 * hid)..]);
                }
                else
                {
                    NaiveActivations.Sigmoid(pre[..(2 * hid)], a[..(2 * hid)]);
                    NaiveActivations.Tanh(pre.Slice(2 * hid, hid), a.Slice(2 * hid, hid));
                    NaiveActivations.Sigmoid(pre[(3 * hid)..], a[(3 * hid)..]);
                }
                h.AsSpan(b * hid, hid).CopyTo(hPrev.AsSpan(r * hid, hid));
                c.AsSpan(b * hid, hid).CopyTo(cPrev.AsSpan(r * hid, hid));
                for (int j = 0; j < hid; j++)
                {
                    double ct = a[hid + j] * c[b * hid + j] + a[j] * a[2 * hid + j];
                    double tc = Math.Tanh(ct);
                    c[b * hid + j] = ct;
                    h[b * hid + j] = a[3 * hid + j] * tc;
                    tcs[r * hid + j] = tc;
                }
                h.AsSpan(b * hid, hid).CopyTo(outY.Data.AsSpan(r * hid, hid));
            }
        }
        var hT = new Tensor<double>(h, [bsz, hid]);
        var cT = new Tensor<double>(c, [bsz, hid]);

        var inputs = new List<Variable> { x, wIh, wHh };
        if (bIh is not null) inputs.Add(bIh);
        if (bHh is not null) inputs.Add(bHh);
        if (h0 is not null) inputs.Add(h0);
        if (c0 is not null) inputs.Add(c0);
        return Function.Apply(reverse ? "lstm_reverse" : "lstm", [.. inputs], [outY, hT, cT], grads =>
        {
            var gOut = grads[0].Data;
            var dh = (double[])grads[1].Data.Clone();
            var dc = (double[])grads[2].Data.Clone();
            var dA = new double[rows * g4];
            var dAt = new double[bsz * g4];
            for (int step = len - 1; step >= 0; step--)
            {
                int t = reverse ? len - 1 - step : step;
                for (int b = 0; b < bsz; b++)
                {
                    int r = b * len + t;
                    for (int j = 0; j < hid; j++)
                    {
                        int k = r * g4;
                        double ig = acts[k + j], fg = acts[k + hid + j], gg = acts[k + 2 * hid + j], og = acts[k + 3 * hid + j];
                        double tc = tcs[r * hid + j];
                        double dhj = dh[b * hid + j] + gOut[r * hid + j];
                        double dcj = dc[b * hid + j] + dhj * og * (1 - tc * tc);
                        dA[k + j] = dcj * gg * ig * (1 - ig);
                        dA[k + hid + j] = dcj * cPrev[r * hid + j] * fg * (1 - fg);
                        dA[k + 2 * hid + j] = dcj * ig * (1 - gg * gg);
                        dA[k + 3 * hid + j] = dhj * tc * og * (1 - og);
                        dc[b * hid + j] = dcj * fg;
                    }
                    dA.AsSpan(r * g4, g4).CopyTo(dAt.AsSpan(b * g4, g4));
                }
                GemmRaw(false, false, bsz, hid, g4, dAt, g4, wh, hid, 0.0, dh, hid);
            }
            var gx = TensorArena.Zeros(bsz, len, inF);
            var gwi = TensorArena.Zeros(g4, inF);
            var gwh = TensorArena.Zeros(g4, hid);
            if (rows > 0 && inF > 0)
            {
                if (x.RequiresGrad) GemmRaw(false, false, rows, inF, g4, dA, g4, wi, inF, 0.0, gx.Data, inF);
                if (wIh.RequiresGrad) GemmRaw(true, false, g4, inF, rows, dA, g4, xs, inF, 0.0, gwi.Data, inF);
            }
            if (rows > 0 && wHh.RequiresGrad) GemmRaw(true, false, g4, hid, rows, dA, g4, hPrev, hid, 0.0, gwh.Data, hid);
            var gb = TensorArena.Zeros(g4);
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(gb.Data, dA.AsSpan(r * g4, g4), gb.Data);
            var result = new List<Tensor<double>?> { gx, gwi, gwh };
            if (bIh is not null) result.Add(gb);
            if (bHh is not null) result.Add(gb);
            if (h0 is not null) result.Add(new Tensor<double>(dh, [bsz, hid]));
            if (c0 is not null) result.Add(new Tensor<double>(dc, [bsz, hid]));
            return [.. result];
        });
    }
}
