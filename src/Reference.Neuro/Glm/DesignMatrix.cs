// First-level design matrices: [T, p] row-major with named columns, in the order
//   task regressors (one per condition, or one per trial for least-squares-all), confounds,
//   cosine drift (CosineDrift, cutoff 128 s by default), constant.
// Least-squares-all (LSA, Mumford et al. 2012): every trial its own HRF-convolved regressor, all
// estimated in one model, giving trial-wise beta and z maps.
using System.Globalization;
using Reference.Neuro.Simulation;

namespace Reference.Neuro.Glm;

public sealed record DesignMatrix(double[] Values, string[] Columns, int Scans)
{
    public int Width => Columns.Length;

    /// <summary>The task columns (conditions or trials) come first: their count.</summary>
    public int TaskColumns { get; init; }

    /// <summary>
    /// A design from events: per-condition regressors (conditions in first-appearance order, or
    /// <paramref name="conditions"/>), or per-trial regressors when <paramref name="leastSquaresAll"/>,
    /// then <paramref name="confounds"/> [T, m], the drift basis and a constant.
    /// </summary>
    public static DesignMatrix FromEvents(IReadOnlyList<StimulusEvent> events, int scans, double tr, Hrf hrf, bool leastSquaresAll = false,
        double highPass = 128, double[]? confounds = null, string[]? confoundNames = null, IReadOnlyList<string>? conditions = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0) throw new ArgumentException("no events; expected at least one to model.", nameof(events));
        var columns = new List<(string Name, double[] Values)>();
        if (leastSquaresAll)
        {
            for (int i = 0; i < events.Count; i++)
                columns.Add(($"trial_{i:D3}_{events[i].Condition}", Design.Regressor([events[i]], scans, tr, hrf)));
        }
        else
        {
            var names = conditions ?? events.Select(e => e.Condition).Distinct().ToList();
            foreach (var name in names) columns.Add((name, Design.Regressor(events.Where(e => e.Condition == name), scans, tr, hrf)));
        }
        int task = columns.Count;
        if (confounds is not null)
        {
            confoundNames ??= Enumerable.Range(0, confounds.Length / scans).Select(i => $"confound_{i}").ToArray();
            int m = confoundNames.Length;
            if (confounds.Length != scans * m) throw new ArgumentException($"the confounds have {confounds.Length} values; expected {scans} scans x {m} columns.", nameof(confounds));
            for (int j = 0; j < m; j++) columns.Add((confoundNames[j], Enumerable.Range(0, scans).Select(i => confounds[i * m + j]).ToArray()));
        }
        var drift = CosineDrift.Basis(scans, tr, highPass);
        int k = drift.Length / scans;
        for (int j = 0; j < k; j++) columns.Add(($"drift_{j + 1:D2}", Enumerable.Range(0, scans).Select(i => drift[i * k + j]).ToArray()));
        columns.Add(("constant", Enumerable.Repeat(1.0, scans).ToArray()));
        int p = columns.Count;
        var values = new double[scans * p];
        for (int j = 0; j < p; j++)
            for (int i = 0; i < scans; i++) values[i * p + j] = columns[j].Values[i];
        return new DesignMatrix(values, columns.Select(c => c.Name).ToArray(), scans) { TaskColumns = task };
    }

    /// <summary>The design as TSV (one column per regressor).</summary>
    public string ToTsv()
    {
        var lines = new List<string> { string.Join('\t', Columns) };
        for (int i = 0; i < Scans; i++)
            lines.Add(string.Join('\t', Enumerable.Range(0, Width).Select(j => Values[i * Width + j].ToString("R", CultureInfo.InvariantCulture))));
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>
    /// Contrast weights from an expression over column names: terms joined by + and -, each an
    /// optional number and '*' then a column name ("faces - houses", "2*faces - houses - tools").
    /// </summary>
    public double[] ParseContrast(string expression)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(expression);
        var weights = new double[Width];
        string s = expression.Replace(" ", "", StringComparison.Ordinal);
        int at = 0;
        while (at < s.Length)
        {
            double sign = 1;
            if (s[at] is '+' or '-') { sign = s[at] == '-' ? -1 : 1; at++; }
            int end = at;
            while (end < s.Length && s[end] is not ('+' or '-')) end++;
            // A number in scientific notation (1e-3*x) carries a sign inside the term.
            while (end < s.Length && end > at && (s[end - 1] is 'e' or 'E') && double.TryParse(s.AsSpan(at, end - at - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                end++;
                while (end < s.Length && s[end] is not ('+' or '-')) end++;
            }
            string term = s[at..end];
            double weight = 1;
            string name = term;
            int star = term.IndexOf('*', StringComparison.Ordinal);
            if (star >= 0)
            {
                if (!double.TryParse(term[..star], NumberStyles.Float, CultureInfo.InvariantCulture, out weight) || !double.IsFinite(weight))
                    throw new ArgumentException($"contrast '{expression}': '{term[..star]}' is not a number.", nameof(expression));
                name = term[(star + 1)..];
            }
            int column = Array.IndexOf(Columns, name);
            if (column < 0)
                throw new ArgumentException($"contrast '{expression}': no design column '{name}'; the task columns are {string.Join(", ", Columns.Take(Math.Max(TaskColumns, 1)))}.", nameof(expression));
            weights[column] += sign * weight;
            at = end;
        }
        if (weights.All(w => w == 0)) throw new ArgumentException($"contrast '{expression}' has all weights zero.", nameof(expression));
        return weights;
    }

    /// <summary>Weights of condition column c against the mean of the other task columns (the simulator's contrast truth).</summary>
    public double[] OneVersusRest(int c)
    {
        var w = new double[Width];
        w[c] = 1;
        if (TaskColumns > 1)
            for (int j = 0; j < TaskColumns; j++) if (j != c) w[j] = -1.0 / (TaskColumns - 1);
        return w;
    }
}
