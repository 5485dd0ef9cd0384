namespace Reference.Neuro.Simulation;

/// <summary>
/// Everything that defines a simulated data set (see <see cref="Simulator"/> for the model). A
/// lattice of Nx x Ny x Nz voxels (an ellipsoid mask inside it) partitioned into P parcels, or,
/// with Nx = Ny = Nz = 0, P parcels without voxels (parcel series only).
/// </summary>
public sealed record SimulationOptions
{
    public string Preset { get; init; } = "custom";
    public int Nx { get; init; } = 20;
    public int Ny { get; init; } = 24;
    public int Nz { get; init; } = 20;
    /// <summary>Voxel size in mm (the NIfTI pixdim and affine).</summary>
    public double VoxelSize { get; init; } = 3;
    public int Parcels { get; init; } = 24;
    public int Networks { get; init; } = 4;
    public IReadOnlyList<string> Conditions { get; init; } = ["faces", "houses", "tools"];
    /// <summary>block or event.</summary>
    public string Design { get; init; } = "block";
    /// <summary>Block length and rest between blocks (block design), seconds.</summary>
    public double BlockSeconds { get; init; } = 16;
    public double RestSeconds { get; init; } = 14;
    /// <summary>Event duration and the uniform inter-onset interval range (event design), seconds.</summary>
    public double EventSeconds { get; init; } = 1;
    public double MinIsi { get; init; } = 4;
    public double MaxIsi { get; init; } = 8;
    public int Scans { get; init; } = 200;
    public double Tr { get; init; } = 2;
    public int Subjects { get; init; } = 10;
    public string Hrf { get; init; } = "spm";
    /// <summary>Contrast-to-noise ratio: the task response at a truth map's peak (regressor plateau 1) over the sd of the voxel noise (AR(1) + thermal, sd 1).</summary>
    public double Cnr { get; init; } = 1;
    /// <summary>Range of the per-voxel AR(1) coefficient.</summary>
    public double RhoMin { get; init; } = 0.2;
    public double RhoMax { get; init; } = 0.5;
    /// <summary>Share of the unit noise variance that is white (thermal); the rest is AR(1).</summary>
    public double ThermalShare { get; init; } = 0.3;
    /// <summary>Mean amplitude of the respiration (0.2 Hz) and cardiac (1.17 Hz) sinusoids per voxel.</summary>
    public double PhysioAmplitude { get; init; } = 0.3;
    /// <summary>Sd of the coefficients of the drift cosines (periods above the 128 s cutoff).</summary>
    public double DriftAmplitude { get; init; } = 1;
    /// <summary>Sd of each voxel's loading on each (standardized) motion trace.</summary>
    public double MotionAmplitude { get; init; } = 0.2;
    /// <summary>Sd of the spontaneous parcel fluctuation (latent networks + private part) added to each voxel of a parcel.</summary>
    public double SpontaneousAmplitude { get; init; } = 0.6;
    /// <summary>Weight of the shared noise in the truth voxels and the suppressor voxels.</summary>
    public double SuppressorWeight { get; init; } = 0.5;
    /// <summary>
    /// One shared noise series per network (its truth voxels and its share of the suppressors)
    /// instead of one for all: the noise no longer cancels between classes, so a decoder needs the
    /// suppressors. Off by default (the data set is then unchanged).
    /// </summary>
    public bool SuppressorPerNetwork { get; init; }
    /// <summary>Fraction of mask voxels outside every truth map made suppressors.</summary>
    public double SuppressorFraction { get; init; } = 0.03;
    /// <summary>Correlation planted between latent networks 0 and 1 in group 1 subjects (0: one group).</summary>
    public double GroupCoupling { get; init; }
    /// <summary>Subject jitter: sd of the amplitude factor, of each onset (s), of the HRF delay (s).</summary>
    public double AmplitudeJitter { get; init; } = 0.1;
    public double OnsetJitter { get; init; } = 0.5;
    public double HrfDelayJitter { get; init; } = 0.5;
    /// <summary>Fractions of subjects (per group) in the train and validation splits; the rest is test.</summary>
    public double TrainFraction { get; init; } = 0.6;
    public double ValidationFraction { get; init; } = 0.2;
    public ulong Seed { get; init; } = 1;

    public bool HasLattice => Nx > 0;

    /// <summary>The named presets: standard (the 20 x 24 x 20, 200 TR, 10 subject set), small (tests), null (no task signal), event (event design), connectome (parcels only, two groups).</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["standard", "small", "null", "event", "connectome"];

    public static SimulationOptions FromPreset(string name) => name switch
    {
        "standard" => new SimulationOptions { Preset = name },
        "small" => new SimulationOptions { Preset = name, Nx = 10, Ny = 12, Nz = 10, Parcels = 8, Networks = 3, Scans = 120, Subjects = 4, Cnr = 1 },
        "null" => new SimulationOptions { Preset = name, Cnr = 0 },
        "event" => new SimulationOptions { Preset = name, Design = "event", Cnr = 1.5 },
        "connectome" => new SimulationOptions
        {
            Preset = name, Nx = 0, Ny = 0, Nz = 0, Parcels = 16, Networks = 4, Subjects = 40, Cnr = 0.5, GroupCoupling = 0.8, SpontaneousAmplitude = 1,
        },
        _ => throw new ArgumentException($"unknown preset '{name}'; expected one of {string.Join(", ", PresetNames)}.", nameof(name)),
    };

    /// <summary>Throws one clear error for the first impossible setting.</summary>
    public void Validate()
    {
        static void Fail(string what, string expected) => throw new ArgumentException($"{what}; expected {expected}.");
        if (HasLattice && (Nx < 2 || Ny < 2 || Nz < 2 || (long)Nx * Ny * Nz > 1 << 22)) Fail($"lattice {Nx} x {Ny} x {Nz}", "each dimension >= 2 and at most 4,194,304 voxels (or 0 x 0 x 0 for parcels only)");
        if (!HasLattice && (Ny != 0 || Nz != 0)) Fail($"lattice {Nx} x {Ny} x {Nz}", "all three dimensions >= 2, or all 0 for parcels only");
        if (Parcels < 1 || Parcels > 10000) Fail($"parcels = {Parcels}", "1..10000");
        if (Networks < 1 || Networks > Parcels) Fail($"networks = {Networks}", $"1..parcels ({Parcels})");
        if (Conditions.Count < 1 || Conditions.Distinct().Count() != Conditions.Count || Conditions.Any(c => c.Length == 0 || c.Any(ch => !char.IsAsciiLetterOrDigit(ch) && ch != '_')))
            Fail($"conditions [{string.Join(", ", Conditions)}]", "one or more distinct names of letters, digits and _");
        if (Design is not ("block" or "event")) Fail($"design '{Design}'", "block or event");
        if (Scans < 16 || Scans > 100000) Fail($"scans = {Scans}", "16..100000");
        if (!(Tr > 0) || Tr > 60) Fail($"TR = {Tr}", "a number of seconds in (0, 60]");
        if (Subjects < 1 || Subjects > 10000) Fail($"subjects = {Subjects}", "1..10000");
        _ = Simulation.Hrf.Named(Hrf);
        if (!(Cnr >= 0) || !double.IsFinite(Cnr)) Fail($"CNR = {Cnr}", "a finite number >= 0");
        if (!(RhoMin >= 0) || !(RhoMax >= RhoMin) || !(RhoMax < 1)) Fail($"rho range [{RhoMin}, {RhoMax}]", "0 <= min <= max < 1");
        if (!(ThermalShare is >= 0 and <= 1)) Fail($"thermal share = {ThermalShare}", "a number in [0, 1]");
        if (!(GroupCoupling is >= 0 and < 1)) Fail($"group coupling = {GroupCoupling}", "a number in [0, 1)");
        if (!(TrainFraction > 0) || !(ValidationFraction >= 0) || !(TrainFraction + ValidationFraction <= 1)) Fail($"split fractions {TrainFraction}, {ValidationFraction}", "train > 0, validation >= 0, their sum <= 1");
        if (!(VoxelSize > 0)) Fail($"voxel size = {VoxelSize}", "> 0 mm");
        foreach (var (name, v) in new[] { ("physio amplitude", PhysioAmplitude), ("drift amplitude", DriftAmplitude), ("motion amplitude", MotionAmplitude), ("spontaneous amplitude", SpontaneousAmplitude), ("suppressor weight", SuppressorWeight), ("amplitude jitter", AmplitudeJitter), ("onset jitter", OnsetJitter), ("HRF delay jitter", HrfDelayJitter) })
            if (!(v >= 0) || !double.IsFinite(v)) Fail($"{name} = {v}", "a finite number >= 0");
        if (!(SuppressorFraction is >= 0 and <= 0.5)) Fail($"suppressor fraction = {SuppressorFraction}", "a number in [0, 0.5]");
    }
}
