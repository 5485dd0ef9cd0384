using Reference.Cli;

namespace Reference.SpecTests.Cli;

/// <summary>Runs the `reference` command in-process and captures its streams.</summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}

public class CliTests
{
    [Fact]
    public void Info_ReportsVersionIsaAndThreads()
    {
        var (code, output, _) = CliRunner.Run("info");
        Assert.Equal(0, code);
        Assert.Contains("version", output);
        Assert.Contains("vector isa", output);
        Assert.Contains($"{Environment.ProcessorCount} logical processors", output);
    }

    [Fact]
    public void Demo_EverySectionPasses()
    {
        var (code, output, _) = CliRunner.Run("demo");
        Assert.Equal(0, code);
        Assert.DoesNotContain("FAIL", output);
    }

    [Fact]
    public void Negative_UnknownVerb_ExitsTwoWithMessageOnStderr()
    {
        var (code, output, error) = CliRunner.Run("no-such-verb");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("no-such-verb", error);
    }
}
