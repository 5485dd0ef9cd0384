using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Reference.Cuda.Kernels;

namespace Reference.Cuda;

/// <summary>
/// The PTX that ILGPU generates for a kernel, without a GPU: a context configured as the accelerator's
/// (<see cref="GpuDevice.Configure"/>) and ILGPU's PTX backend for sm_90 (the H200), with the launch bounds the
/// ops pass. ptxas's SASS (what ncu counts) needs the GPU machine; the PTX shows which instructions ILGPU asks for
/// (bench/NOTES.md, "scanfast": instruction counts of the scan variants) and whether anything goes to local memory.
/// </summary>
internal static class PtxListing
{
    /// <summary>The PTX of an explicitly grouped kernel (a <c>LoadStreamKernel</c> one).</summary>
    public static string Of(MethodInfo kernel, KernelSpecialization specialization)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        using var context = Context.Create(GpuDevice.Configure);
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null);
        var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), specialization);
        return compiled.PTXAssembly;
    }

    /// <summary>The PTX of the float32 one-pass scan variant 5 (<see cref="SelectiveScanWarpKernel.ScanPairedVector{T}"/>), 10 (<see cref="SelectiveScanWarpKernel.ScanPairedFast"/>), both capped for two groups per multiprocessor, or 11 / 12 / 13 (<see cref="SelectiveScanWarpKernel.ScanSplit{TStates}"/>, four / three / four groups), with the launch bounds they are launched with.</summary>
    public static string Scan(int variant)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Static;
        var kernel = variant switch
        {
            5 => typeof(SelectiveScanWarpKernel).GetMethod(nameof(SelectiveScanWarpKernel.ScanPairedVector), flags)!.MakeGenericMethod(typeof(float)),
            10 => typeof(SelectiveScanWarpKernel).GetMethod(nameof(SelectiveScanWarpKernel.ScanPairedFast), flags)!,
            11 or 12 => typeof(SelectiveScanWarpKernel).GetMethod(nameof(SelectiveScanWarpKernel.ScanSplit), flags)!
                .MakeGenericMethod(typeof(SelectiveScanWarpKernel.StatesWrittenOut)),
            13 => typeof(SelectiveScanWarpKernel).GetMethod(nameof(SelectiveScanWarpKernel.ScanSplit), flags)!
                .MakeGenericMethod(typeof(SelectiveScanWarpKernel.StatesLooped)),
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "the PTX listing covers scan variants 5 and 10 to 13."),
        };
        return Of(kernel, new KernelSpecialization(SelectiveScanWarpKernel.Threads, variant switch { 11 or 13 => 4, 12 => 3, _ => 2 }));
    }
}
