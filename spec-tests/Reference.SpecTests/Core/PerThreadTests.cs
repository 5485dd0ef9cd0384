using System.Collections.Concurrent;
using Reference.Core.Kernels;

namespace Reference.SpecTests.Core;

/// <summary>The per-thread workspace pool and the allocation-free parallel loop the fast tiers' Into forms run on.</summary>
public class PerThreadTests
{
    // Element types nothing else pools (long, short), so other tests on the same thread leave nothing kept.

    [Fact]
    public void PooledArray_IsKeptAcrossTakes_AndNestedTakesGetDifferentArrays()
    {
        var first = PooledArray<long>.Rent(1000);
        var nested = PooledArray<long>.Rent(10);
        Assert.NotSame(first, nested);
        Assert.True(first.Data.Length >= 1000);
        Assert.True(nested.Data.Length >= 10);
        PooledArray<long>.Return(nested);
        PooledArray<long>.Return(first);
        // A take that only the large one fits gets it back, not a new array.
        Assert.Same(first, PooledArray<long>.Rent(first.Data.Length));
        // A larger request than anything kept gets a new, large enough array.
        var larger = PooledArray<long>.Rent(first.Data.Length + 1);
        Assert.True(larger.Data.Length > first.Data.Length);
        PooledArray<long>.Return(larger);
        Assert.Same(larger, PooledArray<long>.Rent(first.Data.Length + 1));
    }

    [Fact]
    public void PooledArray_IsPerThread()
    {
        var mine = PooledArray<short>.Rent(64);
        PooledArray<short>.Return(mine);
        PooledArray<short>? theirs = null;
        var thread = new Thread(() =>
        {
            theirs = PooledArray<short>.Rent(64);
            PooledArray<short>.Return(theirs);
        });
        thread.Start();
        thread.Join();
        Assert.NotNull(theirs);
        Assert.NotSame(mine, theirs);
        Assert.Same(mine, PooledArray<short>.Rent(64));
    }

    private sealed class Recorder(int count) : IParallelBody
    {
        public readonly int[] Runs = new int[count];
        public readonly ConcurrentDictionary<int, bool> Threads = new();

        public void Run(int item)
        {
            Interlocked.Increment(ref Runs[item]);
            Threads[Environment.CurrentManagedThreadId] = true;
            Thread.SpinWait(200);
        }
    }

    [Theory]
    [InlineData(0, 2)]
    [InlineData(1, 2)]
    [InlineData(7, 1)]
    [InlineData(7, 3)]
    [InlineData(100, 0)]
    [InlineData(257, 5)]
    public void ParallelItems_RunsEveryItemExactlyOnce(int count, int threads)
    {
        for (int repeat = 0; repeat < 6; repeat++)
        {
            var body = new Recorder(count);
            // Shared counter and contiguous ranges, alternately (the same pooled dispatch records serve both).
            if (repeat % 2 == 0) ParallelItems.For(count, threads, body);
            else ParallelItems.ForContiguous(count, threads, body);
            Assert.All(body.Runs, r => Assert.Equal(1, r));
            if (threads == 1) Assert.True(body.Threads.Count <= 1);
        }
    }

    /// <summary>Records who ran each item and in which order; item 0 waits (up to 10 s) until another thread has run an item.</summary>
    private sealed class OrderRecorder(int count, int caller) : IParallelBody
    {
        public readonly ConcurrentQueue<(int Item, bool OnCaller)> Order = new();
        public readonly int[] Runs = new int[count];
        private int helperRan;

        public void Run(int item)
        {
            bool onCaller = Environment.CurrentManagedThreadId == caller;
            Interlocked.Increment(ref Runs[item]);
            Order.Enqueue((item, onCaller));
            if (!onCaller) Volatile.Write(ref helperRan, 1);
            if (item == 0)
                SpinWait.SpinUntil(() => Volatile.Read(ref helperRan) != 0, TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public void ParallelItems_Contiguous_CallerRunsTheFirstRange_HelperTheSecondFromItsFront_ThenTakesTheRestFromTheBack()
    {
        // 10 items on 2 workers: ranges [0, 5) and [5, 10). The caller starts at 0 and is held there until the
        // helper has run an item, so the helper's first item is the front of its own range (5, not 1 as a
        // shared counter would give); items the helper takes from the caller's range come from its back.
        var body = new OrderRecorder(10, Environment.CurrentManagedThreadId);
        ParallelItems.ForContiguous(10, 2, body);
        Assert.All(body.Runs, r => Assert.Equal(1, r));
        var order = body.Order.ToArray();
        // The caller starts at the front of its range (unless it was descheduled after posting the call
        // for so long that the helper took the whole range, from its back, down to 0).
        var caller = order.Where(o => o.OnCaller).Select(o => o.Item).ToArray();
        Assert.True(caller.Length == 0 || caller[0] == 0 || caller.All(i => i >= 5), $"caller ran {string.Join(", ", caller)}");
        var helper = order.Where(o => !o.OnCaller).Select(o => o.Item).ToArray();
        Assert.NotEmpty(helper);
        Assert.Equal(5, helper[0]);
        var taken = helper.Where(i => i < 5).ToArray();
        Assert.Equal(taken.OrderByDescending(i => i), taken);
        var own = helper.Where(i => i >= 5).ToArray();
        Assert.Equal(own.Order(), own);
    }

    private sealed class Nested(int outer, int inner) : IParallelBody
    {
        public readonly Recorder[] Inner = Enumerable.Range(0, outer).Select(_ => new Recorder(inner)).ToArray();

        public void Run(int item)
        {
            if (item % 2 == 0) ParallelItems.For(Inner[item].Runs.Length, 2, Inner[item]);
            else ParallelItems.ForContiguous(Inner[item].Runs.Length, 2, Inner[item]);
        }
    }

    [Fact]
    public void ParallelItems_NestedAndConcurrentCalls_RunEveryItemExactlyOnce()
    {
        // Items that start parallel loops of their own (on the caller and on a helper, which then finds
        // itself busy), and two callers at once competing for the same helpers: nothing is lost or run twice,
        // and nothing waits for a helper that is busy elsewhere.
        for (int repeat = 0; repeat < 5; repeat++)
        {
            var a = new Nested(6, 9);
            var b = new Nested(5, 7);
            var other = new Thread(() => ParallelItems.For(5, 2, b));
            other.Start();
            ParallelItems.For(6, 2, a);
            other.Join();
            foreach (var body in a.Inner.Concat(b.Inner)) Assert.All(body.Runs, r => Assert.Equal(1, r));
        }
    }

    /// <summary>Item 0 waits (up to 10 s) until another thread has run an item, so that a helper runs at least one.</summary>
    private sealed class WaitsForAHelper(int count, int caller) : IParallelBody
    {
        public readonly int[] RunBy = new int[count];
        private int helperRan;

        public void Run(int item)
        {
            RunBy[item] = Environment.CurrentManagedThreadId;
            if (Environment.CurrentManagedThreadId != caller) Volatile.Write(ref helperRan, 1);
            if (item == 0)
                SpinWait.SpinUntil(() => Volatile.Read(ref helperRan) != 0, TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public void ParallelItems_CountsDispatchedItemsAndThoseRunOnHelpers()
    {
        // The counters are process-wide and other tests may run loops at the same time, so they can only
        // grow by at least this call's items; the helper's add lands just after its last item completes.
        long dispatched0 = ParallelItems.DispatchedItems, helpers0 = ParallelItems.HelperItems;
        var body = new WaitsForAHelper(64, Environment.CurrentManagedThreadId);
        ParallelItems.For(64, 2, body);
        int onHelpers = body.RunBy.Count(t => t != Environment.CurrentManagedThreadId);
        // At least one item ran on a helper (item 0 waits for one); all 64 may have, when the caller was
        // descheduled right after posting and a helper claimed every item (seen on the loaded CI machine).
        Assert.InRange(onHelpers, 1, 64);
        // The calling thread's last call, exactly (thread-static, so other tests' loops do not touch it).
        Assert.Equal((64, onHelpers), ParallelItems.LastCall);
        Assert.True(ParallelItems.DispatchedItems - dispatched0 >= 64, $"DispatchedItems grew by {ParallelItems.DispatchedItems - dispatched0}, expected >= 64");
        Assert.True(SpinWait.SpinUntil(() => ParallelItems.HelperItems - helpers0 >= onHelpers, TimeSpan.FromSeconds(10)),
            $"HelperItems grew by {ParallelItems.HelperItems - helpers0}, expected >= {onHelpers} (items run off the calling thread)");
        ParallelItems.ForContiguous(5, 1, new Recorder(5));
        Assert.Equal((5, 0), ParallelItems.LastCall);
    }

    [Fact]
    public void ParallelItems_ForWorkers_RunsEachWorkerOnce_AndLeavesTheItemCountsAlone()
    {
        // FastGemm's schedule hands out its own tasks; its two workers are not a kernel's items, so a kernel that reads
        // LastCall after a GEMM (the fused BatchNorm tail) still sees its own previous loop.
        ParallelItems.ForContiguous(5, 1, new Recorder(5));
        var body = new WaitsForAHelper(2, Environment.CurrentManagedThreadId);
        ParallelItems.ForWorkers(2, body);
        Assert.NotEqual(0, body.RunBy[0]);
        Assert.NotEqual(0, body.RunBy[1]);
        Assert.Equal((5, 0), ParallelItems.LastCall);
    }

    private sealed class Failing : IParallelBody
    {
        public int Ran;

        public void Run(int item)
        {
            Interlocked.Increment(ref Ran);
            if (item == 5) throw new InvalidOperationException("item 5");
        }
    }

    [Fact]
    public void ParallelItems_RethrowsAnItemsException_AfterTheOtherItems()
    {
        var body = new Failing();
        var e = Assert.Throws<InvalidOperationException>(() => ParallelItems.For(40, 3, body));
        Assert.Equal("item 5", e.Message);
        Assert.Equal(40, body.Ran);
        var contiguous = new Failing();
        Assert.Equal("item 5", Assert.Throws<InvalidOperationException>(() => ParallelItems.ForContiguous(40, 3, contiguous)).Message);
        Assert.Equal(40, contiguous.Ran);
        // The pooled dispatch record is usable again afterwards.
        var ok = new Recorder(40);
        ParallelItems.For(40, 3, ok);
        Assert.All(ok.Runs, r => Assert.Equal(1, r));
    }

    [Fact]
    public void Negative_ParallelItems_NullBodyOrNegativeThreads_NameTheArgument()
    {
        Assert.Equal("body", Assert.Throws<ArgumentNullException>(() => ParallelItems.For(3, 1, null!)).ParamName);
        Assert.Equal("threads", Assert.Throws<ArgumentOutOfRangeException>(() => ParallelItems.For(3, -1, new Recorder(3))).ParamName);
    }

    /// <summary>
    /// The CPU set a helper is restricted to when it finds itself on its caller's CPU (ParallelItems.Without): the
    /// allowed set with that one bit cleared, in the right word of the cpu_set_t, and no restriction when nothing
    /// else is allowed.
    /// </summary>
    [Fact]
    public void KeepOff_Mask_ClearsOnlyTheCallersCpu()
    {
        var mask = new ulong[16];
        var allowed = new ulong[16];
        allowed[0] = 0b11;   // CPUs 0 and 1
        Assert.True(ParallelItems.Without(allowed, 0, mask));
        Assert.Equal(0b10UL, mask[0]);
        Assert.True(ParallelItems.Without(allowed, 1, mask));
        Assert.Equal(0b01UL, mask[0]);
        // A CPU outside the allowed set leaves it whole.
        Assert.True(ParallelItems.Without(allowed, 5, mask));
        Assert.Equal(0b11UL, mask[0]);
        // CPU 70 is bit 6 of word 1; CPU 6 (bit 6 of word 0) stays.
        Array.Clear(allowed);
        allowed[0] = 1UL << 6;
        allowed[1] = 1UL << 6;
        Assert.True(ParallelItems.Without(allowed, 70, mask));
        Assert.Equal(1UL << 6, mask[0]);
        Assert.Equal(0UL, mask[1]);
        // The caller's CPU is the only one allowed: no set to move to.
        Array.Clear(allowed);
        allowed[0] = 1UL << 3;
        Assert.False(ParallelItems.Without(allowed, 3, mask));
    }
}
