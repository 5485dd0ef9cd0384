// Frequency-domain product filter of differentiable connectomics.
// Paper: Ciric et al. (arXiv:2206.00649), section 2 (temporal filtering); hypercoil's
// functional/fourier.py (product_filter: irfft(w * rfft(x), n = T)) and init/freqfilter.py (ideal masks).
//
// Glossary: x [..., T] series, transfer function w = re + i im [K], K = T/2 + 1 (rfft bins),
// theta = 2 pi / T, c_k = 1 for k = 0 and (T even) k = T/2, else 2.
//   y = irfft(w o rfft(x), T)   (numpy's irfft ignores the imaginary parts of bins 0 and T/2)
// Direct form (the definition here): a circular convolution with the real kernel
//   h[m] = (1/T) sum_k c_k (re_k cos(theta k m) - im_k sin(theta k m)),   y_t = sum_s x_s h[(t - s) mod T]
// which equals the FFT route exactly in real arithmetic (tests compare it with MathNet's FFT).
// Ideal band mask: re_k = 1 when low <= f_k <= high (f_k = k / (T dt) Hz), else 0; im = 0.
// Amplitude-atanh form (hypercoil's default domain for a learned filter, init/mapparam.py
// AmplitudeTanhMappedParameter): the learned parameter is the preimage p = re + i im and the transfer
// function is its image w = tanh(|p|) p / |p| (amplitude squashed into [0, 1), phase kept; w = 0 at p = 0),
// so no learned bin can amplify. With r = |p|, g(r) = tanh(r) / r and h(r) = g'(r) / r:
//   w = g p,   dw/dp = g I + h p p^T   (a symmetric 2 x 2 Jacobian per bin).
// Simplification: filtfilt (the zero-phase forward-backward pass) is not offered.
using Reference.Core;

namespace Reference.Operators.Connectomics;

/// <summary>Gradients of the product filter: d/dx, d/dre, d/dim.</summary>
public sealed record FrequencyFilterGradients(Tensor<double> X, Tensor<double> Real, Tensor<double> Imaginary);

public static partial class FrequencyFilter
{
    /// <summary>y = irfft(w o rfft(x), T) along the last axis of x [..., T], w = re + i im [T/2 + 1].</summary>
    public static Tensor<double> Forward(Tensor<double> x, Tensor<double> re, Tensor<double> im)
    {
        int t = Check(x, re, im);
        var h = Kernel(re, im, t);
        var y = Tensor<double>.Zeros(x.ShapeArray);
        for (int r = 0; r < x.Length / t; r++)
            for (int i = 0; i < t; i++)
            {
                double acc = 0;
                for (int s = 0; s < t; s++) acc += x.Data[r * t + s] * h[((i - s) % t + t) % t];
                y.Data[r * t + i] = acc;
            }
        return y;
    }

    /// <summary>
    /// Backward (G = dL/dy). The map is linear in x with kernel h, so dL/dx_s = sum_t G_t h[(t - s) mod T]
    /// (circular correlation). With rho[m] = sum over rows and s of G_{(s + m) mod T} x_s:
    /// dL/dre_k = (c_k / T) sum_m rho[m] cos(theta k m),  dL/dim_k = -(c_k / T) sum_m rho[m] sin(theta k m)
    /// (zero for the imaginary parts of bins 0 and T/2, which the filter ignores).
    /// </summary>
    public static FrequencyFilterGradients Backward(Tensor<double> x, Tensor<double> re, Tensor<double> im, Tensor<double> g)
    {
        int t = Check(x, re, im);
        var h = Kernel(re, im, t);
        var gx = Tensor<double>.Zeros(x.ShapeArray);
        var rho = new double[t];
        for (int r = 0; r < x.Length / t; r++)
            for (int s = 0; s < t; s++)
            {
                double acc = 0;
                for (int i = 0; i < t; i++)
                {
                    acc += g.Data[r * t + i] * h[((i - s) % t + t) % t];
                    rho[((i - s) % t + t) % t] += g.Data[r * t + i] * x.Data[r * t + s];
                }
                gx.Data[r * t + s] = acc;
            }
        int k = t / 2 + 1;
        var gre = Tensor<double>.Zeros(k);
        var gim = Tensor<double>.Zeros(k);
        for (int f = 0; f < k; f++)
        {
            double c = Weight(f, t) / t, cs = 0, sn = 0;
            for (int m = 0; m < t; m++)
            {
                double phase = 2 * Math.PI * ((long)f * m % t) / t;
                cs += rho[m] * Math.Cos(phase);
                sn += rho[m] * Math.Sin(phase);
            }
            gre.Data[f] = c * cs;
            gim.Data[f] = f == 0 || 2 * f == t ? 0 : -c * sn;
        }
        return new FrequencyFilterGradients(gx, gre, gim);
    }

    /// <summary>The amplitude-atanh image w = tanh(|p|) p / |p| of the preimage p = re + i im [K] (file head).</summary>
    public static (Tensor<double> Re, Tensor<double> Im) AmplitudeTanh(Tensor<double> re, Tensor<double> im)
    {
        CheckPreimage(re, im);
        var wre = Tensor<double>.Zeros(re.ShapeArray);
        var wim = Tensor<double>.Zeros(im.ShapeArray);
        for (int k = 0; k < re.Length; k++)
        {
            var (g, _) = AmplitudeFactors(Math.Sqrt(re.Data[k] * re.Data[k] + im.Data[k] * im.Data[k]));
            wre.Data[k] = g * re.Data[k];
            wim.Data[k] = g * im.Data[k];
        }
        return (wre, wim);
    }

    /// <summary>
    /// Backward of <see cref="AmplitudeTanh"/>: (dL/dre, dL/dim) = J^T (gRe, gIm) with the symmetric J = g I + h p p^T,
    /// i.e. g G + h (p . G) p per bin.
    /// </summary>
    public static (Tensor<double> Re, Tensor<double> Im) AmplitudeTanhBackward(Tensor<double> re, Tensor<double> im, Tensor<double> gRe, Tensor<double> gIm)
    {
        CheckPreimage(re, im);
        var dre = Tensor<double>.Zeros(re.ShapeArray);
        var dim = Tensor<double>.Zeros(im.ShapeArray);
        for (int k = 0; k < re.Length; k++)
        {
            double a = re.Data[k], b = im.Data[k];
            var (g, h) = AmplitudeFactors(Math.Sqrt(a * a + b * b));
            double dot = a * gRe.Data[k] + b * gIm.Data[k];
            dre.Data[k] = g * gRe.Data[k] + h * dot * a;
            dim.Data[k] = g * gIm.Data[k] + h * dot * b;
        }
        return (dre, dim);
    }

    /// <summary>
    /// g(r) = tanh(r) / r and h(r) = g'(r) / r = (r sech^2 r - tanh r) / r^3. Below r = 1e-2 both come from
    /// their Taylor series (tanh r = r - r^3/3 + 2 r^5/15 - 17 r^7/315 + 62 r^9/2835), whose next terms are
    /// ~1e-16 there, because the closed form of h cancels to r^3 and g is 0/0 at r = 0.
    /// </summary>
    private static (double G, double H) AmplitudeFactors(double r)
    {
        double r2 = r * r;
        if (r < 1e-2)
            return (1 + r2 * (-1.0 / 3 + r2 * (2.0 / 15 + r2 * (-17.0 / 315 + r2 * 62.0 / 2835))),
                -2.0 / 3 + r2 * (8.0 / 15 + r2 * (-34.0 / 105 + r2 * 496.0 / 2835)));
        double t = Math.Tanh(r), sech2 = 1 - t * t;
        return (t / r, (r * sech2 - t) / (r2 * r));
    }

    private static void CheckPreimage(Tensor<double> re, Tensor<double> im)
    {
        ArgumentNullException.ThrowIfNull(re);
        ArgumentNullException.ThrowIfNull(im);
        if (re.Rank != 1 || !re.Shape.SequenceEqual(im.Shape))
            throw new ArgumentException($"re {Shapes.Format(re.Shape)} and im {Shapes.Format(im.Shape)} must be one [K] vector each, of equal length.", nameof(im));
    }

    /// <summary>Ideal band-pass transfer function [T/2 + 1]: 1 where low &lt;= k / (T dt) &lt;= high (Hz), else 0.</summary>
    public static Tensor<double> IdealBandMask(int length, double samplingPeriod, double low, double high)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), $"length = {length}; expected >= 1.");
        if (!(samplingPeriod > 0)) throw new ArgumentOutOfRangeException(nameof(samplingPeriod), $"samplingPeriod = {samplingPeriod}; expected > 0 seconds.");
        if (!(low <= high)) throw new ArgumentException($"low = {low} Hz exceeds high = {high} Hz; expected low <= high.", nameof(low));
        var mask = Tensor<double>.Zeros(length / 2 + 1);
        for (int k = 0; k < mask.Length; k++)
        {
            double f = k / (length * samplingPeriod);
            mask.Data[k] = f >= low && f <= high ? 1 : 0;
        }
        return mask;
    }

    /// <summary>h[m] = (1/T) sum_k c_k (re_k cos(theta k m) - im_k sin(theta k m)), phases reduced mod T exactly.</summary>
    private static double[] Kernel(Tensor<double> re, Tensor<double> im, int t)
    {
        var h = new double[t];
        for (int m = 0; m < t; m++)
        {
            double acc = 0;
            for (int k = 0; k < re.Length; k++)
            {
                double phase = 2 * Math.PI * ((long)k * m % t) / t;
                bool realOnly = k == 0 || 2 * k == t;
                acc += Weight(k, t) * (re.Data[k] * Math.Cos(phase) - (realOnly ? 0 : im.Data[k] * Math.Sin(phase)));
            }
            h[m] = acc / t;
        }
        return h;
    }

    private static double Weight(int k, int t) => k == 0 || 2 * k == t ? 1 : 2;

    private static int Check(Tensor<double> x, Tensor<double> re, Tensor<double> im)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(re);
        ArgumentNullException.ThrowIfNull(im);
        if (x.Rank < 1 || x.Dim(-1) < 1) throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}; expected [..., T] with T >= 1.", nameof(x));
        int t = x.Dim(-1), k = t / 2 + 1;
        if (re.Rank != 1 || re.Length != k) throw new ArgumentException($"re has shape {Shapes.Format(re.Shape)}; expected [{k}] (T / 2 + 1 bins for T = {t}).", nameof(re));
        if (im.Rank != 1 || im.Length != k) throw new ArgumentException($"im has shape {Shapes.Format(im.Shape)}; expected [{k}] (T / 2 + 1 bins for T = {t}).", nameof(im));
        return t;
    }
}
