using Reference.Core.Conformance;
using Reference.Golden;
using Reference.Golden.Backends;

namespace Reference.SpecTests.Golden;

/// <summary>The committed golden set: intact, reproducible from its generators, and passed by the project's own tiers.</summary>
public class GoldenSetTests
{
    [Fact]
    public void Golden_CommittedSetVerifies()
    {
        var (cases, problems, good) = GoldenStore.Open(GoldenFixture.Committed).Verify();
        Assert.True(problems.Count == 0, string.Join("\n", problems.Select(p => $"{p.Where}: {p.Problem}")));
        Assert.Equal(cases, good.Count);
        Assert.Equal(GoldenRegen.Index(GoldenRegistry.Ops).Count, cases);
    }

    [Fact]
    public void Golden_CommittedSetIsWhatTheGeneratorsProduce()
    {
        // Regenerating over a copy changes nothing: the committed bytes are the naive tier's
        // output for the registered seeds (a manifest may differ only in reference.commit).
        using var dir = GoldenFixture.Copy(out string root);
        var outcomes = GoldenRegen.Run(GoldenStore.Open(root), null, force: false);
        var notUnchanged = outcomes.Where(o => o.Status != "unchanged").Select(o => $"{o.Status} {o.Id} {o.Detail}").ToList();
        Assert.True(notUnchanged.Count == 0, string.Join("\n", notUnchanged));
        Assert.Equal(File.ReadAllBytes(Path.Combine(GoldenFixture.Committed, "index.json")), File.ReadAllBytes(Path.Combine(root, "index.json")));
    }

    [Fact]
    public void Property_RegenerationIsByteReproducible()
    {
        using var a = new Core.TempDir();
        using var b = new Core.TempDir();
        GoldenRegen.Run(GoldenStore.Create(a.Path), "nn.softmax", force: false);
        GoldenRegen.Run(GoldenStore.Create(b.Path), "nn.softmax", force: false);
        var files = Directory.EnumerateFiles(a.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Path, f)).Order().ToList();
        Assert.Contains("index.json", files);
        Assert.True(files.Count > 10);
        foreach (var f in files) Assert.Equal(File.ReadAllBytes(Path.Combine(a.Path, f)), File.ReadAllBytes(Path.Combine(b.Path, f)));
    }

    [Fact]
    public void Negative_RegenRefusesToOverwriteAChangedCaseWithoutForce()
    {
        using var dir = GoldenFixture.Copy(out string root);
        string file = Path.Combine(root, "linalg.gemm", "odd_7x9x8_nn", "out.npy");
        var original = File.ReadAllBytes(file);
        var damaged = (byte[])original.Clone();
        damaged[^1] ^= 0x55;
        File.WriteAllBytes(file, damaged);

        var refused = GoldenRegen.Run(GoldenStore.Open(root), "linalg.gemm/odd_7x9x8_nn", force: false);
        var outcome = Assert.Single(refused);
        Assert.Equal("changed", outcome.Status);
        Assert.Contains("out.npy differs", outcome.Detail);
        Assert.Equal(damaged, File.ReadAllBytes(file));

        var forced = GoldenRegen.Run(GoldenStore.Open(root), "linalg.gemm/odd_7x9x8_nn", force: true);
        Assert.Equal("rewritten", Assert.Single(forced).Status);
        Assert.Equal(original, File.ReadAllBytes(file));
    }

    [Theory]
    [InlineData("naive")]
    [InlineData("fast")]
    [InlineData("fast32")]
    public void Golden_ProjectTiersPassTheSet(string backend)
    {
        var store = GoldenStore.Open(GoldenFixture.Committed);
        var xfail = backend == "naive" ? null : GoldenRunner.ReadList(GoldenFixture.FastXFail, "--xfail-file");
        var results = GoldenRunner.Run(store, Backends.Resolve(backend), new RunOptions(XFail: xfail)).ToList();
        var failed = results.Where(r => r.Failed).Select(r => r.Line).ToList();
        Assert.True(failed.Count == 0, string.Join("\n", failed));
        Assert.True(results.Count(r => r.Passed) >= 60, $"only {results.Count(r => r.Passed)} cases passed");
        if (backend == "naive") Assert.All(results, r => Assert.Equal(CaseStatus.Pass, r.Status));
    }

    [Fact]
    public void Negative_AWrongBackendFailsWithEvidence()
    {
        // A backend that computes GEMM with one term of the k-sum missing must fail every case with k > 1.
        var store = GoldenStore.Open(GoldenFixture.Committed);
        var results = GoldenRunner.Run(store, new DroppedTermGemm(), new RunOptions("linalg.gemm")).ToList();
        Assert.Contains(results, r => r.Failed && r.Line.Contains("max_abs") && r.Line.Contains("(expected, actual)"));
        Assert.All(results.Where(r => r.Id.Contains("long_k") || r.Id.Contains("odd_")), r => Assert.True(r.Failed, r.Line));
    }

    /// <summary>A deliberately wrong GEMM: the naive definition with the last term of every dot product dropped.</summary>
    private sealed class DroppedTermGemm : IGoldenBackend
    {
        public string Name => "dropped-term";

        public Precision? Precision => Reference.Core.Conformance.Precision.Float64;

        public bool Supports(string op) => op == "linalg.gemm";

        public NamedArrays Run(BackendRequest request)
        {
            var p = request.Params;
            int m = p.Int("m"), n = p.Int("n"), k = p.Int("k");
            var x = new NamedArrays(request.Inputs);
            if (k > 1)
            {
                // Zero the last column of op(a): a [m x k] -> column k-1; a^T stored [k x m] -> row k-1.
                var a = x["a"].ToDoubles();
                bool ta = p.Bool("trans_a");
                for (int i = 0; i < m; i++) a[ta ? (k - 1) * m + i : i * k + k - 1] = 0;
                x["a"] = Reference.Core.IO.NpyArray.Of(a, x["a"].ShapeArray);
            }
            return GoldenRegistry.Find("linalg.gemm")!.Naive(p, x);
        }
    }
}
