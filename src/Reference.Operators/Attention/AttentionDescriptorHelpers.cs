using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;

namespace Reference.Operators.Attention;

/// <summary>
/// What the attention family's descriptors (SoftmaxAttention, LinearAttention, DecayedLinearAttention)
/// share: the cases of linear and decayed linear attention, the feature-map names of params, and
/// running a decoding step position by position over a [B, H, L, X] sequence.
/// </summary>
internal static class AttentionDescriptorHelpers
{
    /// <summary>The feature map called <paramref name="name"/> in params (identity, elu1, relu, taylor).</summary>
    public static FeatureMap MapOf(string name) => name switch
    {
        "identity" => FeatureMap.Identity,
        "elu1" => FeatureMap.EluPlusOne,
        "relu" => FeatureMap.Relu,
        "taylor" => FeatureMap.Taylor,
        _ => throw new ArgumentException($"map = '{name}', expected identity, elu1, relu or taylor.", "map"),
    };

    /// <summary>Position t of x [B, H, L, X] as [B, H, X] (a copy).</summary>
    public static Tensor<double> At(Tensor<double> x, int t) => x.Slice(2, t, 1).Reshape(x.Dim(0), x.Dim(1), x.Dim(3));

    /// <summary>Writes rows [B, H, n, X] (or one position [B, H, X], n = 1) into o [B, H, L, X] from position <paramref name="start"/>.</summary>
    public static void SetPositions(Tensor<double> o, int start, Tensor<double> rows)
    {
        int heads = o.Dim(0) * o.Dim(1), l = o.Dim(2), x = o.Dim(3), n = rows.Length / (heads * x);
        for (int bh = 0; bh < heads; bh++)
            rows.Data.AsSpan(bh * n * x, n * x).CopyTo(o.Data.AsSpan((bh * l + start) * x, n * x));
    }

    /// <summary>
    /// out [B, H, L, V] from a decoding step called once per position t = 0..L-1 on (q_t, k_t, v_t)
    /// [B, H, K or V], each call returning o_t [B, H, V] (the step carries its own state).
    /// </summary>
    public static Tensor<double> StepLoop(Tensor<double> q, Tensor<double> k, Tensor<double> v,
        Func<Tensor<double>, Tensor<double>, Tensor<double>, Tensor<double>> step)
    {
        var o = Tensor<double>.Zeros(q.Dim(0), q.Dim(1), q.Dim(2), v.Dim(3));
        for (int t = 0; t < q.Dim(2); t++) SetPositions(o, t, step(At(q, t), At(k, t), At(v, t)));
        return o;
    }

    /// <summary>
    /// A case of attention.linear (map set: its params carry map, normalize, scale and eps) or of
    /// attention.decayed_linear (map null: b, h, l, k, v only); the golden manifests hold these params.
    /// </summary>
    public static ConformanceCase Mapped(string id, ulong seed, int h, int l, int k, int v, string? map, bool normalize, params string[] tags) =>
        new(id, seed, map is null
                ? Params.Of(("b", 1), ("h", h), ("l", l), ("k", k), ("v", v))
                : Params.Of(("b", 1), ("h", h), ("l", l), ("k", k), ("v", v), ("map", map), ("normalize", normalize),
                    ("scale", map == "taylor" ? 1.0 : 1.0 / Math.Sqrt(LinearAttention.FeatureDim(MapOf(map), k))),
                    ("eps", new LinearAttentionOptions().Eps)),
            $"B 1, H {h}, L {l}, K {k}, V {v}{(map is null ? "" : $", map {map}{(normalize ? ", normalised" : "")}")}", tags);

    /// <summary>Checks the sample settings every attention-style Sample needs (the ESS catalog's checks).</summary>
    public static void CheckSample(SampleOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.Heads < 1) throw new ArgumentOutOfRangeException(nameof(o), $"Heads = {o.Heads} must be >= 1.");
        if (o.KeyDim < 1) throw new ArgumentOutOfRangeException(nameof(o), $"KeyDim = {o.KeyDim} must be >= 1.");
    }

    /// <summary>Whether params <paramref name="p"/> hold <paramref name="key"/> (an optional parameter).</summary>
    public static bool Has(JsonObject p, string key) => p.ContainsKey(key) && p[key] is not null;
}
