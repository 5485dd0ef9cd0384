using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Attention;

/// <summary>
/// Decoding state of softmax attention over T (float or double): the keys and values of the positions
/// still visible, stored [B, Hkv, Capacity, K] and [B, Hkv, Capacity, V]; position t lives in slot
/// t mod Capacity. Without a window every position is kept (Capacity doubles as needed, slot = t).
/// With a window W the storage grows to W slots and then works as a ring buffer: appending position t
/// overwrites position t - W, which no later query can attend to, so memory is O(W) for unbounded
/// generation. Built by <see cref="SoftmaxAttention.PrefillFast{T}"/> for the fast tier; the
/// definition's float64 cache <see cref="KvCache"/> is a KvCache&lt;double&gt; with the same layout.
/// </summary>
public class KvCache<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>An empty cache of <paramref name="capacity"/> slots (at most the window).</summary>
    internal KvCache(int batch, int kvHeads, int keyDim, int valueDim, int? window, int capacity = 16)
    {
        Batch = batch; KvHeads = kvHeads; KeyDim = keyDim; ValueDim = valueDim; Window = window;
        Capacity = Math.Max(1, Math.Min(capacity, window ?? int.MaxValue));
        Keys = new T[batch * kvHeads * Capacity * keyDim];
        Values = new T[batch * kvHeads * Capacity * valueDim];
    }

    public int Batch { get; }
    public int KvHeads { get; }
    public int KeyDim { get; }
    public int ValueDim { get; }

    /// <summary>Positions kept (the sliding window W), or null when every position is kept.</summary>
    public int? Window { get; }

    /// <summary>Number of positions seen (prompt and generated), including evicted ones.</summary>
    public long Count { get; private set; }

    /// <summary>Positions the storage holds: at most <see cref="Window"/> when a window is set.</summary>
    public int Capacity { get; private set; }

    internal T[] Keys { get; private set; }
    internal T[] Values { get; private set; }

    /// <summary>The slot of a position still held (Count - Capacity &lt;= position &lt; Count).</summary>
    internal int Slot(long position) => (int)(position % Capacity);

    /// <summary>Counts <paramref name="positions"/> positions as seen and evicted (a prompt longer than the window).</summary>
    internal void Skip(int positions)
    {
        if (Count != 0 || (positions > 0 && Window is null))
            throw new InvalidOperationException("Only an empty windowed cache can skip evicted positions.");
        Count = positions;
        // Keep slot = position mod Capacity: a skipped prefix means the ring is already at full size.
        if (positions > 0 && Capacity != Window!.Value) Resize(Window.Value);
    }

    /// <summary>Appends one position: k [B * Hkv * K], v [B * Hkv * V] (row-major [B, Hkv, X]).</summary>
    internal void Append(ReadOnlySpan<T> k, ReadOnlySpan<T> v)
    {
        if (Count == Capacity && Capacity < (Window ?? int.MaxValue)) Resize((int)Math.Min(2L * Capacity, Window ?? int.MaxValue));
        int heads = Batch * KvHeads, slot = Slot(Count);
        for (int bh = 0; bh < heads; bh++)
        {
            k.Slice(bh * KeyDim, KeyDim).CopyTo(Keys.AsSpan((bh * Capacity + slot) * KeyDim));
            v.Slice(bh * ValueDim, ValueDim).CopyTo(Values.AsSpan((bh * Capacity + slot) * ValueDim));
        }
        Count++;
    }

    /// <summary>
    /// Appends the rest of a prompt, positions [Count, L) of k [B, Hkv, L, K], v [B, Hkv, L, V] (row-major),
    /// head by head. The storage must already hold them: Count + (L - Count) &lt;= Capacity, or a full-size
    /// ring (Capacity = W) receiving at most W positions.
    /// </summary>
    internal void AppendPrompt(ReadOnlySpan<T> k, ReadOnlySpan<T> v, int length)
    {
        int from = (int)Count, n = length - from;
        if (length > Capacity && !(Capacity == Window && n <= Capacity))
            throw new InvalidOperationException($"A prompt of {length} positions does not fit a cache of {Capacity} slots.");
        for (int bh = 0; bh < Batch * KvHeads; bh++)
            for (int t = from; t < length; t++)
            {
                int slot = Slot(t);
                k.Slice((bh * length + t) * KeyDim, KeyDim).CopyTo(Keys.AsSpan((bh * Capacity + slot) * KeyDim));
                v.Slice((bh * length + t) * ValueDim, ValueDim).CopyTo(Values.AsSpan((bh * Capacity + slot) * ValueDim));
            }
        Count = length;
    }

    /// <summary>Moves to <paramref name="capacity"/> slots; only called while slot = position (Count &lt;= Capacity).</summary>
    private void Resize(int capacity)
    {
        int heads = Batch * KvHeads, held = (int)Math.Min(Count, Capacity);
        var keys = new T[heads * capacity * KeyDim];
        var values = new T[heads * capacity * ValueDim];
        if (Count <= Capacity)
            for (int bh = 0; bh < heads; bh++)
            {
                Array.Copy(Keys, bh * Capacity * KeyDim, keys, bh * capacity * KeyDim, held * KeyDim);
                Array.Copy(Values, bh * Capacity * ValueDim, values, bh * capacity * ValueDim, held * ValueDim);
            }
        Keys = keys; Values = values; Capacity = capacity;
    }
}

/// <summary>
/// The definition's float64 decoding cache (<see cref="SoftmaxAttention.Prefill"/>, <see cref="SoftmaxAttention.Step"/>).
/// It is a <see cref="KvCache{T}"/> of double, so <see cref="SoftmaxAttention.StepFast{T}"/> runs on it as well.
/// </summary>
public sealed class KvCache : KvCache<double>
{
    internal KvCache(int batch, int kvHeads, int keyDim, int valueDim, int? window) : base(batch, kvHeads, keyDim, valueDim, window) { }
}
