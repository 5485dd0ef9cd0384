using System.Numerics;
using Reference.Core;
using Reference.Core.Fourier;

namespace Reference.SpecTests.Core;

/// <summary>
/// The pruned transforms of the zero-padded convolution (PowerOfTwoFft.ForwardPruned: a first pass that does not read an
/// upper half of zeros, a leaf pass that writes only the lower half of the spectrum; RealFftPlan's forward of at most n/2
/// samples and inverse to at most n/2 samples, which use them): the same values as the full transforms, and MathNet's FFT
/// and the direct convolution sum as independent references. Lengths cover a radix-2 first pass (odd level count), a
/// radix-4 first pass, the Vector512 spans and the short path without a leaf pass.
/// </summary>
[Trait("Category", "IsaParity")]
public class FourierPruningTests
{
    private static readonly int[] Lengths = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

    /// <summary>x with its upper half zero; the pruned forward (with and without the lower-half leaf) equals the full one element by element.</summary>
    [Fact]
    public void Property_PrunedComplexForward_EqualsFullTransform_BothPrecisions()
    {
        foreach (int n in Lengths)
        {
            var (re, im) = FourierData.Random(n, 7 * n);
            re.AsSpan(n / 2).Clear();
            im.AsSpan(n / 2).Clear();
            CheckPruned(n, re, im);
            CheckPruned(n, FourierData.ToFloat(re), FourierData.ToFloat(im));
        }
    }

    private static void CheckPruned<T>(int n, T[] re, T[] im) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (fullRe, fullIm) = ((T[])re.Clone(), (T[])im.Clone());
        new PowerOfTwoFft<T>(n).Forward(fullRe, fullIm);
        foreach (bool vectors in (bool[])[true, false])
        {
            var plan = new PowerOfTwoFft<T>(n, vectors);
            foreach (var (zero, lower) in ((bool, bool)[])[(true, false), (false, true), (true, true)])
            {
                var (pr, pi) = ((T[])re.Clone(), (T[])im.Clone());
                plan.ForwardPruned(pr, pi, zero, lower);
                int wanted = lower ? n / 2 : n;
                for (int k = 0; k < wanted; k++)
                {
                    // == : the same value (a zero result may differ in sign only: -0 + 0 is +0).
                    Assert.True(pr[k] == fullRe[k] && pi[k] == fullIm[k],
                        $"{typeof(T).Name} n = {n}, vectors = {vectors}, upperHalfZero = {zero}, lowerHalfOnly = {lower}: bin {k} is ({pr[k]}, {pi[k]}), full transform ({fullRe[k]}, {fullIm[k]})");
                }
            }
        }
    }

    [Fact]
    public void Golden_PrunedComplexForward_MatchesMathNet()
    {
        foreach (int n in Lengths)
        {
            var (re, im) = FourierData.Random(n, 11 * n);
            re.AsSpan(n / 2).Clear();
            im.AsSpan(n / 2).Clear();
            var z = FourierData.ToComplex(re, im);
            MathNet.Numerics.IntegralTransforms.Fourier.Forward(z, MathNet.Numerics.IntegralTransforms.FourierOptions.Matlab);
            new PowerOfTwoFft<double>(n).ForwardPruned(re, im, upperHalfZero: true, lowerHalfOnly: true);
            double err = Metrics.RelativeError(FourierData.Flatten(z.AsSpan(0, n / 2)),
                FourierData.Flatten<double>(re.AsSpan(0, n / 2).ToArray(), im.AsSpan(0, n / 2).ToArray()));
            Assert.True(err <= 1e-13, $"n = {n}: relative error {err:E2}");
        }
    }

    /// <summary>The real transforms as the convolution calls them: forward of n/2 samples zero-padded to n, inverse to n/2 samples.</summary>
    [Fact]
    public void Golden_ZeroPaddedRealForward_AndHalfInverse_MatchMathNet()
    {
        foreach (int n in (int[])[4, 8, 16, 64, 128, 512, 1024, 2048, 8192])
        {
            var rng = new SplitMix64((ulong)n);
            var x = new double[n / 2];
            rng.FillNormal<double>(x);
            var plan = new RealFftPlan<double>(n);
            var re = new double[n];
            var im = new double[n];
            plan.ForwardCore(x, re, im);
            var z = new System.Numerics.Complex[n];
            for (int j = 0; j < x.Length; j++) z[j] = x[j];
            MathNet.Numerics.IntegralTransforms.Fourier.Forward(z, MathNet.Numerics.IntegralTransforms.FourierOptions.Matlab);
            int bins = n / 2 + 1;
            double err = Metrics.RelativeError(FourierData.Flatten(z.AsSpan(0, bins)),
                FourierData.Flatten<double>(re.AsSpan(0, bins).ToArray(), im.AsSpan(0, bins).ToArray()));
            Assert.True(err <= 1e-13, $"forward, n = {n}: relative error {err:E2}");

            // Inverse of a spectrum that is not of a zero-padded signal (every bin random, Hermitian read), first n/2 samples.
            var spectrumRe = new double[n];
            var spectrumIm = new double[n];
            rng.FillNormal<double>(spectrumRe.AsSpan(0, bins));
            rng.FillNormal<double>(spectrumIm.AsSpan(0, bins));
            var full = new System.Numerics.Complex[n];
            for (int k = 0; k < bins; k++)
            {
                double imaginary = k == 0 || k == n / 2 ? 0 : spectrumIm[k];
                full[k] = new System.Numerics.Complex(spectrumRe[k], imaginary);
                if (k > 0 && k < n / 2) full[n - k] = System.Numerics.Complex.Conjugate(full[k]);
            }
            MathNet.Numerics.IntegralTransforms.Fourier.Inverse(full, MathNet.Numerics.IntegralTransforms.FourierOptions.Matlab);
            var half = new double[n / 2];
            plan.InverseDestructive(spectrumRe, spectrumIm, half);
            var expected = full.AsSpan(0, n / 2).ToArray().Select(c => c.Real).ToArray();
            double inverseErr = Metrics.RelativeError(expected, half);
            Assert.True(inverseErr <= 1e-13, $"inverse, n = {n}: relative error {inverseErr:E2}");
        }
    }

    /// <summary>The convolution's shape (kernel of L taps, FFT size 2L: both prunings) against the direct sum, both precisions, batched too.</summary>
    [Fact]
    public void Property_FullLengthKernels_MatchDirectSum()
    {
        foreach (int length in (int[])[33, 64, 100, 128, 256, 1000, 1024])
        {
            const int channels = 3, sequences = 2;
            var rng = new SplitMix64((ulong)length);
            var u = new double[sequences * channels * length];
            var k = new double[channels * length];
            rng.FillNormal<double>(u);
            rng.FillNormal<double>(k);
            var expected = new double[u.Length];
            for (int s = 0; s < sequences; s++)
                FftConvolution.NaiveCausal(u.AsSpan(s * channels * length, channels * length), k,
                    expected.AsSpan(s * channels * length, channels * length), channels, length, length);
            var actual = new double[u.Length];
            FftConvolution.CausalBatched<double>(u, k, actual, sequences, channels, length, length);
            Assert.True(Metrics.RelativeError(expected, actual) <= 1e-12, $"float64 L = {length}: {Metrics.RelativeError(expected, actual):E2}");
            var uf = FourierData.ToFloat(u);
            var kf = FourierData.ToFloat(k);
            var expectedF = new double[channels * length];
            FftConvolution.NaiveCausal(FourierData.ToDouble(uf).AsSpan(0, channels * length), FourierData.ToDouble(kf), expectedF, channels, length, length);
            var actualF = new float[channels * length];
            FftConvolution.Causal<float>(uf.AsSpan(0, channels * length), kf, actualF, channels, length, length);
            Assert.True(Metrics.RelativeError(expectedF, actualF) <= 1e-5, $"float32 L = {length}: {Metrics.RelativeError(expectedF, actualF):E2}");
        }
    }
}
