// The Fast tier of S4D (see S4D.cs for the paper, the glossary and the naive definition): the
// Vandermonde kernel in float or double (base-8 powers, one small product per channel, channels in parallel)
// and the layer as that kernel followed by the Fast causal convolution.
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Reference.Core;
using Reference.Core.Kernels;
using Reference.Core.Linear;
using Reference.Operators.Convolution;

namespace Reference.Operators.StateSpace;

public static partial class S4D
{
    /// <summary>
    /// Fast tier of <see cref="Kernel"/> in float or double. Write l in base 8 with D digits and split
    /// them, l = m b + j with b = 8^ceil(D/2). Per mode, z_i = exp(8^i log Abar) is evaluated exactly
    /// (D exponentials instead of L) and E_i[d] = z_i^d for d &lt; 8 by at most 6 multiplications, so
    /// every power Abar^l = prod_i E_i[digit_i(l)] carries a fixed number of roundings (at most ~20,
    /// whatever l is; repeated multiplication up to l would grow the error with l).
    /// P[j, n] = Abar_n^j (low digits) and Q[m, n] = 2 C_n Bbar_n Abar_n^(m b) (high digits) are formed
    /// in float64, vectorized across modes, then rounded to T; K[m b + j] = sum_n Re Q[m, n] Re P[j, n]
    /// - Im Q[m, n] Im P[j, n] is one real [L/b, 2M] x [2M, b] product per channel (float64 on Vector512 hosts: fixed-order dot products,
    /// <see cref="BlockDots"/>; otherwise FastGemm; on the
    /// channel's thread). Channels in parallel up to <paramref name="maxThreads"/> threads (0 = all cores).
    /// </summary>
    public static Tensor<T> KernelFast<T>(S4DParameters p, int length, Discretization method, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        // Every element is written: no zeroing of the L H outputs.
        var k = new Tensor<T>(GC.AllocateUninitializedArray<T>(p.Channels * length), p.Channels, length);
        KernelFastInto(k, p, length, method, maxThreads);
        return k;
    }

    /// <summary>
    /// <see cref="KernelFast{T}"/> written into the caller's <paramref name="output"/> [H, L] (every element
    /// overwritten); the factors and, when L is not a whole number of blocks, the padded product come from
    /// per-thread pools kept across calls, so a repeated call allocates no arrays.
    /// </summary>
    public static void KernelFastInto<T>(Tensor<T> output, S4DParameters p, int length, Discretization method, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        Shapes.Output(output, [p.Channels, length], nameof(output));
        var digits = new KernelDigits(length);
        int block = digits.Block, blocks = digits.Blocks;
        // blocks * block >= L: the product fills whole blocks; when the last one is partial it goes to a
        // pooled buffer and is copied out.
        bool direct = blocks * block == length;
        var padded = direct ? null : PooledArray<T>.Rent(p.Channels * blocks * block);
        var full = direct ? output.Data : padded!.Data;
        var job = PerThread<KernelJob<T>, int>.Take(0);
        (job.P, job.Method, job.Digits, job.Full) = (p, method, digits, full);
        ParallelItems.For(p.Channels, maxThreads, job);
        (job.P, job.Full) = (null!, null!);
        PerThread<KernelJob<T>, int>.Give(job);
        if (direct) return;
        for (int h = 0; h < p.Channels; h++)
            full.AsSpan(h * blocks * block, length).CopyTo(output.Data.AsSpan(h * length, length));
        PooledArray<T>.Return(padded!);
    }

    /// <summary>Channel h of one <see cref="KernelFastInto{T}"/> call (a ParallelItems body, pooled per calling thread).</summary>
    private sealed class KernelJob<T> : IParallelBody, IPerThreadWorkspace<KernelJob<T>, int> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public S4DParameters P = null!;
        public Discretization Method;
        public KernelDigits Digits;
        public T[] Full = null!;

        public static KernelJob<T> Create(int key) => new();

        public bool Fits(int key) => true;

        public void Run(int h) => KernelChannel(P, h, Method, Digits, Full.AsSpan(h * Digits.Blocks * Digits.Block, Digits.Blocks * Digits.Block));
    }

    /// <summary>Channel h's kernel, whole blocks (blocks x block >= L values) into <paramref name="full"/>, on the calling thread.</summary>
    private static void KernelChannel<T>(S4DParameters p, int h, Discretization method, KernelDigits digits, Span<T> full)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int modes = p.Modes, inner = 2 * modes, block = digits.Block, blocks = digits.Blocks;
        var s = PerThread<KernelScratch<T>, (int, KernelDigits)>.Take((modes, digits));
        KernelFactors(p, h, method, digits, s);
        if (typeof(T) == typeof(double) && Vector512.IsHardwareAccelerated)
            BlockDots(MemoryMarshal.Cast<T, double>(s.Q), MemoryMarshal.Cast<T, double>(s.P), MemoryMarshal.Cast<T, double>(full), blocks, block, inner);
        else
            FastGemm.Multiply(false, true, blocks, block, inner, T.One, s.Q, inner, s.P, inner, T.Zero, full, block, maxThreads: 1);
        PerThread<KernelScratch<T>, (int, KernelDigits)>.Give(s);
    }

    /// <summary>
    /// full[m b + j] = sum_k q[m, k] p[j, k] (q [blocks, inner], p [block, inner], rows contiguous): the float64 kernel's
    /// Q P^T without FastGemm, whose packing of P and call overhead were most of this [L/b, 2M] x [2M, b] product's time
    /// at the H3 layer's size (4 x 64 x 64). Each output is one dot product: Vector512 fused multiply-adds over k in
    /// order, then the lanes' sum (Vector512.Sum) and the scalar tail k &gt;= inner - inner % 8 in order: fixed per output,
    /// whatever the addresses (repeatable), not FastGemm's bits. Four rows of q share each load of p's row.
    /// </summary>
    private static void BlockDots(ReadOnlySpan<double> q, ReadOnlySpan<double> p, Span<double> full, int blocks, int block, int inner)
    {
        const int w = 8;
        if (q.Length < blocks * inner || p.Length < block * inner || full.Length < blocks * block)
            throw new ArgumentException($"expected q [{blocks}, {inner}], p [{block}, {inner}] and full [{blocks} x {block}]; got {q.Length}, {p.Length}, {full.Length} values.", nameof(full));
        int vectorEnd = inner - inner % w, m = 0;
        ref double q0 = ref MemoryMarshal.GetReference(q), p0 = ref MemoryMarshal.GetReference(p);
        for (; m + 4 <= blocks; m += 4)
            for (int j = 0; j < block; j++)
            {
                nuint pj = (nuint)(j * inner), qa = (nuint)(m * inner), qb = qa + (nuint)inner, qc = qb + (nuint)inner, qd = qc + (nuint)inner;
                Vector512<double> a0 = default, a1 = default, a2 = default, a3 = default;
                for (nuint k = 0; k < (nuint)vectorEnd; k += w)
                {
                    var pv = Vector512.LoadUnsafe(ref p0, pj + k);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q0, qa + k), pv, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q0, qb + k), pv, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q0, qc + k), pv, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q0, qd + k), pv, a3);
                }
                full[m * block + j] = Tail(q, p, Vector512.Sum(a0), (int)qa, (int)pj, vectorEnd, inner);
                full[(m + 1) * block + j] = Tail(q, p, Vector512.Sum(a1), (int)qb, (int)pj, vectorEnd, inner);
                full[(m + 2) * block + j] = Tail(q, p, Vector512.Sum(a2), (int)qc, (int)pj, vectorEnd, inner);
                full[(m + 3) * block + j] = Tail(q, p, Vector512.Sum(a3), (int)qd, (int)pj, vectorEnd, inner);
            }
        for (; m < blocks; m++)
            for (int j = 0; j < block; j++)
            {
                nuint pj = (nuint)(j * inner), qa = (nuint)(m * inner);
                Vector512<double> a0 = default;
                for (nuint k = 0; k < (nuint)vectorEnd; k += w)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q0, qa + k), Vector512.LoadUnsafe(ref p0, pj + k), a0);
                full[m * block + j] = Tail(q, p, Vector512.Sum(a0), (int)qa, (int)pj, vectorEnd, inner);
            }

        static double Tail(ReadOnlySpan<double> q, ReadOnlySpan<double> p, double sum, int qRow, int pRow, int from, int inner)
        {
            for (int k = from; k < inner; k++) sum = Math.FusedMultiplyAdd(q[qRow + k], p[pRow + k], sum);
            return sum;
        }
    }

    /// <summary>Base-8 split of l &lt; L: D digits, the low ones index j &lt; Block, the high ones m &lt; Blocks.</summary>
    private readonly record struct KernelDigits
    {
        public const int Radix = 8;

        public KernelDigits(int length)
        {
            int d = 1;
            for (long span = Radix; span < length; span *= Radix) d++;
            Digits = d;
            LowDigits = (d + 1) / 2;
            Block = 1;
            for (int i = 0; i < LowDigits; i++) Block *= Radix;
            Blocks = (length + Block - 1) / Block;
        }

        public int Digits { get; }
        public int LowDigits { get; }
        public int Block { get; }
        public int Blocks { get; }
    }

    /// <summary>
    /// Per-thread scratch, modes contiguous everywhere: the GEMM operands Q [L/b, 2M] and P [b, 2M] in T;
    /// the exponents and z_i [D, M]; the digit factors E [D, 8, M]; the powers [b, M] and [L/b, M]
    /// (each as re, im) in float64.
    /// </summary>
    private sealed class KernelScratch<T>(int modes, KernelDigits digits) : IPerThreadWorkspace<KernelScratch<T>, (int, KernelDigits)>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static KernelScratch<T> Create((int, KernelDigits) key) => new(key.Item1, key.Item2);

        public bool Fits((int, KernelDigits) key) => key == (modes, digits);

        public readonly T[] Q = new T[digits.Blocks * 2 * modes], P = new T[digits.Block * 2 * modes];
        public readonly double[] Arg = new double[digits.Digits * modes], Mag = new double[digits.Digits * modes];
        public readonly double[] Sin = new double[digits.Digits * modes], Cos = new double[digits.Digits * modes];
        public readonly double[] ERe = new double[digits.Digits * KernelDigits.Radix * modes];
        public readonly double[] EIm = new double[digits.Digits * KernelDigits.Radix * modes];
        public readonly double[] LowRe = new double[digits.Block * modes], LowIm = new double[digits.Block * modes];
        public readonly double[] HighRe = new double[digits.Blocks * modes], HighIm = new double[digits.Blocks * modes];
    }

    /// <summary>Channel h's factors: s.Q [L/b, 2M] = [Re Q | -Im Q] and s.P [b, 2M] = [Re P | Im P].</summary>
    private static void KernelFactors<T>(S4DParameters p, int h, Discretization method, KernelDigits digits, KernelScratch<T> s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> q = s.Q, pw = s.P;
        int modes = p.Modes, r = KernelDigits.Radix;
        double delta = p.Delta(h);
        for (int n = 0; n < modes; n++)
        {
            // log Abar as one complex logarithm of Abar (bilinear; Discretize's log(1 + z/2) - log(1 - z/2) takes two, and
            // was a fifth of this routine): the same value up to rounding, and up to a multiple of 2 pi i, which
            // exp(8^i log Abar) does not see. ZOH: log Abar = Delta A, as Discretize returns it.
            var (abar, bbar, _) = DiscretizeWithoutLog(p, h, n, method, delta);
            var log = method == Discretization.Zoh ? delta * p.A(h, n) : Complex.Log(abar);
            var coef = 2.0 * p.C(h, n) * bbar;
            s.HighRe[n] = coef.Real;   // Q's start value: row m = 0
            s.HighIm[n] = coef.Imaginary;
            s.LowRe[n] = 1.0;          // P's row j = 0
            s.LowIm[n] = 0.0;
            double scale = 1.0;
            for (int i = 0; i < digits.Digits; i++, scale *= r)
            {
                s.Arg[i * modes + n] = scale * log.Imaginary;   // 8^i is exact: one rounding per argument
                s.Mag[i * modes + n] = scale * log.Real;
            }
        }
        DigitExponentials(s.Mag, s.Arg, s.Sin, s.Cos);
        for (int i = 0; i < digits.Digits; i++)
        {
            var zRe = s.Cos.AsSpan(i * modes, modes);
            var zIm = s.Sin.AsSpan(i * modes, modes);
            TensorPrimitives.Multiply(zRe, s.Mag.AsSpan(i * modes, modes), zRe);
            TensorPrimitives.Multiply(zIm, s.Mag.AsSpan(i * modes, modes), zIm);
            int level = i * r * modes;
            s.ERe.AsSpan(level, modes).Fill(1.0);
            s.EIm.AsSpan(level, modes).Clear();
            for (int d = 1; d < r; d++)   // E_i[d] = z_i E_i[d - 1]
                ComplexMultiply(zRe, zIm, s.ERe.AsSpan(level + (d - 1) * modes, modes), s.EIm.AsSpan(level + (d - 1) * modes, modes),
                    s.ERe.AsSpan(level + d * modes, modes), s.EIm.AsSpan(level + d * modes, modes));
        }
        Powers(s, 0, digits.LowDigits, modes, s.LowRe, s.LowIm);
        Powers(s, digits.LowDigits, digits.Digits - digits.LowDigits, modes, s.HighRe, s.HighIm);
        TensorPrimitives.Negate(s.HighIm, s.HighIm);
        if (typeof(T) == typeof(double))
        {
            // float64 factors: plain copies (TensorPrimitives' conversion per 32-value row was mostly call overhead).
            var pd = MemoryMarshal.Cast<T, double>(pw);
            var qd = MemoryMarshal.Cast<T, double>(q);
            for (int j = 0; j < digits.Block; j++)
            {
                s.LowRe.AsSpan(j * modes, modes).CopyTo(pd.Slice(j * 2 * modes, modes));
                s.LowIm.AsSpan(j * modes, modes).CopyTo(pd.Slice(j * 2 * modes + modes, modes));
            }
            for (int m = 0; m < digits.Blocks; m++)
            {
                s.HighRe.AsSpan(m * modes, modes).CopyTo(qd.Slice(m * 2 * modes, modes));
                s.HighIm.AsSpan(m * modes, modes).CopyTo(qd.Slice(m * 2 * modes + modes, modes));
            }
            return;
        }
        for (int j = 0; j < digits.Block; j++)
        {
            TensorPrimitives.ConvertTruncating<double, T>(s.LowRe.AsSpan(j * modes, modes), pw.Slice(j * 2 * modes, modes));
            TensorPrimitives.ConvertTruncating<double, T>(s.LowIm.AsSpan(j * modes, modes), pw.Slice(j * 2 * modes + modes, modes));
        }
        for (int m = 0; m < digits.Blocks; m++)
        {
            TensorPrimitives.ConvertTruncating<double, T>(s.HighRe.AsSpan(m * modes, modes), q.Slice(m * 2 * modes, modes));
            TensorPrimitives.ConvertTruncating<double, T>(s.HighIm.AsSpan(m * modes, modes), q.Slice(m * 2 * modes + modes, modes));
        }

        // Rows x of (re, im) [count, M], row 0 given: row x = row 0 * prod_i E_(first + i)[digit_i(x)], digits low first.
        static void Powers(KernelScratch<T> s, int first, int levels, int modes, double[] re, double[] im)
        {
            int r = KernelDigits.Radix, filled = 1, count = re.Length / modes;
            for (int i = 0; i < levels && filled < count; i++)
            {
                int level = (first + i) * r * modes;
                for (int d = r - 1; d >= 1; d--)   // descending: rows x < filled still hold the previous level (d = 0 is the factor 1)
                {
                    // Rows x < filled (contiguous) times E[d] into rows d filled + x (contiguous): one call per digit.
                    int rows = Math.Min(filled, count - d * filled);
                    if (rows > 0)
                        ComplexMultiplyRows(s.ERe.AsSpan(level + d * modes, modes), s.EIm.AsSpan(level + d * modes, modes),
                            re.AsSpan(0, rows * modes), im.AsSpan(0, rows * modes),
                            re.AsSpan(d * filled * modes, rows * modes), im.AsSpan(d * filled * modes, rows * modes));
                }
                filled = Math.Min(filled * r, count);
            }
        }
    }

    /// <summary>
    /// exp of <paramref name="mag"/> in place, sin and cos of <paramref name="arg"/>: Vector256 groups of 4 from index 0, the
    /// last partial group zero-padded. Not TensorPrimitives.Exp/Sin/Cos: their vector code computes a whole vector by the
    /// scalar routine when one lane is out of its range (exp below -708: a fast-decaying mode at a top digit; sin, cos
    /// beyond 2^23), and which elements share a vector depends on the span's address (above 8 vectors they align to the
    /// vector boundary first): a channel then rounded differently in the last bit on another thread's scratch or after a
    /// GC moved it (h3w32's run-to-run differences, bench/NOTES.md, detbits). Here every value depends only on the
    /// inputs and their index.
    /// </summary>
    internal static void DigitExponentials(Span<double> mag, ReadOnlySpan<double> arg, Span<double> sin, Span<double> cos)
    {
        int n = mag.Length, w = Vector256<double>.Count, i = 0;
        if (arg.Length != n || sin.Length != n || cos.Length != n)
            throw new ArgumentException($"arg, sin and cos have {arg.Length}, {sin.Length}, {cos.Length} elements; expected {n} (mag's).", nameof(arg));
        for (; i + w <= n; i += w)
        {
            Vector256.Exp(Vector256.Create(mag.Slice(i))).CopyTo(mag.Slice(i));
            var x = Vector256.Create(arg.Slice(i));
            Vector256.Sin(x).CopyTo(sin.Slice(i));
            Vector256.Cos(x).CopyTo(cos.Slice(i));
        }
        if (i == n) return;
        Span<double> m = stackalloc double[4], a = stackalloc double[4], s = stackalloc double[4], c = stackalloc double[4];
        m.Clear();
        a.Clear();
        mag[i..].CopyTo(m);
        arg[i..].CopyTo(a);
        Vector256.Exp(Vector256.Create((ReadOnlySpan<double>)m)).CopyTo(m);
        var tail = Vector256.Create((ReadOnlySpan<double>)a);
        Vector256.Sin(tail).CopyTo(s);
        Vector256.Cos(tail).CopyTo(c);
        m[..(n - i)].CopyTo(mag[i..]);
        s[..(n - i)].CopyTo(sin[i..]);
        c[..(n - i)].CopyTo(cos[i..]);
    }

    /// <summary>
    /// <see cref="ComplexMultiply"/> of one factor row (aRe, aIm) [M] with every row of (bRe, bIm) [rows, M] into (re, im)
    /// [rows, M]: per element ComplexMultiply's operations (so its bits), the factor's vectors loaded once for the block
    /// of rows instead of one call per row (the 32-mode rows of the H3 layer were mostly call overhead).
    /// </summary>
    private static void ComplexMultiplyRows(ReadOnlySpan<double> aRe, ReadOnlySpan<double> aIm, ReadOnlySpan<double> bRe,
        ReadOnlySpan<double> bIm, Span<double> re, Span<double> im)
    {
        int modes = aRe.Length, rows = re.Length / modes, i = 0;
        if (aIm.Length != modes || bRe.Length != re.Length || bIm.Length != re.Length || im.Length != re.Length || re.Length != rows * modes)
            throw new ArgumentException($"expected a factor of {modes} and blocks of {rows} x {modes}; got {aIm.Length}, {bRe.Length}, {bIm.Length}, {re.Length}, {im.Length}.", nameof(re));
        // Lengths checked above: the loads and stores below stay inside the spans.
        ref double br0 = ref MemoryMarshal.GetReference(bRe), bi0 = ref MemoryMarshal.GetReference(bIm);
        ref double re0 = ref MemoryMarshal.GetReference(re), im0 = ref MemoryMarshal.GetReference(im);
        nuint end = (nuint)(rows * modes), stride = (nuint)modes;
        if (Vector512.IsHardwareAccelerated)
            for (; i + Vector512<double>.Count <= modes; i += Vector512<double>.Count)
            {
                var ar = Vector512.Create(aRe.Slice(i));
                var ai = Vector512.Create(aIm.Slice(i));
                for (nuint at = (nuint)i; at < end; at += stride)
                {
                    var br = Vector512.LoadUnsafe(ref br0, at);
                    var bi = Vector512.LoadUnsafe(ref bi0, at);
                    (ar * br - ai * bi).StoreUnsafe(ref re0, at);
                    (ar * bi + ai * br).StoreUnsafe(ref im0, at);
                }
            }
        for (; i + Vector256<double>.Count <= modes; i += Vector256<double>.Count)
        {
            var ar = Vector256.Create(aRe.Slice(i));
            var ai = Vector256.Create(aIm.Slice(i));
            for (nuint at = (nuint)i; at < end; at += stride)
            {
                var br = Vector256.LoadUnsafe(ref br0, at);
                var bi = Vector256.LoadUnsafe(ref bi0, at);
                (ar * br - ai * bi).StoreUnsafe(ref re0, at);
                (ar * bi + ai * br).StoreUnsafe(ref im0, at);
            }
        }
        for (; i < modes; i++)
            for (int at = i; at < rows * modes; at += modes)
            {
                double r = aRe[i] * bRe[at] - aIm[i] * bIm[at];
                im[at] = aRe[i] * bIm[at] + aIm[i] * bRe[at];
                re[at] = r;
            }
    }

    /// <summary>Elementwise complex product (aRe + i aIm)(bRe + i bIm) into (re, im), Vector512 or Vector256 over the span.</summary>
    private static void ComplexMultiply(ReadOnlySpan<double> aRe, ReadOnlySpan<double> aIm, ReadOnlySpan<double> bRe,
        ReadOnlySpan<double> bIm, Span<double> re, Span<double> im)
    {
        int n = re.Length, i = 0;
        // Each lane by the same two products and one sum or difference at every width (no fused multiply-add): the
        // Vector512 lanes are bitwise the Vector256 and scalar ones.
        if (Vector512.IsHardwareAccelerated)
            for (; i + Vector512<double>.Count <= n; i += Vector512<double>.Count)
            {
                var ar = Vector512.Create(aRe.Slice(i));
                var ai = Vector512.Create(aIm.Slice(i));
                var br = Vector512.Create(bRe.Slice(i));
                var bi = Vector512.Create(bIm.Slice(i));
                (ar * br - ai * bi).CopyTo(re.Slice(i));
                (ar * bi + ai * br).CopyTo(im.Slice(i));
            }
        for (; i + Vector256<double>.Count <= n; i += Vector256<double>.Count)
        {
            var ar = Vector256.Create(aRe.Slice(i));
            var ai = Vector256.Create(aIm.Slice(i));
            var br = Vector256.Create(bRe.Slice(i));
            var bi = Vector256.Create(bIm.Slice(i));
            (ar * br - ai * bi).CopyTo(re.Slice(i));
            (ar * bi + ai * br).CopyTo(im.Slice(i));
        }
        for (; i < n; i++)
        {
            double r = aRe[i] * bRe[i] - aIm[i] * bIm[i];
            im[i] = aRe[i] * bIm[i] + aIm[i] * bRe[i];
            re[i] = r;
        }
    }

    /// <summary>Fast tier of <see cref="Forward"/>: <see cref="KernelFast{T}"/> then the Fast convolution.</summary>
    public static Tensor<T> ForwardFast<T>(S4DParameters p, Tensor<T> u, Discretization method, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(u);
        int length = u.Rank >= 1 ? u.Dim(-1) : 0;
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(u));
        var d = Tensor<T>.Zeros(p.Channels);
        for (int h = 0; h < p.Channels; h++) d.Data[h] = T.CreateTruncating(p.D[h]);
        return CausalConvolution.ForwardFast(u, KernelFast<T>(p, length, method, maxThreads), d, maxThreads);
    }

    /// <summary>
    /// Fast tier of <see cref="ForwardChunk"/> in float or double: the chunk's zero-state output by <see cref="ForwardFast{T}"/>, plus the
    /// initial state's response 2 Re(C_n Abar_n^(l+1) s_n) (powers by repeated multiplication in float64), then the final state
    /// s &lt;- Abar^Lc s + sum_j Abar^(Lc-1-j) Bbar u_j by the recurrence itself (Horner, float64). state holds the initial state on
    /// entry and the final one on return; a fresh <see cref="InitialState"/> gives the zero-state layer.
    /// </summary>
    public static Tensor<T> ForwardChunkFast<T>(S4DParameters p, S4DState state, Tensor<T> uChunk, Discretization method, int maxThreads = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckState(p, state);
        var y = ForwardFast(p, uChunk, method, maxThreads);
        int length = uChunk.Dim(-1), rows = uChunk.Length / length;
        if (rows != state.Rows)
            throw new ArgumentException($"uChunk has {rows} rows, the state holds {state.Rows}.", nameof(uChunk));
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : -1 };
        Parallel.For(0, rows, options, r =>
        {
            int h = r % p.Channels;
            var response = new double[length];
            for (int n = 0; n < p.Modes; n++)
            {
                var (abar, bbar, _) = Discretize(p, h, n, method);
                ref Complex s = ref state.X[r * p.Modes + n];
                if (s != Complex.Zero)
                {
                    Complex z = p.C(h, n) * s * abar;
                    for (int l = 0; l < length; l++)
                    {
                        response[l] += z.Real;
                        z *= abar;
                    }
                }
                Complex acc = s;
                for (int j = 0; j < length; j++) acc = abar * acc + bbar * double.CreateTruncating(uChunk.Data[r * length + j]);
                s = acc;
            }
            for (int l = 0; l < length; l++) y.Data[r * length + l] += T.CreateTruncating(2.0 * response[l]);
        });
        return y;
    }
}
