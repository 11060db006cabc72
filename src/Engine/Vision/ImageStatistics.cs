namespace OpenAutoGlm.Engine.Vision;

/// <summary>
/// The luminance statistics that drive preprocessing (ARCHITECTURE.md §1.2–1.4): a 64×64 area-averaged luminance thumbnail,
/// its confidence (contrast) and its complexity (mean Sobel magnitude).
/// </summary>
public static class ImageStatistics
{
    public const int ThumbnailSize = 64;

    /// <summary>
    /// Luminance of <paramref name="rgb"/> (w×h, 3 bytes per pixel) area-averaged to 64×64 exactly as PyTorch's
    /// adaptive_avg_pool2d bins it: output cell o covers input [⌊o·n/64⌋, ⌈(o+1)·n/64⌉) on each axis.
    /// </summary>
    public static double[] Thumbnail(ReadOnlySpan<byte> rgb, int width, int height)
    {
        const int S = ThumbnailSize;
        if (rgb.Length != 3L * width * height) throw new ArgumentException("rgb does not hold width × height pixels.", nameof(rgb));
        Span<int> x0 = stackalloc int[S], x1 = stackalloc int[S];
        for (int o = 0; o < S; o++) { x0[o] = (int)((long)o * width / S); x1[o] = (int)(((long)(o + 1) * width + S - 1) / S); }

        // pass 1: per input row, luminance sums over each column bin
        var rowBins = new double[(long)height * S];
        var luma = new double[width];
        for (int y = 0; y < height; y++)
        {
            var row = rgb.Slice(y * 3 * width, 3 * width);
            for (int x = 0; x < width; x++)
                luma[x] = (0.299 * row[3 * x] + 0.587 * row[3 * x + 1] + 0.114 * row[3 * x + 2]) / 255.0;
            for (int o = 0; o < S; o++)
            {
                double sum = 0;
                for (int x = x0[o]; x < x1[o]; x++) sum += luma[x];
                rowBins[(long)y * S + o] = sum;
            }
        }

        // pass 2: sum those over each row bin and divide by the cell's pixel count
        var thumb = new double[S * S];
        for (int oy = 0; oy < S; oy++)
        {
            int y0 = (int)((long)oy * height / S), y1 = (int)(((long)(oy + 1) * height + S - 1) / S);
            for (int ox = 0; ox < S; ox++)
            {
                double sum = 0;
                for (int y = y0; y < y1; y++) sum += rowBins[(long)y * S + ox];
                thumb[oy * S + ox] = sum / ((double)(y1 - y0) * (x1[ox] - x0[ox]));
            }
        }
        return thumb;
    }

    /// <summary>clamp(population std / 0.05, 0, 1): 0 for a flat (blank) frame.</summary>
    public static double Confidence(ReadOnlySpan<double> thumbnail)
    {
        double mean = 0;
        foreach (var v in thumbnail) mean += v;
        mean /= thumbnail.Length;
        double variance = 0;
        foreach (var v in thumbnail) variance += (v - mean) * (v - mean);
        return Math.Clamp(Math.Sqrt(variance / thumbnail.Length) / 0.05, 0, 1);
    }

    /// <summary>clamp(mean Sobel magnitude over the 62×62 interior / gradientScale, 0, 1), unnormalized 3×3 kernels.</summary>
    public static double Complexity(ReadOnlySpan<double> thumbnail, double gradientScale)
    {
        const int S = ThumbnailSize;
        double total = 0;
        for (int y = 1; y < S - 1; y++)
            for (int x = 1; x < S - 1; x++)
            {
                int up = (y - 1) * S + x, mid = y * S + x, down = (y + 1) * S + x;
                double gx = thumbnail[up + 1] + 2 * thumbnail[mid + 1] + thumbnail[down + 1] - thumbnail[up - 1] - 2 * thumbnail[mid - 1] - thumbnail[down - 1];
                double gy = thumbnail[down - 1] + 2 * thumbnail[down] + thumbnail[down + 1] - thumbnail[up - 1] - 2 * thumbnail[up] - thumbnail[up + 1];
                total += Math.Sqrt(gx * gx + gy * gy);
            }
        return Math.Clamp(total / ((S - 2) * (S - 2)) / gradientScale, 0, 1);
    }
}
