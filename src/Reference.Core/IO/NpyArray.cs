using System.Numerics;
using System.Runtime.InteropServices;

namespace Reference.Core.IO;

/// <summary>The element types the NPY reader and writer support (the golden set's dtypes).</summary>
public enum NpyDType
{
    /// <summary>&lt;f4: IEEE-754 binary32.</summary>
    Float32,
    /// <summary>&lt;f8: IEEE-754 binary64.</summary>
    Float64,
    /// <summary>&lt;i4: two's-complement 32-bit integer.</summary>
    Int32,
    /// <summary>&lt;i8: two's-complement 64-bit integer.</summary>
    Int64,
    /// <summary>&lt;c16: a pair of binary64 (real, imaginary).</summary>
    Complex128,
    /// <summary>|b1: one byte, 0 = False, anything else = True (written as 1).</summary>
    Bool,
}

public static class NpyDTypes
{
    /// <summary>The descr string this project writes (always little-endian).</summary>
    public static string Descr(this NpyDType dtype) => dtype switch
    {
        NpyDType.Float32 => "<f4",
        NpyDType.Float64 => "<f8",
        NpyDType.Int32 => "<i4",
        NpyDType.Int64 => "<i8",
        NpyDType.Complex128 => "<c16",
        NpyDType.Bool => "|b1",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), $"dtype = {dtype} is not an NpyDType."),
    };

    /// <summary>Bytes per element in the file.</summary>
    public static int ItemSize(this NpyDType dtype) => dtype switch
    {
        NpyDType.Float32 or NpyDType.Int32 => 4,
        NpyDType.Float64 or NpyDType.Int64 => 8,
        NpyDType.Complex128 => 16,
        NpyDType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), $"dtype = {dtype} is not an NpyDType."),
    };

    /// <summary>numpy's name for the dtype (float32, complex128, bool, ...).</summary>
    public static string NumpyName(this NpyDType dtype) => dtype switch
    {
        NpyDType.Float32 => "float32",
        NpyDType.Float64 => "float64",
        NpyDType.Int32 => "int32",
        NpyDType.Int64 => "int64",
        NpyDType.Complex128 => "complex128",
        NpyDType.Bool => "bool",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), $"dtype = {dtype} is not an NpyDType."),
    };

    /// <summary>Parses a numpy name (float32, float64, int32, int64, complex128, bool) or a descr string.</summary>
    public static NpyDType Parse(string name) => name switch
    {
        "float32" or "<f4" => NpyDType.Float32,
        "float64" or "<f8" => NpyDType.Float64,
        "int32" or "<i4" => NpyDType.Int32,
        "int64" or "<i8" => NpyDType.Int64,
        "complex128" or "<c16" => NpyDType.Complex128,
        "bool" or "|b1" => NpyDType.Bool,
        _ => throw new ArgumentException(
            $"dtype '{name}' is not one of float32, float64, int32, int64, complex128, bool.", nameof(name)),
    };
}

/// <summary>
/// An n-dimensional array as an .npy file holds it: a dtype, a C-order shape and a typed flat
/// buffer (<c>float[]</c>, <c>double[]</c>, <c>int[]</c>, <c>long[]</c>, <c>Complex[]</c> or
/// <c>bool[]</c>). Shape [] is a 0-d scalar (one element); a zero dimension makes it empty.
/// The buffer is wrapped, not copied; <see cref="Equals(NpyArray?)"/> compares dtype, shape and
/// the elements' bit patterns (so NaN equals the same NaN and -0.0 differs from +0.0).
/// </summary>
public sealed class NpyArray : IEquatable<NpyArray>
{
    private readonly int[] shape;

    private NpyArray(NpyDType dtype, Array data, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long count = Shapes.ElementCount(shape, nameof(shape));
        if (count != data.Length)
            throw new ArgumentException(
                $"data has {data.Length} elements but shape {Shapes.Format(shape)} needs {count}.", nameof(data));
        DType = dtype;
        Data = data;
        this.shape = (int[])shape.Clone();
    }

    public NpyDType DType { get; }

    /// <summary>The typed row-major buffer; its runtime type matches <see cref="DType"/>.</summary>
    public Array Data { get; }

    public ReadOnlySpan<int> Shape => shape;

    public int[] ShapeArray => (int[])shape.Clone();

    public int Rank => shape.Length;

    public int Count => Data.Length;

    public static NpyArray Of(float[] data, params int[] shape) => new(NpyDType.Float32, Checked(data), shape);
    public static NpyArray Of(double[] data, params int[] shape) => new(NpyDType.Float64, Checked(data), shape);
    public static NpyArray Of(int[] data, params int[] shape) => new(NpyDType.Int32, Checked(data), shape);
    public static NpyArray Of(long[] data, params int[] shape) => new(NpyDType.Int64, Checked(data), shape);
    public static NpyArray Of(Complex[] data, params int[] shape) => new(NpyDType.Complex128, Checked(data), shape);
    public static NpyArray Of(bool[] data, params int[] shape) => new(NpyDType.Bool, Checked(data), shape);

    /// <summary>A zero-filled array of the dtype and shape.</summary>
    public static NpyArray Zeros(NpyDType dtype, params int[] shape)
    {
        int count = checked((int)Shapes.ElementCount(shape, nameof(shape)));
        return new NpyArray(dtype, Allocate(dtype, count), shape);
    }

    /// <summary>float tensors become &lt;f4, double tensors &lt;f8 (the buffer is copied).</summary>
    public static NpyArray FromTensor<T>(Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (typeof(T) == typeof(float)) return Of((float[])(object)tensor.Data.Clone(), tensor.ShapeArray);
        if (typeof(T) == typeof(double)) return Of((double[])(object)tensor.Data.Clone(), tensor.ShapeArray);
        throw new ArgumentException($"tensor element type is {typeof(T).Name}, expected float or double.", nameof(tensor));
    }

    /// <summary>The buffer as <typeparamref name="T"/>[] (no copy); throws when the dtype differs.</summary>
    public T[] Get<T>() => Data as T[] ?? throw new InvalidOperationException(
        $"the array holds {DType.NumpyName()} elements, not {typeof(T).Name}.");

    /// <summary>
    /// Converts to a real tensor (a new buffer). Integers and bools convert exactly up to 2^53
    /// (float64) or 2^24 (float32); complex arrays are refused because dropping the imaginary
    /// part silently would hide a wrong dtype.
    /// </summary>
    public Tensor<T> ToTensor<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new T[Count];
        switch (Data)
        {
            case float[] f: for (int i = 0; i < f.Length; i++) result[i] = T.CreateTruncating(f[i]); break;
            case double[] d: for (int i = 0; i < d.Length; i++) result[i] = T.CreateTruncating(d[i]); break;
            case int[] n: for (int i = 0; i < n.Length; i++) result[i] = T.CreateTruncating(n[i]); break;
            case long[] n: for (int i = 0; i < n.Length; i++) result[i] = T.CreateTruncating(n[i]); break;
            case bool[] b: for (int i = 0; i < b.Length; i++) result[i] = b[i] ? T.One : T.Zero; break;
            default:
                throw new InvalidOperationException(
                    $"a {DType.NumpyName()} array cannot convert to a real Tensor<{typeof(T).Name}>.");
        }
        return new Tensor<T>(result, shape);
    }

    public Tensor<double> ToTensorDouble() => ToTensor<double>();

    public Tensor<float> ToTensorFloat() => ToTensor<float>();

    /// <summary>The elements as float64 (complex: refused; see <see cref="ToTensor{T}"/>).</summary>
    public double[] ToDoubles() => ToTensor<double>().Data;

    /// <summary>The raw element bytes as the host lays them out (little-endian on every supported host).</summary>
    internal ReadOnlySpan<byte> RawBytes => Data switch
    {
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        double[] d => MemoryMarshal.AsBytes(d.AsSpan()),
        int[] n => MemoryMarshal.AsBytes(n.AsSpan()),
        long[] n => MemoryMarshal.AsBytes(n.AsSpan()),
        Complex[] c => MemoryMarshal.AsBytes(c.AsSpan()),
        bool[] b => MemoryMarshal.AsBytes(b.AsSpan()),
        _ => throw new InvalidOperationException($"unexpected buffer type {Data.GetType().Name}."),
    };

    internal static Array Allocate(NpyDType dtype, int count) => dtype switch
    {
        NpyDType.Float32 => new float[count],
        NpyDType.Float64 => new double[count],
        NpyDType.Int32 => new int[count],
        NpyDType.Int64 => new long[count],
        NpyDType.Complex128 => new Complex[count],
        NpyDType.Bool => new bool[count],
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), $"dtype = {dtype} is not an NpyDType."),
    };

    internal static NpyArray Wrap(NpyDType dtype, Array data, int[] shape) => new(dtype, data, shape);

    private static Array Checked(Array data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data;
    }

    public bool Equals(NpyArray? other) =>
        other is not null && DType == other.DType && Shape.SequenceEqual(other.Shape) && RawBytes.SequenceEqual(other.RawBytes);

    public override bool Equals(object? obj) => Equals(obj as NpyArray);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(DType);
        foreach (int d in shape) hash.Add(d);
        hash.AddBytes(RawBytes[..Math.Min(RawBytes.Length, 256)]);
        return hash.ToHashCode();
    }

    public override string ToString() => $"NpyArray<{DType.NumpyName()}>{Shapes.Format(shape)}";
}
