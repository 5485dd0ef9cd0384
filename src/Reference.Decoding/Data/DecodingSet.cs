// The labelled samples the decoders see, built once from a simulated data set (docs/decoding.md):
//
// Preprocessing per subject (never across subjects, so nothing of a test subject reaches training):
//   parcel series y [P, T] -> residualized on the motion and physiological confounds, the cosine
//   drift below 1/128 Hz and a constant (least squares, Residualization) -> z-scored per parcel.
// Trials: every event of the design is one sample labelled by its condition's index.
//   window  [W, P]: the W TRs starting at the first scan at or after onset + lag (the HRF delay,
//           default 4 s), the preprocessed parcel series; trials whose window runs past the end of
//           the run are dropped (with their map). Times of the window's TRs in seconds from its
//           start (the sequence models' time embedding; 0.2 s bins).
//   parcels [P]:    the window's mean per parcel (the input of the parcel logistic regression).
//   map     [V]:    the trial's z map of a least-squares-all first-level GLM (one regressor per
//           trial, confounds, drift, constant; OLS) over the mask voxels, when the data has a lattice.
// The full preprocessed run of each subject is kept for self-supervised pre-training (random windows).
using Reference.Core;
using Reference.Neuro.Glm;
using Reference.Neuro.Simulation;
using Reference.Operators.Connectomics;

namespace Reference.Decoding;

/// <summary>Options of the sample extraction.</summary>
public sealed record SampleOptions(int Window = 8, double LagSeconds = 4, bool Maps = true);

/// <summary>The labelled trials of a simulated data set, with the subject of each.</summary>
public sealed class DecodingSet
{
    public required SimulationOptions Simulation { get; init; }
    public required SampleOptions Sampling { get; init; }
    public required IReadOnlyList<string> Conditions { get; init; }
    /// <summary>Subject index of each sample [N].</summary>
    public required int[] Subject { get; init; }
    /// <summary>Condition index of each sample [N].</summary>
    public required int[] Label { get; init; }
    public required int Parcels { get; init; }
    public required int Window { get; init; }
    /// <summary>Windows [N, W, P] row-major.</summary>
    public required double[] Windows { get; init; }
    /// <summary>Seconds of each window TR from the window's start [W] (the same for every sample).</summary>
    public required double[] Times { get; init; }
    /// <summary>Window mean per parcel [N, P].</summary>
    public required double[] ParcelMeans { get; init; }
    /// <summary>Trial z maps [N, V] (empty without a lattice or with maps off).</summary>
    public required double[] Maps { get; init; }
    public required int Voxels { get; init; }
    /// <summary>Lattice sizes [Nz, Ny, Nx] of the volumes (empty without maps).</summary>
    public int[] Lattice { get; init; } = [];
    /// <summary>Lattice index (x fastest) of each map voxel [V] (empty without maps).</summary>
    public int[] MaskIndex { get; init; } = [];
    /// <summary>Preprocessed runs per subject [T, P] row-major (pre-training windows come from these).</summary>
    public required IReadOnlyList<double[]> Runs { get; init; }
    public required int Scans { get; init; }
    public required double Tr { get; init; }
    public required int SubjectCount { get; init; }

    public int Count => Label.Length;
    public int Classes => Conditions.Count;
    public bool HasMaps => Maps.Length > 0;

    /// <summary>A copy with the labels permuted across all samples (the negative control: no label information left).</summary>
    public DecodingSet WithPermutedLabels(ulong seed)
    {
        var rng = new SplitMix64(seed);
        var label = (int[])Label.Clone();
        for (int i = label.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (label[i], label[j]) = (label[j], label[i]); }
        return new DecodingSet
        {
            Simulation = Simulation, Sampling = Sampling, Conditions = Conditions, Subject = Subject, Label = label, Parcels = Parcels, Window = Window,
            Windows = Windows, Times = Times, ParcelMeans = ParcelMeans, Maps = Maps, Voxels = Voxels, Runs = Runs, Scans = Scans, Tr = Tr, SubjectCount = SubjectCount,
            Lattice = Lattice, MaskIndex = MaskIndex,
        };
    }

    /// <summary>The trial maps of the samples as volumes [n, 1, Nz, Ny, Nx] (zeros outside the mask; the lattice index is x fastest).</summary>
    public Tensor<double> Volumes(int[] samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (!HasMaps) throw new InvalidOperationException("the data set has no trial maps (no voxel lattice, or maps off).");
        int size = Lattice[0] * Lattice[1] * Lattice[2];
        var vol = new double[samples.Length * size];
        for (int r = 0; r < samples.Length; r++)
            for (int u = 0; u < Voxels; u++) vol[r * size + MaskIndex[u]] = Maps[samples[r] * Voxels + u];
        return new Tensor<double>(vol, samples.Length, 1, Lattice[0], Lattice[1], Lattice[2]);
    }

    /// <summary>The samples of the given subjects, in sample order.</summary>
    public int[] SamplesOf(IReadOnlyCollection<int> subjects)
    {
        var set = subjects as ISet<int> ?? new HashSet<int>(subjects);
        return Enumerable.Range(0, Count).Where(i => set.Contains(Subject[i])).ToArray();
    }

    /// <summary>Simulates <paramref name="simulation"/> and extracts its samples.</summary>
    public static DecodingSet Build(SimulationOptions simulation, SampleOptions? sampling = null)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        var s = sampling ?? new SampleOptions();
        if (s.Window < 2) throw new ArgumentException($"window = {s.Window}; expected >= 2 TRs.", "window");
        if (!(s.LagSeconds >= 0)) throw new ArgumentException($"lag = {s.LagSeconds}; expected >= 0 seconds.", "lag");
        if (s.Window > simulation.Scans) throw new ArgumentException($"window = {s.Window} TRs exceeds the {simulation.Scans} scans of a run.", "window");
        var data = Simulator.Run(simulation);
        var o = data.Options;
        int p = o.Parcels, t = o.Scans, w = s.Window, v = data.Layout.Units;
        bool maps = s.Maps && o.HasLattice;
        var subjects = new List<int>();
        var labels = new List<int>();
        var windows = new List<double>();
        var means = new List<double>();
        var zmaps = new List<double>();
        var runs = new List<double[]>();
        foreach (var subject in data.Subjects)
        {
            var clean = Preprocess(o, subject);
            var run = new double[t * p];
            for (int q = 0; q < p; q++)
                for (int i = 0; i < t; i++) run[i * p + q] = clean[q * t + i];
            runs.Add(run);
            double[][]? trialMaps = maps ? TrialMaps(o, subject, v) : null;
            for (int e = 0; e < subject.Events.Count; e++)
            {
                var ev = subject.Events[e];
                int start = (int)Math.Ceiling((ev.Onset + s.LagSeconds) / o.Tr - 1e-9);
                if (start + w > t) continue;
                subjects.Add(subject.Index);
                labels.Add(IndexOf(o.Conditions, ev.Condition));
                var mean = new double[p];
                for (int i = 0; i < w; i++)
                    for (int q = 0; q < p; q++)
                    {
                        double x = run[(start + i) * p + q];
                        windows.Add(x);
                        mean[q] += x / w;
                    }
                means.AddRange(mean);
                if (trialMaps is not null) zmaps.AddRange(trialMaps[e]);
            }
        }
        if (labels.Count == 0) throw new ArgumentException($"no trial fits a window of {w} TRs after a {s.LagSeconds} s lag in a run of {t} scans; expected a shorter window.", "window");
        return new DecodingSet
        {
            Simulation = o, Sampling = s, Conditions = o.Conditions, Subject = [.. subjects], Label = [.. labels], Parcels = p, Window = w,
            Windows = [.. windows], Times = Enumerable.Range(0, w).Select(i => i * o.Tr).ToArray(), ParcelMeans = [.. means],
            Maps = [.. zmaps], Voxels = maps ? v : 0, Runs = runs, Scans = t, Tr = o.Tr, SubjectCount = data.Subjects.Count,
            Lattice = maps ? [o.Nz, o.Ny, o.Nx] : [], MaskIndex = maps ? (int[])data.Layout.MaskIndex.Clone() : [],
        };
    }

    private static int IndexOf(IReadOnlyList<string> conditions, string name)
    {
        for (int i = 0; i < conditions.Count; i++) if (conditions[i] == name) return i;
        throw new InvalidDataException($"event condition '{name}' is not one of the data set's conditions.");
    }

    /// <summary>Nuisance regressors [C, T]: motion, physiological, drift, constant (not the task: that is the signal).</summary>
    internal static double[] Nuisance(SimulationOptions o, SimulatedSubject s, out int rows)
    {
        int t = o.Scans, m = s.ConfoundNames.Length;
        var list = new List<double[]>();
        for (int j = 0; j < m; j++)
            if (s.ConfoundNames[j] != "framewise_displacement") list.Add(Enumerable.Range(0, t).Select(i => s.Confounds[i * m + j]).ToArray());
        var drift = CosineDrift.Basis(t, o.Tr);
        int kd = drift.Length / t;
        for (int j = 0; j < kd; j++) list.Add(Enumerable.Range(0, t).Select(i => drift[i * kd + j]).ToArray());
        list.Add(Enumerable.Repeat(1.0, t).ToArray());
        rows = list.Count;
        return list.SelectMany(r => r).ToArray();
    }

    /// <summary>Residualized and z-scored parcel series [P, T] of one subject.</summary>
    private static double[] Preprocess(SimulationOptions o, SimulatedSubject subject)
    {
        int p = o.Parcels, t = o.Scans;
        var nuisance = Nuisance(o, subject, out int c);
        var clean = Residualization.Forward(new Tensor<double>((double[])subject.ParcelSeries.Clone(), p, t), new Tensor<double>(nuisance, c, t)).Data;
        for (int q = 0; q < p; q++)
        {
            var row = clean.AsSpan(q * t, t);
            double mean = 0, ss = 0;
            foreach (double x in row) mean += x;
            mean /= t;
            foreach (double x in row) ss += (x - mean) * (x - mean);
            double sd = Math.Sqrt(ss / t);
            for (int i = 0; i < t; i++) row[i] = sd > 0 ? (row[i] - mean) / sd : 0;
        }
        return clean;
    }

    /// <summary>Least-squares-all trial z maps [events][V] of one subject (OLS with confounds and drift).</summary>
    private static double[][] TrialMaps(SimulationOptions o, SimulatedSubject subject, int v)
    {
        int t = o.Scans, m = subject.ConfoundNames.Length;
        var keep = Enumerable.Range(0, m).Where(j => subject.ConfoundNames[j] != "framewise_displacement").ToArray();
        var confounds = new double[t * keep.Length];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < keep.Length; j++) confounds[i * keep.Length + j] = subject.Confounds[i * m + keep[j]];
        var design = DesignMatrix.FromEvents(subject.Events, t, o.Tr, Hrf.Named(o.Hrf), leastSquaresAll: true,
            confounds: confounds, confoundNames: keep.Select(j => subject.ConfoundNames[j]).ToArray());
        var y = new double[t * v];
        for (int e = 0; e < y.Length; e++) y[e] = subject.Series[e];
        var fit = FirstLevel.Fit(y, v, design.Values, design.Columns, maxThreads: 1);
        var result = new double[subject.Events.Count][];
        for (int e = 0; e < result.Length; e++)
        {
            var c = new double[design.Width];
            c[e] = 1;
            result[e] = fit.Contrast(c).Z;
        }
        return result;
    }
}
