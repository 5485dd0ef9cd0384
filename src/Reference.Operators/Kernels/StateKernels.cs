using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reference.Operators.Kernels;

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
}
