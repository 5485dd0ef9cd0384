// Decoding with the sequence model: class logits = Linear(pooled CLS summary) [B, C], trained by
// cross-entropy (NeuralTraining), from a random initialization or from a pre-trained snapshot
// (fine-tuning). Freezing (the official code's freeze options, in spirit):
//   none       every parameter trains;
//   embedder   the embedder (input projection, its norm, time table, mask/CLS embeddings) is frozen;
//   backbone   embedder and backbone are frozen: only the pooler and the class head train (a probe).
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Models;

namespace Reference.Decoding;

public sealed class SequenceDecoder : Decoder
{
    public static readonly string[] FreezeOptions = ["none", "embedder", "backbone"];

    public SequenceDecoder(string name, ModelSpec backbone, NeuralSettings settings, string freeze = "none", string architecture = "liv", int heads = 4) : base(name)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (!FreezeOptions.Contains(freeze)) throw new ArgumentException($"freeze '{freeze}'; expected one of {string.Join(", ", FreezeOptions)}.", nameof(freeze));
        Backbone = backbone;
        Settings = settings;
        Freeze = freeze;
        if (!SequenceModel.Architectures.Contains(architecture)) throw new ArgumentException($"architecture '{architecture}'; expected one of {string.Join(", ", SequenceModel.Architectures)}.", nameof(architecture));
        (Architecture, Heads) = (architecture, heads);
    }

    /// <summary>liv (blocks of registered operators), gpt2, bert or lstm.</summary>
    public string Architecture { get; }
    public int Heads { get; }

    public ModelSpec Backbone { get; }
    public NeuralSettings Settings { get; }
    public string Freeze { get; }

    /// <summary>Parameters of a pre-trained model of the same architecture to start from (null: from scratch).</summary>
    public IReadOnlyDictionary<string, double[]>? Pretrained { get; set; }

    public override string Kind => "sequence";

    /// <summary>The model of this decoder for a data set (seeded; the pre-trained values copied in).</summary>
    public SequenceModel CreateModel(DecodingSet data, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        var model = new SequenceModel(data.Parcels, Backbone, data.Window, seed, Architecture, Heads);
        if (Pretrained is not null) model.Load(Pretrained);
        return model;
    }

    public override IFittedDecoder Fit(DecodingSet data, int[] train, int[] validation, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        var classifier = new Classifier(CreateModel(data, seed + 101), data.Classes, new SplitMix64(seed + 202));
        var frozen = new HashSet<Variable>(Freeze switch
        {
            "embedder" => classifier.Model.EmbedderParameters(),
            "backbone" => classifier.Model.EmbedderParameters().Concat(classifier.Model.BackboneParameters()),
            _ => [],
        });
        var trainable = classifier.Parameters().Where(p => !frozen.Contains(p)).ToArray();
        LogitsFunction logits = (samples, rng) => classifier.Logits(data, samples, rng, Settings.Dropout);
        NeuralTraining.Fit(classifier, trainable, logits, data, train, validation, Settings, seed);
        return new Fitted(classifier, Settings.Dropout);
    }

    /// <summary>Sequence model + class head.</summary>
    public sealed class Classifier : Module
    {
        public Classifier(SequenceModel model, int classes, SplitMix64 rng)
        {
            Model = RegisterModule("model", model);
            Head = RegisterModule("head", new Linear(model.Width, classes, rng));
        }

        public SequenceModel Model { get; }
        public Linear Head { get; }

        public Variable Logits(DecodingSet data, int[] samples, SplitMix64? dropout, double p)
        {
            var x = NeuralTraining.Windows(data, samples);
            var hidden = Model.Hidden(x, SequenceModel.RepeatTimes(data.Times, samples.Length), dropout, p);
            return Head.Forward(Model.Pool(hidden));
        }
    }

    private sealed class Fitted(Classifier classifier, double p) : IFittedDecoder
    {
        public int[] Predict(DecodingSet data, int[] samples) => NeuralTraining.Predict((s, _) => classifier.Logits(data, s, null, p), samples);
    }
}
