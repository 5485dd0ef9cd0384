using BenchmarkDotNet.Attributes;
using MathNet.Numerics.LinearAlgebra;
using Reference.Core;
using Reference.Operators;
using Reference.Ess;

namespace Reference.Bench;

/// <summary>
/// The batched singular-value routine against MathNet's managed Svd
/// (computeVectors: false) on the same matrices, every split block H_s = T[s:L, 0:s] of C channels
/// of an L = 256 operator (random lower-triangular T; C = 2 keeps MathNet's side to seconds on a
/// 2-core VM, the ratio does not depend on C). Dense64 reports the time of the full dense
/// ESS for 64 channels.
/// </summary>
[MemoryDiagnoser]
public class EssSingularValuesBench
{
    private const int Length = 256;
    private Tensor<double> operators = null!;
    private Tensor<double> operators64 = null!;

    [Params(2)]
    public int Channels { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        operators = LowerTriangular(Channels, new SplitMix64(1));
        operators64 = LowerTriangular(64, new SplitMix64(2));
    }

    private static Tensor<double> LowerTriangular(int channels, SplitMix64 rng)
    {
        var t = rng.NormalTensor<double>(0, 1, channels, Length, Length);
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < Length; i++)
                for (int j = i + 1; j < Length; j++) t.Data[(c * Length + i) * Length + j] = 0;
        return t;
    }

    [Benchmark(Baseline = true, Description = "MathNet Svd(false), every split, C channels")]
    public double MathNetSvd()
    {
        double total = 0;
        for (int c = 0; c < Channels; c++)
            for (int s = 1; s < Length; s++)
            {
                var h = Matrix<double>.Build.Dense(Length - s, s, (i, j) => operators.Data[(c * Length + s + i) * Length + j]);
                total += h.Svd(computeVectors: false).S[0];
            }
        return total;
    }

    private static readonly EssOptions Entropy = new(EssMode.Entropy);
    private Tensor<double>? ess;

    /// <summary>Into a kept output (the allocating call is timed in IntoFormsBench).</summary>
    private double Batched(int maxThreads)
    {
        ess ??= Tensor<double>.Zeros(Channels, Length - 1);
        EffectiveStateSize.ComputeInto(ess, operators, Entropy, maxThreads: maxThreads);
        return ess.Data[0];
    }

    [Benchmark(Description = "SingularValues, every split, C channels, 1 thread")]
    public double BatchedOneThread() => Batched(1);

    [Benchmark(Description = "SingularValues, every split, C channels, all cores")]
    public double BatchedAllCores() => Batched(0);

    [Benchmark(Description = "dense ESS, every split, 64 channels, all cores")]
    public double Dense64() => EffectiveStateSize.Compute(operators64).Data[0];
}

/// <summary>
/// The factored path for a diagonal SSM with N = 16 at L = 1024 against the dense
/// path on the same splits (a grid of 31 splits: the dense all-splits run takes minutes), both from
/// the realization's materialized T; setup checks they agree within 1e-10 relative.
/// </summary>
[MemoryDiagnoser]
public class EssFactoredBench
{
    private const int Length = 1024, State = 16;
    private DiagonalRealization realization = null!;
    private Tensor<double> t = null!;
    private int[] grid = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(7);
        var a = new double[Length * State];
        var b = new double[Length * State];
        var c = new double[Length * State];
        // S4D-Lin-like real poles exp(-Delta (n + 1/2)) with Delta = 0.05 and random b, c.
        for (int n = 0; n < State; n++)
        {
            double pole = Math.Exp(-0.05 * (n + 0.5)), bn = rng.Normal(), cn = rng.Normal();
            for (int i = 0; i < Length; i++) { a[i * State + n] = pole; b[i * State + n] = bn; c[i * State + n] = cn; }
        }
        realization = DiagonalRealization.Real(Length, State, a, b, c);
        t = realization.Materialize();
        grid = EffectiveStateSize.SplitGrid(Length, 31);
        var dense = EffectiveStateSize.Compute(t, new EssOptions(EssMode.Entropy), grid);
        var factored = FactoredEss.Compute([realization], new EssOptions(EssMode.Entropy), grid);
        double err = Metrics.RelativeError(dense.Data, factored.Data);
        if (err > 1e-10) throw new InvalidOperationException($"factored ESS differs from dense by {err:E2}");
        Console.WriteLine($"// factored vs dense entropy-ESS on the grid: norm_rel {err:E2}");
    }

    [Benchmark(Baseline = true, Description = "dense ESS, L = 1024, 31 splits")]
    public double Dense() => EffectiveStateSize.Compute(t, splits: grid).Data[0];

    [Benchmark(Description = "factored ESS, N = 16, L = 1024, 31 splits")]
    public double FactoredGrid() => FactoredEss.Compute([realization], splits: grid).Data[0];

    [Benchmark(Description = "factored ESS, N = 16, L = 1024, all 1023 splits")]
    public double FactoredAll() => FactoredEss.Compute([realization]).Data[0];
}
