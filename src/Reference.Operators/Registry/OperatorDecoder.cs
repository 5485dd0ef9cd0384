using Reference.Core;

namespace Reference.Operators;

/// <summary>
/// Token-by-token decoding of one batch of sequences through an operator's recurrent form: each
/// <see cref="Step"/> takes every sequence input of the descriptor at one position, in the
/// descriptor's layout with L = 1 (q [B, H, 1, K], u [B, 1, D], ...), and returns the primary
/// output at that position in its layout with L = 1, advancing the carried state: the KV cache of
/// attention, the constant-size state of an SSM, a convolution's input history or a recurrence's S.
/// <see cref="OperatorDescriptor.Decoder"/> builds one from params and the operator's parameter
/// inputs; stepping through a sequence equals the definition at every position (the registry's
/// decoder test), which is what lets a model generate without re-running the parallel form.
/// </summary>
public sealed class OperatorDecoder
{
    private readonly Func<IReadOnlyDictionary<string, Tensor<double>>, Tensor<double>> step;
    private readonly Func<long> stateElements;

    /// <param name="batch">Sequences B decoded together.</param>
    /// <param name="step">One position: the sequence inputs at L = 1 -> the primary output at L = 1.</param>
    /// <param name="stateElements">Elements of the carried state of all B sequences now (complex values count twice).</param>
    public OperatorDecoder(int batch, Func<IReadOnlyDictionary<string, Tensor<double>>, Tensor<double>> step, Func<long> stateElements)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(stateElements);
        Batch = batch;
        this.step = step;
        this.stateElements = stateElements;
    }

    public int Batch { get; }

    /// <summary>Positions consumed so far.</summary>
    public long Position { get; private set; }

    /// <summary>Elements of the carried state of all <see cref="Batch"/> sequences (the descriptor's CacheSize(params, Position) times B).</summary>
    public long StateElements => stateElements();

    /// <summary>Consumes position <see cref="Position"/> of every sequence input and returns the output there.</summary>
    public Tensor<double> Step(IReadOnlyDictionary<string, Tensor<double>> token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var y = step(token);
        Position++;
        return y;
    }

    /// <summary>The input <paramref name="name"/> of a token with its length-1 axis <paramref name="axis"/> removed (a view).</summary>
    public static Tensor<double> Squeeze(IReadOnlyDictionary<string, Tensor<double>> token, string name, int axis)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (!token.TryGetValue(name, out var x))
            throw new ArgumentException($"the token has no input '{name}' (it has {string.Join(", ", token.Keys)}).", nameof(token));
        if (axis < 0 || axis >= x.Rank || x.Shape[axis] != 1)
            throw new ArgumentException($"token input '{name}' has shape {Shapes.Format(x.Shape)}, expected length 1 on axis {axis}.", nameof(token));
        return x.Reshape([.. x.ShapeArray.Where((_, a) => a != axis)]);
    }

    /// <summary><paramref name="x"/> with a length-1 axis inserted at <paramref name="axis"/> (a view).</summary>
    public static Tensor<double> Unsqueeze(Tensor<double> x, int axis)
    {
        ArgumentNullException.ThrowIfNull(x);
        var shape = x.ShapeArray.ToList();
        shape.Insert(axis, 1);
        return x.Reshape([.. shape]);
    }
}
