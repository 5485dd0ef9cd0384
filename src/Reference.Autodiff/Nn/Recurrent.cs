using Reference.Core;

namespace Reference.Autodiff.Nn;

/// <summary>
/// nn.LSTM(batch_first = True), one layer, one direction (<see cref="Ops.Lstm"/>): x [B, T, I] ->
/// out [B, T, H] plus the final h and c [B, H]. Init as PyTorch: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)),
/// drawn in the order W_ih, W_hh, b_ih, b_hh. The forget bias is added to b_ih's forget
/// block after init (TensorFlow's LSTM adds a forget bias of 1 inside the cell; a constant offset on
/// the pre-activation is the same function).
/// </summary>
public sealed class Lstm : Layer
{
    public Lstm(int inputSize, int hiddenSize, SplitMix64 rng, bool reverse = false, double forgetBias = 0.0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenSize);
        ArgumentNullException.ThrowIfNull(rng);
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        Reverse = reverse;
        double k = 1.0 / Math.Sqrt(hiddenSize);
        WeightIh = RegisterParameter("weight_ih", Init.Uniform(rng, -k, k, 4 * hiddenSize, inputSize));
        WeightHh = RegisterParameter("weight_hh", Init.Uniform(rng, -k, k, 4 * hiddenSize, hiddenSize));
        BiasIh = RegisterParameter("bias_ih", Init.Uniform(rng, -k, k, 4 * hiddenSize));
        BiasHh = RegisterParameter("bias_hh", Init.Uniform(rng, -k, k, 4 * hiddenSize));
        for (int j = 0; j < hiddenSize; j++) BiasIh.Value.Data[hiddenSize + j] += forgetBias;
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    public bool Reverse { get; }
    public Variable WeightIh { get; }
    public Variable WeightHh { get; }
    public Variable BiasIh { get; }
    public Variable BiasHh { get; }

    /// <summary>Outputs [B, T, H] (zero initial state).</summary>
    public override Variable Forward(Variable x) => Run(x)[0];

    /// <summary>[out [B, T, H], h_final [B, H], c_final [B, H]]; "final" is t = 0 for a reverse layer.</summary>
    public Variable[] Run(Variable x, Variable? h0 = null, Variable? c0 = null) => Ops.Lstm(x, WeightIh, WeightHh, BiasIh, BiasHh, h0, c0, Reverse);
}

/// <summary>
/// nn.LSTM(bidirectional = True, batch_first = True), one layer: a forward LSTM over t = 0..T-1 and a
/// reverse LSTM over t = T-1..0, outputs concatenated per position: out [B, T, 2H] = [h_fwd_t, h_bwd_t]
/// (PyTorch's layout); <see cref="FinalStates"/> = [h_fwd at T-1, h_bwd at 0] [B, 2H], what a
/// sequence classifier reads (PyTorch's h_n of both directions, concatenated).
/// </summary>
public sealed class BidirectionalLstm : Layer
{
    public BidirectionalLstm(int inputSize, int hiddenSize, SplitMix64 rng, double forgetBias = 0.0)
    {
        ForwardLayer = RegisterModule("forward", new Lstm(inputSize, hiddenSize, rng, reverse: false, forgetBias));
        ReverseLayer = RegisterModule("reverse", new Lstm(inputSize, hiddenSize, rng, reverse: true, forgetBias));
    }

    /// <summary>The t = 0..T-1 direction.</summary>
    public Lstm ForwardLayer { get; }

    /// <summary>The t = T-1..0 direction.</summary>
    public Lstm ReverseLayer { get; }

    public override Variable Forward(Variable x) => Ops.Concat([ForwardLayer.Run(x)[0], ReverseLayer.Run(x)[0]], axis: 2);

    /// <summary>[h_fwd(T-1), h_bwd(0)] as [B, 2H].</summary>
    public Variable FinalStates(Variable x) => Ops.Concat([ForwardLayer.Run(x)[1], ReverseLayer.Run(x)[1]], axis: 1);
}
