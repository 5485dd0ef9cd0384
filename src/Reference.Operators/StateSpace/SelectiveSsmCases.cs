using Reference.Core;
using Reference.Core.IO;

namespace Reference.Operators.StateSpace;

/// <summary>
/// What the descriptors of the selective SSMs (ssm.selective_scan, ssm.mamba_block, ssm.ssd) share:
/// the tolerance rationale of their golden cases.
/// </summary>
internal static class SelectiveSsmCases
{
    /// <summary>The tolerance rationale of every scan output (moved verbatim from the golden ops).</summary>
    public const string ScanRationale =
        "a recurrence over L steps with N-term readouts: float64 reorderings (vectorized lanes, FFT or chunked routes) stay ~1e-14 " +
        "relative at these sizes (1e-12 leaves a margin); float32 exps and sums reach ~1e-6, so 1e-5 (the conventions' float32 bound) " +
        "still fails a dropped term or a wrong decay";
}
