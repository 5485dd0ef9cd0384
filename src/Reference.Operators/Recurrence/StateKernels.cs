using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reference.Operators.Recurrence;

/// <summary>Fused vector passes of the fast gated-recurrence kernels (one pass instead of several TensorPrimitives calls).</summary>
internal static class StateKernels
{
    /// <summary>
    /// One GLA step on a K x V state: for each key channel c, S[c, :] = alpha_c S[c, :] + k_c v and
    /// o += q_c S[c, :] (alpha of length K, or 1 for a scalar gate). o is overwritten.
    /// </summary>
    public static void DecayUpdateRead<T>(Span<T> s, ReadOnlySpan<T> alpha, ReadOnlySpan<T> k, ReadOnlySpan<T> v, ReadOnlySpan<T> q, Span<T> o)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int kd = k.Length, vd = v.Length, w = Vector256<T>.Count;
        o.Clear();
        ref T rs = ref MemoryMarshal.GetReference(s);
        ref T rv = ref MemoryMarshal.GetReference(v);
        ref T ro = ref MemoryMarshal.GetReference(o);
        for (int c = 0; c < kd; c++)
        {
            T a = alpha[alpha.Length == 1 ? 0 : c], kc = k[c], qc = q[c];
            int row = c * vd, j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var va = Vector256.Create(a);
                var vk = Vector256.Create(kc);
                var vq = Vector256.Create(qc);
                for (; j + w <= vd; j += w)
                {
                    var x = Vector256.LoadUnsafe(ref rs, (nuint)(row + j)) * va + vk * Vector256.LoadUnsafe(ref rv, (nuint)j);
                    x.StoreUnsafe(ref rs, (nuint)(row + j));
                    (Vector256.LoadUnsafe(ref ro, (nuint)j) + vq * x).StoreUnsafe(ref ro, (nuint)j);
                }
            }
            for (; j < vd; j++)
            {
                T x = s[row + j] * a + kc * v[j];
                s[row + j] = x;
                o[j] += qc * x;
            }
        }
    }

    /// <summary>d = alpha o d in place, then returns sum_c q_c k_c d_c.</summary>
    public static T DecayInPlaceTripleDot<T>(Span<T> d, ReadOnlySpan<T> alpha, ReadOnlySpan<T> q, ReadOnlySpan<T> k)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = d.Length, w = Vector256<T>.Count, j = 0;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && n >= w)
        {
            ref T rd = ref MemoryMarshal.GetReference(d);
            ref T ra = ref MemoryMarshal.GetReference(alpha);
            ref T rq = ref MemoryMarshal.GetReference(q);
            ref T rk = ref MemoryMarshal.GetReference(k);
            var acc = Vector256<T>.Zero;
            for (; j + w <= n; j += w)
            {
                var x = Vector256.LoadUnsafe(ref rd, (nuint)j) * Vector256.LoadUnsafe(ref ra, (nuint)j);
                x.StoreUnsafe(ref rd, (nuint)j);
                acc += Vector256.LoadUnsafe(ref rq, (nuint)j) * Vector256.LoadUnsafe(ref rk, (nuint)j) * x;
            }
            sum = Vector256.Sum(acc);
        }
        for (; j < n; j++)
        {
            d[j] *= alpha[j];
            sum += q[j] * k[j] * d[j];
        }
        return sum;
    }
}
