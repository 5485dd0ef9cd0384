using Reference.Core.IO;
using Reference.Golden;
using Reference.SpecTests.Cli;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Golden;

/// <summary>
/// The numpy-only side: golden/check.py passes the NumPy backend's outputs and fails a perturbed
/// copy; golden/rng.py regenerates committed inputs bit for bit; the NumPy backend also runs as a
/// process backend of the .NET runner. Skipped where /usr/bin/python3 with numpy is missing.
/// </summary>
public class GoldenPythonTests
{
    private static void RequireNumpy()
    {
        if (!NpyTests.NumpyAvailable.Value) Assert.Skip("/usr/bin/python3 with numpy is not installed");
    }

    private static (int Code, string Output) Python(string script, string argument) => NpyTests.RunPython(script, argument);

    [Fact]
    public void Golden_CheckerPassesNumpyBackendOutputsAndFailsAPerturbedCopy()
    {
        RequireNumpy();
        using var dir = new TempDir();
        string golden = GoldenFixture.Committed;
        var (code, output) = Python($"""
            import runpy, sys
            sys.argv = ['numpy_backend.py', '--golden', {Quote(golden)}, '--out', sys.argv[1]]
            runpy.run_path({Quote(Path.Combine(golden, "numpy_backend.py"))}, run_name='__main__')
            """, dir.Path);
        Assert.True(code == 0, output);

        (code, output) = Check(dir.Path);
        Assert.True(code == 0, output);
        var last = output.TrimEnd().Split('\n')[^1];
        Assert.Matches(@"^[1-9]\d* passed, 0 failed, \d+ skipped$", last);
        Assert.Contains("PASS linalg.gemm/long_k_5x6x257_nn", output);
        Assert.Contains("PASS fft.causal_conv/", output);
        Assert.Contains("PASS nn.softmax/", output);
        // Every registered operator with cases, and every kernel op below them: the numpy backend covers the whole set.
        foreach (var op in GoldenRegistry.Ops.Select(o => o.Name))
            Assert.Contains($"PASS {op}/", output);

        // Perturb one candidate by 1 + 1e-3: the checker must fail it and exit 1.
        string target = Path.Combine(dir.Path, "linalg.gemm", "square_32x32x32_nt", "out.npy");
        var array = Npy.Read(target);
        Npy.Write(target, NpyArray.Of(array.ToDoubles().Select(v => v * (1 + 1e-3)).ToArray(), array.ShapeArray));
        (code, output) = Check(dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("FAIL linalg.gemm/square_32x32x32_nt out norm_rel=1e-03 > 1e-12", output);
        Assert.Matches(@"\d+ passed, 1 failed, \d+ skipped", output.TrimEnd().Split('\n')[^1]);
    }

    [Fact]
    public void Golden_CheckerFailsAShuffledOutputAndFlagsACorruptedGoldenFile()
    {
        RequireNumpy();
        using var cand = new TempDir();
        using var copy = GoldenFixture.Copy(out string root);
        string caseDir = Path.Combine(cand.Path, "nn.softmax", "rows_3x16");
        Directory.CreateDirectory(caseDir);
        var golden = Npy.Read(Path.Combine(root, "nn.softmax", "rows_3x16", "y.npy"));
        var values = golden.ToDoubles();
        Npy.Write(Path.Combine(caseDir, "y.npy"), NpyArray.Of(values.Reverse().ToArray(), golden.ShapeArray));
        var (code, output) = Check(cand.Path, "--golden", root);
        Assert.Equal(1, code);
        Assert.Contains("FAIL nn.softmax/rows_3x16 y allclose", output);

        Npy.Write(Path.Combine(caseDir, "y.npy"), golden);
        (code, output) = Check(cand.Path, "--golden", root);
        Assert.True(code == 0, output);
        string goldenFile = Path.Combine(root, "nn.softmax", "rows_3x16", "y.npy");
        var bytes = File.ReadAllBytes(goldenFile);
        bytes[^1] ^= 1;
        File.WriteAllBytes(goldenFile, bytes);
        (code, output) = Check(cand.Path, "--golden", root);
        Assert.Equal(3, code);
        Assert.Contains("sha256", output);
    }

    [Fact]
    public void Golden_PythonRngRegeneratesCommittedInputs()
    {
        RequireNumpy();
        string golden = GoldenFixture.Committed;
        var (code, output) = Python($$"""
            import sys
            sys.path.insert(0, {{Quote(golden)}})
            import numpy as np
            from rng import SplitMix64
            d = sys.argv[1]
            g = SplitMix64(103)
            a = g.normal_f32_array((7, 8)); b = g.normal_f32_array((8, 9))
            assert np.array_equal(a, np.load(d + '/linalg.gemm/odd_7x9x8_nn/a.npy')), 'a differs'
            assert np.array_equal(b, np.load(d + '/linalg.gemm/odd_7x9x8_nn/b.npy')), 'b differs'
            g = SplitMix64(0)
            print(g.next_u64(), g.uniform())
            """, golden);
        Assert.True(code == 0, output);
        var rng = new Reference.Core.SplitMix64(0);
        ulong first = rng.NextUInt64();
        double second = rng.Uniform();
        Assert.Equal($"{first} {second.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}", output.Trim());
    }

    [Fact]
    public void Golden_NumpyBackendRunsAsAProcessBackend()
    {
        RequireNumpy();
        string backend = $"process:/usr/bin/python3 {Path.Combine(GoldenFixture.Committed, "numpy_backend.py")}";
        var (code, output, error) = CliRunner.Run("golden", "run", "--op", "nn.softmax/s*", "--backend", backend);
        Assert.True(code == 0, output + error);
        Assert.Contains("PASS nn.softmax/shifted_2x9", output);
        Assert.Equal("2 passed, 0 failed, 0 skipped", output.TrimEnd().Split('\n')[^1]);
        (code, output, error) = CliRunner.Run("golden", "run", "--op", "nn.sigmoid/edges*", "--backend", backend);
        Assert.True(code == 0, output + error);
        Assert.StartsWith("PASS nn.sigmoid/edges_n10", output);
        Assert.Equal("1 passed, 0 failed, 0 skipped", output.TrimEnd().Split('\n')[^1]);
    }

    [Fact]
    public void Golden_NumpyBackendExits77ForAnOpItLacks()
    {
        RequireNumpy();
        using var dir = new TempDir();
        var (code, output) = Python($"""
            import runpy, sys
            sys.argv = ['numpy_backend.py', 'no.such_op', sys.argv[1], sys.argv[1]]
            runpy.run_path({Quote(Path.Combine(GoldenFixture.Committed, "numpy_backend.py"))}, run_name='__main__')
            """, dir.Path);
        Assert.True(code == 77, output);
        Assert.Contains("no.such_op is not implemented", output);
    }

    private static (int Code, string Output) Check(string candidates, params string[] extra)
    {
        string args = string.Join(", ", new[] { candidates }.Concat(extra).Select(Quote));
        return Python($"""
            import runpy, sys
            sys.argv = ['check.py', {args}]
            try:
                runpy.run_path({Quote(Path.Combine(GoldenFixture.Committed, "check.py"))}, run_name='__main__')
            except SystemExit as e:
                sys.stdout.flush()
                raise
            """, candidates);
    }

    private static string Quote(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
}
