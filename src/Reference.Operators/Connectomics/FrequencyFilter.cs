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
// Simplifications: hypercoil's atanh amplitude parameterization and filtfilt are not offered.
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
