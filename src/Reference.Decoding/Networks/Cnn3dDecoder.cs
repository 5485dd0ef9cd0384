using Reference.Autodiff;
using Reference.Autodiff.Nn;
using Reference.Core;

namespace Reference.Decoding.Networks;

/// <summary>
/// The 3D-CNN decoder of the interpretation benchmark (Thomas, Ré and Poldrack, "Benchmarking
/// explanation methods for mental state decoding with deep learning models", arXiv:2205.15581;
/// its CNNModel): blocks of Conv3d(k, stride 2, no padding) -> BatchNorm3d -> ReLU -> Dropout3d(p),
/// then Flatten and one Linear to the class logits.
/// x [N, C_in, D, H, W] -> logits [N, classes].
/// <para>Depth rule (as the released model): up to <c>hiddenLayers</c> blocks are added while every
/// spatial size is at least the kernel; each block maps a size s to (s - k) / 2 + 1. At 20 x 24 x 20
/// with k = 3 that is 20 x 24 x 20 -> 9 x 11 x 9 -> 4 x 5 x 4 -> 1 x 2 x 1, three blocks (the fourth
/// would need sizes >= 3).</para>
/// Parameters: block 1 F (C_in k^3 + 1) + 2F, later blocks F (F k^3 + 1) + 2F, head
/// (F prod(final size)) classes + classes. PyTorch's default inits (nn.Conv3d, nn.Linear,
/// nn.BatchNorm3d: weight 1, bias 0, momentum 0.1, eps 1e-5).
/// </summary>
public sealed class Cnn3dDecoder : Layer
{
    public Cnn3dDecoder(int[] inputShape, int classes, SplitMix64 rng, int filters = 8, int kernel = 3, int hiddenLayers = 4,
        double dropout = 0.1, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentNullException.ThrowIfNull(rng);
        if (inputShape.Length != 4 || inputShape.Any(s => s < 1))
            throw new ArgumentException($"inputShape is [{string.Join(", ", inputShape)}], expected [C, D, H, W] with every size >= 1.", nameof(inputShape));
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(filters);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernel);
        InputShape = inputShape;
        Classes = classes;
        var size = inputShape[1..].ToArray();
        var layers = new List<Layer>();
        var convs = new List<Conv3d>();
        for (int i = 0; i < hiddenLayers && size.All(s => s >= kernel); i++)
        {
            var conv = new Conv3d(i == 0 ? inputShape[0] : filters, filters, kernel, rng, stride: Stride);
            convs.Add(conv);
            layers.AddRange([conv, new BatchNorm(filters), new Activation(ActivationKind.Relu), new Dropout3d(dropout, seed + (ulong)i)]);
            size = size.Select(s => (s - kernel) / Stride + 1).ToArray();
        }
        if (convs.Count == 0)
            throw new ArgumentException($"inputShape [{string.Join(", ", inputShape)}] is smaller than the kernel {kernel}: no convolution fits.", nameof(inputShape));
        FinalSize = size;
        int features = filters * size.Aggregate(1, (a, b) => a * b);
        Head = new Reference.Autodiff.Nn.Linear(features, classes, rng);
        layers.AddRange([new Flatten(), Head]);
        Convolutions = convs;
        Body = RegisterModule("model", new Sequential([.. layers]));
    }

    public const int Stride = 2;

    public int[] InputShape { get; }
    public int Classes { get; }

    /// <summary>Spatial size after the last block.</summary>
    public int[] FinalSize { get; }

    public IReadOnlyList<Conv3d> Convolutions { get; }
    public Reference.Autodiff.Nn.Linear Head { get; }
    public Sequential Body { get; }

    /// <summary>
    /// Multiply-add flops (2 per multiply-add) of the convolutions and the head in one training step
    /// on <paramref name="batch"/> samples: forward, weight gradient, and input gradient for every
    /// layer but the first (the data needs none); each is 2 N P Cout (Cin k^3) for a convolution with
    /// P output voxels and 2 N in out for the head. BatchNorm, ReLU and dropout are O(N C P) and not counted.
    /// </summary>
    public long TrainingFlops(int batch)
    {
        long flops = 0;
        var size = InputShape[1..].ToArray();
        for (int i = 0; i < Convolutions.Count; i++)
        {
            var conv = Convolutions[i];
            int k = conv.Kernel[0];
            size = size.Select(s => (s - k) / Stride + 1).ToArray();
            long p = (long)size[0] * size[1] * size[2];
            long one = 2L * batch * p * conv.Weight.Shape[0] * (conv.Weight.Length / conv.Weight.Shape[0]);
            flops += one * (i == 0 ? 2 : 3);
        }
        return flops + 3 * 2L * batch * Head.InFeatures * Head.OutFeatures;
    }

    public override Variable Forward(Variable x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 5 || !x.Shape[1..].SequenceEqual(InputShape))
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [N, {string.Join(", ", InputShape)}].", nameof(x));
        // Body's layers in order; in training mode under the Fast tier each block's BatchNorm -> ReLU -> Dropout3d is one primitive.
        return FusedBlocks.Forward(Body.Layers, x);
    }
}
