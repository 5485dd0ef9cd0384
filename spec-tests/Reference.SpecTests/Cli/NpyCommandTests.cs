using System.Globalization;
using System.Numerics;
using Reference.Core.IO;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Cli;

public class NpyCommandTests
{
    private static Dictionary<string, string> Fields(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => (Key: line[..10].Trim(), Value: line[10..].Trim()))
            .ToDictionary(p => p.Key, p => p.Value);

    [Fact]
    public void Npy_PrintsVersionDtypeShapeOrderAndStatistics()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "x.npy");
        // Finite values 1, 2, 3, 4 (mean 2.5, population std sqrt(1.25)) plus one NaN and one -Inf.
        Npy.Write(path, NpyArray.Of(new[] { 1.0, double.NaN, 2.0, 3.0, double.NegativeInfinity, 4.0 }, 2, 3));
        var (code, output, error) = CliRunner.Run("npy", path);
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var f = Fields(output);
        Assert.Equal("1.0", f["version"]);
        Assert.Equal("<f8 (float64)", f["dtype"]);
        Assert.Equal("(2, 3)", f["shape"]);
        Assert.Equal("C", f["order"]);
        Assert.Equal("6", f["count"]);
        Assert.Equal(1.0, double.Parse(f["min"], CultureInfo.InvariantCulture));
        Assert.Equal(4.0, double.Parse(f["max"], CultureInfo.InvariantCulture));
        Assert.Equal(2.5, double.Parse(f["mean"], CultureInfo.InvariantCulture));
        Assert.Equal(Math.Sqrt(1.25), double.Parse(f["std"], CultureInfo.InvariantCulture), 15);
        Assert.Equal("1", f["nan"]);
        Assert.Equal("1", f["inf"]);
    }

    [Fact]
    public void Npy_ComplexStatisticsAreOfTheModulus()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "z.npy");
        Npy.Write(path, NpyArray.Of(new[] { new Complex(3, 4), new Complex(0, -1) }, 2));
        var (code, output, _) = CliRunner.Run("npy", path);
        Assert.Equal(0, code);
        var f = Fields(output);
        Assert.Equal("<c16 (complex128)", f["dtype"]);
        Assert.Equal("5", f["max |z|"]);
        Assert.Equal("1", f["min |z|"]);
        Assert.Equal("3", f["mean |z|"]);
    }

    [Fact]
    public void Edge_EmptyArrayAndBigEndianFile()
    {
        using var dir = new TempDir();
        string empty = Path.Combine(dir.Path, "e.npy");
        Npy.Write(empty, NpyArray.Of(Array.Empty<int>(), 0, 4));
        var (code, output, _) = CliRunner.Run("npy", empty);
        Assert.Equal(0, code);
        var f = Fields(output);
        Assert.Equal("(0, 4)", f["shape"]);
        Assert.Equal("0", f["count"]);
        Assert.Equal("n/a", f["mean"]);

        string big = Path.Combine(dir.Path, "b.npy");
        File.WriteAllBytes(big, NpyValues.Concat(
            NpyValues.Preamble(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }", 128), [0, 0, 1, 0]));
        (code, output, _) = CliRunner.Run("npy", big);
        Assert.Equal(0, code);
        Assert.Contains("byte-swapped", Fields(output)["dtype"]);
        Assert.Equal("256", Fields(output)["max"]);
    }

    [Fact]
    public void Negative_MalformedFileExitsTwoWithOneLineOnStderr()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "bad.npy");
        var good = Npy.ToBytes(NpyArray.Of(new[] { 1.0, 2.0, 3.0 }, 3));
        File.WriteAllBytes(path, good[..^8]);
        var (code, output, error) = CliRunner.Run("npy", path);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal($"error: {path}: data too short: shape (3,) of <f8 needs 24 bytes after the 128-byte header, the file has 16.", error.TrimEnd('\n', '\r'));
    }

    [Fact]
    public void Negative_ObjectArrayAndGarbageFileExitTwo()
    {
        using var dir = new TempDir();
        string obj = Path.Combine(dir.Path, "obj.npy");
        File.WriteAllBytes(obj, NpyValues.Preamble(1, "{'descr': '|O', 'fortran_order': False, 'shape': (), }", 128));
        var (code, _, error) = CliRunner.Run("npy", obj);
        Assert.Equal(2, code);
        Assert.StartsWith($"error: {obj}: object arrays are refused", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        string garbage = Path.Combine(dir.Path, "garbage.npy");
        File.WriteAllText(garbage, "hello");
        (code, _, error) = CliRunner.Run("npy", garbage);
        Assert.Equal(2, code);
        Assert.Contains("bad magic", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void Negative_MissingFileExitsTwoNamingTheArgument()
    {
        string path = Path.Combine(Path.GetTempPath(), "does-not-exist-" + Guid.NewGuid().ToString("N") + ".npy");
        var (code, output, error) = CliRunner.Run("npy", path);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains(path, error);
        Assert.Contains("no such file", error);
        (code, _, error) = CliRunner.Run("npy");
        Assert.Equal(2, code);
        Assert.Contains("argument missing", error);
    }
}
