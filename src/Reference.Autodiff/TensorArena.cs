using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Buffer reuse for training steps: a pool of float64 arrays by exact length. Inside
/// <see cref="Use"/> the tape's primitives (values, saved intermediates, cotangents, the matrix
/// products' outputs) take their buffers from the arena instead of the garbage-collected heap; the
/// arena remembers every buffer it lent, and <see cref="Reset"/> takes them all back for the next
/// step. A training loop that records the same graph every step then allocates nothing after its
/// first step: no large-object churn, no fresh pages faulted in per step, no gen-2 collections.
/// <para>
/// Lifetime: a buffer lent during the scope belongs to the step until <see cref="Reset"/>; every
/// tensor a recorded primitive produced in the scope (values of intermediate variables, gradients
/// from <see cref="Tape.Gradients"/>) is invalid afterwards and is overwritten by the next step.
/// What must outlive the step is never taken from the arena: leaf gradients accumulated into
/// <see cref="Variable.Grad"/> by <see cref="Tape.Backward"/> are plain arrays, parameters are created
/// outside the scope, and code outside the tape's primitives (operators' own kernels, modules'
/// caches) allocates as before. Buffers from <see cref="Uninitialized"/> hold stale data of an earlier
/// step; each primitive overwrites every element of such a buffer (the contract of its naming) and
/// zero-fills the ones it accumulates into (<see cref="Zeros"/>), so results are bitwise the same with
/// and without an arena (the autodiff tests check it).
/// </para>
/// One arena per thread at a time (the current one is thread-local; <see cref="DataParallelStep"/>
/// gives each of its threads its own, reset after each micro-batch). Not thread-safe itself.
/// </summary>
public sealed class TensorArena
{
    [ThreadStatic] private static TensorArena? current;
    private readonly Dictionary<int, Stack<double[]>> free = [];
    private readonly List<double[]> lent = [];

    /// <summary>The arena the tape's primitives allocate from on this thread (null: the heap).</summary>
    public static TensorArena? Current => current;

    /// <summary>Elements held by the arena (lent and free): its footprint once a step has run.</summary>
    public long HeldElements { get; private set; }

    /// <summary>Buffers lent since the last <see cref="Reset"/>.</summary>
    public int LentCount => lent.Count;

    /// <summary>Buffers created because no free one of the length was left (allocation misses), since construction.</summary>
    public long Misses { get; private set; }

    /// <summary>The buffers held (lent and free) by length, largest first: what a step's working memory is made of.</summary>
    public IReadOnlyList<(int Length, int Count)> HeldBuffers() =>
        [.. free.Select(kv => (kv.Key, kv.Value.Count)).Concat(lent.Select(b => (b.Length, 1)))
            .GroupBy(x => x.Item1, (length, xs) => (length, xs.Sum(x => x.Item2))).Where(x => x.Item2 > 0).OrderByDescending(x => x.length)];

    /// <summary>Makes this arena current on this thread until the scope is disposed (scopes nest; the previous one is restored).</summary>
    public Tape.Scope Use()
    {
        var previous = current;
        current = this;
        return new Tape.Scope(() => current = previous);
    }

    /// <summary>Takes back every buffer lent since the last reset (their contents stay as stale data for the next step).</summary>
    public void Reset()
    {
        foreach (var buffer in lent)
        {
            if (!free.TryGetValue(buffer.Length, out var stack)) free[buffer.Length] = stack = new Stack<double[]>();
            stack.Push(buffer);
        }
        lent.Clear();
    }

    /// <summary>Drops every buffer (lent ones included; call only when none is in use).</summary>
    public void Clear()
    {
        free.Clear();
        lent.Clear();
        HeldElements = 0;
    }

    private double[] Rent(int length)
    {
        if (!free.TryGetValue(length, out var stack) || !stack.TryPop(out var buffer))
        {
            buffer = GC.AllocateUninitializedArray<double>(length);
            HeldElements += length;
            Misses++;
        }
        lent.Add(buffer);
        return buffer;
    }

    /// <summary>An array of <paramref name="length"/> elements with unspecified contents: from the current arena, else the heap.</summary>
    internal static double[] UninitializedArray(int length) =>
        length == 0 ? [] : current is { } arena ? arena.Rent(length) : GC.AllocateUninitializedArray<double>(length);

    /// <summary>A tensor of <paramref name="shape"/> whose every element the caller overwrites (from the current arena, else the heap).</summary>
    public static Tensor<double> Uninitialized(params int[] shape) =>
        new(UninitializedArray((int)Shapes.ElementCount(shape, nameof(shape))), shape);

    /// <summary>A zero tensor of <paramref name="shape"/> (from the current arena, else the heap).</summary>
    public static Tensor<double> Zeros(params int[] shape)
    {
        if (current is null) return Tensor<double>.Zeros(shape);
        var t = Uninitialized(shape);
        Array.Clear(t.Data);
        return t;
    }
}
