// S4D: the diagonal state-space layer.
//
// Papers: "On the Parameterization and Initialization of Diagonal State Space Models" (Gu, Gupta,
// Goel, Re; arXiv:2206.11893): Sec. 3.1 (ZOH and bilinear discretization), Sec. 3.2 / Eq. (5) (the
// convolution kernel as a Vandermonde product, K = 2 Re(C Bbar V)), Sec. 4 (S4D-Lin and S4D-Inv),
// Sec. 5 (parameterization: A's real part through exp, Delta through log Delta). State passing across
// chunks follows H3 / FlashConv (arXiv:2212.14052, Sec. 4.2).
//
// Glossary (code -> paper), per channel h (H channels) and complex mode n (M = N/2 modes):
//   LogNegRealA[h, n]  log a_n,  A_n = -exp(log a_n) + i ImagA[h, n]   (Re A < 0 by construction)
//   BRe/BIm, CRe/CIm   B_n, C_n (complex)
//   LogDelta[h]        log Delta (step size), D[h] the skip
//   z = Delta A        the discretization argument
//   Abar, Bbar         discrete transition and input: ZOH  Abar = exp(z), Bbar = (exp(z) - 1)/A B
//                                                     bilinear Abar = (1 + z/2)/(1 - z/2), Bbar = Delta B/(1 - z/2)
//   K [H, L]           kernel K[l] = 2 Re sum_n C_n Bbar_n Abar_n^l, evaluated as exp(l log Abar)
//   x [rows, M]        complex state: x_t = Abar x_{t-1} + Bbar u_t, y_t = 2 Re(C x_t) + D u_t
//   u, y [.., H, L]    input and output (row r uses channel r mod H)
//
// Numerically delicate spots: (exp(z) - 1)/z is summed as a series for |z| < 1/2 (the quotient
// cancels catastrophically as z -> 0); powers Abar^l are exp(l log Abar), never repeated
// multiplication up to l (whose rounding error grows linearly with l); the Fast kernel writes l in
// base 8 and multiplies one factor per digit, z_i^d with z_i = exp(8^i log Abar) evaluated exactly
// (a fixed number of roundings, independent of l), so the L x M exponentials shrink to M log_8(L).
//
// Deliberate simplifications: one SSM copy per channel (no "channels" axis), no bidirectional
// kernel, no kernel length shorter than L (l_max = None), B and C unconstrained complex.
// Initialization: B = 1, C ~ complex normal with E|C|^2 = 1, D ~ N(0, 1), log Delta ~ U[log dtMin,
// log dtMax] (defaults 1e-3, 1e-1), a = 1/2 and w from S4D-Lin or S4D-Inv.
using System.Numerics;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Operators.Convolution;

namespace Reference.Operators.StateSpace;

/// <summary>How the continuous SSM is turned into a recurrence. ZOH and bilinear are never compared with each other.</summary>
public enum Discretization
{
    /// <summary>Zero-order hold: Abar = exp(Delta A), Bbar = (exp(Delta A) - 1)/A B (S4's default).</summary>
    Zoh,

    /// <summary>Bilinear (Tustin): Abar = (1 + Delta A/2)/(1 - Delta A/2), Bbar = Delta B/(1 - Delta A/2) (H3's default).</summary>
    Bilinear,
}

/// <summary>Imaginary-part initializations of S4D (Sec. 4); both use a_n = 1/2.</summary>
public enum S4DInit
{
    /// <summary>S4D-Lin: w_n = pi n.</summary>
    Lin,

    /// <summary>S4D-Inv: w_n = (N/pi)(N/(2n+1) - 1), N the real state size.</summary>
    Inv,
}

/// <summary>S4D parameters for H channels of M complex modes (state size N = 2M reals); arrays [H, M] or [H].</summary>
public sealed record S4DParameters(
    int Channels, int Modes,
    double[] LogNegRealA, double[] ImagA,
    double[] BRe, double[] BIm, double[] CRe, double[] CIm,
    double[] LogDelta, double[] D)
{
    /// <summary>The paper's initialization for H channels and a real state size N (even).</summary>
    public static S4DParameters Initialize(SplitMix64 rng, int channels, int stateSize, S4DInit init = S4DInit.Lin,
        double dtMin = 1e-3, double dtMax = 1e-1)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        if (stateSize < 2 || stateSize % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(stateSize), $"stateSize must be even and >= 2 (N/2 complex modes), got {stateSize}.");
        if (!(dtMin > 0 && dtMax >= dtMin))
            throw new ArgumentOutOfRangeException(nameof(dtMin), $"need 0 < dtMin <= dtMax, got dtMin {dtMin}, dtMax {dtMax}.");
        int m = stateSize / 2;
        var p = new S4DParameters(channels, m,
            new double[channels * m], new double[channels * m], new double[channels * m], new double[channels * m],
            new double[channels * m], new double[channels * m], new double[channels], new double[channels]);
        double invSqrt2 = 1.0 / Math.Sqrt(2.0);
        for (int h = 0; h < channels; h++)
        {
            for (int n = 0; n < m; n++)
            {
                int i = h * m + n;
                p.LogNegRealA[i] = Math.Log(0.5);
                p.ImagA[i] = init == S4DInit.Lin
                    ? Math.PI * n
                    : stateSize / Math.PI * (stateSize / (2.0 * n + 1.0) - 1.0);
                p.BRe[i] = 1.0;
                p.CRe[i] = rng.Normal() * invSqrt2;
                p.CIm[i] = rng.Normal() * invSqrt2;
            }
            p.LogDelta[h] = rng.Uniform(Math.Log(dtMin), Math.Log(dtMax));
            p.D[h] = rng.Normal();
        }
        return p;
    }

    public Complex A(int h, int n) => new(-Math.Exp(LogNegRealA[h * Modes + n]), ImagA[h * Modes + n]);

    public Complex B(int h, int n) => new(BRe[h * Modes + n], BIm[h * Modes + n]);

    public Complex C(int h, int n) => new(CRe[h * Modes + n], CIm[h * Modes + n]);

    public double Delta(int h) => Math.Exp(LogDelta[h]);

    /// <summary>Skip D as a tensor [H] (for the convolution routines).</summary>
    public Tensor<double> SkipTensor() => new((double[])D.Clone(), Channels);

    internal void Validate(string argument)
    {
        int hm = Channels * Modes;
        if (Channels < 1 || Modes < 1 || LogNegRealA.Length != hm || ImagA.Length != hm || BRe.Length != hm || BIm.Length != hm
            || CRe.Length != hm || CIm.Length != hm || LogDelta.Length != Channels || D.Length != Channels)
            throw new ArgumentException($"parameters must hold [H, M] = [{Channels}, {Modes}] mode arrays and [H] = [{Channels}] channel arrays.", argument);
    }
}

/// <summary>Gradients of the S4D layer, same layout as <see cref="S4DParameters"/> plus du.</summary>
public sealed record S4DGradients(
    Tensor<double> Input,
    double[] LogNegRealA, double[] ImagA, double[] BRe, double[] BIm, double[] CRe, double[] CIm,
    double[] LogDelta, double[] D);

/// <summary>Recurrent state: x [rows, M] complex, rows = leading axes times H.</summary>
public sealed class S4DState
{
    internal S4DState(int rows, int modes)
    {
        Rows = rows;
        Modes = modes;
        X = new Complex[rows * modes];
    }

    public int Rows { get; }

    public int Modes { get; }

    /// <summary>[rows, M]: the complex modes after the last consumed token.</summary>
    public Complex[] X { get; }
}

public static partial class S4D
{
    // ------------------------------------------------------------------ discretization

    /// <summary>Abar, Bbar and log Abar of mode n of channel h.</summary>
    public static (Complex Abar, Complex Bbar, Complex LogAbar) Discretize(S4DParameters p, int h, int n, Discretization method)
    {
        ArgumentNullException.ThrowIfNull(p);
        Complex a = p.A(h, n), b = p.B(h, n);
        double delta = p.Delta(h);
        Complex z = delta * a;
        if (method == Discretization.Zoh)
            return (Complex.Exp(z), delta * ExpM1OverZ(z) * b, z);
        Complex abar = (1 + z / 2) / (1 - z / 2);
        return (abar, delta * b / (1 - z / 2), Complex.Log(1 + z / 2) - Complex.Log(1 - z / 2));
    }

    /// <summary>
    /// Abar and Bbar of <see cref="Discretize"/> (<paramref name="delta"/> is p.Delta(h)) and log Abar left zero: for the
    /// fast kernel, which takes its logarithm otherwise. Bilinear by one complex division, w = 1/(1 - z/2), Abar = (1 + z/2) w,
    /// Bbar = (Delta w) B, instead of two: the same values up to rounding (not Discretize's bits).
    /// </summary>
    private static (Complex Abar, Complex Bbar, Complex LogAbar) DiscretizeWithoutLog(S4DParameters p, int h, int n, Discretization method, double delta)
    {
        Complex a = p.A(h, n), b = p.B(h, n);
        Complex z = delta * a;
        if (method == Discretization.Zoh)
            return (Complex.Exp(z), delta * ExpM1OverZ(z) * b, Complex.Zero);
        Complex w = 1 / (1 - z / 2);
        return ((1 + z / 2) * w, delta * w * b, Complex.Zero);
    }

    /// <summary>
    /// phi1(z) = (exp(z) - 1)/z. For |z| &lt; 1/2 the quotient loses digits to cancellation, so the
    /// Taylor series sum_k z^k/(k+1)! is summed (Horner, 20 terms: remainder &lt; 2^-20/21! ~ 2e-26).
    /// </summary>
    public static Complex ExpM1OverZ(Complex z)
    {
        if (Complex.Abs(z) >= 0.5) return (Complex.Exp(z) - 1) / z;
        Complex acc = Complex.One;
        for (int k = 20; k >= 1; k--) acc = 1 + z * acc / (k + 1);
        return acc;
    }

    /// <summary>
    /// psi(z) = phi1'(z) = (z exp(z) - exp(z) + 1)/z^2 (the ZOH input's derivative), with the series
    /// sum_k (k+1) z^k/(k+2)! for |z| &lt; 1/2 (the numerator cancels to O(z^2)).
    /// </summary>
    public static Complex ExpM1OverZDerivative(Complex z)
    {
        if (Complex.Abs(z) >= 0.5) return ((z - 1) * Complex.Exp(z) + 1) / (z * z);
        Complex sum = Complex.Zero, power = Complex.One;
        double factorial = 2.0;
        for (int k = 0; k <= 20; k++)
        {
            sum += (k + 1) * power / factorial;
            power *= z;
            factorial *= k + 3;
        }
        return sum;
    }

    // ------------------------------------------------------------------ kernel (Vandermonde)

    /// <summary>
    /// The definition: K[h, l] = 2 Re sum_{n=0..M-1} C_n Bbar_n exp(l log Abar_n), n ascending, float64. Returns [H, L].
    /// </summary>
    public static Tensor<double> Kernel(S4DParameters p, int length, Discretization method)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        var k = Tensor<double>.Zeros(p.Channels, length);
        for (int h = 0; h < p.Channels; h++)
        {
            var coef = new Complex[p.Modes];
            var log = new Complex[p.Modes];
            for (int n = 0; n < p.Modes; n++)
            {
                var (_, bbar, logAbar) = Discretize(p, h, n, method);
                coef[n] = p.C(h, n) * bbar;
                log[n] = logAbar;
            }
            for (int l = 0; l < length; l++)
            {
                double acc = 0.0;
                for (int n = 0; n < p.Modes; n++) acc += (coef[n] * Complex.Exp(l * log[n])).Real;
                k.Data[h * length + l] = 2.0 * acc;
            }
        }
        return k;
    }

    // ------------------------------------------------------------------ layer (parallel form)

    /// <summary>The layer y = K * u + D u (naive direct sum). u [.., H, L].</summary>
    public static Tensor<double> Forward(S4DParameters p, Tensor<double> u, Discretization method)
    {
        ArgumentNullException.ThrowIfNull(u);
        int length = u.Rank >= 1 ? u.Dim(-1) : 0;
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(u));
        return CausalConvolution.Forward(u, Kernel(p, length, method), p.SkipTensor());
    }

    /// <summary>T [H, L, L]: lower-triangular Toeplitz of K with D on the diagonal.</summary>
    public static Tensor<double> Materialize(S4DParameters p, int length, Discretization method) =>
        CausalConvolution.Materialize(Kernel(p, length, method), p.SkipTensor(), length);

    // ------------------------------------------------------------------ recurrent form

    public static S4DState InitialState(S4DParameters p, int rows)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (rows < 1 || rows % p.Channels != 0)
            throw new ArgumentException($"rows must be a positive multiple of H = {p.Channels}, got {rows}.", nameof(rows));
        return new S4DState(rows, p.Modes);
    }

    /// <summary>One token: x = Abar x + Bbar u_t, y_t = 2 Re(C x) + D u_t; uT [rows], returns y_t [rows].</summary>
    public static double[] Step(S4DParameters p, S4DState state, ReadOnlySpan<double> uT, Discretization method)
    {
        CheckState(p, state);
        if (uT.Length != state.Rows)
            throw new ArgumentException($"uT has {uT.Length} values, expected rows = {state.Rows}.", nameof(uT));
        var y = new double[state.Rows];
        for (int r = 0; r < state.Rows; r++)
        {
            int h = r % p.Channels;
            double acc = 0.0;
            for (int n = 0; n < p.Modes; n++)
            {
                var (abar, bbar, _) = Discretize(p, h, n, method);
                ref Complex x = ref state.X[r * p.Modes + n];
                x = abar * x + bbar * uT[r];
                acc += (p.C(h, n) * x).Real;
            }
            y[r] = 2.0 * acc + p.D[h] * uT[r];
        }
        return y;
    }

    /// <summary>
    /// One chunk with carried state (FlashConv state passing): y = K * u + D u + K_state with
    /// K_state[l] = 2 Re sum_n C_n Abar_n^(l+1) s_n, then s &lt;- Abar^Lc s + sum_j Abar^(Lc-1-j) Bbar u_j.
    /// uChunk [.., H, Lc].
    /// </summary>
    public static Tensor<double> ForwardChunk(S4DParameters p, S4DState state, Tensor<double> uChunk, Discretization method)
    {
        CheckState(p, state);
        var y = Forward(p, uChunk, method);
        int length = uChunk.Dim(-1);
        int rows = uChunk.Length / length;
        if (rows != state.Rows)
            throw new ArgumentException($"uChunk has {rows} rows, the state holds {state.Rows}.", nameof(uChunk));
        for (int r = 0; r < rows; r++)
        {
            int h = r % p.Channels;
            var ur = uChunk.Data.AsSpan(r * length, length);
            var yr = y.Data.AsSpan(r * length, length);
            for (int n = 0; n < p.Modes; n++)
            {
                var (_, bbar, log) = Discretize(p, h, n, method);
                ref Complex s = ref state.X[r * p.Modes + n];
                Complex cs = p.C(h, n) * s;
                for (int l = 0; l < length; l++) yr[l] += 2.0 * (cs * Complex.Exp((l + 1) * log)).Real;
                Complex next = Complex.Exp(length * log) * s;
                for (int j = 0; j < length; j++) next += Complex.Exp((length - 1 - j) * log) * bbar * ur[j];
                s = next;
            }
        }
        return y;
    }

    /// <summary>Prefill: the parallel output of u [.., H, L] and the state after it.</summary>
    public static (Tensor<double> Output, S4DState State) Prefill(S4DParameters p, Tensor<double> u, Discretization method)
    {
        ArgumentNullException.ThrowIfNull(u);
        var state = InitialState(p, u.Length / Math.Max(u.Dim(-1), 1));
        return (ForwardChunk(p, state, u, method), state);
    }

    /// <summary>
    /// The diagonal realization of channel h for the ESS factored path: a_t = Abar, b_t = Bbar,
    /// c_t = 2 C (time-invariant, repeated over L), skip D.
    /// </summary>
    public static DiagonalRealization Realize(S4DParameters p, int channel, int length, Discretization method)
    {
        ArgumentNullException.ThrowIfNull(p);
        if ((uint)channel >= (uint)p.Channels)
            throw new ArgumentOutOfRangeException(nameof(channel), $"channel must be in [0, {p.Channels}), got {channel}.");
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        int m = p.Modes;
        var a = new Complex[length * m];
        var b = new Complex[length * m];
        var c = new Complex[length * m];
        for (int n = 0; n < m; n++)
        {
            var (abar, bbar, _) = Discretize(p, channel, n, method);
            for (int t = 0; t < length; t++)
            {
                a[t * m + n] = abar;
                b[t * m + n] = bbar;
                c[t * m + n] = 2.0 * p.C(channel, n);
            }
        }
        var skip = new double[length];
        Array.Fill(skip, p.D[channel]);
        return DiagonalRealization.Complex(length, m, a, b, c, skip);
    }

    // ------------------------------------------------------------------ backward

    /// <summary>
    /// VJP of <see cref="Forward"/> for the cotangent dy (u's shape). The convolution backward gives
    /// du, dD and dK; then with G_n = C_n Bbar_n, Z_n = Abar_n and (real) loss sum_l dK[l] 2 Re sum_n G_n Z_n^l:
    ///   S0_n = 2 sum_l dK[l] Z^l,  S1_n = 2 sum_l dK[l] l Z^(l-1),
    ///   dL/dG = S0, dL/dZ = S1 G (holomorphic derivatives), chained through the discretization.
    /// For a complex parameter p = x + i y of a real loss Re w(p): dL/dx = Re w'(p), dL/dy = -Im w'(p).
    /// Real parameters: log a (Re A = -exp(log a)), Im A, Re/Im B, Re/Im C, log Delta, D.
    /// </summary>
    public static S4DGradients Backward(S4DParameters p, Tensor<double> u, Tensor<double> dy, Discretization method)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(u);
        int length = u.Dim(-1);
        var kernel = Kernel(p, length, method);
        var conv = CausalConvolution.Backward(u, kernel, p.SkipTensor(), dy);
        int hm = p.Channels * p.Modes;
        var g = new S4DGradients(conv.Input, new double[hm], new double[hm], new double[hm], new double[hm],
            new double[hm], new double[hm], new double[p.Channels], (double[])conv.Skip!.Data.Clone());
        KernelGradients(p, conv.Kernel.Data, length, method, g, powersByMultiplication: false);
        return g;
    }

    /// <summary>
    /// The parameter gradients of <see cref="Kernel"/> from dK [H, L] (see <see cref="Backward"/>), written
    /// into <paramref name="g"/>. The powers Z^l come from exp(l log Abar) (the definition) or, in the fast
    /// tier, as the polynomial sum_l dK[l] Z^l and its derivative by Horner's rule (<see cref="PowerSums"/>: error
    /// of order L ulp of sum_l |dK[l]| |Z|^l, as the powers carried by multiplication before it).
    /// </summary>
    internal static void KernelGradients(S4DParameters p, double[] dKernel, int length, Discretization method, S4DGradients g, bool powersByMultiplication,
        int maxThreads = 1)
    {
        if (maxThreads == 1 || p.Channels == 1)
        {
            KernelGradientChannels(p, dKernel, length, method, g, powersByMultiplication, 0, p.Channels);
            return;
        }
        ParallelItems.For(p.Channels, maxThreads, new KernelGradientJob(p, dKernel, length, method, g, powersByMultiplication));
    }

    /// <summary>Channel h of <see cref="KernelGradients"/> on a ParallelItems thread: channels write disjoint outputs, so any split gives the same bits.</summary>
    private sealed class KernelGradientJob(S4DParameters p, double[] dKernel, int length, Discretization method, S4DGradients g, bool powersByMultiplication)
        : IParallelBody
    {
        public void Run(int h) => KernelGradientChannels(p, dKernel, length, method, g, powersByMultiplication, h, 1);
    }

    private static void KernelGradientChannels(S4DParameters p, double[] dKernel, int length, Discretization method, S4DGradients g,
        bool powersByMultiplication, int first, int count)
    {
        int modes = p.Modes;
        var sums = powersByMultiplication ? new double[4 * modes] : null;
        var powers = powersByMultiplication ? new double[2 * modes] : null;
        // Each mode's discretization once per channel (it is the costly part per mode: complex exp and division), with
        // A, beta = Bbar / B and (bilinear) w = 1/(1 - Delta A/2).
        // On the stack up to 64 modes (the step calls this per channel: no garbage per call beyond the sums).
        Span<(Complex Abar, Complex Bbar, Complex LogAbar)> discrete = modes <= 64
            ? stackalloc (Complex, Complex, Complex)[modes] : new (Complex, Complex, Complex)[modes];
        Span<(Complex A, Complex Beta, Complex W)> perMode = modes <= 64
            ? stackalloc (Complex, Complex, Complex)[modes] : new (Complex, Complex, Complex)[modes];
        for (int h = first; h < first + count; h++)
        {
            var dk = dKernel.AsSpan(h * length, length);
            double delta = p.Delta(h), dDelta = 0.0;
            for (int n = 0; n < modes; n++)
            {
                Complex a = p.A(h, n), b = p.B(h, n), z = delta * a;
                if (powersByMultiplication)
                {
                    // The fast tier: no log Abar (two complex logarithms, bilinear) and one complex division per mode
                    // (w; Abar = (1 + z/2) w, beta = Delta w, Bbar = beta B) instead of four (Discretize's two, Bbar / B
                    // and w): the same values up to rounding.
                    Complex w = method == Discretization.Zoh ? Complex.Zero : 1 / (1 - z / 2);
                    Complex beta = method == Discretization.Zoh ? delta * ExpM1OverZ(z) : delta * w;
                    discrete[n] = (method == Discretization.Zoh ? Complex.Exp(z) : (1 + z / 2) * w, beta * b, Complex.Zero);
                    perMode[n] = (a, beta, w);
                }
                else
                {
                    discrete[n] = Discretize(p, h, n, method);
                    Complex beta = discrete[n].Bbar / b;
                    if (b == Complex.Zero) beta = method == Discretization.Zoh ? delta * ExpM1OverZ(z) : delta / (1 - z / 2);
                    perMode[n] = (a, beta, 1 / (1 - z / 2));
                }
            }
            if (powersByMultiplication)
            {
                for (int n = 0; n < modes; n++)
                {
                    powers![n] = discrete[n].Abar.Real;
                    powers[modes + n] = discrete[n].Abar.Imaginary;
                }
                PowerSums(dk, powers!, sums!, modes);
            }
            for (int n = 0; n < p.Modes; n++)
            {
                int i = h * p.Modes + n;
                var (a, beta, w) = perMode[n];
                Complex b = p.B(h, n), c = p.C(h, n), z = delta * a;
                var (abar, bbar, log) = discrete[n];
                Complex s0 = Complex.Zero, s1 = Complex.Zero;
                if (powersByMultiplication)
                {
                    s0 = new Complex(sums![n], sums[modes + n]);
                    s1 = new Complex(sums[2 * modes + n], sums[3 * modes + n]);
                }
                else
                    for (int l = 0; l < length; l++)
                    {
                        s0 += dk[l] * Complex.Exp(l * log);
                        if (l > 0) s1 += dk[l] * l * Complex.Exp((l - 1) * log);
                    }
                s0 *= 2.0;
                s1 *= 2.0;
                // Partial derivatives of Abar and of beta = Bbar / B with respect to A and Delta.
                Complex dZdA, dZdDelta, dBetadA, dBetadDelta;
                if (method == Discretization.Zoh)
                {
                    dZdA = delta * abar;
                    dZdDelta = a * abar;
                    dBetadA = delta * delta * ExpM1OverZDerivative(z);
                    dBetadDelta = abar;
                }
                else
                {
                    Complex w2 = w * w;
                    dZdA = delta * w2;
                    dZdDelta = a * w2;
                    dBetadA = delta * delta * w2 / 2;
                    dBetadDelta = w2;
                }
                Complex gZ = s1 * c * bbar;
                Complex gC = s0 * bbar;
                Complex gB = s0 * c * beta;
                Complex gA = gZ * dZdA + s0 * c * b * dBetadA;
                dDelta += (gZ * dZdDelta + s0 * c * b * dBetadDelta).Real;
                g.CRe[i] = gC.Real;
                g.CIm[i] = -gC.Imaginary;
                g.BRe[i] = gB.Real;
                g.BIm[i] = -gB.Imaginary;
                g.LogNegRealA[i] = gA.Real * a.Real;
                g.ImagA[i] = -gA.Imaginary;
            }
            g.LogDelta[h] = dDelta * delta;
        }
    }

    /// <summary>
    /// For every mode n of one channel at once: s0 = sum_l dk[l] Z^l and s1 = sum_l dk[l] l Z^(l-1), Z = Abar_n
    /// (zPowers = [Re Z | Im Z] [2, M]), written to sums = [Re s0 | Im s0 | Re s1 | Im s1] [4, M]. s0 is the polynomial
    /// p(Z) = sum_l dk[l] Z^l and s1 its derivative p'(Z), both by Horner's rule from the top lag down (Knuth, TAOCP
    /// vol. 2, 4.6.4: d &lt;- d Z + s, then s &lt;- s Z + dk[l]): two complex multiply-adds per lag instead of a power, its
    /// two products and their sums, and no power of Z is formed (the earlier Z^l reached subnormals for fast-decaying
    /// modes). Error: Horner's bound |fl(p) - p| &lt;= gamma_(2L) sum_l |dk[l]| |Z|^l per part with complex factors (Higham,
    /// Accuracy and Stability, 5.1; the derivative likewise with l |dk[l]| |Z|^(l-1)), the same order as the l-ulp growth
    /// of carried powers it replaces (tests: against the exp(l log Abar) definition to 1e-12 relative).
    /// Modes are independent chains in SIMD lanes, each lane by fixed fused multiply-adds (no reduction across lanes),
    /// so a mode's bits do not depend on the vector width, the group it falls in or the scalar remainder (which runs
    /// Math.FusedMultiplyAdd in the same order).
    /// </summary>
    internal static void PowerSums(ReadOnlySpan<double> dk, double[] zPowers, double[] sums, int modes)
    {
        int n = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; n + 4 * Vector512<double>.Count <= modes; n += 4 * Vector512<double>.Count) HornerSums512x4(dk, zPowers, sums, modes, n);
            for (; n + Vector512<double>.Count <= modes; n += Vector512<double>.Count) HornerSums512x1(dk, zPowers, sums, modes, n);
        }
        if (Vector256.IsHardwareAccelerated)
            for (; n + Vector256<double>.Count <= modes; n += Vector256<double>.Count) HornerSums256x1(dk, zPowers, sums, modes, n);
        for (; n < modes; n++)
        {
            double zr = zPowers[n], zi = zPowers[modes + n], sr = dk[^1], si = 0.0, dr = 0.0, di = 0.0;
            for (int l = dk.Length - 2; l >= 0; l--)
            {
                (dr, di) = (Math.FusedMultiplyAdd(dr, zr, Math.FusedMultiplyAdd(-di, zi, sr)), Math.FusedMultiplyAdd(dr, zi, Math.FusedMultiplyAdd(di, zr, si)));
                (sr, si) = (Math.FusedMultiplyAdd(sr, zr, Math.FusedMultiplyAdd(-si, zi, dk[l])), Math.FusedMultiplyAdd(sr, zi, si * zr));
            }
            (sums[n], sums[modes + n], sums[2 * modes + n], sums[3 * modes + n]) = (sr, si, dr, di);
        }
    }

    /// <summary>
    /// <see cref="PowerSums"/>'s Horner step for the modes n..n+31 in four Vector512 chains advancing together lag by lag
    /// (one chain waits on its two dependent fused multiply-adds each lag; four keep the core's two FMA ports busy).
    /// </summary>
    private static void HornerSums512x4(ReadOnlySpan<double> dk, double[] zPowers, double[] sums, int modes, int n)
    {
        const int w = 8;
        var zr0 = Vector512.Create(zPowers.AsSpan(n, w));
        var zi0 = Vector512.Create(zPowers.AsSpan(modes + n, w));
        var zr1 = Vector512.Create(zPowers.AsSpan(n + w, w));
        var zi1 = Vector512.Create(zPowers.AsSpan(modes + n + w, w));
        var zr2 = Vector512.Create(zPowers.AsSpan(n + 2 * w, w));
        var zi2 = Vector512.Create(zPowers.AsSpan(modes + n + 2 * w, w));
        var zr3 = Vector512.Create(zPowers.AsSpan(n + 3 * w, w));
        var zi3 = Vector512.Create(zPowers.AsSpan(modes + n + 3 * w, w));
        var top = Vector512.Create(dk[^1]);
        Vector512<double> sr0 = top, sr1 = top, sr2 = top, sr3 = top;
        Vector512<double> si0 = default, si1 = default, si2 = default, si3 = default, dr0 = default, dr1 = default, dr2 = default,
            dr3 = default, di0 = default, di1 = default, di2 = default, di3 = default;
        for (int l = dk.Length - 2; l >= 0; l--)
        {
            var c = Vector512.Create(dk[l]);
            (dr0, di0) = (Vector512.FusedMultiplyAdd(dr0, zr0, Vector512.FusedMultiplyAdd(-di0, zi0, sr0)), Vector512.FusedMultiplyAdd(dr0, zi0, Vector512.FusedMultiplyAdd(di0, zr0, si0)));
            (dr1, di1) = (Vector512.FusedMultiplyAdd(dr1, zr1, Vector512.FusedMultiplyAdd(-di1, zi1, sr1)), Vector512.FusedMultiplyAdd(dr1, zi1, Vector512.FusedMultiplyAdd(di1, zr1, si1)));
            (dr2, di2) = (Vector512.FusedMultiplyAdd(dr2, zr2, Vector512.FusedMultiplyAdd(-di2, zi2, sr2)), Vector512.FusedMultiplyAdd(dr2, zi2, Vector512.FusedMultiplyAdd(di2, zr2, si2)));
            (dr3, di3) = (Vector512.FusedMultiplyAdd(dr3, zr3, Vector512.FusedMultiplyAdd(-di3, zi3, sr3)), Vector512.FusedMultiplyAdd(dr3, zi3, Vector512.FusedMultiplyAdd(di3, zr3, si3)));
            (sr0, si0) = (Vector512.FusedMultiplyAdd(sr0, zr0, Vector512.FusedMultiplyAdd(-si0, zi0, c)), Vector512.FusedMultiplyAdd(sr0, zi0, si0 * zr0));
            (sr1, si1) = (Vector512.FusedMultiplyAdd(sr1, zr1, Vector512.FusedMultiplyAdd(-si1, zi1, c)), Vector512.FusedMultiplyAdd(sr1, zi1, si1 * zr1));
            (sr2, si2) = (Vector512.FusedMultiplyAdd(sr2, zr2, Vector512.FusedMultiplyAdd(-si2, zi2, c)), Vector512.FusedMultiplyAdd(sr2, zi2, si2 * zr2));
            (sr3, si3) = (Vector512.FusedMultiplyAdd(sr3, zr3, Vector512.FusedMultiplyAdd(-si3, zi3, c)), Vector512.FusedMultiplyAdd(sr3, zi3, si3 * zr3));
        }
        Store(sr0, si0, dr0, di0, n);
        Store(sr1, si1, dr1, di1, n + w);
        Store(sr2, si2, dr2, di2, n + 2 * w);
        Store(sr3, si3, dr3, di3, n + 3 * w);

        void Store(Vector512<double> sr, Vector512<double> si, Vector512<double> dr, Vector512<double> di, int at)
        {
            sr.CopyTo(sums.AsSpan(at));
            si.CopyTo(sums.AsSpan(modes + at));
            dr.CopyTo(sums.AsSpan(2 * modes + at));
            di.CopyTo(sums.AsSpan(3 * modes + at));
        }
    }

    /// <summary><see cref="PowerSums"/>'s Horner step for the modes n..n+7 in one Vector512 chain.</summary>
    private static void HornerSums512x1(ReadOnlySpan<double> dk, double[] zPowers, double[] sums, int modes, int n)
    {
        const int w = 8;
        var zr = Vector512.Create(zPowers.AsSpan(n, w));
        var zi = Vector512.Create(zPowers.AsSpan(modes + n, w));
        Vector512<double> sr = Vector512.Create(dk[^1]), si = default, dr = default, di = default;
        for (int l = dk.Length - 2; l >= 0; l--)
        {
            (dr, di) = (Vector512.FusedMultiplyAdd(dr, zr, Vector512.FusedMultiplyAdd(-di, zi, sr)), Vector512.FusedMultiplyAdd(dr, zi, Vector512.FusedMultiplyAdd(di, zr, si)));
            (sr, si) = (Vector512.FusedMultiplyAdd(sr, zr, Vector512.FusedMultiplyAdd(-si, zi, Vector512.Create(dk[l]))), Vector512.FusedMultiplyAdd(sr, zi, si * zr));
        }
        sr.CopyTo(sums.AsSpan(n));
        si.CopyTo(sums.AsSpan(modes + n));
        dr.CopyTo(sums.AsSpan(2 * modes + n));
        di.CopyTo(sums.AsSpan(3 * modes + n));
    }

    /// <summary><see cref="PowerSums"/>'s Horner step for the modes n..n+3 in one Vector256 chain.</summary>
    private static void HornerSums256x1(ReadOnlySpan<double> dk, double[] zPowers, double[] sums, int modes, int n)
    {
        const int w = 4;
        var zr = Vector256.Create(zPowers.AsSpan(n, w));
        var zi = Vector256.Create(zPowers.AsSpan(modes + n, w));
        Vector256<double> sr = Vector256.Create(dk[^1]), si = default, dr = default, di = default;
        for (int l = dk.Length - 2; l >= 0; l--)
        {
            (dr, di) = (Vector256.FusedMultiplyAdd(dr, zr, Vector256.FusedMultiplyAdd(-di, zi, sr)), Vector256.FusedMultiplyAdd(dr, zi, Vector256.FusedMultiplyAdd(di, zr, si)));
            (sr, si) = (Vector256.FusedMultiplyAdd(sr, zr, Vector256.FusedMultiplyAdd(-si, zi, Vector256.Create(dk[l]))), Vector256.FusedMultiplyAdd(sr, zi, si * zr));
        }
        sr.CopyTo(sums.AsSpan(n));
        si.CopyTo(sums.AsSpan(modes + n));
        dr.CopyTo(sums.AsSpan(2 * modes + n));
        di.CopyTo(sums.AsSpan(3 * modes + n));
    }

    private static void CheckState(S4DParameters p, S4DState state)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(state);
        if (state.Modes != p.Modes || state.Rows % p.Channels != 0)
            throw new ArgumentException($"state holds {state.Rows} rows of {state.Modes} modes; parameters have H = {p.Channels}, M = {p.Modes}.", nameof(state));
    }
}
