using Reference.SpecTests.Cli;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Decoding;

/// <summary>`reference decode`: a bad configuration is one line on stderr, exit 2, nothing written.</summary>
public class DecodeCliTests
{
    [Theory]
    [InlineData("{", "")]
    [InlineData("{\"decoders\": {}}", "decoders")]
    [InlineData("{\"data\": {\"preset\": \"nope\"}, \"decoders\": [{\"name\": \"a\", \"kind\": \"logistic_parcels\"}]}", "nope")]
    [InlineData("{\"seeds\": 0, \"decoders\": [{\"name\": \"a\", \"kind\": \"logistic_parcels\"}]}", "seeds")]
    [InlineData("{\"decoders\": [{\"name\": \"a\", \"kind\": \"crystal_ball\"}]}", "kind")]
    [InlineData("{\"decoders\": [{\"name\": \"a\", \"kind\": \"sequence\", \"architecture\": \"rnn\"}]}", "architecture")]
    [InlineData("{\"decoders\": [{\"name\": \"a\", \"kind\": \"cnn3d\", \"filters\": 0}]}", "filters")]
    [InlineData("{\"decoders\": [{\"name\": \"a\", \"kind\": \"sequence\", \"selection\": \"median\"}]}", "decoders[0].selection")]
    [InlineData("{\"decoders\": [{\"name\": \"a\", \"kind\": \"time_weighting\", \"epochs\": 5, \"min_epochs\": 6}]}", "decoders[0].min_epochs")]
    [InlineData("{\"typo_field\": 1, \"decoders\": [{\"name\": \"a\", \"kind\": \"logistic_parcels\"}]}", "typo_field")]
    public void BadConfig_OneLine_Exit2(string json, string named)
    {
        using var dir = new TempDir();
        string config = Path.Combine(dir.Path, "c.json"), output = Path.Combine(dir.Path, "out");
        File.WriteAllText(config, json);
        var (code, _, error) = CliRunner.Run("decode", "--config", config, "--out", output);
        Assert.Equal(2, code);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(named, error);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any());
    }

    [Fact]
    public void MissingConfigFile_OneLine_Exit2()
    {
        using var dir = new TempDir();
        var (code, _, error) = CliRunner.Run("decode", "--config", Path.Combine(dir.Path, "absent.json"));
        Assert.Equal(2, code);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--config", error);
    }
}
