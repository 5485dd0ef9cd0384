using System.Text.RegularExpressions;
using Reference.Cuda;

namespace Reference.SpecTests.Cuda;

/// <summary>
/// What ILGPU's PTX backend makes of the float32 scan kernels, generated here without a GPU (<see cref="PtxListing"/>,
/// sm_90 as on the H200). The parity tests run the kernels' C# on ILGPU's CPU accelerator, where the single-instruction
/// intrinsics of <c>Kernels.FastMath</c> are their C# bodies; only the PTX shows whether the GPU gets the one
/// instruction each asks for, that nothing goes through local memory (as ILGPU's inline PTX did, bench/NOTES.md "cuda7"),
/// and that the other kernels keep ILGPU's precise forms (the context is not fast-math).
/// </summary>
public class ScanPtxTests
{
    private static int Count(string ptx, string instruction) => Regex.Matches(ptx, $@"\s{Regex.Escape(instruction)}\s").Count;

    [Fact]
    public void TheFastScanGetsOneInstructionPerExponentialAndNoLocalMemory()
    {
        string fast = PtxListing.Scan(10);
        // 16 decays per state pair, the 2 lanes' total decays, 8 softplus exponentials; 8 lg2 and 8 rcp for softplus.
        Assert.Equal(26, Count(fast, "ex2.approx.ftz.f32"));
        Assert.Equal(8, Count(fast, "lg2.approx.ftz.f32"));
        Assert.Equal(8, Count(fast, "rcp.approx.ftz.f32"));
        Assert.DoesNotContain(".local", fast, StringComparison.Ordinal);
        // The lane scan's 5 levels x 2 states: a predicated multiply and FMA each, no selects of the identity.
        Assert.Equal(10, Regex.Matches(fast, @"@%p\d+ fma\.rn\.f32\s").Count);
        Assert.Equal(10, Regex.Matches(fast, @"@%p\d+ mul\.rn\.f32\s").Count);
        // Whole windows: b and c as 4 + 4 groups of 16 bytes a thread, u and delta as 2 + 2 a lane, in the first window and
        // in the prefetch of the next.
        Assert.Equal(24, Count(fast, "ld.v4.f32"));
        Assert.Equal(8, Count(fast, "st.shared.v4.f32"));
    }

    [Fact]
    public void TheSplitScanHoldsOneStateAtATimeAndIsBoundForMoreGroups()
    {
        // Variants 11, 12 and 13 (SelectiveScanWarpKernel.ScanSplit): launch bounds for four, three and four resident groups of
        // 256 threads, the registers ptxas may use then (64, 85) being the point of the variants.
        string written = PtxListing.Scan(11), three = PtxListing.Scan(12), looped = PtxListing.Scan(13);
        Assert.Contains(".maxntid 256, 1, 1", written, StringComparison.Ordinal);
        Assert.Contains(".minnctapersm 4", written, StringComparison.Ordinal);
        Assert.Contains(".minnctapersm 3", three, StringComparison.Ordinal);
        Assert.Contains(".minnctapersm 4", looped, StringComparison.Ordinal);
        // Per state: its 8 decays and the lane's total decay; per warp and window: 4 softplus (ex2, lg2, rcp); the gate of the
        // two finishes (after the next window's barrier, and after the last window) in their 16-byte and element forms, 4 each.
        // 11 has the 8 states written out, 13 one state in a loop.
        Assert.Equal(8 * 9 + 4 + 16, Count(written, "ex2.approx.ftz.f32"));
        Assert.Equal(9 + 4 + 16, Count(looped, "ex2.approx.ftz.f32"));
        foreach (var ptx in new[] { written, looped })
        {
            Assert.Equal(4, Count(ptx, "lg2.approx.ftz.f32"));
            Assert.Equal(4 + 16, Count(ptx, "rcp.approx.ftz.f32"));
            Assert.DoesNotContain(".local", ptx, StringComparison.Ordinal);
            // Whole windows: b and c as 4 + 4 groups a thread, u as 2 and delta as 1 a lane (the warp's 4 steps), z in each
            // finish; the outputs as one group a lane in each finish; shared: b and c staged (8), Delta (1), the partials (2).
            Assert.Equal(13, Count(ptx, "ld.v4.f32"));
            Assert.Equal(2, Count(ptx, "st.v4.f32"));
            Assert.Equal(11, Count(ptx, "st.shared.v4.f32"));
        }
        // The lane scan of one state: 5 levels of a predicated multiply and FMA.
        Assert.Equal(8 * 5, Regex.Matches(written, @"@%p\d+ fma\.rn\.f32\s").Count);
        Assert.Equal(8 * 5, Regex.Matches(written, @"@%p\d+ mul\.rn\.f32\s").Count);
        Assert.Equal(5, Regex.Matches(looped, @"@%p\d+ fma\.rn\.f32\s").Count);
        Assert.Equal(5, Regex.Matches(looped, @"@%p\d+ mul\.rn\.f32\s").Count);
        // Written out, every state's shuffles (A_n, its start state, the carry from lane 31) name their lane as a constant.
        var constantLane = new Regex(@"shfl\.sync\.idx\.b32\s+%f\d+, %f\d+, \d+, 31");
        Assert.Equal(3 * 8, constantLane.Matches(written).Count);
        Assert.Single(constantLane.Matches(looped));
    }

    [Fact]
    public void TheDefaultScanKeepsIlgpusPreciseForms()
    {
        string precise = PtxListing.Scan(5);
        Assert.Equal(0, Count(precise, "ex2.approx.ftz.f32"));
        Assert.True(Count(precise, "ex2.approx.f32") >= 16, "variant 5's decays should stay ILGPU's ex2.approx.f32");
        Assert.True(Count(precise, "div.rn.f32") >= 8, "variant 5's softplus should keep its correctly rounded division");
        Assert.DoesNotContain(".local", precise, StringComparison.Ordinal);
    }
}
