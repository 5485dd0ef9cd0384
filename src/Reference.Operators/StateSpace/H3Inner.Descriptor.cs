using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Operators.Convolution;

namespace Reference.Operators.StateSpace;

public static partial class H3Inner
{
    /// <summary>The registry entry of the H3 inner op with given kernels ("ssm.h3_inner").</summary>
    public static OperatorDescriptor Descriptor { get; } = new()
    {
        Name = "ssm.h3_inner",
        Version = 1,
        Title = "H3 inner op with given SSM kernels (fftconv_h3_ref)",
        Paper = "Fu, Dao et al., Hungry Hungry Hippos (arXiv:2212.14052), Sec. 3.2 and Algorithm 1 (between the projections and W_O), " +
            "Sec. 4 (FlashConv); conventions of H3's fftconv_h3_ref (HazyResearch/H3, src/ops/fftconv.py) and of the module's shift stage",
        File = "src/Reference.Operators/StateSpace/H3Inner.cs",
        Summary = "y[B x Dm x L]: kbar = shift_k * k + shift_d k (when shift_k is given, else kbar = k); kv[b, d1, d2, h] = kbar[b, h hd + d1] " +
            "v[b, h hd + d2]; ys = ssm_k[h] * kv + d[h] kv (causal); y[b, h hd + d2] = sum_d1 q[b, h hd + d1] ys[b, d1, d2, h]",
        Parameters =
        [
            new("batch", "int", "-", "batch B"),
            new("width", "int", "-", "model width Dm (channels of q, k, v)"),
            new("length", "int", "-", "length L"),
            new("head_dim", "int", "-", "head dimension hd (divides Dm; H = Dm / hd heads)"),
            new("shift_length", "int", "-", "taps Ls of the given shift kernel; 0: no shift stage (kbar = k, fftconv_h3_ref alone)"),
            new("kernel_length", "int", "-", "taps Lk of the given diagonal SSM kernel (taps at lags >= L never act)"),
            new("skip", "bool", "true", "whether the case draws the skips shift_d and d (false: both D = 0)"),
        ],
        Inputs =
        [
            new("q", "[B, Dm, L]", "query projection, channel-major, channel h hd + d"),
            new("k", "[B, Dm, L]", "key projection (input of the shift stage)"),
            new("v", "[B, Dm, L]", "value projection"),
            new("shift_k", "[Dm, Ls]", "shift SSM kernel: tap j acts on lag j", Optional: true),
            new("shift_d", "[Dm]", "shift SSM skip D (absent: 0)", Optional: true),
            new("ssm_k", "[H, Lk]", "diagonal SSM kernel per head: tap j acts on lag j"),
            new("d", "[H]", "diagonal SSM skip D (absent: 0)", Optional: true),
        ],
        Outputs = [new("y", "[B, Dm, L]", "the inner op's output, before H3's output projection (fftconv_h3_ref's return value)")],
        NaiveEntry = "H3Inner.Forward(q, k, v, shiftK, shiftD, ssmK, d, headDim)",
        Naive = (p, x) => NamedTensors.Outputs(("y", Forward(x.Double("q"), x.Double("k"), x.Double("v"), Opt(x, "shift_k"), Opt(x, "shift_d"),
            x.Double("ssm_k"), Opt(x, "d"), p.Int("head_dim")))),
        FastEntry = "H3Inner.ForwardFast<T>(q, k, v, shiftK, shiftD, ssmK, d, headDim) (float32, float64; both convolutions by CausalConvolution.ForwardFast)",
        Fast = (p, x, precision) => precision == Precision.Float32 ? FastOut<float>(p, x) : FastOut<double>(p, x),
        Forms =
        [
            new("recurrent", "H3Inner.InitialState(B, Dm, hd, Ls, Lk), then H3Inner.Step(state, q_t, k_t, v_t, ...) per token",
                (p, x) => NamedTensors.Outputs(("y", Recurrent(p, x))), "y"),
            new("materialized T v", "H3Inner.Materialize(q, k, shiftK, shiftD, ssmK, d, hd) [B Dm, L, L], then T v per row",
                (p, x) => NamedTensors.Outputs(("y", OperatorMatrices.Apply(MaterializeRows(p, x), x.Double("v")))), "y"),
            new("FFT of size 2L (fftconv_h3_ref)", "both convolutions by direct complex DFT sums of size 2L on the first L taps, " +
                "as the reference path evaluates them", (p, x) => NamedTensors.Outputs(("y", Spectral(p, x))), "y"),
        ],
        MaterializeEntry = "H3Inner.Materialize(q, k, shiftK, shiftD, ssmK, d, hd) [B Dm, L, L]: the linear map v -> y for fixed q, k",
        Materialize = MaterializeRows,
        StepEntry = "H3Inner.Step(state, q_t, k_t, v_t, shiftK, shiftD, ssmK, d, hd)",
        State = "H3InnerState: the shift stage's input history [B Dm, Ls - 1] and the diagonal stage's [B hd hd H, Lk - 1] (ConvolutionState)",
        AutodiffEntry = "H3Inner.Operator(q, k, v, shiftK, shiftD, ssmK, d, hd) (tape composition: two conv.causal nodes, broadcast products, a sum over d1)",
        Differentiable = ["q", "k", "v", "shift_k", "shift_d", "ssm_k", "d"],
        Autodiff = (p, x, v) =>
        {
            var vars = Present(x, v, ["q", "k", "v", "shift_k", "shift_d", "ssm_k", "d"]);
            return Operator(vars["q"]!, vars["k"]!, vars["v"]!, vars["shift_k"], vars["shift_d"], vars["ssm_k"]!, vars["d"], p.Int("head_dim"));
        },
        AccumulationOrder = "kbar[b, c, t] = (sum_{j = 0..min(t, Ls - 1)} shift_k[c, j] k[b, c, t - j], j ascending) + shift_d[c] k[b, c, t]; " +
            "kv = kbar v per (d1, d2, h); ys the same causal sum with ssm_k[h], + d[h] kv; y = sum over d1 ascending of q ys, float64",
        Distribution = CaseInputs.NormalF32 + " (q, k, v, then shift_k [Dm, Ls] and, when params.skip, shift_d when shift_length > 0, " +
            "then ssm_k [H, Lk], then d [H] when params.skip)",
        Cases =
        [
            Case("hd1_no_shift_1x3x9_k9", 1101, 1, 3, 9, 1, 0, 9, true, "edge"),
            Case("hd1_shift_2x2x12_s4_k12", 1102, 2, 2, 12, 1, 4, 12, true),
            Case("hd2_shift_1x4x10_s3_k16", 1103, 1, 4, 10, 2, 3, 16, true),
            Case("hd3_no_skip_1x6x7_s2_k5", 1104, 1, 6, 7, 3, 2, 5, false),
        ],
        DrawInputs = (p, rng) =>
        {
            int b = p.Int("batch"), dm = p.Int("width"), l = p.Int("length"), heads = dm / p.Int("head_dim"), ls = p.Int("shift_length");
            bool skip = !p.ContainsKey("skip") || p.Bool("skip");
            var x = new NamedArrays
            {
                ["q"] = CaseInputs.Normal(rng, b, dm, l),
                ["k"] = CaseInputs.Normal(rng, b, dm, l),
                ["v"] = CaseInputs.Normal(rng, b, dm, l),
            };
            if (ls > 0)
            {
                x["shift_k"] = CaseInputs.Normal(rng, dm, ls);
                if (skip) x["shift_d"] = CaseInputs.Normal(rng, dm);
            }
            x["ssm_k"] = CaseInputs.Normal(rng, heads, p.Int("kernel_length"));
            if (skip) x["d"] = CaseInputs.Normal(rng, heads);
            return x;
        },
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-12, 1e-5,
            "two causal sums of up to L products and a sum over hd: float64 reorderings (FFT route) stay ~1e-14 relative at these sizes " +
            "(1e-12 leaves a margin); float32 ~1e-6, 1e-5 is the conventions' float32 bound"),
        Without = new Dictionary<string, string>
        {
            ["realize"] = "the kernels are given arrays, not SSM parameters: no diagonal state to realize (ssm.h3 realizes its S4D stage)",
            ["ess"] = "a gated op of given kernels: its matrix depends on q and k; the layer's ESS instance is ssm.h3's",
        },
    };

    private static Tensor<double>? Opt(NamedArrays x, string name) => x.TryGetValue(name, out var a) ? a.ToTensorDouble() : null;

    /// <summary>The tape variables by input name (null for an absent optional input), from the present ones in Differentiable order.</summary>
    private static Dictionary<string, Variable?> Present(NamedArrays x, Variable[] v, string[] names)
    {
        var result = new Dictionary<string, Variable?>();
        int i = 0;
        foreach (var name in names) result[name] = x.ContainsKey(name) ? v[i++] : null;
        return result;
    }

    private static NamedArrays FastOut<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> =>
        NamedTensors.Outputs(("y", ForwardFast(x.As<T>("q"), x.As<T>("k"), x.As<T>("v"), x.Optional<T>("shift_k"), x.Optional<T>("shift_d"),
            x.As<T>("ssm_k"), x.Optional<T>("d"), p.Int("head_dim"), maxThreads: 1)));

    private static Tensor<double> MaterializeRows(JsonObject p, NamedArrays x) =>
        Materialize(x.Double("q"), x.Double("k"), Opt(x, "shift_k"), Opt(x, "shift_d"), x.Double("ssm_k"), Opt(x, "d"), p.Int("head_dim"));

    /// <summary>Token by token through one <see cref="H3InnerState"/>.</summary>
    private static Tensor<double> Recurrent(JsonObject p, NamedArrays x)
    {
        var q = x.Double("q");
        var k = x.Double("k");
        var v = x.Double("v");
        var shiftK = Opt(x, "shift_k");
        var ssmK = x.Double("ssm_k");
        int b = q.Dim(0), dm = q.Dim(1), l = q.Dim(2), hd = p.Int("head_dim");
        var state = InitialState(b, dm, hd, shiftK?.Dim(1) ?? 0, ssmK.Dim(1));
        var y = Tensor<double>.Zeros(b, dm, l);
        Tensor<double> At(Tensor<double> a, int t)
        {
            var r = Tensor<double>.Zeros(b, dm);
            for (int i = 0; i < b * dm; i++) r.Data[i] = a.Data[i * l + t];
            return r;
        }
        for (int t = 0; t < l; t++)
        {
            var yt = Step(state, At(q, t), At(k, t), At(v, t), shiftK, Opt(x, "shift_d"), ssmK, Opt(x, "d"), hd);
            for (int i = 0; i < b * dm; i++) y.Data[i * l + t] = yt.Data[i];
        }
        return y;
    }

    /// <summary>
    /// fftconv_h3_ref's evaluation: each causal convolution as Re(IDFT_2L(DFT_2L(x) DFT_2L(kernel[:L]))) written out with
    /// System.Numerics.Complex sums (size 2L: no circular wrap reaches t &lt; L), then the gating.
    /// </summary>
    private static Tensor<double> Spectral(JsonObject p, NamedArrays x)
    {
        var q = x.Double("q");
        var shiftK = Opt(x, "shift_k");
        int hd = p.Int("head_dim"), b = q.Dim(0), dm = q.Dim(1), l = q.Dim(2);
        var k = x.Double("k");
        var kbar = shiftK is null ? k : DftConvolve(k, shiftK, Opt(x, "shift_d"));
        var ys = DftConvolve(OuterProducts(kbar, x.Double("v"), hd), x.Double("ssm_k"), Opt(x, "d"));
        return Contract(q, ys, b, dm, l, hd);
    }

    private static Tensor<double> DftConvolve(Tensor<double> u, Tensor<double> kernel, Tensor<double>? d)
    {
        int l = u.Dim(-1), rows = u.Length / l, channels = kernel.Dim(0), kl = kernel.Dim(1), n = 2 * l;
        Complex[] Dft(ReadOnlySpan<double> a)
        {
            var f = new Complex[n];
            for (int w = 0; w < n; w++)
                for (int j = 0; j < a.Length; j++) f[w] += a[j] * Complex.FromPolarCoordinates(1.0, -2.0 * Math.PI * ((long)w * j % n) / n);
            return f;
        }
        var spectra = Enumerable.Range(0, channels).Select(c => Dft(kernel.Data.AsSpan(c * kl, Math.Min(kl, l)))).ToArray();
        var y = Tensor<double>.Zeros(u.ShapeArray);
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var z = Dft(u.Data.AsSpan(r * l, l));
            for (int t = 0; t < l; t++)
            {
                Complex acc = 0;
                for (int w = 0; w < n; w++) acc += z[w] * spectra[c][w] * Complex.FromPolarCoordinates(1.0, 2.0 * Math.PI * ((long)w * t % n) / n);
                y.Data[r * l + t] = acc.Real / n + (d is null ? 0.0 : d.Data[c] * u.Data[r * l + t]);
            }
        }
        return y;
    }

    private static ConformanceCase Case(string id, ulong seed, int batch, int width, int length, int headDim, int shiftLength, int kernelLength,
        bool skip, params string[] tags) =>
        new(id, seed, Params.Of(("batch", batch), ("width", width), ("length", length), ("head_dim", headDim), ("shift_length", shiftLength),
                ("kernel_length", kernelLength), ("skip", skip)),
            $"B = {batch}, Dm = {width}, L = {length}, hd = {headDim} ({width / headDim} heads), " +
            (shiftLength > 0 ? $"shift kernel of {shiftLength} taps" : "no shift stage") + $", diagonal kernel of {kernelLength} taps" +
            (skip ? "" : ", no skips"), tags);
}
