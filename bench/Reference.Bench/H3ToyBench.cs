using BenchmarkDotNet.Attributes;
using Reference.Autodiff;
using Reference.Core;
using Reference.Models;

namespace Reference.Bench;

/// <summary>
/// One training step's forward + backward (no optimizer) of the small H3 language model of the
/// synthetic tasks (ToyTrainingOptions.Small: D 32, 2 blocks, N 8, V 12, batch 32 x 17 tokens), with
/// the mixer run as the Naive ssm.h3 primitive (baseline) or composed from tape operations (FastGemm
/// projections inside Tape.UseFastKernels, the configuration the trainer uses); hd 1 (the induction
/// preset) and hd 4 (the recall preset).
/// Measured figures: bench/NOTES.md, "H3 toy model training step".
/// </summary>
[MemoryDiagnoser]
public class H3ToyBench
{
    private const int Batch = 32, Length = 17, Vocabulary = 12;
    private H3LanguageModel primitive = null!, composed = null!;
    private int[] tokens = [], targets = [];

    [Params(1, 4)]
    public int HeadDim { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new H3LanguageModelOptions(Vocabulary, ModelWidth: 32, Layers: 2, StateSize: 8, HeadDim: HeadDim, InitStd: 0.1);
        primitive = new H3LanguageModel(options with { ComposedMixer = false }, seed: 1);
        composed = new H3LanguageModel(options, seed: 1);
        var rng = new SplitMix64(2);
        tokens = Enumerable.Range(0, Batch * Length).Select(_ => rng.NextInt(Vocabulary)).ToArray();
        targets = Enumerable.Range(0, Batch * Length).Select(_ => rng.NextInt(Vocabulary)).ToArray();
    }

    [Benchmark(Baseline = true)]
    public double PrimitiveMixer() => Step(primitive);

    [Benchmark]
    public double ComposedMixer() => Step(composed);

    private double Step(H3LanguageModel model)
    {
        using var fast = Tape.UseFastKernels();
        model.ZeroGrad();
        var loss = Ops.CrossEntropy(model.Logits(tokens, Batch, Length), targets);
        loss.Backward();
        return loss.Item();
    }
}
