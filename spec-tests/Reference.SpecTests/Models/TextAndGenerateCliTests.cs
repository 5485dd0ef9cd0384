using Reference.Cli;
using Reference.Models;

namespace Reference.SpecTests.Models;

/// <summary>The text task on a small corpus written here, and `reference generate` end to end (good and bad input).</summary>
public sealed class TextAndGenerateCliTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("reference-text-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Two fortune files of 30 numbered entries (entry i is "entry i: ..."), plus an index file the corpus must skip.</summary>
    private string Corpus()
    {
        string dir = Path.Combine(root, "fortunes");
        Directory.CreateDirectory(dir);
        for (int f = 0; f < 2; f++)
            File.WriteAllText(Path.Combine(dir, f == 0 ? "alpha" : "beta"),
                string.Join("%\n", Enumerable.Range(f * 15, 15).Select(i => $"entry {i:D2}: the quick brown fox jumps over the lazy dog.\n")));
        File.WriteAllText(Path.Combine(dir, "alpha.dat"), "binary index");
        return dir;
    }

    [Fact]
    public void TextTask_SplitsWholeEntriesAndScoresEveryNextByte()
    {
        string corpus = Corpus();
        var entries = TextTask.Entries(corpus);
        Assert.Equal(30, entries.Count);
        Assert.Equal("entry 00: the quick brown fox jumps over the lazy dog.", entries[0]);
        var task = (TextTask)TaskCatalog.Create("text", new Dictionary<string, string> { ["corpus"] = corpus, ["length"] = "16" });
        var (train, test) = task.Generate(0);
        Assert.Equal(256, task.Vocabulary);
        // 3 of 30 entries are held out (i mod 10 = 9), 27 train; each is 54 bytes + separator.
        Assert.Equal(27 * 55 / 17, train.Count);
        Assert.Equal(3 * 55 / 17, test.Count);
        var heldOut = task.Codec.Decode(test.Inputs.Take(16 * test.Count));
        Assert.StartsWith("entry 09:", heldOut, StringComparison.Ordinal);
        Assert.DoesNotContain("entry 10", heldOut, StringComparison.Ordinal);
        // Targets are the inputs shifted by one inside each window of L + 1 bytes.
        for (int s = 0; s < train.Count; s++)
            for (int t = 0; t + 1 < 16; t++) Assert.Equal(train.Inputs[s * 16 + t + 1], train.Targets[s * 16 + t]);
        Assert.Throws<ArgumentException>(() => TaskCatalog.Create("text", new Dictionary<string, string> { ["corpus"] = corpus, ["length"] = "5000" }));
        Assert.Throws<ArgumentException>(() => TaskCatalog.Create("text", new Dictionary<string, string> { ["corpus"] = Path.Combine(root, "none") }));
        Assert.Throws<ArgumentException>(() => TaskCatalog.Create("text", new Dictionary<string, string> { ["corpus"] = corpus, ["tokenizer"] = "words" }));
    }

    [Fact]
    public void Gpt2Codec_RoundTripsText()
    {
        var codec = TextCodec.Create("gpt2");
        var ids = codec.Encode("Hello world, a fortune.");
        Assert.Equal([15496, 995], ids.Take(2));                 // GPT-2's ids of "Hello" and " world"
        Assert.Equal("Hello world, a fortune.", codec.Decode(ids));
        Assert.Equal(50257, codec.Vocabulary);
    }

    [Fact]
    public void Cli_TrainTextThenGenerate_RecurrentEqualsParallel_BadCheckpointsExit2()
    {
        string corpus = Corpus();
        string model = Path.Combine(root, "m.json");
        File.WriteAllText(model, """{"width": 8, "depth": 1, "block": {"mixer": {"operator": "recurrence.gla", "heads": 2}, "channel_mixer": "mlp"}}""");
        string dir = Path.Combine(root, "run");
        var train = Cli("train", "--task", "text", "--task-option", $"corpus={corpus}", "--task-option", "length=16", "--model", model,
            "--steps", "4", "--batch", "4", "--eval-every", "4", "--out", dir);
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("held-out perplexity", train.Out, StringComparison.Ordinal);
        string ckpt = Path.Combine(dir, Trainer.CheckpointFile);
        string[] gen = ["generate", "--checkpoint", ckpt, "--prompt", "entry", "--tokens", "12", "--temperature", "0.9", "--top-k", "8", "--seed", "3"];
        var recurrent = Cli(gen);
        var parallel = Cli([.. gen, "--parallel"]);
        Assert.True(recurrent.Code == 0, recurrent.Err);
        string Generated(string o) => o.Split('\n').First(l => l.StartsWith("generated:", StringComparison.Ordinal));
        Assert.Equal(Generated(parallel.Out), Generated(recurrent.Out));
        Assert.Contains("text: entry", recurrent.Out, StringComparison.Ordinal);

        // ESS of the trained model on two text inputs of equal length; the JSON holds the whole tensor.
        string json = Path.Combine(root, "ess.json");
        var ess = Cli("ess", "--checkpoint", ckpt, "--input", "entry 01: the", "--input", "entry 02: the", "--json", json);
        Assert.True(ess.Code == 0, ess.Err);
        Assert.Contains("ESS tensor      [batch 2, layers 1, channels 2, splits 12]", ess.Out, StringComparison.Ordinal);
        var document = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json))!;
        Assert.Equal(2 * 1 * 2 * 12, document["ess"]!.AsArray().Count);
        Assert.Equal(2, Cli("ess", "--checkpoint", ckpt, "--input", "entry", "--input", "entry 2").Code);   // unequal lengths
        Assert.Equal(2, Cli("ess", "--checkpoint", ckpt).Code);                                              // no input
        Assert.Equal(2, Cli("ess", "--input", "1 2 3").Code);                                                // input without a model
        Assert.Equal(2, Cli("ess", "--checkpoint", ckpt, "--operator", "ssm.s4d", "--input", "ab").Code);   // both
        Assert.Equal(2, Cli("ess").Code);                                                                    // neither

        // Corrupt and mismatched checkpoints: one line, exit 2, the file untouched.
        string corrupt = Path.Combine(root, "corrupt.safetensors");
        var bytes = File.ReadAllBytes(ckpt);
        File.WriteAllBytes(corrupt, bytes[..(bytes.Length / 2)]);
        var bad = Cli("generate", "--checkpoint", corrupt);
        Assert.Equal(2, bad.Code);
        Assert.Single(bad.Err.Trim().Split('\n'));
        Assert.Equal(bytes.Length / 2, new FileInfo(corrupt).Length);
        var file = Reference.Core.IO.Safetensors.Read(ckpt);
        var metadata = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        metadata["model"] = metadata["model"].Replace("\"width\": 8,", "\"width\": 16,", StringComparison.Ordinal);
        Assert.NotEqual(file.Metadata["model"], metadata["model"]);
        string mismatched = Path.Combine(root, "mismatched.safetensors");
        Reference.Core.IO.Safetensors.Write(mismatched, file.Tensors, metadata);
        var wrong = Cli("generate", "--checkpoint", mismatched);
        Assert.Equal(2, wrong.Code);
        Assert.Contains("model.embedding", wrong.Err, StringComparison.Ordinal);
        var missing = Cli("generate", "--checkpoint", Path.Combine(root, "nope.safetensors"));
        Assert.Equal(2, missing.Code);
        var outOfVocabulary = Cli("generate", "--checkpoint", ckpt, "--tokens", "0");
        Assert.Equal(2, outOfVocabulary.Code);
    }
}
