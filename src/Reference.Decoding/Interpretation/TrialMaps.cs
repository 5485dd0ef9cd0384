using Reference.Core;
using Reference.Neuro.Glm;
using Reference.Neuro.Simulation;

namespace Reference.Decoding.Interpretation;

/// <summary>
/// Trial-level GLM z maps of a simulated data set, the inputs of the interpretation benchmark's
/// decoders (its trial images are least-squares-all z maps): per subject, one least-squares-all
/// OLS fit (every trial its own regressor; motion and physiological confounds, cosine drift,
/// constant), the z map of each trial's coefficient over the mask voxels. Also the GLM the
/// attributions are compared to: per training subject the condition-wise fit's one-versus-rest z
/// map of each condition, averaged over the training subjects.
/// </summary>
public sealed class TrialMaps
{
    public required SimulationOptions Options { get; init; }
    public required SimulatedLayout Layout { get; init; }
    public required string[] Conditions { get; init; }
    /// <summary>z maps [N, V] over the mask voxels.</summary>
    public required double[] Maps { get; init; }
    public required int[] Labels { get; init; }
    public required int[] Subject { get; init; }
    public required string[] Split { get; init; }
    /// <summary>Group GLM one-versus-rest z maps [C, V] (mean over training subjects).</summary>
    public required double[] GlmContrast { get; init; }

    public int Units => Layout.Units;
    public int Classes => Conditions.Length;
    public int Count => Labels.Length;

    /// <summary>Truth contrast maps [C, V].</summary>
    public double[] TruthContrast() => Enumerable.Range(0, Classes).SelectMany(c => Layout.ContrastTruth(c, Classes)).ToArray();

    public int[] Indices(string split) => Enumerable.Range(0, Count).Where(i => Split[i] == split).ToArray();

    /// <summary>
    /// Inputs of the given trials: [n, V] (flat) or [n, 1, Nz, Ny, Nx] volumes with zeros outside
    /// the mask (the lattice index is x fastest, so the volume is row-major [z, y, x]).
    /// </summary>
    public Tensor<double> Inputs(int[] trials, bool volume)
    {
        int v = Units;
        if (!volume)
        {
            var flat = new double[trials.Length * v];
            for (int r = 0; r < trials.Length; r++) Array.Copy(Maps, trials[r] * v, flat, r * v, v);
            return new Tensor<double>(flat, trials.Length, v);
        }
        int size = Layout.Nx * Layout.Ny * Layout.Nz;
        var vol = new double[trials.Length * size];
        for (int r = 0; r < trials.Length; r++)
            for (int u = 0; u < v; u++) vol[r * size + Layout.MaskIndex[u]] = Maps[trials[r] * v + u];
        return new Tensor<double>(vol, trials.Length, 1, Layout.Nz, Layout.Ny, Layout.Nx);
    }

    /// <summary>Positions of the mask voxels within one input sample (flat: 0..V-1; volume: the lattice indices).</summary>
    public int[] UnitPositions(bool volume) => volume ? (int[])Layout.MaskIndex.Clone() : Enumerable.Range(0, Units).ToArray();

    /// <summary>Maps [n, sample...] back to the mask voxels [n, V].</summary>
    public double[] ToUnits(Tensor<double> maps, bool volume)
    {
        int n = maps.Shape[0], per = maps.Length / n, v = Units;
        var pos = UnitPositions(volume);
        var r = new double[n * v];
        for (int i = 0; i < n; i++)
            for (int u = 0; u < v; u++) r[i * v + u] = maps.Data[i * per + pos[u]];
        return r;
    }

    /// <summary>Simulates <paramref name="options"/> and fits the trial and condition GLMs (subjects in parallel).</summary>
    public static TrialMaps Build(SimulationOptions options, int maxThreads = -1)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.HasLattice) throw new ArgumentException("the simulation has no voxel lattice; expected Nx, Ny, Nz >= 2 (trial maps are volumes).", nameof(options));
        var data = Simulator.Run(options, maxThreads);
        var layout = data.Layout;
        int v = layout.Units, c = options.Conditions.Count;
        var hrf = Hrf.Named(options.Hrf);
        var perSubject = new (double[] Maps, int[] Labels, double[] Glm)[data.Subjects.Count];
        Parallel.For(0, data.Subjects.Count, new ParallelOptions { MaxDegreeOfParallelism = maxThreads }, s =>
        {
            var subject = data.Subjects[s];
            int t = options.Scans, m = subject.ConfoundNames.Length;
            // Motion and physiological regressors; framewise displacement stays out (a summary of motion).
            var keep = Enumerable.Range(0, m).Where(j => subject.ConfoundNames[j] != "framewise_displacement").ToArray();
            var confounds = new double[t * keep.Length];
            for (int i = 0; i < t; i++)
                for (int j = 0; j < keep.Length; j++) confounds[i * keep.Length + j] = subject.Confounds[i * m + keep[j]];
            var names = keep.Select(j => subject.ConfoundNames[j]).ToArray();
            var y = new double[subject.Series.Length];
            for (int i = 0; i < y.Length; i++) y[i] = subject.Series[i];
            var lsa = DesignMatrix.FromEvents(subject.Events, t, options.Tr, hrf, leastSquaresAll: true, confounds: confounds, confoundNames: names);
            var fit = FirstLevel.Fit(y, v, lsa.Values, lsa.Columns, maxThreads: 1);
            var maps = new double[subject.Events.Count * v];
            var labels = new int[subject.Events.Count];
            for (int e = 0; e < subject.Events.Count; e++)
            {
                var w = new double[lsa.Width];
                w[e] = 1;
                fit.Contrast(w).Z.CopyTo(maps, e * v);
                labels[e] = options.Conditions.ToList().IndexOf(subject.Events[e].Condition);
            }
            var design = DesignMatrix.FromEvents(subject.Events, t, options.Tr, hrf, confounds: confounds, confoundNames: names, conditions: options.Conditions);
            var condition = FirstLevel.Fit(y, v, design.Values, design.Columns, maxThreads: 1);
            var glm = new double[c * v];
            for (int k = 0; k < c; k++) condition.Contrast(design.OneVersusRest(k)).Z.CopyTo(glm, k * v);
            perSubject[s] = (maps, labels, glm);
        });
        var all = new List<double>();
        var allLabels = new List<int>();
        var subjectOf = new List<int>();
        var split = new List<string>();
        var group = new double[c * v];
        int train = 0;
        for (int s = 0; s < perSubject.Length; s++)
        {
            all.AddRange(perSubject[s].Maps);
            allLabels.AddRange(perSubject[s].Labels);
            subjectOf.AddRange(Enumerable.Repeat(s, perSubject[s].Labels.Length));
            split.AddRange(Enumerable.Repeat(data.Subjects[s].Split, perSubject[s].Labels.Length));
            if (data.Subjects[s].Split != "train") continue;
            train++;
            for (int i = 0; i < group.Length; i++) group[i] += perSubject[s].Glm[i];
        }
        for (int i = 0; i < group.Length; i++) group[i] /= Math.Max(1, train);
        return new TrialMaps
        {
            Options = options, Layout = layout, Conditions = options.Conditions.ToArray(), Maps = all.ToArray(), Labels = allLabels.ToArray(),
            Subject = subjectOf.ToArray(), Split = split.ToArray(), GlmContrast = group,
        };
    }

    /// <summary>
    /// The benchmark's data set: a 12 x 14 x 12 lattice, 3 conditions in 16 s blocks, 300 scans of
    /// 2 s, 12 subjects; 5% suppressor voxels carrying the truth voxels' shared noise with weight
    /// 0.5 (against unit voxel noise) unless <paramref name="suppressorWeight"/> and
    /// <paramref name="suppressorFraction"/> say otherwise (a larger weight makes the suppressors
    /// more useful to a decoder, which cancels the shared noise in the truth voxels with them;
    /// more <paramref name="subjects"/> give the decoder the trials it needs to learn that;
    /// <paramref name="suppressorPerNetwork"/> gives each network its own shared noise, which does
    /// not cancel between classes).
    /// </summary>
    public static SimulationOptions BenchmarkOptions(ulong seed = 1, double cnr = 1, double suppressorWeight = 0.5, double suppressorFraction = 0.05, int subjects = 12, bool suppressorPerNetwork = false) => new()
    {
        Preset = "interpretation", Nx = 12, Ny = 14, Nz = 12, Parcels = 12, Networks = 3, Scans = 300, Subjects = subjects, Cnr = cnr, Seed = seed,
        SuppressorFraction = suppressorFraction, SuppressorWeight = suppressorWeight, SuppressorPerNetwork = suppressorPerNetwork,
    };
}
