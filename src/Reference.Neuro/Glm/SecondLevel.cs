// Second level (group) one-sample t test per voxel over N subjects' first-level maps:
//   t = mean / (s / sqrt(N)),  s^2 = sum (m_i - mean)^2 / (N - 1),  dof N - 1,  z = TToZ(t).
// A voxel with s = 0 gets t = z = 0 (no evidence either way; it is usually outside the brain).
namespace Reference.Neuro.Glm;

public static class SecondLevel
{
    /// <summary>One-sample test of maps [N, V] row-major; returns mean as Effect, its standard error, t and z.</summary>
    public static ContrastMaps OneSample(double[] maps, int subjects)
    {
        ArgumentNullException.ThrowIfNull(maps);
        if (subjects < 2) throw new ArgumentException($"{subjects} maps; a one-sample test needs at least 2.", nameof(subjects));
        if (maps.Length % subjects != 0) throw new ArgumentException($"{maps.Length} values are not {subjects} maps of equal size.", nameof(maps));
        int v = maps.Length / subjects;
        var mean = new double[v];
        var se = new double[v];
        var t = new double[v];
        var z = new double[v];
        Parallel.For(0, v, j =>
        {
            double m = 0;
            for (int i = 0; i < subjects; i++) m += maps[i * v + j];
            m /= subjects;
            double ss = 0;
            for (int i = 0; i < subjects; i++) ss += (maps[i * v + j] - m) * (maps[i * v + j] - m);
            double s = Math.Sqrt(ss / (subjects - 1) / subjects);
            mean[j] = m;
            se[j] = s;
            t[j] = s > 0 ? m / s : 0;
            z[j] = TToZ.Convert(t[j], subjects - 1);
        });
        return new ContrastMaps(mean, se, t, z, subjects - 1);
    }
}
