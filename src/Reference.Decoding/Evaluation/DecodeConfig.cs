// The configuration of `reference decode --config FILE` (docs/decoding.md lists every field). One
// JSON object; an unknown field, a wrong type or an impossible value is an ArgumentException naming
// the field by its path (decoders[2].pretrain.steps), raised before anything runs or is written.
// The resolved configuration (defaults filled in) is written next to every result.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Reference.Models;
using Reference.Neuro.Simulation;

namespace Reference.Decoding;

/// <summary>One decoder entry of the configuration.</summary>
/// <remarks>
/// PretrainSkipSubjects: the pre-training uses the runs of its data's subjects from this index on. With
/// the decoding data's seed and at least its subject count, pre-training sees the same spatial layout
/// (the simulator draws the atlas and networks from the seed) but none of the decoding subjects.
/// </remarks>
public sealed record DecoderConfig(string Name, string Kind, JsonObject Raw, Decoder Decoder, PretrainSettings? Pretrain, SimulationOptions? PretrainData,
    string? CompareTo, ulong PretrainSeed, int PretrainSkipSubjects = 0);

public sealed class DecodeConfig
{
    public static readonly string[] Kinds = ["logistic_maps", "logistic_parcels", "tangent", "time_weighting", "sequence", "cnn3d", "deeplight3d", "deeplight2d"];

    private static readonly string[] TopFields = ["data", "test_subjects", "validation_subjects", "train_subjects", "seeds", "split_seed", "permute_labels", "lambdas", "decoders"];
    private static readonly string[] DataFields = ["preset", "seed", "subjects", "cnr", "scans", "tr", "dims", "parcels", "networks", "conditions", "design", "spontaneous", "window", "lag", "maps"];
    private static readonly string[] NeuralFields = ["epochs", "batch", "lr", "weight_decay", "patience", "dropout", "selection", "min_epochs"];
    private static readonly string[] PretrainFields = ["framework", "data", "steps", "batch", "lr", "weight_decay", "dropout", "sequence_mask", "network_mask", "checkpoint_every", "seed", "skip_subjects"];

    public required SimulationOptions Data { get; init; }
    public required SampleOptions Sampling { get; init; }
    public required int TestSubjects { get; init; }
    public required int ValidationSubjects { get; init; }
    public required int[] TrainSubjects { get; init; }
    public required int Seeds { get; init; }
    public required ulong SplitSeed { get; init; }
    public required bool PermuteLabels { get; init; }
    public required IReadOnlyList<DecoderConfig> Decoders { get; init; }
    /// <summary>True when the linear parcel baseline was not in the file and was added (every report has one).</summary>
    public required bool BaselineAdded { get; init; }
    /// <summary>The resolved configuration (every default written out).</summary>
    public required JsonObject Resolved { get; init; }

    public static DecodeConfig Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonNode? root;
        try { root = JsonNode.Parse(json); }
        catch (JsonException e) { throw new ArgumentException($"config is not valid JSON: {e.Message}"); }
        if (root is not JsonObject o) throw new ArgumentException("config must be a JSON object.");
        Check(o, TopFields, "");
        var dataObject = o["data"] as JsonObject ?? (o.ContainsKey("data") ? throw Field("data", "must be an object") : new JsonObject());
        var (sim, sampling) = ParseData(dataObject, "data", null);
        int subjects = sim.Subjects;
        int test = Int(o, "test_subjects") ?? Math.Max(1, subjects / 4);
        int validation = Int(o, "validation_subjects") ?? 1;
        if (test < 1 || test >= subjects) throw Field("test_subjects", $"= {test}; expected 1..{subjects - 1} of the {subjects} subjects");
        if (validation < 0 || validation > subjects - test - 1) throw Field("validation_subjects", $"= {validation}; expected 0..{subjects - test - 1} (at least one training subject must remain)");
        int pool = subjects - test - validation;
        int[] train = o["train_subjects"] is JsonArray list
            ? [.. list.Select((n, i) => n is JsonValue v && v.TryGetValue<int>(out var k) ? k : throw Field($"train_subjects[{i}]", "must be an integer"))]
            : o.ContainsKey("train_subjects") ? throw Field("train_subjects", "must be an array of integers") : Curve(pool);
        if (train.Length == 0) throw Field("train_subjects", "must list at least one count");
        for (int i = 0; i < train.Length; i++)
            if (train[i] < 1 || train[i] > pool) throw Field($"train_subjects[{i}]", $"= {train[i]}; expected 1..{pool} (subjects {subjects} - test {test} - validation {validation})");
        train = [.. train.Distinct().Order()];
        int seeds = Int(o, "seeds") ?? 3;
        if (seeds < 1 || seeds > 100) throw Field("seeds", $"= {seeds}; expected 1..100");
        ulong splitSeed = (ulong)(Long(o, "split_seed") ?? 0);
        bool permute = Bool(o, "permute_labels") ?? false;
        double[] lambdas = o["lambdas"] is JsonArray ls ? [.. ls.Select((n, i) => n is JsonValue v && v.TryGetValue<double>(out var d) && d > 0 ? d : throw Field($"lambdas[{i}]", "must be a number > 0"))]
            : o.ContainsKey("lambdas") ? throw Field("lambdas", "must be an array of numbers > 0") : [1e-3, 1e-2, 1e-1, 1];
        if (lambdas.Length == 0) throw Field("lambdas", "must list at least one value");

        var decoderArray = o["decoders"] as JsonArray ?? (o.ContainsKey("decoders") ? throw Field("decoders", "must be an array") : []);
        var decoders = new List<DecoderConfig>();
        for (int i = 0; i < decoderArray.Count; i++)
        {
            if (decoderArray[i] is not JsonObject d) throw Field($"decoders[{i}]", "must be an object");
            decoders.Add(ParseDecoder(d, $"decoders[{i}]", lambdas, sim));
        }
        bool added = false;
        if (!decoders.Any(d => d.Kind == "logistic_parcels"))
        {
            decoders.Insert(0, ParseDecoder(new JsonObject { ["name"] = "baseline-logistic-parcels", ["kind"] = "logistic_parcels" }, "decoders[baseline]", lambdas, sim));
            added = true;
        }
        var names = decoders.Select(d => d.Name).ToArray();
        if (names.Distinct().Count() != names.Length) throw Field("decoders", "names must be distinct");
        foreach (var (d, i) in decoders.Select((d, i) => (d, i)))
        {
            if (d.CompareTo is { } other && !names.Contains(other)) throw Field($"decoders[{i}].compare_to", $"'{other}' is not a decoder name");
            if (d.Kind is "logistic_maps" or "cnn3d" or "deeplight3d" or "deeplight2d" && !(sampling.Maps && sim.HasLattice))
                throw Field($"decoders[{i}].kind", $"{d.Kind} needs a voxel lattice and maps (data.dims not 0x0x0, data.maps true)");
        }

        var resolved = new JsonObject
        {
            ["data"] = DataJson(sim, sampling),
            ["test_subjects"] = test, ["validation_subjects"] = validation, ["train_subjects"] = new JsonArray([.. train.Select(n => (JsonNode)n)]),
            ["seeds"] = seeds, ["split_seed"] = splitSeed, ["permute_labels"] = permute, ["lambdas"] = new JsonArray([.. lambdas.Select(l => (JsonNode)l)]),
            ["decoders"] = new JsonArray([.. decoders.Select(ResolvedDecoder)]),
        };
        return new DecodeConfig
        {
            Data = sim, Sampling = sampling, TestSubjects = test, ValidationSubjects = validation, TrainSubjects = train, Seeds = seeds, SplitSeed = splitSeed,
            PermuteLabels = permute, Decoders = decoders, BaselineAdded = added, Resolved = resolved,
        };
    }

    /// <summary>Training-set sizes of the default learning curve: 1, 2, 4, ... and the whole pool.</summary>
    private static int[] Curve(int pool)
    {
        var list = new List<int>();
        for (int n = 1; n < pool; n *= 2) list.Add(n);
        list.Add(pool);
        return [.. list];
    }

    private static DecoderConfig ParseDecoder(JsonObject d, string at, double[] lambdas, SimulationOptions data)
    {
        string kind = Str(d, "kind", at + ".kind") ?? throw Field(at + ".kind", $"is required ({string.Join(", ", Kinds)})");
        if (!Kinds.Contains(kind)) throw Field(at + ".kind", $"'{kind}' is not one of {string.Join(", ", Kinds)}");
        string name = Str(d, "name", at + ".name") ?? kind;
        if (name.Length == 0 || name.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_'))) throw Field(at + ".name", $"'{name}' must be letters, digits, - and _");
        string[] allowed = kind switch
        {
            "logistic_maps" or "logistic_parcels" => ["name", "kind"],
            "tangent" => ["name", "kind", "shrinkage"],
            "time_weighting" => ["name", "kind", .. NeuralFields],
            "cnn3d" => ["name", "kind", "filters", "kernel", "hidden_layers", .. NeuralFields],
            "deeplight3d" => ["name", "kind", .. NeuralFields],
            "deeplight2d" => ["name", "kind", "hidden", .. NeuralFields],
            _ => ["name", "kind", "width", "depth", "block", "blocks", "norm", "architecture", "heads", "freeze", "pretrain", "compare_to", .. NeuralFields],
        };
        Check(d, allowed, at);
        NeuralSettings Neural(NeuralSettings defaults)
        {
            var s = new NeuralSettings(Int(d, "epochs", at + ".epochs") ?? defaults.Epochs, Int(d, "batch", at + ".batch") ?? defaults.Batch,
                Double(d, "lr", at + ".lr") ?? defaults.LearningRate, Double(d, "weight_decay", at + ".weight_decay") ?? defaults.WeightDecay,
                Int(d, "patience", at + ".patience") ?? defaults.Patience, Double(d, "dropout", at + ".dropout") ?? defaults.Dropout,
                Str(d, "selection", at + ".selection") ?? defaults.Selection);
            // An explicit min_epochs beyond epochs is a contradiction; the default is capped at epochs (a
            // short run keeps its last epoch), so the resolved configuration read back is valid.
            int? minEpochs = Int(d, "min_epochs", at + ".min_epochs");
            if (minEpochs is int m && m > s.Epochs) throw Field(at + ".min_epochs", $"= {m}; expected 0 to epochs ({s.Epochs})");
            s = s with { MinEpochs = minEpochs ?? Math.Min(defaults.MinEpochs, s.Epochs) };
            try { s.Validate(); }
            catch (ArgumentException e) { throw Field($"{at}.{e.ParamName}", e.Message.Split(" (Parameter")[0]); }
            return s;
        }
        switch (kind)
        {
            case "logistic_maps": return new DecoderConfig(name, kind, d, new LogisticDecoder(name, LinearFeatures.Maps, lambdas), null, null, null, 0);
            case "logistic_parcels": return new DecoderConfig(name, kind, d, new LogisticDecoder(name, LinearFeatures.Parcels, lambdas), null, null, null, 0);
            case "tangent":
                double shrink = Double(d, "shrinkage", at + ".shrinkage") ?? 0.1;
                if (!(shrink >= 0)) throw Field(at + ".shrinkage", $"= {shrink}; expected >= 0");
                var tangent = new LogisticDecoder(name, LinearFeatures.Tangent, lambdas, shrink);
                return new DecoderConfig(name, kind, d, tangent, null, null, null, 0);
            case "time_weighting":
                return new DecoderConfig(name, kind, d, new TimeWeightingDecoder(name, Neural(TimeWeightingDecoder.Defaults)), null, null, null, 0);
            case "cnn3d" or "deeplight3d" or "deeplight2d":
                var defaults = new VolumeSettings();
                var architecture = new VolumeSettings(Int(d, "filters", at + ".filters") ?? defaults.Filters, Int(d, "kernel", at + ".kernel") ?? defaults.Kernel,
                    Int(d, "hidden_layers", at + ".hidden_layers") ?? defaults.HiddenLayers, Int(d, "hidden", at + ".hidden") ?? defaults.Hidden);
                try { architecture.Validate(); }
                catch (ArgumentException e) { throw Field($"{at}.{e.ParamName}", e.Message.Split(" (Parameter")[0]); }
                var volume = new VolumeDecoder(name, kind, Neural(new NeuralSettings(Epochs: 30, Batch: 16, LearningRate: 1e-3, Patience: 8, Dropout: 0.1)), architecture);
                return new DecoderConfig(name, kind, d, volume, null, null, null, 0);
        }
        var spec = new JsonObject { ["width"] = d["width"]?.DeepClone() ?? 32 };
        if (d.ContainsKey("blocks")) spec["blocks"] = d["blocks"]!.DeepClone();
        else
        {
            spec["depth"] = d["depth"]?.DeepClone() ?? 2;
            spec["block"] = d["block"]?.DeepClone() ?? JsonNode.Parse("""{"mixer": {"operator": "attention.softmax", "heads": 4}, "channel_mixer": "mlp"}""");
        }
        if (d.ContainsKey("norm")) spec["norm"] = d["norm"]!.DeepClone();
        ModelSpec backbone;
        try { backbone = ModelSpec.Parse(spec.ToJsonString()); }
        catch (ArgumentException e) { throw new ArgumentException($"{at}: {e.Message.Split(" (Parameter")[0]}"); }
        string freeze = Str(d, "freeze", at + ".freeze") ?? "none";
        if (!SequenceDecoder.FreezeOptions.Contains(freeze)) throw Field(at + ".freeze", $"'{freeze}' is not one of {string.Join(", ", SequenceDecoder.FreezeOptions)}");
        string arch = Str(d, "architecture", at + ".architecture") ?? "liv";
        if (!SequenceModel.Architectures.Contains(arch)) throw Field(at + ".architecture", $"'{arch}' is not one of {string.Join(", ", SequenceModel.Architectures)}");
        int heads = Int(d, "heads", at + ".heads") ?? 4;
        if (arch is "gpt2" or "bert" && (heads < 1 || backbone.Width % heads != 0)) throw Field(at + ".heads", $"= {heads}; expected a divisor of the width {backbone.Width}");
        var decoder = new SequenceDecoder(name, backbone, Neural(new NeuralSettings()), freeze, arch, heads);
        PretrainSettings? pretrain = null;
        SimulationOptions? source = null;
        ulong pretrainSeed = 0;
        int skip = 0;
        if (d["pretrain"] is JsonObject p)
        {
            string pat = at + ".pretrain";
            Check(p, PretrainFields, pat);
            var defaults = new PretrainSettings();
            pretrain = new PretrainSettings(Str(p, "framework", pat + ".framework") ?? defaults.Framework, Int(p, "steps", pat + ".steps") ?? defaults.Steps,
                Int(p, "batch", pat + ".batch") ?? defaults.Batch, Double(p, "lr", pat + ".lr") ?? defaults.LearningRate,
                Double(p, "weight_decay", pat + ".weight_decay") ?? defaults.WeightDecay, Double(p, "dropout", pat + ".dropout") ?? defaults.Dropout,
                Double(p, "sequence_mask", pat + ".sequence_mask") ?? defaults.SequenceMask, Double(p, "network_mask", pat + ".network_mask") ?? defaults.NetworkMask,
                Int(p, "checkpoint_every", pat + ".checkpoint_every") ?? defaults.CheckpointEvery);
            try { pretrain.Validate(); }
            catch (ArgumentException e) { throw Field($"{pat}.{e.ParamName}", e.Message.Split(" (Parameter")[0]); }
            var sourceObject = p["data"] as JsonObject ?? throw Field(pat + ".data", "is required: the simulated data set to pre-train on (an object like 'data')");
            (source, _) = ParseData(sourceObject, pat + ".data", data);
            skip = Int(p, "skip_subjects", pat + ".skip_subjects") ?? 0;
            if (skip < 0 || skip >= source.Subjects) throw Field(pat + ".skip_subjects", $"= {skip}; expected 0 to {source.Subjects - 1} (the pre-training data has {source.Subjects} subjects)");
            // Subjects are drawn in order from the data seed: the same seed puts the decoding data's
            // (test) subjects into pre-training unless at least that many subjects are skipped.
            if (source.Seed == data.Seed && skip < data.Subjects)
                throw Field(pat + ".data.seed", $"= {source.Seed} equals the decoding data's seed: its first {data.Subjects} subjects are the decoding subjects; expected another seed or skip_subjects >= {data.Subjects}");
            if (source.Parcels != data.Parcels) throw Field(pat + ".data.parcels", $"= {source.Parcels}; the decoding data has {data.Parcels} parcels (the embedder needs the same)");
            pretrainSeed = (ulong)(Long(p, "seed", pat + ".seed") ?? 7);
        }
        else if (d.ContainsKey("pretrain")) throw Field(at + ".pretrain", "must be an object");
        string? compare = Str(d, "compare_to", at + ".compare_to");
        return new DecoderConfig(name, kind, d, decoder, pretrain, source, compare, pretrainSeed, skip);
    }

    private static JsonNode ResolvedDecoder(DecoderConfig c)
    {
        var o = new JsonObject { ["name"] = c.Name, ["kind"] = c.Kind };
        switch (c.Decoder)
        {
            case LogisticDecoder l:
                o["lambdas"] = new JsonArray([.. l.Lambdas.Select(x => (JsonNode)x)]);
                if (l.Features == LinearFeatures.Tangent) o["shrinkage"] = l.Shrinkage;
                break;
            case TimeWeightingDecoder t: Neural(o, t.Settings); break;
            case VolumeDecoder v:
                if (v.Kind == "cnn3d") { o["filters"] = v.Architecture.Filters; o["kernel"] = v.Architecture.Kernel; o["hidden_layers"] = v.Architecture.HiddenLayers; }
                if (v.Kind == "deeplight2d") o["hidden"] = v.Architecture.Hidden;
                Neural(o, v.Settings);
                break;
            case SequenceDecoder s:
                o["backbone"] = JsonNode.Parse(s.Backbone.ToJson());
                o["architecture"] = s.Architecture;
                if (s.Architecture is "gpt2" or "bert") o["heads"] = s.Heads;
                o["freeze"] = s.Freeze;
                Neural(o, s.Settings);
                if (c.Pretrain is { } p)
                {
                    var po = JsonNode.Parse(p.Identity())!.AsObject();
                    po["checkpoint_every"] = p.CheckpointEvery;
                    po["seed"] = c.PretrainSeed;
                    po["data"] = DataJson(c.PretrainData!, null);
                    if (c.PretrainSkipSubjects > 0) po["skip_subjects"] = c.PretrainSkipSubjects;
                    o["pretrain"] = po;
                }
                if (c.CompareTo is not null) o["compare_to"] = c.CompareTo;
                break;
        }
        return o;
    }

    private static void Neural(JsonObject o, NeuralSettings s)
    {
        o["epochs"] = s.Epochs; o["batch"] = s.Batch; o["lr"] = s.LearningRate; o["weight_decay"] = s.WeightDecay; o["patience"] = s.Patience; o["dropout"] = s.Dropout;
        o["selection"] = s.Selection; o["min_epochs"] = s.MinEpochs;
    }

    private static (SimulationOptions, SampleOptions) ParseData(JsonObject d, string at, SimulationOptions? basis)
    {
        Check(d, DataFields, at);
        string? preset = Str(d, "preset", at + ".preset");
        SimulationOptions o;
        try { o = preset is not null ? SimulationOptions.FromPreset(preset) : basis ?? SimulationOptions.FromPreset("small"); }
        catch (ArgumentException e) { throw Field(at + ".preset", e.Message.Split(" (Parameter")[0]); }
        if (Long(d, "seed", at + ".seed") is long seed) o = o with { Seed = (ulong)seed };
        if (Int(d, "subjects", at + ".subjects") is int n) o = o with { Subjects = n };
        if (Double(d, "cnr", at + ".cnr") is double cnr) o = o with { Cnr = cnr };
        if (Int(d, "scans", at + ".scans") is int scans) o = o with { Scans = scans };
        if (Double(d, "tr", at + ".tr") is double tr) o = o with { Tr = tr };
        if (Int(d, "parcels", at + ".parcels") is int parcels) o = o with { Parcels = parcels };
        if (Int(d, "networks", at + ".networks") is int networks) o = o with { Networks = networks };
        if (Double(d, "spontaneous", at + ".spontaneous") is double sp) o = o with { SpontaneousAmplitude = sp };
        if (Str(d, "design", at + ".design") is string design) o = o with { Design = design };
        if (d["conditions"] is JsonArray cs)
            o = o with { Conditions = [.. cs.Select((c, i) => c is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Field($"{at}.conditions[{i}]", "must be a string"))] };
        else if (d.ContainsKey("conditions")) throw Field(at + ".conditions", "must be an array of names");
        if (Str(d, "dims", at + ".dims") is string dims)
        {
            var parts = dims.Split('x');
            if (parts.Length != 3 || !parts.All(q => int.TryParse(q, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw Field(at + ".dims", $"'{dims}' must be NXxNYxNZ, e.g. 10x12x10 (0x0x0: parcels only)");
            var v = parts.Select(q => int.Parse(q, CultureInfo.InvariantCulture)).ToArray();
            o = o with { Nx = v[0], Ny = v[1], Nz = v[2] };
        }
        if (o.Subjects < 3) throw Field(at + ".subjects", $"= {o.Subjects}; expected >= 3 (train, validation and test subjects)");
        try { o.Validate(); }
        catch (ArgumentException e) { throw new ArgumentException($"{at}: {e.Message.Split(" (Parameter")[0]}"); }
        var sampling = new SampleOptions(Int(d, "window", at + ".window") ?? 8, Double(d, "lag", at + ".lag") ?? 4, Bool(d, "maps", at + ".maps") ?? true);
        if (sampling.Window < 2 || sampling.Window > o.Scans) throw Field(at + ".window", $"= {sampling.Window}; expected 2..{o.Scans} TRs");
        if (!(sampling.LagSeconds >= 0)) throw Field(at + ".lag", $"= {sampling.LagSeconds}; expected >= 0 seconds");
        return (o, sampling);
    }

    private static JsonObject DataJson(SimulationOptions o, SampleOptions? s)
    {
        var j = new JsonObject
        {
            ["preset"] = o.Preset, ["seed"] = o.Seed, ["subjects"] = o.Subjects, ["cnr"] = o.Cnr, ["scans"] = o.Scans, ["tr"] = o.Tr,
            ["dims"] = $"{o.Nx}x{o.Ny}x{o.Nz}", ["parcels"] = o.Parcels, ["networks"] = o.Networks,
            ["conditions"] = new JsonArray([.. o.Conditions.Select(c => (JsonNode)c)]), ["design"] = o.Design, ["spontaneous"] = o.SpontaneousAmplitude,
        };
        if (s is not null) { j["window"] = s.Window; j["lag"] = s.LagSeconds; j["maps"] = s.Maps; }
        return j;
    }

    private static ArgumentException Field(string path, string message) => new($"config field '{path}' {message}.");

    private static void Check(JsonObject o, string[] allowed, string at)
    {
        foreach (var (key, _) in o)
            if (!allowed.Contains(key)) throw Field(at.Length == 0 ? key : $"{at}.{key}", $"is not known here; expected one of {string.Join(", ", allowed)}");
    }

    private static int? Int(JsonObject o, string key, string? path = null) =>
        o[key] is null ? null : o[key] is JsonValue v && v.TryGetValue<int>(out var i) ? i
        : o[key] is JsonValue d && d.TryGetValue<double>(out var x) && x == Math.Floor(x) && Math.Abs(x) < int.MaxValue ? (int)x : throw Field(path ?? key, "must be an integer");

    private static long? Long(JsonObject o, string key, string? path = null) =>
        o[key] is null ? null : o[key] is JsonValue v && v.TryGetValue<long>(out var i) && i >= 0 ? i : throw Field(path ?? key, "must be an integer >= 0");

    private static double? Double(JsonObject o, string key, string? path = null) =>
        o[key] is null ? null : o[key] is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d : throw Field(path ?? key, "must be a finite number");

    private static bool? Bool(JsonObject o, string key, string? path = null) =>
        o[key] is null ? null : o[key] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : throw Field(path ?? key, "must be true or false");

    private static string? Str(JsonObject o, string key, string? path = null) =>
        o[key] is null ? null : o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Field(path ?? key, "must be a string");
}
