using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Reference.Core.Linear;

/// <summary>
/// Bench-only record of where the threads of one multi-threaded product (<see cref="GemmSchedule{T}"/>) spend
/// their time: every task (pack or tile) from its claim to its end, every wait that did not find its dependency
/// already met, each with the managed thread id, the wall clock
/// (Stopwatch ticks) and the thread's CPU clock (ns), and the whole call on the caller. Null in normal use: the schedule reads
/// <see cref="Active"/> once per worker per call and per wait that has to spin, never inside the kernels.
/// The bench's `--gemm-trace` mode sets it around single calls (bench/NOTES.md, gemm2t).
/// </summary>
internal sealed partial class GemmTrace(int capacity)
{
    /// <summary>The trace that the next products record into (bench only; not thread-safe across concurrent products).</summary>
    public static GemmTrace? Active;

    /// <summary>Kinds of <see cref="Event"/>.</summary>
    public const int Task = 0, Wait = 1, Call = 2;

    public readonly record struct Event(int Kind, int Thread, int Index, long WallStart, long WallEnd, long CpuStart, long CpuEnd);

    private readonly Event[] events = new Event[capacity];
    private int count;

    public ReadOnlySpan<Event> Events => events.AsSpan(0, Math.Min(count, events.Length));

    public void Clear() => count = 0;

    public void Add(int kind, int index, long wallStart, long cpuStart)
    {
        int slot = Interlocked.Increment(ref count) - 1;
        if (slot < events.Length)
            events[slot] = new Event(kind, Environment.CurrentManagedThreadId, index, wallStart, Stopwatch.GetTimestamp(), cpuStart, ThreadCpuNs());
    }

    /// <summary>This thread's CPU time in ns (Linux CLOCK_THREAD_CPUTIME_ID; 0 elsewhere).</summary>
    public static long ThreadCpuNs() =>
        OperatingSystem.IsLinux() && ClockGetTime(3, out var t) == 0 ? t.Seconds * 1_000_000_000 + t.Nanoseconds : 0;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);
}
