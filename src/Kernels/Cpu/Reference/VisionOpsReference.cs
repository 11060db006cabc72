namespace OpenAutoGlm.Kernels.Cpu.Reference;

/// <summary>Plain double-precision twins of <see cref="LayerNorm"/> and <see cref="VisionActivations"/>, for kernel tests.</summary>
public static class VisionOpsReference
{
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, double eps, Span<float> y, int rows)
    {
        int d = weight.Length;
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int i = 0; i < d; i++) mean += x[r * d + i];
            mean /= d;
            for (int i = 0; i < d; i++) variance += (x[r * d + i] - mean) * (x[r * d + i] - mean);
            variance /= d;
            for (int i = 0; i < d; i++) y[r * d + i] = (float)((x[r * d + i] - mean) / Math.Sqrt(variance + eps) * weight[i] + bias[i]);
        }
    }

    /// <summary>erf by its Maclaurin series (|x| ≤ 5; erf(5) = 1 − 1.5e-12 beyond).</summary>
    public static double Erf(double x)
    {
        if (Math.Abs(x) > 5) return Math.Sign(x);
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    public static double Activation(string name, double x) => name switch
    {
        "gelu" => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))),
        "gelu_pytorch_tanh" => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        "quick_gelu" => x / (1 + Math.Exp(-1.702 * x)),
        "silu" => x / (1 + Math.Exp(-x)),
        _ => throw new ArgumentException($"unknown activation '{name}'.", nameof(name)),
    };
}
