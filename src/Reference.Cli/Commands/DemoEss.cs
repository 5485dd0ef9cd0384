using Reference.Core;
using Reference.Ess;
using Reference.Operators;

namespace Reference.Cli.Commands;

public static partial class DemoSections
{
    /// <summary>
    /// Effective state size side by side for a seeded instance of every registered operator that has
    /// an operator view (<see cref="EssOperatorCatalog.Names"/>) at L = 64, each row checked against
    /// the structural bounds (ESS &lt;= its total state size per channel and &lt;= min(s, L - s) at
    /// every split) and, where the operator has an explicit diagonal state, the factored path
    /// against the dense one (entropy ESS, which has no threshold to land on either side of).
    /// </summary>
    public static DemoResult Ess(ulong seed)
    {
        const int length = 64, channels = 4;
        var options = new SampleOptions(length, channels, seed, Taps: 4, State: 8, Heads: channels, KeyDim: 8);
        var lines = new List<string> { "operator                   TSS/ch  mean ESS  max ESS  utilization  check" };
        bool ok = true;
        foreach (var name in EssOperatorCatalog.Names)
        {
            var instance = EssOperatorCatalog.Create(name, options);
            var profile = EssProfile.Of(instance, EssOptions.Default);
            int rows = profile.PerChannel.Dim(0);
            bool bounded = profile.Splits.Select((s, k) => (s, k)).All(p => Enumerable.Range(0, rows).All(c =>
                profile.PerChannel[c, p.k] <= Math.Min(profile.Capacity[p.k], Math.Min(p.s, length - p.s))));
            string check = bounded ? "<= min(TSS, s, L-s): yes" : "EXCEEDS min(TSS, s, L-s)";
            if (instance.Realizations is not null)
            {
                var entropy = new EssOptions(EssMode.Entropy);
                double err = Metrics.RelativeError(EffectiveStateSize.Compute(instance.Matrices, entropy).Data,
                    FactoredEss.Compute(instance.Realizations, entropy).Data);
                bounded &= err <= 1e-10;
                check += FormattableString.Invariant($"; factored = dense, norm_rel {err:E1}");
            }
            ok &= bounded;
            lines.Add(FormattableString.Invariant(
                $"{name,-26} {profile.Capacity.Max(),6:G4}  {profile.MeanEss,8:F3}  {profile.MaxEss,7:F1}  {profile.Utilization,11:F3}  {check}"));
        }
        lines.Add($"metric: {EssOptions.Default}");
        return new DemoResult($"Effective state size (arXiv:2504.19561) at L = {length}, {channels} channels or heads", ok, lines);
    }
}
