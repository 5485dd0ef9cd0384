// The volumetric deep decoders on trial z maps placed back into the lattice, x [N, 1, Nz, Ny, Nx]
// (zeros outside the mask): the 3D-CNN of the interpretation benchmark (Networks/Cnn3dDecoder.cs)
// and DeepLight, 3D and 2D slices + bidirectional LSTM (Networks/DeepLight.cs). Trained as every
// tape-based decoder (NeuralTraining: AdamW on the cross-entropy, early stopping on the validation
// subjects, BatchNorm running statistics restored with the parameters of the best epoch).
using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;
using Reference.Decoding.Networks;

namespace Reference.Decoding;

/// <summary>Architecture settings of a volumetric decoder (filters, kernel and blocks are the 3D-CNN's; hidden is DeepLight-2D's LSTM width).</summary>
public sealed record VolumeSettings(int Filters = 8, int Kernel = 3, int HiddenLayers = 4, int Hidden = 64)
{
    public void Validate()
    {
        if (Filters < 1) throw new ArgumentException($"filters = {Filters}; expected >= 1.", "filters");
        if (Kernel < 1) throw new ArgumentException($"kernel = {Kernel}; expected >= 1.", "kernel");
        if (HiddenLayers < 1) throw new ArgumentException($"hidden_layers = {HiddenLayers}; expected >= 1.", "hidden_layers");
        if (Hidden < 1) throw new ArgumentException($"hidden = {Hidden}; expected >= 1.", "hidden");
    }
}

public sealed class VolumeDecoder : Decoder
{
    public static readonly string[] VolumeKinds = ["cnn3d", "deeplight3d", "deeplight2d"];

    public VolumeDecoder(string name, string kind, NeuralSettings settings, VolumeSettings? architecture = null) : base(name)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!VolumeKinds.Contains(kind)) throw new ArgumentException($"kind '{kind}'; expected one of {string.Join(", ", VolumeKinds)}.", nameof(kind));
        settings.Validate();
        Architecture = architecture ?? new VolumeSettings();
        Architecture.Validate();
        (VolumeKind, Settings) = (kind, settings);
    }

    public string VolumeKind { get; }
    public NeuralSettings Settings { get; }
    public VolumeSettings Architecture { get; }

    public override string Kind => VolumeKind;

    /// <summary>The untrained network of this decoder for a data set's lattice (seeded).</summary>
    public Layer CreateModel(DecodingSet data, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!data.HasMaps) throw new ArgumentException($"{VolumeKind} needs trial maps; the data has no voxel lattice (or maps are off).", "kind");
        var rng = new SplitMix64(seed);
        return VolumeKind switch
        {
            "cnn3d" => new Cnn3dDecoder([1, .. data.Lattice], data.Classes, rng, Architecture.Filters, Architecture.Kernel, Architecture.HiddenLayers, Settings.Dropout, seed + 1),
            "deeplight3d" => new DeepLight3d(data.Classes, rng, Settings.Dropout, seed + 1),
            _ => new DeepLight2d(data.Lattice, data.Classes, rng, Settings.Dropout, Settings.Dropout, Architecture.Hidden, seed + 1),
        };
    }

    public override IFittedDecoder Fit(DecodingSet data, int[] train, int[] validation, ulong seed)
    {
        var model = CreateModel(data, seed + 31);
        LogitsFunction logits = (samples, _) => model.Forward(Variable.Constant(data.Volumes(samples)));
        NeuralTraining.Fit(model, model.Parameters(), logits, data, train, validation, Settings, seed);
        return new Fitted(model);
    }

    private sealed class Fitted(Layer model) : IFittedDecoder
    {
        public int[] Predict(DecodingSet data, int[] samples) =>
            NeuralTraining.Predict((s, _) => model.Forward(Variable.Constant(data.Volumes(s))), samples, batch: 32);
    }
}
