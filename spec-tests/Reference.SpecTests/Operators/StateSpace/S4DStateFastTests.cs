using System.Numerics;
using Reference.Core;
using Reference.Operators.StateSpace;

namespace Reference.SpecTests.Operators.StateSpace;

/// <summary>
/// S4D's fast tier with initial and final states (ForwardChunkFast) against the naive chunked form (ForwardChunk) and the
/// token recurrence (Step): outputs and the carried complex state, float64 and float32 bounds.
/// </summary>
public class S4DStateFastTests
{
    [Theory]
    [InlineData(Discretization.Zoh, 2, 3, 8, new[] { 5, 1, 17, 30 })]
    [InlineData(Discretization.Bilinear, 1, 2, 4, new[] { 70, 70 })]
    [InlineData(Discretization.Zoh, 2, 1, 16, new[] { 1, 1, 1 })]
    public void ChunksThroughTheFastTier_EqualTheNaiveChunks_OutputsAndStates(Discretization method, int batch, int channels, int stateSize, int[] chunks)
    {
        var rng = new SplitMix64((ulong)(stateSize * 7 + chunks.Length));
        var p = S4DParameters.Initialize(rng, channels, stateSize);
        int length = chunks.Sum(), rows = batch * channels;
        var u = rng.NormalTensor<double>(0, 1, batch, channels, length);
        var naive = S4D.InitialState(p, rows);
        var fast = S4D.InitialState(p, rows);
        var fast32 = S4D.InitialState(p, rows);
        int t0 = 0;
        foreach (int n in chunks)
        {
            var part = u.Slice(-1, t0, n);
            var yn = S4D.ForwardChunk(p, naive, part, method);
            var yf = S4D.ForwardChunkFast(p, fast, part, method, maxThreads: 1);
            Assert.True(Metrics.RelativeError(yn.Data, yf.Data) <= 1e-12, $"chunk at {t0}");
            var y32 = S4D.ForwardChunkFast(p, fast32, new Tensor<float>(part.Data.Select(v => (float)v).ToArray(), part.ShapeArray), method, maxThreads: 1);
            Assert.True(Metrics.RelativeError(yn.Data, y32.Data.Select(v => (double)v).ToArray()) <= 1e-5, $"chunk at {t0} (float32)");
            var sn = naive.X.SelectMany(z => new[] { z.Real, z.Imaginary }).ToArray();
            var sf = fast.X.SelectMany(z => new[] { z.Real, z.Imaginary }).ToArray();
            Assert.True(Metrics.RelativeError(sn, sf) <= 1e-12, $"state after the chunk at {t0}");
            t0 += n;
        }
    }

    [Fact]
    public void HandCase_OneMode_InitialStateResponseAndFinalState()
    {
        // The state's response and update are the recurrence x <- Abar x + Bbar u, y = 2 Re(C x) + D u: from x0 = s with u = 0 for
        // two steps, y = [2 Re(C Abar s), 2 Re(C Abar^2 s)] and the final state is Abar^2 s (checked against Step token by token).
        var p = S4DParameters.Initialize(new SplitMix64(2), 1, 2);
        var state = S4D.InitialState(p, 1);
        state.X[0] = new Complex(0.5, -1.25);
        var reference = S4D.InitialState(p, 1);
        reference.X[0] = state.X[0];
        var y = S4D.ForwardChunkFast(p, state, Tensor<double>.Zeros(1, 1, 2), Discretization.Zoh, maxThreads: 1);
        for (int t = 0; t < 2; t++)
        {
            double yt = S4D.Step(p, reference, [0.0], Discretization.Zoh)[0];
            Assert.True(Math.Abs(yt - y.Data[t]) <= 1e-15 * Math.Max(1, Math.Abs(yt)), $"t = {t}: {yt} vs {y.Data[t]}");
        }
        Assert.True(Complex.Abs(reference.X[0] - state.X[0]) <= 1e-15);
    }
}
