using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;

namespace Reference.Operators;

/// <summary>
/// What the descriptors of the attention-style operators share: per-head operator matrices
/// [B, H, L, L] applied to values, flattened to one matrix per head for ESS, one realization per
/// head, and the q, k, v draws of their conformance cases.
/// </summary>
public static class HeadOperators
{
    /// <summary>The tolerance rationale of every attention-style output.</summary>
    public const string LongReduction =
        "attention is a length-L (and K) reduction per output: float64 reorderings (online softmax, chunked, recurrent) stay ~1e-14; " +
        "1e-12 leaves margin; float32 accumulates ~sqrt(L K) eps32 ~ 1e-6, so 1e-5 (the conventions' float32 bound) still fails a missed term";

    /// <summary>out[b, h] = T[b, h] v[b, h / G] with T [B, H, L, L] and v [B, Hkv, L, V] (G = H / Hkv query heads share a value head).</summary>
    public static Tensor<double> Apply(Tensor<double> t, Tensor<double> v)
    {
        int b = t.Dim(0), h = t.Dim(1), l = t.Dim(2), hkv = v.Dim(1), vd = v.Dim(3);
        int group = h / hkv;
        var o = Tensor<double>.Zeros(b, h, l, vd);
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
            {
                int tBase = (bi * h + hi) * l * l, vBase = (bi * hkv + hi / group) * l * vd, oBase = (bi * h + hi) * l * vd;
                for (int i = 0; i < l; i++)
                    for (int s = 0; s < l; s++)
                    {
                        double w = t.Data[tBase + i * l + s];
                        if (w == 0) continue;
                        for (int j = 0; j < vd; j++) o.Data[oBase + i * vd + j] += w * v.Data[vBase + s * vd + j];
                    }
            }
        return o;
    }

    /// <summary>[B, H, L, L] as one matrix per (batch, head): [B H, L, L].</summary>
    public static Tensor<double> PerHead(Tensor<double> t) => t.Reshape(t.Dim(0) * t.Dim(1), t.Dim(2), t.Dim(3));

    /// <summary>One result per (batch, head) of q [B, H, L, K], batch-major.</summary>
    public static IReadOnlyList<T> ForEachHead<T>(Tensor<double> q, Func<int, int, T> perHead)
    {
        var result = new List<T>(q.Dim(0) * q.Dim(1));
        for (int b = 0; b < q.Dim(0); b++)
            for (int h = 0; h < q.Dim(1); h++) result.Add(perHead(b, h));
        return result;
    }

    /// <summary>q [B, H, L, K], k [B, Hkv, L, K], v [B, Hkv, L, V] drawn in that order (H = params hq, or h).</summary>
    public static NamedArrays DrawQkv(JsonObject p, SplitMix64 rng, int kvHeads)
    {
        int b = p.Int("b"), l = p.Int("l"), k = p.Int("k"), v = p.Int("v");
        int h = p.ContainsKey("hq") ? p.Int("hq") : p.Int("h");
        return new NamedArrays
        {
            ["q"] = CaseInputs.Normal(rng, b, h, l, k),
            ["k"] = CaseInputs.Normal(rng, b, kvHeads, l, k),
            ["v"] = CaseInputs.Normal(rng, b, kvHeads, l, v),
        };
    }
}
