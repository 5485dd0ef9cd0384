using Reference.Core;

namespace Reference.Autodiff;

/// <summary>
/// Embedding lookup (a row gather): y[..., :] = weight[ids[...], :], weight [V, D], ids of any
/// shape S, y [S..., D]. VJP: scatter-add of g's rows into the rows of g_weight, in the order of
/// the ids (a token that occurs k times receives the sum of k rows). ids carry no gradient.
/// </summary>
public static partial class Ops
{
    public static Variable Embedding(Variable weight, int[] ids, params int[] idsShape)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(ids);
        if (weight.Rank != 2) throw new ArgumentException($"weight has shape {Shapes.Format(weight.Shape)}, expected [V, D].", nameof(weight));
        if (idsShape.Length == 0) idsShape = [ids.Length];
        if (Shapes.ElementCount(idsShape, nameof(idsShape)) != ids.Length)
            throw new ArgumentException($"idsShape {Shapes.Format(idsShape)} holds {Shapes.ElementCount(idsShape, nameof(idsShape))} ids, ids has {ids.Length}.", nameof(idsShape));
        int v = weight.Shape[0], d = weight.Shape[1];
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)v)
                throw new ArgumentOutOfRangeException(nameof(ids), $"ids[{i}] = {ids[i]} is outside [0, {v}).");
        var y = TensorArena.Zeros([.. idsShape, d]);
        for (int i = 0; i < ids.Length; i++)
            weight.Value.Data.AsSpan(ids[i] * d, d).CopyTo(y.Data.AsSpan(i * d, d));
        var saved = (int[])ids.Clone();
        return Function.Apply("embedding", [weight], y, g =>
        {
            var gw = TensorArena.Zeros(v, d);
            for (int i = 0; i < saved.Length; i++)
            {
                var row = gw.Data.AsSpan(saved[i] * d, d);
                TensorPrimitives.Add(row, g.Data.AsSpan(i * d, d), row);
            }
            return [gw];
        });
    }
}
