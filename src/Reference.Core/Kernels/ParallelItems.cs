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
/// thread-pool helpers take items from one atomic counter (dynamic assignment: a helper that starts
/// late, or never, on a busy machine simply takes fewer items, and nobody waits for it to start). The
/// call returns once every item has run. The dispatch record of a call is pooled and reused only
/// after every helper queued for that call has left it, so a helper that starts after the call
/// returned finds no items and touches nothing else. The body's per-thread state belongs in
/// <see cref="PerThread{TItem, TKey}"/>. An exception from an item is rethrown on the calling thread
/// after the other items finish.
/// </summary>
public static class ParallelItems
{
    /// <summary>Runs body.Run(i) for i in [0, count) on up to <paramref name="threads"/> threads (0 = every core).</summary>
    public static void For(int count, int threads, IParallelBody body)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        if (count <= 0) return;
        int workers = Math.Min(threads == 0 ? KernelThreads.Default : threads, count);
        if (workers <= 1)
        {
            for (int i = 0; i < count; i++) body.Run(i);
            return;
        }
        var d = Dispatch.Rent();
        d.Start(body, count, workers);
        for (int w = 1; w < workers; w++) ThreadPool.UnsafeQueueUserWorkItem(d, preferLocal: false);
        d.Work();
        var spin = new SpinWait();
        while (Volatile.Read(ref d.Completed) < count) spin.SpinOnce();
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
        public Exception? Error;

        public static Dispatch Rent()
        {
            lock (Free)
                if (Free.Count > 0) return Free.Pop();
            return new Dispatch();
        }

        public void Start(IParallelBody work, int items, int workers)
        {
            (body, count, next, Completed, Error) = (work, items, 0, 0, null);
            Volatile.Write(ref refs, workers);
        }

        void IThreadPoolWorkItem.Execute()
        {
            Work();
            Release();
        }

        public void Work()
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < count)
            {
                try
                {
                    body!.Run(i);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref Error, e, null);
                }
                Interlocked.Increment(ref Completed);
            }
        }

        /// <summary>Called once by the caller and once by each queued helper; the last one pools the record.</summary>
        public void Release()
        {
            if (Interlocked.Decrement(ref refs) != 0) return;
            body = null;
            Error = null;
            lock (Free)
                if (Free.Count < 64) Free.Push(this);
        }
    }
}
