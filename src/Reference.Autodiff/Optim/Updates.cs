namespace Reference.Autodiff.Optim;

/// <summary>
/// The optimizers' update rules as pure functions over spans (param, grad, state), element by
/// element in the order of torch.optim's single-tensor ("foreach = False") implementations, so
/// float64 results match PyTorch's to rounding of the same operations.
/// </summary>
public static class Updates
{
    /// <summary>
    /// SGD (torch.optim.SGD): g = grad + wd p; with momentum mu: buf = g on the first step, else
    /// buf = mu buf + (1 - dampening) g; g = g + mu buf (Nesterov) or buf; p -= lr g.
    /// <paramref name="momentumBuffer"/> is ignored when momentum = 0.
    /// </summary>
    public static void Sgd(Span<double> param, ReadOnlySpan<double> grad, Span<double> momentumBuffer, bool firstStep,
        double lr, double momentum, double dampening, double weightDecay, bool nesterov)
    {
        for (int i = 0; i < param.Length; i++)
        {
            double g = weightDecay != 0 ? grad[i] + weightDecay * param[i] : grad[i];
            if (momentum != 0)
            {
                double buf = firstStep ? g : momentum * momentumBuffer[i] + (1.0 - dampening) * g;
                momentumBuffer[i] = buf;
                g = nesterov ? g + momentum * buf : buf;
            }
            param[i] -= lr * g;
        }
    }

    /// <summary>
    /// Adam (Kingma and Ba 2015, Algorithm 1, as torch.optim.Adam / AdamW with amsgrad = False) at
    /// step t >= 1 (counted after increment):
    ///   decoupled (AdamW): p = p (1 - lr wd);  else (Adam, L2): g = grad + wd p
    ///   m = lerp(m, g, 1 - beta1)            (torch's lerp: m + w (g - m) for w &lt; 0.5, else g - (g - m)(1 - w))
    ///   v = beta2 v + (1 - beta2) g^2
    ///   step_size = lr / (1 - beta1^t);  denom = sqrt(v) / sqrt(1 - beta2^t) + eps
    ///   p = p - step_size m / denom
    /// Note eps is added after the bias correction of sqrt(v), as PyTorch (not the paper's eps-hat).
    /// </summary>
    public static void Adam(Span<double> param, ReadOnlySpan<double> grad, Span<double> expAvg, Span<double> expAvgSq, long step,
        double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled)
    {
        double biasCorrection1 = 1.0 - Math.Pow(beta1, step);
        double biasCorrection2 = 1.0 - Math.Pow(beta2, step);
        double stepSize = lr / biasCorrection1;
        double biasCorrection2Sqrt = Math.Sqrt(biasCorrection2);
        double w = 1.0 - beta1;
        for (int i = 0; i < param.Length; i++)
        {
            double g = grad[i];
            if (decoupled) param[i] *= 1.0 - lr * weightDecay;
            else if (weightDecay != 0) g += weightDecay * param[i];
            double m = expAvg[i];
            m = w < 0.5 ? m + w * (g - m) : g - (g - m) * (1.0 - w);
            expAvg[i] = m;
            double v = expAvgSq[i] * beta2 + (1.0 - beta2) * g * g;   // addcmul: value * g * g
            expAvgSq[i] = v;
            double denom = Math.Sqrt(v) / biasCorrection2Sqrt + eps;
            param[i] += -stepSize * m / denom;                       // addcdiv: value * m / denom
        }
    }
}
