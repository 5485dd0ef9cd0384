using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.SpecTests.Core;

/// <summary>
/// A batched causal-convolution case (S sequences of C x L, kernels C x Lk shared by the sequences) with
/// the float64 definitions applied sequence by sequence: y and du per sequence, dk summed over the
/// sequences in order. The independent reference of every batched convolution route (FFT, direct).
/// </summary>
public sealed record BatchedConvolutionCase(double[] U, double[] Dy, double[] K, double[] Y, double[] Du, double[] Dk)
{
    public static BatchedConvolutionCase Draw(ulong seed, int sequences, int channels, int length, int kernelLength)
    {
        var rng = new SplitMix64(seed);
        int slab = channels * length;
        var u = new double[sequences * slab];
        var dy = new double[sequences * slab];
        var k = new double[channels * kernelLength];
        rng.FillNormal<double>(u);
        rng.FillNormal<double>(dy);
        rng.FillNormal<double>(k);
        var y = new double[u.Length];
        var du = new double[u.Length];
        var dk = new double[k.Length];
        var dkOne = new double[k.Length];
        for (int s = 0; s < sequences; s++)
        {
            FftConvolution.NaiveCausal(u.AsSpan(s * slab, slab), k, y.AsSpan(s * slab, slab), channels, length, kernelLength);
            FftConvolution.NaiveCausalBackward(dy.AsSpan(s * slab, slab), u.AsSpan(s * slab, slab), k, du.AsSpan(s * slab, slab), dkOne,
                channels, length, kernelLength);
            for (int i = 0; i < dk.Length; i++) dk[i] += dkOne[i];
        }
        return new BatchedConvolutionCase(u, dy, k, y, du, dk);
    }
}
