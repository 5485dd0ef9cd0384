using System.Text.Json;

namespace Reference.SpecTests.Cli;

public class EssCliTests
{
    private static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"ess-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void Ess_ShortConvolutionReportsExactValuesAndWritesJsonCsvPlot()
    {
        string dir = TempDir();
        try
        {
            string json = Path.Combine(dir, "ess.json"), csv = Path.Combine(dir, "ess.csv"), png = Path.Combine(dir, "ess.png");
            var (code, output, error) = CliRunner.Run("ess", "--operator", "conv.causal", "--taps", "4", "--length", "20",
                "--channels", "3", "--seed", "5", "--json", json, "--csv", csv, "--plot", png);
            Assert.True(code == 0, error);
            Assert.Contains("relative tau = 1E-06", output);

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var root = doc.RootElement;
            Assert.Equal("conv.causal", root.GetProperty("operator").GetString());
            Assert.Equal(20, root.GetProperty("length").GetInt32());
            Assert.Equal("tolerance", root.GetProperty("mode").GetString());
            Assert.Equal(1e-6, root.GetProperty("tolerance").GetDouble());
            Assert.True(root.GetProperty("relative").GetBoolean());
            var splits = root.GetProperty("splits").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(Enumerable.Range(1, 19), splits);
            var expected = splits.Select(s => (double)Math.Min(3, Math.Min(s, 20 - s))).ToArray();
            Assert.Equal(expected, root.GetProperty("ess").EnumerateArray().Select(e => e.GetDouble()));
            Assert.All(root.GetProperty("tss").EnumerateArray(), e => Assert.Equal(3, e.GetDouble()));
            var perChannel = root.GetProperty("ess_per_channel").EnumerateArray().ToArray();
            Assert.Equal(3, perChannel.Length);
            Assert.All(perChannel, row => Assert.Equal(expected, row.EnumerateArray().Select(e => e.GetDouble())));

            var rows = File.ReadAllLines(csv);
            Assert.Equal("split,tss,ess,ess_c0,ess_c1,ess_c2", rows[0]);
            Assert.Equal(20, rows.Length);
            Assert.Equal("10,3,3,3,3,3", rows[10]);

            var magic = File.ReadAllBytes(png).Take(8).ToArray();
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, magic);
            Assert.Equal(3, Directory.GetFiles(dir).Length);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Ess_EntropyModeAndAbsoluteToleranceAreReported()
    {
        string dir = TempDir();
        try
        {
            string json = Path.Combine(dir, "e.json");
            var (code, _, error) = CliRunner.Run("ess", "--operator", "conv.causal", "--length", "9", "--mode", "entropy",
                "--tolerance", "1e-3", "--absolute", "--json", json);
            Assert.True(code == 0, error);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            Assert.Equal("entropy", doc.RootElement.GetProperty("mode").GetString());
            Assert.False(doc.RootElement.GetProperty("relative").GetBoolean());
            Assert.All(doc.RootElement.GetProperty("ess").EnumerateArray(), e => Assert.InRange(e.GetDouble(), 1, 3));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("--operator", "--operator", "no-such-op")]
    [InlineData("--length", "--length", "1")]
    [InlineData("--length", "--length", "abc")]
    [InlineData("--channels", "--channels", "0")]
    [InlineData("--mode", "--mode", "rank")]
    [InlineData("--tolerance", "--tolerance", "-1")]
    [InlineData("--taps", "--taps", "0")]
    [InlineData("--plot", "--plot", "ess.jpg")]
    [InlineData("--json", "--json", "/no/such/dir/ess.json")]
    public void Negative_BadArgumentExitsTwoNamingTheOption(string option, string name, string value)
    {
        string[] args = name == "--operator" ? ["ess", name, value] : ["ess", "--operator", "conv.causal", name, value];
        var (code, _, error) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains(option, error);
    }

    [Fact]
    public void Negative_MissingOperatorExitsTwo()
    {
        var (code, _, error) = CliRunner.Run("ess", "--length", "8");
        Assert.Equal(2, code);
        Assert.Contains("--operator", error);
    }
}
