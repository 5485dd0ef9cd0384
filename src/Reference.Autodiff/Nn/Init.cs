using Reference.Core;

namespace Reference.Autodiff.Nn;

/// <summary>
/// Parameter initializers with torch.nn.init's semantics, drawing from SplitMix64 in row-major
/// order (uniform: lo + (hi - lo) u; normal: Box-Muller as in <see cref="SplitMix64.Normal()"/>).
/// Fans of a weight [out, in, k...] (torch's _calculate_fan_in_and_fan_out): fan_in = in * prod(k),
/// fan_out = out * prod(k); a vector has fan_in = fan_out = its length.
/// Gains (calculate_gain): linear/sigmoid 1, relu sqrt(2), tanh 5/3, leaky_relu(a) sqrt(2 / (1 + a^2)).
/// </summary>
public static class Init
{
    public static (int FanIn, int FanOut) Fans(ReadOnlySpan<int> shape)
    {
        if (shape.Length < 2) return (shape.Length == 1 ? shape[0] : 1, shape.Length == 1 ? shape[0] : 1);
        int receptive = 1;
        for (int a = 2; a < shape.Length; a++) receptive *= shape[a];
        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>gain for leaky_relu with negative slope a (a = 0: relu).</summary>
    public static double LeakyReluGain(double a) => Math.Sqrt(2.0 / (1.0 + a * a));

    /// <summary>kaiming_uniform_(a, mode = fan_in): U(-b, b), b = gain(a) sqrt(3 / fan_in). a = sqrt(5) gives b = 1 / sqrt(fan_in), nn.Linear's default.</summary>
    public static Tensor<double> KaimingUniform(SplitMix64 rng, double a, params int[] shape)
    {
        double bound = LeakyReluGain(a) * Math.Sqrt(3.0 / Fans(shape).FanIn);
        return rng.UniformTensor<double>(-bound, bound, shape);
    }

    /// <summary>kaiming_normal_(a, mode = fan_in): N(0, (gain(a) / sqrt(fan_in))^2).</summary>
    public static Tensor<double> KaimingNormal(SplitMix64 rng, double a, params int[] shape) =>
        rng.NormalTensor<double>(0, LeakyReluGain(a) / Math.Sqrt(Fans(shape).FanIn), shape);

    /// <summary>xavier_uniform_: U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)).</summary>
    public static Tensor<double> XavierUniform(SplitMix64 rng, double gain, params int[] shape)
    {
        var (fanIn, fanOut) = Fans(shape);
        double bound = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        return rng.UniformTensor<double>(-bound, bound, shape);
    }

    /// <summary>xavier_normal_: N(0, (gain sqrt(2 / (fan_in + fan_out)))^2).</summary>
    public static Tensor<double> XavierNormal(SplitMix64 rng, double gain, params int[] shape)
    {
        var (fanIn, fanOut) = Fans(shape);
        return rng.NormalTensor<double>(0, gain * Math.Sqrt(2.0 / (fanIn + fanOut)), shape);
    }

    public static Tensor<double> Normal(SplitMix64 rng, double mean, double std, params int[] shape) => rng.NormalTensor<double>(mean, std, shape);

    public static Tensor<double> Uniform(SplitMix64 rng, double low, double high, params int[] shape) => rng.UniformTensor<double>(low, high, shape);

    public static Tensor<double> Zeros(params int[] shape) => Tensor<double>.Zeros(shape);

    public static Tensor<double> Ones(params int[] shape) => Tensor<double>.Full(1.0, shape);
}
