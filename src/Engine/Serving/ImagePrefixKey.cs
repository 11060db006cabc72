using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace OpenAutoGlm.Engine.Serving;

/// <summary>
/// What a request's images add to the hash chain of its KV blocks, so that prefix reuse never hands out K/V computed with
/// other images. Cross-attention fusion (open_autoglm) changes every hidden state from the first fusion layer on, so every
/// block depends on the images: the chain starts from a root derived from a digest of the visual rows. Token insertion (LLaVA)
/// changes the image positions and, through attention, everything after them: those positions enter the chain as pseudo-ids
/// derived from the inserted rows, so a prefix before the first image is still shared with text-only requests.
/// Digests are taken of what the decoder actually receives (encoded, projected rows), so they cover the pixels, the chosen
/// resolution, invalid images and the imputer alike.
/// </summary>
internal sealed class ImagePrefixKey
{
    private ImagePrefixKey(ulong root, int[]? positionIds)
    {
        Root = root;
        PositionIds = positionIds;
    }

    /// <summary>The hash the sequence's first block chains from.</summary>
    public ulong Root { get; }

    /// <summary>
    /// Per absolute position of the sequence: the id the hash chain reads instead of the token there (always negative, so
    /// never a real token id), or 0 where it reads the token. Positions past the end read their tokens. Null: tokens only.
    /// </summary>
    public int[]? PositionIds { get; }

    /// <summary>Cross-attention fusion over <paramref name="visualRows"/> ([M, D], every image of the request, imputed rows included).</summary>
    public static ImagePrefixKey ForFusion(ReadOnlySpan<float> visualRows) =>
        new(PagedKvCache.RootFor(XxHash64.HashToUInt64(MemoryMarshal.AsBytes(visualRows))), null);

    /// <summary>Token insertion of <paramref name="rows"/> ([rows, width]) at the positions where <paramref name="rowAtPosition"/> is not negative.</summary>
    public static ImagePrefixKey ForInsertion(ReadOnlySpan<float> rows, ReadOnlySpan<int> rowAtPosition, int width)
    {
        var ids = new int[rowAtPosition.Length];
        for (int p = 0; p < ids.Length; p++)
        {
            if (rowAtPosition[p] < 0) continue;
            ulong h = XxHash64.HashToUInt64(MemoryMarshal.AsBytes(rows.Slice(rowAtPosition[p] * width, width)));
            ids[p] = unchecked((int)(h >> 32)) | int.MinValue;
        }
        return new ImagePrefixKey(PagedKvCache.RootHash, ids);
    }

    /// <summary>The ids the hash chain reads for positions <paramref name="start"/>.. of a sequence with <paramref name="tokens"/>.</summary>
    public void Fill(ReadOnlySpan<int> tokens, int start, Span<int> destination)
    {
        tokens.Slice(start, destination.Length).CopyTo(destination);
        if (PositionIds is not { } ids) return;
        for (int i = 0; i < destination.Length && start + i < ids.Length; i++)
            if (ids[start + i] != 0) destination[i] = ids[start + i];
    }
}
