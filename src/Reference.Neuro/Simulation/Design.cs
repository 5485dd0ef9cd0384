// Experimental designs and their BOLD regressors.
//
// A design is a list of events (onset s, duration s, condition, trial index). The regressor of a
// set of events is the stimulus boxcar on a microtime grid of dt = TR / oversampling (each bin
// holds the fraction of it the stimulus covers) convolved with the HRF sampled at dt (unit sum),
// then read at the acquisition times t_n = n TR (SPM's fmri_T0 = 0, nilearn's frame_times):
//
//   x(t_n) = sum_m s(m dt) h(t_n - m dt)                           [T]
//
// A long block therefore rises to 1. Events of zero duration count as one microtime bin.
using System.Globalization;
using Reference.Core;

namespace Reference.Neuro.Simulation;

/// <summary>One stimulus event: BIDS events.tsv's onset, duration and trial_type, plus its trial number.</summary>
public sealed record StimulusEvent(double Onset, double Duration, string Condition, int Trial);

public static class Design
{
    /// <summary>
    /// A block design: conditions in a fixed cycle, blocks of <paramref name="block"/> seconds
    /// separated by <paramref name="rest"/> seconds of rest, starting after one rest period, until
    /// the run of <paramref name="scans"/> x <paramref name="tr"/> seconds leaves no room for a block.
    /// </summary>
    public static List<StimulusEvent> Block(IReadOnlyList<string> conditions, int scans, double tr, double block, double rest)
    {
        Check(conditions, scans, tr);
        if (!(block > 0) || !(rest >= 0)) throw new ArgumentException($"block = {block} s and rest = {rest} s; expected block > 0 and rest >= 0.", nameof(block));
        var events = new List<StimulusEvent>();
        double duration = scans * tr;
        for (double onset = rest; onset + block <= duration - rest; onset += block + rest)
            events.Add(new StimulusEvent(onset, block, conditions[events.Count % conditions.Count], events.Count));
        return events;
    }

    /// <summary>
    /// An event-related design: events of <paramref name="eventDuration"/> seconds with onsets
    /// separated by a uniform random interval in [minIsi, maxIsi] seconds, conditions drawn as a
    /// seeded balanced shuffle, the last event ending at least 16 s before the run's end.
    /// </summary>
    public static List<StimulusEvent> EventRelated(IReadOnlyList<string> conditions, int scans, double tr, double eventDuration, double minIsi, double maxIsi, SplitMix64 rng)
    {
        Check(conditions, scans, tr);
        if (!(eventDuration >= 0) || !(minIsi > 0) || !(maxIsi >= minIsi))
            throw new ArgumentException($"event duration {eventDuration} s, ISI [{minIsi}, {maxIsi}] s; expected duration >= 0 and 0 < min ISI <= max ISI.", nameof(minIsi));
        var onsets = new List<double>();
        for (double onset = minIsi; onset + eventDuration <= scans * tr - 16; onset += rng.Uniform(minIsi, maxIsi)) onsets.Add(onset);
        var labels = new int[onsets.Count];
        for (int i = 0; i < labels.Length; i++) labels[i] = i % conditions.Count;
        for (int i = labels.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (labels[i], labels[j]) = (labels[j], labels[i]);
        }
        return onsets.Select((o, i) => new StimulusEvent(o, eventDuration, conditions[labels[i]], i)).ToList();
    }

    /// <summary>The HRF-convolved regressor [scans] of <paramref name="events"/> (see the file header).</summary>
    public static double[] Regressor(IEnumerable<StimulusEvent> events, int scans, double tr, Hrf hrf, int oversampling = 16)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(hrf);
        if (scans < 1 || !(tr > 0)) throw new ArgumentException($"scans = {scans}, TR = {tr}; expected scans >= 1 and TR > 0.", nameof(scans));
        if (oversampling < 1) throw new ArgumentOutOfRangeException(nameof(oversampling), $"oversampling = {oversampling}; expected >= 1.");
        double dt = tr / oversampling;
        int bins = scans * oversampling;
        var stimulus = new double[bins];
        foreach (var e in events)
        {
            if (!double.IsFinite(e.Onset) || !(e.Duration >= 0))
                throw new ArgumentException($"event {e.Trial} has onset {e.Onset} s and duration {e.Duration} s; expected a finite onset and a duration >= 0.", nameof(events));
            double start = e.Onset / dt, end = (e.Onset + Math.Max(e.Duration, dt)) / dt;
            for (int m = Math.Max(0, (int)Math.Floor(start)); m < Math.Min(bins, (int)Math.Ceiling(end)); m++)
                stimulus[m] += Math.Min(end, m + 1) - Math.Max(start, m);
        }
        var h = hrf.Sample(dt);
        var x = new double[scans];
        for (int n = 0; n < scans; n++)
        {
            int at = n * oversampling;
            double sum = 0;
            for (int k = 0; k < h.Length && k <= at; k++) sum += stimulus[at - k] * h[k];
            x[n] = sum;
        }
        return x;
    }

    /// <summary>One regressor per condition, columns in the order of <paramref name="conditions"/>: [scans, C] row-major.</summary>
    public static double[] ConditionRegressors(IReadOnlyList<StimulusEvent> events, IReadOnlyList<string> conditions, int scans, double tr, Hrf hrf)
    {
        var x = new double[scans * conditions.Count];
        for (int c = 0; c < conditions.Count; c++)
        {
            var column = Regressor(events.Where(e => e.Condition == conditions[c]), scans, tr, hrf);
            for (int n = 0; n < scans; n++) x[n * conditions.Count + c] = column[n];
        }
        return x;
    }

    /// <summary>BIDS events.tsv text: onset, duration, trial_type, trial (tab-separated, invariant culture).</summary>
    public static string ToTsv(IEnumerable<StimulusEvent> events)
    {
        var lines = new List<string> { "onset\tduration\ttrial_type\ttrial" };
        lines.AddRange(events.Select(e => string.Join('\t', F(e.Onset), F(e.Duration), e.Condition, e.Trial.ToString(CultureInfo.InvariantCulture))));
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>Parses events.tsv (columns onset, duration, trial_type; trial optional); one clear error per malformed line.</summary>
    public static List<StimulusEvent> ParseTsv(string text, string name)
    {
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0) throw new FormatException($"{name}: empty; expected a header line with onset, duration and trial_type.");
        var header = lines[0].Split('\t');
        int onset = Array.IndexOf(header, "onset"), duration = Array.IndexOf(header, "duration"), type = Array.IndexOf(header, "trial_type");
        if (onset < 0 || duration < 0 || type < 0) throw new FormatException($"{name}: the header must have columns onset, duration and trial_type, found [{string.Join(", ", header)}].");
        var events = new List<StimulusEvent>();
        for (int i = 1; i < lines.Count; i++)
        {
            var cells = lines[i].Split('\t');
            if (cells.Length != header.Length) throw new FormatException($"{name}: line {i + 1} has {cells.Length} columns, the header {header.Length}.");
            if (!double.TryParse(cells[onset], NumberStyles.Float, CultureInfo.InvariantCulture, out double o) || !double.IsFinite(o)
                || !double.TryParse(cells[duration], NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !(d >= 0))
                throw new FormatException($"{name}: line {i + 1}: onset '{cells[onset]}' and duration '{cells[duration]}' must be numbers (duration >= 0).");
            events.Add(new StimulusEvent(o, d, cells[type], events.Count));
        }
        return events;
    }

    private static string F(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);

    private static void Check(IReadOnlyList<string> conditions, int scans, double tr)
    {
        ArgumentNullException.ThrowIfNull(conditions);
        if (conditions.Count == 0) throw new ArgumentException("no conditions; expected at least one.", nameof(conditions));
        if (scans < 1 || !(tr > 0)) throw new ArgumentException($"scans = {scans}, TR = {tr}; expected scans >= 1 and TR > 0.", nameof(scans));
    }
}
