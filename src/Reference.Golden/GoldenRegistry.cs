using Reference.Golden.Ops;
using Reference.Operators;

namespace Reference.Golden;

/// <summary>
/// Every op with golden cases: the kernels below the operators (Ops/*.cs, listed here) and every
/// registered operator (<see cref="OperatorRegistry"/>, whose descriptors carry their cases).
/// </summary>
public static class GoldenRegistry
{
    public static IReadOnlyList<GoldenOp> Ops { get; } =
    [
        GemmGolden.Op,
        FourierGolden.Fft,
        FourierGolden.CausalConv,
        KernelGolden.Softmax,
        KernelGolden.LogSoftmax,
        KernelGolden.LayerNorm,
        KernelGolden.RmsNorm,
        .. KernelGolden.Activations,
        .. EssGolden.All,
        .. OperatorRegistry.All.Where(d => d.Cases.Count > 0).Select(GoldenOp.From),
    ];

    public static GoldenOp? Find(string name) => Ops.FirstOrDefault(o => o.Name == name);
}
