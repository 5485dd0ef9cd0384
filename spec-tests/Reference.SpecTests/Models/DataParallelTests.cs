using Reference.Autodiff;
using Reference.Autodiff.Optim;
using Reference.Core;
using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>
/// The training step's buffer reuse (TensorArena) and its data-parallel split (DataParallelStep via
/// Trainer.BatchSteps), each against the plain single-tape step on a twin model (same spec and seed):
/// the arena must not change a single bit, reused buffers must never alias live values (steps in a row
/// with one arena equal steps with fresh ones), thread counts must not change a bit, and micro-batches
/// must agree with the whole batch up to float reassociation.
/// </summary>
public sealed class DataParallelTests
{
    private const string Attention = """{"width": 16, "depth": 2, "block": {"mixer": {"operator": "attention.softmax", "heads": 2}, "channel_mixer": {"kind": "swiglu", "inner": 24}}}""";
    private const string H3 = """{"width": 8, "depth": 1, "block": {"mixer": {"operator": "ssm.h3", "state_size": 4}, "channel_mixer": {"kind": "mlp", "inner": 16}}, "tied_head": true}""";
    private const int Vocabulary = 11, Batch = 4, Length = 12;

    private static (int[] Inputs, int[] Targets) Data(ulong seed)
    {
        var rng = new SplitMix64(seed);
        var inputs = Enumerable.Range(0, Batch * Length).Select(_ => rng.NextInt(Vocabulary)).ToArray();
        // Some positions unscored, unevenly over the micro-batches, so the 1/N weighting is exercised.
        var targets = Enumerable.Range(0, Batch * Length).Select(i => i % 5 == 1 || i < 7 ? SyntheticTask.IgnoreIndex : rng.NextInt(Vocabulary)).ToArray();
        return (inputs, targets);
    }

    /// <summary>Runs <paramref name="steps"/> AdamW steps with <paramref name="step"/>; returns per step the loss and every gradient.</summary>
    private static List<(double Loss, double[][] Grads)> Train(BackboneModel model, int steps, Func<int[], int[], double> step, bool fast)
    {
        var optimizer = new AdamW(model.Parameters(), 1e-2, 0.9, 0.999, 1e-8, 0.01);
        var result = new List<(double, double[][])>();
        using var tier = fast ? Tape.UseFastKernels() : default;
        for (int s = 0; s < steps; s++)
        {
            var (inputs, targets) = Data(100 + (ulong)s);
            optimizer.ZeroGrad();
            double loss = step(inputs, targets);
            result.Add((loss, [.. model.Parameters().Select(p => (double[])p.Grad!.Data.Clone())]));
            optimizer.Step();
        }
        return result;
    }

    private static double PlainStep(BackboneModel model, int[] inputs, int[] targets)
    {
        var loss = Ops.CrossEntropy(model.Logits(inputs, Batch, Length), targets, SyntheticTask.IgnoreIndex);
        loss.Backward();
        return loss.Item();
    }

    private static BackboneModel Model(string json) => BackboneModel.Create(ModelSpec.Parse(json), Vocabulary, Length, 3);

    [Theory]
    [InlineData(Attention, true)]
    [InlineData(Attention, false)]
    [InlineData(H3, true)]
    public void Property_ArenaStepsInARowEqualThePlainTapeBitForBit(string json, bool fast)
    {
        // Three steps with one reused arena: step 2 and 3 run on buffers holding step 1's stale values,
        // so any primitive that read an Empty buffer before writing it, or any value recycled while
        // still live, would change a bit.
        var reference = Model(json);
        var expected = Train(reference, 3, (x, y) => PlainStep(reference, x, y), fast);
        var arenaModel = Model(json);
        var steps = new Trainer.BatchSteps(arenaModel, 1, 1, Batch, Length);
        var actual = Train(arenaModel, 3, steps.Run, fast);
        for (int s = 0; s < 3; s++)
        {
            Assert.Equal(expected[s].Loss, actual[s].Loss);
            for (int p = 0; p < expected[s].Grads.Length; p++) Assert.Equal(expected[s].Grads[p], actual[s].Grads[p]);
        }
        Assert.All(steps.Step.Arenas, a => Assert.Equal(0, a.LentCount));
    }

    [Fact]
    public void Property_ReusedArenaEqualsAFreshArenaEveryStep()
    {
        var reused = Model(Attention);
        var steps = new Trainer.BatchSteps(reused, 2, 1, Batch, Length);
        var a = Train(reused, 3, steps.Run, fast: true);
        var fresh = Model(Attention);
        var b = Train(fresh, 3, (x, y) => new Trainer.BatchSteps(fresh, 2, 1, Batch, Length).Run(x, y), fast: true);
        for (int s = 0; s < 3; s++)
        {
            Assert.Equal(b[s].Loss, a[s].Loss);
            for (int p = 0; p < a[s].Grads.Length; p++) Assert.Equal(b[s].Grads[p], a[s].Grads[p]);
        }
        // After the first step the arena serves every request from its pool.
        var arena = steps.Step.Arenas[0];
        long misses = arena.Misses;
        using (Tape.UseFastKernels()) steps.Run(Data(9).Inputs, Data(9).Targets);
        Assert.Equal(misses, arena.Misses);
        Assert.True(arena.HeldElements > 0);
    }

    [Theory]
    [InlineData(Attention)]
    [InlineData(H3)]
    public void Property_TwoThreadsEqualOneThreadBitForBit(string json)
    {
        var one = Model(json);
        var a = Train(one, 2, new Trainer.BatchSteps(one, 2, 1, Batch, Length).Run, fast: true);
        var two = Model(json);
        var twoSteps = new Trainer.BatchSteps(two, 2, 2, Batch, Length);
        Assert.Equal(2, twoSteps.Step.Threads);
        var b = Train(two, 2, twoSteps.Run, fast: true);
        for (int s = 0; s < 2; s++)
        {
            Assert.Equal(a[s].Loss, b[s].Loss);
            for (int p = 0; p < a[s].Grads.Length; p++) Assert.Equal(a[s].Grads[p], b[s].Grads[p]);
        }
    }

    [Theory]
    [InlineData(Attention, 3, 1)]
    [InlineData(Attention, 4, 2)]
    [InlineData(Attention, 3, 2)]
    public void Property_MicroBatchesEqualTheirOwnTapesSummedInOrderBitForBit(string json, int microBatches, int threads)
    {
        // The documented accumulation order: micro-batch i's gradients on a tape of its own (no arena, no step), and
        // each parameter's gradient = ((g_0 + g_1) + g_2) + ..., the loss likewise. The step adds each micro-batch as soon
        // as it and the ones before it are done (and recycles its arena): the same bits are required, on 1 and 2 threads,
        // over two steps (the second on arenas holding the first step's stale values). (H3's S4D kernel defers its gradient
        // map to the step, DeferredGradients, so its leaves get J^T (sum of partials) instead of this order: the attention
        // model has no deferred gradient.)
        var reference = Model(json);
        var model = Model(json);
        var steps = new Trainer.BatchSteps(model, microBatches, threads, Batch, Length);
        Assert.Equal(threads, steps.Step.Arenas.Count);
        const int stepCount = 2;
        var referenceParameters = reference.Parameters().ToArray();
        var expected = Train(reference, stepCount, (x, y) =>
        {
            int scored = y.Count(t => t != SyntheticTask.IgnoreIndex);
            double total = 0.0;
            var sums = new double[referenceParameters.Length][];
            for (int i = 0; i < microBatches; i++)
            {
                int start = i * Batch / microBatches, count = (i + 1) * Batch / microBatches - start;
                int[] xi = x[(start * Length)..((start + count) * Length)], yi = y[(start * Length)..((start + count) * Length)];
                var loss = Trainer.BatchSteps.ScoredCrossEntropy(reference, xi, yi, count, Length, Reduction.Sum) * (1.0 / scored);
                total += loss.Item();
                var grads = Tape.Gradients(loss);
                for (int p = 0; p < referenceParameters.Length; p++)
                {
                    if (!grads.TryGetValue(referenceParameters[p], out var g)) continue;
                    if (sums[p] is null) sums[p] = (double[])g.Data.Clone();
                    else for (int e = 0; e < g.Data.Length; e++) sums[p][e] += g.Data[e];
                }
            }
            for (int p = 0; p < referenceParameters.Length; p++) referenceParameters[p].Grad = new Tensor<double>(sums[p], referenceParameters[p].Value.ShapeArray);
            return total;
        }, fast: true);
        var actual = Train(model, stepCount, steps.Run, fast: true);
        for (int s = 0; s < stepCount; s++)
        {
            Assert.Equal(expected[s].Loss, actual[s].Loss);
            for (int p = 0; p < expected[s].Grads.Length; p++) Assert.Equal(expected[s].Grads[p], actual[s].Grads[p]);
        }
        Assert.All(steps.Step.Arenas, a => Assert.Equal(0, a.LentCount));
    }

    [Fact]
    public void Property_AStepHoldsOneMicroBatchPerThreadNotTheWholeBatch()
    {
        // Working memory (the arenas' buffers after a step) follows the micro-batch: four micro-batches of one sequence on
        // one thread hold about a quarter of what one micro-batch of four does (plus the parameter-sized gradients every
        // micro-batch has: at this toy size they are a third of the total); on two threads, at most two micro-batches' worth. Arenas
        // alive for every micro-batch until the step's end would hold about the whole batch's at any split (1.26 x measured).
        long Held(int micro, int threads)
        {
            var model = Model(Attention);
            var steps = new Trainer.BatchSteps(model, micro, threads, Batch, Length);
            var (inputs, targets) = Data(5);
            using (Tape.UseFastKernels()) steps.Run(inputs, targets);
            Assert.Equal(threads, steps.Step.Arenas.Count);
            return steps.Step.Arenas.Sum(a => a.HeldElements);
        }
        long whole = Held(1, 1), quarter = Held(4, 1), twoQuarters = Held(4, 2);
        Assert.True(quarter < 0.4 * whole, $"4 micro-batches on 1 thread hold {quarter} elements, 1 micro-batch {whole}");
        Assert.True(twoQuarters < 0.85 * whole, $"4 micro-batches on 2 threads hold {twoQuarters} elements, 1 micro-batch {whole}");
        // Each thread's arena holds at most one micro-batch (a thread may run them all when the other starts late: not a lower bound).
        Assert.True(twoQuarters <= 2 * quarter, $"2 threads hold {twoQuarters} elements, 1 thread {quarter}");
    }

    [Theory]
    [InlineData(Attention, 2)]
    [InlineData(Attention, 3)]
    [InlineData(H3, 4)]
    public void Property_MicroBatchesEqualTheWholeBatchUpToReassociation(string json, int microBatches)
    {
        // One step from the same parameters: the loss and every gradient agree to float64 reassociation
        // (sums over the batch split and re-added, the 1/N weight applied per micro-batch).
        var whole = Model(json);
        var expected = Train(whole, 1, (x, y) => PlainStep(whole, x, y), fast: true)[0];
        var split = Model(json);
        var actual = Train(split, 1, new Trainer.BatchSteps(split, microBatches, 2, Batch, Length).Run, fast: true)[0];
        Assert.Equal(expected.Loss, actual.Loss, 1e-12);
        for (int p = 0; p < expected.Grads.Length; p++)
        {
            double scale = expected.Grads[p].Max(Math.Abs) + 1e-300;
            for (int i = 0; i < expected.Grads[p].Length; i++)
                Assert.True(Math.Abs(expected.Grads[p][i] - actual.Grads[p][i]) <= 1e-12 * scale,
                    $"parameter {p} element {i}: {expected.Grads[p][i]} vs {actual.Grads[p][i]}");
        }
        Assert.NotEqual(0.0, expected.Grads.Sum(g => g.Sum(Math.Abs)));
    }

    [Theory]
    [InlineData(Attention, false)]
    [InlineData(Attention, true)]
    [InlineData(H3, true)]
    public void Property_HeadAtScoredPositionsOnlyEqualsTheFullLogits(string json, bool fast)
    {
        // The step applies the head only where a target is scored (BackboneModel.LogitsAt); the definition
        // is the cross-entropy of the full logits [B T, V] with the other rows ignored. Same loss, same
        // gradient of every parameter (float64 reassociation at most: the head's products skip zero rows).
        var (inputs, targets) = Data(17);
        Assert.Contains(SyntheticTask.IgnoreIndex, targets);
        var full = Model(json);
        var expected = Train(full, 1, (x, y) => PlainStep(full, x, y), fast)[0];
        var trimmed = Model(json);
        var actual = Train(trimmed, 1, (x, y) =>
        {
            var loss = Trainer.BatchSteps.ScoredCrossEntropy(trimmed, x, y, Batch, Length, Reduction.Mean);
            loss.Backward();
            return loss.Item();
        }, fast)[0];
        Assert.Equal(expected.Loss, actual.Loss, 1e-13);
        for (int p = 0; p < expected.Grads.Length; p++)
        {
            double scale = expected.Grads[p].Max(Math.Abs) + 1e-300;
            for (int i = 0; i < expected.Grads[p].Length; i++)
                Assert.True(Math.Abs(expected.Grads[p][i] - actual.Grads[p][i]) <= 1e-12 * scale,
                    $"parameter {p} element {i}: {expected.Grads[p][i]} vs {actual.Grads[p][i]}");
        }

        // LogitsAt's rows are Logits' rows.
        int[] rows = [.. Enumerable.Range(0, Batch * Length).Where(i => targets[i] != SyntheticTask.IgnoreIndex)];
        using var tier = fast ? Tape.UseFastKernels() : default;
        using var noGrad = Tape.NoGrad();
        var all = full.Logits(inputs, Batch, Length).Value.Data;
        var picked = full.LogitsAt(inputs, Batch, Length, rows).Value.Data;
        for (int j = 0; j < rows.Length; j++)
            for (int v = 0; v < Vocabulary; v++)
                Assert.Equal(all[rows[j] * Vocabulary + v], picked[j * Vocabulary + v], 1e-13);
    }

    [Fact]
    public void Property_GradientsReturnsWhatBackwardAccumulatesAndLeavesGradAlone()
    {
        var w = Variable.Parameter(Tensor<double>.FromSpan([1.0, -2.0, 0.5, 3.0], 2, 2));
        var x = Variable.Constant(Tensor<double>.FromSpan([0.3, 0.7, -1.1, 2.0, 0.0, 1.0], 3, 2));
        Variable Loss() => Ops.Sum(Ops.Tanh(Ops.MatMul(x, w)) * Ops.MatMul(x, w));
        var grads = Tape.Gradients(Loss());
        Assert.Null(w.Grad);
        Loss().Backward();
        Assert.Equal(w.Grad!.Data, grads[w].Data);
        Assert.False(grads.ContainsKey(x));
    }

    /// <summary>Doubles the partials' sum: a linear map whose result is exact in float64 for the small integers used.</summary>
    private sealed class DoubledSum(Variable leaf) : DeferredGradient
    {
        public override IReadOnlyList<Variable> Leaves { get; } = [leaf];

        public override Tensor<double>[] Finish(double[] partialSum) => [new([.. partialSum.Select(x => 2 * x)], leaf.Value.ShapeArray)];
    }

    /// <summary>
    /// A VJP that hands its partial (i + 1) [1, 2, 3] per micro-batch i (twice in micro-batch 1) to the step, returning no
    /// gradient for w, and adds its own gradient (1, 1, 1) to v: w's gradient is the doubled sum over micro-batches, added
    /// into an existing Grad like the micro-batches' gradients; 1 and 2 threads give the same bits; outside a step, or for a
    /// leaf the step does not hold, nothing is deferred.
    /// </summary>
    [Fact]
    public void Property_DeferredGradientsRunOnceOnTheMicroBatchesSum()
    {
        var w = Variable.Parameter(Tensor<double>.FromSpan([0.5, 1.5, -2.0], 3));
        var v = Variable.Parameter(Tensor<double>.FromSpan([1.0, 1.0, 1.0], 3));
        var stranger = Variable.Parameter(Tensor<double>.FromSpan([0.0, 0.0, 0.0], 3));
        var deferred = new List<bool>();
        Variable Loss(int i, Variable leaf)
        {
            var y = Function.Apply("test.deferred", [w, v], Tensor<double>.FromSpan([Ops.Sum(w).Item() + Ops.Sum(v).Item()], 1), g =>
            {
                bool d = true;
                for (int r = 0; r < (i == 1 ? 2 : 1); r++)
                    d &= DeferredGradients.TryDefer(leaf, [i + 1.0, 2 * (i + 1.0), 3 * (i + 1.0)], () => new DoubledSum(leaf));
                lock (deferred) deferred.Add(d);
                return [d ? null : Tensor<double>.Full(-1.0, 3), Tensor<double>.Full(1.0, 3)];
            });
            return y;
        }
        Assert.False(DeferredGradients.TryDefer(w, [1.0, 2.0, 3.0], () => new DoubledSum(w)));
        foreach (int threads in new[] { 1, 2 })
        {
            (w.Grad, v.Grad) = (null, null);
            var step = new DataParallelStep([w, v], 3, threads);
            step.Run(i => Loss(i, w));
            Assert.All(deferred, Assert.True);
            // Partials: 1 [1 2 3] + 2 * 2 [1 2 3] (micro-batch 1 twice) + 3 [1 2 3] = 8 [1 2 3], doubled.
            Assert.Equal(new[] { 16.0, 32.0, 48.0 }, w.Grad!.Data);
            Assert.Equal(new[] { 3.0, 3.0, 3.0 }, v.Grad!.Data);
            // A second step with w.Grad set adds into it.
            step.Run(i => Loss(i, w));
            Assert.Equal(new[] { 32.0, 64.0, 96.0 }, w.Grad!.Data);
            deferred.Clear();
        }
        // A leaf outside the step's parameters: not deferred, the VJP's own gradient (-1) reaches w.
        (w.Grad, v.Grad) = (null, null);
        new DataParallelStep([w, v], 2, 1).Run(i => Loss(i, stranger));
        Assert.All(deferred, Assert.False);
        Assert.Equal(new[] { -2.0, -2.0, -2.0 }, w.Grad!.Data);
    }
}
