using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>
/// The fast S4D kernel repeats bit for bit (bench/NOTES.md, "Fast-tier runs repeat bit for bit"): its values may not
/// depend on where its buffers lie in memory (which thread's scratch, what a GC moved) nor on which thread computed a
/// channel. Found broken by h3w32 (one channel of KernelFastShared, last ulp, run to run); cause and fix: bench/NOTES.md, detbits.
/// </summary>
public sealed class S4DRepeatabilityTests
{
    /// <summary>
    /// The digit exponentials (exp of 8^i dt Re log, sin and cos of 8^i dt Im log) of the same inputs placed at element
    /// offsets 0..15 of larger arrays, i.e. at every 64-byte alignment: bitwise the same values at every offset. A few
    /// arguments lie where the library's vector exp (below -708: a fast-decaying mode at a top digit, 8^i dt Re A) and
    /// sin/cos (beyond 2^23) compute their whole vector by scalar code, so which neighbours share their vector matters;
    /// two lengths (a whole number of 4-wide vectors and not).
    /// </summary>
    [Theory]
    [InlineData(132)]
    [InlineData(29)]
    public void DigitExponentials_AtEveryAlignment_AreBitwiseTheSame_AndAccurate(int n)
    {
        var rng = new SplitMix64(5);
        var arg = new double[n];
        var mag = new double[n];
        for (int i = 0; i < n; i++)
        {
            // Mostly in the vector routines' range, one in 13 (exp) or 17 (sin, cos) beyond it (exp below -708, |arg| above 2^23).
            arg[i] = (i % 2 == 0 ? 1 : -1) * Math.Pow(10, i % 17 == 5 ? rng.Uniform(7, 8) : rng.Uniform(-3, 4));
            mag[i] = -Math.Pow(10, i % 13 == 3 ? rng.Uniform(2.86, 3.5) : rng.Uniform(-3, 2.5));
        }
        double[]? refExp = null, refSin = null, refCos = null;
        for (int offset = 0; offset < 16; offset++)
        {
            var a = new double[n + 16];
            var m = new double[n + 16];
            var s = new double[n + 16];
            var c = new double[n + 16];
            arg.CopyTo(a, offset);
            mag.CopyTo(m, offset);
            S4D.DigitExponentials(m.AsSpan(offset, n), a.AsSpan(offset, n), s.AsSpan(offset, n), c.AsSpan(offset, n));
            var (e, si, co) = (m.AsSpan(offset, n).ToArray(), s.AsSpan(offset, n).ToArray(), c.AsSpan(offset, n).ToArray());
            if (refExp is null)
            {
                (refExp, refSin, refCos) = (e, si, co);
                for (int i = 0; i < n; i++)
                {
                    // Accuracy against the scalar library routines: a few ulp (so that no constant passes).
                    Assert.True(Math.Abs(BitConverter.DoubleToInt64Bits(e[i]) - BitConverter.DoubleToInt64Bits(Math.Exp(mag[i]))) <= 4, $"exp({mag[i]}) = {e[i]}, expected {Math.Exp(mag[i])}");
                    Assert.True(Math.Abs(si[i] - Math.Sin(arg[i])) <= 1e-15, $"sin({arg[i]}) = {si[i]}, expected {Math.Sin(arg[i])}");
                    Assert.True(Math.Abs(co[i] - Math.Cos(arg[i])) <= 1e-15, $"cos({arg[i]}) = {co[i]}, expected {Math.Cos(arg[i])}");
                }
                continue;
            }
            for (int i = 0; i < n; i++)
            {
                Assert.True(BitConverter.DoubleToInt64Bits(e[i]) == BitConverter.DoubleToInt64Bits(refExp[i]), $"offset {offset}, element {i}: exp {e[i]:R} vs {refExp[i]:R} at offset 0");
                Assert.True(BitConverter.DoubleToInt64Bits(si[i]) == BitConverter.DoubleToInt64Bits(refSin![i]), $"offset {offset}, element {i} (arg {arg[i]:R}): sin {si[i]:R} vs {refSin[i]:R} at offset 0");
                Assert.True(BitConverter.DoubleToInt64Bits(co[i]) == BitConverter.DoubleToInt64Bits(refCos![i]), $"offset {offset}, element {i} (arg {arg[i]:R}): cos {co[i]:R} vs {refCos[i]:R} at offset 0");
            }
        }
    }

    /// <summary>
    /// KernelFast and KernelFastShared (fresh parameter arrays each time, so the shared kernel is recomputed) on 16 fresh
    /// threads, each with a different amount of garbage allocated and a collection before its first call, so that its
    /// per-thread scratch lies at a different alignment, on 1 and 2 threads: every kernel bitwise the first one. L = 1024
    /// (top digit 8^3) and a channel with modes whose 8^3 dt Re A is below -708, where the library's vector exp falls back
    /// to scalar code for the whole vector.
    /// </summary>
    [Fact]
    public void FastKernel_OnFreshThreadsAfterCollections_RepeatsBitwise()
    {
        const int length = 1024;
        var p = S4DParameters.Initialize(new SplitMix64(7), 8, 64, S4DInit.Lin, dtMin: 1e-2, dtMax: 0.5);
        // Channel 7 gets fast-decaying modes, as training makes them: 8^3 dt Re A well below -708 at the top digit.
        for (int n = 3; n < p.Modes; n += 5) p.LogNegRealA[7 * p.Modes + n] = Math.Log(2000);
        var expected = S4D.KernelFast<double>(p, length, Discretization.Zoh, 1).Data;
        var failures = new List<string>();
        for (int t = 0; t < 16; t++)
        {
            int pad = t;
            var thread = new Thread(() =>
            {
                var garbage = new double[pad + 1];
                GC.Collect();
                GC.KeepAlive(garbage);
                var shifted = new double[pad];   // moves this thread's next allocations by pad elements
                for (int round = 0; round < 2; round++)
                {
                    var copy = Copy(p);
                    Compare(failures, $"thread {pad} round {round} KernelFast", expected, S4D.KernelFast<double>(copy, length, Discretization.Zoh, 1 + round).Data);
                    Compare(failures, $"thread {pad} round {round} KernelFastShared", expected, S4D.KernelFastShared(Copy(p), length, Discretization.Zoh, 1 + round).Data);
                    GC.Collect();
                }
                GC.KeepAlive(shifted);
            });
            thread.Start();
            thread.Join();
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(8)));
    }

    private static S4DParameters Copy(S4DParameters p) =>
        new(p.Channels, p.Modes, (double[])p.LogNegRealA.Clone(), (double[])p.ImagA.Clone(), (double[])p.BRe.Clone(), (double[])p.BIm.Clone(),
            (double[])p.CRe.Clone(), (double[])p.CIm.Clone(), (double[])p.LogDelta.Clone(), (double[])p.D.Clone());

    private static void Compare(List<string> failures, string what, double[] expected, double[] actual)
    {
        int differ = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.DoubleToInt64Bits(expected[i]) != BitConverter.DoubleToInt64Bits(actual[i]))
            {
                differ++;
                if (first < 0) first = i;
            }
        if (differ > 0)
            lock (failures) failures.Add($"{what}: {differ} of {expected.Length} values differ, first at {first} ({actual[first]:R} vs {expected[first]:R})");
    }
}
