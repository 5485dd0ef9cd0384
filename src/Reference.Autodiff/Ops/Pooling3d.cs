using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// 3-D pooling in NCDHW layout (torch.nn.functional.max_pool3d / avg_pool3d, and the global pools of
/// Keras GlobalAveragePooling3D / GlobalMaxPooling3D).
/// <para>Windowed: x [N, C, D, H, W], kernel (kd, kh, kw), geometry as <see cref="Conv3dGeometry"/>,
/// y [N, C, Do, Ho, Wo]; window of output (z, u, v) = input positions (z sd - pd0 + a, u sh - ph0 + b,
/// v sw - pw0 + e), 0 &lt;= a &lt; kd etc.
/// <code>
///   max:  y = max over the window's in-volume positions (padding never wins: it is -inf)
///   avg:  y = (1 / (kd kh kw)) sum over the window's in-volume positions (padding counts as 0: count_include_pad)
/// </code>
/// Backward: max routes G to the position of the maximum (the first in row-major window order on
/// ties, saved in the forward); avg spreads G / (kd kh kw) to every in-volume position of the window.
/// Overlapping windows add.</para>
/// <para>Global: x [N, C, *S] -> y [N, C]; avg y = (1/S) sum_s x, dx = G / S; max y = max_s x,
/// dx = G at the (first) argmax, 0 elsewhere.</para>
/// Tiers: the global pools have a Fast tier (<c>Pooling3d.Fast.cs</c>, TensorPrimitives row
/// reductions). The windowed pools have one tier: windows are at most a few elements long per axis,
/// too short for vector reductions to pay, so the loop below is both the definition and what the
/// Fast tier runs.
/// </summary>
public static partial class Ops
{
    public static Variable MaxPool3d(Variable x, int kernel, int? stride = null, int padding = 0) =>
        MaxPool3d(x, [kernel, kernel, kernel], Conv3dGeometry.Symmetric(stride ?? kernel, padding));

    public static Variable AvgPool3d(Variable x, int kernel, int? stride = null, int padding = 0) =>
        AvgPool3d(x, [kernel, kernel, kernel], Conv3dGeometry.Symmetric(stride ?? kernel, padding));

    public static Variable MaxPool3d(Variable x, int[] kernel, Conv3dGeometry geometry) => Pool3d(x, kernel, geometry, max: true);

    public static Variable AvgPool3d(Variable x, int[] kernel, Conv3dGeometry geometry) => Pool3d(x, kernel, geometry, max: false);

    private static Variable Pool3d(Variable x, int[] kernel, Conv3dGeometry geometry, bool max)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(geometry);
        if (x.Rank != 5) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, C, D, H, W].", nameof(x));
        if (kernel.Length != 3 || kernel.Any(k => k < 1))
            throw new ArgumentException($"kernel is [{string.Join(", ", kernel)}], expected 3 sizes >= 1.", nameof(kernel));
        for (int a = 0; a < 3; a++)
            if (geometry.PadBefore[a] > kernel[a] / 2 || geometry.PadAfter[a] > kernel[a] / 2)
                throw new ArgumentException($"padding on axis {a} is {geometry.PadBefore[a]}/{geometry.PadAfter[a]}, expected at most half the kernel ({kernel[a] / 2}), as PyTorch.", nameof(geometry));
        var p = new Conv3dPlan(x.Shape, [x.Shape[1], x.Shape[1], kernel[0], kernel[1], kernel[2]], geometry);
        int channels = p.N * p.Cin, P = p.OutVolume, V = p.InVolume;
        double inv = 1.0 / (p.Kd * p.Kh * p.Kw);
        var xs = x.Value.Data;
        var y = Empty([p.N, p.Cin, p.Do, p.Ho, p.Wo]);
        var argmax = max ? new int[y.Length] : [];
        for (int nc = 0; nc < channels; nc++)
            for (int z = 0; z < p.Do; z++)
                for (int u = 0; u < p.Ho; u++)
                    for (int v = 0; v < p.Wo; v++)
                    {
                        int yi = (nc * p.Do + z) * p.Ho * p.Wo + u * p.Wo + v;
                        double acc = max ? double.NegativeInfinity : 0.0;
                        int best = -1;
                        foreach (var (_, offset) in p.Window(z, u, v))
                        {
                            int xi = nc * V + offset;
                            if (!max) acc += xs[xi];
                            else if (best < 0 || xs[xi] > acc) { acc = xs[xi]; best = xi; }
                        }
                        y.Data[yi] = max ? acc : acc * inv;
                        if (max) argmax[yi] = best;
                    }
        return Function.Apply(max ? "max_pool3d" : "avg_pool3d", [x], y, g =>
        {
            var gx = Like(x.Value);
            if (max)
            {
                for (int yi = 0; yi < g.Length; yi++) gx.Data[argmax[yi]] += g.Data[yi];
                return [gx];
            }
            for (int nc = 0; nc < channels; nc++)
                for (int z = 0; z < p.Do; z++)
                    for (int u = 0; u < p.Ho; u++)
                        for (int v = 0; v < p.Wo; v++)
                        {
                            double gy = g.Data[(nc * p.Do + z) * p.Ho * p.Wo + u * p.Wo + v] * inv;
                            foreach (var (_, offset) in p.Window(z, u, v)) gx.Data[nc * V + offset] += gy;
                        }
            return [gx];
        });
    }

    /// <summary>Mean over every trailing axis: x [N, C, *S] -> [N, C].</summary>
    public static Variable GlobalAvgPool(Variable x) => GlobalPool(x, max: false);

    /// <summary>Maximum over every trailing axis: x [N, C, *S] -> [N, C].</summary>
    public static Variable GlobalMaxPool(Variable x) => GlobalPool(x, max: true);

    private static Variable GlobalPool(Variable x, bool max)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 3) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, C, spatial...].", nameof(x));
        int rows = x.Shape[0] * x.Shape[1];
        int s = rows == 0 ? 0 : x.Length / rows;
        if (s == 0) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}: an empty spatial extent has no {(max ? "maximum" : "mean")}.", nameof(x));
        bool fast = Tape.FastKernels;
        var y = Empty([x.Shape[0], x.Shape[1]]);
        var argmax = max ? new int[rows] : [];
        var xs = x.Value.Data;
        if (fast) GlobalPoolFast(xs, rows, s, max, y.Data, argmax);
        else
            for (int r = 0; r < rows; r++)
            {
                double acc = max ? xs[r * s] : 0.0;
                int best = 0;
                for (int i = 0; i < s; i++)
                {
                    double v = xs[r * s + i];
                    if (!max) acc += v;
                    else if (v > acc) { acc = v; best = i; }
                }
                y.Data[r] = max ? acc : acc / s;
                if (max) argmax[r] = best;
            }
        var inShape = x.Value.ShapeArray;
        return Function.Apply(max ? "global_max_pool" : "global_avg_pool", [x], y, g =>
        {
            var gx = Tensor<double>.Zeros(inShape);
            for (int r = 0; r < rows; r++)
            {
                if (max) gx.Data[r * s + argmax[r]] = g.Data[r];
                else if (fast) gx.Data.AsSpan(r * s, s).Fill(g.Data[r] / s);
                else for (int i = 0; i < s; i++) gx.Data[r * s + i] = g.Data[r] / s;
            }
            return [gx];
        });
    }
}
