using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Reference.Core;
using Reference.Models;

namespace Reference.Cli.Commands;

/// <summary>
/// `reference generate --checkpoint CKPT [--prompt ...] --tokens N --temperature T --top-k K --seed S`:
/// autoregressive generation from a model trained by `reference train`, through each mixer's
/// recurrent form (Generation/BackboneDecoder.cs): a KV cache for attention, the constant-size
/// state of SSMs and recurrences. The prompt is token ids ("3 1 4" or "3,1,4"), or text for a model
/// trained on the text task. `--parallel` re-runs the parallel form on the prefix at every step
/// instead (the baseline; the same tokens). Prints the tokens and the decoding speed.
/// </summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "A checkpoint written by `reference train` (checkpoint.safetensors).", Required = true, HelpName = "CKPT" };
        var prompt = new Option<string?>("--prompt") { Description = "Prompt: token ids separated by spaces or commas (text for a text-task model); default: token 0.", HelpName = "IDS" };
        var tokens = new Option<int>("--tokens") { Description = "Tokens to generate.", DefaultValueFactory = _ => 32, HelpName = "N" };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (0: greedy).", DefaultValueFactory = _ => 1.0, HelpName = "T" };
        var topK = new Option<int>("--top-k") { Description = "Sample from the K most likely tokens (0: all).", DefaultValueFactory = _ => 0, HelpName = "K" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the sampling draws.", DefaultValueFactory = _ => 0UL, HelpName = "N" };
        var parallel = new Option<bool>("--parallel") { Description = "Re-run the parallel form on the whole prefix per token (baseline) instead of the recurrent form.", Arity = ArgumentArity.Zero };
        var command = new Command("generate", "Generate tokens from a trained checkpoint through each operator's recurrent form (KV cache for attention, constant state for SSMs).")
        {
            checkpoint, prompt, tokens, temperature, topK, seed, parallel,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            int n = parse.GetValue(tokens);
            if (n < 1) throw new CliException($"--tokens must be >= 1, got {n}.");
            double t = parse.GetValue(temperature);
            if (!(t >= 0) || double.IsInfinity(t)) throw new CliException($"--temperature must be finite and >= 0, got {t.ToString(CultureInfo.InvariantCulture)}.");
            int k = parse.GetValue(topK);
            if (k < 0) throw new CliException($"--top-k must be >= 0, got {k}.");
            string path = parse.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new CliException($"--checkpoint: file '{path}' does not exist.");
            TrainedCheckpoint trained;
            try { trained = Trainer.LoadModel(path); }
            catch (InvalidDataException e) { throw new CliException($"--checkpoint: {e.Message}"); }
            var model = trained.Model;
            var codec = TextCodec.ForTask(trained.Task);
            int[] ids;
            try { ids = ParsePrompt(parse.GetValue(prompt), codec, model.Vocabulary); }
            catch (ArgumentException e) { throw new CliException($"--prompt: {e.Message}"); }
            var sampler = new Sampler(t, k, parse.GetValue(seed));
            var clock = Stopwatch.StartNew();
            int[] generated;
            try
            {
                generated = parse.GetValue(parallel) ? Generation.GenerateParallel(model, ids, n, sampler) : Generation.Generate(model, ids, n, sampler);
            }
            catch (InvalidOperationException e) { throw new CliException(e.Message); }
            double seconds = clock.Elapsed.TotalSeconds;
            output.WriteLine($"model: {model.Spec}, trained on {trained.Task}, step {trained.Step}");
            output.WriteLine($"prompt: {string.Join(' ', ids)}");
            output.WriteLine($"generated: {string.Join(' ', generated)}");
            if (codec is not null) output.WriteLine($"text: {codec.Decode([.. ids, .. generated])}");
            // Recurrent: one step per prompt token and per generated token but the last; parallel: one forward over the prefix per generated token.
            int passes = parse.GetValue(parallel) ? n : ids.Length + n - 1;
            if (parse.GetValue(parallel))
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{passes} parallel forward passes over prefixes of {ids.Length} to {ids.Length + n - 1} tokens in {seconds:F3} s ({seconds / passes * 1e3:F2} ms per generated token)"));
            else
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{passes} recurrent steps (prompt and generation) in {seconds:F3} s ({seconds / Math.Max(passes, 1) * 1e3:F2} ms per token, {passes / Math.Max(seconds, 1e-9):F1} tokens/s)"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static int[] ParsePrompt(string? prompt, TextCodec? codec, int vocabulary)
    {
        if (string.IsNullOrWhiteSpace(prompt)) return [0];
        int[] ids;
        if (codec is not null) ids = codec.Encode(prompt);
        else
        {
            var parts = prompt.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
            ids = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]))
                    throw new ArgumentException($"'{parts[i]}' is not a token id (the model was trained on a synthetic task: give ids in [0, {vocabulary})).");
        }
        if (ids.Length == 0) throw new ArgumentException("the prompt encodes to no tokens.");
        foreach (int id in ids)
            if (id < 0 || id >= vocabulary) throw new ArgumentException($"token {id} is outside the model's vocabulary [0, {vocabulary}).");
        return ids;
    }
}
