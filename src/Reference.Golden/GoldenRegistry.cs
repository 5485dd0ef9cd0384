using Reference.Golden.Ops;

namespace Reference.Golden;

/// <summary>Every op with golden cases. To add one: write Ops/YourOpGolden.cs with a <see cref="GoldenOp"/> and add it here.</summary>
public static class GoldenRegistry
{
    public static IReadOnlyList<GoldenOp> Ops { get; } =
    [
        GemmGolden.Op,
        FourierGolden.Fft,
        FourierGolden.CausalConv,
        LongConvolutionGolden.LongConv,
        LongConvolutionGolden.HyenaOp,
        KernelGolden.Softmax,
        KernelGolden.LogSoftmax,
        KernelGolden.LayerNorm,
        KernelGolden.RmsNorm,
        .. KernelGolden.Activations,
        .. AttentionGolden.All,
        ConvolutionGolden.Causal,
        ConvolutionGolden.Bidirectional,
        ConvolutionGolden.S4DLayer,
        .. StateSpaceGolden.All,
        .. EssGolden.All,
    ];

    public static GoldenOp? Find(string name) => Ops.FirstOrDefault(o => o.Name == name);
}
