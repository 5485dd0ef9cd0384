namespace Reference.Core.Kernels;

/// <summary>
/// Splits independent rows of a kernel over threads. Only work whose result does not depend on the
/// split goes through here (each row is computed by one thread in the same order), so Fast results
/// are identical for any thread count. Small inputs stay on the calling thread: below
/// <see cref="MinElementsPerThread"/> elements per thread the fork/join costs more than it saves.
/// </summary>
internal static class RowParallel
{
    public const long MinElementsPerThread = 1 << 15;

    /// <summary>Calls body(firstRow, rowCount) on contiguous row ranges covering [0, rows).</summary>
    public static void For(int rows, long elements, Action<int, int> body)
    {
        int threads = (int)Math.Clamp(elements / MinElementsPerThread, 1, Math.Min(KernelThreads.Default, Math.Max(rows, 1)));
        if (threads <= 1)
        {
            body(0, rows);
            return;
        }
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int first = (int)((long)rows * t / threads), last = (int)((long)rows * (t + 1) / threads);
            body(first, last - first);
        });
    }
}
