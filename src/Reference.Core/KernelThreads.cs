namespace Reference.Core;

/// <summary>
/// The thread count a kernel uses when its caller passes maxThreads = 0 ("every core"): the core count,
/// unless the calling thread has capped it with <see cref="Limit"/>. A program that already runs
/// independent jobs on every core (the STAR local executor: one model training per core) caps each job
/// at its share, so the kernels inside a job do not fork threads that can only queue behind the other
/// jobs, spin in fork/join waits and multiply context switches. Kernels are bitwise identical for any
/// thread count, so the cap changes speed only. The cap is per thread: it is read where a kernel decides
/// how to split its work, on the thread that calls it.
/// </summary>
public static class KernelThreads
{
    [ThreadStatic] private static int cap;

    /// <summary>Threads for maxThreads = 0 on this thread: the cap when set, else <see cref="Environment.ProcessorCount"/>.</summary>
    public static int Default => cap > 0 ? Math.Min(cap, Environment.ProcessorCount) : Environment.ProcessorCount;

    /// <summary>Caps <see cref="Default"/> on this thread at <paramref name="threads"/> (>= 1) until the scope is disposed.</summary>
    public static Scope Limit(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), $"threads = {threads}; expected >= 1.");
        int previous = cap;
        cap = threads;
        return new Scope(previous);
    }

    /// <summary>Restores the previous cap.</summary>
    public readonly struct Scope(int previous) : IDisposable
    {
        public void Dispose() => cap = previous;
    }
}
