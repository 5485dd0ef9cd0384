using Reference.Core;
using Reference.Ess;
using Reference.Golden;

namespace Reference.SpecTests.Golden;

/// <summary>
/// Issue 22: the naive tier is bit-identical across runs and thread counts (it has no threads;
/// running it from several threads at once must not change a bit, so no shared state leaks into
/// it), and the threaded fast ESS path gives the same bits for 1 and several worker threads (each
/// (matrix, split) item is computed independently, whatever thread takes it).
/// </summary>
public class DeterminismTests
{
    /// <summary>The file images of the first case of every registered op (the naive tier's outputs, hashed into the manifest).</summary>
    private static Dictionary<string, byte[]> FirstCases() =>
        GoldenRegistry.Ops.ToDictionary(op => op.Name, op => GoldenRegen.Build(op, op.Cases[0], "determinism").Files[GoldenStore.ManifestFile]);

    [Fact]
    public void Naive_IsBitIdenticalAcrossRunsAndConcurrentThreads()
    {
        var first = FirstCases();
        var again = FirstCases();
        var concurrent = new Dictionary<string, byte[]>[4];
        var threads = Enumerable.Range(0, concurrent.Length).Select(i => new Thread(() => concurrent[i] = FirstCases())).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        foreach (var (name, bytes) in first)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(again[name]), $"{name}: a second run differs");
            foreach (var run in concurrent) Assert.True(bytes.AsSpan().SequenceEqual(run[name]), $"{name}: a concurrent run differs");
        }
    }

    [Fact]
    public void FastEss_IsBitIdenticalForOneAndSeveralThreads()
    {
        var rng = new SplitMix64(22);
        var data = new double[3 * 24 * 24];
        rng.FillNormal<double>(data);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 24; i++)
                for (int j = i + 1; j < 24; j++) data[c * 576 + i * 24 + j] = 0;
        var t = new Tensor<double>(data, 3, 24, 24);
        var one = EffectiveStateSize.Compute(t, EssOptions.Default, maxThreads: 1);
        int calls = 0;
        var four = EffectiveStateSize.Compute(t, EssOptions.Default, maxThreads: 4, progress: (done, total) => Interlocked.Increment(ref calls));
        Assert.Equal(one.Data, four.Data);
        Assert.Equal(3 * 23, calls);
    }
}
