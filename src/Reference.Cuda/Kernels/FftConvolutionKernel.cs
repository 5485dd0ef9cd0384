using System.Numerics;
using ILGPU;
using ILGPU.Runtime;

namespace Reference.Cuda.Kernels;

/// <summary>
/// Shapes of one FFT convolution: u [C, L], k [C, Lk], y [C, L]; transform length N = N1 N2 = 2^(LogN1 + LogN2)
/// with N &gt;= L + min(L, Lk) - 1 (so the circular product equals the causal sum at t &lt; L); N1 &lt;= N2.
/// </summary>
internal readonly record struct FftConvolutionArgs(int Channels, int L, int KernelLength, int LogN1, int LogN2)
{
    public int N1 => 1 << LogN1;
    public int N2 => 1 << LogN2;
    public int N => 1 << (LogN1 + LogN2);
    public int Pairs => (Channels + 1) / 2;
}

/// <summary>
/// Causal convolution y = k * u through the discrete Fourier transform (the GPU counterpart of
/// <c>FftConvolution</c>'s fast tier): y[c, t] = IDFT_N(DFT_N(u_c) DFT_N(k_c))[t] for t &lt; L, the
/// zero padding to N &gt;= L + min(L, Lk) - 1 keeping the circular wrap out of the kept outputs.
/// <para>Two real transforms in one complex one: z = u + i s k (s a power of two per channel that brings
/// ||s k|| near ||u||, exact) has Z[f] = U[f] + i s K[f], so U = (Z[f] + conj Z[-f]) / 2 and
/// s K = (Z[f] - conj Z[-f]) / (2 i) (the transforms of real signals are Hermitian). The product Y_c = U K is
/// Hermitian too, so two channels' products go back through one inverse: IDFT(Y_a + i r Y_b) = y_a + i r y_b, r = w_a / w_b
/// with w_c the power of two nearest ||u_c|| ||k_c|| (both outputs at one magnitude, for the same reason).</para>
/// <para>Each length-N transform is Bailey's four-step (Bailey, J. Supercomputing 4, 1990): with n = n1 N2 + n2 and
/// f = k1 + N1 k2, DFT_N = N2 column DFTs of length N1 over n1 (stride N2), the twiddle w_N^(k1 n2), then N1 row
/// DFTs of length N2 over n2 (contiguous). The spectrum stays in the layout [k1, k2] (no transpose): the
/// pointwise product does not care, and the inverse undoes the steps in reverse order. Every length-N1 or -N2
/// DFT runs in shared memory, <see cref="Points"/> points per group of 256 threads: radix-2 decimation in time
/// from bit-reversed loads, two levels per pass, twiddles from a table of w_N^j computed in float64.</para>
/// <para>Accumulation order: that of the radix-2 butterflies (log2 N levels of pairwise sums), not the
/// direct sum's; the error bound is the FFT's, O(u log N) relative to ||k|| ||u||.</para>
/// </summary>
internal static class FftConvolutionKernel
{
    /// <summary>Complex points one group transforms in shared memory (16.5 KiB float32, 33 KiB float64 with the padding).</summary>
    public const int Points = 2048;

    /// <summary>The largest transform: both factors at most <see cref="Points"/>.</summary>
    public const int MaxLogN = 22;

    private const int Threads = 256;

    /// <summary>Sequences of length 2^logLength that one group takes, at most <paramref name="available"/>.</summary>
    public static int PerGroup(int logLength, int available) => Math.Min(Points >> logLength, available);

    /// <summary>log2 of <see cref="PerGroup"/> for available = 2^logAvailable (all counts are powers of two: shifts, no divisions).</summary>
    private static int LogPerGroup(int logLength, int logAvailable) => Math.Min(LogPoints - logLength, logAvailable);

    private const int LogPoints = 11;

    /// <summary>Shared words per array: one pad word after every 32 (see <see cref="Pad"/>).</summary>
    private const int PaddedPoints = Points + Points / 32;

    /// <summary>
    /// The shared-memory word of element w of the [j, b] layout, one pad word after every 32: the bit-reversed stores of
    /// the row pass (rows j = rev(j') 8 apart for 32 consecutive j', all in one bank unpadded) spread over 16 banks.
    /// </summary>
    private static int Pad(int w) => w + (w >> 5);

    public static KernelConfig ScaleConfig(FftConvolutionArgs s) => new(new Index3D(s.Channels, 1, 1), new Index3D(Threads, 1, 1));

    public static KernelConfig ColumnConfig(FftConvolutionArgs s, int sequences) =>
        new(new Index3D(s.N2 / PerGroup(s.LogN1, s.N2), sequences, 1), new Index3D(Threads, 1, 1));

    public static KernelConfig RowConfig(FftConvolutionArgs s, int sequences) =>
        new(new Index3D(s.N1 / PerGroup(s.LogN2, s.N1), sequences, 1), new Index3D(Threads, 1, 1));

    /// <summary>table[2 j], table[2 j + 1] = cos, -sin (2 pi j / N) = w_N^j, evaluated in float64.</summary>
    public static void TwiddleSingle(Index1D j, ArrayView<float> table, int n)
    {
        double angle = 2 * Math.PI * j / n;
        table[2 * j] = (float)Math.Cos(angle);
        table[2 * j + 1] = (float)-Math.Sin(angle);
    }

    /// <summary>As <see cref="TwiddleSingle"/>, float64 (two entries: ILGPU does not compile double-to-T conversions).</summary>
    public static void TwiddleDouble(Index1D j, ArrayView<double> table, int n)
    {
        double angle = 2 * Math.PI * j / n;
        table[2 * j] = Math.Cos(angle);
        table[2 * j + 1] = -Math.Sin(angle);
    }

    /// <summary>
    /// scale[c] = s, a power of two with s^2 ||k_c||^2 within a factor 4 of ||u_c||^2 (1 when either is zero):
    /// the packed z = u + i s k then carries both signals at one magnitude, so the rounding of Z, which is
    /// relative to |Z|, stays relative to each of them. scale[C + c] = w_c, the power of two within a factor 2
    /// of ||u_c|| ||k_c|| (1 when zero), which weighs the two channels of an inverse pair alike.
    /// </summary>
    public static void Scale<T>(ArrayView<T> u, ArrayView<T> k, ArrayView<T> scale, FftConvolutionArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var su = SharedMemory.Allocate<T>(Threads);
        var sk = SharedMemory.Allocate<T>(Threads);
        int tid = Group.IdxX, c = Grid.IdxX;
        T uu = T.Zero, kk = T.Zero;
        for (int t = tid; t < s.L; t += Threads) uu += u[(long)c * s.L + t] * u[(long)c * s.L + t];
        for (int t = tid; t < s.KernelLength; t += Threads) kk += k[(long)c * s.KernelLength + t] * k[(long)c * s.KernelLength + t];
        su[tid] = uu;
        sk[tid] = kk;
        Group.Barrier();
        for (int half = Threads / 2; half >= 1; half /= 2)
        {
            if (tid < half)
            {
                su[tid] += su[tid + half];
                sk[tid] += sk[tid + half];
            }
            Group.Barrier();
        }
        if (tid == 0)
        {
            T nu = su[0], nk = sk[0], two = T.One + T.One, four = two + two, factor = T.One;
            // At most 60 doublings or halvings either way (factor^2 stays inside float32's range).
            if (nu > T.Zero && nk > T.Zero && T.IsFinite(nu) && T.IsFinite(nk))
            {
                for (int i = 0; i < 60 && factor * factor * nk * four <= nu; i++) factor *= two;
                for (int i = 0; i < 60 && factor * factor * nk > four * nu; i++) factor /= two;
            }
            scale[c] = factor;
            T weight = T.One, size = T.Sqrt(nu) * T.Sqrt(nk);
            if (size > T.Zero && T.IsFinite(size))
            {
                for (int i = 0; i < 60 && weight * two <= size; i++) weight *= two;
                for (int i = 0; i < 60 && weight > size * two; i++) weight /= two;
            }
            scale[s.Channels + c] = weight;
        }
    }

    /// <summary>
    /// In-place radix-2 DIT on count = 2^logCount sequences of length 2^logLength held as re/im[j count + b] with j in
    /// bit-reversed order; w_(2h)^pos = table[pos N / (2 h)] (conjugated when inverse). Two levels per pass over
    /// shared memory (radix 2^2): a thread takes the quad i0 = 4 h g + pos, i0 + h, i0 + 2 h, i0 + 3 h, applies level
    /// h to (i0, i1) and (i2, i3) with w_(2h)^pos and level 2 h to (i0, i2) with w_(4h)^pos and (i1, i3) with
    /// w_(4h)^(pos + h), the same butterflies as two radix-2 levels, with half the shared-memory traffic and barriers.
    /// An odd number of levels starts with one radix-2 level.
    /// </summary>
    private static void Transform<T>(ArrayView<T> re, ArrayView<T> im, int logCount, int logLength, int logN, ArrayView<T> table, bool inverse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int tid = Group.IdxX, count = 1 << logCount, logH = 0;
        if ((logLength & 1) == 1)
        {
            // Level h = 1: w_2^0 = 1.
            for (int t = tid; t < count << logLength >> 1; t += Threads)
            {
                int b = t & (count - 1), r = t >> logCount;
                int a0 = Pad(((2 * r) << logCount) + b), a1 = Pad(((2 * r + 1) << logCount) + b);
                T ar = re[a0], ai = im[a0], xr = re[a1], xi = im[a1];
                re[a0] = ar + xr;
                im[a0] = ai + xi;
                re[a1] = ar - xr;
                im[a1] = ai - xi;
            }
            Group.Barrier();
            logH = 1;
        }
        for (; logH + 2 <= logLength; logH += 2)
        {
            int h = 1 << logH, quads = count << logLength >> 2;
            for (int t = tid; t < quads; t += Threads)
            {
                int b = t & (count - 1), r = t >> logCount, pos = r & (h - 1);
                int i0 = ((r - pos) << 2) + pos;
                int w1 = pos << (logN - 1 - logH), w2 = pos << (logN - 2 - logH), w3 = (pos + h) << (logN - 2 - logH);
                T c1 = table[2 * w1], s1 = inverse ? -table[2 * w1 + 1] : table[2 * w1 + 1];
                T c2 = table[2 * w2], s2 = inverse ? -table[2 * w2 + 1] : table[2 * w2 + 1];
                T c3 = table[2 * w3], s3 = inverse ? -table[2 * w3 + 1] : table[2 * w3 + 1];
                int a0 = Pad((i0 << logCount) + b), a1 = Pad(((i0 + h) << logCount) + b);
                int a2 = Pad(((i0 + 2 * h) << logCount) + b), a3 = Pad(((i0 + 3 * h) << logCount) + b);
                T x0r = re[a0], x0i = im[a0], x1r = re[a1], x1i = im[a1], x2r = re[a2], x2i = im[a2], x3r = re[a3], x3i = im[a3];
                // Level h: (x0, x1) and (x2, x3) with w_(2h)^pos.
                T pr = x1r * c1 - x1i * s1, pi = x1r * s1 + x1i * c1;
                T qr = x3r * c1 - x3i * s1, qi = x3r * s1 + x3i * c1;
                T y0r = x0r + pr, y0i = x0i + pi, y1r = x0r - pr, y1i = x0i - pi;
                T y2r = x2r + qr, y2i = x2i + qi, y3r = x2r - qr, y3i = x2i - qi;
                // Level 2 h: (y0, y2) with w_(4h)^pos, (y1, y3) with w_(4h)^(pos + h).
                T ur = y2r * c2 - y2i * s2, ui = y2r * s2 + y2i * c2;
                T vr = y3r * c3 - y3i * s3, vi = y3r * s3 + y3i * c3;
                re[a0] = y0r + ur;
                im[a0] = y0i + ui;
                re[a2] = y0r - ur;
                im[a2] = y0i - ui;
                re[a1] = y1r + vr;
                im[a1] = y1i + vi;
                re[a3] = y1r - vr;
                im[a3] = y1i - vi;
            }
            Group.Barrier();
        }
    }

    /// <summary>The low <paramref name="bits"/> bits of x reversed (swaps of halves, quarters, ...: no loop).</summary>
    private static int Reverse(int x, int bits)
    {
        uint v = (uint)x;
        v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
        v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
        v = ((v >> 4) & 0x0F0F0F0Fu) | ((v & 0x0F0F0F0Fu) << 4);
        v = ((v >> 8) & 0x00FF00FFu) | ((v & 0x00FF00FFu) << 8);
        v = (v >> 16) | (v << 16);
        return bits == 0 ? 0 : (int)(v >> (32 - bits));
    }

    /// <summary>
    /// Forward step 1: z[c, n] = u[c, n] + i scale[c] k[c, n] (zero past L and Lk), column DFTs over n1, twiddle
    /// w_N^(k1 n2); spectrum[c] holds [k1, n2] afterwards (interleaved re, im). Grid (column groups, channels).
    /// </summary>
    public static void ForwardColumns<T>(ArrayView<T> u, ArrayView<T> k, ArrayView<T> scale, ArrayView<T> spectrum, ArrayView<T> table,
        FftConvolutionArgs s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var re = SharedMemory.Allocate<T>(PaddedPoints);
        var im = SharedMemory.Allocate<T>(PaddedPoints);
        int tid = Group.IdxX, c = Grid.IdxY, logCount = LogPerGroup(s.LogN1, s.LogN2), count = 1 << logCount, col0 = Grid.IdxX << logCount;
        int points = count << s.LogN1, logN = s.LogN1 + s.LogN2;
        T sc = scale[c];
        for (int x = tid; x < points; x += Threads)
        {
            int n1 = x >> logCount, b = x & (count - 1), n = (n1 << s.LogN2) + col0 + b;
            int at = Pad((Reverse(n1, s.LogN1) << logCount) + b);
            re[at] = n < s.L ? u[(long)c * s.L + n] : T.Zero;
            im[at] = n < s.KernelLength && n < s.L ? sc * k[(long)c * s.KernelLength + n] : T.Zero;
        }
        Group.Barrier();
        Transform(re, im, logCount, s.LogN1, logN, table, inverse: false);
        long baseIndex = (long)c * s.N * 2;
        for (int x = tid; x < points; x += Threads)
        {
            int k1 = x >> logCount, b = x & (count - 1), n2 = col0 + b;
            int w = (int)((long)k1 * n2 & (s.N - 1));
            T wr = table[2 * w], wi = table[2 * w + 1], zr = re[Pad(x)], zi = im[Pad(x)];
            long at = baseIndex + 2L * ((k1 << s.LogN2) + n2);
            spectrum[at] = zr * wr - zi * wi;
            spectrum[at + 1] = zr * wi + zi * wr;
        }
    }

    /// <summary>Step 2 (either direction): DFTs of length N2 over the contiguous rows of data[sequence], in place. Grid (row groups, sequences).</summary>
    public static void Rows<T>(ArrayView<T> data, ArrayView<T> table, FftConvolutionArgs s, int inverse) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var re = SharedMemory.Allocate<T>(PaddedPoints);
        var im = SharedMemory.Allocate<T>(PaddedPoints);
        int tid = Group.IdxX, logCount = LogPerGroup(s.LogN2, s.LogN1), count = 1 << logCount, row0 = Grid.IdxX << logCount;
        int points = count << s.LogN2, logN = s.LogN1 + s.LogN2;
        long baseIndex = (long)Grid.IdxY * s.N * 2 + 2L * row0 * s.N2;
        for (int x = tid; x < points; x += Threads)
        {
            int b = x >> s.LogN2, j = x & (s.N2 - 1);
            int at = Pad((Reverse(j, s.LogN2) << logCount) + b);
            re[at] = data[baseIndex + 2L * x];
            im[at] = data[baseIndex + 2L * x + 1];
        }
        Group.Barrier();
        Transform(re, im, logCount, s.LogN2, logN, table, inverse != 0);
        for (int x = tid; x < points; x += Threads)
        {
            int b = x >> s.LogN2, j = x & (s.N2 - 1);
            data[baseIndex + 2L * x] = re[Pad((j << logCount) + b)];
            data[baseIndex + 2L * x + 1] = im[Pad((j << logCount) + b)];
        }
    }

    /// <summary>
    /// The pointwise step on the [k1, k2] layout, one thread per (pair, position): for channels a = 2 p and b = 2 p + 1,
    /// Y = U K / (scale N) from each packed spectrum, pairs[p] = Y_a + i Y_b (Y_b = 0 past the last channel).
    /// </summary>
    public static void Product<T>(Index2D index, ArrayView<T> spectrum, ArrayView<T> scale, ArrayView<T> pairs, T inverseN, FftConvolutionArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int q = index.X, p = index.Y;
        int k1 = q >> s.LogN2, k2 = q & (s.N2 - 1), f = k1 + (k2 << s.LogN1);
        int g = (s.N - f) & (s.N - 1), mirror = ((g & (s.N1 - 1)) << s.LogN2) + (g >> s.LogN1);
        T half = T.One / (T.One + T.One);
        Complex<T> ya = ChannelProduct(spectrum, scale, 2 * p, q, mirror, half, s);
        Complex<T> yb = default;
        T ratio = T.One;
        if (2 * p + 1 < s.Channels)
        {
            yb = ChannelProduct(spectrum, scale, 2 * p + 1, q, mirror, half, s);
            ratio = scale[s.Channels + 2 * p] / scale[s.Channels + 2 * p + 1];
        }
        long at = (long)p * s.N * 2 + 2L * q;
        // Y_a + i r Y_b, and the 1 / N of the inverse transform (powers of two: exact).
        pairs[at] = (ya.Re - ratio * yb.Im) * inverseN;
        pairs[at + 1] = (ya.Im + ratio * yb.Re) * inverseN;
    }

    private struct Complex<T> where T : unmanaged, INumber<T>
    {
        public T Re, Im;
    }

    private static Complex<T> ChannelProduct<T>(ArrayView<T> spectrum, ArrayView<T> scale, int c, int q, int mirror, T half, FftConvolutionArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long baseIndex = (long)c * s.N * 2;
        T zr = spectrum[baseIndex + 2L * q], zi = spectrum[baseIndex + 2L * q + 1];
        T mr = spectrum[baseIndex + 2L * mirror], mi = spectrum[baseIndex + 2L * mirror + 1];
        // U = (Z + conj M) / 2, s K = (Z - conj M) / (2 i) with M = Z[-f].
        T ur = (zr + mr) * half, ui = (zi - mi) * half;
        T kr = (zi + mi) * half / scale[c], ki = (mr - zr) * half / scale[c];
        return new Complex<T> { Re = ur * kr - ui * ki, Im = ur * ki + ui * kr };
    }

    /// <summary>
    /// Inverse step 1, after the inverse rows: twiddle conj w_N^(k1 n2), column inverse DFTs over k1 → n1, and
    /// y[2 p, n] = Re, y[2 p + 1, n] = Im / r for n &lt; L. Grid (column groups, pairs).
    /// </summary>
    public static void InverseColumns<T>(ArrayView<T> pairs, ArrayView<T> table, ArrayView<T> scale, ArrayView<T> y, FftConvolutionArgs s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var re = SharedMemory.Allocate<T>(PaddedPoints);
        var im = SharedMemory.Allocate<T>(PaddedPoints);
        int tid = Group.IdxX, p = Grid.IdxY, logCount = LogPerGroup(s.LogN1, s.LogN2), count = 1 << logCount, col0 = Grid.IdxX << logCount;
        int points = count << s.LogN1, logN = s.LogN1 + s.LogN2;
        long baseIndex = (long)p * s.N * 2;
        for (int x = tid; x < points; x += Threads)
        {
            int k1 = x >> logCount, b = x & (count - 1), n2 = col0 + b;
            int w = (int)((long)k1 * n2 & (s.N - 1));
            long from = baseIndex + 2L * ((k1 << s.LogN2) + n2);
            T zr = pairs[from], zi = pairs[from + 1], wr = table[2 * w], wi = -table[2 * w + 1];
            int at = Pad((Reverse(k1, s.LogN1) << logCount) + b);
            re[at] = zr * wr - zi * wi;
            im[at] = zr * wi + zi * wr;
        }
        Group.Barrier();
        Transform(re, im, logCount, s.LogN1, logN, table, inverse: true);
        for (int x = tid; x < points; x += Threads)
        {
            int n1 = x >> logCount, b = x & (count - 1), n = (n1 << s.LogN2) + col0 + b;
            if (n >= s.L) continue;
            y[(long)2 * p * s.L + n] = re[Pad(x)];
            if (2 * p + 1 < s.Channels) y[(long)(2 * p + 1) * s.L + n] = im[Pad(x)] * (scale[s.Channels + 2 * p + 1] / scale[s.Channels + 2 * p]);
        }
    }
}
