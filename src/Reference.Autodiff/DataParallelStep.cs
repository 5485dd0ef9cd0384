using System.Runtime.ExceptionServices;
using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// The forward and backward pass of one training step split over micro-batches (data parallelism on
/// one machine, as torch DistributedDataParallel does across processes): micro-batch i's loss is built
/// and differentiated on its own tape (<see cref="Tape.Gradients"/>) with its own
/// <see cref="TensorArena"/>, micro-batches run on up to <see cref="Threads"/> threads at once, and each
/// parameter's gradient is the sum of the micro-batches' gradients added in micro-batch order 0, 1, ...
/// <para>
/// Determinism: the split is fixed by <see cref="MicroBatches"/>, each micro-batch's graph is computed
/// by one thread, and the sum has a fixed order, so the result does not depend on
/// <see cref="Threads"/> nor on the schedule (1 and 2 threads give the same bits; kernels inside a
/// micro-batch are bitwise independent of their thread count). Against one tape over the whole batch
/// the result differs only by float reassociation: sums over the batch (dW = G^T x over rows, bias and
/// embedding gradients, the loss) are taken per micro-batch and then added, and the loss weight
/// (e.g. 1/N of a mean over N tokens) multiplies each micro-batch's cotangent instead of dividing once.
/// </para>
/// VJPs may hand work that is linear in a per-micro-batch partial to the step (<see cref="DeferredGradients"/>): it is
/// done once on the partials' sum (in micro-batch order) after the micro-batches, and added like their gradients.
/// Leaf gradients: a parameter whose <see cref="Variable.Grad"/> is null receives the sum in a buffer
/// this object keeps and reuses on later steps (so do not hold on to a gradient across an
/// optimizer's ZeroGrad); a non-null Grad is added into, micro-batch by micro-batch
/// (Backward's accumulation semantics). The modules' forward passes run concurrently, so they must only
/// read shared state (parameters) or guard their caches.
/// <para>
/// Memory: a step holds at most <see cref="Threads"/> micro-batches' tapes at once. There is one arena per thread,
/// not per micro-batch: as soon as micro-batch i's backward is done and micro-batches 0 .. i-1 have been added, its
/// gradients are added into the sums (the same additions, in the same order, as adding all of them at the end) and its
/// arena is reset for the thread's next micro-batch. So the step's working memory is that of <see cref="Threads"/>
/// micro-batches of B / <see cref="MicroBatches"/> sequences, not of the whole batch (bench/NOTES.md, "trainmem": with one
/// arena per micro-batch, all alive until the step's end, the MQAR batch-64 step held 2.4 GB of arenas at any split).
/// </para>
/// </summary>
public sealed class DataParallelStep
{
    private readonly Variable[] parameters;
    private readonly TensorArena[] arenas;
    private readonly object turn = new();
    private readonly Tensor<double>?[] sums;
    private readonly Dictionary<Variable, int> parameterIndex = new(ReferenceEqualityComparer.Instance);

    /// <param name="parameters">The leaves whose gradients are summed (a model's parameters).</param>
    /// <param name="microBatches">Micro-batches per step (fixes the arithmetic; >= 1).</param>
    /// <param name="threads">Micro-batches run at once (>= 1; 0: one per core up to the micro-batch count). Does not change results.</param>
    public DataParallelStep(IEnumerable<Variable> parameters, int microBatches, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (microBatches < 1) throw new ArgumentOutOfRangeException(nameof(microBatches), $"microBatches = {microBatches}; expected >= 1.");
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(threads), $"threads = {threads}; expected >= 0 (0: one per core).");
        this.parameters = [.. parameters.Distinct<Variable>(ReferenceEqualityComparer.Instance)];   // a leaf listed twice still gets its gradient once
        MicroBatches = microBatches;
        Threads = Math.Min(microBatches, threads == 0 ? KernelThreads.Default : threads);
        arenas = [.. Enumerable.Range(0, Threads).Select(_ => new TensorArena())];
        sums = new Tensor<double>?[this.parameters.Length];
        for (int p = 0; p < this.parameters.Length; p++) parameterIndex.TryAdd(this.parameters[p], p);
    }

    public int MicroBatches { get; }

    /// <summary>Micro-batches computed at once (each inside caps its kernels at its share of the cores).</summary>
    public int Threads { get; }

    /// <summary>The arenas, one per thread (each holds one micro-batch at a time; their footprint after a step is the step's working memory).</summary>
    public IReadOnlyList<TensorArena> Arenas => arenas;

    /// <summary>
    /// One forward and backward pass: <paramref name="microBatchLoss"/>(i) records micro-batch i's
    /// one-element loss, weighted so that the losses add up to the step's loss. Returns that sum
    /// (added in micro-batch order); the parameters' gradients are set as the type describes. The
    /// tensors recorded inside the call are the arenas' and are recycled before it returns. The kernel
    /// tier (<see cref="Tape.UseFastKernels"/>) is the caller's.
    /// </summary>
    public double Run(Func<int, Variable> microBatchLoss)
    {
        ArgumentNullException.ThrowIfNull(microBatchLoss);
        bool fast = Tape.FastKernels;
        int kernelThreads = Math.Max(1, KernelThreads.Default / Threads);
        var losses = new double[MicroBatches];
        var deferred = new DeferredGradients.Collector(parameterIndex, MicroBatches);
        // Each parameter's gradient before the step (added into) or null (set from the kept buffer at the end), and
        // whether its kept buffer has received a first micro-batch's gradient yet.
        var initial = new Tensor<double>?[parameters.Length];
        var started = new bool[parameters.Length];
        for (int p = 0; p < parameters.Length; p++) initial[p] = parameters[p].Grad;
        int next = 0, added = 0;
        bool failed = false;
        // Micro-batch i on the arena of worker w: record and differentiate it, wait until micro-batches 0 .. i-1 are added,
        // add its gradients, reset the arena. Micro-batches are handed out in increasing order, so every one a worker
        // waits for is held by a worker that is not waiting for a later one: the smallest unadded is always running.
        void Worker(int w)
        {
            var arena = arenas[w];
            while (true)
            {
                int i;
                lock (turn)
                {
                    if (failed || next == MicroBatches) return;
                    i = next++;
                }
                try
                {
                    using var scope = arena.Use();
                    using var defer = DeferredGradients.Enter(deferred, i);
                    using var tier = fast ? Tape.UseFastKernels() : default;
                    using var cap = KernelThreads.Limit(kernelThreads);
                    var loss = microBatchLoss(i) ?? throw new InvalidOperationException($"the loss of micro-batch {i} is null.");
                    losses[i] = loss.Item();
                    var gradients = loss.RequiresGrad ? Tape.Gradients(loss) : new(ReferenceEqualityComparer.Instance);
                    lock (turn)
                    {
                        while (added != i && !failed) Monitor.Wait(turn);
                        if (failed) return;
                    }
                    for (int p = 0; p < parameters.Length; p++) Add(p, gradients, initial, started);
                    lock (turn)
                    {
                        added++;
                        Monitor.PulseAll(turn);
                    }
                }
                catch
                {
                    lock (turn)
                    {
                        failed = true;
                        Monitor.PulseAll(turn);
                    }
                    throw;
                }
                finally
                {
                    arena.Reset();
                }
            }
        }
        try
        {
            if (Threads <= 1) Worker(0);
            else
            {
                try { Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, Worker); }
                catch (AggregateException e) when (e.InnerExceptions.Count >= 1)
                {
                    ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
                }
            }
            for (int p = 0; p < parameters.Length; p++)
                if (initial[p] is null && started[p]) parameters[p].Grad = sums[p];
            foreach (var (leaf, g) in deferred.Finish()) AddDeferred(leaf, g);
        }
        finally
        {
            foreach (var arena in arenas) arena.Reset();
        }
        double total = 0.0;
        foreach (double loss in losses) total += loss;
        return total;
    }

    /// <summary>A <see cref="DeferredGradient"/>'s contribution to a leaf, after the micro-batches' sum: into Grad (added) or into the kept buffer (set).</summary>
    private void AddDeferred(Variable v, Tensor<double> g)
    {
        if (!g.Shape.SequenceEqual(v.Shape))
            throw new InvalidOperationException($"a deferred gradient for a parameter of shape {Shapes.Format(v.Shape)} has shape {Shapes.Format(g.Shape)}.");
        if (v.Grad is { } grad)
        {
            TensorPrimitives.Add(grad.Data, g.Data, grad.Data);
            return;
        }
        var sum = sums[parameterIndex[v]] ??= new Tensor<double>(new double[v.Length], v.Value.ShapeArray);
        g.Data.CopyTo(sum.Data, 0);
        v.Grad = sum;
    }

    /// <summary>
    /// Adds one micro-batch's gradient of parameter p (micro-batches come in order 0, 1, ...): into the gradient it had before
    /// the step, else into the kept buffer (the first micro-batch's copied, later ones added). The same additions in the same
    /// order as summing every micro-batch's gradients after the last one, so the bits do not depend on when they happen.
    /// </summary>
    private void Add(int p, Dictionary<Variable, Tensor<double>> gradients, Tensor<double>?[] initial, bool[] started)
    {
        var v = parameters[p];
        if (!gradients.TryGetValue(v, out var gi)) return;
        if (initial[p] is { } grad)
        {
            TensorPrimitives.Add(grad.Data, gi.Data, grad.Data);
            return;
        }
        var sum = sums[p] ??= new Tensor<double>(new double[v.Length], v.Value.ShapeArray);
        if (started[p]) TensorPrimitives.Add(sum.Data, gi.Data, sum.Data);
        else
        {
            gi.Data.CopyTo(sum.Data, 0);
            started[p] = true;
        }
    }
}
