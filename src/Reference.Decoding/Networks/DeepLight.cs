using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;

namespace Reference.Decoding.Networks;

/// <summary>
/// 3D-DeepLight (Thomas, Müller and Samek, "Evaluating deep transfer learning for whole-brain
/// cognitive decoding", arXiv:2111.01562; the released Keras architecture): twelve 3 x 3 x 3
/// convolutions with TensorFlow "same" padding, channels 8, 8, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128,
/// stride 2 at layers 3, 5, 7, 9 and 11 (the first of each pair after the first two), each followed by
/// ReLU, SpatialDropout3D(p) and BatchNormalization (Keras order; Keras momentum 0.99 = PyTorch
/// momentum 0.01, eps 1e-3); then a 1 x 1 x 1 convolution to the classes, ReLU, SpatialDropout3D and
/// global average pooling. x [N, 1, D, H, W] -> logits [N, classes].
/// Init as Keras: glorot (Xavier) uniform kernels, zero biases.
/// At a small volume (20 x 24 x 20) the five stride-2 layers reduce every axis to 1.
/// </summary>
public sealed class DeepLight3d : Layer
{
    public static readonly int[] Channels = [8, 8, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128];
    public static readonly int[] Strides = [1, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1];

    public DeepLight3d(int classes, SplitMix64 rng, double dropout = 0.2, ulong seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        ArgumentNullException.ThrowIfNull(rng);
        Classes = classes;
        var layers = new List<Layer>();
        int inCh = 1;
        for (int i = 0; i < Channels.Length; i++)
        {
            int s = Strides[i];
            layers.AddRange([
                KerasConv(inCh, Channels[i], [3, 3, 3], [s, s, s], rng),
                new Activation(ActivationKind.Relu),
                new Dropout3d(dropout, seed + (ulong)i),
                new BatchNorm(Channels[i], eps: 1e-3, momentum: 0.01)]);
            inCh = Channels[i];
        }
        layers.AddRange([
            KerasConv(inCh, classes, [1, 1, 1], [1, 1, 1], rng),
            new Activation(ActivationKind.Relu),
            new Dropout3d(dropout, seed + (ulong)Channels.Length),
            new GlobalPool(max: false)]);
        Body = RegisterModule("model", new Sequential([.. layers]));
    }

    public int Classes { get; }
    public Sequential Body { get; }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 5 || x.Shape[1] != 1) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, 1, D, H, W].", nameof(x));
        return Body.Forward(x);
    }

    /// <summary>A "same"-padded convolution with Keras' glorot-uniform kernel and zero bias.</summary>
    internal static Conv3d KerasConv(int inCh, int outCh, int[] kernel, int[] stride, SplitMix64 rng, bool normal = false)
    {
        var conv = new Conv3d(inCh, outCh, kernel, rng, stride, samePadding: true);
        int[] shape = [outCh, inCh, .. kernel];
        (normal ? Init.XavierNormal(rng, 1.0, shape) : Init.XavierUniform(rng, 1.0, shape)).Data.CopyTo(conv.Weight.Value.Data, 0);
        Array.Clear(conv.Bias!.Value.Data);
        return conv;
    }
}

/// <summary>
/// 2D-DeepLight (same sources): every axial slice of the volume goes through one shared 2-D CNN
/// (twelve 3 x 3 convolutions, "same" padding, channels 8, 8, 16, 16, 32, 32, 32, 32, 64, 64, 64, 64,
/// stride 2 at layers 3, 5, 7, 9, 11, ReLU, dropout of whole channels per slice, Glorot-normal kernels),
/// the per-slice feature vectors form a sequence over the slices, a bidirectional LSTM (hidden 64,
/// forget bias 1, Glorot-normal weights, zero biases) reads it, and a Linear maps the concatenated
/// final states [h_fwd(last slice), h_bwd(first slice)] to the class logits.
/// x [N, 1, D, H, W] (D slices of H x W) -> logits [N, classes].
/// The 2-D convolutions are <see cref="Conv3d"/> with kernel 1 x 3 x 3 and stride 1 x s x s, which
/// applies the same 2-D filter to every slice independently. The released LSTM orders its gates
/// (i, j, f, o) and adds the forget bias inside the cell; PyTorch's order (i, f, g, o) with the bias
/// folded into b_ih is the same function family.
/// </summary>
public sealed class DeepLight2d : Layer
{
    public static readonly int[] Channels = [8, 8, 16, 16, 32, 32, 32, 32, 64, 64, 64, 64];
    public static readonly int[] Strides = [1, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1];

    public DeepLight2d(int[] volume, int classes, SplitMix64 rng, double convDropout = 0.0, double dropout = 0.0, int hidden = 64, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(volume);
        if (volume.Length != 3 || volume.Any(s => s < 1)) throw new ArgumentException($"volume is [{string.Join(", ", volume)}], expected [D, H, W] >= 1.", nameof(volume));
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        ArgumentNullException.ThrowIfNull(rng);
        Volume = volume;
        Classes = classes;
        var layers = new List<Layer>();
        int inCh = 1, h = volume[1], w = volume[2];
        for (int i = 0; i < Channels.Length; i++)
        {
            int s = Strides[i];
            layers.AddRange([
                DeepLight3d.KerasConv(inCh, Channels[i], [1, 3, 3], [1, s, s], rng, normal: true),
                new Activation(ActivationKind.Relu),
                new SliceDropout(convDropout, seed + (ulong)i)]);
            inCh = Channels[i];
            h = (h + s - 1) / s;
            w = (w + s - 1) / s;
        }
        SliceFeatures = inCh * h * w;
        Cnn = RegisterModule("cnn", new Sequential([.. layers]));
        Lstm = RegisterModule("lstm", new BidirectionalLstm(SliceFeatures, hidden, rng, forgetBias: 1.0));
        foreach (var layer in new[] { Lstm.ForwardLayer, Lstm.ReverseLayer })
        {
            Init.XavierNormal(rng, 1.0, 4 * hidden, SliceFeatures).Data.CopyTo(layer.WeightIh.Value.Data, 0);
            Init.XavierNormal(rng, 1.0, 4 * hidden, hidden).Data.CopyTo(layer.WeightHh.Value.Data, 0);
            Array.Clear(layer.BiasIh.Value.Data);
            Array.Clear(layer.BiasHh.Value.Data);
            for (int j = 0; j < hidden; j++) layer.BiasIh.Value.Data[hidden + j] = 1.0;
        }
        Drop = RegisterModule("drop", new Dropout(dropout, seed + 100));
        Head = RegisterModule("head", new Reference.Autodiff.Nn.Linear(2 * hidden, classes, rng));
        Init.XavierNormal(rng, 1.0, classes, 2 * hidden).Data.CopyTo(Head.Weight.Value.Data, 0);
        Array.Clear(Head.Bias!.Value.Data);
    }

    public int[] Volume { get; }
    public int Classes { get; }

    /// <summary>Length of one slice's feature vector (64 x final slice height x width).</summary>
    public int SliceFeatures { get; }

    public Sequential Cnn { get; }
    public BidirectionalLstm Lstm { get; }
    public Dropout Drop { get; }
    public Reference.Autodiff.Nn.Linear Head { get; }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 5 || x.Shape[1] != 1 || !x.Shape[2..].SequenceEqual(Volume))
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, 1, {string.Join(", ", Volume)}].", nameof(x));
        int n = x.Shape[0], slices = Volume[0];
        var f = Cnn.Forward(x);                                                   // [N, 64, D, h, w]
        var seq = Ops.Reshape(Ops.Permute(f, 0, 2, 1, 3, 4), n, slices, SliceFeatures);
        return Head.Forward(Drop.Forward(Lstm.FinalStates(seq)));
    }

    /// <summary>Dropout of whole channels per slice ([N, C, D, H, W]: one draw per (n, c, d)), the released noise shape [N D, 1, 1, C].</summary>
    private sealed class SliceDropout(double p, ulong seed) : Layer
    {
        private readonly SplitMix64 rng = new(seed);

        public override Variable Forward(Variable x)
        {
            if (!Training || p == 0) return x;
            var shape = x.Value.ShapeArray;
            var rows = Ops.Reshape(x, shape[0] * shape[1], shape[2], shape[3] * shape[4]);
            return Ops.Reshape(Ops.Dropout3d(rows, p, rng), shape);
        }
    }
}
