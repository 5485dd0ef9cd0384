using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Parameter-gradient work that is linear in a partial gradient each micro-batch produces, done once per
/// <see cref="DataParallelStep"/> on the partials' sum instead of once per micro-batch. The example is
/// H3's S4D kernel: every micro-batch's VJP yields dK [H, L] for the same kernel K(params), and the map
/// dK -> d params (S4D.KernelGradients, sums of dK against powers of each mode) is linear, so
/// sum_i J^T dK_i = J^T (sum_i dK_i) up to float reassociation, at the cost of one map per step.
/// </summary>
public abstract class DeferredGradient
{
    /// <summary>The leaves whose gradients <see cref="Finish"/> returns (each must be a parameter of the step).</summary>
    public abstract IReadOnlyList<Variable> Leaves { get; }

    /// <summary>The leaves' gradient contributions (in <see cref="Leaves"/> order, each of its leaf's shape) from the partials' sum.</summary>
    public abstract Tensor<double>[] Finish(double[] partialSum);
}

/// <summary>
/// Where a VJP hands a <see cref="DeferredGradient"/>'s partial to the running <see cref="DataParallelStep"/>.
/// The step sums the partials of each key over its micro-batches in micro-batch order (within a micro-batch,
/// in the order its VJPs ran: one thread), then adds each Finish's contributions to the leaves' gradients
/// (the step's Sum semantics: into Grad, or into the kept buffer). Results therefore do not depend on the
/// thread count or schedule, as the rest of the step.
/// </summary>
public static class DeferredGradients
{
    [ThreadStatic] private static Collector? current;
    [ThreadStatic] private static int currentMicroBatch;

    /// <summary>
    /// Records <paramref name="partial"/> (read, not kept) for <paramref name="key"/> in this thread's micro-batch when
    /// it runs inside a <see cref="DataParallelStep"/> whose parameters include every leaf of <paramref name="gradient"/>'s
    /// <see cref="DeferredGradient.Leaves"/>, and returns true: the VJP then returns no gradient for those leaves.
    /// Returns false (nothing recorded) anywhere else: the VJP computes the leaves' gradients itself.
    /// The first micro-batch to record a key fixes its <see cref="DeferredGradient"/> (<paramref name="gradient"/> is
    /// called only then).
    /// </summary>
    public static bool TryDefer(object key, ReadOnlySpan<double> partial, Func<DeferredGradient> gradient)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(gradient);
        return current is { } c && c.Add(key, currentMicroBatch, partial, gradient);
    }

    /// <summary>Marks this thread as running micro-batch <paramref name="microBatch"/> of <paramref name="collector"/>'s step until disposed.</summary>
    internal static Scope Enter(Collector collector, int microBatch)
    {
        var scope = new Scope(current, currentMicroBatch);
        current = collector;
        currentMicroBatch = microBatch;
        return scope;
    }

    internal readonly struct Scope(Collector? previous, int previousMicroBatch) : IDisposable
    {
        public void Dispose()
        {
            current = previous;
            currentMicroBatch = previousMicroBatch;
        }
    }

    /// <summary>One step's deferred partials: per key, the gradient and one partial sum per micro-batch.</summary>
    internal sealed class Collector(IReadOnlyDictionary<Variable, int> parameterIndex, int microBatches)
    {
        private readonly Dictionary<object, (DeferredGradient Gradient, double[]?[] Partials)> entries = new(ReferenceEqualityComparer.Instance);

        public bool Add(object key, int microBatch, ReadOnlySpan<double> partial, Func<DeferredGradient> create)
        {
            lock (entries)
            {
                if (!entries.TryGetValue(key, out var entry))
                {
                    var g = create();
                    if (g.Leaves.Count == 0 || g.Leaves.Any(v => !parameterIndex.ContainsKey(v))) return false;
                    entries[key] = entry = (g, new double[]?[microBatches]);
                }
                if (entry.Partials[microBatch] is { } sum)
                {
                    if (sum.Length != partial.Length)
                        throw new ArgumentException($"partial has {partial.Length} values, key's earlier partials {sum.Length}.", nameof(partial));
                    TensorPrimitives.Add(sum, partial, sum);
                }
                else entry.Partials[microBatch] = partial.ToArray();
                return true;
            }
        }

        public bool IsEmpty => entries.Count == 0;

        /// <summary>
        /// Each key's partials summed in micro-batch order and mapped by its gradient, in the order of the step's
        /// parameter index of the key's first leaf (a fixed order, whichever thread recorded a key first).
        /// </summary>
        public IEnumerable<(Variable Leaf, Tensor<double> Gradient)> Finish()
        {
            foreach (var (gradient, partials) in entries.Values.OrderBy(e => parameterIndex[e.Gradient.Leaves[0]]))
            {
                double[]? sum = null;
                foreach (var p in partials)
                {
                    if (p is null) continue;
                    if (sum is null) sum = p;
                    else TensorPrimitives.Add(sum, p, sum);
                }
                if (sum is null) continue;
                var grads = gradient.Finish(sum);
                if (grads.Length != gradient.Leaves.Count)
                    throw new InvalidOperationException($"a deferred gradient returned {grads.Length} tensors for {gradient.Leaves.Count} leaves.");
                for (int i = 0; i < grads.Length; i++) yield return (gradient.Leaves[i], grads[i]);
            }
        }
    }
}
