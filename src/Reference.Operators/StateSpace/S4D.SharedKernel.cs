// One S4D kernel shared by the callers that need it for the same parameter values at the same time:
// the micro-batches of a data-parallel training step (Trainer.BatchSteps) each run the H3 layer's
// forward with the same S4D parameters and each computed the same [H, L] kernel.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Reference.Core;
using Reference.Core.Kernels;

namespace Reference.Operators.StateSpace;

public static partial class S4D
{
    private static readonly ConditionalWeakTable<double[], SharedKernelSlot> SharedKernels = new();

    /// <summary>
    /// <see cref="KernelFast{T}"/> in float64, shared: a call whose parameters (A, B, C, Delta; not D) are bitwise
    /// equal to those of the last call made with the same <see cref="S4DParameters.LogNegRealA"/> array, for the same
    /// length and discretization, returns that call's kernel tensor instead of computing another. While the kernel
    /// is being computed, every caller that asks for it claims the channels nobody has claimed yet, computes them
    /// (<paramref name="maxThreads"/> threads per caller, as KernelFast's channels), then waits for the channels
    /// others claimed: callers that arrive together (the micro-batches of one step on their threads) split the work,
    /// a caller that arrives later finds it done. Every channel is computed by the same code as KernelFast's, on one
    /// thread, from values bitwise equal to the caller's, so the result is KernelFast's whoever computed which
    /// channel (bitwise with TieredCompilation off; with it on, KernelFast's vector exp, sin and cos may change their
    /// last bit when the JIT recompiles them, between any two calls, shared or not; tests: ulp-level bound). Parameters changed in place (an optimizer step) no longer match and
    /// start a new kernel. The tensor is shared between callers: read it, never write it.
    /// </summary>
    public static Tensor<double> KernelFastShared(S4DParameters p, int length, Discretization method, int maxThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate(nameof(p));
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        var slot = SharedKernels.GetValue(p.LogNegRealA, _ => new SharedKernelSlot());
        SharedKernel kernel;
        lock (slot)
        {
            if (slot.Current is not { } current || !current.Matches(p, length, method))
                slot.Current = current = new SharedKernel(p, length, method);
            kernel = current;
        }
        kernel.Compute(maxThreads);
        return kernel.Kernel;
    }

    private sealed class SharedKernelSlot
    {
        public SharedKernel? Current;
    }

    /// <summary>One kernel being computed or done: the values it is for, its channels' claims and the count of channels done.</summary>
    private sealed class SharedKernel : IParallelBody
    {
        private readonly long[] values;
        private readonly int length;
        private readonly Discretization method;
        private readonly KernelDigits digits;
        private readonly int[] claimed;
        private int done;
        private volatile Exception? failure;
        /// <summary>A private copy of the values (D zero: the kernel does not use it), read by every claimant.</summary>
        private readonly S4DParameters source;

        public SharedKernel(S4DParameters p, int length, Discretization method)
        {
            this.length = length;
            this.method = method;
            digits = new KernelDigits(length);
            values = new long[Values(p).Sum(a => a.Length)];
            int at = 0;
            foreach (var a in Values(p))
            {
                MemoryMarshal.Cast<double, long>(a).CopyTo(values.AsSpan(at));
                at += a.Length;
            }
            source = new S4DParameters(p.Channels, p.Modes, (double[])p.LogNegRealA.Clone(), (double[])p.ImagA.Clone(),
                (double[])p.BRe.Clone(), (double[])p.BIm.Clone(), (double[])p.CRe.Clone(), (double[])p.CIm.Clone(),
                (double[])p.LogDelta.Clone(), new double[p.Channels]);
            claimed = new int[p.Channels];
            // Every element is written (each channel's row by the caller that claimed it).
            Kernel = new Tensor<double>(GC.AllocateUninitializedArray<double>(p.Channels * length), p.Channels, length);
        }

        public Tensor<double> Kernel { get; }

        /// <summary>The arrays the kernel depends on, in a fixed order.</summary>
        private static double[][] Values(S4DParameters p) => [p.LogNegRealA, p.ImagA, p.BRe, p.BIm, p.CRe, p.CIm, p.LogDelta];

        /// <summary>True when <paramref name="p"/>'s values are bitwise this kernel's (and the length and discretization are).</summary>
        public bool Matches(S4DParameters p, int length, Discretization method)
        {
            if (length != this.length || method != this.method || Kernel.Dim(0) != p.Channels) return false;
            int at = 0;
            foreach (var a in Values(p))
            {
                if (at + a.Length > values.Length || !MemoryMarshal.Cast<double, long>(a).SequenceEqual(values.AsSpan(at, a.Length))) return false;
                at += a.Length;
            }
            return at == values.Length;
        }

        /// <summary>Claims and computes channels until none is left (on up to <paramref name="maxThreads"/> threads), then waits for the rest.</summary>
        public void Compute(int maxThreads)
        {
            int channels = claimed.Length;
            if (Volatile.Read(ref done) < channels) ParallelItems.For(channels, maxThreads, this);
            var spin = new SpinWait();
            while (Volatile.Read(ref done) < channels)
            {
                if (failure is { } e) throw new InvalidOperationException("another caller failed to compute its channels of the shared S4D kernel.", e);
                spin.SpinOnce();
            }
        }

        /// <summary>Channel h from the copied values, when this thread claims it first.</summary>
        public void Run(int h)
        {
            if (Interlocked.CompareExchange(ref claimed[h], 1, 0) != 0) return;
            try
            {
                var p = source;
                var row = Kernel.Data.AsSpan(h * length, length);
                int full = digits.Blocks * digits.Block;
                if (full == length) KernelChannel(p, h, method, digits, row);
                else
                {
                    var padded = PooledArray<double>.Rent(full);
                    KernelChannel(p, h, method, digits, padded.Data.AsSpan(0, full));
                    padded.Data.AsSpan(0, length).CopyTo(row);
                    PooledArray<double>.Return(padded);
                }
            }
            catch (Exception e)
            {
                failure = e;
                throw;
            }
            Interlocked.Increment(ref done);
        }
    }
}
