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

    /// <summary>Query heads of the forget gate (0 = no gate).</summary>
    public int GateHeads { get; private set; }

    /// <summary>Forgetting attention: G_j, the gate's prefix sum at each held position, [B, GateHeads, Capacity]; null without a gate.</summary>
    internal T[]? GateCum { get; private set; }

    /// <summary>G_t of the last appended position per (batch, query head) [B, GateHeads].</summary>
    internal T[]? GateTotal { get; private set; }

    /// <summary>Makes an empty cache carry the prefix sums of a forget gate with <paramref name="heads"/> query heads.</summary>
    internal void EnableGate(int heads)
    {
        if (Count != 0) throw new InvalidOperationException("Only an empty cache can start carrying a gate.");
        GateHeads = heads;
        GateCum = new T[Batch * heads * Capacity];
        GateTotal = new T[Batch * heads];
    }

    /// <summary>
    /// After a prompt of <paramref name="length"/> positions was appended (Count = length): the prefix sums of its
    /// gate g [B, GateHeads, L] (row-major) from position 0, evicted positions included, stored for the held ones.
    /// </summary>
    internal void SetPromptGate(ReadOnlySpan<T> g, int length)
    {
        long oldest = Math.Max(0, Count - Capacity);
        for (int row = 0; row < Batch * GateHeads; row++)
        {
            T acc = T.Zero;
            for (int t = 0; t < length; t++)
            {
                acc += g[row * length + t];
                if (t >= oldest) GateCum![row * Capacity + Slot(t)] = acc;
            }
            GateTotal![row] = acc;
        }
    }

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

    /// <summary>
    /// Appends one position: k [B * Hkv * K], v [B * Hkv * V] (row-major [B, Hkv, X]) and, when the cache carries
    /// a gate and <paramref name="g"/> is not empty, the position's gate g [B * GateHeads] (G_t = G_{t-1} + g_t).
    /// </summary>
    internal void Append(ReadOnlySpan<T> k, ReadOnlySpan<T> v, ReadOnlySpan<T> g = default)
    {
        if (Count == Capacity && Capacity < (Window ?? int.MaxValue)) Resize((int)Math.Min(2L * Capacity, Window ?? int.MaxValue));
        int heads = Batch * KvHeads, slot = Slot(Count);
        for (int bh = 0; bh < heads; bh++)
        {
            k.Slice(bh * KeyDim, KeyDim).CopyTo(Keys.AsSpan((bh * Capacity + slot) * KeyDim));
            v.Slice(bh * ValueDim, ValueDim).CopyTo(Values.AsSpan((bh * Capacity + slot) * ValueDim));
        }
        if (GateCum is not null && !g.IsEmpty)
            for (int row = 0; row < Batch * GateHeads; row++)
            {
                GateTotal![row] += g[row];
                GateCum[row * Capacity + slot] = GateTotal[row];
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
        if (GateCum is not null)
        {
            var gate = new T[Batch * GateHeads * capacity];
            if (Count <= Capacity)
                for (int row = 0; row < Batch * GateHeads; row++) Array.Copy(GateCum, row * Capacity, gate, row * capacity, held);
            GateCum = gate;
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
