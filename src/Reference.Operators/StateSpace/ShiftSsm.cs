// The shift SSM of H3: a state-space model whose transition is the shift matrix, i.e. a length-N
// FIR filter with a learnable factorization of its taps.
//
// Paper: H3, "Hungry Hungry Hippos" (Fu, Dao et al., arXiv:2212.14052), Sec. 3.1: A is the shift
// matrix (ones on the subdiagonal), so the state x_t = shift(x_{t-1}) + B u_t remembers the last N
// inputs and y_t = C x_t + D u_t reads a learned combination of them. The kernel is
// k_shift[m] = C A^m B = sum_n B[n] C[n+m] (m = 0..N-1), zero beyond lag N-1.
//
// Glossary (code -> paper), per channel (D channels):
//   B [D, N]      B (init e1 = (1, 0, ..., 0): the state is then exactly the last N inputs)
//   C [D, N]      C (init N(0, 1) by default, this project's choice, kept for the golden cases; the official
//                 H3 code draws it kaiming-uniform, U(+-1/sqrt(N)) (HazyResearch/safari
//                 src/models/sequence/ssm/ss_kernel.py, mode 'shift': nn.init.kaiming_uniform_ with
//                 a = sqrt(5) on [D, 1, N], fan-in N): ShiftSsmInit.KaimingUniform)
//   Skip [D]      D (H3's ssm_k_D, init N(0, 1))
//   Taps [D, N]   k_shift[m] = sum_n B[n] C[n+m]
//   x [rows, N]   the shift register: x_t[n] = sum_{i=0..n} B[n-i] u_{t-i}
//   u, y [.., D, L] (row r uses channel r mod D)
//
// Deliberate simplification: a single output "channel" of C per SSM (H3 uses one).
using Reference.Core;
using Reference.Operators.Convolution;

namespace Reference.Operators.StateSpace;

/// <summary>How <see cref="ShiftSsmParameters.Initialize"/> draws C.</summary>
public enum ShiftSsmInit
{
    /// <summary>C ~ N(0, 1): this project's default (its golden cases and ESS samples use it).</summary>
    Normal,

    /// <summary>C ~ U(-1/sqrt(N), 1/sqrt(N)): the official H3 code (torch.nn.init.kaiming_uniform_, a = sqrt(5), fan-in N).</summary>
    KaimingUniform,
}

/// <summary>Shift-SSM parameters for D channels of state size N: B, C [D, N], Skip [D].</summary>
public sealed record ShiftSsmParameters(int Channels, int StateSize, double[] B, double[] C, double[] Skip)
{
    /// <summary>
    /// B = e1, C ~ N(0, 1) (this project's default; not the official H3 code's) or, with
    /// <see cref="ShiftSsmInit.KaimingUniform"/>, C ~ U(-1/sqrt(N), 1/sqrt(N)) (the official code's; see the
    /// file head), then Skip ~ N(0, 1), all from <paramref name="rng"/> in that order (a normal takes two
    /// uniforms, so the draws after C differ between the two inits).
    /// </summary>
    public static ShiftSsmParameters Initialize(SplitMix64 rng, int channels, int stateSize, ShiftSsmInit init = ShiftSsmInit.Normal)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1, nameof(channels));
        ArgumentOutOfRangeException.ThrowIfLessThan(stateSize, 1, nameof(stateSize));
        var p = new ShiftSsmParameters(channels, stateSize, new double[channels * stateSize],
            new double[channels * stateSize], new double[channels]);
        for (int c = 0; c < channels; c++)
        {
            p.B[c * stateSize] = 1.0;
            double bound = 1.0 / Math.Sqrt(stateSize);
            for (int n = 0; n < stateSize; n++)
                p.C[c * stateSize + n] = init switch
                {
                    ShiftSsmInit.Normal => rng.Normal(),
                    ShiftSsmInit.KaimingUniform => rng.Uniform(-bound, bound),
                    _ => throw new ArgumentOutOfRangeException(nameof(init), $"init must be Normal or KaimingUniform, got {init}."),
                };
        }
        for (int c = 0; c < channels; c++) p.Skip[c] = rng.Normal();
        return p;
    }

    internal void Validate(string argument)
    {
        if (Channels < 1 || StateSize < 1 || B.Length != Channels * StateSize || C.Length != Channels * StateSize || Skip.Length != Channels)
            throw new ArgumentException($"parameters must hold B, C [{Channels}, {StateSize}] and Skip [{Channels}].", argument);
    }

    public Tensor<double> SkipTensor() => new((double[])Skip.Clone(), Channels);
}

/// <summary>Gradients of the shift SSM: du (u's shape), dB, dC [D, N], dSkip [D].</summary>
public sealed record ShiftSsmGradients(Tensor<double> Input, double[] B, double[] C, double[] Skip);

/// <summary>The shift register of every row: X [rows, N].</summary>
public sealed class ShiftSsmState
{
    internal ShiftSsmState(int rows, int stateSize)
    {
        Rows = rows;
        StateSize = stateSize;
        X = new double[rows * stateSize];
    }

    public int Rows { get; }

    public int StateSize { get; }

    public double[] X { get; }
}

public static partial class ShiftSsm
{
    /// <summary>k_shift [D, N]: k[c, m] = sum_{n=0..N-1-m} B[c, n] C[c, n+m], n ascending.</summary>
    public static Tensor<double> Taps(ShiftSsmParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        int n = p.StateSize;
        var k = Tensor<double>.Zeros(p.Channels, n);
        // k[m] = sum_i B[i] C[i + m], summed over i in order: one AXPY k[0 .. n - i) += B[i] C[i .. n) per i
        // (the same products added in the same order per tap as the scalar sum, in SIMD lanes across taps).
        for (int c = 0; c < p.Channels; c++)
        {
            var kc = k.Data.AsSpan(c * n, n);
            for (int i = 0; i < n; i++)
                TensorPrimitives.MultiplyAdd(p.C.AsSpan(c * n + i, n - i), p.B[c * n + i], kc[..(n - i)], kc[..(n - i)]);
        }
        return k;
    }

    /// <summary>Parallel form: y = k_shift * u + Skip u (a causal convolution with N taps). u [.., D, L].</summary>
    public static Tensor<double> Forward(ShiftSsmParameters p, Tensor<double> u) =>
        CausalConvolution.Forward(u, Taps(p), p.SkipTensor());

    /// <summary>T [D, L, L] (banded lower-triangular Toeplitz of the taps, Skip on the diagonal).</summary>
    public static Tensor<double> Materialize(ShiftSsmParameters p, int length) =>
        CausalConvolution.Materialize(Taps(p), p.SkipTensor(), length);

    public static ShiftSsmState InitialState(ShiftSsmParameters p, int rows)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        if (rows < 1 || rows % p.Channels != 0)
            throw new ArgumentException($"rows must be a positive multiple of D = {p.Channels}, got {rows}.", nameof(rows));
        return new ShiftSsmState(rows, p.StateSize);
    }

    /// <summary>One token: x = shift(x) + B u_t, y_t = C . x + Skip u_t. uT [rows] -> y_t [rows].</summary>
    public static double[] Step(ShiftSsmParameters p, ShiftSsmState state, ReadOnlySpan<double> uT)
    {
        CheckState(p, state);
        if (uT.Length != state.Rows)
            throw new ArgumentException($"uT has {uT.Length} values, expected rows = {state.Rows}.", nameof(uT));
        int n = p.StateSize;
        var y = new double[state.Rows];
        for (int r = 0; r < state.Rows; r++)
        {
            int c = r % p.Channels;
            var x = state.X.AsSpan(r * n, n);
            for (int i = n - 1; i >= 1; i--) x[i] = x[i - 1] + p.B[c * n + i] * uT[r];
            x[0] = p.B[c * n] * uT[r];
            double acc = 0.0;
            for (int i = 0; i < n; i++) acc += p.C[c * n + i] * x[i];
            y[r] = acc + p.Skip[c] * uT[r];
        }
        return y;
    }

    /// <summary>A chunk with carried shift register: Step over each token (the register is the state). uChunk [.., D, Lc].</summary>
    public static Tensor<double> ForwardChunk(ShiftSsmParameters p, ShiftSsmState state, Tensor<double> uChunk)
    {
        CheckState(p, state);
        ArgumentNullException.ThrowIfNull(uChunk);
        int length = uChunk.Dim(-1);
        if (uChunk.Length != state.Rows * length)
            throw new ArgumentException($"uChunk has {uChunk.Length / Math.Max(length, 1)} rows, the state holds {state.Rows}.", nameof(uChunk));
        var y = Tensor<double>.Zeros(uChunk.ShapeArray);
        var ut = new double[state.Rows];
        for (int t = 0; t < length; t++)
        {
            for (int r = 0; r < state.Rows; r++) ut[r] = uChunk.Data[r * length + t];
            var yt = Step(p, state, ut);
            for (int r = 0; r < state.Rows; r++) y.Data[r * length + t] = yt[r];
        }
        return y;
    }

    /// <summary>
    /// VJP of <see cref="Forward"/>: the convolution backward gives du, dSkip and dk; then
    /// dB[n] = sum_m dk[m] C[n+m] and dC[j] = sum_{m=0..j} dk[m] B[j-m].
    /// </summary>
    public static ShiftSsmGradients Backward(ShiftSsmParameters p, Tensor<double> u, Tensor<double> dy)
    {
        var conv = CausalConvolution.Backward(u, Taps(p), p.SkipTensor(), dy);
        return TapGradients(p, conv.Kernel.Data, conv.Input, conv.Skip!.Data);
    }

    /// <summary>The gradients of B and C from the taps' gradient dk [D, N] (see <see cref="Backward"/>), with du and dSkip passed through.</summary>
    internal static ShiftSsmGradients TapGradients(ShiftSsmParameters p, double[] dTaps, Tensor<double> du, double[] dSkip)
    {
        int n = p.StateSize;
        var db = new double[p.B.Length];
        var dc = new double[p.C.Length];
        // dB[i] = sum_m dk[m] C[i + m] and dC[i] = sum_(m <= i) dk[m] B[i - m], each summed over m in order:
        // one AXPY per m over all i (the scalar sums' products in their order, in SIMD lanes across i).
        for (int c = 0; c < p.Channels; c++)
        {
            var dk = dTaps.AsSpan(c * n, n);
            var dbc = db.AsSpan(c * n, n);
            var dcc = dc.AsSpan(c * n, n);
            for (int m = 0; m < n; m++)
            {
                TensorPrimitives.MultiplyAdd(p.C.AsSpan(c * n + m, n - m), dk[m], dbc[..(n - m)], dbc[..(n - m)]);
                TensorPrimitives.MultiplyAdd(p.B.AsSpan(c * n, n - m), dk[m], dcc[m..], dcc[m..]);
            }
        }
        return new ShiftSsmGradients(du, db, dc, dSkip);
    }

    private static void CheckState(ShiftSsmParameters p, ShiftSsmState state)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentNullException.ThrowIfNull(state);
        if (state.StateSize != p.StateSize || state.Rows % p.Channels != 0)
            throw new ArgumentException($"state holds {state.Rows} rows of size {state.StateSize}; parameters have D = {p.Channels}, N = {p.StateSize}.", nameof(state));
    }

    /// <summary>
    /// A diagonal realization of channel c of the shift SSM over L steps (the ESS factored path). The
    /// shift matrix is nilpotent (one Jordan block at 0), so no time-invariant diagonal realization of
    /// size N exists; a ring buffer of N real slots is one with time-varying 0/1 transitions: slot n
    /// captures the input at the steps t = n mod N (a_t[n] = 0, b_t[n] = 1) and holds it otherwise
    /// (a_t[n] = 1, b_t[n] = 0), so at step t slot n holds u at lag (t - n) mod N and the readout is
    /// c_t[n] = taps[(t - n) mod N]; skip D. T[i, j] = taps[i - j] for 0 &lt;= i - j &lt; N, as <see cref="Materialize"/>.
    /// </summary>
    public static DiagonalRealization Realize(ShiftSsmParameters p, int channel, int length)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        if ((uint)channel >= (uint)p.Channels)
            throw new ArgumentOutOfRangeException(nameof(channel), $"channel must be in [0, {p.Channels}), got {channel}.");
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        int n = p.StateSize;
        var taps = Taps(p).Data.AsSpan(channel * n, n);
        var a = new double[length * n];
        var b = new double[length * n];
        var c = new double[length * n];
        for (int t = 0; t < length; t++)
            for (int slot = 0; slot < n; slot++)
            {
                int at = t * n + slot, lag = ((t - slot) % n + n) % n;
                bool captures = lag == 0;
                a[at] = captures ? 0.0 : 1.0;
                b[at] = captures ? 1.0 : 0.0;
                c[at] = taps[lag];
            }
        var skip = new double[length];
        Array.Fill(skip, p.Skip[channel]);
        return DiagonalRealization.Real(length, n, a, b, c, skip);
    }
}
