using Reference.Core;
using Reference.Core.IO;

namespace Reference.Operators.StateSpace;

/// <summary>
/// What the descriptors of the selective SSMs (ssm.selective_scan, ssm.mamba_block, ssm.ssd) share:
/// the tolerance rationale of their golden cases, float32-rounded parameter arrays, and one
/// operator matrix per row applied to that row's input sequence.
/// </summary>
internal static class SelectiveSsmCases
{
    /// <summary>The tolerance rationale of every scan output (moved verbatim from the golden ops).</summary>
    public const string ScanRationale =
        "a recurrence over L steps with N-term readouts: float64 reorderings (vectorized lanes, FFT or chunked routes) stay ~1e-14 " +
        "relative at these sizes (1e-12 leaves a margin); float32 exps and sums reach ~1e-6, so 1e-5 (the conventions' float32 bound) " +
        "still fails a dropped term or a wrong decay";

    /// <summary>
    /// <paramref name="r"/> with the direct term <paramref name="skip"/> [L] added (D u_t on T's diagonal): the
    /// operators' Realize leave D out (ESS never sees the diagonal), but the realization of a row of
    /// Materialize must reproduce T, diagonal included.
    /// </summary>
    public static DiagonalRealization WithSkip(DiagonalRealization r, double[] skip) =>
        DiagonalRealization.Real(r.Length, r.Modes, r.Transition, r.Input, r.Readout, skip);

}
