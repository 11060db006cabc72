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
    /// adaptive_avg_pool2d bins it: output cell o covers input [⌊o·n/64⌋, ⌈(o+1)·n/64⌉) on each axis. Each cell's channel
    /// sums are exact integers, so large images split their rows over threads without changing a bit.
    /// </summary>
    public static double[] Thumbnail(ReadOnlySpan<byte> rgb, int width, int height)
    {
        const int S = ThumbnailSize;
        if (rgb.Length != 3L * width * height) throw new ArgumentException("rgb does not hold width × height pixels.", nameof(rgb));
        var bounds = new int[4 * S];   // column bin starts, ends, then row bin starts, ends
        for (int o = 0; o < S; o++)
        {
            bounds[o] = (int)((long)o * width / S); bounds[S + o] = (int)(((long)(o + 1) * width + S - 1) / S);
            bounds[2 * S + o] = (int)((long)o * height / S); bounds[3 * S + o] = (int)(((long)(o + 1) * height + S - 1) / S);
        }
        var sums = new long[3 * S * S];   // [cell][channel]
        unsafe
        {
            fixed (byte* pixels = rgb)
            {
                byte* p = pixels;
                int blocks = (long)width * height >= 1 << 20 ? Math.Min(Environment.ProcessorCount * 2, height) : 1;
                if (blocks == 1) CellSums(p, width, 0, height, bounds, sums);
                else
                {
                    var partial = new long[blocks][];
                    Parallel.For(0, blocks, b =>
                    {
                        partial[b] = new long[3 * S * S];
                        CellSums(p, width, (int)((long)b * height / blocks), (int)((long)(b + 1) * height / blocks), bounds, partial[b]);
                    });
                    foreach (var part in partial)
                        for (int i = 0; i < sums.Length; i++) sums[i] += part[i];
                }
            }
        }
        var thumb = new double[S * S];
        for (int oy = 0; oy < S; oy++)
            for (int ox = 0; ox < S; ox++)
            {
                int cell = oy * S + ox;
                double n = (double)(bounds[3 * S + oy] - bounds[2 * S + oy]) * (bounds[S + ox] - bounds[ox]);
                thumb[cell] = (0.299 * sums[3 * cell] + 0.587 * sums[3 * cell + 1] + 0.114 * sums[3 * cell + 2]) / 255.0 / n;
            }
        return thumb;
    }

    /// <summary>Adds the channel sums of rows y0 .. y1 into every cell (sums[cell · 3 + c]) whose row and column bins hold them.</summary>
    private static unsafe void CellSums(byte* rgb, int width, int y0, int y1, int[] bounds, long[] sums)
    {
        const int S = ThumbnailSize;
        var row = new int[3 * S];
        for (int y = y0; y < y1; y++)
        {
            byte* px = rgb + (long)y * 3 * width;
            Array.Clear(row);
            for (int o = 0; o < S; o++)
            {
                int r = 0, g = 0, b = 0;
                for (int x = bounds[o]; x < bounds[S + o]; x++) { r += px[3 * x]; g += px[3 * x + 1]; b += px[3 * x + 2]; }
                row[3 * o] = r; row[3 * o + 1] = g; row[3 * o + 2] = b;
            }
            // a row belongs to one or two row bins (they overlap where height is not a multiple of 64)
            for (int oy = 0; oy < S && bounds[2 * S + oy] <= y; oy++)
            {
                if (y >= bounds[3 * S + oy]) continue;
                for (int i = 0; i < 3 * S; i++) sums[3 * S * oy + i] += row[i];
            }
        }
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
