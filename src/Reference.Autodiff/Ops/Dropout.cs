using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Inverted dropout (Srivastava et al., JMLR 2014, with the 1/(1-p) scaling at training time as in
/// PyTorch): y = x m / (1 - p), m_e ~ Bernoulli(1 - p). The mask is drawn from the caller's
/// SplitMix64: one Uniform() per element in row-major order, element kept when u >= p. p = 1 gives
/// zeros. VJP: g m / (1 - p) (the same mask).
/// </summary>
public static partial class Ops
{
    public static Variable Dropout(Variable x, double p, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(rng);
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), $"p = {p} must be in [0, 1].");
        double scale = p == 1.0 ? 0.0 : 1.0 / (1.0 - p);
        var mask = new double[x.Length];
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.Uniform() >= p ? scale : 0.0;
        var y = Like(x.Value);
        TensorPrimitives.Multiply(x.Value.Data, mask, y.Data);
        return Function.Apply("dropout", [x], y, g =>
        {
            var gx = Like(g);
            TensorPrimitives.Multiply(g.Data, mask, gx.Data);
            return [gx];
        });
    }
}
