using System.Text.Json.Nodes;
using Reference.Core;
using Reference.Core.IO;
using Reference.Ess;

namespace Reference.Golden.Ops;

/// <summary>
/// Golden cases of effective state size (Parnichkun, Massaroli et al. 2025, Section 3.2;
/// docs/ess.md): ess.tolerance (#{m : sigma_m(H_s) > tau}, tau absolute or relative to sigma_1)
/// and ess.entropy (exp of the entropy of the L1-normalized singular values) of every split
/// s = 1..L-1 of materialized operators t [C, L, L]. Two ops rather than one with a mode parameter:
/// their outputs are compared differently (an integer count exactly, a real number by norm_rel).
/// The naive definition is <see cref="EffectiveStateSize.ComputeNaive"/> (one-sided Jacobi SVD),
/// the fast tier <see cref="EffectiveStateSize.Compute"/>. ESS is unique (a function of the
/// singular values only), so no canonicalization is needed.
/// <para>
/// The operators come from small seeded model instances whose split blocks have a known rank
/// structure: a short causal convolution (rank &lt;= K - 1), a diagonal SSM with distinct real
/// poles (rank N), causal linear attention (rank &lt;= d) and a causal softmax attention matrix
/// (generically full rank). Every entry of t is rounded to float32, so a float32 backend reads the
/// exact operator. A thresholded metric needs a margin (conventions.md): for ess.tolerance each
/// channel is redrawn from the same generator until every singular value of every H_s is at least
/// 10x away from the cut (sigma > 10 tau or sigma &lt; tau / 10); the generator refuses a case
/// after 64 draws. Entropy-ESS has no cut (it is continuous in the singular values).
/// </para>
/// </summary>
public static class EssGolden
{
    private const int MaxDraws = 64;

    private const string OperatorDistribution =
        "per channel, by kind, draws by SplitMix64 (golden/README.md) in this order: " +
        "conv: h[0..K-1] normal(0, 1), t[i, j] = h[i - j] for 0 <= i - j < K; " +
        "ssm: poles a_n = uniform(0.1, 0.95) sorted descending then w_n normal(0, 1) (n < N), t[i, j] = sum_n w_n a_n^(i - j) for i >= j; " +
        "linattn: q then k [L, d] normal(0, 1), t[i, j] = q_i . k_j for i >= j; " +
        "softmax: q then k [L, d] normal(0, 1), t[i, :] = softmax_j<=i(q_i . k_j / sqrt(d)); " +
        "every t entry rounded to float32, stored as float64 [C, L, L]";

    public static GoldenOp ToleranceOp { get; } = new()
    {
        Name = "ess.tolerance",
        Version = 1,
        Summary = "tolerance-ESS per split: ess[c, s - 1] = #{m : sigma_m(t[c, s:L, 0:s]) > cut}, cut = tau (absolute) or tau * sigma_1 (relative); t [C, L, L] -> ess [C, L - 1]",
        AccumulationOrder = "per channel c then split s = 1..L-1: singular values of H_s = t[c, s:L, 0:s] by one-sided Jacobi (NaiveSingularValues), then count sigma_m > cut",
        Distribution = OperatorDistribution + "; a channel is redrawn (continuing the stream) until every sigma of every H_s satisfies sigma > 10 cut or sigma < cut / 10, at most 64 draws",
        Cases =
        [
            Case("conv_k4_c2_l12", 701, "conv", 2, 12, 4, 1e-4, true, "short convolution: rank K - 1 = 3 once both sides of the split hold 3"),
            Case("ssm_n3_c2_l16", 702, "ssm", 2, 16, 3, 1e-5, true, "diagonal SSM, 3 distinct poles: rank <= 3"),
            Case("linattn_d2_c2_l9", 703, "linattn", 2, 9, 2, 1e-4, true, "linear attention, d = 2: rank 2", "edge"),
            Case("softmax_d4_c1_l8", 704, "softmax", 1, 8, 4, 1e-2, true, "softmax attention probabilities: generically full rank"),
            Case("ssm_n2_abs_c1_l24", 705, "ssm", 1, 24, 2, 1e-3, false, "diagonal SSM, 2 poles, absolute tau: rank <= 2"),
        ],
        Inputs = (p, rng) => Inputs(p, rng, checkMargin: true),
        Naive = (p, x) => Out(EffectiveStateSize.ComputeNaive(x["t"].ToTensor<double>(), Options(p))),
        Fast = (p, x, _) => Out(EffectiveStateSize.Compute(x["t"].ToTensor<double>(), Options(p))),
        Tolerance = (_, _) => Core.Conformance.Tolerance.ExactMatch(
            "tolerance-ESS is an integer count; every case keeps each singular value >= 10x from the cut (checked by the generator), " +
            "so any correct SVD (float64, or float32 with relative error << 9x) gives the same counts. ESS is unique: no canonicalization. " +
            "ESS has no float32 tier here: the float32 backend reads the float32-exact t and computes in float64"),
    };

    public static GoldenOp EntropyOp { get; } = new()
    {
        Name = "ess.entropy",
        Version = 1,
        Summary = "entropy-ESS per split: ess[c, s - 1] = exp(-sum_m p_m ln p_m), p_m = sigma_m / sum_k sigma_k of H_s = t[c, s:L, 0:s] (0 ln 0 = 0); t [C, L, L] -> ess [C, L - 1]",
        AccumulationOrder = "per channel c then split s = 1..L-1: singular values by one-sided Jacobi (NaiveSingularValues); S = sum_m sigma_m (m ascending, descending sigma); H = -sum_m (sigma_m / S) ln(sigma_m / S) skipping sigma_m = 0; ess = exp(H)",
        Distribution = OperatorDistribution + " (no redraw: entropy-ESS has no cut)",
        Cases =
        [
            Case("conv_k4_c2_l12", 711, "conv", 2, 12, 4, 0, true, "short convolution"),
            Case("ssm_n3_c2_l16", 712, "ssm", 2, 16, 3, 0, true, "diagonal SSM, 3 distinct poles"),
            Case("linattn_d3_c1_l10", 713, "linattn", 1, 10, 3, 0, true, "linear attention, d = 3"),
            Case("softmax_d4_c2_l12", 714, "softmax", 2, 12, 4, 0, true, "softmax attention probabilities"),
        ],
        Inputs = (p, rng) => Inputs(p, rng, checkMargin: false),
        Naive = (p, x) => Out(EffectiveStateSize.ComputeNaive(x["t"].ToTensor<double>(), Options(p))),
        Fast = (p, x, _) => Out(EffectiveStateSize.Compute(x["t"].ToTensor<double>(), Options(p))),
        Tolerance = (_, _) => Core.Conformance.Tolerance.NormRelative(1e-10, 1e-4,
            "entropy-ESS is a smooth function of the singular values; float64 SVDs (Jacobi vs the fast path) agree to ~1e-14 relative, 1e-10 leaves margin " +
            "for p ln p near small sigma; a float32 SVD perturbs each sigma by ~1e-7 sigma_1 and the entropy by ~1e-6, so 1e-4 (still failing a 1e-3 scaling). " +
            "ESS is unique: no canonicalization. ESS has no float32 tier here: the float32 backend reads the float32-exact t and computes in float64"),
    };

    public static IReadOnlyList<GoldenOp> All { get; } = [ToleranceOp, EntropyOp];

    private static EssOptions Options(JsonObject p) => p.String("mode") == "entropy"
        ? new EssOptions(EssMode.Entropy)
        : new EssOptions(EssMode.Tolerance, p.Double("tau"), p.Bool("relative"));

    private static NamedArrays Out(Tensor<double> ess) => new() { ["ess"] = NpyArray.FromTensor(ess) };

    private static NamedArrays Inputs(JsonObject p, SplitMix64 rng, bool checkMargin)
    {
        int c = p.Int("c"), l = p.Int("l");
        var t = new double[c * l * l];
        for (int channel = 0; channel < c; channel++)
        {
            var block = t.AsSpan(channel * l * l, l * l);
            for (int draw = 0; ; draw++)
            {
                if (draw == MaxDraws)
                    throw new InvalidOperationException($"case kind {p.String("kind")}: no draw in {MaxDraws} keeps every singular value 10x from the cut; choose another seed or tau.");
                Draw(p, rng, l, block);
                if (!checkMargin || HasMargin(block, l, p.Double("tau"), p.Bool("relative"))) break;
            }
        }
        return new NamedArrays { ["t"] = NpyArray.Of(t, c, l, l) };
    }

    /// <summary>One operator matrix of the case's kind (see <see cref="OperatorDistribution"/>), entries rounded to float32.</summary>
    private static void Draw(JsonObject p, SplitMix64 rng, int l, Span<double> t)
    {
        int r = p.Int("r");
        t.Clear();
        switch (p.String("kind"))
        {
            case "conv":
            {
                var h = new double[r];
                for (int k = 0; k < r; k++) h[k] = rng.Normal();
                for (int i = 0; i < l; i++)
                    for (int j = Math.Max(0, i - r + 1); j <= i; j++) t[i * l + j] = h[i - j];
                break;
            }
            case "ssm":
            {
                var a = new double[r];
                for (int n = 0; n < r; n++) a[n] = rng.Uniform(0.1, 0.95);
                Array.Sort(a, (x, y) => y.CompareTo(x));
                var w = new double[r];
                for (int n = 0; n < r; n++) w[n] = rng.Normal();
                for (int i = 0; i < l; i++)
                    for (int j = 0; j <= i; j++)
                    {
                        double sum = 0;
                        for (int n = 0; n < r; n++) sum += w[n] * Math.Pow(a[n], i - j);
                        t[i * l + j] = sum;
                    }
                break;
            }
            case "linattn" or "softmax":
            {
                var q = new double[l * r];
                var k = new double[l * r];
                for (int i = 0; i < q.Length; i++) q[i] = rng.Normal();
                for (int i = 0; i < k.Length; i++) k[i] = rng.Normal();
                bool softmax = p.String("kind") == "softmax";
                double scale = softmax ? 1 / Math.Sqrt(r) : 1;
                for (int i = 0; i < l; i++)
                {
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int f = 0; f < r; f++) dot += q[i * r + f] * k[j * r + f];
                        t[i * l + j] = scale * dot;
                    }
                    if (softmax) SoftmaxRow(t.Slice(i * l, i + 1));
                }
                break;
            }
            default:
                throw new ArgumentException($"params.kind must be conv, ssm, linattn or softmax, found '{p.String("kind")}'.", "kind");
        }
        for (int i = 0; i < t.Length; i++) t[i] = (float)t[i];
    }

    /// <summary>Softmax of one row in place (max subtracted first: log-sum-exp stability).</summary>
    private static void SoftmaxRow(Span<double> row)
    {
        double max = double.NegativeInfinity;
        foreach (double v in row) max = Math.Max(max, v);
        double sum = 0;
        for (int j = 0; j < row.Length; j++) sum += row[j] = Math.Exp(row[j] - max);
        for (int j = 0; j < row.Length; j++) row[j] /= sum;
    }

    /// <summary>True when every singular value of every split block is > 10 cut or &lt; cut / 10.</summary>
    private static bool HasMargin(ReadOnlySpan<double> t, int l, double tau, bool relative)
    {
        for (int s = 1; s < l; s++)
        {
            var sigma = NaiveSingularValues.Compute(t[(s * l)..], l - s, s, l);
            double cut = relative ? tau * (sigma.Length == 0 ? 0 : sigma.Max()) : tau;
            if (cut == 0) continue; // H_s = 0 under a relative cut: every count is 0 whatever the SVD
            foreach (double value in sigma)
                if (value <= 10 * cut && value >= cut / 10) return false;
        }
        return true;
    }

    private static ConformanceCase Case(string id, ulong seed, string kind, int c, int l, int r, double tau, bool relative,
        string what, params string[] tags) =>
        new(id, seed, tau == 0
                ? Params.Of(("mode", "entropy"), ("kind", kind), ("c", c), ("l", l), ("r", r))
                : Params.Of(("mode", "tolerance"), ("kind", kind), ("c", c), ("l", l), ("r", r), ("tau", tau), ("relative", relative)),
            $"{what}; C = {c}, L = {l}, {(kind == "conv" ? "K" : kind == "ssm" ? "N" : "d")} = {r}{(tau == 0 ? "" : $", {(relative ? "relative" : "absolute")} tau = {tau:G3}")}",
            tags);
}
