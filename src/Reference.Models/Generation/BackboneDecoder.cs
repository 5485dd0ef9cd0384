// Autoregressive decoding of a BackboneModel through each mixer's recurrent form. Every part of a
// block other than the sequence mixer acts on one position at a time (embedding, norms, channel
// mixers, head), so running it on [B, 1, D] is exact; the mixer carries its operator's decoding
// state (OperatorDecoder: the KV cache of attention, the constant-size state of an SSM, a
// recurrence's S, a short convolution's history). Position t's logits therefore equal row t of the
// parallel forward (BackboneModel.Logits) up to the operators' own step-vs-parallel rounding, which
// the generation tests check for every usable mixer. Cost per token: O(1) in t for SSMs and
// recurrences, O(t) for attention, against O(t) or O(t log t) to re-run the parallel form.
//
// Sampling (Sampler): logits / temperature, top-k truncation (ties at the k-th value kept), softmax,
// then inverse-CDF with one SplitMix64 uniform per token; temperature 0 is greedy (argmax, lowest
// index on ties). A seed fixes the whole sequence.
using Reference.Autodiff;
using Reference.Core;

namespace Reference.Models;

/// <summary>Decodes B sequences through a <see cref="BackboneModel"/>, one position per <see cref="Step"/>.</summary>
public sealed class BackboneDecoder
{
    private readonly BackboneModel model;
    private readonly MixerDecoder?[] mixers;

    internal BackboneDecoder(BackboneModel model, int batch)
    {
        this.model = model;
        Batch = batch;
        mixers = [.. model.Blocks.Select(b => b.Mixer?.StartDecoding(batch))];
    }

    public int Batch { get; }

    /// <summary>Positions consumed so far.</summary>
    public int Position { get; private set; }

    /// <summary>Elements of every block's decoding state now, for all B sequences (KV caches grow with the position).</summary>
    public IReadOnlyList<long> CacheElements => [.. mixers.Select(m => m?.Operator.StateElements ?? 0L)];

    /// <summary>Feeds tokens [B] at the next position; returns the next-token logits [B, V].</summary>
    public Tensor<double> Step(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length != Batch)
            throw new ArgumentException($"tokens holds {tokens.Length} ids, expected B = {Batch}.", nameof(tokens));
        foreach (int id in tokens)
            if ((uint)id >= (uint)model.Vocabulary)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {id} is outside the vocabulary [0, {model.Vocabulary}).");
        using var noGrad = Tape.NoGrad();
        var x = Ops.Embedding(model.Embedding, tokens.ToArray(), Batch, 1);
        for (int i = 0; i < mixers.Length; i++)
        {
            var block = model.Blocks[i];
            if (mixers[i] is { } m) x = x + m.Step(block.MixerNorm!.Forward(x));
            if (block.Channel is not null) x = x + block.Channel.Forward(block.ChannelNorm!.Forward(x));
        }
        var h = Ops.Reshape(model.FinalNorm.Forward(x), Batch, model.Spec.Width);
        Position++;
        return Ops.MatMul(h, model.Head, transB: true).Value;
    }
}

/// <summary>Temperature and top-k sampling from logits, seeded.</summary>
public sealed class Sampler
{
    private readonly SplitMix64 rng;

    /// <param name="temperature">Divides the logits; 0 = greedy (argmax).</param>
    /// <param name="topK">Keep the k largest logits (0 = all).</param>
    /// <param name="seed">Seed of the draws.</param>
    public Sampler(double temperature, int topK, ulong seed)
    {
        if (!(temperature >= 0) || double.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), $"temperature must be finite and >= 0, got {temperature}.");
        ArgumentOutOfRangeException.ThrowIfNegative(topK);
        (Temperature, TopK, rng) = (temperature, topK, new SplitMix64(seed));
    }

    public double Temperature { get; }
    public int TopK { get; }

    /// <summary>One token from logits (one row).</summary>
    public int Next(ReadOnlySpan<double> logits)
    {
        if (logits.Length == 0) throw new ArgumentException("logits is empty.", nameof(logits));
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        if (Temperature == 0) return best;
        double cut = double.NegativeInfinity;
        if (TopK > 0 && TopK < logits.Length)
        {
            var sorted = logits.ToArray();
            Array.Sort(sorted);
            cut = sorted[^TopK];
        }
        var p = new double[logits.Length];
        double z = 0;
        for (int i = 0; i < p.Length; i++)
            if (logits[i] >= cut) z += p[i] = Math.Exp((logits[i] - logits[best]) / Temperature);
        double u = rng.Uniform() * z, acc = 0;
        int last = best;
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] == 0) continue;
            acc += p[i];
            last = i;
            if (u < acc) return i;
        }
        return last;
    }
}

/// <summary>Prompted generation with a <see cref="BackboneModel"/> (one sequence).</summary>
public static class Generation
{
    /// <summary>
    /// Feeds <paramref name="prompt"/> (at least one token) through the recurrent form, then samples
    /// <paramref name="tokens"/> more; returns the generated tokens (the prompt excluded).
    /// </summary>
    public static int[] Generate(BackboneModel model, ReadOnlySpan<int> prompt, int tokens, Sampler sampler)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sampler);
        if (prompt.Length == 0) throw new ArgumentException("the prompt needs at least one token.", nameof(prompt));
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        var decoder = model.StartDecoding(1);
        Tensor<double> logits = null!;
        foreach (int id in prompt) logits = decoder.Step([id]);
        var output = new int[tokens];
        for (int i = 0; i < tokens; i++)
        {
            output[i] = sampler.Next(logits.Data);
            if (i + 1 < tokens) logits = decoder.Step([output[i]]);
        }
        return output;
    }

    /// <summary>
    /// The same tokens generated by re-running the parallel form on the whole prefix at every step
    /// (the baseline the recurrent form is measured against; equal outputs up to rounding).
    /// </summary>
    public static int[] GenerateParallel(BackboneModel model, ReadOnlySpan<int> prompt, int tokens, Sampler sampler)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sampler);
        if (prompt.Length == 0) throw new ArgumentException("the prompt needs at least one token.", nameof(prompt));
        var sequence = new List<int>(prompt.ToArray());
        var output = new int[tokens];
        using var noGrad = Tape.NoGrad();
        for (int i = 0; i < tokens; i++)
        {
            var logits = model.Logits([.. sequence], 1, sequence.Count).Value;
            int v = model.Vocabulary;
            output[i] = sampler.Next(logits.Data.AsSpan((sequence.Count - 1) * v, v));
            sequence.Add(output[i]);
        }
        return output;
    }
}
