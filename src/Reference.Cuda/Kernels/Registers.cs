using System.Numerics;
using System.Runtime.CompilerServices;

namespace Reference.Cuda.Kernels;

/// <summary>
/// Four values that live in registers. ILGPU turns a local array into local (stack) memory, and a
/// register tile must be addressed with compile-time indices only; a struct of named fields is the
/// ILGPU idiom for that: its fields become separate SSA values, so a thread's accumulator tile is
/// several of these, updated by value.
/// </summary>
internal struct Row4<T> where T : unmanaged, INumber<T>
{
    public T X0, X1, X2, X3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Row4(T x0, T x1, T x2, T x3) { X0 = x0; X1 = x1; X2 = x2; X3 = x3; }

    /// <summary>acc + a * b elementwise (ptxas contracts each mul/add pair to one FFMA/DFMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Row4<T> Fma(Row4<T> acc, T a, Row4<T> b) =>
        new(acc.X0 + a * b.X0, acc.X1 + a * b.X1, acc.X2 + a * b.X2, acc.X3 + a * b.X3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Row4<T> Scale(Row4<T> x, T s) => new(x.X0 * s, x.X1 * s, x.X2 * s, x.X3 * s);
}

/// <summary>Eight register values (see <see cref="Row4{T}"/>).</summary>
internal struct Row8<T> where T : unmanaged, INumber<T>
{
    public T X0, X1, X2, X3, X4, X5, X6, X7;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Row8(T x0, T x1, T x2, T x3, T x4, T x5, T x6, T x7)
    {
        X0 = x0; X1 = x1; X2 = x2; X3 = x3; X4 = x4; X5 = x5; X6 = x6; X7 = x7;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Row8<T> Fma(Row8<T> acc, T a, Row8<T> b) =>
        new(acc.X0 + a * b.X0, acc.X1 + a * b.X1, acc.X2 + a * b.X2, acc.X3 + a * b.X3,
            acc.X4 + a * b.X4, acc.X5 + a * b.X5, acc.X6 + a * b.X6, acc.X7 + a * b.X7);

    /// <summary>acc + a * b with a scalar b (the sliding-window convolution's step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Row8<T> Fma(Row8<T> acc, Row8<T> a, T b) =>
        new(acc.X0 + a.X0 * b, acc.X1 + a.X1 * b, acc.X2 + a.X2 * b, acc.X3 + a.X3 * b,
            acc.X4 + a.X4 * b, acc.X5 + a.X5 * b, acc.X6 + a.X6 * b, acc.X7 + a.X7 * b);

    /// <summary>Shifts the window up by one: (first, X0, ..., X6); returns X7, which leaves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Row8<T> ShiftIn(Row8<T> x, T first) => new(first, x.X0, x.X1, x.X2, x.X3, x.X4, x.X5, x.X6);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Get(int i) => i switch { 0 => X0, 1 => X1, 2 => X2, 3 => X3, 4 => X4, 5 => X5, 6 => X6, _ => X7 };
}

/// <summary>A 4 x 4 register tile: four <see cref="Row4{T}"/> rows.</summary>
internal struct Tile4<T> where T : unmanaged, INumber<T>
{
    public Row4<T> R0, R1, R2, R3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Tile4(Row4<T> r0, Row4<T> r1, Row4<T> r2, Row4<T> r3) { R0 = r0; R1 = r1; R2 = r2; R3 = r3; }
}
