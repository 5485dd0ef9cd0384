// Haemodynamic response functions: differences of two gamma densities.
//
//   h(t) = g(t; a1 / b1, b1) - g(t; a2 / b2, b2) / r,     g(t; k, s) = t^(k-1) e^(-t/s) / (Gamma(k) s^k)
//
// a1 the delay of the response (s), a2 the delay of the undershoot (s), b1, b2 their dispersions
// (gamma scales, s), r the ratio of response to undershoot, sampled on t = 0, dt, ..., length and
// normalized to unit sum (so a stimulus of one unit per sample, held long, gives a plateau of 1).
//
// SPM canonical (spm_hrf.m, the defaults p = [6 16 1 1 6 0 32]): a1 6, a2 16, b1 b2 1, r 6,
// length 32 s. spm_hrf evaluates spm_Gpdf(u, p1/p3, dt/p3) on u = 0, 1, ... microtime samples,
// i.e. a gamma density of shape a1/b1 and rate dt/b1 per sample: the same curve as g(t; a1/b1, b1)
// at t = u dt, up to the factor dt that the unit-sum normalization removes.
// Glover (after Glover 1999, in nilearn's parameterization): a1 6, a2 12, b1 b2 0.9, undershoot
// weight 0.35 (r = 1/0.35), length 32 s, shape a/b and scale b as nilearn's _gamma_difference_hrf.
// The weight 0.35 is the project spec's and older nilearn/nistats releases'; current nilearn's
// glover_hrf passes ratio=0.48 (construct an Hrf record with Ratio = 1/0.48 for that variant).
// nilearn also shifts both gammas by one oversampled bin (loc = dt); that shift is a sampling
// artefact we do not reproduce, so at oversampling 50 and TR 2 our curve leads nilearn's by 0.04 s.
// nilearn's spm_hrf passes ratio=0.167 where SPM divides by 6 exactly; we follow SPM.
namespace Reference.Neuro.Simulation;

/// <summary>A double-gamma HRF with pinned parameters (seconds); see the file header for the sources.</summary>
public sealed record Hrf(string Name, double Delay, double Undershoot, double Dispersion, double UndershootDispersion, double Ratio, double Length)
{
    /// <summary>SPM's canonical HRF (spm_hrf defaults): 6, 16, 1, 1, ratio 6, 32 s.</summary>
    public static Hrf Spm { get; } = new("spm", 6, 16, 1, 1, 6, 32);

    /// <summary>Glover's HRF with nilearn's parameters: 6, 12, 0.9, 0.9, undershoot weight 0.35, 32 s.</summary>
    public static Hrf Glover { get; } = new("glover", 6, 12, 0.9, 0.9, 1 / 0.35, 32);

    /// <summary>The HRF named <paramref name="name"/> (spm or glover).</summary>
    public static Hrf Named(string name) => name switch
    {
        "spm" => Spm,
        "glover" => Glover,
        _ => throw new ArgumentException($"unknown HRF '{name}'; expected spm or glover.", nameof(name)),
    };

    /// <summary>The same HRF with both delays moved by <paramref name="shift"/> seconds (subject jitter of the peak).</summary>
    public Hrf WithDelayShift(double shift) => this with { Delay = Delay + shift, Undershoot = Undershoot + shift };

    /// <summary>The unnormalized difference of gammas at time t (seconds); 0 for t &lt;= 0.</summary>
    public double Evaluate(double t) =>
        GammaDensity(t, Delay / Dispersion, Dispersion) - GammaDensity(t, Undershoot / UndershootDispersion, UndershootDispersion) / Ratio;

    /// <summary>h sampled at 0, dt, ..., floor(Length / dt) dt, normalized to unit sum.</summary>
    public double[] Sample(double dt)
    {
        if (!(dt > 0) || !double.IsFinite(dt)) throw new ArgumentOutOfRangeException(nameof(dt), $"dt = {dt}; expected a finite positive sampling interval in seconds.");
        int n = (int)Math.Floor(Length / dt + 1e-9) + 1;
        var h = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += h[i] = Evaluate(i * dt);
        for (int i = 0; i < n; i++) h[i] /= sum;
        return h;
    }

    /// <summary>The gamma density of shape k and scale s at t, in log space (t^(k-1) overflows for large k otherwise).</summary>
    internal static double GammaDensity(double t, double k, double s)
    {
        if (t <= 0) return 0;
        return Math.Exp((k - 1) * Math.Log(t) - t / s - LogGamma(k) - k * Math.Log(s));
    }

    /// <summary>ln Gamma(x) for x &gt; 0 by the Lanczos approximation (g = 7, 9 terms; relative error about 1e-15).</summary>
    internal static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        x -= 1;
        double a = Lanczos[0];
        double t = x + 7.5;
        for (int i = 1; i < 9; i++) a += Lanczos[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }

    private static readonly double[] Lanczos =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
}
