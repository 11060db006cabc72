namespace OpenAutoGlm.Weights;

/// <summary>Shape arithmetic shared by every reader and writer: element counts are checked, never wrapped.</summary>
public static class TensorShape
{
    /// <summary>Product of the dims; throws <see cref="InvalidModelException"/> naming <paramref name="what"/> on a negative dim or overflow.</summary>
    public static long ElementCount(ReadOnlySpan<long> shape, string what)
    {
        long count = 1;
        foreach (var dim in shape)
        {
            if (dim < 0) throw new InvalidModelException($"{what}: shape {Format(shape)} has a negative dimension.");
            try { count = checked(count * dim); }
            catch (OverflowException) { throw new InvalidModelException($"{what}: shape {Format(shape)} has more elements than fit in 64 bits."); }
        }
        return count;
    }

    /// <summary>Bytes of <paramref name="elementCount"/> elements of <paramref name="elementSize"/> bytes, checked.</summary>
    public static long ByteCount(long elementCount, int elementSize, string what)
    {
        try { return checked(elementCount * elementSize); }
        catch (OverflowException) { throw new InvalidModelException($"{what}: {elementCount} elements of {elementSize} bytes overflow 64 bits."); }
    }

    public static string Format(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    public static bool SameShape(ReadOnlySpan<long> a, ReadOnlySpan<long> b) => a.SequenceEqual(b);
}
