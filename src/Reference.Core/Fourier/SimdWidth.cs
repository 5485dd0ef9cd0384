using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Reference.Core.Fourier;

/// <summary>
/// A SIMD width as a type parameter, so that an FFT pass is written once and compiled by the JIT for
/// <see cref="Simd256{T}"/> and <see cref="Simd512{T}"/> (struct type arguments: each gets its own code with the
/// operators inlined, as the Vector256 and Vector512 copies it replaces). Each operator is the Vector256 or Vector512
/// operator of the same name, lane by lane, so a pass gives the same bits at either width.
/// </summary>
internal interface ISimd<TSelf, T> where TSelf : struct, ISimd<TSelf, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }

    /// <summary>Whether the hardware runs this width's operators and <see cref="Reverse"/> (float or double on AVX, AVX-512F for 512 bits).</summary>
    static abstract bool CanReverse { get; }

    static abstract TSelf Load(ref T source, nuint offset);

    static abstract TSelf Create(T value);

    void Store(ref T destination, nuint offset);

    /// <summary>The lanes in reverse order (<see cref="SplitComplexLayout.Reverse{T}(Vector256{T})"/>).</summary>
    TSelf Reverse();

    static abstract TSelf operator +(TSelf a, TSelf b);

    static abstract TSelf operator -(TSelf a, TSelf b);

    static abstract TSelf operator *(TSelf a, TSelf b);

    static abstract TSelf operator -(TSelf a);
}

/// <summary>Vector256 as an <see cref="ISimd{TSelf, T}"/>.</summary>
internal readonly struct Simd256<T>(Vector256<T> value) : ISimd<Simd256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector256<T> value = value;

    public static int Count => Vector256<T>.Count;

    public static bool CanReverse => SplitComplexLayout.CanReverse<T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256<T> Load(ref T source, nuint offset) => new(Vector256.LoadUnsafe(ref source, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256<T> Create(T value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref T destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Simd256<T> Reverse() => new(SplitComplexLayout.Reverse(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256<T> operator +(Simd256<T> a, Simd256<T> b) => new(a.value + b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256<T> operator -(Simd256<T> a, Simd256<T> b) => new(a.value - b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256<T> operator *(Simd256<T> a, Simd256<T> b) => new(a.value * b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256<T> operator -(Simd256<T> a) => new(-a.value);
}

/// <summary>Vector512 as an <see cref="ISimd{TSelf, T}"/>.</summary>
internal readonly struct Simd512<T>(Vector512<T> value) : ISimd<Simd512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector512<T> value = value;

    public static int Count => Vector512<T>.Count;

    public static bool CanReverse => SplitComplexLayout.CanReverse512<T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512<T> Load(ref T source, nuint offset) => new(Vector512.LoadUnsafe(ref source, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512<T> Create(T value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref T destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Simd512<T> Reverse() => new(SplitComplexLayout.Reverse(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512<T> operator +(Simd512<T> a, Simd512<T> b) => new(a.value + b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512<T> operator -(Simd512<T> a, Simd512<T> b) => new(a.value - b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512<T> operator *(Simd512<T> a, Simd512<T> b) => new(a.value * b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512<T> operator -(Simd512<T> a) => new(-a.value);
}
