// Writes a simulated data set as a small BIDS-like tree:
//   simulation.json                      the options and, per subject, group, amplitude, HRF shift, split
//   participants.tsv                     participant_id, group, split
//   mask.nii, parcels.nii, networks.nii, atlas_soft.nii        (lattice only)
//   truth_<cond>.nii, truth_contrast_<cond>.nii, suppressors.nii (lattice only; the same maps as
//   truth_maps.npy [C, V] / truth_contrasts.npy [C, V] / suppressors.npy [V] over the units)
//   sub-XX/func/sub-XX_task-sim_bold.nii                         (lattice only; float32, 4D, TR in pixdim[4])
//   sub-XX/func/sub-XX_task-sim_events.tsv                       BIDS events: onset, duration, trial_type, trial
//   sub-XX/func/sub-XX_task-sim_desc-confounds_timeseries.tsv    motion, framewise_displacement (n/a at scan 0), physio
//   sub-XX/func/sub-XX_task-sim_parcels.npy                      parcel series [P, T] float64 (variables x observations)
// Every file is written atomically; the bytes depend only on the options.
using System.Globalization;
using System.Text;
using System.Text.Json;
using Reference.Core.IO;
using Reference.Neuro.IO;

namespace Reference.Neuro.Simulation;

public static class SimulationWriter
{
    /// <summary>Writes <paramref name="data"/> under <paramref name="directory"/> (created) and returns the relative paths written.</summary>
    public static List<string> Write(SimulatedDataset data, string directory)
    {
        ArgumentNullException.ThrowIfNull(data);
        Directory.CreateDirectory(directory);
        var o = data.Options;
        var layout = data.Layout;
        var written = new List<string>();
        void Text(string relative, string text)
        {
            string path = Path.Combine(directory, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            AtomicFile.Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));
            lock (written) written.Add(relative);
        }
        void Nii(string relative, NiftiImage image)
        {
            string path = Path.Combine(directory, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            Nifti.Write(path, image);
            lock (written) written.Add(relative);
        }
        void Array(string relative, NpyArray array)
        {
            string path = Path.Combine(directory, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            Npy.Write(path, array);
            lock (written) written.Add(relative);
        }

        int v = layout.Units, c = o.Conditions.Count;
        var contrasts = new double[c * v];
        for (int i = 0; i < c; i++) layout.ContrastTruth(i, c).CopyTo(contrasts, i * v);
        Array("truth_maps.npy", NpyArray.Of((double[])layout.Truth.Clone(), c, v));
        Array("truth_contrasts.npy", NpyArray.Of(contrasts, c, v));
        Array("parcel_labels.npy", NpyArray.Of((int[])layout.Parcel.Clone(), v));
        Array("suppressors.npy", NpyArray.Of(layout.Suppressor.ToArray(), v));
        if (o.HasLattice)
        {
            Nii("mask.nii", Volume(o, layout, Enumerable.Repeat((byte)1, v).ToArray()));
            Nii("parcels.nii", Volume(o, layout, layout.Parcel.Select(q => (short)(q + 1)).ToArray()));
            Nii("suppressors.nii", Volume(o, layout, layout.Suppressor.Select(b => b ? (byte)1 : (byte)0).ToArray()));
            Nii("networks.nii", Volumes(o, layout, layout.Networks, o.Networks));
            var soft = new double[layout.Networks.Length];
            for (int u = 0; u < v; u++)
            {
                double sum = 0;
                for (int k = 0; k < o.Networks; k++) sum += layout.Networks[k * v + u];
                for (int k = 0; k < o.Networks; k++) soft[k * v + u] = layout.Networks[k * v + u] / sum;
            }
            Nii("atlas_soft.nii", Volumes(o, layout, soft, o.Networks));
            for (int i = 0; i < c; i++)
            {
                Nii($"truth_{o.Conditions[i]}.nii", Volume(o, layout, layout.Truth.AsSpan(i * v, v).ToArray().Select(d => (float)d).ToArray()));
                Nii($"truth_contrast_{o.Conditions[i]}.nii", Volume(o, layout, contrasts.AsSpan(i * v, v).ToArray().Select(d => (float)d).ToArray()));
            }
        }
        Parallel.ForEach(data.Subjects, s =>
        {
            string stem = $"{s.Id}/func/{s.Id}_task-sim";
            Text($"{stem}_events.tsv", Design.ToTsv(s.Events));
            Text($"{stem}_desc-confounds_timeseries.tsv", ConfoundsTsv(s));
            Array($"{stem}_parcels.npy", NpyArray.Of(s.ParcelSeries, o.Parcels, o.Scans));
            if (o.HasLattice) Nii($"{stem}_bold.nii", Bold(o, layout, s));
        });
        Text("participants.tsv", "participant_id\tgroup\tsplit\n" + string.Concat(data.Subjects.Select(s => $"{s.Id}\t{s.Group}\t{s.Split}\n")));
        var document = new Dictionary<string, object>
        {
            ["generator"] = "reference simulate",
            ["options"] = o,
            ["units"] = v,
            ["hrf"] = Hrf.Named(o.Hrf),
            ["subjects"] = data.Subjects.Select(s => new Dictionary<string, object>
            {
                ["id"] = s.Id, ["group"] = s.Group, ["split"] = s.Split, ["amplitude"] = s.Amplitude, ["hrf_shift_s"] = s.HrfShift, ["events"] = s.Events.Count,
            }).ToList(),
        };
        Text("simulation.json", JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        written.Sort(StringComparer.Ordinal);
        return written;
    }

    private static string ConfoundsTsv(SimulatedSubject s)
    {
        var text = new StringBuilder(string.Join('\t', s.ConfoundNames)).Append('\n');
        int m = s.ConfoundNames.Length, t = s.Confounds.Length / m;
        for (int i = 0; i < t; i++)
        {
            for (int j = 0; j < m; j++)
            {
                if (j > 0) text.Append('\t');
                text.Append(i == 0 && s.ConfoundNames[j] == "framewise_displacement" ? "n/a" : s.Confounds[i * m + j].ToString("R", CultureInfo.InvariantCulture));
            }
            text.Append('\n');
        }
        return text.ToString();
    }

    private static NiftiHeader Header(SimulationOptions o, NiftiDataType type, params int[] shape)
    {
        double h = o.VoxelSize;
        var affine = new double[,] { { h, 0, 0, -h * (o.Nx - 1) / 2 }, { 0, h, 0, -h * (o.Ny - 1) / 2 }, { 0, 0, h, -h * (o.Nz - 1) / 2 }, { 0, 0, 0, 1 } };
        var header = NiftiHeader.Create(type, shape).WithAffine(affine, sformCode: 1, qformCode: 1);
        var pixdim = header.Pixdim.ToArray();
        if (shape.Length >= 4) pixdim[4] = o.Tr;
        return header with { Pixdim = pixdim, XyztUnits = 2 | 8, Descrip = $"reference simulate {o.Preset} seed {o.Seed}" };
    }

    private static NiftiImage Volume<T>(SimulationOptions o, SimulatedLayout layout, T[] values) where T : unmanaged
    {
        var data = new T[o.Nx * o.Ny * o.Nz];
        for (int u = 0; u < layout.Units; u++) data[layout.MaskIndex[u]] = values[u];
        return new NiftiImage(Header(o, NiftiDataTypes.Of(typeof(T)), o.Nx, o.Ny, o.Nz), data);
    }

    /// <summary>Maps [count, V] over the mask voxels as a float32 4D image (zeros outside the mask).</summary>
    public static NiftiImage Volumes(SimulationOptions o, SimulatedLayout layout, double[] maps, int count)
    {
        int n = o.Nx * o.Ny * o.Nz, v = layout.Units;
        var data = new float[n * count];
        for (int k = 0; k < count; k++)
            for (int u = 0; u < v; u++) data[k * n + layout.MaskIndex[u]] = (float)maps[k * v + u];
        return new NiftiImage(Header(o, NiftiDataType.Float32, o.Nx, o.Ny, o.Nz, count), data);
    }

    private static NiftiImage Bold(SimulationOptions o, SimulatedLayout layout, SimulatedSubject s)
    {
        int n = o.Nx * o.Ny * o.Nz, v = layout.Units;
        var data = new float[n * o.Scans];
        for (int i = 0; i < o.Scans; i++)
            for (int u = 0; u < v; u++) data[i * n + layout.MaskIndex[u]] = s.Series[i * v + u];
        return new NiftiImage(Header(o, NiftiDataType.Float32, o.Nx, o.Ny, o.Nz, o.Scans), data);
    }
}
