namespace OpenAutoGlm.Engine.Vision;

/// <summary>
/// One image of a request: an encoded file (PNG, JPEG, BMP, GIF — first frame —, WebP) from a path, bytes or a stream,
/// or raw 8-bit RGB pixels. Decoding happens when the request is preprocessed, under <see cref="ImageDecodeLimits"/>.
/// </summary>
public sealed class ImageInput
{
    private ImageInput(string description, byte[]? encoded, string? path, byte[]? rgb, int width, int height)
    {
        Description = description;
        Encoded = encoded;
        FilePath = path;
        Rgb = rgb;
        Width = width;
        Height = height;
    }

    /// <summary>How the image is named in messages (file path, "bytes", "stream", "rgb W×H").</summary>
    public string Description { get; }
    internal byte[]? Encoded { get; }
    internal string? FilePath { get; }
    internal byte[]? Rgb { get; }
    internal int Width { get; }
    internal int Height { get; }

    public static ImageInput FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new ImageInput(path, null, path, null, 0, 0);
    }

    public static ImageInput FromBytes(byte[] encoded, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        return new ImageInput(name ?? "image bytes", encoded, null, null, 0, 0);
    }

    /// <summary>Reads the whole stream now (at most <paramref name="maxBytes"/>), so the caller may dispose it afterwards.</summary>
    public static ImageInput FromStream(Stream stream, string? name = null, long maxBytes = ImageDecodeLimits.DefaultMaxEncodedBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string what = name ?? "image stream";
        using var copy = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            if (copy.Length + read > maxBytes) throw new ImageInputException(what, $"is larger than {maxBytes} bytes.");
            copy.Write(buffer, 0, read);
        }
        return new ImageInput(what, copy.ToArray(), null, null, 0, 0);
    }

    /// <summary>Raw pixels, row-major, 3 bytes (R, G, B) per pixel; the array is used as is, not copied.</summary>
    public static ImageInput FromRgb(byte[] rgb, int width, int height, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(rgb);
        string what = name ?? $"rgb {width}×{height}";
        if (width <= 0 || height <= 0) throw new ImageInputException(what, $"has size {width}×{height}; both sides must be positive.");
        if (rgb.LongLength != 3L * width * height) throw new ImageInputException(what, $"has {rgb.LongLength} bytes; {width}×{height} RGB needs {3L * width * height}.");
        return new ImageInput(what, null, null, rgb, width, height);
    }
}

/// <summary>Bounds on what a decoder may be asked to allocate, checked against the declared size before any pixel is decoded.</summary>
public sealed record ImageDecodeLimits
{
    public const long DefaultMaxEncodedBytes = 256L << 20;

    /// <summary>Largest width × height accepted (default 40 megapixels).</summary>
    public long MaxPixels { get; init; } = 40_000_000;
    /// <summary>Largest width or height accepted.</summary>
    public int MaxDimension { get; init; } = 16384;
    /// <summary>Largest encoded file accepted.</summary>
    public long MaxEncodedBytes { get; init; } = DefaultMaxEncodedBytes;

    public static ImageDecodeLimits Default { get; } = new();
}

/// <summary>An image that cannot be used: unreadable, not an image, truncated, corrupt, or beyond the decode limits.</summary>
public sealed class ImageInputException : Exception
{
    public ImageInputException(string image, string problem, Exception? inner = null) : base($"image '{image}' {problem}", inner) => Image = image;

    /// <summary>The image's <see cref="ImageInput.Description"/>.</summary>
    public string Image { get; }
}
