// The model description: a small JSON that names every part of the backbone (docs/models.md has the
// schema). It is the genome-like description STAR writes: a width, a list of pre-norm residual blocks
// (each a sequence mixer named by its registry name and/or a channel mixer), a final norm and a head.
// Parsing is strict: an unknown field, a wrong type or an unknown operator is an error that names the
// field by its JSON path (e.g. "blocks[1].mixer.operator"), so a typo never silently trains a default.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Reference.Models;

/// <summary>A sequence mixer: a registered operator by its dotted name, with the sizes its sample instance takes.</summary>
/// <param name="Operator">Registry name, e.g. "attention.softmax", "ssm.h3", "recurrence.gla".</param>
/// <param name="Heads">Heads H of attention-style operators (key dimension = width / heads unless <paramref name="KeyDim"/>).</param>
/// <param name="KeyDim">Key (and value) dimension per head; null = width / heads.</param>
/// <param name="StateSize">State size N of state-space operators.</param>
/// <param name="Taps">Taps of short convolutions.</param>
/// <param name="Discretization">zoh or bilinear (S4D-style operators).</param>
/// <param name="Rotary">Rotary position embedding on q and k (default: on for attention.softmax, off otherwise).</param>
/// <param name="Params">Operator parameters passed through to the descriptor (e.g. window, map, normalize), checked against its parameter names.</param>
public sealed record MixerSpec(string Operator, int Heads = 1, int? KeyDim = null, int StateSize = 16, int Taps = 4,
    string Discretization = "bilinear", bool? Rotary = null, JsonObject? Params = null)
{
    /// <summary>Rotary on q and k: the given flag, or on for softmax attention only.</summary>
    public bool UsesRotary => Rotary ?? Operator == "attention.softmax";
}

/// <summary>The channel mixers of the backbone.</summary>
public enum ChannelMixerKind
{
    /// <summary>fc2(GELU(fc1 x)) with biases.</summary>
    Mlp,

    /// <summary>(sigmoid(x W) * x V) W2, no biases (Shazeer 2020, eq. 5).</summary>
    Glu,

    /// <summary>(SiLU(x W) * x V) W2, no biases (Shazeer 2020, eq. 6; MAD's channel mixer).</summary>
    SwiGlu,
}

/// <summary>A channel mixer and its inner width (null = 4 D for MLP, 8/3 D rounded up to a multiple of 8 for the gated ones).</summary>
public sealed record ChannelMixerSpec(ChannelMixerKind Kind, int? Inner = null)
{
    public int InnerWidth(int width) => Inner ?? (Kind == ChannelMixerKind.Mlp ? 4 * width : (8 * width / 3 + 7) / 8 * 8);
}

/// <summary>One pre-norm residual block: x + mixer(norm(x)) if a mixer, then x + channel(norm(x)) if a channel mixer.</summary>
public sealed record BlockSpec(MixerSpec? Mixer, ChannelMixerSpec? ChannelMixer);

/// <summary>Normalization of the blocks and the final norm.</summary>
public enum NormKind { LayerNorm, RmsNorm }

/// <summary>How the backbone initializes its parameters (JSON field "init").</summary>
public enum ModelInit
{
    /// <summary>"pytorch": Linear layers keep PyTorch's default (kaiming-uniform weights, uniform biases), each operator its Sample's init.</summary>
    PyTorch,

    /// <summary>
    /// "safari": the official H3/Hyena code's language model (HazyResearch/safari, src/models/sequence/simple_lm.py
    /// _init_weights, applied to every module): every Linear weight N(0, init_std) with zero bias, the residual
    /// branches' last maps (the MLP's fc2, a mixer's output projection as MHA's out_proj) N(0, init_std / sqrt(2
    /// depth)), an operator's own projections (ssm.h3's q, k, v and output_linear) N(0, init_std) with zero bias;
    /// and the operators' official inits where they differ from this project's (ssm.h3's shift C kaiming-uniform,
    /// <see cref="Operators.SampleOptions.OfficialInit"/>).
    /// </summary>
    Safari,
}

/// <summary>The whole model (see docs/models.md for the JSON).</summary>
/// <param name="Width">Model width D.</param>
/// <param name="Blocks">The residual blocks in order.</param>
/// <param name="Norm">Norm of the blocks and the final norm.</param>
/// <param name="TiedHead">Head = the embedding matrix.</param>
/// <param name="InitStd">Standard deviation of the embedding and head (and of the Linear maps with init safari).</param>
/// <param name="Vocabulary">The vocabulary the model is for, when the JSON fixes it.</param>
/// <param name="EmbeddingDropout">
/// Dropout rate on the token embedding during training (safari's LMBackbone embed_dropout, applied to the
/// embedding before the first block; H3's associative-recall config uses 0.1); never in evaluation or generation.
/// </param>
/// <param name="Init">The initialization scheme.</param>
public sealed record ModelSpec(int Width, IReadOnlyList<BlockSpec> Blocks, NormKind Norm = NormKind.LayerNorm, bool TiedHead = false,
    double InitStd = 0.02, int? Vocabulary = null, double EmbeddingDropout = 0.0, ModelInit Init = ModelInit.PyTorch)
{
    private static readonly string[] TopFields = ["width", "depth", "block", "blocks", "norm", "tied_head", "init_std", "vocabulary", "embedding_dropout", "init"];
    private static readonly string[] BlockFields = ["mixer", "channel_mixer"];
    private static readonly string[] MixerFields = ["operator", "heads", "key_dim", "state_size", "taps", "discretization", "rotary", "params"];
    private static readonly string[] ChannelFields = ["kind", "inner"];

    /// <summary>Parses the JSON text; every error is an <see cref="ArgumentException"/> naming the field.</summary>
    public static ModelSpec Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonNode? root;
        try { root = JsonNode.Parse(json); }
        catch (JsonException e) { throw new ArgumentException($"model JSON is not valid JSON: {e.Message}", nameof(json)); }
        if (root is not JsonObject o) throw new ArgumentException("model JSON must be an object.", nameof(json));
        CheckFields(o, TopFields, "");
        int width = Int(o, "width", "width", required: true)!.Value;
        if (width < 1) throw Field("width", $"must be >= 1, got {width}");
        List<BlockSpec> blocks;
        if (o.ContainsKey("blocks"))
        {
            if (o.ContainsKey("depth") || o.ContainsKey("block")) throw Field("blocks", "excludes 'depth' and 'block' (give either a list of blocks or one block and a depth)");
            if (o["blocks"] is not JsonArray list || list.Count == 0) throw Field("blocks", "must be a non-empty array of blocks");
            blocks = [.. list.Select((b, i) => Block(b, $"blocks[{i}]"))];
        }
        else
        {
            int depth = Int(o, "depth", "depth", required: true)!.Value;
            if (depth < 1) throw Field("depth", $"must be >= 1, got {depth}");
            if (!o.ContainsKey("block")) throw Field("block", "is required (or give 'blocks')");
            var block = Block(o["block"], "block");
            blocks = [.. Enumerable.Repeat(block, depth)];
        }
        var norm = (Str(o, "norm", "norm") ?? "layernorm") switch
        {
            "layernorm" => NormKind.LayerNorm,
            "rmsnorm" => NormKind.RmsNorm,
            var s => throw Field("norm", $"must be layernorm or rmsnorm, got '{s}'"),
        };
        bool tied = Bool(o, "tied_head", "tied_head") ?? false;
        double initStd = Double(o, "init_std", "init_std") ?? 0.02;
        if (!(initStd > 0)) throw Field("init_std", $"must be > 0, got {initStd}");
        int? vocabulary = Int(o, "vocabulary", "vocabulary");
        if (vocabulary is < 2) throw Field("vocabulary", $"must be >= 2, got {vocabulary}");
        double dropout = Double(o, "embedding_dropout", "embedding_dropout") ?? 0.0;
        if (!(dropout is >= 0 and < 1)) throw Field("embedding_dropout", $"must be in [0, 1), got {dropout}");
        var init = (Str(o, "init", "init") ?? "pytorch") switch
        {
            "pytorch" => ModelInit.PyTorch,
            "safari" => ModelInit.Safari,
            var s => throw Field("init", $"must be pytorch or safari, got '{s}'"),
        };
        var spec = new ModelSpec(width, blocks, norm, tied, initStd, vocabulary, dropout, init);
        spec.Validate();
        return spec;
    }

    /// <summary>Checks sizes that depend on several fields (heads divide the width, operators usable as mixers).</summary>
    public void Validate()
    {
        if (!(EmbeddingDropout is >= 0 and < 1)) throw Field("embedding_dropout", $"must be in [0, 1), got {EmbeddingDropout}");
        for (int i = 0; i < Blocks.Count; i++)
        {
            var m = Blocks[i].Mixer;
            string at = $"blocks[{i}].mixer";
            if (m is null) continue;
            SequenceMixers.Check(m.Operator, at + ".operator");
            if (m.Heads < 1) throw Field(at + ".heads", $"must be >= 1, got {m.Heads}");
            if (m.KeyDim is null && Width % m.Heads != 0) throw Field(at + ".heads", $"= {m.Heads} must divide width {Width} (or give key_dim)");
            if (m.KeyDim is < 1) throw Field(at + ".key_dim", $"must be >= 1, got {m.KeyDim}");
            if (m.UsesRotary && (m.KeyDim ?? Width / m.Heads) % 2 != 0)
                throw Field(at + ".rotary", $"needs an even key dimension, got {m.KeyDim ?? Width / m.Heads}");
            if (m.StateSize < 1) throw Field(at + ".state_size", $"must be >= 1, got {m.StateSize}");
            if (m.Taps < 1) throw Field(at + ".taps", $"must be >= 1, got {m.Taps}");
            if (m.Discretization is not ("zoh" or "bilinear")) throw Field(at + ".discretization", $"must be zoh or bilinear, got '{m.Discretization}'");
            if (m.Params is not null)
            {
                var names = Operators.OperatorRegistry.Get(m.Operator).Parameters.Select(p => p.Name).ToArray();
                foreach (var (key, _) in m.Params)
                    if (!names.Contains(key))
                        throw Field($"{at}.params.{key}", $"is not a parameter of {m.Operator}; its parameters are {string.Join(", ", names)}");
            }
            var c = Blocks[i].ChannelMixer;
            if (c?.Inner is < 1) throw Field($"blocks[{i}].channel_mixer.inner", $"must be >= 1, got {c.Inner}");
        }
        if (Blocks[0].Mixer is null && Blocks[0].ChannelMixer is null && Blocks.All(b => b.Mixer is null && b.ChannelMixer is null))
            throw Field("blocks", "every block is empty (no mixer and no channel mixer)");
    }

    /// <summary>The JSON of this spec (blocks always listed; parses back to an equal spec).</summary>
    public string ToJson()
    {
        var blocks = new JsonArray();
        foreach (var b in Blocks)
        {
            var block = new JsonObject();
            if (b.Mixer is { } m)
            {
                var mixer = new JsonObject { ["operator"] = m.Operator, ["heads"] = m.Heads };
                if (m.KeyDim is { } k) mixer["key_dim"] = k;
                mixer["state_size"] = m.StateSize;
                mixer["taps"] = m.Taps;
                mixer["discretization"] = m.Discretization;
                if (m.Rotary is { } r) mixer["rotary"] = r;
                if (m.Params is { } p) mixer["params"] = p.DeepClone();
                block["mixer"] = mixer;
            }
            else block["mixer"] = null;
            block["channel_mixer"] = b.ChannelMixer is { } c
                ? new JsonObject { ["kind"] = c.Kind.ToString().ToLowerInvariant(), ["inner"] = c.Inner }
                : null;
            blocks.Add(block);
        }
        var o = new JsonObject
        {
            ["width"] = Width,
            ["blocks"] = blocks,
            ["norm"] = Norm == NormKind.LayerNorm ? "layernorm" : "rmsnorm",
            ["tied_head"] = TiedHead,
            ["init_std"] = InitStd,
        };
        if (Vocabulary is { } v) o["vocabulary"] = v;
        // Written only when not the default, so the JSON of models without them (kept in older checkpoints) is unchanged.
        if (EmbeddingDropout != 0) o["embedding_dropout"] = EmbeddingDropout;
        if (Init != ModelInit.PyTorch) o["init"] = "safari";
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static BlockSpec Block(JsonNode? node, string at)
    {
        if (node is not JsonObject b) throw Field(at, "must be an object with 'mixer' and/or 'channel_mixer'");
        CheckFields(b, BlockFields, at + ".");
        MixerSpec? mixer = null;
        if (b["mixer"] is JsonValue name && name.TryGetValue<string>(out var op)) mixer = new MixerSpec(op);
        else if (b["mixer"] is JsonObject m)
        {
            string mat = at + ".mixer";
            CheckFields(m, MixerFields, mat + ".");
            mixer = new MixerSpec(
                Str(m, "operator", mat + ".operator") ?? throw Field(mat + ".operator", "is required (a registered operator name)"),
                Int(m, "heads", mat + ".heads") ?? 1,
                Int(m, "key_dim", mat + ".key_dim"),
                Int(m, "state_size", mat + ".state_size") ?? 16,
                Int(m, "taps", mat + ".taps") ?? 4,
                Str(m, "discretization", mat + ".discretization") ?? "bilinear",
                Bool(m, "rotary", mat + ".rotary"),
                m["params"] is null ? null : m["params"] as JsonObject ?? throw Field(mat + ".params", "must be an object"));
            if (mixer.Params is not null) mixer = mixer with { Params = (JsonObject)mixer.Params.DeepClone() };
        }
        else if (b["mixer"] is not null) throw Field(at + ".mixer", "must be an operator name, an object or null");
        ChannelMixerSpec? channel = null;
        if (b["channel_mixer"] is JsonValue kindName && kindName.TryGetValue<string>(out var kindText)) channel = new ChannelMixerSpec(Kind(kindText, at + ".channel_mixer"));
        else if (b["channel_mixer"] is JsonObject c)
        {
            string cat = at + ".channel_mixer";
            CheckFields(c, ChannelFields, cat + ".");
            channel = new ChannelMixerSpec(Kind(Str(c, "kind", cat + ".kind") ?? throw Field(cat + ".kind", "is required (mlp, glu or swiglu)"), cat + ".kind"),
                Int(c, "inner", cat + ".inner"));
        }
        else if (b["channel_mixer"] is not null) throw Field(at + ".channel_mixer", "must be mlp, glu, swiglu, an object or null");
        return new BlockSpec(mixer, channel);
    }

    private static ChannelMixerKind Kind(string s, string at) => s switch
    {
        "mlp" => ChannelMixerKind.Mlp,
        "glu" => ChannelMixerKind.Glu,
        "swiglu" => ChannelMixerKind.SwiGlu,
        _ => throw Field(at, $"must be mlp, glu or swiglu, got '{s}'"),
    };

    private static void CheckFields(JsonObject o, string[] known, string prefix)
    {
        foreach (var (key, _) in o)
            if (!known.Contains(key))
                throw Field(prefix + key, $"is not a known field; expected one of {string.Join(", ", known)}");
    }

    private static ArgumentException Field(string at, string message) => new($"model field '{at}' {message}.", "model");

    private static int? Int(JsonObject o, string key, string at, bool required = false)
    {
        if (o[key] is null) return required ? throw Field(at, "is required") : null;
        if (o[key] is JsonValue v && v.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        if (o[key] is JsonValue w && w.TryGetValue<int>(out var i)) return i;
        throw Field(at, $"must be an integer, got {o[key]!.ToJsonString()}");
    }

    private static double? Double(JsonObject o, string key, string at)
    {
        if (o[key] is null) return null;
        if (o[key] is JsonValue v && v.TryGetValue<double>(out var d)) return d;
        throw Field(at, $"must be a number, got {o[key]!.ToJsonString()}");
    }

    private static bool? Bool(JsonObject o, string key, string at)
    {
        if (o[key] is null) return null;
        if (o[key] is JsonValue v && v.TryGetValue<bool>(out var b)) return b;
        throw Field(at, $"must be true or false, got {o[key]!.ToJsonString()}");
    }

    private static string? Str(JsonObject o, string key, string at)
    {
        if (o[key] is null) return null;
        if (o[key] is JsonValue v && v.TryGetValue<string>(out var s)) return s;
        throw Field(at, $"must be a string, got {o[key]!.ToJsonString()}");
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"width {Width}, {Blocks.Count} blocks");
}
