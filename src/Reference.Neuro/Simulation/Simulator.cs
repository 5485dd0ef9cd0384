// A ground-truth fMRI simulator. Every number comes from SplitMix64 streams seeded by the
// options' seed (one stream for the layout, one per subject, one for the splits, drawn in a fixed
// order), so a data set is bit-reproducible whatever the thread count.
//
// Space. A lattice Nx x Ny x Nz with the inscribed ellipsoid as mask (V voxels), split into P
// parcels: the Voronoi cells of P centres picked by farthest-point sampling (compact, similar
// sizes). K latent networks are Gaussian blobs g_k(v) = exp(-|v - c_k|^2 / (2 s^2)) centred on K
// parcel centres (s = a quarter of the mean semi-axis); parcel p belongs to the network whose blob
// is largest at its centre; the soft atlas is g normalized over k at each voxel. Without a lattice
// the P parcels are the units and network membership is p mod K.
//
// Truth. Condition c activates network k = c mod K: beta_c(v) = CNR g_k(v) where g_k(v) >= 1/2,
// else 0 (sparse maps; the support does not depend on the CNR). Contrast truth: beta_c - mean of the other conditions. Suppressors: a
// fraction of the voxels outside every truth map that carry the shared noise d(t) the truth voxels
// also carry, and no task signal (a linear decoder uses them to cancel d; they are not "where the
// signal is", which separates faithful from plausible explanations). With one d for every truth
// voxel, d cancels in the differences between classes, so a multi-class decoder hardly needs the
// suppressors; with SuppressorPerNetwork each network's truth voxels carry their own d_k and the
// suppressors are split among the networks (d_k cannot cancel, a suppressor of network k is the
// only way to remove it).
//
// Data of subject s at scan n (t = n TR), voxel v in parcel p:
//   y = 100 + a_s sum_c beta_c(v) x_c(t) + A_spont u_p(t) + w d(t) [v truth or suppressor]
//       + sqrt(1 - theta) e_v(t) + sqrt(theta) z_v(t)                                (unit-variance noise)
//       + A_r,v sin(2 pi 0.2 t + phi_r) + A_c,v sin(2 pi 1.17 t + phi_c)              (respiration, cardiac)
//       + sum_j D_vj c_j(t) + sum_m L_vm m_m(t)                                        (drift, motion)
// x_c: the condition's boxcar (onsets jittered by the subject) convolved with the HRF whose delays
// are shifted by the subject's jitter; a_s ~ 1 + N(0, amplitude jitter); e_v: AR(1) with rho_v ~
// U[rho_min, rho_max], stationary unit variance; z_v white; c_j: the cosine drift basis below
// 1/128 Hz; m_m: six motion traces (slow AR(1) walks with rare spikes; rotations in radians,
// weighted 50 mm as in framewise displacement). u_p = sqrt(0.7) n_k(p) + sqrt(0.3) private AR(1):
// latent network series n_k are AR(1) (rho 0.8); in group 1 n_1 = r n_0 + sqrt(1 - r^2) n_1 with r the
// group coupling, the planted group difference in connectivity.
// CNR = task response at a truth peak over the sd of the unit noise e + z.
using Reference.Core;
using Reference.Neuro.Glm;

namespace Reference.Neuro.Simulation;

/// <summary>The subject-independent part of a data set: mask, parcels, networks, truth maps.</summary>
public sealed class SimulatedLayout
{
    public required int Nx { get; init; }
    public required int Ny { get; init; }
    public required int Nz { get; init; }
    /// <summary>Number of units V: mask voxels, or parcels without a lattice.</summary>
    public required int Units { get; init; }
    /// <summary>Lattice index (x fastest) of each mask voxel [V]; empty without a lattice.</summary>
    public required int[] MaskIndex { get; init; }
    /// <summary>Planted parcel of each unit [V], 0..P-1.</summary>
    public required int[] Parcel { get; init; }
    /// <summary>Network blobs g_k(v) [K, V].</summary>
    public required double[] Networks { get; init; }
    /// <summary>Network of each parcel [P].</summary>
    public required int[] ParcelNetwork { get; init; }
    /// <summary>Truth effect maps beta_c(v) in signal units [C, V].</summary>
    public required double[] Truth { get; init; }
    public required bool[] Suppressor { get; init; }
    /// <summary>Voxels in the support of some condition's map (blob &gt;= 1/2), whatever the CNR: they carry the shared noise.</summary>
    public required bool[] Support { get; init; }
    /// <summary>
    /// Network whose shared noise a voxel carries when <see cref="SimulationOptions.SuppressorPerNetwork"/> is set [V]:
    /// a truth voxel the network of the strongest active blob there, a suppressor the networks of the conditions in turn, else -1.
    /// </summary>
    public int[]? SharedNoiseNetwork { get; init; }
    /// <summary>Voxel coordinates in voxel units [V, 3].</summary>
    public required double[] Coordinates { get; init; }

    /// <summary>Contrast truth of condition c: beta_c - mean of the others [V].</summary>
    public double[] ContrastTruth(int c, int conditions)
    {
        var t = new double[Units];
        for (int v = 0; v < Units; v++)
        {
            double others = 0;
            for (int j = 0; j < conditions; j++) if (j != c) others += Truth[j * Units + v];
            t[v] = Truth[c * Units + v] - (conditions > 1 ? others / (conditions - 1) : 0);
        }
        return t;
    }
}

/// <summary>One simulated subject: its design, confounds and series.</summary>
public sealed class SimulatedSubject
{
    public required int Index { get; init; }
    public string Id => $"sub-{Index + 1:D2}";
    public required int Group { get; init; }
    public string Split { get; set; } = "train";
    public required double Amplitude { get; init; }
    public required double HrfShift { get; init; }
    public required List<StimulusEvent> Events { get; init; }
    /// <summary>Confound names (the columns of confounds.tsv).</summary>
    public required string[] ConfoundNames { get; init; }
    /// <summary>Confounds [T, M] row-major; framewise displacement of the first scan is 0 (written n/a).</summary>
    public required double[] Confounds { get; init; }
    /// <summary>Series of the units [T, V] row-major (the units of one scan contiguous).</summary>
    public required float[] Series { get; init; }
    /// <summary>Parcel series [P, T] (variables x observations): the mean over each planted parcel's voxels.</summary>
    public required double[] ParcelSeries { get; init; }
}

public sealed class SimulatedDataset
{
    public required SimulationOptions Options { get; init; }
    public required SimulatedLayout Layout { get; init; }
    public required IReadOnlyList<SimulatedSubject> Subjects { get; init; }
}

public static class Simulator
{
    /// <summary>Respiration and cardiac frequencies (Hz) of the physiological noise.</summary>
    public const double RespirationHz = 0.2, CardiacHz = 1.17;

    public static readonly string[] MotionNames = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"];

    /// <summary>Simulates the data set of <paramref name="options"/> (validated first); subjects run in parallel.</summary>
    public static SimulatedDataset Run(SimulationOptions options, int maxThreads = -1)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var master = new SplitMix64(options.Seed);
        ulong layoutSeed = master.NextUInt64(), splitSeed = master.NextUInt64();
        var subjectSeeds = new ulong[options.Subjects];
        for (int s = 0; s < subjectSeeds.Length; s++) subjectSeeds[s] = master.NextUInt64();
        var layout = BuildLayout(options, new SplitMix64(layoutSeed));
        var subjects = new SimulatedSubject[options.Subjects];
        Parallel.For(0, options.Subjects, new ParallelOptions { MaxDegreeOfParallelism = maxThreads },
            s => subjects[s] = Subject(options, layout, s, new SplitMix64(subjectSeeds[s])));
        AssignSplits(subjects, options, new SplitMix64(splitSeed));
        return new SimulatedDataset { Options = options, Layout = layout, Subjects = subjects };
    }

    internal static SimulatedLayout BuildLayout(SimulationOptions o, SplitMix64 rng)
    {
        int p = o.Parcels, k = o.Networks, c = o.Conditions.Count;
        if (!o.HasLattice)
        {
            var netOf = Enumerable.Range(0, p).Select(i => i % k).ToArray();
            var g = new double[k * p];
            for (int i = 0; i < p; i++) g[netOf[i] * p + i] = 1;
            return Finish(o, rng, 0, 0, 0, [], Enumerable.Range(0, p).ToArray(), g, netOf, new double[p * 3]);
        }
        var mask = new List<int>();
        var coords = new List<double>();
        double cx = (o.Nx - 1) / 2.0, cy = (o.Ny - 1) / 2.0, cz = (o.Nz - 1) / 2.0, rx = o.Nx / 2.0, ry = o.Ny / 2.0, rz = o.Nz / 2.0;
        for (int z = 0; z < o.Nz; z++)
            for (int y = 0; y < o.Ny; y++)
                for (int x = 0; x < o.Nx; x++)
                {
                    double d = Sq((x - cx) / rx) + Sq((y - cy) / ry) + Sq((z - cz) / rz);
                    if (d > 1) continue;
                    mask.Add(x + o.Nx * (y + o.Ny * z));
                    coords.AddRange([x, y, z]);
                }
        int v = mask.Count;
        if (v < p) throw new ArgumentException($"the {o.Nx} x {o.Ny} x {o.Nz} lattice's mask has {v} voxels, fewer than the {p} parcels; expected a larger lattice or fewer parcels.");
        var xyz = coords.ToArray();
        // Farthest-point sampling of the parcel centres, then Voronoi cells.
        var centres = new int[p];
        centres[0] = rng.NextInt(v);
        var nearest = new double[v];
        Array.Fill(nearest, double.PositiveInfinity);
        for (int i = 1; i < p; i++)
        {
            int best = 0;
            for (int j = 0; j < v; j++)
            {
                nearest[j] = Math.Min(nearest[j], Distance2(xyz, j, centres[i - 1]));
                if (nearest[j] > nearest[best]) best = j;
            }
            centres[i] = best;
        }
        var parcel = new int[v];
        for (int j = 0; j < v; j++)
        {
            int best = 0;
            for (int i = 1; i < p; i++) if (Distance2(xyz, j, centres[i]) < Distance2(xyz, j, centres[best])) best = i;
            parcel[j] = best;
        }
        // Network blobs centred on K parcel centres (farthest-point among the centres).
        var netCentres = new int[k];
        netCentres[0] = centres[rng.NextInt(p)];
        for (int i = 1; i < k; i++)
            netCentres[i] = centres.Where(ct => !netCentres.Take(i).Contains(ct))
                .OrderByDescending(ct => netCentres.Take(i).Min(n => Distance2(xyz, ct, n))).ThenBy(ct => ct).First();
        double sigma = (rx + ry + rz) / 3 / 4;
        var blobs = new double[k * v];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < v; j++) blobs[i * v + j] = Math.Exp(-Distance2(xyz, j, netCentres[i]) / (2 * sigma * sigma));
        var network = new int[p];
        for (int i = 0; i < p; i++)
        {
            int best = 0;
            for (int n = 1; n < k; n++) if (blobs[n * v + centres[i]] > blobs[best * v + centres[i]]) best = n;
            network[i] = best;
        }
        return Finish(o, rng, o.Nx, o.Ny, o.Nz, mask.ToArray(), parcel, blobs, network, xyz);
    }

    private static SimulatedLayout Finish(SimulationOptions o, SplitMix64 rng, int nx, int ny, int nz, int[] mask, int[] parcel, double[] blobs, int[] network, double[] xyz)
    {
        int v = parcel.Length, c = o.Conditions.Count, k = o.Networks;
        var truth = new double[c * v];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < v; j++)
            {
                double g = blobs[(i % k) * v + j];
                truth[i * v + j] = g >= 0.5 ? o.Cnr * g : 0;
            }
        var candidates = Enumerable.Range(0, v).Where(j => Enumerable.Range(0, c).All(i => blobs[(i % k) * v + j] < 0.5)).ToArray();
        int count = (int)Math.Round(o.SuppressorFraction * v);
        count = Math.Min(count, candidates.Length);
        var suppressor = new bool[v];
        for (int i = 0; i < count; i++)
        {
            int j = i + rng.NextInt(candidates.Length - i);
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
            suppressor[candidates[i]] = true;
        }
        // No draws here: the layout's random stream is the same with or without per-network noise.
        var active = Enumerable.Range(0, c).Select(i => i % k).Distinct().ToArray();
        var source = new int[v];
        for (int j = 0; j < v; j++)
        {
            int best = -1;
            foreach (int n in active)
                if (blobs[n * v + j] >= 0.5 && (best < 0 || blobs[n * v + j] > blobs[best * v + j])) best = n;
            source[j] = best;
        }
        for (int i = 0; i < count; i++) source[candidates[i]] = active[i % active.Length];
        return new SimulatedLayout
        {
            Nx = nx, Ny = ny, Nz = nz, Units = v, MaskIndex = mask, Parcel = parcel, Networks = blobs, ParcelNetwork = network,
            Truth = truth, Suppressor = suppressor, Coordinates = xyz, SharedNoiseNetwork = source,
            Support = Enumerable.Range(0, v).Select(j => Enumerable.Range(0, c).Any(i => blobs[(i % k) * v + j] >= 0.5)).ToArray(),
        };
    }

    internal static SimulatedSubject Subject(SimulationOptions o, SimulatedLayout layout, int index, SplitMix64 rng)
    {
        int t = o.Scans, v = layout.Units, p = o.Parcels, k = o.Networks, c = o.Conditions.Count;
        int group = o.GroupCoupling > 0 ? index % 2 : 0;
        double amplitude = Math.Max(0.1, 1 + o.AmplitudeJitter * rng.Normal());
        double shift = Math.Clamp(o.HrfDelayJitter * rng.Normal(), -1.5, 1.5);
        var events = o.Design == "block"
            ? Simulation.Design.Block(o.Conditions, t, o.Tr, o.BlockSeconds, o.RestSeconds)
            : Simulation.Design.EventRelated(o.Conditions, t, o.Tr, o.EventSeconds, o.MinIsi, o.MaxIsi, rng);
        events = events.Select(e => e with { Onset = Math.Max(0, Math.Round(e.Onset + o.OnsetJitter * rng.Normal(), 3)) }).ToList();
        var x = Simulation.Design.ConditionRegressors(events, o.Conditions, t, o.Tr, Hrf.Named(o.Hrf).WithDelayShift(shift));

        var latent = new double[k * t];
        for (int n = 0; n < k; n++) Ar1(rng, 0.8, latent.AsSpan(n * t, t));
        if (group == 1 && k >= 2)
        {
            double r = o.GroupCoupling, q = Math.Sqrt(1 - r * r);
            for (int i = 0; i < t; i++) latent[t + i] = r * latent[i] + q * latent[t + i];
        }
        var spont = new double[p * t];
        var priv = new double[t];
        for (int i = 0; i < p; i++)
        {
            Ar1(rng, 0.5, priv);
            int n = layout.ParcelNetwork[i];
            for (int j = 0; j < t; j++) spont[i * t + j] = o.SpontaneousAmplitude * (Math.Sqrt(0.7) * latent[n * t + j] + Math.Sqrt(0.3) * priv[j]);
        }
        var shared = new double[t];
        Ar1(rng, 0.5, shared);
        // Per-network shared noise: network 0 keeps d, the others get their own series, drawn only
        // when the option is set so that the default data set's stream is unchanged.
        double[][] sharedOf = [.. Enumerable.Range(0, k).Select(_ => shared)];
        if (o.SuppressorPerNetwork)
            for (int n = 1; n < k; n++)
            {
                sharedOf[n] = new double[t];
                Ar1(rng, 0.5, sharedOf[n]);
            }

        double phiR = rng.Uniform(0, 2 * Math.PI), phiC = rng.Uniform(0, 2 * Math.PI);
        var motion = Motion(rng, t);
        var drift = CosineDrift.Basis(t, o.Tr);
        int kd = drift.Length / t;
        var names = MotionNames.Concat(["framewise_displacement", "resp_sin", "resp_cos", "card_sin", "card_cos"]).ToArray();
        int m = names.Length;
        var confounds = new double[t * m];
        for (int i = 0; i < t; i++)
        {
            for (int j = 0; j < 6; j++) confounds[i * m + j] = motion[j * t + i];
            double fd = 0;
            if (i > 0)
                for (int j = 0; j < 6; j++) fd += Math.Abs(motion[j * t + i] - motion[j * t + i - 1]) * (j < 3 ? 1 : 50);
            confounds[i * m + 6] = fd;
            double time = i * o.Tr;
            confounds[i * m + 7] = Math.Sin(2 * Math.PI * RespirationHz * time + phiR);
            confounds[i * m + 8] = Math.Cos(2 * Math.PI * RespirationHz * time + phiR);
            confounds[i * m + 9] = Math.Sin(2 * Math.PI * CardiacHz * time + phiC);
            confounds[i * m + 10] = Math.Cos(2 * Math.PI * CardiacHz * time + phiC);
        }

        var series = new float[t * v];
        var load = new double[6];
        var coef = new double[kd];
        double white = Math.Sqrt(o.ThermalShare), red = Math.Sqrt(1 - o.ThermalShare);
        for (int u = 0; u < v; u++)
        {
            double rho = rng.Uniform(o.RhoMin, o.RhoMax);
            double ar = rng.Uniform(0.5, 1.5) * o.PhysioAmplitude, ac = rng.Uniform(0.5, 1.5) * o.PhysioAmplitude;
            for (int j = 0; j < kd; j++) coef[j] = o.DriftAmplitude * rng.Normal();
            for (int j = 0; j < 6; j++) load[j] = o.MotionAmplitude * rng.Normal() * (j < 3 ? 1 : 50);
            double w = layout.Support[u] || layout.Suppressor[u] ? o.SuppressorWeight : 0;
            var d = o.SuppressorPerNetwork && layout.SharedNoiseNetwork![u] >= 0 ? sharedOf[layout.SharedNoiseNetwork[u]] : shared;
            int parcel = layout.Parcel[u];
            double e = rng.Normal(), innovation = Math.Sqrt(1 - rho * rho);
            for (int i = 0; i < t; i++)
            {
                if (i > 0) e = rho * e + innovation * rng.Normal();
                double s = 100 + red * e + white * rng.Normal() + spont[parcel * t + i] + w * d[i]
                    + ar * confounds[i * m + 7] + ac * confounds[i * m + 9];
                for (int j = 0; j < c; j++) s += amplitude * layout.Truth[j * v + u] * x[i * c + j];
                for (int j = 0; j < kd; j++) s += coef[j] * drift[i * kd + j];
                for (int j = 0; j < 6; j++) s += load[j] * motion[j * t + i];
                series[i * v + u] = (float)s;
            }
        }
        var parcels = new double[p * t];
        var size = new int[p];
        foreach (int q in layout.Parcel) size[q]++;
        for (int i = 0; i < t; i++)
            for (int u = 0; u < v; u++) parcels[layout.Parcel[u] * t + i] += series[i * v + u];
        for (int q = 0; q < p; q++)
            for (int i = 0; i < t; i++) parcels[q * t + i] /= Math.Max(1, size[q]);
        return new SimulatedSubject
        {
            Index = index, Group = group, Amplitude = amplitude, HrfShift = shift, Events = events,
            ConfoundNames = names, Confounds = confounds, Series = series, ParcelSeries = parcels,
        };
    }

    /// <summary>Six motion traces [6, T]: slow AR(1) walks (0.05 mm, 0.001 rad innovations, rho 0.95) with spikes (2% of scans, 0.5 mm / 0.005 rad).</summary>
    private static double[] Motion(SplitMix64 rng, int t)
    {
        var motion = new double[6 * t];
        for (int j = 0; j < 6; j++)
        {
            double scale = j < 3 ? 1 : 0.01, level = 0;
            for (int i = 0; i < t; i++)
            {
                level = 0.95 * level + 0.05 * scale * rng.Normal();
                double spike = rng.Uniform() < 0.02 ? 0.5 * scale * rng.Normal() : 0;
                motion[j * t + i] = level + spike;
            }
        }
        return motion;
    }

    /// <summary>A stationary AR(1) series of unit variance: e_0 ~ N(0, 1), e_i = rho e_{i-1} + sqrt(1 - rho^2) N(0, 1).</summary>
    private static void Ar1(SplitMix64 rng, double rho, Span<double> into)
    {
        double q = Math.Sqrt(1 - rho * rho);
        into[0] = rng.Normal();
        for (int i = 1; i < into.Length; i++) into[i] = rho * into[i - 1] + q * rng.Normal();
    }

    /// <summary>Splits by subject, within each group: a seeded permutation, the first train fraction (rounded, at least 1) train, then validation, the rest test.</summary>
    private static void AssignSplits(SimulatedSubject[] subjects, SimulationOptions o, SplitMix64 rng)
    {
        foreach (var group in subjects.GroupBy(s => s.Group).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            for (int i = members.Length - 1; i > 0; i--)
            {
                int j = rng.NextInt(i + 1);
                (members[i], members[j]) = (members[j], members[i]);
            }
            int n = members.Length;
            int train = Math.Max(1, (int)Math.Round(o.TrainFraction * n));
            int validation = Math.Min(n - train, (int)Math.Round(o.ValidationFraction * n));
            if (n >= 3 && train + validation == n && o.TrainFraction + o.ValidationFraction < 1) { if (validation > 0) validation--; else train--; }
            for (int i = 0; i < n; i++) members[i].Split = i < train ? "train" : i < train + validation ? "validation" : "test";
        }
    }

    private static double Sq(double x) => x * x;

    private static double Distance2(double[] xyz, int a, int b) =>
        Sq(xyz[3 * a] - xyz[3 * b]) + Sq(xyz[3 * a + 1] - xyz[3 * b + 1]) + Sq(xyz[3 * a + 2] - xyz[3 * b + 2]);
}
