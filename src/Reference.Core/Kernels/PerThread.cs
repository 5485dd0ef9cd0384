using System.Runtime.CompilerServices;

namespace Reference.Core.Kernels;

/// <summary>
/// A workspace object that <see cref="PerThread{TItem, TKey}"/> can keep between calls: made for a key
/// (its sizes) by <see cref="Create"/>, reused for any key it <see cref="Fits"/>.
/// </summary>
public interface IPerThreadWorkspace<TSelf, TKey> where TSelf : class, IPerThreadWorkspace<TSelf, TKey>
{
    /// <summary>A new workspace large enough for <paramref name="key"/>.</summary>
    static abstract TSelf Create(TKey key);

    /// <summary>Whether this workspace is large enough for <paramref name="key"/>.</summary>
    bool Fits(TKey key);
}

/// <summary>
/// The per-thread pool of the fast tiers' workspaces: each thread keeps up to <see cref="Depth"/>
/// workspaces of one type that survive calls, so that a kernel called again on the same thread (the
/// caller, or a thread-pool worker, which lives across calls) touches no fresh pages. On these
/// virtual machines the first touch of a fresh page costs ~15-20 microseconds and .NET returns large
/// freed arrays to the OS, so allocating workspaces per call made calls alternate between fast and
/// slow. <see cref="Take"/> hands out a kept workspace that fits (or grows one: a new, larger one
/// replaces the smallest kept), <see cref="Give"/> keeps it again; a workspace taken and not given
/// back is simply collected. Nested takes on one thread get different workspaces.
/// </summary>
public static class PerThread<TItem, TKey> where TItem : class, IPerThreadWorkspace<TItem, TKey>
{
    /// <summary>Workspaces of one type kept per thread (a kernel takes a few at once at most).</summary>
    public const int Depth = 4;

    [ThreadStatic] private static TItem?[]? kept;

    /// <summary>A workspace for <paramref name="key"/> owned by the caller until <see cref="Give"/>.</summary>
    public static TItem Take(TKey key)
    {
        var slots = kept ??= new TItem?[Depth];
        int free = -1;
        for (int i = 0; i < slots.Length; i++)
        {
            var item = slots[i];
            if (item is null) continue;
            if (item.Fits(key))
            {
                slots[i] = null;
                return item;
            }
            free = i;
        }
        // None fits: drop one that does not (it would only be grown again), make a larger one.
        if (free >= 0) slots[free] = null;
        return TItem.Create(key);
    }

    /// <summary>Keeps <paramref name="item"/> for the next <see cref="Take"/> on this thread.</summary>
    public static void Give(TItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var slots = kept ??= new TItem?[Depth];
        for (int i = 0; i < slots.Length; i++)
            if (slots[i] is null)
            {
                slots[i] = item;
                return;
            }
        slots[0] = item;
    }
}

/// <summary>
/// A flat array of T as a per-thread workspace (<see cref="PerThread{TItem, TKey}"/> keyed by the
/// length needed): <c>var w = PerThread&lt;PooledArray&lt;T&gt;, int&gt;.Take(n); ... Give(w)</c>, or
/// <see cref="Rent"/> / <see cref="Return"/>. The contents are whatever the previous user left.
/// </summary>
public sealed class PooledArray<T> : IPerThreadWorkspace<PooledArray<T>, int> where T : unmanaged
{
    private PooledArray(int length) => Data = GC.AllocateUninitializedArray<T>(length);

    /// <summary>The array: at least the length asked for, not cleared.</summary>
    public T[] Data { get; }

    public static PooledArray<T> Create(int key) => new(Math.Max(key, 0));

    public bool Fits(int key) => Data.Length >= key;

    /// <summary>A kept array of at least <paramref name="length"/> elements from this thread's pool.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PooledArray<T> Rent(int length) => PerThread<PooledArray<T>, int>.Take(length);

    /// <summary>Gives <paramref name="array"/> back to this thread's pool.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Return(PooledArray<T> array) => PerThread<PooledArray<T>, int>.Give(array);
}
