using ILGPU;
using ILGPU.Algorithms;
using ILGPU.IR;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Reference.Cuda;

/// <summary>Which ILGPU accelerator the CUDA path runs on.</summary>
public enum AcceleratorChoice
{
    /// <summary>The CUDA GPU when one is present, else ILGPU's CPU accelerator.</summary>
    Auto,

    /// <summary>A CUDA GPU, or <see cref="GpuUnavailableException"/>.</summary>
    Cuda,

    /// <summary>ILGPU's CPU accelerator in NVIDIA-like mode (warp 32, groups up to 1024): the same kernels, no GPU.</summary>
    Cpu,
}

/// <summary>The CUDA path cannot run: no CUDA device when one was asked for, or the runtime failed to start.</summary>
public sealed class GpuUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The one ILGPU context and accelerator of the process. ILGPU contexts are heavy (each owns a
/// compiler and a kernel cache), so the CUDA path opens one on first use and keeps it until the
/// process exits (or <see cref="Shutdown"/>). The accelerator is chosen by the environment variable
/// <c>REFERENCE_ACCELERATOR</c> = <c>cuda</c> | <c>cpu</c> | <c>auto</c> (default auto: the CUDA GPU
/// when the driver reports one, else ILGPU's CPU accelerator in NVIDIA mode, which executes the same
/// kernels with warps of 32 and groups of up to 1024 threads, so CI checks the kernels without a GPU).
/// <para>Device memory is never left to the finalizer: every buffer the ops allocate is a
/// <c>using</c>-scoped <see cref="MemoryBuffer1D{T, TStride}"/>, released when the op returns.</para>
/// </summary>
public sealed class GpuDevice : IDisposable
{
    /// <summary>The environment variable that selects the accelerator.</summary>
    public const string EnvironmentVariable = "REFERENCE_ACCELERATOR";

    private static readonly Lock Gate = new();
    private static GpuDevice? shared;

    private readonly Context context;

    private GpuDevice(Context context, Accelerator accelerator)
    {
        this.context = context;
        Accelerator = accelerator;
    }

    /// <summary>The accelerator every kernel of the process runs on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>True when the kernels run on a CUDA GPU (false: ILGPU's CPU accelerator).</summary>
    public bool IsCuda => Accelerator.AcceleratorType == AcceleratorType.Cuda;

    /// <summary>One line naming the device: "Cuda NVIDIA H200 (SM_90, 132 multiprocessors, warp 32)" or "CPU accelerator (...)".</summary>
    public string Description => Accelerator switch
    {
        CudaAccelerator c => $"CUDA {c.Name} ({c.Architecture}, {c.NumMultiprocessors} multiprocessors, " +
            $"{c.MemorySize / (1L << 30)} GiB, driver {c.DriverVersion}, warp {c.WarpSize})",
        _ => $"ILGPU CPU accelerator, NVIDIA mode (warp {Accelerator.WarpSize}, groups up to {Accelerator.MaxNumThreadsPerGroup} threads; no GPU)",
    };

    /// <summary>The process's device, opened on first use with the choice of <c>REFERENCE_ACCELERATOR</c>.</summary>
    public static GpuDevice Shared
    {
        get
        {
            lock (Gate)
                return shared ??= Open(ParseChoice(Environment.GetEnvironmentVariable(EnvironmentVariable)));
        }
    }

    /// <summary>Parses the environment variable's value (null or empty: auto).</summary>
    public static AcceleratorChoice ParseChoice(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => AcceleratorChoice.Auto,
        "cuda" or "gpu" => AcceleratorChoice.Cuda,
        "cpu" => AcceleratorChoice.Cpu,
        _ => throw new ArgumentException($"{EnvironmentVariable} is '{value}'; expected cuda, cpu or auto.", nameof(value)),
    };

    /// <summary>Opens a context and accelerator (the caller owns it; the ops use <see cref="Shared"/>).</summary>
    public static GpuDevice Open(AcceleratorChoice choice)
    {
        Context? context = null;
        try
        {
            context = Context.Create(builder =>
            {
                Configure(builder);
                if (choice != AcceleratorChoice.Cpu) builder.Cuda();
                builder.CPU(CPUDeviceKind.Nvidia);
            });
            Device? device = null;
            if (choice != AcceleratorChoice.Cpu && context.GetCudaDevices() is { Count: > 0 } gpus) device = gpus[0];
            if (device is null && choice == AcceleratorChoice.Cuda)
                throw new GpuUnavailableException($"{EnvironmentVariable}=cuda but ILGPU finds no CUDA device (driver missing or no GPU).");
            device ??= context.GetCPUDevices()[0];
            return new GpuDevice(context, device.CreateAccelerator(context));
        }
        catch (Exception e) when (e is not GpuUnavailableException)
        {
            context?.Dispose();
            throw new GpuUnavailableException($"the ILGPU runtime could not start an accelerator: {e.Message}", e);
        }
    }

    /// <summary>
    /// The context's settings, shared with <see cref="PtxListing"/> so that the listed PTX is the accelerator's: O1,
    /// ILGPU.Algorithms, the default (precise) math mode, and the kernels' single-instruction intrinsics
    /// (<see cref="Kernels.FastMath"/>), which only kernels that call them by name use.
    /// </summary>
    internal static void Configure(Context.Builder builder)
    {
        // O1 keeps ILGPU's compile times short on the CPU accelerator; the kernels' hot loops are
        // written unrolled by hand, so O2's extra passes buy nothing measurable on the GPU.
        builder.Optimize(OptimizationLevel.O1).EnableAlgorithms().Math(MathMode.Default);
        Kernels.FastMath.Register(builder.GetIntrinsicManager());
    }

    /// <summary>Releases the shared device (tests that switch accelerators; the process exit does the same).</summary>
    public static void Shutdown()
    {
        lock (Gate)
        {
            shared?.Dispose();
            shared = null;
        }
    }

    public void Dispose()
    {
        Accelerator.Dispose();
        context.Dispose();
    }
}
