using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Golden;
using Reference.Golden.Backends;
using Reference.Operators.StateSpace;

namespace Reference.Cuda;

/// <summary>
/// The CUDA path as a golden backend: <c>cuda</c> (float32, the GPU's fast path) and <c>cuda64</c>
/// (float64). Each supported op reads the case's inputs, runs the kernel of <see cref="GpuOps"/> on
/// the process's accelerator (<see cref="GpuDevice"/>: the CUDA GPU, or ILGPU's CPU accelerator
/// without one) and returns the outputs; other ops are skipped. The ops mirror the fast tier's
/// entries: linalg.gemm (FastGemm), attention.softmax (SoftmaxAttention.ForwardFast),
/// fft.causal_conv (the direct causal sum up to 64 taps, the FFT beyond, like the CPU's fast tier), ssm.selective_scan
/// (SelectiveScan's chunked form); recurrence.gla, attention.linear, attention.decayed_linear and
/// ssm.ssd share the chunked gated linear kernel (the CPU tiers' chunked forms; the state starts from s0 and
/// the final state is returned when a case asks, SSD in its continuous and its discrete form); ssm.s4d generates
/// its kernel from float64 per-mode factors (S4D.KernelFast) and convolves; monarch.multiply runs the
/// two block products (Monarch.MultiplyFast, split complex for complex cases); ess.tolerance and
/// ess.entropy take every split's singular values by batched one-sided Jacobi on the device (one warp
/// per split block, EffectiveStateSize.Compute's blocks) and reduce them on the host.
/// </summary>
public sealed class CudaBackend : IGoldenBackend
{
    private static readonly string[] Supported =
    [
        "linalg.gemm", "attention.softmax", "fft.causal_conv", "ssm.selective_scan",
        "recurrence.gla", "attention.linear", "attention.decayed_linear", "ssm.ssd", "ssm.s4d", "monarch.multiply",
        "ess.tolerance", "ess.entropy",
    ];

    private CudaBackend(string name, Precision precision)
    {
        Name = name;
        Precision = precision;
    }

    /// <summary>float32 on the device.</summary>
    public static CudaBackend Float32 { get; } = new("cuda", Core.Conformance.Precision.Float32);

    /// <summary>float64 on the device.</summary>
    public static CudaBackend Float64 { get; } = new("cuda64", Core.Conformance.Precision.Float64);

    /// <summary>The ops this backend runs (the rest are skipped).</summary>
    public static IReadOnlyList<string> Ops => Supported;

    public string Name { get; }

    public Precision? Precision { get; }

    public bool Supports(string op) => Supported.Contains(op);

    /// <summary>Adds cuda and cuda64 to <see cref="Backends.Resolve"/> (idempotent; the device opens on first use).</summary>
    public static void Register()
    {
        Backends.Register(Float32.Name, () => Float32);
        Backends.Register(Float64.Name, () => Float64);
    }

    public NamedArrays Run(BackendRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Supports(request.Op)) throw new NotSupportedException($"op '{request.Op}' has no CUDA kernel.");
        var definition = GoldenRegistry.Find(request.Op) ?? throw new NotSupportedException($"op '{request.Op}' is not registered in this build.");
        if (definition.Version != request.OpVersion)
            throw new NotSupportedException($"this build implements {request.Op} version {definition.Version}, the case is version {request.OpVersion}.");
        GpuDevice device;
        try { device = GpuDevice.Shared; }
        catch (GpuUnavailableException e) { throw new BackendUnavailableException(e.Message, e); }
        _ = device;
        return Precision == Core.Conformance.Precision.Float32 ? Run<float>(request.Op, request.Params, request.Inputs) : Run<double>(request.Op, request.Params, request.Inputs);
    }

    private static NamedArrays Run<T>(string op, JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T> => op switch
    {
        "linalg.gemm" => Gemm<T>(p, x),
        "attention.softmax" => Attention<T>(p, x),
        "fft.causal_conv" => Convolution<T>(p, x),
        "recurrence.gla" => Gla<T>(p, x),
        "attention.linear" => Linear<T>(p, x),
        "attention.decayed_linear" => DecayedLinear<T>(p, x),
        "ssm.ssd" => Ssd<T>(p, x),
        "ssm.s4d" => S4D<T>(p, x),
        "monarch.multiply" => Monarch<T>(p, x),
        "ess.tolerance" or "ess.entropy" => Ess<T>(p, x),
        _ => Scan<T>(p, x),
    };

    private static NamedArrays Ess<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = p.Int("c"), l = p.Int("l");
        var options = p.String("mode") == "entropy"
            ? new Reference.Ess.EssOptions(Reference.Ess.EssMode.Entropy)
            : new Reference.Ess.EssOptions(Reference.Ess.EssMode.Tolerance, p.Double("tau"), p.Bool("relative"));
        if (x["t"].Count != (long)c * l * l) throw new ArgumentException($"input 't' has {x["t"].Count} elements; expected C L L = {(long)c * l * l}.", nameof(x));
        var ess = new double[(long)c * (l - 1)];
        if (l >= 2)
        {
            // Singular values on the device; the reduction to one number per split is the CPU's (a few flops per value).
            var sigma = GpuOps.SplitSingularValues(CaseInputs.As<T>(x["t"]), c, l);
            for (int i = 0; i < sigma.Length; i++)
                ess[i] = Reference.Ess.EffectiveStateSize.FromSingularValues(Array.ConvertAll(sigma[i], double.CreateTruncating), options);
        }
        return new NamedArrays { ["ess"] = NpyArray.Of(ess, c, l - 1) };
    }

    private static bool Flag(JsonObject p, string key) => p.ContainsKey(key) && p[key] is not null && p.Bool(key);

    /// <summary>
    /// The carried state of a gated-linear case: a copy of s0 when the case gives one, zeros when it only asks for
    /// the final state, null when it has neither (the kernel then starts from zero and keeps the state on the device).
    /// </summary>
    private static T[]? CarriedState<T>(JsonObject p, NamedArrays x, long length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.TryGetValue("s0", out var s0))
        {
            if (s0.Count != length) throw new ArgumentException($"input 's0' has {s0.Count} elements; expected {length}.", nameof(x));
            return (T[])CaseInputs.As<T>(s0).Clone();
        }
        return Flag(p, "initial_state") ? throw new ArgumentException("params.initial_state is true but the case has no input 's0'.", nameof(x))
            : Flag(p, "return_final_state") ? new T[length] : null;
    }

    /// <summary>The outputs, with final_state (shape <paramref name="stateShape"/>) when the case asks for it.</summary>
    private static NamedArrays WithFinalState<T>(JsonObject p, string name, NpyArray output, T[]? state, params int[] stateShape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var outputs = new NamedArrays { [name] = output };
        if (Flag(p, "return_final_state")) outputs["final_state"] = CaseInputs.Output(state!, stateShape);
        return outputs;
    }

    private static NamedArrays Gla<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = p.Int("b"), h = p.Int("h"), l = p.Int("l"), kd = p.Int("k"), vd = p.Int("v");
        bool scalar = p.ContainsKey("scalar_gate") && p.Bool("scalar_gate");
        var state = CarriedState<T>(p, x, (long)b * h * kd * vd);
        var result = GpuOps.GatedLinearAttention(CaseInputs.As<T>(x["q"]), CaseInputs.As<T>(x["k"]), CaseInputs.As<T>(x["v"]),
            CaseInputs.As<T>(x["g"]), b, h, l, kd, vd, scalar, state);
        return WithFinalState(p, "out", CaseInputs.Output(result, b, h, l, vd), state, b, h, kd, vd);
    }

    private static NamedArrays Linear<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = p.Int("b"), h = p.Int("h"), l = p.Int("l"), kd = p.Int("k"), vd = p.Int("v");
        string name = p.ContainsKey("map") ? p.String("map") : "identity";
        int map = name switch
        {
            "identity" => 0,
            "elu1" => 1,
            "relu" => 2,
            "taylor" => 3,
            _ => throw new NotSupportedException($"linear attention map '{name}' has no CUDA kernel (identity, elu1, relu, taylor)."),
        };
        int f = map == 3 ? 1 + kd + kd * kd : kd;
        double scale = p.ContainsKey("scale") ? p.Double("scale") : map == 3 ? 1.0 : 1.0 / Math.Sqrt(f);
        double eps = p.ContainsKey("eps") ? p.Double("eps") : 1e-10;
        bool normalize = p.ContainsKey("normalize") && p.Bool("normalize");
        int columns = vd + (normalize ? 1 : 0);
        var state = CarriedState<T>(p, x, (long)b * h * f * columns);
        var result = GpuOps.LinearAttention(CaseInputs.As<T>(x["q"]), CaseInputs.As<T>(x["k"]), CaseInputs.As<T>(x["v"]), b, h, l, kd, vd,
            map, normalize, T.CreateTruncating(scale), T.CreateTruncating(eps), state);
        return WithFinalState(p, "out", CaseInputs.Output(result, b, h, l, vd), state, b, h, f, columns);
    }

    private static NamedArrays DecayedLinear<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = p.Int("b"), h = p.Int("h"), l = p.Int("l"), kd = p.Int("k"), vd = p.Int("v");
        var state = CarriedState<T>(p, x, (long)b * h * kd * vd);
        var result = GpuOps.DecayedLinearAttention(CaseInputs.As<T>(x["q"]), CaseInputs.As<T>(x["k"]), CaseInputs.As<T>(x["v"]),
            CaseInputs.As<T>(x["log_lambda"]), b, h, l, kd, vd, state);
        return WithFinalState(p, "out", CaseInputs.Output(result, b, h, l, vd), state, b, h, kd, vd);
    }

    private static NamedArrays Ssd<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = p.Int("batch"), l = p.Int("length"), h = p.Int("heads"), hp = p.Int("head_dim"), g = p.Int("groups"), n = p.Int("state_size");
        T[]? Optional(string name) => x.TryGetValue(name, out var a) ? CaseInputs.As<T>(a) : null;
        var state = CarriedState<T>(p, x, (long)b * h * hp * n);
        var y = Flag(p, "discrete")
            ? GpuOps.SsdDiscrete(CaseInputs.As<T>(x["x"]), CaseInputs.As<T>(x["a"]), CaseInputs.As<T>(x["b"]), CaseInputs.As<T>(x["c"]),
                Optional("d"), b, l, h, hp, g, n, state)
            : GpuOps.Ssd(CaseInputs.As<T>(x["x"]), CaseInputs.As<T>(x["dt"]), CaseInputs.As<T>(x["a_log"]), CaseInputs.As<T>(x["b"]),
                CaseInputs.As<T>(x["c"]), Optional("d"), Optional("dt_bias"), b, l, h, hp, g, n, state);
        return WithFinalState(p, "y", CaseInputs.Output(y, b, l, h, hp), state, b, h, hp, n);
    }

    private static NamedArrays S4D<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = p.Int("batch"), h = p.Int("channels"), l = p.Int("length"), modes = p.Int("state_size") / 2;
        var s = new S4DParameters(h, modes, x["log_neg_real_a"].ToDoubles(), x["imag_a"].ToDoubles(), x["b_re"].ToDoubles(),
            x["b_im"].ToDoubles(), x["c_re"].ToDoubles(), x["c_im"].ToDoubles(), x["log_delta"].ToDoubles(), x["d"].ToDoubles());
        foreach (var (name, length) in new[] { ("log_neg_real_a", h * modes), ("imag_a", h * modes), ("b_re", h * modes), ("b_im", h * modes),
            ("c_re", h * modes), ("c_im", h * modes), ("log_delta", h), ("d", h) })
            if (x[name].Count != length) throw new ArgumentException($"input '{name}' has {x[name].Count} elements; expected {length}.", nameof(x));
        var method = p.String("discretization") switch
        {
            "zoh" => Discretization.Zoh,
            "bilinear" => Discretization.Bilinear,
            var other => throw new ArgumentException($"params.discretization must be zoh or bilinear, found {other}.", nameof(p)),
        };
        var coefRe = new double[h * modes];
        var coefIm = new double[h * modes];
        var logRe = new double[h * modes];
        var logIm = new double[h * modes];
        for (int c = 0; c < h; c++)
            for (int n = 0; n < modes; n++)
            {
                var (_, bbar, log) = Operators.StateSpace.S4D.Discretize(s, c, n, method);
                var coef = 2.0 * s.C(c, n) * bbar;
                coefRe[c * modes + n] = coef.Real;
                coefIm[c * modes + n] = coef.Imaginary;
                logRe[c * modes + n] = log.Real;
                logIm[c * modes + n] = log.Imaginary;
            }
        var (y, kernel) = GpuOps.S4D(CaseInputs.As<T>(x["u"]), coefRe, coefIm, logRe, logIm, CaseInputs.As<T>(x["d"]), b, h, modes, l);
        return new NamedArrays { ["y"] = CaseInputs.Output(y, b, h, l), ["kernel"] = CaseInputs.Output(kernel, h, l) };
    }

    private static NamedArrays Monarch<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = p.Int("batch"), k = p.Int("k"), q = p.Int("q"), pp = p.Int("p"), l = p.Int("l"), s = p.Int("s"), r = p.Int("r");
        if (!(p.ContainsKey("complex") && p.Bool("complex")))
        {
            var (y, _) = GpuOps.Monarch(batch, k, q, pp, l, s, r, CaseInputs.As<T>(x["w1"]), null, CaseInputs.As<T>(x["w2"]), null,
                CaseInputs.As<T>(x["x"]), null);
            return new NamedArrays { ["y"] = CaseInputs.Output(y, batch, l * s) };
        }
        var (w1r, w1i) = Split<T>(x["w1"].Get<Complex>());
        var (w2r, w2i) = Split<T>(x["w2"].Get<Complex>());
        var (xr, xi) = Split<T>(x["x"].Get<Complex>());
        var (re, im) = GpuOps.Monarch(batch, k, q, pp, l, s, r, w1r, w1i, w2r, w2i, xr, xi);
        var yc = new Complex[re.Length];
        for (int i = 0; i < yc.Length; i++) yc[i] = new Complex(double.CreateTruncating(re[i]), double.CreateTruncating(im![i]));
        return new NamedArrays { ["y"] = NpyArray.Of(yc, batch, l * s) };
    }

    private static (T[] Re, T[] Im) Split<T>(Complex[] z) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var re = new T[z.Length];
        var im = new T[z.Length];
        for (int i = 0; i < z.Length; i++)
        {
            re[i] = T.CreateTruncating(z[i].Real);
            im[i] = T.CreateTruncating(z[i].Imaginary);
        }
        return (re, im);
    }

    private static NamedArrays Gemm<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = p.Int("m"), n = p.Int("n"), k = p.Int("k");
        double beta = p.Double("beta");
        var c = beta != 0 ? CaseInputs.As<T>(x["c"]) : null;
        var result = GpuOps.Gemm(p.Bool("trans_a"), p.Bool("trans_b"), m, n, k, T.CreateTruncating(p.Double("alpha")),
            CaseInputs.As<T>(x["a"]), CaseInputs.As<T>(x["b"]), T.CreateTruncating(beta), c);
        return new NamedArrays { ["out"] = CaseInputs.Output(result, m, n) };
    }

    private static NamedArrays Attention<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = p.Int("b"), hq = p.Int("hq"), hkv = p.Int("hkv"), l = p.Int("l"), kd = p.Int("k"), vd = p.Int("v");
        int window = p.ContainsKey("window") ? p.Int("window") : 0;
        // The kernel is causal softmax attention with the default scale: the cases with other options are skipped.
        foreach (var (key, plain) in new (string, string)[] { ("causal", "true"), ("scale", "0"), ("sinks", "false"), ("gate", "false"), ("stats", "false") })
            if (p.ContainsKey(key) && p[key] is not null && p[key]!.ToJsonString() != plain)
                throw new NotSupportedException($"the CUDA attention kernel has no option {key} = {p[key]!.ToJsonString()}.");
        var result = GpuOps.CausalAttention(CaseInputs.As<T>(x["q"]), CaseInputs.As<T>(x["k"]), CaseInputs.As<T>(x["v"]), b, hq, hkv, l, kd, vd, window);
        return new NamedArrays { ["out"] = CaseInputs.Output(result, b, hq, l, vd) };
    }

    private static NamedArrays Convolution<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = p.Int("channels"), l = p.Int("length"), lk = p.Int("kernel_length");
        var y = GpuOps.CausalConvolution(CaseInputs.As<T>(x["u"]), CaseInputs.As<T>(x["k"]), c, l, lk);
        return new NamedArrays { ["y"] = CaseInputs.Output(y, c, l) };
    }

    private static NamedArrays Scan<T>(JsonObject p, NamedArrays x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = p.Int("batch"), d = p.Int("channels"), l = p.Int("length"), n = p.Int("state_size"), g = p.Int("groups");
        // The kernel is the real-A scan with the softplus from a zero state: the cases with other options are skipped.
        foreach (var (key, plain) in new (string, string)[] { ("delta_softplus", "true"), ("complex", "false"), ("initial_state", "false"), ("return_last_state", "false") })
            if (p.ContainsKey(key) && p[key] is not null && p[key]!.ToJsonString() != plain)
                throw new NotSupportedException($"the CUDA selective-scan kernel has no option {key} = {p[key]!.ToJsonString()}.");
        T[]? Optional(string name) => x.TryGetValue(name, out var a) ? CaseInputs.As<T>(a) : null;
        var result = GpuOps.SelectiveScan(CaseInputs.As<T>(x["u"]), CaseInputs.As<T>(x["delta"]), CaseInputs.As<T>(x["a_log"]),
            CaseInputs.As<T>(x["b"]), CaseInputs.As<T>(x["c"]), Optional("d"), Optional("z"), Optional("delta_bias"), b, d, l, n, g);
        return new NamedArrays { ["out"] = CaseInputs.Output(result, b, d, l) };
    }
}
