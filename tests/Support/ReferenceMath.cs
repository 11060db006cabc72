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

    /// <summary>
    /// CLIP's patch rows before position embeddings: [class embedding; Conv2d patches (no bias)] of an image already at
    /// side × side, normalized with CLIP's mean and std. Conv2d weight [d_v, 3, p, p].
    /// </summary>
    public static double[][] ClipEmbeddings(byte[] rgb, int side, int p, int dv, double[] conv, double[] classEmbedding)
    {
        double[] mean = [0.48145466, 0.4578275, 0.40821073], std = [0.26862954, 0.26130258, 0.27577711];
        int g = side / p;
        var x = new double[g * g + 1][];
        x[0] = classEmbedding;
        for (int pr = 0; pr < g; pr++)
            for (int pc = 0; pc < g; pc++)
            {
                var row = new double[dv];
                for (int o = 0; o < dv; o++)
                    for (int ch = 0; ch < 3; ch++)
                        for (int i = 0; i < p; i++)
                            for (int j = 0; j < p; j++)
                            {
                                double value = (rgb[3 * ((pr * p + i) * side + pc * p + j) + ch] / 255.0 - (float)mean[ch]) / (float)std[ch];
                                row[o] += conv[((o * 3 + ch) * p + i) * p + j] * value;
                            }
                x[1 + pr * g + pc] = row;
            }
        return x;
    }
}
