using Reference.Cli;
using Reference.Cli.Commands;
using Reference.Core.IO;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Cli;

/// <summary>
/// Issue 22: absurd arguments and unwritable destinations. Every expected failure is one line
/// on stderr and exit 2, 3 or 4; an unexpected exception is one line and exit 70 (the trace only
/// under --verbose); sizes are checked against the memory budget before anything is allocated.
/// </summary>
public class HostileCliTests
{
    private static (int Code, string Out, string Err) RunWithin(int seconds, params string[] args)
    {
        return Reference.SpecTests.Core.HostileFileTests.Within(seconds, () => CliRunner.Run(args), $"`reference {string.Join(' ', args)}`");
    }

    private static void OneLineError(int expectedCode, (int Code, string Out, string Err) result, params string[] fragments)
    {
        Assert.True(result.Code == expectedCode, $"exit {result.Code}: {result.Out}{result.Err}");
        string error = result.Err.TrimEnd('\n');
        Assert.DoesNotContain('\n', error);
        Assert.StartsWith("error: ", error);
        foreach (var fragment in fragments) Assert.Contains(fragment, error);
    }

    // ---------------------------------------------------------------- 5. one line, never a trace

    [Fact]
    public void Negative_EssJsonIntoADirectory_OneLineExit2()
    {
        using var dir = new TempDir();
        OneLineError(2, CliRunner.Run("ess", "--operator", "ssm.shift", "--length", "8", "--json", dir.Path), dir.Path, "directory");
    }

    [Fact]
    public void Negative_EssPlotIntoAnUnwritableDirectory_OneLineExit2()
    {
        if (OperatingSystem.IsWindows() || Environment.UserName == "root") return;
        using var dir = new TempDir();
        string locked = Path.Combine(dir.Path, "locked");
        Directory.CreateDirectory(locked);
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            OneLineError(2, CliRunner.Run("ess", "--operator", "ssm.shift", "--length", "8", "--plot", Path.Combine(locked, "p.png")), "--plot");
        }
        finally
        {
            File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void Negative_GoldenReportIntoADirectory_OneLineExit2()
    {
        using var dir = Golden.HostileGoldenTests.MiniGolden(out string root);
        OneLineError(2, CliRunner.Run("golden", "run", "--golden", root, "--report", "json", dir.Path), "directory");
    }

    [Fact]
    public void Negative_GoldenRegenIntoAFile_OneLineExit2()
    {
        using var dir = new TempDir();
        string file = Path.Combine(dir.Path, "not-a-directory");
        File.WriteAllText(file, "x");
        OneLineError(2, CliRunner.Run("golden", "regen", "--golden", file, "--op", "nn.relu"), file, "not a directory");
    }

    [Fact]
    public void Negative_NpyGivenAFifo_OneLineExit2WithoutBlocking()
    {
        using var dir = new TempDir();
        string fifo = Path.Combine(dir.Path, "pipe.npy");
        HostileFileTests.MakeFifo(fifo);
        OneLineError(2, RunWithin(30, "npy", fifo), fifo, "not a regular file");
    }

    [Fact]
    public void UnexpectedException_IsOneLineAndExit70_TheTraceOnlyWhenVerbose()
    {
        Assert.Equal(70, ExitCodes.Internal);
        Exception thrown;
        try { throw new NullReferenceException("boom"); }
        catch (NullReferenceException e) { thrown = e; }
        var quiet = new StringWriter();
        Assert.Equal(ExitCodes.Internal, Program.Report(thrown, verbose: false, quiet));
        Assert.DoesNotContain('\n', quiet.ToString().TrimEnd('\n'));
        Assert.Contains("boom", quiet.ToString());
        Assert.Contains("--verbose", quiet.ToString());
        var loud = new StringWriter();
        Program.Report(thrown, verbose: true, loud);
        Assert.Contains(nameof(UnexpectedException_IsOneLineAndExit70_TheTraceOnlyWhenVerbose), loud.ToString());
        // Expected failures keep their codes.
        Assert.Equal(ExitCodes.Usage, Program.Report(new IOException("disk"), verbose: false, new StringWriter()));
        Assert.Equal(ExitCodes.Integrity, Program.Report(new CliException("bad", ExitCodes.Integrity), verbose: false, new StringWriter()));
    }


    // ---------------------------------------------------------------- 5 and 9. absurd sizes against the memory budget

    [Theory]
    [InlineData("--length", "100000000")]
    [InlineData("--channels", "100000000")]
    [InlineData("--state", "100000000")]
    [InlineData("--taps", "2000000000")]
    public void Negative_EssWithAbsurdSizes_SaysWhatItNeedsAndTheLimit(string option, string value)
    {
        string op = option == "--taps" ? "conv.causal" : "ssm.s4d";
        OneLineError(2, RunWithin(30, "ess", "--operator", op, option, value), "needs", "the limit is", "--max-memory");
    }

    [Fact]
    public void Negative_EssWithAbsurdHeads_SaysWhatItNeedsAndTheLimit() =>
        OneLineError(2, RunWithin(30, "ess", "--operator", "attention.softmax", "--heads", "100000000"), "needs", "--max-memory");

    [Fact]
    public void Ess_MaxMemoryOption_LowersTheLimit()
    {
        OneLineError(2, CliRunner.Run("ess", "--operator", "ssm.s4d", "--length", "256", "--max-memory", "100K"), "needs", "the limit is 100 kB (--max-memory)");
        OneLineError(2, CliRunner.Run("ess", "--operator", "ssm.s4d", "--max-memory", "lots"), "--max-memory");
    }

    [Theory]
    [InlineData("--width", "1000000")]
    [InlineData("--train", "2000000000")]
    [InlineData("--layers", "100000000")]
    public void Negative_ToyWithAbsurdSizes_SaysWhatItNeedsAndTheLimit(string option, string value) =>
        OneLineError(2, RunWithin(30, "toy", "--task", "induction", option, value), "needs", "--max-memory");

    // ---------------------------------------------------------------- 9. say where outputs went; progress

    [Fact]
    public void Ess_SaysWhereJsonCsvAndPlotWereWritten()
    {
        using var dir = new TempDir();
        string json = Path.Combine(dir.Path, "e.json"), csv = Path.Combine(dir.Path, "e.csv"), png = Path.Combine(dir.Path, "e.png");
        var (code, output, error) = CliRunner.Run("ess", "--operator", "ssm.shift", "--length", "8", "--json", json, "--csv", csv, "--plot", png);
        Assert.True(code == 0, output + error);
        Assert.Contains($"wrote --json {json}", error);
        Assert.Contains($"wrote --csv {csv}", error);
        Assert.Contains($"wrote --plot {png}", error);
    }

    [Fact]
    public void Ess_JsonToACharacterDevice_WritesIntoIt()
    {
        using var dir = new TempDir();
        string nullDevice = HostileFileTests.LinkToDevice(dir, "/dev/null");
        var (code, output, error) = CliRunner.Run("ess", "--operator", "ssm.shift", "--length", "8", "--json", nullDevice);
        Assert.True(code == 0, output + error);
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of(nullDevice));
    }

    [Fact]
    public void Npy_StreamsItsStatistics()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "big.npy");
        var values = new float[2_000_000];
        for (int i = 0; i < values.Length; i++) values[i] = i % 1000;
        Npy.Write(path, NpyArray.Wrap(NpyDType.Float32, values, [values.Length]));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var lines = NpyCommand.Describe(path).ToDictionary(l => l.Key, l => l.Value);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 4 << 20, $"{allocated} bytes allocated for an 8 MB file");
        Assert.Equal("2000000", lines["count"]);
        Assert.Equal("0", lines["min"]);
        Assert.Equal("999", lines["max"]);
        Assert.Equal("499.5", lines["mean"]);
    }

    [Fact]
    public void Negative_ResponseFileTokenWithANulCharacter_IsOneLineExitTwo()
    {
        // Found by the cli fuzz target (corpus/cli/crash_response_file_with_nul.bin): a token @PATH is a
        // response file, read while parsing; a path with a NUL escaped the CLI with a stack trace.
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = Program.Run(["nifti", "@F\0x"], stdout, stderr);
        Assert.Equal(2, code);
        string[] lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: cannot read the arguments", lines[0]);
    }
}
