namespace Reference.SpecTests.Cli;

/// <summary>`reference experiment ... --resume`: finished units are read back; units of other settings are exit 3, one line.</summary>
public class ExperimentResumeCliTests
{
    [Fact]
    public void Experiment_ResumeReadsFinishedUnitsBack_AndRefusesUnitsOfOtherSettings()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"experiment-cli-{Guid.NewGuid():N}");
        try
        {
            string[] common = ["experiment", "hybrid", "--seeds", "2", "--threads", "2", "--out", dir];
            var (code, output, error) = CliRunner.Run([.. common, "--budget-scale", "0.01"]);
            Assert.True(code == 0, error);
            Assert.Equal(2, Directory.GetFiles(Path.Combine(dir, "units"), "*.json").Length);
            string verdict = File.ReadAllText(Path.Combine(dir, "verdict.txt"));

            (code, output, error) = CliRunner.Run([.. common, "--budget-scale", "0.01", "--resume"]);
            Assert.True(code == 0, error);
            Assert.Contains("resume: 2 of 2 units", output);
            Assert.Equal(verdict, File.ReadAllText(Path.Combine(dir, "verdict.txt")));

            (code, _, error) = CliRunner.Run([.. common, "--budget-scale", "0.02", "--resume"]);
            Assert.Equal(3, code);
            Assert.Contains("other settings", error);
            Assert.Single(error.Trim().Split('\n'));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
