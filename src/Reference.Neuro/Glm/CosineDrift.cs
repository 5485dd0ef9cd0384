// Discrete cosine drift regressors (the high-pass filter of SPM's spm_filter and nilearn's
// _cosine_drift): with n scans, TR seconds and cutoff period P (default 128 s),
//
//   order K = min(n - 1, floor(2 n TR / P))
//   c_k[t] = sqrt(2 / n) cos(pi k (t + 1/2) / n),   k = 1..K,  t = 0..n-1        [n, K]
//
// plus a constant column (nilearn appends it; the GLM adds its own intercept, so we do not).
// The columns are orthonormal (DCT-II basis): sum_t c_j[t] c_k[t] = delta_jk.
namespace Reference.Neuro.Glm;

public static class CosineDrift
{
    /// <summary>K = min(n - 1, floor(2 n TR / cutoff)): the number of cosines with period longer than the cutoff.</summary>
    public static int Order(int scans, double tr, double cutoff = 128)
    {
        if (scans < 1) throw new ArgumentOutOfRangeException(nameof(scans), $"scans = {scans}; expected >= 1.");
        if (!(tr > 0) || !double.IsFinite(tr)) throw new ArgumentOutOfRangeException(nameof(tr), $"TR = {tr}; expected a finite positive number of seconds.");
        if (!(cutoff > 0)) throw new ArgumentOutOfRangeException(nameof(cutoff), $"high-pass cutoff = {cutoff} s; expected > 0.");
        return (int)Math.Min(scans - 1, Math.Floor(2.0 * scans * tr / cutoff + 1e-12));
    }

    /// <summary>The drift basis [scans, K] row-major (no constant column).</summary>
    public static double[] Basis(int scans, double tr, double cutoff = 128)
    {
        int k = Order(scans, tr, cutoff);
        var c = new double[scans * k];
        double norm = Math.Sqrt(2.0 / scans);
        for (int t = 0; t < scans; t++)
            for (int j = 1; j <= k; j++) c[t * k + j - 1] = norm * Math.Cos(Math.PI * j * (t + 0.5) / scans);
        return c;
    }
}
