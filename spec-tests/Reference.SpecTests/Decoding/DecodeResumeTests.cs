using System.Text.Json.Nodes;
using Reference.Decoding;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Decoding;

/// <summary>An experiment stopped after some cells and resumed gives the same cells as one uninterrupted run.</summary>
public class DecodeResumeTests
{
    private const string Config = """
        {"data": {"preset": "small", "subjects": 6, "cnr": 3, "seed": 2, "scans": 100},
         "test_subjects": 2, "validation_subjects": 1, "train_subjects": [1, 3], "seeds": 2,
         "decoders": [{"name": "lr-parcels", "kind": "logistic_parcels"}, {"name": "tangent", "kind": "tangent"}]}
        """;

    private static List<string> Cells(string dir) =>
        File.ReadAllLines(Path.Combine(dir, DecodeExperiment.CellsFile))
            .Select(l => { var o = JsonNode.Parse(l)!.AsObject(); o.Remove("seconds"); return o.ToJsonString(); })
            .Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void StoppedAndResumed_SameCellsAsUninterrupted()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        string full = Path.Combine(a.Path, "run"), parted = Path.Combine(b.Path, "run");
        Assert.NotNull(new DecodeExperiment(DecodeConfig.Parse(Config), full).Run(false));
        Assert.Null(new DecodeExperiment(DecodeConfig.Parse(Config), parted) { MaxNewCells = 3 }.Run(false));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(parted, DecodeExperiment.CellsFile)).Length);
        Assert.NotNull(new DecodeExperiment(DecodeConfig.Parse(Config), parted).Run(true));
        var expected = Cells(full);
        Assert.Equal(2 * 2 * 2, expected.Count);
        Assert.Equal(expected, Cells(parted));
    }
}
