using System.Globalization;
using System.Text.Json;
using Reference.Ess;
using Reference.Models;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference ess --checkpoint CKPT --input IDS [--input IDS ...]`: the ESS tensor [batch, layers,
/// channels, splits] of a trained model on the given inputs (Ess/ModelEss.cs), printed per layer with
/// the reducers of docs/ess.md (mean over batch, sum and mean over channels, mean over splits,
/// utilization against the layer's TSS, the whole-model total); `--json FILE` writes the whole tensor.
/// </summary>
public static class ModelEssCommand
{
    public static int Run(string checkpoint, string[] inputs, EssOptions options, string? jsonPath, TextWriter output, TextWriter error)
    {
        if (!File.Exists(checkpoint)) throw new CliException($"--checkpoint: file '{checkpoint}' does not exist.");
        if (inputs.Length == 0) throw new CliException("--checkpoint needs at least one --input sequence.");
        TrainedCheckpoint trained;
        try { trained = Trainer.LoadModel(checkpoint); }
        catch (InvalidDataException e) { throw new CliException($"--checkpoint: {e.Message}"); }
        var model = trained.Model;
        var codec = TextCodec.ForTask(trained.Task);
        var sequences = new List<int[]>();
        foreach (var text in inputs)
        {
            int[] ids;
            if (codec is not null) ids = codec.Encode(text);
            else
            {
                var parts = text.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
                ids = new int[parts.Length];
                for (int i = 0; i < parts.Length; i++)
                    if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]) || ids[i] < 0 || ids[i] >= model.Vocabulary)
                        throw new CliException($"--input: '{parts[i]}' is not a token id in [0, {model.Vocabulary}).");
            }
            if (ids.Length < 2) throw new CliException($"--input: a sequence needs at least 2 tokens (ESS needs a split), got {ids.Length}.");
            if (sequences.Count > 0 && ids.Length != sequences[0].Length)
                throw new CliException($"--input: every sequence must have the same length; the first has {sequences[0].Length} tokens, another {ids.Length}.");
            sequences.Add(ids);
        }
        int batch = sequences.Count, length = sequences[0].Length;
        ModelEssResult result;
        try { result = ModelEss.Compute(model, [.. sequences.SelectMany(s => s)], batch, length, options); }
        catch (ArgumentException e) { throw new CliException($"--checkpoint: {e.Message}"); }

        output.WriteLine($"model           {model.Spec}, trained on {trained.Task}, step {trained.Step}");
        output.WriteLine($"inputs          {batch} sequence(s) of L = {length}");
        output.WriteLine($"metric          {options}");
        output.WriteLine($"ESS tensor      [batch {batch}, layers {result.Operators.Length}, channels {result.Ess.Dim(2)}, splits {result.Splits.Length}]");
        output.WriteLine("layer  operator                  channels  ESS (sum over channels)  ESS per channel  TSS per channel  utilization");
        var perLayer = result.PerLayer;
        var perChannel = result.MeanPerChannel;
        var utilization = result.Utilization;
        for (int i = 0; i < perLayer.Length; i++)
        {
            double tss = result.TotalStateSize[i].Length == 0 ? double.NaN : result.TotalStateSize[i].Average();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{i,5}  {result.Operators[i] ?? "(no mixer)",-24}  {result.Channels[i],8}  {perLayer[i],23:F3}  {perChannel[i],15:F3}  {tss,15:F3}  {utilization[i],11:F3}"));
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"total           {result.Total:F3} (sum over layers of the mean over batch and splits of the sum over channels)"));
        if (jsonPath is not null)
        {
            var document = new Dictionary<string, object?>
            {
                ["checkpoint"] = checkpoint,
                ["task"] = trained.Task,
                ["mode"] = options.Mode == EssMode.Entropy ? "entropy" : "tolerance",
                ["tolerance"] = options.Tolerance,
                ["relative"] = options.Relative,
                ["shape"] = result.Ess.ShapeArray,
                ["splits"] = result.Splits,
                ["operators"] = result.Operators,
                ["channels"] = result.Channels,
                ["tss_per_channel"] = result.TotalStateSize,
                ["ess"] = result.Ess.Data,
                ["ess_per_layer"] = perLayer,
                ["ess_per_channel"] = perChannel,
                ["utilization"] = utilization.Select(u => double.IsNaN(u) ? (double?)null : u).ToArray(),
                ["ess_total"] = result.Total,
            };
            OutputFile.WriteAllText(jsonPath, JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }), "--json", error);
        }
        return ExitCodes.Success;
    }
}
