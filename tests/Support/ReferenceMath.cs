namespace OpenAutoGlm.Tests.Support;

/// <summary>The plain double-precision building blocks the reference models share.</summary>
public static class ReferenceMath
{
    /// <summary>y = W·x + b with W [outDim, x.Length] row-major.</summary>
    public static double[] Linear(double[] x, double[] w, double[]? b, int outDim)
    {
        var y = new double[outDim];
        for (int o = 0; o < outDim; o++)
        {
            double s = b?[o] ?? 0;
            for (int i = 0; i < x.Length; i++) s += w[o * x.Length + i] * x[i];
            y[o] = s;
        }
        return y;
    }

    /// <summary>(x − mean) / sqrt(var + eps) · w + b, population variance.</summary>
    public static double[] LayerNorm(double[] x, double[] w, double[] b, double eps)
    {
        double mean = x.Average(), variance = x.Select(e => (e - mean) * (e - mean)).Average();
        return x.Select((e, i) => (e - mean) / Math.Sqrt(variance + eps) * w[i] + b[i]).ToArray();
    }
}
