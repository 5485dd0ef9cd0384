// Causal Monarch convolution (causal M2): a sequence map y = M'^-1 (M' k * M' u), read back at the
// embedded positions, that is causal by construction and costs O(N^(1 + 1/p)) per channel.
//
// Paper: Fu, Arora et al., "Monarch Mixer" (arXiv:2310.12109), Sec. 5 (causal M2 for GPT-style
// models: Monarch matrices viewed as evaluating and interpolating multivariate polynomials, causality
// from a particular choice of basis and padding). No public code exists and the paper's appendix text
// could not be read here: this file is the project's reference definition, DERIVED FROM THE PAPER'S
// TEXT and checked with exact arithmetic (shared/spec/operators.md, "Monarch matrices and M2"):
//
//   indices in base b, N = b^p, j = sum_a j_a b^a (digit a of j is j_a < b);
//   per-digit padding: j is embedded on a grid of (2b)^p points at E(j) = sum_a j_a (2b)^a (zeros elsewhere);
//   per digit a: G = 2b distinct nodes x_{a,r} and a basis q_{a,0..G-1} of the polynomials of degree < G,
//     C_a [G, G] with C_a[t, m] = coefficient of X^t in q_{a,m};  V_a[r, t] = x_{a,r}^t (Vandermonde);
//     F_a = V_a C_a, F_a[r, m] = q_{a,m}(x_{a,r});
//   M' = F_{p-1} (x) ... (x) F_0 on the grid (F_a acts on digit a): M' c evaluates the p-variate polynomial
//     sum_m c[m] prod_a q_{a,m_a}(X_a) at every node tuple;
//   y = R M'^-1 ((M' E k) * (M' E u)) + d u, with R = E^T (read back at the embedded positions).
//
// Why it is causal (valid bases): a basis is valuation-triangular when q_m's lowest-order term is X^m
// (C_a[t, m] = 0 for t < m, C_a[m, m] != 0) and q_m has degree < b for m < b. Then the product of the
// polynomials of k and u (each of degree < b per digit, so their product has degree < 2b - 1 and the G
// nodes interpolate it exactly) has, in every digit, valuation >= the valuation of u's term, so output
// digit i_a >= input digit j_a for every a, hence i >= j. With the monomial basis the map is the
// digit-wise causal convolution y[i] = sum_{j: j_a <= i_a for all a} k[i (-) j] u[j] (digit-wise
// subtraction), independent of the nodes. Padding by appending zeros (E(j) = j) wraps the product around
// the nodes' vanishing polynomial and degree-triangular bases (q_m of degree exactly m) mix lower
// coefficients from higher ones: both leak the future (the tests show it on the materialized T).
// p = 1 is the ordinary causal convolution.
//
// Glossary (code -> spec/paper):
//   CausalMonarchPlan            b, p, N = b^p, G = 2b, Grid = G^p; Nodes[a] [G], Basis[a] = C_a [G, G] (row t, column m),
//                                Factors[a] = F_a [G, G] (row r = node, column m), Inverses[a] = F_a^-1
//   u [.., C, L], k [C, Lk], d [C]   input rows (channel c = row mod C), kernel, skip; L, Lk <= N (zero padded to N at the end,
//                                which keeps causality: T of a shorter sequence is the leading block)
//   T [L, L]                     the materialized map of one channel, T[i, j] = y[i] for u = e_j (d on the diagonal)
//
// Forms: the definition through M' (Convolve, Forward: naive Complex loops, digit by digit); the
// materialized T (Materialize, by the definition on unit vectors); an independent materialization in the
// coefficient domain that never evaluates at nodes (MaterializeCoefficients); the digit-wise closed form
// of the monomial basis (DigitwiseConvolution, and as a matrix MaterializeDigitwise); the decoding form (InitialState/Step: the input history,
// see below); the backward pass (Backward, derived in its doc comment). Fast tier: CausalMonarch.Fast.cs.
//
// Decoding. For a fixed kernel the output at i needs every u[j] with j <= i digit-wise, and the last
// position N - 1 dominates every index, so until the end of the block every past input stays needed: the
// state is the input history, t values per channel after t tokens (as Hyena's). The measured effective
// state size (rank of T[t:, :t]) sits at min(t, N - t) for smooth kernels too (docs/monarch.md): the zeros
// where a digit of j exceeds i's break the Toeplitz structure that lets decaying filters compress.
//
// Deliberate simplifications: the naive tier computes in System.Numerics.Complex (float64); the result's
// imaginary part (zero in exact arithmetic for real k, u, real bases and node sets closed under
// conjugation) is dropped; the default plan is the monomial basis with the G-th roots of unity as nodes
// (F_a is then the DFT of size 2b, perfectly conditioned), general plans take any nodes and bases.
using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Monarch;

/// <summary>How indices are embedded on the (2b)^p grid: per digit (causal) or by appending zeros (the leak the tests show).</summary>
public enum CausalMonarchPadding
{
    /// <summary>j = sum_a j_a b^a goes to sum_a j_a (2b)^a.</summary>
    PerDigit,

    /// <summary>j goes to j (zeros appended after N): not causal, kept to demonstrate the rule.</summary>
    AppendedZeros,
}

/// <summary>
/// The fixed part of a causal Monarch convolution: block b, digits p, per-digit nodes and bases, and the
/// per-digit factors F_a = V_a C_a with their inverses (see the file head of CausalMonarch.cs).
/// </summary>
public sealed class CausalMonarchPlan
{
    private CausalMonarchPlan(int b, int p, Complex[][] nodes, Complex[][] basis, CausalMonarchPadding padding, bool monomial)
    {
        B = b;
        P = p;
        G = 2 * b;
        N = IntPow(b, p);
        Grid = IntPow(G, p);
        Nodes = nodes;
        Basis = basis;
        Padding = padding;
        IsMonomial = monomial;
        Factors = new Complex[p][];
        Inverses = new Complex[p][];
        for (int a = 0; a < p; a++)
        {
            Factors[a] = VandermondeTimesBasis(nodes[a], basis[a], G);
            Inverses[a] = Invert(Factors[a], G, $"nodes[{a}]");
        }
        Embedding = new int[N];
        for (int j = 0; j < N; j++) Embedding[j] = padding == CausalMonarchPadding.PerDigit ? EmbedPerDigit(j, b, p) : j;
    }

    /// <summary>Block size b (the base of the digits).</summary>
    public int B { get; }

    /// <summary>Number of digits p (factors of M').</summary>
    public int P { get; }

    /// <summary>Nodes per digit, G = 2b.</summary>
    public int G { get; }

    /// <summary>Sequence length the plan covers, N = b^p.</summary>
    public int N { get; }

    /// <summary>Points of the evaluation grid, G^p.</summary>
    public int Grid { get; }

    /// <summary>x_{a,r}: G nodes per digit.</summary>
    public Complex[][] Nodes { get; }

    /// <summary>C_a [G, G] per digit, C_a[t, m] = coefficient of X^t in q_{a,m}.</summary>
    public Complex[][] Basis { get; }

    /// <summary>F_a = V_a C_a [G, G] per digit, F_a[r, m] = q_{a,m}(x_{a,r}).</summary>
    public Complex[][] Factors { get; }

    /// <summary>F_a^-1 [G, G] per digit (Gauss-Jordan with partial pivoting, complex128).</summary>
    public Complex[][] Inverses { get; }

    public CausalMonarchPadding Padding { get; }

    /// <summary>Whether every C_a is the identity (the digit-wise closed form then holds).</summary>
    public bool IsMonomial { get; }

    /// <summary>Embedding[j]: the grid index of sequence position j (and where output j is read back).</summary>
    public int[] Embedding { get; }

    /// <summary>The default plan: monomial basis, nodes x_{a,r} = exp(-2 pi i r / G) (F_a is the DFT of size 2b).</summary>
    public static CausalMonarchPlan Create(int b, int p)
    {
        CheckSizes(b, p);
        int g = 2 * b;
        var nodes = new Complex[p][];
        var basis = new Complex[p][];
        for (int a = 0; a < p; a++)
        {
            nodes[a] = new Complex[g];
            for (int r = 0; r < g; r++) nodes[a][r] = Complex.FromPolarCoordinates(1.0, -2.0 * Math.PI * r / g);
            basis[a] = Identity(g);
        }
        return new CausalMonarchPlan(b, p, nodes, basis, CausalMonarchPadding.PerDigit, monomial: true);
    }

    /// <summary>
    /// A plan with the given nodes [p][2b] (distinct per digit) and bases [p][2b x 2b], each valuation-triangular
    /// (C[t, m] = 0 for t &lt; m, C[m, m] != 0) with q_m of degree &lt; b for m &lt; b; anything else is rejected,
    /// naming the digit and the entry.
    /// </summary>
    public static CausalMonarchPlan Create(int b, int p, Complex[][] nodes, Complex[][] basis)
    {
        CheckShapes(b, p, nodes, basis);
        int g = 2 * b;
        for (int a = 0; a < p; a++)
        {
            var c = basis[a];
            for (int m = 0; m < g; m++)
            {
                if (c[m * g + m] == Complex.Zero)
                    throw new ArgumentException($"basis[{a}] must be valuation-triangular: C[{m}, {m}] (the X^{m} term of q_{m}) is 0.", nameof(basis));
                for (int t = 0; t < m; t++)
                    if (c[t * g + m] != Complex.Zero)
                        throw new ArgumentException($"basis[{a}] must be valuation-triangular: C[{t}, {m}] = {c[t * g + m]} (q_{m} has a term X^{t} below X^{m}).", nameof(basis));
                if (m < b)
                    for (int t = b; t < g; t++)
                        if (c[t * g + m] != Complex.Zero)
                            throw new ArgumentException($"basis[{a}]: q_{m} (m < b = {b}) must have degree < b, but C[{t}, {m}] = {c[t * g + m]}.", nameof(basis));
            }
        }
        return new CausalMonarchPlan(b, p, Clone(nodes), Clone(basis), CausalMonarchPadding.PerDigit, monomial: IsIdentity(basis, g));
    }

    /// <summary>
    /// A plan without the basis checks and with a chosen padding: degree-triangular bases or appended zeros,
    /// which are NOT causal (the tests use it to show that the rules of <see cref="Create(int, int, Complex[][], Complex[][])"/> are needed).
    /// </summary>
    public static CausalMonarchPlan CreateUnchecked(int b, int p, Complex[][] nodes, Complex[][] basis, CausalMonarchPadding padding)
    {
        CheckShapes(b, p, nodes, basis);
        return new CausalMonarchPlan(b, p, Clone(nodes), Clone(basis), padding, monomial: IsIdentity(basis, 2 * b));
    }

    /// <summary>The smallest block b >= 2 with b^p >= L: the plan of p digits covering a length-L sequence.</summary>
    public static int BlockFor(int length, int p)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 1, nameof(p));
        int b = 2;
        while (Math.Pow(b, p) < length) b++;
        return b;
    }

    private static int EmbedPerDigit(int j, int b, int p)
    {
        int g = 2 * b, e = 0, scale = 1;
        for (int a = 0; a < p; a++)
        {
            e += (j % b) * scale;
            j /= b;
            scale *= g;
        }
        return e;
    }

    private static void CheckSizes(int b, int p)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(b, 1, nameof(b));
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 1, nameof(p));
        if (Math.Pow(2.0 * b, p) > 1 << 26)
            throw new ArgumentException($"the grid (2b)^p must have at most 2^26 points, got b = {b}, p = {p}.", nameof(p));
    }

    private static void CheckShapes(int b, int p, Complex[][] nodes, Complex[][] basis)
    {
        CheckSizes(b, p);
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(basis);
        int g = 2 * b;
        if (nodes.Length != p) throw new ArgumentException($"nodes must have p = {p} rows (one per digit), got {nodes.Length}.", nameof(nodes));
        if (basis.Length != p) throw new ArgumentException($"basis must have p = {p} matrices (one per digit), got {basis.Length}.", nameof(basis));
        for (int a = 0; a < p; a++)
        {
            if (nodes[a] is null || nodes[a].Length != g)
                throw new ArgumentException($"nodes[{a}] must have 2b = {g} nodes, got {nodes[a]?.Length ?? 0}.", nameof(nodes));
            if (basis[a] is null || basis[a].Length != g * g)
                throw new ArgumentException($"basis[{a}] must be [2b, 2b] = {g * g} elements, got {basis[a]?.Length ?? 0}.", nameof(basis));
            for (int r = 0; r < g; r++)
                for (int s = 0; s < r; s++)
                    if (nodes[a][r] == nodes[a][s])
                        throw new ArgumentException($"nodes[{a}] must be distinct: nodes[{a}][{s}] = nodes[{a}][{r}] = {nodes[a][r]}.", nameof(nodes));
        }
    }

    private static Complex[] VandermondeTimesBasis(Complex[] nodes, Complex[] basis, int g)
    {
        var f = new Complex[g * g];
        var powers = new Complex[g];
        for (int r = 0; r < g; r++)
        {
            powers[0] = Complex.One;
            for (int t = 1; t < g; t++) powers[t] = powers[t - 1] * nodes[r];
            for (int m = 0; m < g; m++)
            {
                Complex acc = Complex.Zero;
                for (int t = 0; t < g; t++) acc += powers[t] * basis[t * g + m];
                f[r * g + m] = acc;
            }
        }
        return f;
    }

    /// <summary>A^-1 by Gauss-Jordan elimination with partial pivoting (row-major [g, g]).</summary>
    internal static Complex[] Invert(Complex[] a, int g, string argument)
    {
        var m = (Complex[])a.Clone();
        var inv = Identity(g);
        for (int col = 0; col < g; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < g; r++)
                if (m[r * g + col].Magnitude > m[pivot * g + col].Magnitude) pivot = r;
            if (m[pivot * g + col] == Complex.Zero)
                throw new ArgumentException($"F = V C is singular (column {col}): the nodes must be distinct and the basis invertible.", argument);
            if (pivot != col)
                for (int c = 0; c < g; c++)
                {
                    (m[col * g + c], m[pivot * g + c]) = (m[pivot * g + c], m[col * g + c]);
                    (inv[col * g + c], inv[pivot * g + c]) = (inv[pivot * g + c], inv[col * g + c]);
                }
            var scale = Complex.One / m[col * g + col];
            for (int c = 0; c < g; c++)
            {
                m[col * g + c] *= scale;
                inv[col * g + c] *= scale;
            }
            for (int r = 0; r < g; r++)
            {
                if (r == col) continue;
                var factor = m[r * g + col];
                if (factor == Complex.Zero) continue;
                for (int c = 0; c < g; c++)
                {
                    m[r * g + c] -= factor * m[col * g + c];
                    inv[r * g + c] -= factor * inv[col * g + c];
                }
            }
        }
        return inv;
    }

    internal static Complex[] Identity(int g)
    {
        var id = new Complex[g * g];
        for (int i = 0; i < g; i++) id[i * g + i] = Complex.One;
        return id;
    }

    private static bool IsIdentity(Complex[][] basis, int g)
    {
        foreach (var c in basis)
            for (int t = 0; t < g; t++)
                for (int m = 0; m < g; m++)
                    if (c[t * g + m] != (t == m ? Complex.One : Complex.Zero)) return false;
        return true;
    }

    private static Complex[][] Clone(Complex[][] x) => [.. x.Select(r => (Complex[])r.Clone())];

    internal static int IntPow(int b, int e)
    {
        int v = 1;
        for (int i = 0; i < e; i++) v *= b;
        return v;
    }
}

/// <summary>Gradients of <see cref="CausalMonarch.Backward"/>: du (u's shape), dk [C, Lk], dd [C] (null without a skip).</summary>
public sealed record CausalMonarchGradients(Tensor<double> Input, Tensor<double> Kernel, Tensor<double>? Skip);

/// <summary>Decoding state of <see cref="CausalMonarch"/>: the input history [rows, N] and the kernel.</summary>
public sealed class CausalMonarchState
{
    internal CausalMonarchState(CausalMonarchPlan plan, int rows, int channels, double[] kernel, double[]? skip, double[]? matrices)
    {
        Plan = plan;
        Rows = rows;
        Channels = channels;
        Kernel = kernel;
        Skip = skip;
        Matrices = matrices;
        History = new double[rows * plan.N];
    }

    public CausalMonarchPlan Plan { get; }
    public int Rows { get; }
    public int Channels { get; }

    /// <summary>Tokens consumed so far (at most N).</summary>
    public int Position { get; internal set; }

    /// <summary>u[r, 0..Position-1] per row, [rows, N]: the whole state (t values per row after t tokens).</summary>
    public double[] History { get; }

    internal double[] Kernel { get; }
    internal double[]? Skip { get; }

    /// <summary>T [C, N, N] for plans without the digit-wise closed form (non-monomial bases), else null.</summary>
    internal double[]? Matrices { get; }
}

public static partial class CausalMonarch
{
    // ------------------------------------------------------------------ M' and its inverse on the grid

    /// <summary>
    /// x &lt;- (mats[p-1] (x) ... (x) mats[0]) x on the grid, digit a ascending: every fiber along digit a (the other
    /// digits fixed) is multiplied by mats[a] (or its transpose); sums over the fiber index ascending.
    /// </summary>
    public static void ApplyDigits(CausalMonarchPlan plan, Complex[][] mats, Complex[] x, bool transpose = false)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(mats);
        ArgumentNullException.ThrowIfNull(x);
        int g = plan.G;
        Monarch.CheckLength(x.Length, plan.Grid, nameof(x), $"[(2b)^p = {plan.Grid}]");
        var fiber = new Complex[g];
        int stride = 1;
        for (int a = 0; a < plan.P; a++)
        {
            var f = mats[a];
            int outer = plan.Grid / (stride * g);
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < stride; i++)
                {
                    int start = o * g * stride + i;
                    for (int m = 0; m < g; m++) fiber[m] = x[start + m * stride];
                    for (int r = 0; r < g; r++)
                    {
                        Complex acc = Complex.Zero;
                        for (int m = 0; m < g; m++) acc += (transpose ? f[m * g + r] : f[r * g + m]) * fiber[m];
                        x[start + r * stride] = acc;
                    }
                }
            stride *= g;
        }
    }

    /// <summary>M' E x: the sequence x [&lt;= N] embedded on the grid and evaluated at every node tuple.</summary>
    public static Complex[] Lift(CausalMonarchPlan plan, ReadOnlySpan<double> x)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (x.Length > plan.N) throw new ArgumentException($"x has {x.Length} elements, expected at most N = b^p = {plan.N}.", nameof(x));
        var grid = new Complex[plan.Grid];
        for (int j = 0; j < x.Length; j++) grid[plan.Embedding[j]] = x[j];
        ApplyDigits(plan, plan.Factors, grid);
        return grid;
    }

    /// <summary>
    /// One channel of the definition: y[i] = Re (M'^-1 ((M' E k) * (M' E u)))[E(i)] for i &lt; u.Length
    /// (k and u zero padded to N).
    /// </summary>
    public static double[] Convolve(CausalMonarchPlan plan, ReadOnlySpan<double> k, ReadOnlySpan<double> u)
    {
        var kk = Lift(plan, k);
        return ConvolveLifted(plan, kk, u);
    }

    /// <summary><see cref="Convolve"/> with M' E k given (cached per channel).</summary>
    public static double[] ConvolveLifted(CausalMonarchPlan plan, Complex[] liftedKernel, ReadOnlySpan<double> u)
    {
        var grid = Lift(plan, u);
        for (int g = 0; g < grid.Length; g++) grid[g] *= liftedKernel[g];
        ApplyDigits(plan, plan.Inverses, grid);
        var y = new double[u.Length];
        for (int i = 0; i < y.Length; i++) y[i] = grid[plan.Embedding[i]].Real;
        return y;
    }

    // ------------------------------------------------------------------ parallel form (Naive)

    /// <summary>
    /// y[r, i] = (causal Monarch convolution of u[r] with k[c])[i] + d[c] u[r, i], c = r mod C, for u [.., C, L],
    /// k [C, Lk], d [C] or null, L and Lk at most N (zero padded at the end).
    /// </summary>
    public static Tensor<double> Forward(CausalMonarchPlan plan, Tensor<double> u, Tensor<double> k, Tensor<double>? d = null)
    {
        var (rows, channels, length, kernelLength) = Check(plan, u, k, d);
        var y = Tensor<double>.Zeros(u.ShapeArray);
        var lifted = new Complex[channels][];
        for (int c = 0; c < channels; c++) lifted[c] = Lift(plan, k.Data.AsSpan(c * kernelLength, kernelLength));
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var ur = u.Data.AsSpan(r * length, length);
            var yr = ConvolveLifted(plan, lifted[c], ur);
            double skip = d is null ? 0.0 : d.Data[c];
            for (int i = 0; i < length; i++) y.Data[r * length + i] = yr[i] + skip * ur[i];
        }
        return y;
    }

    // ------------------------------------------------------------------ closed form (monomial basis)

    /// <summary>
    /// The digit-wise causal convolution y[i] = sum over j with j_a &lt;= i_a for every digit a of k[i (-) j] u[j]
    /// (i (-) j digit-wise, base b), for u, k of length &lt;= b^p, one channel; j ascending. Equal to the monomial-basis
    /// map for any nodes.
    /// </summary>
    public static double[] DigitwiseConvolution(int b, int p, ReadOnlySpan<double> k, ReadOnlySpan<double> u)
    {
        int n = CausalMonarchPlan.IntPow(b, p);
        if (u.Length > n || k.Length > n)
            throw new ArgumentException($"u and k must have at most N = b^p = {n} elements, got {u.Length} and {k.Length}.", nameof(u));
        var y = new double[u.Length];
        for (int i = 0; i < u.Length; i++)
        {
            double acc = 0.0;
            for (int j = 0; j <= i; j++)
            {
                int diff = DigitwiseDifference(i, j, b, p);
                if (diff >= 0 && diff < k.Length) acc += k[diff] * u[j];
            }
            y[i] = acc;
        }
        return y;
    }

    /// <summary>i (-) j digit by digit in base b, or -1 when some digit of j exceeds i's.</summary>
    public static int DigitwiseDifference(int i, int j, int b, int p)
    {
        int diff = 0, scale = 1;
        for (int a = 0; a < p; a++)
        {
            int ia = i % b, ja = j % b;
            if (ja > ia) return -1;
            diff += (ia - ja) * scale;
            i /= b;
            j /= b;
            scale *= b;
        }
        return diff;
    }

    // ------------------------------------------------------------------ operator matrix

    /// <summary>
    /// T [L, L] of one channel by the definition on unit vectors: T[:, j] = Convolve(plan, k, e_j) (+ d on the diagonal).
    /// </summary>
    public static Tensor<double> Materialize(CausalMonarchPlan plan, ReadOnlySpan<double> k, int length, double d = 0.0)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (length < 1 || length > plan.N) throw new ArgumentOutOfRangeException(nameof(length), $"length must be in [1, N = {plan.N}], got {length}.");
        var lifted = Lift(plan, k);
        var t = Tensor<double>.Zeros(length, length);
        var e = new double[length];
        for (int j = 0; j < length; j++)
        {
            e[j] = 1.0;
            var col = ConvolveLifted(plan, lifted, e);
            e[j] = 0.0;
            for (int i = 0; i < length; i++) t.Data[i * length + j] = col[i];
            t.Data[j * length + j] += d;
        }
        return t;
    }

    /// <summary>
    /// T [L, L] of one channel without nodes: the product computed in the coefficient domain. Coefficients in the
    /// monomial basis are c = (C_{p-1} (x) ... (x) C_0) E x; the polynomial product is the p-variate linear
    /// convolution of the two coefficient grids (per digit degree &lt; 2b - 1, so it fits the grid); the result is
    /// brought back to the basis by triangular solves with each C_a and read at E(i). Equal to
    /// <see cref="Materialize(CausalMonarchPlan, ReadOnlySpan{double}, int, double)"/> whenever the nodes interpolate exactly, which is what it checks.
    /// </summary>
    public static Tensor<double> MaterializeCoefficients(CausalMonarchPlan plan, ReadOnlySpan<double> k, int length)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (length < 1 || length > plan.N) throw new ArgumentOutOfRangeException(nameof(length), $"length must be in [1, N = {plan.N}], got {length}.");
        if (k.Length > plan.N) throw new ArgumentException($"k has {k.Length} elements, expected at most N = {plan.N}.", nameof(k));
        int g = plan.G, grid = plan.Grid;
        var kc = new Complex[grid];
        for (int j = 0; j < k.Length; j++) kc[plan.Embedding[j]] = k[j];
        ApplyDigits(plan, plan.Basis, kc);
        var digitsA = new int[plan.P];
        var digitsB = new int[plan.P];
        var t = Tensor<double>.Zeros(length, length);
        for (int j = 0; j < length; j++)
        {
            var uc = new Complex[grid];
            uc[plan.Embedding[j]] = Complex.One;
            ApplyDigits(plan, plan.Basis, uc);
            var product = new Complex[grid];
            for (int x = 0; x < grid; x++)
            {
                if (kc[x] == Complex.Zero) continue;
                GridDigits(x, g, digitsA);
                for (int y = 0; y < grid; y++)
                {
                    if (uc[y] == Complex.Zero) continue;
                    GridDigits(y, g, digitsB);
                    int target = 0, scale = 1;
                    bool inside = true;
                    for (int a = 0; a < plan.P; a++)
                    {
                        int s = digitsA[a] + digitsB[a];
                        if (s >= g) { inside = false; break; }
                        target += s * scale;
                        scale *= g;
                    }
                    if (!inside)
                        throw new InvalidOperationException("a product coefficient fell outside the grid: the basis has q_m of degree >= b for some m < b.");
                    product[target] += kc[x] * uc[y];
                }
            }
            SolveDigits(plan, product);
            for (int i = 0; i < length; i++) t.Data[i * length + j] = product[plan.Embedding[i]].Real;
        }
        return t;
    }

    /// <summary>
    /// The digit-wise closed form of the monomial basis as a matrix: T[i, j] = k[i (-) j] when j &lt;= i digit-wise, else exactly 0
    /// (d on the diagonal), [L, L].
    /// </summary>
    public static Tensor<double> MaterializeDigitwise(int b, int p, ReadOnlySpan<double> k, int length, double d = 0.0)
    {
        int n = CausalMonarchPlan.IntPow(b, p);
        if (length < 1 || length > n) throw new ArgumentOutOfRangeException(nameof(length), $"length must be in [1, N = b^p = {n}], got {length}.");
        if (k.Length > n) throw new ArgumentException($"k has {k.Length} elements, expected at most N = {n}.", nameof(k));
        var t = Tensor<double>.Zeros(length, length);
        for (int i = 0; i < length; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                int diff = DigitwiseDifference(i, j, b, p);
                if (diff >= 0 && diff < k.Length) t.Data[i * length + j] = k[diff];
            }
            t.Data[i * length + i] += d;
        }
        return t;
    }

    /// <summary>
    /// T per row of k [C, Lk] (skip d [C] on the diagonal), [C, L, L]: the digit-wise closed form for the monomial basis with per-digit
    /// padding (exact zeros above the diagonal, which ESS relies on), the definition on unit vectors otherwise.
    /// </summary>
    public static Tensor<double> Materialize(CausalMonarchPlan plan, Tensor<double> k, Tensor<double>? d, int length)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(k);
        if (k.Rank != 2) throw new ArgumentException($"k must be [C, Lk], got {Shapes.Format(k.Shape)}.", nameof(k));
        int channels = k.Dim(0), lk = k.Dim(1);
        bool closed = plan.IsMonomial && plan.Padding == CausalMonarchPadding.PerDigit;
        var t = Tensor<double>.Zeros(channels, length, length);
        for (int c = 0; c < channels; c++)
        {
            var kc = k.Data.AsSpan(c * lk, lk);
            double dc = d is null ? 0.0 : d.Data[c];
            var tc = closed ? MaterializeDigitwise(plan.B, plan.P, kc, length, dc) : Materialize(plan, kc, length, dc);
            tc.Data.CopyTo(t.Data, c * length * length);
        }
        return t;
    }

    // ------------------------------------------------------------------ decoding form

    /// <summary>An empty decoding state for rows = product of u's leading axes times C (channel c = row mod C).</summary>
    public static CausalMonarchState InitialState(CausalMonarchPlan plan, int rows, Tensor<double> k, Tensor<double>? d = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(k);
        if (k.Rank != 2 || k.Dim(1) > plan.N)
            throw new ArgumentException($"k must be [C, Lk] with Lk <= N = {plan.N}, got {Shapes.Format(k.Shape)}.", nameof(k));
        int channels = k.Dim(0), lk = k.Dim(1), n = plan.N;
        if (rows < 1 || rows % channels != 0) throw new ArgumentException($"rows must be a positive multiple of C = {channels}, got {rows}.", nameof(rows));
        if (d is not null && d.Length != channels) throw new ArgumentException($"d must be [{channels}], got {Shapes.Format(d.Shape)}.", nameof(d));
        var kernel = new double[channels * n];
        for (int c = 0; c < channels; c++) k.Data.AsSpan(c * lk, lk).CopyTo(kernel.AsSpan(c * n));
        double[]? matrices = null;
        if (!plan.IsMonomial || plan.Padding != CausalMonarchPadding.PerDigit)
        {
            matrices = new double[channels * n * n];
            for (int c = 0; c < channels; c++) Materialize(plan, kernel.AsSpan(c * n, n), n).Data.CopyTo(matrices, c * n * n);
        }
        return new CausalMonarchState(plan, rows, channels, kernel, d?.Data.ToArray(), matrices);
    }

    /// <summary>
    /// One token uT [rows] -> y_t [rows]: the token joins the history, then y_t = sum over j &lt;= t digit-wise of
    /// k[t (-) j] u[j] (monomial basis; the row t of T otherwise) + d u_t. O(prod_a (t_a + 1)) work per row.
    /// </summary>
    public static double[] Step(CausalMonarchState state, ReadOnlySpan<double> uT)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (uT.Length != state.Rows) throw new ArgumentException($"uT has {uT.Length} elements, expected rows = {state.Rows}.", nameof(uT));
        var plan = state.Plan;
        int n = plan.N, t = state.Position;
        if (t >= n) throw new InvalidOperationException($"the state has consumed N = {n} tokens; the block is full.");
        var y = new double[state.Rows];
        for (int r = 0; r < state.Rows; r++)
        {
            int c = r % state.Channels;
            state.History[r * n + t] = uT[r];
            double acc = 0.0;
            if (state.Matrices is null)
            {
                for (int j = 0; j <= t; j++)
                {
                    int diff = DigitwiseDifference(t, j, plan.B, plan.P);
                    if (diff >= 0) acc += state.Kernel[c * n + diff] * state.History[r * n + j];
                }
            }
            else
            {
                for (int j = 0; j <= t; j++) acc += state.Matrices[(c * n + t) * n + j] * state.History[r * n + j];
            }
            y[r] = acc + (state.Skip is null ? 0.0 : state.Skip[c] * uT[r]);
        }
        state.Position = t + 1;
        return y;
    }

    // ------------------------------------------------------------------ backward pass

    /// <summary>
    /// Vector-Jacobian product of <see cref="Forward"/> for the cotangent dy (u's shape).
    /// <para>Derivation. Per row, with A = M' E (grid x N) and B = R M'^-1 (N x grid), y = B ((A k) * (A u)) + d u, and
    /// B diag(A k) A = T is real. Hence dL/du = T^T dy + d dy = A^T ((A k) * (B^T dy)) + d dy, where A^T = E^T M'^T,
    /// M'^T = F_{p-1}^T (x) ... (x) F_0^T (transposes, not conjugates) and B^T dy = M'^-T E dy: lift dy with the
    /// transposed inverses, multiply by M' E k, apply the transposed factors and read at E(j) (real part). The map is
    /// symmetric in k and u, so dL/dk[c] = sum over the rows of channel c of A^T ((A u) * (B^T dy)), and
    /// dL/dd[c] = sum_rows sum_i u[i] dy[i].</para>
    /// </summary>
    public static CausalMonarchGradients Backward(CausalMonarchPlan plan, Tensor<double> u, Tensor<double> k, Tensor<double>? d, Tensor<double> dy)
    {
        var (rows, channels, length, kernelLength) = Check(plan, u, k, d);
        ArgumentNullException.ThrowIfNull(dy);
        Shapes.Same(dy, u.Shape, nameof(dy));
        var du = Tensor<double>.Zeros(u.ShapeArray);
        var dk = Tensor<double>.Zeros(channels, kernelLength);
        var dd = d is null ? null : Tensor<double>.Zeros(channels);
        var lifted = new Complex[channels][];
        for (int c = 0; c < channels; c++) lifted[c] = Lift(plan, k.Data.AsSpan(c * kernelLength, kernelLength));
        var gridK = new Complex[plan.Grid];
        var gridU = new Complex[plan.Grid];
        for (int r = 0; r < rows; r++)
        {
            int c = r % channels;
            var ur = u.Data.AsSpan(r * length, length);
            var gr = dy.Data.AsSpan(r * length, length);
            var back = new Complex[plan.Grid];
            for (int i = 0; i < length; i++) back[plan.Embedding[i]] = gr[i];
            ApplyDigits(plan, plan.Inverses, back, transpose: true);
            var lu = Lift(plan, ur);
            for (int g = 0; g < plan.Grid; g++)
            {
                gridU[g] = lifted[c][g] * back[g];
                gridK[g] = lu[g] * back[g];
            }
            ApplyDigits(plan, plan.Factors, gridU, transpose: true);
            ApplyDigits(plan, plan.Factors, gridK, transpose: true);
            double skip = d is null ? 0.0 : d.Data[c];
            for (int j = 0; j < length; j++) du.Data[r * length + j] = gridU[plan.Embedding[j]].Real + skip * gr[j];
            for (int j = 0; j < kernelLength; j++) dk.Data[c * kernelLength + j] += gridK[plan.Embedding[j]].Real;
            if (dd is not null)
            {
                double acc = 0.0;
                for (int i = 0; i < length; i++) acc += ur[i] * gr[i];
                dd.Data[c] += acc;
            }
        }
        return new CausalMonarchGradients(du, dk, dd);
    }

    // ------------------------------------------------------------------ helpers

    internal static (int Rows, int Channels, int Length, int KernelLength) Check(CausalMonarchPlan plan, Tensor<double> u, Tensor<double> k, Tensor<double>? d)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        if (k.Rank != 2 || k.Dim(1) < 1 || k.Dim(1) > plan.N)
            throw new ArgumentException($"k must be [C, Lk] with 1 <= Lk <= N = b^p = {plan.N}, got {Shapes.Format(k.Shape)}.", nameof(k));
        int channels = k.Dim(0);
        if (u.Rank < 2 || u.Dim(u.Rank - 2) != channels || u.Dim(u.Rank - 1) < 1 || u.Dim(u.Rank - 1) > plan.N)
            throw new ArgumentException($"u must be [..., C = {channels}, L] with 1 <= L <= N = b^p = {plan.N}, got {Shapes.Format(u.Shape)}.", nameof(u));
        if (d is not null && (d.Rank != 1 || d.Length != channels))
            throw new ArgumentException($"d must be [C = {channels}], got {Shapes.Format(d.Shape)}.", nameof(d));
        int length = u.Dim(u.Rank - 1);
        return (u.Length / length, channels, length, k.Dim(1));
    }

    private static void GridDigits(int x, int g, Span<int> digits)
    {
        for (int a = 0; a < digits.Length; a++)
        {
            digits[a] = x % g;
            x /= g;
        }
    }

    /// <summary>x &lt;- (C_{p-1} (x) ... (x) C_0)^-1 x: per fiber a forward substitution with the lower-triangular C_a.</summary>
    private static void SolveDigits(CausalMonarchPlan plan, Complex[] x)
    {
        int g = plan.G, stride = 1;
        var fiber = new Complex[g];
        for (int a = 0; a < plan.P; a++)
        {
            var c = plan.Basis[a];
            int outer = plan.Grid / (stride * g);
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < stride; i++)
                {
                    int start = o * g * stride + i;
                    for (int m = 0; m < g; m++) fiber[m] = x[start + m * stride];
                    for (int m = 0; m < g; m++)
                    {
                        Complex acc = fiber[m];
                        for (int s = 0; s < m; s++) acc -= c[m * g + s] * x[start + s * stride];
                        x[start + m * stride] = acc / c[m * g + m];
                    }
                }
            stride *= g;
        }
    }
}
