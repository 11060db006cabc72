using System.Runtime.InteropServices;
using OpenAutoGlm.Weights;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace OpenAutoGlm.Engine.Vision;

/// <summary>An image ready for the vision encoder, with the statistics that chose its resolution.</summary>
public sealed class PreprocessedImage
{
    /// <summary>Size after decoding and EXIF orientation.</summary>
    public required int Width { get; init; }
    public required int Height { get; init; }
    /// <summary>Side R of the square the image was resized to.</summary>
    public required int Resolution { get; init; }
    /// <summary>Patches per side: R / patch size.</summary>
    public required int Grid { get; init; }
    /// <summary>[Grid², 3·p²] normalized patch vectors, patch rows row-major, each indexed ch·p·p + i·p + j.</summary>
    public required float[] Patches { get; init; }
    public required double Confidence { get; init; }
    public required double Complexity { get; init; }
    /// <summary>False when the confidence is below the model's minimum: the image counts as missing.</summary>
    public required bool Valid { get; init; }
    public int Tokens => Grid * Grid;
}

/// <summary>Decode → luminance statistics → adaptive resolution → bicubic resize → normalize → patchify (ARCHITECTURE.md §1).</summary>
public sealed class ImagePreprocessor
{
    private readonly VisionConfig _vision;
    private readonly AdaptiveResolution? _adaptive; // null: CLIP's shortest-side resize and centre crop to the base size
    private readonly double _minConfidence;
    private readonly ImageDecodeLimits _limits;
    private readonly Configuration _imageSharp, _imageSharpSerial;

    public ImagePreprocessor(MultimodalConfig config, ImageDecodeLimits? limits = null)
        : this(config.Vision, config.AdaptiveResolution, config.MinImageConfidence, limits) { }

    /// <summary>LLaVA-1.5: resize the shortest side to the crop size (bicubic), centre-crop, CLIP mean/std; every decodable image is valid.</summary>
    public ImagePreprocessor(LlavaConfig config, ImageDecodeLimits? limits = null)
        : this(config.Vision, null, double.NegativeInfinity, limits) { }

    /// <summary>CLIPModel: as LLaVA-1.5, CLIPImageProcessor's shortest-side resize, centre crop and mean/std.</summary>
    public ImagePreprocessor(ClipConfig config, ImageDecodeLimits? limits = null)
        : this(config.Vision, null, double.NegativeInfinity, limits) { }

    private ImagePreprocessor(VisionConfig vision, AdaptiveResolution? adaptive, double minConfidence, ImageDecodeLimits? limits)
    {
        _vision = vision;
        _adaptive = adaptive;
        _minConfidence = minConfidence;
        _limits = limits ?? ImageDecodeLimits.Default;
        _imageSharp = Configuration.Default.Clone();
        // an animated GIF decodes only its first frame, so frame count cannot multiply memory
        _imageSharp.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { DecodingMode = FrameDecodingMode.First });
        // one pixel buffer per image, so the statistics read the decoded pixels in place
        _imageSharp.PreferContiguousImageBuffers = true;
        // a request of one image resizes on every core; several images run in parallel, one core each
        _imageSharpSerial = _imageSharp.Clone();
        _imageSharpSerial.MaxDegreeOfParallelism = 1;
    }

    /// <summary>Preprocesses every image in parallel; the first failing image's <see cref="ImageInputException"/> is thrown.</summary>
    public PreprocessedImage[] PreprocessAll(IReadOnlyList<ImageInput> images, int? resolution = null)
    {
        CheckResolution(resolution);
        var results = new PreprocessedImage[images.Count];
        var errors = new Exception?[images.Count];
        Parallel.For(0, images.Count, i =>
        {
            try { results[i] = Preprocess(images[i], resolution, images.Count > 1 ? _imageSharpSerial : _imageSharp); }
            catch (Exception e) { errors[i] = e; }
        });
        foreach (var e in errors)
            if (e is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        return results;
    }

    /// <summary>One image; <paramref name="resolution"/> pins R instead of choosing it from the complexity.</summary>
    public PreprocessedImage Preprocess(ImageInput input, int? resolution = null) => Preprocess(input, resolution, _imageSharp);

    private PreprocessedImage Preprocess(ImageInput input, int? resolution, Configuration resize)
    {
        CheckResolution(resolution);
        using var image = Decode(input);
        int width = image.Width, height = image.Height;
        ReadOnlySpan<byte> pixels = Pixels(image);

        var thumb = ImageStatistics.Thumbnail(pixels, width, height);
        double confidence = ImageStatistics.Confidence(thumb);
        double complexity = ImageStatistics.Complexity(thumb, _adaptive?.GradientScale ?? 1.0);
        int r = _adaptive is null ? _vision.BaseImageSize : resolution ?? _adaptive.Pick(complexity);

        float[] patches;
        if (width == r && height == r) patches = Patchify(pixels, r, _vision);
        else
        {
            if (_adaptive is null)
            {
                // CLIPImageProcessor: shortest side to r keeping the aspect ratio, then the centred r×r window
                int w = width <= height ? r : (int)((long)r * width / height), h = width <= height ? (int)((long)r * height / width) : r;
                image.Mutate(resize, x => x.Resize(new ResizeOptions { Size = new Size(w, h), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Bicubic })
                    .Crop(new Rectangle((w - r) / 2, (h - r) / 2, r, r)));
            }
            else image.Mutate(resize, x => x.Resize(new ResizeOptions { Size = new Size(r, r), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Bicubic }));
            patches = Patchify(Pixels(image), r, _vision);
        }
        return new PreprocessedImage
        {
            Width = width,
            Height = height,
            Resolution = r,
            Grid = r / _vision.PatchSize,
            Patches = patches,
            Confidence = confidence,
            Complexity = complexity,
            Valid = confidence >= _minConfidence,
        };
    }

    /// <summary>The image's RGB bytes: its own buffer when contiguous (the configuration prefers that), else a copy.</summary>
    private static ReadOnlySpan<byte> Pixels(Image<Rgb24> image)
    {
        if (image.DangerousTryGetSinglePixelMemory(out var memory)) return MemoryMarshal.AsBytes(memory.Span);
        var rgb = new byte[3L * image.Width * image.Height];
        image.CopyPixelDataTo(rgb);
        return rgb;
    }

    /// <summary>(x/255 − mean_c)/std_c into patch vectors indexed ch·p·p + i·p + j, patches row-major.</summary>
    public static float[] Patchify(ReadOnlySpan<byte> rgb, int side, VisionConfig vision)
    {
        int p = vision.PatchSize, g = side / p, pp = p * p;
        var output = new float[g * g * 3 * pp];
        Span<float> scale = stackalloc float[3], shift = stackalloc float[3];
        for (int c = 0; c < 3; c++) { scale[c] = 1f / (255f * vision.ImageStd[c]); shift[c] = vision.ImageMean[c] / vision.ImageStd[c]; }
        for (int y = 0; y < side; y++)
        {
            int pr = y / p, i = y % p;
            for (int x = 0; x < side; x++)
            {
                int pc = x / p, j = x % p;
                int basis = (pr * g + pc) * 3 * pp + i * p + j;
                int src = 3 * (y * side + x);
                for (int c = 0; c < 3; c++) output[basis + c * pp] = rgb[src + c] * scale[c] - shift[c];
            }
        }
        return output;
    }

    private void CheckResolution(int? resolution)
    {
        if (resolution is int r && (r <= 0 || r % _vision.PatchSize != 0))
            throw new ArgumentOutOfRangeException(nameof(resolution), r, $"A pinned resolution must be a positive multiple of the patch size {_vision.PatchSize}.");
        if (resolution is not null && _adaptive is null)
            throw new ArgumentException("This model's vision tower has a fixed input size; a resolution cannot be pinned.", nameof(resolution));
    }

    /// <summary>Decodes to 8-bit RGB (alpha dropped, grayscale replicated, palette expanded) with EXIF orientation applied.</summary>
    private Image<Rgb24> Decode(ImageInput input)
    {
        string what = input.Description;
        if (input.Rgb is { } raw)
        {
            CheckSize(what, input.Width, input.Height);
            return Image.LoadPixelData<Rgb24>(_imageSharp, raw, input.Width, input.Height);
        }

        byte[] encoded = input.Encoded ?? ReadFile(input.FilePath!, what);
        if (encoded.Length == 0) throw new ImageInputException(what, "is empty (0 bytes).");
        if (encoded.Length > _limits.MaxEncodedBytes) throw new ImageInputException(what, $"is larger than {_limits.MaxEncodedBytes} bytes.");
        try
        {
            // the header's declared size is checked before a single pixel buffer is allocated
            var info = Image.Identify(_imageSharp, encoded, out var format)
                ?? throw new ImageInputException(what, "is not a supported image (PNG, JPEG, BMP, GIF, WebP).");
            CheckSize(what, info.Width, info.Height);
            CheckComplete(what, format.Name, encoded, info);
            var image = Image.Load<Rgb24>(_imageSharp, encoded);
            try
            {
                CheckSize(what, image.Width, image.Height);
                if (NeedsOrientation(image.Metadata)) image.Mutate(x => x.AutoOrient());
                return image;
            }
            catch
            {
                image.Dispose();
                throw;
            }
        }
        catch (ImageInputException) { throw; }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            throw new ImageInputException(what, $"cannot be decoded ({e.GetType().Name}: {e.Message}); it is truncated, corrupt or not an image.", e);
        }
    }

    /// <summary>
    /// Decoders fill missing pixel data with zeros instead of failing, so a truncated PNG or JPEG, or a PNG whose data
    /// cannot hold its declared size (deflate expands at most 1032:1), is refused here.
    /// </summary>
    private static void CheckComplete(string what, string format, byte[] encoded, IImageInfo info)
    {
        if (format == "PNG")
        {
            ReadOnlySpan<byte> iend = [0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82];
            if (!encoded.AsSpan().EndsWith(iend)) throw new ImageInputException(what, "is a truncated PNG (no IEND chunk at the end).");
            long rowBytes = 1 + ((long)info.Width * Math.Max(1, info.PixelType.BitsPerPixel) + 7) / 8;
            if ((long)info.Height * rowBytes > encoded.LongLength * 1032L)
                throw new ImageInputException(what, $"declares {info.Width}×{info.Height} pixels, more than its {encoded.Length} bytes of data can hold.");
        }
        else if (format == "JPEG")
        {
            // the end-of-image marker, allowing for trailing bytes some writers append
            var tail = encoded.AsSpan(Math.Max(0, encoded.Length - 4096));
            if (tail.IndexOf([(byte)0xFF, (byte)0xD9]) < 0) throw new ImageInputException(what, "is a truncated JPEG (no end-of-image marker).");
        }
    }

    private static bool NeedsOrientation(ImageMetadata metadata) => metadata.ExifProfile is not null;

    private byte[] ReadFile(string path, string what)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new ImageInputException(what, "does not exist.");
            if (info.Length > _limits.MaxEncodedBytes) throw new ImageInputException(what, $"is larger than {_limits.MaxEncodedBytes} bytes.");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageInputException(what, $"cannot be read: {e.Message}", e);
        }
    }

    private void CheckSize(string what, int width, int height)
    {
        if (width <= 0 || height <= 0) throw new ImageInputException(what, $"has size {width}×{height}.");
        if (width > _limits.MaxDimension || height > _limits.MaxDimension)
            throw new ImageInputException(what, $"is {width}×{height}; a side above {_limits.MaxDimension} pixels is refused.");
        if ((long)width * height > _limits.MaxPixels)
            throw new ImageInputException(what, $"is {width}×{height} = {(long)width * height} pixels; more than {_limits.MaxPixels} are refused.");
    }
}
