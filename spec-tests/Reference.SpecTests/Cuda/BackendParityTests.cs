using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Cuda;
using Reference.Golden;
using Reference.Golden.Backends;

namespace Reference.SpecTests.Cuda;

/// <summary>
/// Parity of every backend with the naive float64 definition, written once against
/// <see cref="IGoldenBackend"/> and instantiated for naive, fast, fast32, cuda and cuda64. Each test
/// draws shapes and parameters from a seed (printed on failure, so a failure replays), draws inputs
/// with the op's own generator, and compares the backend's outputs with the op's naive definition
/// under the op's golden tolerance at the backend's precision. The shapes cross the CUDA kernels'
/// tile edges (GEMM's 128-row tile, attention's 64-key tile, 16-dimension slice and 64-column chunk,
/// the scan's 32 lanes and its chunks) while staying tiny: in CI the cuda backends run on ILGPU's
/// CPU accelerator, where every barrier and shuffle is a thread synchronisation.
/// On the GPU machine the same tests run with REFERENCE_ACCELERATOR=cuda (bench/cuda/README.md).
/// </summary>
public class BackendParityTests
{
    private const int Draws = 3;

    public static TheoryData<string, string> BackendsAndOps()
    {
        var data = new TheoryData<string, string>();
        foreach (var backend in new[] { "naive", "fast", "fast32", "cuda", "cuda64" })
            foreach (var op in CudaBackend.Ops) data.Add(backend, op);
        return data;
    }

    [Theory]
    [MemberData(nameof(BackendsAndOps))]
    public void Property_BackendMatchesTheNaiveDefinitionOnDrawnShapes(string backendName, string op)
    {
        CudaBackend.Register();
        var backend = Backends.Resolve(backendName);
        var definition = GoldenRegistry.Find(op)!;
        if (!backend.Supports(op)) return;
        var precision = backend.Precision ?? Precision.Float64;
        for (int draw = 0; draw < Draws; draw++)
        {
            ulong seed = 0xC0DA_0000UL + (ulong)(draw * 7919) + (ulong)op.Length;
            var rng = new SplitMix64(seed);
            var p = DrawParams(op, rng, draw);
            var x = definition.Inputs(p, rng);
            if (op == "ssm.selective_scan" && draw == Draws - 1) x["a_log"] = SlowDecay(p, rng);
            var expected = definition.Naive(p, x);
            var actual = backend.Run(new BackendRequest(op, definition.Version, $"drawn{draw}", p, x, [.. expected.Keys]));
            foreach (var (name, want) in expected)
            {
                var comparison = Comparator.Compare(name, want, actual[name], definition.Tolerance(p, name), precision);
                Assert.True(comparison.Passed, $"{backendName} {op} seed {seed} params {p.ToJsonString()}: {comparison}");
            }
        }
    }

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Property_TheScanCarriesItsStateAcrossWindows(int variant)
    {
        // The float32 scan walks each channel in windows of 256 steps (a warp of 32 lanes, 8 steps a
        // lane) and hands the state from window to window; the drawn-shape property above stays
        // within one window. Lengths of 2 to 3 windows (the last one partial), N up to 16, slow
        // decay so the carried state shows in every output, against the naive float64 definition
        // (a carry that drops the decayed start state fails at 5e-2 against a bound of 1e-5).
        CudaBackend.Register();
        const string backendName = "cuda";
        var backend = Backends.Resolve(backendName);
        var definition = GoldenRegistry.Find("ssm.selective_scan")!;
        // Draw 2: N = 16 and L past three windows, where variant 5 loads whole windows unchecked, L a multiple of 4, where
        // variant 10 loads them in 16-byte groups (with N < 16 or L not a multiple of 4 it takes its checked path). Draw 3:
        // two groups of 17-24 channels, so variant 6 (16 channels a block, 32-step chunks) has a partial
        // block per group, a partial chunk, N < 16 and two batches. Run for variant 5 (the warp scan), 6 and 7 (the
        // sequential scan, 16 and 8 channels a block), 10 (5 with one-instruction exponentials) and 11-13 (10 with a channel's
        // states over two warps, 12 as 11, 13 with a loop over the states: draws 0 and 1 have N 9-16, so the second warp holds
        // 1-8 states, draw 3 N 1-15, where it may hold none, and draw 3's 17-24 channels a group may leave a partial block of
        // 4) of GpuOps.WarpScanVariant; all are correct, so a concurrent test of another
        // class that meets the switched variant still passes.
        var rng = new SplitMix64(0x5CA7);
        int previous = GpuOps.WarpScanVariant;
        GpuOps.WarpScanVariant = variant;
        try
        {
            for (int draw = 0; draw < 4; draw++)
            {
                int groups = draw < 3 ? 1 + rng.NextInt(2) : 2;
                int channels = draw < 3 ? groups : groups * (17 + rng.NextInt(8));
                int length = draw < 2 ? 257 + rng.NextInt(200) : draw == 2 ? 768 + 4 * rng.NextInt(50) : 33 + rng.NextInt(60);
                int n = draw < 2 ? 9 + rng.NextInt(8) : draw == 2 ? 16 : 1 + rng.NextInt(15);
                var p = Params.Of(("batch", draw == 3 ? 2 : 1), ("channels", channels), ("length", length), ("state_size", n),
                    ("groups", groups), ("skip", draw != 1), ("gate", draw >= 1), ("delta_bias", draw >= 1));
                if (p.Bool("delta_bias"))
                {
                    p["bias_low"] = -3.0;
                    p["bias_high"] = 1.0;
                }
                var x = definition.Inputs(p, rng);
                x["a_log"] = SlowDecay(p, rng);
                var expected = definition.Naive(p, x);
                var actual = backend.Run(new BackendRequest("ssm.selective_scan", definition.Version, $"windows{draw}", p, x, [.. expected.Keys]));
                foreach (var (name, want) in expected)
                {
                    var comparison = Comparator.Compare(name, want, actual[name], definition.Tolerance(p, name), backend.Precision ?? Precision.Float64);
                    Assert.True(comparison.Passed, $"{backendName} variant {variant} draw {draw} params {p.ToJsonString()}: {comparison}");
                }
            }
        }
        finally
        {
            GpuOps.WarpScanVariant = previous;
        }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(9)]
    public void Property_TheSegmentedScanCarriesItsStateAcrossSegments(int variant)
    {
        // Variants 8 and 9 cut time into segments: the first pass stores each segment's end state from zero and its
        // Delta sum, the second folds them into each segment's start state and reruns the segment. Each draw forces a
        // segment length through GpuOps.ScanSegmentLength, so the carry crosses segment edges at tiny L: draw 0, L not
        // a multiple of the 64-step segment (3-4 segments, the last one partial, ending inside a 32-step chunk); draw 1,
        // L shorter than one 96-step segment (the first pass does not run); draw 2, 32-step segments (10-13 of them,
        // the carry folding up to 12), N = 16, two batches and two groups of 17-24 channels (a partial block of 16);
        // draw 3, L exactly two 128-step segments; draw 4, the length from the shape (SegmentLength). Slow decay, so
        // every segment's carried state shows in its outputs, against the naive float64 definition.
        CudaBackend.Register();
        const string backendName = "cuda";
        var backend = Backends.Resolve(backendName);
        var definition = GoldenRegistry.Find("ssm.selective_scan")!;
        var rng = new SplitMix64(0x5E65);
        int previous = GpuOps.WarpScanVariant, previousLength = GpuOps.ScanSegmentLength;
        GpuOps.WarpScanVariant = variant;
        try
        {
            int[] segmentLengths = [64, 96, 32, 128, 0];
            for (int draw = 0; draw < segmentLengths.Length; draw++)
            {
                GpuOps.ScanSegmentLength = segmentLengths[draw];
                int groups = draw == 2 ? 2 : 1 + rng.NextInt(2);
                int channels = draw == 2 ? groups * (17 + rng.NextInt(8)) : groups;
                int length = draw switch
                {
                    0 => 64 * (2 + rng.NextInt(2)) + 1 + rng.NextInt(63),
                    1 => 33 + rng.NextInt(63),
                    2 => 300 + rng.NextInt(100),
                    3 => 256,
                    _ => 257 + rng.NextInt(200),
                };
                int n = draw == 2 ? 16 : draw == 3 ? 1 + rng.NextInt(15) : 9 + rng.NextInt(8);
                var p = Params.Of(("batch", draw == 2 ? 2 : 1), ("channels", channels), ("length", length), ("state_size", n),
                    ("groups", groups), ("skip", draw != 1), ("gate", draw >= 1), ("delta_bias", draw >= 1));
                if (p.Bool("delta_bias"))
                {
                    p["bias_low"] = -3.0;
                    p["bias_high"] = 1.0;
                }
                var x = definition.Inputs(p, rng);
                x["a_log"] = SlowDecay(p, rng);
                var expected = definition.Naive(p, x);
                var actual = backend.Run(new BackendRequest("ssm.selective_scan", definition.Version, $"segments{draw}", p, x, [.. expected.Keys]));
                foreach (var (name, want) in expected)
                {
                    var comparison = Comparator.Compare(name, want, actual[name], definition.Tolerance(p, name), backend.Precision ?? Precision.Float64);
                    Assert.True(comparison.Passed,
                        $"{backendName} variant {variant} segment length {segmentLengths[draw]} draw {draw} params {p.ToJsonString()}: {comparison}");
                }
            }
        }
        finally
        {
            GpuOps.WarpScanVariant = previous;
            GpuOps.ScanSegmentLength = previousLength;
        }
    }

    [Fact]
    public void TheScanSegmentLengthIsAWholeNumberOfChunks()
    {
        // A segment that ended inside a 32-step chunk would leave that chunk's steps to two blocks; the setter refuses
        // it, naming the value, and the default for the shape on the H200 (132 multiprocessors) is 16
        // segments of 256 steps (bench/NOTES.md, "scanseg").
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => GpuOps.ScanSegmentLength = 48);
        Assert.Equal("value", error.ParamName);
        Assert.Contains("multiple of 32", error.Message);
        var s = GpuOps.ScanShape(1, 2048, 4096, 16, 1, false, false, false);
        Assert.Equal(256, Reference.Cuda.Kernels.SelectiveScanSequentialKernel.SegmentLength(s, 132));
        var shortScan = GpuOps.ScanShape(1, 2048, 100, 16, 1, false, false, false);
        Assert.Equal(128, Reference.Cuda.Kernels.SelectiveScanSequentialKernel.SegmentLength(shortScan, 132));
    }

    public static TheoryData<string, string> CudaBackendsAndStateOps()
    {
        var data = new TheoryData<string, string>();
        foreach (var backend in new[] { "cuda", "cuda64" })
            foreach (var op in new[] { "recurrence.gla", "attention.linear", "ssm.ssd" }) data.Add(backend, op);
        return data;
    }

    [Theory]
    [MemberData(nameof(CudaBackendsAndStateOps))]
    public void Property_GatedLinearKernelsCarryInitialAndFinalStates(string backendName, string op)
    {
        // The drawn shapes of the property above, now with an initial state s0 and the final state
        // returned (draw 2: the final state from a zero start only), and SSD also in its discrete
        // form (draws 1 and 2). s0 enters every output through the decayed carry and the final
        // state is compared as an output, both against the naive float64 recurrence; a kernel that
        // ignores s0, or transposes SSD's [P, N] state, fails at O(1) against bounds of 1e-5 / 1e-12.
        CudaBackend.Register();
        var backend = Backends.Resolve(backendName);
        var definition = GoldenRegistry.Find(op)!;
        for (int draw = 0; draw < Draws; draw++)
        {
            ulong seed = 0x57A7_0000UL + (ulong)(draw * 7919) + (ulong)op.Length;
            var rng = new SplitMix64(seed);
            var p = DrawParams(op, rng, draw);
            p["initial_state"] = draw < 2;
            p["return_final_state"] = true;
            if (op == "ssm.ssd") p["discrete"] = draw > 0;
            var x = definition.Inputs(p, rng);
            var expected = definition.Naive(p, x);
            Assert.Contains("final_state", expected.Keys);
            var actual = backend.Run(new BackendRequest(op, definition.Version, $"states{draw}", p, x, [.. expected.Keys]));
            foreach (var (name, want) in expected)
            {
                var comparison = Comparator.Compare(name, want, actual[name], definition.Tolerance(p, name), backend.Precision!.Value);
                Assert.True(comparison.Passed, $"{backendName} {op} seed {seed} params {p.ToJsonString()}: {comparison}");
            }
        }
    }

    [Fact]
    public void Property_TheVectorAttentionKernelCoversWholeTiles()
    {
        // The float32 attention kernel for K <= 64 stages Q's and K's rows as 16 groups of 4
        // dimensions with swizzled group positions and writes P transposed over K's tile; the drawn
        // shapes above stay at K <= 20 (groups 0-4). Here K reaches 61-64 (all 16 groups, the last
        // one partial or full), L crosses the 64-row and 64-key tiles, V crosses the 64-column chunk,
        // with GQA and a window, against the naive float64 definition (a group read from the wrong
        // swizzled position fails at O(1) against the float32 bound).
        CudaBackend.Register();
        var backend = Backends.Resolve("cuda");
        var definition = GoldenRegistry.Find("attention.softmax")!;
        var rng = new SplitMix64(0xA77E);
        for (int draw = 0; draw < 2; draw++)
        {
            int l = 65 + rng.NextInt(70);
            var p = Params.Of(("b", 1), ("hq", 2), ("hkv", 2 - draw), ("l", l), ("k", 61 + rng.NextInt(4)), ("v", 60 + rng.NextInt(10)),
                ("window", draw == 0 ? 0 : 1 + rng.NextInt(l)));
            var x = definition.Inputs(p, rng);
            var expected = definition.Naive(p, x);
            var actual = backend.Run(new BackendRequest("attention.softmax", definition.Version, $"tiles{draw}", p, x, [.. expected.Keys]));
            foreach (var (name, want) in expected)
            {
                var comparison = Comparator.Compare(name, want, actual[name], definition.Tolerance(p, name), backend.Precision!.Value);
                Assert.True(comparison.Passed, $"cuda draw {draw} params {p.ToJsonString()}: {comparison}");
            }
        }
    }

    [Fact]
    public void Negative_ABrokenKernelInputIsCaught()
    {
        // The comparison these properties rest on fails a result that is off in one element by
        // 1e-3 of the norm: a CUDA result with one perturbed output must not pass.
        CudaBackend.Register();
        var definition = GoldenRegistry.Find("linalg.gemm")!;
        var rng = new SplitMix64(17);
        var p = DrawParams("linalg.gemm", rng, 0);
        var x = definition.Inputs(p, rng);
        var expected = definition.Naive(p, x)["out"];
        var actual = CudaBackend.Float32.Run(new BackendRequest("linalg.gemm", definition.Version, "broken", p, x, ["out"]))["out"];
        var data = (float[])actual.Data;
        double norm = Math.Sqrt(data.Sum(v => (double)v * v));
        data[data.Length / 2] += (float)(1e-3 * norm);
        Assert.False(Comparator.Compare("out", expected, actual, definition.Tolerance(p, "out"), Precision.Float32).Passed);
    }

    [Fact]
    public void Backends_ResolveNamesTheCudaPath()
    {
        CudaBackend.Register();
        Assert.Same(CudaBackend.Float32, Backends.Resolve("cuda"));
        Assert.Same(CudaBackend.Float64, Backends.Resolve("cuda64"));
        Assert.Contains("cuda64", Backends.Help);
        Assert.Equal(AcceleratorChoice.Cpu, GpuDevice.ParseChoice(" CPU "));
        Assert.Equal(AcceleratorChoice.Auto, GpuDevice.ParseChoice(null));
        var e = Assert.Throws<ArgumentException>(() => GpuDevice.ParseChoice("tpu"));
        Assert.Contains("tpu", e.Message);
        Assert.False(CudaBackend.Float32.Supports("nn.softmax"));
        Assert.Throws<NotSupportedException>(() => CudaBackend.Float32.Run(new BackendRequest("nn.softmax", 1, "x", [], [], ["out"])));
    }

    [Fact]
    public void Negative_NewKernelsNameTheirBadArgument()
    {
        // Shape errors name the argument; sizes past a kernel's bound name the bound (and nothing is launched).
        var e = Assert.Throws<ArgumentException>(() => GpuOps.GatedLinearAttention(new float[8], new float[8], new float[8], new float[7],
            1, 1, 2, 4, 4, scalarGate: false));
        Assert.Equal("g", e.ParamName);
        var big = Assert.Throws<NotSupportedException>(() => GpuOps.LinearAttention(new float[16], new float[16], new float[4],
            1, 1, 2, 8, 2, map: 3, normalize: true, 1f, 1e-10f));
        Assert.Contains($"F <= {GpuOps.MaxLinearFeatures}", big.Message);
        Assert.Contains("F = 73", big.Message);
        var monarch = Assert.Throws<ArgumentException>(() => GpuOps.Monarch(1, 2, 3, 2, 4, 2, 2, new float[12], null, new float[16], null,
            new float[4], null));
        Assert.Contains("L R = K Q", monarch.Message);
        var ssd = Assert.Throws<ArgumentException>(() => GpuOps.Ssd(new float[6], new float[3], new float[3], new float[4], new float[4],
            null, null, 1, 1, 3, 2, 2, 4));
        Assert.Equal("groups", ssd.ParamName);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Property_BatchedSingularValuesMatchTheNaiveJacobi(bool single)
    {
        // Drawn shapes (square and small; then tall or wide with 33..45 long vectors, past the warp's 32 lanes): the device's one-sided Jacobi against the naive float64 Jacobi, within
        // the precision's bound (||sigma - sigma*|| <= 64 n u ||sigma*||; Weyl's bound on a backward-stable SVD).
        var rng = new SplitMix64(0x5BD0);
        for (int draw = 0; draw < 4; draw++)
        {
            int count = 1 + rng.NextInt(3), rows = 1 + rng.NextInt(8), cols = 1 + rng.NextInt(8);
            if (draw >= 2)
            {
                int longSide = 33 + rng.NextInt(13), shortSide = 1 + rng.NextInt(4);
                (rows, cols) = draw == 2 ? (longSide, shortSide) : (shortSide, longSide);
            }
            var a = new double[count * rows * cols];
            for (int i = 0; i < a.Length; i++) a[i] = (float)rng.Normal();
            int p = Math.Min(rows, cols);
            double[] sigma = single
                ? Array.ConvertAll(GpuOps.SingularValuesBatch(Array.ConvertAll(a, v => (float)v), count, rows, cols), v => (double)v)
                : GpuOps.SingularValuesBatch(a, count, rows, cols);
            Assert.Equal(count * p, sigma.Length);
            for (int b = 0; b < count; b++)
            {
                var want = Reference.Ess.NaiveSingularValues.Compute(a.AsSpan(b * rows * cols, rows * cols), rows, cols, cols);
                var got = sigma.AsSpan(b * p, p);
                double norm = Math.Sqrt(want.Sum(v => v * v)), bound = 64 * p * (single ? Math.ScaleB(1.0, -24) : Math.ScaleB(1.0, -53)) * Math.Max(norm, 1e-300);
                for (int k = 0; k < p; k++)
                {
                    Assert.True(Math.Abs(got[k] - want[k]) <= bound, $"draw {draw} {rows} x {cols} matrix {b} sigma[{k}] = {got[k]}, naive {want[k]}, bound {bound}");
                    if (k > 0) Assert.True(got[k] <= got[k - 1], $"draw {draw}: sigma not descending at {k}");
                }
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Edge_RankDeficientBlocksConvergeOnTheDevice(bool single)
    {
        // Exact-multiple columns leave rounding-noise columns that, without the noise floor, kept the
        // device's Jacobi rotating to the sweep cap as they did the naive one; one launch for all blocks.
        // Trials 50..69 hold two that cycled in the naive replica (55, 65); 20 blocks keep the shuffles few on the CPU accelerator.
        const int First = 50;
        var cases = Enumerable.Range(First, 20).Select(Reference.SpecTests.Ess.SingularValuesTests.ExactMultiples).ToArray();
        int total = cases.Sum(c => c.A.Length);
        var flat = new double[total];
        var blocks = new (long Offset, int Rows, int Cols, int Lda)[cases.Length];
        long offset = 0;
        for (int b = 0; b < cases.Length; b++)
        {
            cases[b].A.CopyTo(flat, offset);
            blocks[b] = (offset, cases[b].Rows, cases[b].Cols, cases[b].Cols);
            offset += cases[b].A.Length;
        }
        var sigma = single
            ? Array.ConvertAll(GpuOps.SingularValues(Array.ConvertAll(flat, v => (float)v), blocks), s => Array.ConvertAll(s, v => (double)v))
            : GpuOps.SingularValues(flat, blocks);
        double u = single ? Math.ScaleB(1.0, -24) : Math.ScaleB(1.0, -53);
        for (int b = 0; b < cases.Length; b++)
        {
            var want = Reference.Ess.NaiveSingularValues.Compute(cases[b].A, cases[b].Rows, cases[b].Cols, cases[b].Cols);
            double frobenius = Math.Sqrt(cases[b].A.Sum(x => x * x)), bound = 64 * want.Length * u * frobenius;
            for (int k = 0; k < want.Length; k++)
                Assert.True(Math.Abs(sigma[b][k] - want[k]) <= bound, $"trial {First + b} sigma[{k}] = {sigma[b][k]}, naive {want[k]}, bound {bound}");
        }
    }

    [Fact]
    public void Negative_BatchedSingularValuesRejectBadInput()
    {
        Assert.Equal("a", Assert.Throws<ArgumentException>(() => GpuOps.SingularValuesBatch(new double[5], 1, 2, 3)).ParamName);
        var nan = new double[4];
        nan[2] = double.NaN;
        var e = Assert.Throws<ArgumentException>(() => GpuOps.SingularValuesBatch(nan, 1, 2, 2));
        Assert.Contains("[1, 0]", e.Message);
        // A dropped rotation leaves the columns non-orthogonal: the norms are then not the singular values.
        var sigma = GpuOps.SingularValuesBatch(new double[] { 1, 1, 0, 1 }, 1, 2, 2);
        Assert.Equal((1 + Math.Sqrt(5)) / 2, sigma[0], 12);
        Assert.Equal((Math.Sqrt(5) - 1) / 2, sigma[1], 12);
    }

    /// <summary>
    /// a_log in [-6, -4) (|A| &lt; 0.02): the state decays slowly, so what a chunk hands to the next
    /// chunk shows in the outputs (with the generator's [-1, 2) it is forgotten within a chunk, and an
    /// error in the carry between chunks would pass).
    /// </summary>
    private static Reference.Core.IO.NpyArray SlowDecay(JsonObject p, SplitMix64 rng) =>
        CaseInputs.Uniform(rng, -6, -4, p.Int("channels"), p.Int("state_size"));

    /// <summary>Draws an op's parameters; draw 0 is always small, later draws reach past the kernels' tile edges.</summary>
    private static JsonObject DrawParams(string op, SplitMix64 rng, int draw)
    {
        bool wide = draw > 0;
        int Between(int low, int high) => low + rng.NextInt(high - low + 1);
        switch (op)
        {
            case "linalg.gemm":
            {
                bool beta = rng.Uniform() < 0.5;
                return Params.Of(("m", wide ? Between(100, 140) : Between(1, 9)), ("n", Between(1, wide ? 40 : 9)), ("k", Between(0, 20)),
                    ("trans_a", rng.Uniform() < 0.5), ("trans_b", rng.Uniform() < 0.5),
                    ("alpha", Math.Round(rng.Uniform(-2, 2), 3)), ("beta", beta ? Math.Round(rng.Uniform(-2, 2), 3) : 0.0));
            }
            case "attention.softmax":
            {
                // Draw 0 fits one tile everywhere; draw 1 crosses the 64-key tile and the 16-dimension
                // slice (GQA, 2 query heads on 1 kv head); draw 2 crosses the 64-column chunk of V.
                if (draw == 0)
                {
                    int hkv0 = Between(1, 2), l0 = Between(1, 12);
                    return Params.Of(("b", Between(1, 2)), ("hq", hkv0 * Between(1, 2)), ("hkv", hkv0), ("l", l0),
                        ("k", Between(1, 8)), ("v", Between(1, 9)), ("window", rng.Uniform() < 0.5 ? 0 : Between(1, l0)));
                }
                int l = draw == 1 ? Between(65, 72) : Between(1, 8);
                return Params.Of(("b", 1), ("hq", 2), ("hkv", draw == 1 ? 1 : 2), ("l", l),
                    ("k", draw == 1 ? Between(15, 20) : Between(1, 8)), ("v", draw == 1 ? Between(1, 9) : Between(64, 70)),
                    ("window", rng.Uniform() < 0.5 ? 0 : Between(1, l)));
            }
            case "recurrence.gla":
            case "attention.decayed_linear":
            {
                // Draw 0 fits one 16-step chunk and one 32-column tile; later draws cross chunks (L up to
                // 40), the column tile (V up to 40) and the 64-feature bound's neighbourhood (K up to 64).
                int l = wide ? Between(17, 40) : Between(1, 16);
                var p = Params.Of(("b", Between(1, 2)), ("h", Between(1, 2)), ("l", l), ("k", draw == 2 ? Between(50, 64) : Between(1, 9)),
                    ("v", draw == 1 ? Between(33, 40) : Between(1, 6)));
                if (op == "recurrence.gla") p["scalar_gate"] = rng.Uniform() < 0.5;
                return p;
            }
            case "attention.linear":
            {
                string[] maps = ["identity", "elu1", "relu", "taylor"];
                string map = maps[(draw + rng.NextInt(4)) % 4];
                int k = map == "taylor" ? Between(1, 6) : Between(1, 9);
                int f = map == "taylor" ? 1 + k + k * k : k;
                return Params.Of(("b", Between(1, 2)), ("h", Between(1, 2)), ("l", wide ? Between(17, 40) : Between(1, 16)), ("k", k),
                    ("v", draw == 1 ? Between(32, 36) : Between(1, 6)), ("map", map), ("normalize", rng.Uniform() < 0.5),
                    ("scale", map == "taylor" ? 1.0 : 1.0 / Math.Sqrt(f)), ("eps", 1e-10));
            }
            case "ssm.ssd":
            {
                int groups = Between(1, 2);
                return Params.Of(("batch", Between(1, 2)), ("length", wide ? Between(17, 40) : Between(1, 16)), ("heads", groups * Between(1, 2)),
                    ("head_dim", draw == 1 ? Between(30, 36) : Between(1, 4)), ("groups", groups), ("state_size", Between(1, 16)),
                    ("skip", rng.Uniform() < 0.5), ("dt_bias", rng.Uniform() < 0.5));
            }
            case "ssm.s4d":
            {
                int modes = Between(1, wide ? 16 : 4);
                return Params.Of(("batch", Between(1, 2)), ("channels", Between(1, 3)), ("length", wide ? Between(17, 40) : Between(1, 16)),
                    ("state_size", 2 * modes), ("discretization", rng.Uniform() < 0.5 ? "zoh" : "bilinear"));
            }
            case "monarch.multiply":
            {
                int k = Between(1, 4), q = Between(1, 4), r = Between(1, 4);
                int middle = k * q;
                while (middle % r != 0) r--;
                return Params.Of(("batch", Between(1, 3)), ("k", k), ("q", q), ("p", Between(1, 5)), ("l", middle / r), ("s", Between(1, 5)),
                    ("r", r), ("complex", draw == 2));
            }
            case "ess.tolerance":
            case "ess.entropy":
            {
                // Ranks known exactly (conv: K - 1, linattn: d), so the 10x margin of the tolerance cut holds at
                // once; draw 2 of entropy-ESS is softmax (full rank). Vectors longer than the warp's 32 lanes are
                // drawn by Property_BatchedSingularValuesMatchTheNaiveJacobi (here every split would cost a
                // thread synchronisation per shuffle on ILGPU's CPU accelerator).
                string kind = draw == 2 && op == "ess.entropy" ? "softmax" : rng.Uniform() < 0.5 ? "conv" : "linattn";
                int l = wide ? Between(5, 7) : Between(2, 4);
                return op == "ess.entropy"
                    ? Params.Of(("mode", "entropy"), ("kind", kind), ("c", Between(1, 2)), ("l", l), ("r", Between(2, 4)))
                    : Params.Of(("mode", "tolerance"), ("kind", kind), ("c", Between(1, 2)), ("l", l), ("r", Between(2, 4)),
                        ("tau", 1e-3), ("relative", true));
            }
            case "fft.causal_conv":
            {
                int l = wide ? Between(40, 80) : Between(1, 16);
                return Params.Of(("channels", Between(1, 3)), ("length", l), ("kernel_length", Between(1, l + 3)));
            }
            default:
            {
                int groups = Between(1, 2);
                var p = Params.Of(("batch", wide ? 1 : Between(1, 2)), ("channels", groups * Between(1, 2)), ("length", draw == Draws - 1 ? Between(70, 100) : wide ? Between(33, 70) : Between(1, 8)),
                    ("state_size", draw == 1 ? Between(20, 40) : draw == 2 ? Between(9, 16) : Between(1, 8)), ("groups", groups),
                    ("skip", rng.Uniform() < 0.5), ("gate", rng.Uniform() < 0.5), ("delta_bias", rng.Uniform() < 0.5));
                if (p.Bool("delta_bias"))
                {
                    p["bias_low"] = -3.0;
                    p["bias_high"] = 1.0;
                }
                return p;
            }
        }
    }
}

/// <summary>The committed golden set on the CUDA path, on the GPU (REFERENCE_ACCELERATOR=cuda); on ILGPU's CPU accelerator it is skipped (the drawn-shape properties above cover the kernels there, faster).</summary>
public class CudaGoldenSetTests
{
    [Theory]
    [InlineData("cuda")]
    [InlineData("cuda64")]
    public void Golden_CudaPassesTheSupportedOps(string backend)
    {
        CudaBackend.Register();
        Assert.SkipUnless(GpuDevice.Shared.IsCuda, $"{GpuDevice.EnvironmentVariable} does not select a CUDA GPU here ({GpuDevice.Shared.Description}).");
        var store = GoldenStore.Open(Golden.GoldenFixture.Committed);
        var results = GoldenRunner.Run(store, Backends.Resolve(backend), new RunOptions()).Where(r => !r.Skipped).ToList();
        var failed = results.Where(r => r.Failed).Select(r => r.Line).ToList();
        Assert.True(failed.Count == 0, string.Join("\n", failed));
        Assert.Equal(72, results.Count(r => r.Passed));
    }
}
