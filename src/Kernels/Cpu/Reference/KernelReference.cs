namespace OpenAutoGlm.Kernels.Cpu.Reference;

// Naive scalar twins of the fast kernels: plain loops, double accumulation, no vectors or threads.
// They define what the fast paths must compute; tests compare the two on awkward sizes.

public static class MatMulReference
{
    /// <summary>y[t, n] = Σ_k x[t, k] · w[n, k], accumulated in double.</summary>
    public static void Multiply(float[] x, int rows, int k, Half[] w, int n, float[] y)
    {
        for (int t = 0; t < rows; t++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int i = 0; i < k; i++) sum += (double)x[t * k + i] * (double)(float)w[(long)j * k + i];
                y[t * n + j] = (float)sum;
            }
    }
}

public static class RmsNormReference
{
    public static void Forward(float[] x, float[] weight, float eps, float[] y, int rows = 1)
    {
        int dim = weight.Length;
        for (int t = 0; t < rows; t++)
        {
            double sum = 0;
            for (int i = 0; i < dim; i++) sum += (double)x[t * dim + i] * x[t * dim + i];
            double inv = 1.0 / Math.Sqrt(sum / dim + eps);
            for (int i = 0; i < dim; i++) y[t * dim + i] = (float)(x[t * dim + i] * inv * weight[i]);
        }
    }
}

public static class RopeReference
{
    public static void Apply(float[] vectors, int heads, int headDim, int rotaryDim, bool interleaved, float[] cos, float[] sin)
    {
        int half = rotaryDim / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
            {
                int a = h * headDim + (interleaved ? 2 * i : i);
                int b = h * headDim + (interleaved ? 2 * i + 1 : i + half);
                double x0 = vectors[a], x1 = vectors[b];
                vectors[a] = (float)(x0 * cos[i] - x1 * sin[i]);
                vectors[b] = (float)(x1 * cos[i] + x0 * sin[i]);
            }
    }

    /// <summary>θ^(−2i/r) in double.</summary>
    public static double[] InverseFrequencies(int rotaryDim, double theta)
    {
        var inv = new double[rotaryDim / 2];
        for (int i = 0; i < inv.Length; i++) inv[i] = Math.Pow(theta, -2.0 * i / rotaryDim);
        return inv;
    }
}

public static class AttentionReference
{
    public static void Causal(float[] q, int tokens, int startPos, float[] keys, float[] values, int capacity, int heads, int kvHeads, int headDim, float[] output)
    {
        int group = heads / kvHeads;
        double scale = 1.0 / Math.Sqrt(headDim);
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
            {
                int length = startPos + t + 1;
                long kv = (long)(h / group) * capacity * headDim;
                int qo = (t * heads + h) * headDim;
                var scores = new double[length];
                double max = double.NegativeInfinity;
                for (int p = 0; p < length; p++)
                {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++) dot += (double)q[qo + d] * keys[kv + (long)p * headDim + d];
                    scores[p] = dot * scale;
                    max = Math.Max(max, scores[p]);
                }
                double sum = 0;
                for (int p = 0; p < length; p++) sum += scores[p] = Math.Exp(scores[p] - max);
                for (int d = 0; d < headDim; d++)
                {
                    double acc = 0;
                    for (int p = 0; p < length; p++) acc += scores[p] / sum * values[kv + (long)p * headDim + d];
                    output[qo + d] = (float)acc;
                }
            }
    }
}

public static class ActivationsReference
{
    public static double Sigmoid(double x) => 1.0 / (1.0 + Math.Exp(-x));
    public static double Silu(double x) => x * Sigmoid(x);
    public static double QuickGelu(double x) => x * Sigmoid(1.702 * x);
    public static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    public static void SwiGlu(float[] gateUp, int rows, int inter, float[] output)
    {
        for (int t = 0; t < rows; t++)
            for (int i = 0; i < inter; i++)
                output[t * inter + i] = (float)(Silu(gateUp[2 * t * inter + i]) * gateUp[2 * t * inter + inter + i]);
    }

    /// <summary>erf in double: Maclaurin series for |x| &lt; 3, continued fraction for erfc beyond (≈1e-13).</summary>
    public static double Erf(double x)
    {
        double z = Math.Abs(x);
        double result;
        if (z < 3)
        {
            double term = z, sum = z;
            for (int n = 1; n < 100; n++)
            {
                term *= -z * z / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            result = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc(z) = exp(−z²)/√π · 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...)))), evaluated bottom-up.
            double f = z;
            for (int n = 60; n >= 1; n--) f = z + n / 2.0 / f;
            result = 1 - Math.Exp(-z * z) / Math.Sqrt(Math.PI) / f;
        }
        return x < 0 ? -result : result;
    }
}

public static class VectorOpsReference
{
    public static int ArgMax(float[] x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    public static void Softmax(float[] x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        double sum = 0;
        var e = new double[x.Length];
        for (int i = 0; i < x.Length; i++) sum += e[i] = Math.Exp(x[i] - max);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(e[i] / sum);
    }
}

public static class HalfConvertReference
{
    /// <summary>FP16 → FP32 by decoding sign, exponent and mantissa explicitly.</summary>
    public static float ToSingle(Half h)
    {
        ushort bits = BitConverter.HalfToUInt16Bits(h);
        int sign = bits >> 15, exponent = (bits >> 10) & 31, mantissa = bits & 1023;
        double magnitude = exponent == 0 ? mantissa * Math.Pow(2, -24) : (1 + mantissa / 1024.0) * Math.Pow(2, exponent - 15);
        return (float)(sign == 1 ? -magnitude : magnitude);
    }
}
