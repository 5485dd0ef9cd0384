using Reference.Autodiff;
using Reference.Core;
using Reference.Core.Conformance;
using Reference.Core.IO;
using Reference.Models;
using Reference.Operators;

namespace Reference.SpecTests.Models;

/// <summary>
/// Decoding through the operators' recurrent forms against the parallel definitions: every
/// registered decoder stepped through its conformance cases equals the naive definition, and every
/// usable mixer's model decoded token by token equals the parallel forward at every position.
/// </summary>
public sealed class GenerationTests
{
    private static ModelSpec Spec(string op) => ModelSpec.Parse(
        "{\"width\": 16, \"depth\": 2, \"block\": {\"mixer\": {\"operator\": \"" + op +
        "\", \"heads\": 2, \"state_size\": 4, \"taps\": 3}, \"channel_mixer\": \"swiglu\"}}");

    public static TheoryData<string> Usable() => [.. SequenceMixers.Usable];

    public static TheoryData<string> WithDecoder() => [.. OperatorRegistry.All.Where(d => d.Decoder is not null).Select(d => d.Name)];

    private static string[] Dims(string shape)
    {
        int or = shape.IndexOf(" or ", StringComparison.Ordinal);
        if (or >= 0) shape = shape[..or];
        return [.. shape.Trim().TrimStart('[').TrimEnd(']').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
    }

    private static double MaxRelative(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual)
    {
        double scale = 0, err = 0;
        for (int i = 0; i < expected.Length; i++) { scale = Math.Max(scale, Math.Abs(expected[i])); err = Math.Max(err, Math.Abs(expected[i] - actual[i])); }
        return err / Math.Max(scale, 1e-300);
    }

    [Theory]
    [MemberData(nameof(WithDecoder))]
    public void Property_DecoderSteppedThroughEveryCaseEqualsTheDefinition(string name)
    {
        var d = OperatorRegistry.Get(name);
        // A non-causal case (attention.softmax with params.causal = false) has no decoding form: a query
        // would need later tokens.
        foreach (var c in d.Cases.Where(c => !(c.Params.ContainsKey("causal") && c.Params["causal"]!.GetValue<bool>() == false)))
        {
            var inputs = d.InputsOf(c);
            var expected = d.Naive(c.Params, inputs)[d.Outputs[0].Name].ToTensorDouble();
            var sequence = d.Inputs.Where(i => inputs.ContainsKey(i.Name) && Dims(i.Shape).Contains("L") && Dims(i.Shape).Contains("B"))
                .ToDictionary(i => i.Name, i => (Tensor: inputs.Double(i.Name), Axis: Array.IndexOf(Dims(i.Shape), "L")));
            int batch = sequence.Values.First().Tensor.Dim(Array.IndexOf(Dims(d.Inputs.First(i => sequence.ContainsKey(i.Name)).Shape), "B"));
            int lengthAxis = Array.IndexOf(Dims(d.Outputs[0].Shape), "L");
            int length = expected.Dim(lengthAxis);
            var decoder = d.Decoder!(c.Params, inputs, batch);
            for (int t = 0; t < length; t++)
            {
                var token = sequence.ToDictionary(kv => kv.Key, kv => kv.Value.Tensor.Slice(kv.Value.Axis, t, 1));
                var y = decoder.Step(token);
                var want = expected.Slice(lengthAxis, t, 1);
                Assert.Equal(want.ShapeArray, y.ShapeArray);
                double rel = MaxRelative(want.Data, y.Data);
                Assert.True(rel < 1e-9, $"{name} case {c.Id}: position {t} differs from the definition by {rel:G3} (relative to its largest value).");
                if (d.CacheSize is { } cache)
                    Assert.Equal(batch * cache(c.Params, t + 1), decoder.StateElements);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Usable))]
    public void Property_RecurrentDecodingEqualsTheParallelForwardAtEveryPosition(string op)
    {
        const int batch = 2, length = 12, vocabulary = 11;
        var model = BackboneModel.Create(Spec(op), vocabulary, length, seed: 5);
        var rng = new SplitMix64(9);
        var tokens = Enumerable.Range(0, batch * length).Select(_ => rng.NextInt(vocabulary)).ToArray();
        Tensor<double> parallel;
        using (Tape.NoGrad()) parallel = model.Logits(tokens, batch, length).Value;   // [B L, V]
        var decoder = model.StartDecoding(batch);
        for (int t = 0; t < length; t++)
        {
            var logits = decoder.Step([tokens[t], tokens[length + t]]);
            for (int b = 0; b < batch; b++)
            {
                double rel = MaxRelative(parallel.Data.AsSpan((b * length + t) * vocabulary, vocabulary), logits.Data.AsSpan(b * vocabulary, vocabulary));
                Assert.True(rel < 1e-9, $"{op}: logits of sequence {b} at position {t} differ from the parallel forward by {rel:G3}.");
            }
            var cache = model.CacheSizes(t + 1);
            Assert.Equal(cache.Select(n => n * batch), decoder.CacheElements);
        }
    }

    [Fact]
    public void Property_GenerationEqualsReRunningTheParallelForm()
    {
        foreach (var op in new[] { "attention.softmax", "ssm.h3", "recurrence.gla" })
        {
            var model = BackboneModel.Create(Spec(op), vocabulary: 11, length: 16, seed: 2);
            int[] prompt = [1, 4, 2];
            var recurrent = Generation.Generate(model, prompt, 10, new Sampler(1.0, 5, 77));
            var parallel = Generation.GenerateParallel(model, prompt, 10, new Sampler(1.0, 5, 77));
            Assert.Equal(parallel, recurrent);
        }
    }

    [Fact]
    public void Sampler_GreedyTopKAndSeededFrequencies()
    {
        double[] logits = [0.1, 2.0, -1.0, 2.0, 0.5];
        Assert.Equal(1, new Sampler(0, 0, 1).Next(logits));            // argmax, lowest index on ties
        Assert.Equal(new Sampler(1.0, 0, 3).Next(logits), new Sampler(1.0, 0, 3).Next(logits));
        var top2 = new Sampler(1.0, 2, 4);
        for (int i = 0; i < 200; i++) Assert.Contains(top2.Next(logits), new[] { 1, 3 });
        // Frequencies at temperature T match softmax(logits / T) (5 sigma of a binomial with n = 40000).
        const int n = 40000;
        const double temperature = 0.7;
        var counts = new int[logits.Length];
        var sampler = new Sampler(temperature, 0, 11);
        for (int i = 0; i < n; i++) counts[sampler.Next(logits)]++;
        var p = logits.Select(x => Math.Exp(x / temperature)).ToArray();
        double z = p.Sum();
        for (int i = 0; i < p.Length; i++)
        {
            double q = p[i] / z, sigma = Math.Sqrt(q * (1 - q) / n);
            Assert.True(Math.Abs(counts[i] / (double)n - q) < 5 * sigma + 1e-12, $"token {i}: frequency {counts[i] / (double)n:F4}, expected {q:F4}.");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(-1, 0, 0));
    }
}
