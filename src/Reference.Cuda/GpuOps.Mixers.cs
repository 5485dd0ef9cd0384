using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using Reference.Cuda.Kernels;

namespace Reference.Cuda;

public static partial class GpuOps
{
    // ---------------------------------------------------------------- gated linear recurrences

    /// <summary>The largest feature size (key dimension, after a feature map) of the gated linear kernel.</summary>
    public const int MaxLinearFeatures = GatedLinearKernel.MaxFeatures;

    /// <summary>
    /// Gated linear attention (GLA): q, k [B, H, L, K], v [B, H, L, V], g [B, H, L, K] log gates (or
    /// [B, H, L, 1] when scalarGate); out [B, H, L, V] = S_t^T (K^-1/2 q_t), S_t = Diag(exp(g_t)) S_{t-1} + k_t v_t^T.
    /// When <paramref name="state"/> [B, H, K, V] is given, S_{-1} is read from it and S_{L-1} written back into it.
    /// </summary>
    public static T[] GatedLinearAttention<T>(T[] q, T[] k, T[] v, T[] g, int batch, int heads, int l, int kd, int vd, bool scalarGate,
        T[]? state = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLinear(q, k, v, batch, heads, l, kd, vd);
        Expect(g, (long)batch * heads * l * (scalarGate ? 1 : kd), nameof(g));
        int gc = scalarGate ? 1 : kd;
        var args = Canonical(batch, heads, l, kd, vd, normalize: false) with
        {
            GB = (long)heads * l * gc, GH = (long)l * gc, GT = gc, GC = scalarGate ? 0 : 1, HasGate = 1,
        };
        return RunLinear(q, k, v, g, args, T.One / T.Sqrt(T.CreateTruncating(kd)), T.Zero, featureMap: -1, state: state);
    }

    /// <summary>Decayed linear attention: as <see cref="GatedLinearAttention{T}"/> with the constant gate g_t = log_lambda [H, K].</summary>
    public static T[] DecayedLinearAttention<T>(T[] q, T[] k, T[] v, T[] logLambda, int batch, int heads, int l, int kd, int vd,
        T[]? state = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLinear(q, k, v, batch, heads, l, kd, vd);
        Expect(logLambda, (long)heads * kd, nameof(logLambda));
        var args = Canonical(batch, heads, l, kd, vd, normalize: false) with { GB = 0, GH = kd, GT = 0, GC = 1, HasGate = 1 };
        return RunLinear(q, k, v, logLambda, args, T.One / T.Sqrt(T.CreateTruncating(kd)), T.Zero, featureMap: -1, state: state);
    }

    /// <summary>
    /// Causal linear attention with feature map (0 identity, 1 elu + 1, 2 relu, 3 Taylor) and optional
    /// normaliser: out_t = sum_{s &lt;= t} scale phi(q_t).phi(k_s) v_s [/ (sum_s scale phi(q_t).phi(k_s) + eps)].
    /// When <paramref name="state"/> is given ([B, H, F, V + 1] = [S | z] when normalising, [B, H, F, V] = S otherwise,
    /// S = sum_s phi(k_s) v_s^T, z = sum_s phi(k_s)), the recurrence starts from it and the final state is written back into it.
    /// </summary>
    public static T[] LinearAttention<T>(T[] q, T[] k, T[] v, int batch, int heads, int l, int kd, int vd, int map, bool normalize, T scale, T eps,
        T[]? state = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckLinear(q, k, v, batch, heads, l, kd, vd);
        if (map is < 0 or > 3) throw new ArgumentOutOfRangeException(nameof(map), $"map must be 0 (identity), 1 (elu1), 2 (relu) or 3 (taylor); got {map}.");
        int f = map == 3 ? 1 + kd + kd * kd : kd;
        var args = Canonical(batch, heads, l, f, vd, normalize);
        return RunLinear(q, k, v, null, args, scale, eps, map, kd, state);
    }

    /// <summary>
    /// Mamba-2's SSD in ssd_minimal's layout: x [B, L, H, P], dt [B, L, H], a_log [H], b, c [B, L, G, N],
    /// optional d, dt_bias [H]; y [B, L, H, P] = S_t C_t + D_h x_t with S_t = exp(Delta_t A_h) S_{t-1} + Delta_t x_t B_t^T.
    /// When <paramref name="state"/> [B, H, P, N] is given, S_{-1} is read from it and S_{L-1} written back into it.
    /// </summary>
    public static T[] Ssd<T>(T[] x, T[] dt, T[] aLog, T[] b, T[] c, T[]? d, T[]? dtBias, int batch, int l, int heads, int p, int groups, int n,
        T[]? state = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSsd(x, b, c, d, state, batch, l, heads, p, groups, n);
        long blh = (long)batch * l * heads;
        Expect(dt, blh, nameof(dt)); Expect(aLog, heads, nameof(aLog));
        if (dtBias is not null) Expect(dtBias, heads, nameof(dtBias));
        if (x.Length == 0) return [];
        var acc = Device.Accelerator;
        using var ddt = acc.Allocate1D(dt);
        using var da = acc.Allocate1D(aLog);
        using var dbias = acc.Allocate1D(dtBias ?? new T[1]);
        using var delta = acc.Allocate1D<T>(blh);
        using var gate = acc.Allocate1D<T>(blh);
        var gates = Kernel(acc, "ssd.gates", typeof(T), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>,
            ArrayView<T>, ArrayView<T>, int, int>(GatedLinearKernel.SsdGates));
        gates((int)blh, ddt.View, da.View, dbias.View, delta.View, gate.View, heads, dtBias is not null ? 1 : 0);
        return RunSsd(x, gate.View, delta.View, b, c, d, state, batch, l, heads, p, groups, n, keyScale: true);
    }

    /// <summary>
    /// Mamba-2's SSD on discretized inputs (ssd_minimal_discrete): x = X Delta [B, L, H, P], a = A Delta [B, L, H] the
    /// log decay of each step, b, c [B, L, G, N], optional d [H]; y_t = S_t c_t + d[h] x_t with
    /// S_t = exp(a_t) S_{t-1} + x_t b_t^T. The same chunked kernel as <see cref="Ssd{T}"/> with the gate a and no key scale.
    /// When <paramref name="state"/> [B, H, P, N] is given, S_{-1} is read from it and S_{L-1} written back into it.
    /// </summary>
    public static T[] SsdDiscrete<T>(T[] x, T[] a, T[] b, T[] c, T[]? d, int batch, int l, int heads, int p, int groups, int n, T[]? state = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSsd(x, b, c, d, state, batch, l, heads, p, groups, n);
        Expect(a, (long)batch * l * heads, nameof(a));
        if (x.Length == 0) return [];
        var acc = Device.Accelerator;
        using var gate = acc.Allocate1D(a);
        using var one = acc.Allocate1D<T>(1);
        return RunSsd(x, gate.View, one.View, b, c, d, state, batch, l, heads, p, groups, n, keyScale: false);
    }

    private static void CheckSsd<T>(T[] x, T[] b, T[] c, T[]? d, T[]? state, int batch, int l, int heads, int p, int groups, int n)
    {
        if (batch < 1 || l < 0 || heads < 1 || p < 1 || groups < 1 || n < 1)
            throw new ArgumentException($"SSD needs B, H, P, G, N >= 1 and L >= 0; got B {batch}, L {l}, H {heads}, P {p}, G {groups}, N {n}.", nameof(batch));
        if (heads % groups != 0) throw new ArgumentException($"groups G = {groups} must divide H = {heads}.", nameof(groups));
        if (n > MaxLinearFeatures) throw new NotSupportedException($"the SSD kernel holds N <= {MaxLinearFeatures} states; got N = {n}.");
        long blh = (long)batch * l * heads;
        Expect(x, blh * p, nameof(x));
        Expect(b, (long)batch * l * groups * n, nameof(b)); Expect(c, (long)batch * l * groups * n, nameof(c));
        if (d is not null) Expect(d, heads, nameof(d));
        if (state is not null) Expect(state, (long)batch * heads * p * n, nameof(state));
    }

    /// <summary>SSD as the gated linear recurrence: q = c, k = b (times Delta_t when keyScale), v = x, gate [B, L, H] per step.</summary>
    private static T[] RunSsd<T>(T[] x, ArrayView<T> gate, ArrayView<T> delta, T[] b, T[] c, T[]? d, T[]? state,
        int batch, int l, int heads, int p, int groups, int n, bool keyScale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new T[x.Length];
        var acc = Device.Accelerator;
        using var dx = acc.Allocate1D(x);
        using var db = acc.Allocate1D(b);
        using var dcm = acc.Allocate1D(c);
        using var dd = acc.Allocate1D(d ?? new T[1]);
        using var ds = acc.Allocate1D(state ?? new T[1]);
        using var dy = acc.Allocate1D<T>(result.Length);
        long lg = (long)l * groups * n, lh = (long)l * heads;
        var args = new GatedLinearArgs(batch, heads, l, n, p, heads / groups, 0,
            QB: lg, QH: n, QT: (long)groups * n, VB: lh * p, VH: p, VT: (long)heads * p, OB: lh * p, OH: p, OT: (long)heads * p,
            GB: lh, GH: 1, GT: heads, GC: 0, HasGate: 1, KB: lh, KH: 1, KT: heads, HasKeyScale: keyScale ? 1 : 0, HasSkip: d is not null ? 1 : 0,
            HasState: state is not null ? 1 : 0, SF: 1, SC: n);
        LaunchGatedLinear(dcm.View, db.View, dx.View, gate, delta, dd.View, ds.View, dy.View, args, T.One);
        acc.Synchronize();
        dy.View.CopyToCPU(result);
        if (state is not null) ds.View.CopyToCPU(state);
        return result;
    }

    /// <summary>Enqueues the chunked gated linear recurrence (see <see cref="GatedLinearKernel"/>) on device views.</summary>
    internal static void LaunchGatedLinear<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> g, ArrayView<T> keyScale,
        ArrayView<T> skip, ArrayView<T> carried, ArrayView<T> output, GatedLinearArgs args, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (args.F > MaxLinearFeatures)
            throw new NotSupportedException($"the gated linear kernel holds feature sizes F <= {MaxLinearFeatures}; got F = {args.F}.");
        var acc = Device.Accelerator;
        var kernel = Kernel(acc, "gated_linear", typeof(T), a => a.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>,
            ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, GatedLinearArgs, T>(GatedLinearKernel.Kernel));
        kernel(GatedLinearKernel.Config(args), q, k, v, g, keyScale, skip, carried, output, args, scale);
    }

    /// <summary>Strides of contiguous [B, H, L, F] q, k, [B, H, L, V] v, and out [B, H, L, V (+ 1 when normalized)]; no gate.</summary>
    private static GatedLinearArgs Canonical(int batch, int heads, int l, int f, int vd, bool normalize)
    {
        int columns = vd + (normalize ? 1 : 0);
        return new GatedLinearArgs(batch, heads, l, f, vd, 1, normalize ? 1 : 0,
            QB: (long)heads * l * f, QH: (long)l * f, QT: f, VB: (long)heads * l * vd, VH: (long)l * vd, VT: vd,
            OB: (long)heads * l * columns, OH: (long)l * columns, OT: columns,
            GB: 0, GH: 0, GT: 0, GC: 0, HasGate: 0, KB: 0, KH: 0, KT: 0, HasKeyScale: 0, HasSkip: 0);
    }

    private static T[] RunLinear<T>(T[] q, T[] k, T[] v, T[]? g, GatedLinearArgs args, T scale, T eps, int featureMap, int kd = 0,
        T[]? state = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (args.F > MaxLinearFeatures)
            throw new NotSupportedException($"the gated linear kernel holds feature sizes F <= {MaxLinearFeatures}; got F = {args.F}.");
        if (state is not null) Expect(state, (long)args.B * args.H * args.F * args.Columns, nameof(state));
        var result = new T[v.Length];
        if (result.Length == 0) return result;
        args = args with { HasState = state is not null ? 1 : 0, SF = args.Columns, SC = 1 };
        var acc = Device.Accelerator;
        long rows = (long)args.B * args.H * args.L;
        using var dq = acc.Allocate1D(q);
        using var dk = acc.Allocate1D(k);
        using var dv = acc.Allocate1D(v);
        using var dg = acc.Allocate1D(g ?? new T[1]);
        using var one = acc.Allocate1D<T>(1);
        using var dout = acc.Allocate1D<T>(result.Length);
        using var ds = acc.Allocate1D(state ?? new T[1]);
        using var pq = acc.Allocate1D<T>(featureMap >= 0 ? rows * args.F : 1);
        using var pk = acc.Allocate1D<T>(featureMap >= 0 ? rows * args.F : 1);
        using var raw = acc.Allocate1D<T>(args.Normalize != 0 ? rows * args.Columns : 1);
        var qv = dq.View;
        var kv = dk.View;
        if (featureMap >= 0)
        {
            var map = Kernel(acc, "linear.feature_map", typeof(T), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>,
                int, int, int, T, T>(GatedLinearKernel.FeatureMap));
            T r1 = T.CreateTruncating(Math.Pow(kd, 0.25)), r2 = T.CreateTruncating(Math.Sqrt(2.0) * Math.Sqrt(kd));
            map((int)(rows * args.F), dq.View, pq.View, kd, args.F, featureMap, r1, r2);
            map((int)(rows * args.F), dk.View, pk.View, kd, args.F, featureMap, r1, r2);
            qv = pq.View;
            kv = pk.View;
        }
        LaunchGatedLinear(qv, kv, dv.View, dg.View, one.View, one.View, ds.View, args.Normalize != 0 ? raw.View : dout.View, args, scale);
        if (args.Normalize != 0)
        {
            var normalize = Kernel(acc, "linear.normalize", typeof(T), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>,
                int, T>(GatedLinearKernel.Normalize));
            normalize(result.Length, raw.View, dout.View, args.V, eps);
        }
        acc.Synchronize();
        dout.View.CopyToCPU(result);
        if (state is not null) ds.View.CopyToCPU(state);
        return result;
    }

    private static void CheckLinear<T>(T[] q, T[] k, T[] v, int batch, int heads, int l, int kd, int vd)
    {
        if (batch < 1 || heads < 1 || l < 0 || kd < 1 || vd < 1)
            throw new ArgumentException($"linear attention needs B, H, K, V >= 1 and L >= 0; got B {batch}, H {heads}, L {l}, K {kd}, V {vd}.", nameof(batch));
        long bhl = (long)batch * heads * l;
        Expect(q, bhl * kd, nameof(q));
        Expect(k, bhl * kd, nameof(k));
        Expect(v, bhl * vd, nameof(v));
    }

    // ---------------------------------------------------------------- S4D

    /// <summary>
    /// S4D's kernel and output: per-mode factors coef = 2 C Bbar and log Abar [H, M] (float64, from the
    /// chosen discretization on the host), u [B, H, L]; returns the kernel [H, L] and y [B, H, L] =
    /// K * u + d u (the convolution is <see cref="CausalConvolution{T}"/>'s kernel).
    /// </summary>
    public static (T[] Y, T[] Kernel) S4D<T>(T[] u, double[] coefRe, double[] coefIm, double[] logRe, double[] logIm, T[] d,
        int batch, int channels, int modes, int l) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (batch < 1 || channels < 1 || modes < 1 || l < 1)
            throw new ArgumentException($"S4D needs B, H, M, L >= 1; got B {batch}, H {channels}, M {modes}, L {l}.", nameof(batch));
        long hm = (long)channels * modes, rows = (long)batch * channels;
        Expect(u, rows * l, nameof(u)); Expect(d, channels, nameof(d));
        Expect(coefRe, hm, nameof(coefRe)); Expect(coefIm, hm, nameof(coefIm)); Expect(logRe, hm, nameof(logRe)); Expect(logIm, hm, nameof(logIm));
        var acc = Device.Accelerator;
        using var cr = acc.Allocate1D(coefRe);
        using var ci = acc.Allocate1D(coefIm);
        using var lr = acc.Allocate1D(logRe);
        using var li = acc.Allocate1D(logIm);
        using var du = acc.Allocate1D(u);
        using var dd = acc.Allocate1D(d);
        using var kernels = acc.Allocate1D<T>(rows * l);
        using var dy = acc.Allocate1D<T>(rows * l);
        var skip = Kernel(acc, "s4d.skip", typeof(T), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>,
            int, int>(S4DKernel.AddSkip));
        if (typeof(T) == typeof(float))
        {
            var generate = Kernel(acc, "s4d.kernel", typeof(float), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>,
                ArrayView<double>, ArrayView<double>, ArrayView<float>, int, int, int>(S4DKernel.GenerateSingle));
            generate((int)(rows * l), cr.View, ci.View, lr.View, li.View, kernels.View.AsContiguous().Cast<float>(), channels, modes, l);
        }
        else
        {
            var generate = Kernel(acc, "s4d.kernel", typeof(double), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>,
                ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int>(S4DKernel.GenerateDouble));
            generate((int)(rows * l), cr.View, ci.View, lr.View, li.View, kernels.View.AsContiguous().Cast<double>(), channels, modes, l);
        }
        LaunchCausalConvolution<T>(du.View, kernels.View, dy.View, (int)rows, l, l);
        skip((int)(rows * l), du.View, dd.View, dy.View, channels, l);
        acc.Synchronize();
        var y = new T[rows * l];
        dy.View.CopyToCPU(y);
        var k = new T[(long)channels * l];
        kernels.View.SubView(0, k.Length).CopyToCPU(k);
        return (y, k);
    }

    // ---------------------------------------------------------------- Monarch

    /// <summary>
    /// The Monarch multiply y [B, L S] = P2 BlockDiag(w2) P1 BlockDiag(w1) x for x [B, K P], w1 [K, Q, P],
    /// w2 [L, S, R] (L R = K Q); complex when the imaginary parts are given (all three, or none).
    /// Returns (re, im); im is null for a real product.
    /// </summary>
    public static (T[] Re, T[]? Im) Monarch<T>(int batch, int k, int q, int p, int l, int s, int r,
        T[] w1Re, T[]? w1Im, T[] w2Re, T[]? w2Im, T[] xRe, T[]? xIm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (batch < 1 || k < 1 || q < 1 || p < 1 || l < 1 || s < 1 || r < 1 || (long)l * r != (long)k * q)
            throw new ArgumentException($"Monarch needs positive sizes with L R = K Q; got B {batch}, K {k}, Q {q}, P {p}, L {l}, S {s}, R {r}.", nameof(batch));
        bool complex = w1Im is not null;
        if (complex != (w2Im is not null) || complex != (xIm is not null))
            throw new ArgumentException("w1, w2 and x must all be complex (imaginary parts given) or all real.", nameof(w1Im));
        var m = new MonarchArgs(batch, k, q, p, l, s, r, complex ? 1 : 0);
        Expect(w1Re, (long)k * q * p, nameof(w1Re)); Expect(w2Re, (long)l * s * r, nameof(w2Re)); Expect(xRe, (long)batch * m.Inputs, nameof(xRe));
        if (complex)
        {
            Expect(w1Im!, w1Re.Length, nameof(w1Im)); Expect(w2Im!, w2Re.Length, nameof(w2Im)); Expect(xIm!, xRe.Length, nameof(xIm));
        }
        var acc = Device.Accelerator;
        using var a1 = acc.Allocate1D(w1Re);
        using var b1 = acc.Allocate1D(w1Im ?? new T[1]);
        using var a2 = acc.Allocate1D(w2Re);
        using var b2 = acc.Allocate1D(w2Im ?? new T[1]);
        using var xr = acc.Allocate1D(xRe);
        using var xi = acc.Allocate1D(xIm ?? new T[1]);
        using var hr = acc.Allocate1D<T>((long)batch * m.Middle);
        using var hi = acc.Allocate1D<T>(complex ? (long)batch * m.Middle : 1);
        using var yr = acc.Allocate1D<T>((long)batch * m.Outputs);
        using var yi = acc.Allocate1D<T>(complex ? (long)batch * m.Outputs : 1);
        if (complex)
        {
            var first = Kernel(acc, "monarch.first.complex", typeof(T), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>,
                ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, MonarchArgs>(MonarchKernel.FirstComplex));
            var second = Kernel(acc, "monarch.second.complex", typeof(T), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>,
                ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, MonarchArgs>(MonarchKernel.SecondComplex));
            first(batch * m.Middle, a1.View, b1.View, xr.View, xi.View, hr.View, hi.View, m);
            second(batch * m.Outputs, a2.View, b2.View, hr.View, hi.View, yr.View, yi.View, m);
        }
        else
        {
            var first = Kernel(acc, "monarch.first", typeof(T), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>,
                ArrayView<T>, MonarchArgs>(MonarchKernel.First));
            var second = Kernel(acc, "monarch.second", typeof(T), a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>,
                ArrayView<T>, MonarchArgs>(MonarchKernel.Second));
            first(batch * m.Middle, a1.View, xr.View, hr.View, m);
            second(batch * m.Outputs, a2.View, hr.View, yr.View, m);
        }
        acc.Synchronize();
        var re = new T[(long)batch * m.Outputs];
        yr.View.CopyToCPU(re);
        if (!complex) return (re, null);
        var im = new T[re.Length];
        yi.View.CopyToCPU(im);
        return (re, im);
    }
}
