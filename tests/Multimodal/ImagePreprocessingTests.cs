using System.Buffers.Binary;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Weights;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OpenAutoGlm.Tests.Multimodal;

public class ImagePreprocessingTests
{
    private static MultimodalConfig Config(int patch = 4) => new()
    {
        Vision = new VisionConfig
        {
            HiddenSize = 8, IntermediateSize = 8, NumLayers = 1, NumHeads = 1, PatchSize = patch, BaseImageSize = 16,
            ImageMean = [0.5f, 0.4f, 0.3f], ImageStd = [0.2f, 0.25f, 0.3f],
        },
        AdaptiveResolution = new AdaptiveResolution { Sizes = [8, 16, 24], Thresholds = [0.3, 0.7] },
        CrossAttentionHeads = 1,
    };

    private static byte[] Rgb(int w, int h, Func<int, int, (byte R, byte G, byte B)> pixel)
    {
        var rgb = new byte[3 * w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b) = pixel(x, y);
                rgb[3 * (y * w + x)] = r; rgb[3 * (y * w + x) + 1] = g; rgb[3 * (y * w + x) + 2] = b;
            }
        return rgb;
    }

    /// <summary>PyTorch adaptive_avg_pool2d written cell by cell, per channel, then luminance.</summary>
    private static double[] NaiveThumbnail(byte[] rgb, int w, int h)
    {
        var t = new double[64 * 64];
        for (int oy = 0; oy < 64; oy++)
            for (int ox = 0; ox < 64; ox++)
            {
                int ys = (int)Math.Floor(oy * h / 64.0), ye = (int)Math.Ceiling((oy + 1) * h / 64.0);
                int xs = (int)Math.Floor(ox * w / 64.0), xe = (int)Math.Ceiling((ox + 1) * w / 64.0);
                var c = new double[3];
                for (int y = ys; y < ye; y++)
                    for (int x = xs; x < xe; x++)
                        for (int ch = 0; ch < 3; ch++) c[ch] += rgb[3 * (y * w + x) + ch] / 255.0;
                int n = (ye - ys) * (xe - xs);
                t[oy * 64 + ox] = 0.299 * c[0] / n + 0.587 * c[1] / n + 0.114 * c[2] / n;
            }
        return t;
    }

    private static double NaiveComplexity(double[] t)
    {
        int[,] kx = { { -1, 0, 1 }, { -2, 0, 2 }, { -1, 0, 1 } };
        double sum = 0;
        for (int y = 1; y < 63; y++)
            for (int x = 1; x < 63; x++)
            {
                double gx = 0, gy = 0;
                for (int a = -1; a <= 1; a++)
                    for (int b = -1; b <= 1; b++)
                    {
                        gx += kx[a + 1, b + 1] * t[(y + a) * 64 + x + b];
                        gy += kx[b + 1, a + 1] * t[(y + a) * 64 + x + b];
                    }
                sum += Math.Sqrt(gx * gx + gy * gy);
            }
        return Math.Min(1, sum / (62 * 62));
    }

    [Theory]
    [InlineData(100, 70)]
    [InlineData(64, 64)]
    [InlineData(13, 200)]
    [InlineData(1, 1)]
    public void ThumbnailUsesAdaptiveAveragePoolBins(int w, int h)
    {
        var random = new Random(w * 1000 + h);
        var rgb = Rgb(w, h, (_, _) => ((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
        var expected = NaiveThumbnail(rgb, w, h);
        var actual = ImageStatistics.Thumbnail(rgb, w, h);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-12);
        Assert.Equal(NaiveComplexity(expected), ImageStatistics.Complexity(actual, 1.0), 1e-12);
    }

    [Fact]
    public void HalfBlackHalfWhiteHasFullConfidenceAndAnEdgeComplexity()
    {
        var rgb = Rgb(64, 64, (x, _) => x < 32 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255));
        var t = ImageStatistics.Thumbnail(rgb, 64, 64);
        Assert.Equal(1.0, ImageStatistics.Confidence(t), 12); // std 0.5 ≫ 0.05
        // columns 31 and 32 see |gx| = 1 + 2 + 1 = 4 on all 62 interior rows; every other pixel 0
        Assert.Equal(2 * 62 * 4.0 / (62 * 62), ImageStatistics.Complexity(t, 1.0), 12);
        Assert.Equal(2 * 62 * 4.0 / (62 * 62) / 2, ImageStatistics.Complexity(t, 2.0), 12);
    }

    [Fact]
    public void OnePixelCheckerboardHasNoSobelResponse()
    {
        // x±1 and y±1 neighbours share a colour, so both kernels cancel exactly
        var rgb = Rgb(64, 64, (x, y) => (x + y) % 2 == 0 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255));
        var t = ImageStatistics.Thumbnail(rgb, 64, 64);
        Assert.Equal(1.0, ImageStatistics.Confidence(t));
        Assert.Equal(0.0, ImageStatistics.Complexity(t, 1.0), 12);
    }

    [Fact]
    public void FourPixelCheckerboardMatchesTheNaiveSobel()
    {
        var rgb = Rgb(64, 64, (x, y) => (x / 4 + y / 4) % 2 == 0 ? ((byte)10, (byte)20, (byte)30) : ((byte)200, (byte)180, (byte)160));
        var t = ImageStatistics.Thumbnail(rgb, 64, 64);
        double c = ImageStatistics.Complexity(t, 1.0);
        Assert.Equal(NaiveComplexity(NaiveThumbnail(rgb, 64, 64)), c, 12);
        Assert.True(c > 0.3);
    }

    [Fact]
    public void ConstantImageIsMissing()
    {
        var p = new ImagePreprocessor(Config());
        var result = p.Preprocess(ImageInput.FromRgb(Rgb(30, 20, (_, _) => (90, 90, 90)), 30, 20));
        Assert.Equal(0, result.Confidence, 1e-9);
        Assert.False(result.Valid);
        Assert.Equal(8, result.Resolution); // complexity 0 → smallest size
    }

    [Fact]
    public void ResolutionFollowsComplexityAndCanBePinned()
    {
        var p = new ImagePreprocessor(Config());
        var edge = ImageInput.FromRgb(Rgb(64, 64, (x, _) => x < 32 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255)), 64, 64);
        Assert.Equal(8, p.Preprocess(edge).Resolution);        // 0.129 < 0.3
        var busy = ImageInput.FromRgb(Rgb(64, 64, (x, y) => (x / 2 + y / 2) % 2 == 0 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255)), 64, 64);
        Assert.Equal(24, p.Preprocess(busy).Resolution);
        var pinned = p.Preprocess(busy, resolution: 12);
        Assert.Equal(12, pinned.Resolution);
        Assert.Equal(3, pinned.Grid);
        Assert.Equal(9 * 48, pinned.Patches.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => p.Preprocess(busy, resolution: 10));
    }

    [Fact]
    public void PatchesAreNormalizedInChannelRowColumnOrderWithoutResampling()
    {
        var cfg = Config(patch: 4);
        var random = new Random(3);
        var rgb = Rgb(8, 8, (_, _) => ((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
        var result = new ImagePreprocessor(cfg).Preprocess(ImageInput.FromRgb(rgb, 8, 8), resolution: 8);
        for (int pr = 0; pr < 2; pr++)
            for (int pc = 0; pc < 2; pc++)
                for (int ch = 0; ch < 3; ch++)
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++)
                        {
                            int y = pr * 4 + i, x = pc * 4 + j;
                            double expected = (rgb[3 * (y * 8 + x) + ch] / 255.0 - cfg.Vision.ImageMean[ch]) / cfg.Vision.ImageStd[ch];
                            Assert.Equal(expected, result.Patches[(pr * 2 + pc) * 48 + ch * 16 + i * 4 + j], 1e-5);
                        }
    }

    [Fact]
    public void AlphaIsDroppedNotCompositedAndGrayIsReplicated()
    {
        using var rgba = new Image<Rgba32>(8, 8, new Rgba32(200, 100, 50, 0));
        using var ms = new MemoryStream();
        rgba.SaveAsPng(ms);
        var cfg = Config();
        var result = new ImagePreprocessor(cfg).Preprocess(ImageInput.FromBytes(ms.ToArray()), resolution: 8);
        Assert.Equal((200 / 255.0 - 0.5) / 0.2, result.Patches[0], 1e-5);
        Assert.Equal((100 / 255.0 - 0.4) / 0.25, result.Patches[16], 1e-5);

        using var gray = new Image<L8>(8, 8, new L8(77));
        using var ms2 = new MemoryStream();
        gray.SaveAsPng(ms2);
        var g = new ImagePreprocessor(cfg).Preprocess(ImageInput.FromStream(new MemoryStream(ms2.ToArray())), resolution: 8);
        for (int ch = 0; ch < 3; ch++) Assert.Equal((77 / 255.0 - cfg.Vision.ImageMean[ch]) / cfg.Vision.ImageStd[ch], g.Patches[ch * 16], 1e-5);
    }

    [Theory]
    [InlineData("gif")]
    [InlineData("webp")]
    [InlineData("bmp")]
    [InlineData("jpeg")]
    public void CommonFormatsDecode(string format)
    {
        using var img = new Image<Rgb24>(8, 8, new Rgb24(250, 10, 10));
        using var ms = new MemoryStream();
        switch (format)
        {
            case "gif": img.SaveAsGif(ms); break;
            case "webp": img.SaveAsWebp(ms, new SixLabors.ImageSharp.Formats.Webp.WebpEncoder { FileFormat = SixLabors.ImageSharp.Formats.Webp.WebpFileFormatType.Lossless }); break;
            case "bmp": img.SaveAsBmp(ms); break;
            default: img.SaveAsJpeg(ms); break;
        }
        var result = new ImagePreprocessor(Config()).Preprocess(ImageInput.FromBytes(ms.ToArray(), format), resolution: 8);
        Assert.Equal((8, 8), (result.Width, result.Height));
        Assert.InRange(result.Patches[0], (235 / 255.0 - 0.5) / 0.2, (255 / 255.0 - 0.5) / 0.2);
    }

    [Fact]
    public void ExifOrientationIsApplied()
    {
        // 8×4 landscape, left half black; orientation 6 (rotate 90° clockwise) makes it 4×8 with the top half black
        using var img = new Image<Rgb24>(8, 4);
        for (int y = 0; y < 4; y++) for (int x = 0; x < 8; x++) img[x, y] = x < 4 ? new Rgb24(0, 0, 0) : new Rgb24(255, 255, 255);
        img.Metadata.ExifProfile = new SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifProfile();
        img.Metadata.ExifProfile.SetValue(SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifTag.Orientation, (ushort)6);
        using var ms = new MemoryStream();
        img.SaveAsPng(ms);
        var result = new ImagePreprocessor(Config()).Preprocess(ImageInput.FromBytes(ms.ToArray()), resolution: 8);
        Assert.Equal(4, result.Width);
        Assert.Equal(8, result.Height);
    }

    [Fact]
    public void SeveralImagesArePreprocessedInOrder()
    {
        var p = new ImagePreprocessor(Config());
        var inputs = Enumerable.Range(0, 6).Select(i => ImageInput.FromRgb(Rgb(16, 16, (_, _) => ((byte)(i * 40), 0, 0)), 16, 16)).ToArray();
        var results = p.PreprocessAll(inputs, resolution: 16);
        for (int i = 0; i < 6; i++) Assert.Equal((i * 40 / 255.0 - 0.5) / 0.2, results[i].Patches[0], 1e-5);
    }

    public static byte[] PngHeaderOnly(uint width, uint height)
    {
        var png = new List<byte> { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
        void Chunk(string type, byte[] data)
        {
            var len = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(len, (uint)data.Length);
            png.AddRange(len);
            var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            png.AddRange(body);
            var crc = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(body));
            png.AddRange(crc);
        }
        Chunk("IHDR", ihdr);
        Chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]); // an empty zlib stream
        Chunk("IEND", []);
        return png.ToArray();
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    public static TheoryData<string> HostileImages => new() { "bomb", "tall", "truncated", "empty", "garbage", "lying", "truncated_jpeg", "cut_png" };

    [Theory]
    [MemberData(nameof(HostileImages))]
    public void HostileImagesAreRejectedCleanly(string kind)
    {
        byte[] bytes;
        switch (kind)
        {
            case "bomb": bytes = PngHeaderOnly(100_000, 100_000); break;
            case "tall": bytes = PngHeaderOnly(1, 100_000); break;
            case "empty": bytes = []; break;
            case "garbage": bytes = Enumerable.Range(0, 500).Select(i => (byte)(i * 7)).ToArray(); break;
            case "lying": bytes = PngHeaderOnly(300, 300); break; // valid header, no pixel data
            case "truncated_jpeg" or "cut_png":
                using (var img = new Image<Rgb24>(64, 64))
                {
                    var random = new Random(2);
                    for (int y = 0; y < 64; y++) for (int x = 0; x < 64; x++) img[x, y] = new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                    using var ms = new MemoryStream();
                    if (kind == "cut_png") img.SaveAsPng(ms); else img.SaveAsJpeg(ms);
                    bytes = ms.ToArray()[..(int)(ms.Length * 2 / 3)];
                }
                break;
            default:
                using (var img = new Image<Rgb24>(64, 64))
                {
                    var random = new Random(1);
                    for (int y = 0; y < 64; y++) for (int x = 0; x < 64; x++) img[x, y] = new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                    using var ms = new MemoryStream();
                    img.SaveAsPng(ms);
                    bytes = ms.ToArray()[..40];
                }
                break;
        }
        var e = Assert.Throws<ImageInputException>(() => new ImagePreprocessor(Config()).Preprocess(ImageInput.FromBytes(bytes, kind)));
        Assert.Equal(kind, e.Image);
    }

    [Fact]
    public void RawBuffersOfTheWrongSizeAndMissingFilesAreRejected()
    {
        Assert.Throws<ImageInputException>(() => ImageInput.FromRgb(new byte[10], 2, 2));
        Assert.Throws<ImageInputException>(() => ImageInput.FromRgb([], 0, 5));
        Assert.Throws<ImageInputException>(() => new ImagePreprocessor(Config()).Preprocess(ImageInput.FromFile("/nonexistent/x.png")));
        Assert.Throws<ImageInputException>(() => new ImagePreprocessor(Config()).Preprocess(ImageInput.FromRgb(new byte[3 * 100_000], 1, 100_000)));
    }
}
