// Monarch matrices: products of block-diagonal matrices and fixed permutations that are expressive
// (they contain the DFT, and project well from dense matrices) and cost O(n^(3/2)) instead of O(n^2).
//
// Papers: Dao, Chen et al., "Monarch: Expressive Structured Matrices for Efficient and Accurate
// Training" (arXiv:2204.00595), Sec. 3 (Definition 3.1: M = P L P^T R, L and R block-diagonal;
// Sec. 3.3 and Algorithm 1: projection by per-block rank-1 SVD; Sec. 3.2: the DFT is a Monarch);
// Fu, Arora et al., "Monarch Mixer" (arXiv:2310.12109), Sec. 2 and 3 (M = (prod_i P_i B_i) P_0, order p,
// base-b digit permutations; Monarch matrices as the dimension mixer of M2).
// The exact conventions are this project's (`shared/spec/operators.md`, "Monarch matrices and M2"):
//
//   block-diagonal multiply, weight w (nblocks, q, p): input block i is x[i p:(i + 1) p], output
//     block i is out[i q:(i + 1) q] = w[i] x[i p:(i + 1) p] (block-major);
//   Monarch multiply, w1 (k, q, p) with k p = n inputs, w2 (l, s, r) with l r = k q, m = l s outputs:
//     h = BlockDiag(w1) x                       h[i q + c]       = sum_a w1[i, c, a] x[i p + a]
//     z = P1 h: h read as an r x l grid, transposed   z[lambda r + rho] = h[rho l + lambda]
//     g = BlockDiag(w2) z                       g[lambda s + sigma] = sum_rho w2[lambda, sigma, rho] z[lambda r + rho]
//     y = P2 g: g read as an l x s grid, transposed   y[sigma l + lambda] = g[lambda s + sigma]
//   so M = P2 BlockDiag(w2) P1 BlockDiag(w1) and, entry by entry (the closed form Materialize uses),
//     M[sigma l + lambda, i p + a] = sum over c with (i q + c) mod l = lambda of
//                                    w2[lambda, sigma, (i q + c) div l] w1[i, c, a].
//   The square case n = b^2 (k = q = p = l = s = r = b) has P1 = P2 = P, the perfect shuffle
//   (P = P^T), so M = P L P R with L = BlockDiag(w2), R = BlockDiag(w1): the paper's Definition 3.1.
//   With l = q and r = k (the usual Monarch, e.g. fly's blockdiag_butterfly_multiply) every sum above
//   has exactly one term: the (lambda, i) block of M is the rank-1 outer product w2[lambda, :, i] w1[i, lambda, :].
//
//   order-p Monarch, N = b^p: write an index in base b, j = sum_a j_a b^a. Factor t (t = 0..p-1) is a
//     block-diagonal of b^(p-1) blocks b x b on contiguous groups of b; after each factor the digits are
//     rotated down by one, the lowest digit becoming the highest (Rotate: j -> (j mod b) b^(p-1) + j div b).
//     y = Rot B_{p-1} ... Rot B_1 Rot B_0 x. Factor t therefore mixes original digit t, with a block
//     chosen by the other digits (outputs for digits < t, inputs for digits > t), and after p rotations
//     every digit is back in place. For p = 2 the rotation is the perfect shuffle, so the order-2
//     Monarch is M = P B_1 P B_0, the square case above with w1 = B_0, w2 = B_1.
//
// Glossary (code -> spec/paper):
//   MonarchShape (K, Q, P, L, S, R)   the factor shapes w1 (k, q, p), w2 (l, s, r); N = K P inputs, M = L S outputs
//   w1, w2                            the block-diagonal factors R (first) and L (second) of Definition 3.1
//   x [B, N], y [B, M]                a batch of input and output vectors (row-major, one per row)
//   h, z, g                           the intermediate vectors of the four steps above (length K Q = L R, then L S)
//   factors[t] [b^(p-1), b, b]        B_t of the order-p product
//
// Representations: the factored product (Multiply), the dense matrix from the closed form
// (Materialize), the order-p product and its dense matrix (MultiplyOrder, MaterializeOrder), the
// vector-Jacobian product (Backward, derived in its doc comment). The DFT as a Monarch is in
// MonarchDft.cs, the projection of a dense matrix onto the class in MonarchProjection.cs, the fast
// tier in Monarch.Fast.cs, the tape adapter and the MonarchLinear layer in MonarchOps.cs.
//
// Deliberate simplifications: the naive tier is generic over INumberBase<T> (double and
// System.Numerics.Complex share one definition); sums run in the index order written above, one
// rounding per product and per addition, no FMA; the backward pass is real (float64) only.
using System.Numerics;
using Reference.Core;

namespace Reference.Operators.Monarch;

/// <summary>
/// Factor shapes of a Monarch matrix: w1 (K, Q, P) with N = K P inputs, w2 (L, S, R) with L R = K Q and
/// M = L S outputs (see the file head for the exact permutations).
/// </summary>
public readonly record struct MonarchShape(int K, int Q, int P, int L, int S, int R)
{
    /// <summary>The square case N = b^2: every factor is b blocks of b x b (M = P L P R).</summary>
    public static MonarchShape Square(int b) => new(b, b, b, b, b, b);

    /// <summary>
    /// The usual rectangular Monarch (fly's blockdiag_butterfly_multiply): w1 (k, q, p), w2 (q, s, k), so every
    /// (output block, input block) pair of M is a rank-1 s x p block. N = k p inputs, M = q s outputs.
    /// </summary>
    public static MonarchShape Standard(int k, int q, int p, int s) => new(k, q, p, q, s, k);

    /// <summary>Inputs N = K P.</summary>
    public int Inputs => K * P;

    /// <summary>Outputs M = L S.</summary>
    public int Outputs => L * S;

    /// <summary>Length of the middle vector K Q = L R.</summary>
    public int Middle => K * Q;

    /// <summary>Elements of w1 and of w2.</summary>
    public int Weights1 => K * Q * P;

    public int Weights2 => L * S * R;

    /// <summary>Multiply-adds of one product: K Q P + L S R.</summary>
    public long MultiplyAdds => (long)K * Q * P + (long)L * S * R;

    /// <summary>The shape read from w1 [K, Q, P] and w2 [L, S, R] (validated).</summary>
    public static MonarchShape Of(ReadOnlySpan<int> w1, ReadOnlySpan<int> w2)
    {
        if (w1.Length != 3) throw new ArgumentException($"w1 must be [K, Q, P], got {Shapes.Format(w1)}.", nameof(w1));
        if (w2.Length != 3) throw new ArgumentException($"w2 must be [L, S, R], got {Shapes.Format(w2)}.", nameof(w2));
        var shape = new MonarchShape(w1[0], w1[1], w1[2], w2[0], w2[1], w2[2]);
        shape.Validate(nameof(w2));
        return shape;
    }

    /// <summary>Throws unless every size is at least 1 and L R = K Q.</summary>
    public void Validate(string argument)
    {
        if (K < 1 || Q < 1 || P < 1 || L < 1 || S < 1 || R < 1)
            throw new ArgumentException($"every factor size must be >= 1, got w1 [{K}, {Q}, {P}], w2 [{L}, {S}, {R}].", argument);
        if ((long)L * R != (long)K * Q)
            throw new ArgumentException($"w2 [L = {L}, S = {S}, R = {R}] must have L R = K Q = {K * Q} (w1 [{K}, {Q}, {P}]), got {L * R}.", argument);
    }

    public override string ToString() => $"w1 [{K}, {Q}, {P}], w2 [{L}, {S}, {R}] ({Inputs} -> {Outputs})";
}

/// <summary>Gradients of <see cref="Monarch.Backward"/>: dL/dw1 [K, Q, P], dL/dw2 [L, S, R], dL/dx (x's shape).</summary>
public sealed record MonarchGradients(Tensor<double> W1, Tensor<double> W2, Tensor<double> Input);

public static partial class Monarch
{
    // ------------------------------------------------------------------ block-diagonal multiply

    /// <summary>
    /// out[b, i q + c] = sum_a w[i, c, a] x[b, i p + a] for w [nblocks, q, p], x [batch, nblocks p],
    /// out [batch, nblocks q]; a ascending.
    /// </summary>
    public static void BlockDiagonal<T>(ReadOnlySpan<T> w, int nblocks, int q, int p, ReadOnlySpan<T> x, Span<T> y, int batch)
        where T : INumberBase<T>
    {
        if (nblocks < 1 || q < 1 || p < 1) throw new ArgumentException($"nblocks, q, p must be >= 1, got {nblocks}, {q}, {p}.", nameof(w));
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        CheckLength(w.Length, nblocks * q * p, nameof(w), $"[{nblocks}, {q}, {p}]");
        CheckLength(x.Length, batch * nblocks * p, nameof(x), $"[{batch}, {nblocks * p}]");
        CheckLength(y.Length, batch * nblocks * q, nameof(y), $"[{batch}, {nblocks * q}]");
        int n = nblocks * p, m = nblocks * q;
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < nblocks; i++)
                for (int c = 0; c < q; c++)
                {
                    T acc = T.Zero;
                    for (int a = 0; a < p; a++) acc += w[(i * q + c) * p + a] * x[b * n + i * p + a];
                    y[b * m + i * q + c] = acc;
                }
    }

    // ------------------------------------------------------------------ Monarch multiply (the definition)

    /// <summary>
    /// y = M x for every row: x [batch, N], y [batch, M], w1 [K, Q, P], w2 [L, S, R] as in the file head
    /// (h = BlockDiag(w1) x, z = P1 h, g = BlockDiag(w2) z, y = P2 g; every inner sum in index order).
    /// </summary>
    public static void Multiply<T>(MonarchShape shape, ReadOnlySpan<T> w1, ReadOnlySpan<T> w2, ReadOnlySpan<T> x, Span<T> y, int batch)
        where T : INumberBase<T>
    {
        Check(shape, w1.Length, w2.Length, x.Length, y.Length, batch);
        int n = shape.Inputs, m = shape.Outputs, mid = shape.Middle;
        var (k, q, p, l, s, r) = shape;
        var h = new T[mid];
        var z = new T[mid];
        var g = new T[m];
        for (int b = 0; b < batch; b++)
        {
            BlockDiagonal(w1, k, q, p, x.Slice(b * n, n), h, 1);
            for (int rho = 0; rho < r; rho++)
                for (int lambda = 0; lambda < l; lambda++)
                    z[lambda * r + rho] = h[rho * l + lambda];
            BlockDiagonal(w2, l, s, r, z, g, 1);
            for (int lambda = 0; lambda < l; lambda++)
                for (int sigma = 0; sigma < s; sigma++)
                    y[b * m + sigma * l + lambda] = g[lambda * s + sigma];
        }
    }

    /// <summary>y [..., M] = M x for x [..., N], w1 [K, Q, P], w2 [L, S, R] (float64, the definition).</summary>
    public static Tensor<double> Multiply(Tensor<double> w1, Tensor<double> w2, Tensor<double> x)
    {
        var (shape, batch) = CheckTensors(w1, w2, x);
        var outShape = x.ShapeArray;
        outShape[^1] = shape.Outputs;
        var y = Tensor<double>.Zeros(outShape);
        Multiply<double>(shape, w1.Data, w2.Data, x.Data, y.Data, batch);
        return y;
    }

    // ------------------------------------------------------------------ the materialized matrix

    /// <summary>
    /// The dense M [M, N] (row-major) from the closed form of the file head:
    /// M[sigma L + lambda, i P + a] = sum over c with (i Q + c) mod L = lambda of w2[lambda, sigma, (i Q + c) div L] w1[i, c, a],
    /// accumulated for i, c ascending. It never runs the factored product, so it checks it.
    /// </summary>
    public static T[] Materialize<T>(MonarchShape shape, ReadOnlySpan<T> w1, ReadOnlySpan<T> w2) where T : INumberBase<T>
    {
        shape.Validate(nameof(shape));
        CheckLength(w1.Length, shape.Weights1, nameof(w1), $"[{shape.K}, {shape.Q}, {shape.P}]");
        CheckLength(w2.Length, shape.Weights2, nameof(w2), $"[{shape.L}, {shape.S}, {shape.R}]");
        var (k, q, p, l, s, r) = shape;
        int n = shape.Inputs;
        var dense = new T[shape.Outputs * n];
        Array.Fill(dense, T.Zero);
        for (int i = 0; i < k; i++)
            for (int c = 0; c < q; c++)
            {
                int f = i * q + c, rho = f / l, lambda = f % l;
                for (int sigma = 0; sigma < s; sigma++)
                    for (int a = 0; a < p; a++)
                        dense[(sigma * l + lambda) * n + i * p + a] += w2[(lambda * s + sigma) * r + rho] * w1[(i * q + c) * p + a];
            }
        return dense;
    }

    /// <summary>The dense M [M, N] for w1 [K, Q, P], w2 [L, S, R] (float64; see <see cref="Materialize{T}"/>).</summary>
    public static Tensor<double> Materialize(Tensor<double> w1, Tensor<double> w2)
    {
        ArgumentNullException.ThrowIfNull(w1);
        ArgumentNullException.ThrowIfNull(w2);
        var shape = MonarchShape.Of(w1.Shape, w2.Shape);
        return new Tensor<double>(Materialize<double>(shape, w1.Data, w2.Data), shape.Outputs, shape.Inputs);
    }

    // ------------------------------------------------------------------ order-p Monarch

    /// <summary>
    /// The order-p product y = Rot B_{p-1} ... Rot B_0 x (file head), N = b^p, factors[t] [b^(p-1), b, b],
    /// x, y [batch, N].
    /// </summary>
    public static void MultiplyOrder<T>(int b, T[][] factors, ReadOnlySpan<T> x, Span<T> y, int batch) where T : INumberBase<T>
    {
        int n = CheckOrder(b, factors);
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        CheckLength(x.Length, batch * n, nameof(x), $"[{batch}, {n}]");
        CheckLength(y.Length, batch * n, nameof(y), $"[{batch}, {n}]");
        var current = new T[n];
        var next = new T[n];
        for (int row = 0; row < batch; row++)
        {
            x.Slice(row * n, n).CopyTo(current);
            foreach (var factor in factors)
            {
                BlockDiagonal<T>(factor, n / b, b, b, current, next, 1);
                for (int j = 0; j < n; j++) current[Rotate(j, b, n)] = next[j];
            }
            current.CopyTo(y.Slice(row * n, n));
        }
    }

    /// <summary>
    /// The dense order-p matrix [N, N] from its closed form: M[out, in] = prod_t B_t[block_t, out_t, in_t],
    /// where digit t of the output and input indices are out_t, in_t and block_t is the index formed by the
    /// other digits in the order the rotations leave them before factor t (digits a &gt; t from the input,
    /// a &lt; t from the output): block_t = sum_{a != t} d_a b^(((a - t) mod p) - 1).
    /// </summary>
    public static T[] MaterializeOrder<T>(int b, T[][] factors) where T : INumberBase<T>
    {
        int n = CheckOrder(b, factors), order = factors.Length;
        var dense = new T[n * n];
        var outDigits = new int[order];
        var inDigits = new int[order];
        for (int o = 0; o < n; o++)
        {
            Digits(o, b, outDigits);
            for (int j = 0; j < n; j++)
            {
                Digits(j, b, inDigits);
                T product = T.One;
                for (int t = 0; t < order; t++)
                {
                    int block = 0;
                    for (int a = 0; a < order; a++)
                    {
                        if (a == t) continue;
                        int digit = a < t ? outDigits[a] : inDigits[a];
                        block += digit * IntPow(b, (a - t + order) % order - 1);
                    }
                    product *= factors[t][(block * b + outDigits[t]) * b + inDigits[t]];
                }
                dense[o * n + j] = product;
            }
        }
        return dense;
    }

    /// <summary>The digit rotation between order-p factors: j -> (j mod b) b^(p-1) + j div b (n = b^p).</summary>
    public static int Rotate(int j, int b, int n) => (j % b) * (n / b) + j / b;

    // ------------------------------------------------------------------ backward pass

    /// <summary>
    /// Vector-Jacobian product of <see cref="Multiply(Tensor{double}, Tensor{double}, Tensor{double})"/> for the
    /// cotangent dy [..., M]: dL/dw1, dL/dw2, dL/dx.
    /// <para>Derivation. Per row the forward is a chain of linear maps y = P2 B2 P1 B1 x with
    /// B1 = BlockDiag(w1), B2 = BlockDiag(w2). The adjoint of a permutation is its inverse, so
    /// g_g = P2^T dy (g_g[lambda S + sigma] = dy[sigma L + lambda]) and, after the second block product,
    /// g_z = B2^T g_g (g_z[lambda R + rho] = sum_sigma w2[lambda, sigma, rho] g_g[lambda S + sigma]),
    /// g_h = P1^T g_z (g_h[rho L + lambda] = g_z[lambda R + rho]), dx = B1^T g_h
    /// (dx[i P + a] = sum_c w1[i, c, a] g_h[i Q + c]). A block product out = W v is bilinear, so
    /// dW = g_out v^T summed over the rows: dw2[lambda, sigma, rho] = sum_rows g_g[lambda S + sigma] z[lambda R + rho],
    /// dw1[i, c, a] = sum_rows g_h[i Q + c] x[i P + a], with z and h recomputed from x (rows ascending).</para>
    /// </summary>
    public static MonarchGradients Backward(Tensor<double> w1, Tensor<double> w2, Tensor<double> x, Tensor<double> dy)
    {
        var (shape, batch) = CheckTensors(w1, w2, x);
        ArgumentNullException.ThrowIfNull(dy);
        if (dy.Length != batch * shape.Outputs || dy.Rank != x.Rank || dy.Shape[^1] != shape.Outputs)
            throw new ArgumentException($"dy has shape {Shapes.Format(dy.Shape)}, expected x's batch axes and [..., {shape.Outputs}].", nameof(dy));
        var (k, q, p, l, s, r) = shape;
        int n = shape.Inputs, m = shape.Outputs, mid = shape.Middle;
        var dw1 = Tensor<double>.Zeros(k, q, p);
        var dw2 = Tensor<double>.Zeros(l, s, r);
        var dx = Tensor<double>.Zeros(x.ShapeArray);
        var h = new double[mid];
        var z = new double[mid];
        var gg = new double[m];
        var gz = new double[mid];
        var gh = new double[mid];
        for (int b = 0; b < batch; b++)
        {
            var xb = x.Data.AsSpan(b * n, n);
            BlockDiagonal<double>(w1.Data, k, q, p, xb, h, 1);
            for (int rho = 0; rho < r; rho++)
                for (int lambda = 0; lambda < l; lambda++)
                    z[lambda * r + rho] = h[rho * l + lambda];
            for (int lambda = 0; lambda < l; lambda++)
                for (int sigma = 0; sigma < s; sigma++)
                    gg[lambda * s + sigma] = dy.Data[b * m + sigma * l + lambda];
            for (int lambda = 0; lambda < l; lambda++)
                for (int rho = 0; rho < r; rho++)
                {
                    double acc = 0;
                    for (int sigma = 0; sigma < s; sigma++)
                    {
                        acc += w2.Data[(lambda * s + sigma) * r + rho] * gg[lambda * s + sigma];
                        dw2.Data[(lambda * s + sigma) * r + rho] += gg[lambda * s + sigma] * z[lambda * r + rho];
                    }
                    gz[lambda * r + rho] = acc;
                }
            for (int rho = 0; rho < r; rho++)
                for (int lambda = 0; lambda < l; lambda++)
                    gh[rho * l + lambda] = gz[lambda * r + rho];
            for (int i = 0; i < k; i++)
                for (int a = 0; a < p; a++)
                {
                    double acc = 0;
                    for (int c = 0; c < q; c++)
                    {
                        acc += w1.Data[(i * q + c) * p + a] * gh[i * q + c];
                        dw1.Data[(i * q + c) * p + a] += gh[i * q + c] * xb[i * p + a];
                    }
                    dx.Data[b * n + i * p + a] = acc;
                }
        }
        return new MonarchGradients(dw1, dw2, dx);
    }

    // ------------------------------------------------------------------ checks and helpers

    internal static void Check(MonarchShape shape, int w1, int w2, int x, int y, int batch)
    {
        shape.Validate(nameof(shape));
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        CheckLength(w1, shape.Weights1, nameof(w1), $"[{shape.K}, {shape.Q}, {shape.P}]");
        CheckLength(w2, shape.Weights2, nameof(w2), $"[{shape.L}, {shape.S}, {shape.R}]");
        CheckLength(x, batch * shape.Inputs, nameof(x), $"[{batch}, {shape.Inputs}]");
        CheckLength(y, batch * shape.Outputs, nameof(y), $"[{batch}, {shape.Outputs}]");
    }

    internal static (MonarchShape Shape, int Batch) CheckTensors<T>(Tensor<T> w1, Tensor<T> w2, Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(w1);
        ArgumentNullException.ThrowIfNull(w2);
        ArgumentNullException.ThrowIfNull(x);
        var shape = MonarchShape.Of(w1.Shape, w2.Shape);
        if (x.Rank < 1 || x.Shape[^1] != shape.Inputs)
            throw new ArgumentException($"x has shape {Shapes.Format(x.Shape)}, expected [..., N = K P = {shape.Inputs}].", nameof(x));
        return (shape, x.Length / shape.Inputs);
    }

    internal static void CheckLength(int actual, long expected, string argument, string shape)
    {
        if (actual != expected)
            throw new ArgumentException($"{argument} has {actual} elements, expected {expected} ({shape}).", argument);
    }

    private static int CheckOrder<T>(int b, T[][] factors)
    {
        ArgumentNullException.ThrowIfNull(factors);
        ArgumentOutOfRangeException.ThrowIfLessThan(b, 2, nameof(b));
        if (factors.Length < 1) throw new ArgumentException("an order-p Monarch needs p >= 1 factors, got 0.", nameof(factors));
        long n = 1;
        for (int t = 0; t < factors.Length; t++)
        {
            n *= b;
            if (n > 1 << 24) throw new ArgumentException($"N = b^p must be <= 2^24, got b = {b}, p = {factors.Length}.", nameof(factors));
        }
        int blocks = (int)(n / b);
        for (int t = 0; t < factors.Length; t++)
            if (factors[t] is null || factors[t].Length != blocks * b * b)
                throw new ArgumentException($"factors[{t}] must be [b^(p-1) = {blocks}, {b}, {b}] ({blocks * b * b} elements), got {factors[t]?.Length ?? 0}.", nameof(factors));
        return (int)n;
    }

    private static void Digits(int j, int b, Span<int> digits)
    {
        for (int a = 0; a < digits.Length; a++)
        {
            digits[a] = j % b;
            j /= b;
        }
    }

    private static int IntPow(int b, int e)
    {
        int v = 1;
        for (int i = 0; i < e; i++) v *= b;
        return v;
    }
}
