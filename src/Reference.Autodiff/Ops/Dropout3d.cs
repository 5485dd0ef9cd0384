using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Channel-wise (spatial) dropout, torch.nn.functional.dropout3d / Keras SpatialDropout3D (Tompson
/// et al., "Efficient Object Localization Using Convolutional Networks", 2015, sec. 3.2): x [N, C, *S]
/// (any trailing axes), one Bernoulli(1 - p) draw per (n, c) shared by every spatial element, inverted
/// scaling: y[n, c, s] = x[n, c, s] m[n, c] / (1 - p). Draws: one Uniform() from the caller's
/// SplitMix64 per (n, c) in row-major order, channel kept when u >= p (p = 1 gives zeros).
/// Backward: y is linear in x with the same mask, so dx = G m / (1 - p).
/// Tier: the Naive tier multiplies element by element; the Fast tier scales each contiguous S-long
/// row by its scalar with TensorPrimitives (the same single IEEE product per element, so both tiers
/// give identical bits).
/// </summary>
public static partial class Ops
{
    public static Variable Dropout3d(Variable x, double p, SplitMix64 rng)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(rng);
        if (x.Rank < 2) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, C, ...].", nameof(x));
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), $"p = {p} must be in [0, 1].");
        int rows = x.Shape[0] * x.Shape[1];
        int s = rows == 0 ? 0 : x.Length / rows;
        double scale = p == 1.0 ? 0.0 : 1.0 / (1.0 - p);
        var mask = new double[rows];
        for (int r = 0; r < rows; r++) mask[r] = rng.Uniform() >= p ? scale : 0.0;
        bool fast = Tape.FastKernels;
        var y = Empty(x.Value);
        ScaleRows(x.Value.Data, mask, s, y.Data, fast);
        return Function.Apply("dropout3d", [x], y, g =>
        {
            var gx = Empty(g);
            ScaleRows(g.Data, mask, s, gx.Data, fast);
            return [gx];
        });
    }

    private static void ScaleRows(double[] src, double[] scale, int s, double[] dst, bool fast)
    {
        for (int r = 0; r < scale.Length; r++)
        {
            if (fast) { TensorPrimitives.Multiply(src.AsSpan(r * s, s), scale[r], dst.AsSpan(r * s, s)); continue; }
            for (int i = 0; i < s; i++) dst[r * s + i] = src[r * s + i] * scale[r];
        }
    }
}
