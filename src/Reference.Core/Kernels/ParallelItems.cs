using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.ExceptionServices;

namespace Reference.Core.Kernels;

/// <summary>The work of one parallel loop: <see cref="Run"/> is called once per item, from several threads at once.</summary>
public interface IParallelBody
{
    void Run(int item);
}

/// <summary>
/// A parallel loop over items [0, count) that allocates nothing per call (Parallel.For allocates its
/// options, closures and task state on every call): the calling thread and up to threads - 1
/// helpers take items from one atomic counter (dynamic assignment: a helper that starts late, or
/// never, on a busy machine simply takes fewer items, and nobody waits for it to start). The call
/// returns once every item has run. The dispatch record of a call is pooled and reused only after
/// every helper given that call has left it, so a helper that starts after the call returned finds
/// no items and touches nothing else. The body's per-thread state belongs in
/// <see cref="PerThread{TItem, TKey}"/>. An exception from an item is rethrown on the calling thread
/// after the other items finish.
/// <para>
/// Helpers: up to <see cref="Environment.ProcessorCount"/> - 1 dedicated background threads, made on
/// first use and kept for the process (so a call's helper is the same thread every time and finds
/// its per-thread workspaces and caches warm), each of which polls its mailbox for
/// <see cref="WarmWindow"/> after its last item before it blocks; a call made within that window
/// (a training loop, a bench, the next layer) starts its helper without a wake-up. Workers beyond
/// the dedicated helpers are thread-pool work items. A helper that is busy (nested or concurrent calls) is simply not used.
/// The caller waits for the helpers' last items by spinning and yielding, never by Thread.Sleep(1)
/// (SpinWait's default), which on these VMs returned 1-4 ms late and was most of the two-thread
/// spread of the ~1 ms calls.
/// </para>
/// </summary>
public static partial class ParallelItems
{
    /// <summary>How long a dedicated helper keeps polling for the next call after its last item.</summary>
    public static readonly TimeSpan WarmWindow = TimeSpan.FromMicroseconds(300);

    private static long dispatchedItems, helperItems;

    /// <summary>
    /// Items run so far (since the process started) by calls that engaged more than one worker, on any thread (added when the call returns).
    /// With <see cref="HelperItems"/>, a bench tells whether its multi-thread rows really ran on several
    /// threads: on the shared machine a helper may not be scheduled in time, the caller then runs every
    /// item, and a CPU-time rate divided by the thread count reads as if the work had been split.
    /// </summary>
    public static long DispatchedItems => Interlocked.Read(ref dispatchedItems);

    /// <summary>Of <see cref="DispatchedItems"/>, those run on a helper (dedicated or thread-pool) rather than the calling thread.</summary>
    public static long HelperItems => Interlocked.Read(ref helperItems);

    [ThreadStatic] private static int lastItems, lastOnHelpers;

    /// <summary>
    /// The calling thread's most recent call of <see cref="For(int, int, IParallelBody)"/> or
    /// <see cref="ForContiguous"/>: its items, and how many of them ran off the calling thread (0 when it
    /// ran on one worker). A hint for where that call's results are cached, for a kernel that can cut its
    /// own items either way with the same values (the fused BatchNorm tail): if a helper was not
    /// scheduled in time, the caller ran everything and holds the data.
    /// </summary>
    public static (int Items, int OnHelpers) LastCall => (lastItems, lastOnHelpers);

    /// <summary>Runs body.Run(i) for i in [0, count) on up to <paramref name="threads"/> threads (0 = every core).</summary>
    public static void For(int count, int threads, IParallelBody body) => For(count, threads, body, contiguous: false);

    /// <summary>
    /// As <see cref="For(int, int, IParallelBody)"/>, but the items are cut into as many contiguous ranges
    /// as workers, range w = [w count / workers, (w + 1) count / workers): the calling thread is worker 0
    /// and runs its range from the front, each helper (in the order it joins) runs its own range from the
    /// front, and a worker whose range is done takes the others' remaining items from their backs. So on
    /// a quiet machine the same thread runs the same part of the items call after call: a kernel whose
    /// items are samples (or position ranges in sample order) keeps each sample's tensors in the cache of
    /// the core that made them in the previous call (the 3D-CNN decoder's convolution, BatchNorm tail and
    /// next convolution), where the shared counter of <see cref="For(int, int, IParallelBody)"/> deals the
    /// items out in arrival order and the next call's items find half their inputs in the other core's
    /// cache. A late or absent helper costs nothing but locality: its range is taken by the others. Which
    /// thread runs an item never changes what the item computes.
    /// </summary>
    public static void ForContiguous(int count, int threads, IParallelBody body) => For(count, threads, body, contiguous: true);

    private static void For(int count, int threads, IParallelBody body, bool contiguous)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        if (count <= 0) return;
        int workers = Math.Min(threads == 0 ? KernelThreads.Default : threads, count);
        if (workers <= 1)
        {
            for (int i = 0; i < count; i++) body.Run(i);
            (lastItems, lastOnHelpers) = (count, 0);
            return;
        }
        var d = Dispatch.Rent();
        d.Start(body, count, contiguous ? workers : 1);
        d.CallerCpu = Helper.Separate ? CurrentCpu() : -1;
        int posted = Helper.Post(d, workers - 1);
        for (int w = 1 + posted; w < workers; w++)
        {
            d.AddRef();
            ThreadPool.UnsafeQueueUserWorkItem(d, preferLocal: false);
        }
        int onCaller = d.Work(onCaller: true);
        var spin = new SpinWait();
        while (Volatile.Read(ref d.Completed) < count) spin.SpinOnce(sleep1Threshold: -1);
        Interlocked.Add(ref dispatchedItems, count);
        (lastItems, lastOnHelpers) = (count, count - onCaller);
        var error = d.Error;
        d.Release();
        if (error is not null) ExceptionDispatchInfo.Throw(error);
    }

    private sealed class Dispatch : IThreadPoolWorkItem
    {
        private static readonly Stack<Dispatch> Free = new(16);

        private IParallelBody? body;
        private int count, next, refs;
        public int Completed;

        /// <summary>The CPU the caller was on when it posted the call (-1: unknown), which a helper keeps off (<see cref="Helper"/>).</summary>
        public int CallerCpu = -1;
        public Exception? Error;

        /// <summary>Contiguous mode (<see cref="ForContiguous"/>): the number of ranges (1: the shared counter), the claim flag of every item, and the workers that joined off the caller.</summary>
        private int ranges, joined;
        private int[] claimed = [];

        public static Dispatch Rent()
        {
            lock (Free)
                if (Free.Count > 0) return Free.Pop();
            return new Dispatch();
        }

        /// <summary>Sets the call's work; the caller holds the one reference (helpers add theirs before they are given the record).</summary>
        public void Start(IParallelBody work, int items, int rangeCount)
        {
            (body, count, next, Completed, Error, ranges, joined) = (work, items, 0, 0, null, rangeCount, 0);
            if (rangeCount > 1)
            {
                if (claimed.Length < items) claimed = new int[Math.Max(items, 2 * claimed.Length)];
                Array.Clear(claimed, 0, items);
            }
            Volatile.Write(ref refs, 1);
        }

        public void AddRef() => Interlocked.Increment(ref refs);

        void IThreadPoolWorkItem.Execute()
        {
            Work(onCaller: false);
            Release();
        }

        /// <summary>Takes items until none is left; off the caller, counts them in <see cref="HelperItems"/> with one add (after its last item completed, so a reader may see it a moment after the call returned).</summary>
        /// <returns>The items this worker ran.</returns>
        public int Work(bool onCaller)
        {
            int i, ran = 0;
            if (ranges > 1)
            {
                // Own range from the front, then the other ranges from their backs (where their owners are least likely to be).
                int own = onCaller ? 0 : Interlocked.Increment(ref joined) % ranges;
                for (i = RangeStart(own); i < RangeStart(own + 1); i++)
                    if (Claim(i)) RunOne(i, ref ran);
                for (int r = 1; r < ranges; r++)
                {
                    int other = (own + r) % ranges;
                    for (i = RangeStart(other + 1) - 1; i >= RangeStart(other); i--)
                        if (Claim(i)) RunOne(i, ref ran);
                }
            }
            else
                while ((i = Interlocked.Increment(ref next) - 1) < count) RunOne(i, ref ran);
            if (ran > 0 && !onCaller) Interlocked.Add(ref helperItems, ran);
            return ran;
        }

        private int RangeStart(int range) => (int)((long)range * count / ranges);

        private bool Claim(int item) => Volatile.Read(ref claimed[item]) == 0 && Interlocked.Exchange(ref claimed[item], 1) == 0;

        private void RunOne(int item, ref int ran)
        {
            try
            {
                body!.Run(item);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref Error, e, null);
            }
            ran++;
            Interlocked.Increment(ref Completed);
        }

        /// <summary>Called once by the caller and once by each helper given the record; the last one pools it.</summary>
        public void Release()
        {
            if (Interlocked.Decrement(ref refs) != 0) return;
            body = null;
            Error = null;
            lock (Free)
                if (Free.Count < 64) Free.Push(this);
        }
    }

    /// <summary>A thread-pool item that does nothing (<see cref="Helper"/> queues one to set the pool up).</summary>
    private sealed class NoWork : IThreadPoolWorkItem
    {
        public static readonly NoWork Instance = new();

        public void Execute() { }
    }

    /// <summary>A dedicated helper thread with a one-record mailbox.</summary>
    private sealed class Helper
    {
        private static Helper[]? all;
        private static readonly object Gate = new();
        [ThreadStatic] private static Helper? current;

        private Dispatch? mailbox;
        private int sleeping;
        private readonly ManualResetEventSlim wake = new(false, 0);

        /// <summary>Whether helpers keep off their caller's CPU (Linux; see <see cref="KeepOff"/>).</summary>
        public static readonly bool Separate = OperatingSystem.IsLinux();

        /// <summary>The CPUs this helper may run on when it started (its inherited affinity), and the one it is kept off now (-1: none).</summary>
        private ulong[]? allowed;
        private readonly ulong[] mask = new ulong[CpuSetWords];
        private int keptOff = -1;

        /// <summary>
        /// Keeps this helper off <paramref name="cpu"/>, the CPU its caller posted from, if the helper is running there now or
        /// was kept off another CPU before (the caller moved). The scheduler places a woken helper next to the thread
        /// that woke it; on a loaded machine with no idle core it then stays there, and the caller and its helper take
        /// turns on one core while the other core runs other processes: in a two-thread GLA call (1 ms), the helper was
        /// last on the caller's CPU after 23-30 % of quiet calls, which then took 1.5 ms against 1.0 with the helper
        /// elsewhere and ran 6-19 % of the items (bench/NOTES.md, glainto section). Restricting the helper's affinity to
        /// the other CPUs moves it at once; it costs one system call when the caller's CPU changes, none otherwise.
        /// Which thread runs an item never changes what it computes.
        /// </summary>
        private void KeepOff(int cpu)
        {
            if (cpu < 0 || cpu >= CpuSetWords * 64 || cpu == keptOff) return;
            if (keptOff < 0 && CurrentCpu() != cpu) return;
            if (allowed is null)
            {
                allowed = new ulong[CpuSetWords];
                if (SchedGetAffinity(0, CpuSetWords * sizeof(ulong), allowed) != 0) Array.Clear(allowed);
            }
            if (!Without(allowed, cpu, mask)) return;   // the caller's CPU is the only one allowed
            if (SchedSetAffinity(0, CpuSetWords * sizeof(ulong), mask) == 0) keptOff = cpu;
        }

        /// <summary>Gives <paramref name="d"/> to up to <paramref name="wanted"/> idle helpers (not the calling one); returns how many took it.</summary>
        public static int Post(Dispatch d, int wanted)
        {
            var helpers = all ?? Create();
            int posted = 0;
            for (int h = 0; h < helpers.Length && posted < wanted; h++)
            {
                var helper = helpers[h];
                if (helper == current || Volatile.Read(ref helper.mailbox) is not null) continue;
                d.AddRef();
                if (Interlocked.CompareExchange(ref helper.mailbox, d, null) is not null)
                {
                    d.Release();   // the caller still holds its own reference, so this never pools the record
                    continue;
                }
                // The exchange above is a full fence: either the helper sees the mail before it sleeps,
                // or this read sees it asleep and wakes it.
                if (Volatile.Read(ref helper.sleeping) != 0) helper.wake.Set();
                posted++;
            }
            return posted;
        }

        private static Helper[] Create()
        {
            lock (Gate)
            {
                if (all is not null) return all;
                var helpers = new Helper[Math.Max(1, Environment.ProcessorCount - 1)];
                for (int h = 0; h < helpers.Length; h++)
                {
                    var helper = helpers[h] = new Helper();
                    new Thread(helper.Loop) { IsBackground = true, Name = $"ParallelItems helper {h + 1}" }.Start();
                }
                // The process's first thread-pool item sets the pool up on the thread that queues it (~5 KB of the caller's
                // allocations, measured: bench/NOTES.md, tidy section). A later call whose helpers are busy queues its
                // extra workers there, and paid it inside that call (one Into row's bytes per call, a different row each
                // run); queued here it is paid once, with the helpers, by the first multi-threaded call (a warm-up).
                ThreadPool.UnsafeQueueUserWorkItem(NoWork.Instance, preferLocal: false);
                return all = helpers;
            }
        }

        private void Loop()
        {
            current = this;
            long window = (long)(WarmWindow.TotalSeconds * Stopwatch.Frequency), idleSince = Stopwatch.GetTimestamp();
            while (true)
            {
                var d = Interlocked.Exchange(ref mailbox, null);
                if (d is not null)
                {
                    KeepOff(d.CallerCpu);
                    d.Work(onCaller: false);
                    d.Release();
                    idleSince = Stopwatch.GetTimestamp();
                    continue;
                }
                if (Stopwatch.GetTimestamp() - idleSince < window)
                {
                    // Polite polling: any other runnable thread on this core (a data-parallel worker, another
                    // process) gets the core at once; with none, the yield returns immediately.
                    Thread.SpinWait(20);
                    Thread.Yield();
                    continue;
                }
                wake.Reset();
                Interlocked.Exchange(ref sleeping, 1);   // full fence before the mailbox is read again
                if (Volatile.Read(ref mailbox) is null) wake.Wait();
                Volatile.Write(ref sleeping, 0);
                idleSince = Stopwatch.GetTimestamp();
            }
        }
    }

    /// <summary>
    /// The CPU set <paramref name="allowed"/> (a cpu_set_t: bit c % 64 of word c / 64 for CPU c) without <paramref name="cpu"/>,
    /// into <paramref name="mask"/>; false when nothing is left (then a helper stays where it is).
    /// </summary>
    internal static bool Without(ReadOnlySpan<ulong> allowed, int cpu, Span<ulong> mask)
    {
        bool any = false;
        for (int w = 0; w < allowed.Length; w++)
        {
            mask[w] = allowed[w] & (w == cpu / 64 ? ~(1UL << (cpu % 64)) : ulong.MaxValue);
            any |= mask[w] != 0;
        }
        return any;
    }

    /// <summary>Words of a Linux cpu_set_t (1024 CPUs).</summary>
    private const int CpuSetWords = 16;

    /// <summary>The CPU the calling thread runs on (Linux sched_getcpu), or -1.</summary>
    private static int CurrentCpu() => OperatingSystem.IsLinux() ? SchedGetCpu() : -1;

    [LibraryImport("libc", EntryPoint = "sched_getcpu")]
    private static partial int SchedGetCpu();

    [LibraryImport("libc", EntryPoint = "sched_getaffinity")]
    private static partial int SchedGetAffinity(int pid, nint size, [Out] ulong[] mask);

    [LibraryImport("libc", EntryPoint = "sched_setaffinity")]
    private static partial int SchedSetAffinity(int pid, nint size, ulong[] mask);
}
