using System.CommandLine;
using System.Numerics;
using System.Reflection;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Reference.Cli.Commands;

/// <summary>`reference info`: version, the vector instruction set the JIT uses, thread count.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Print the version, the vector instruction set in use and the thread count.");
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            foreach (var (key, value) in Describe()) output.WriteLine($"{key,-16}{value}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static IEnumerable<(string Key, string Value)> Describe()
    {
        var assembly = typeof(InfoCommand).Assembly;
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
        yield return ("version", version);
        yield return ("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
        yield return ("os", System.Runtime.InteropServices.RuntimeInformation.OSDescription);
        yield return ("vector isa", VectorIsa());
        yield return ("vector width", $"{Vector<float>.Count} x float32, {Vector<double>.Count} x float64 (System.Numerics.Vector<T>)");
        yield return ("threads", $"{Environment.ProcessorCount} logical processors");
        yield return ("accelerator", Accelerator());
    }

    /// <summary>The CUDA path's device (REFERENCE_ACCELERATOR = cuda | cpu | auto picks it), or why it cannot start.</summary>
    public static string Accelerator()
    {
        try
        {
            return Reference.Cuda.GpuDevice.Shared.Description + $" [{Reference.Cuda.GpuDevice.EnvironmentVariable}=" +
                (Environment.GetEnvironmentVariable(Reference.Cuda.GpuDevice.EnvironmentVariable) is { Length: > 0 } v ? v : "auto") + "]";
        }
        catch (Exception e) when (e is Reference.Cuda.GpuUnavailableException or ArgumentException)
        {
            return "unavailable: " + e.Message;
        }
    }

    /// <summary>The widest vector path the fast tier takes on this machine (JIT switches included).</summary>
    public static string VectorIsa()
    {
        var isa = new List<string>();
        if (Vector512.IsHardwareAccelerated) isa.Add("AVX-512");
        if (Avx2.IsSupported) isa.Add("AVX2");
        else if (Avx.IsSupported) isa.Add("AVX");
        if (Fma.IsSupported) isa.Add("FMA");
        if (!Avx.IsSupported && Sse2.IsSupported) isa.Add("SSE2");
        if (System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported) isa.Add("AdvSIMD");
        if (isa.Count == 0) isa.Add("scalar (hardware intrinsics disabled)");
        return string.Join(" + ", isa) + (Vector256.IsHardwareAccelerated ? " (Vector256 accelerated)" : " (Vector256 not accelerated)");
    }
}
