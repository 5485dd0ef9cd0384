using Reference.Core.IO;
using Reference.Decoding;
using Reference.Models;
using Reference.Neuro.Simulation;
using Reference.SpecTests.Core;

namespace Reference.SpecTests.Decoding;

/// <summary>
/// A pre-training checkpoint names its settings in its own metadata (no sidecar file): a finished
/// one of the same settings is loaded without further steps, one of other settings is an error.
/// </summary>
public class PretrainingCheckpointTests
{
    [Fact]
    public void Checkpoint_CarriesItsSettings_AndRefusesOthers()
    {
        var data = DecodingSet.Build(SimulationOptions.FromPreset("small") with { Subjects = 3, Seed = 3 }, new SampleOptions(6, 4, Maps: false));
        var spec = ModelSpec.Parse("""{"width": 8, "depth": 1, "block": {"mixer": {"operator": "attention.softmax", "heads": 2}, "channel_mixer": "mlp"}}""");
        SequenceModel Model() => new(data.Parcels, spec, data.Window, 1, "gpt2", 2);
        var settings = new PretrainSettings(Steps: 3, Batch: 4, CheckpointEvery: 2);
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "p.safetensors");

        var first = Pretraining.Run(Model(), data.Runs, data.Scans, data.Tr, settings, 5, path);
        Assert.Equal(3, first.Count);
        Assert.False(File.Exists(path + ".json"));
        Assert.Contains("csm", Safetensors.Read(path).Metadata[Pretraining.IdentityKey]);

        Assert.Empty(Pretraining.Run(Model(), data.Runs, data.Scans, data.Tr, settings, 5, path));
        Assert.Throws<InvalidDataException>(() => Pretraining.Run(Model(), data.Runs, data.Scans, data.Tr, settings with { Framework = "net_bert" }, 5, path));
    }
}
