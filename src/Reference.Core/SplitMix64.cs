using System.Numerics;

namespace Reference.Core;

/// <summary>
/// The project's random generator: SplitMix64 (Steele, Lea and Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014), chosen because it is five lines in any language.
/// Specification (golden/README.md repeats it for other languages), all arithmetic mod 2^64:
/// <code>
/// next():    state += 0x9E3779B97F4A7C15
///            z = state
///            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
///            z = (z ^ (z >> 27)) * 0x94D049BB133111EB
///            return z ^ (z >> 31)
/// uniform(): (next() >> 11) * 2^-53                      in [0, 1), 53 random bits
/// uniform(lo, hi): lo + (hi - lo) * uniform()
/// normal():  u1 = 1 - uniform()  (in (0, 1]);  u2 = uniform()
///            return sqrt(-2 ln u1) * cos(2 pi u2)         (Box-Muller, cosine branch only)
/// </code>
/// float32 draws are the float64 draw rounded to nearest. The initial state is the seed itself.
/// </summary>
public sealed class SplitMix64
{
    private ulong state;

    public SplitMix64(ulong seed) => state = seed;

    /// <summary>The current state; a generator built from it continues the same stream.</summary>
    public ulong State => state;

    public ulong NextUInt64()
    {
        state += 0x9E3779B97F4A7C15UL;
        ulong z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double Uniform() => (NextUInt64() >> 11) * (1.0 / 9007199254740992.0);

    public double Uniform(double low, double high) => low + (high - low) * Uniform();

    /// <summary>Standard normal by Box-Muller (cosine branch; two uniforms per draw).</summary>
    public double Normal()
    {
        double u1 = 1.0 - Uniform();
        double u2 = Uniform();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public double Normal(double mean, double std) => mean + std * Normal();

    /// <summary>Uniform integer in [0, n) by rejection (no modulo bias).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"n = {n} must be > 0.");
        ulong bound = (ulong)n;
        ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
        ulong x;
        do x = NextUInt64(); while (x >= limit);
        return (int)(x % bound);
    }

    public void FillUniform<T>(Span<T> destination, double low = 0.0, double high = 1.0) where T : INumberBase<T>
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = T.CreateTruncating(Uniform(low, high));
    }

    public void FillNormal<T>(Span<T> destination, double mean = 0.0, double std = 1.0) where T : INumberBase<T>
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = T.CreateTruncating(Normal(mean, std));
    }

    public Tensor<T> UniformTensor<T>(double low, double high, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        FillUniform<T>(t.Data, low, high);
        return t;
    }

    public Tensor<T> NormalTensor<T>(double mean, double std, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        FillNormal<T>(t.Data, mean, std);
        return t;
    }
}
