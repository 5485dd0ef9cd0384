using System.Numerics;
using System.Text.Json.Nodes;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Golden;
using Reference.Golden.Backends;

namespace Reference.Cuda;

/// <summary>
/// The CUDA path as a golden backend: <c>cuda</c> (float32, the GPU's fast path) and <c>cuda64</c>
/// (float64). Each supported op reads the case's inputs, runs the kernel of <see cref="GpuOps"/> on
/// the process's accelerator (<see cref="GpuDevice"/>: the CUDA GPU, or ILGPU's CPU accelerator
/// without one) and returns the outputs; other ops are skipped. The ops mirror the fast tier's
/// entries: linalg.gemm (FastGemm), attention.softmax (SoftmaxAttention.ForwardFast),
/// fft.causal_conv (the direct causal sum; the CPU takes the FFT), ssm.selective_scan
/// (SelectiveScan's chunked form).
/// </summary>
public sealed class CudaBackend : IGoldenBackend
{
    private static readonly string[] Supported = ["linalg.gemm", "attention.softmax", "fft.causal_conv", "ssm.selective_scan"];

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
        _ => Scan<T>(p, x),
    };

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
