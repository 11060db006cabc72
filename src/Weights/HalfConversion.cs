namespace OpenAutoGlm.Weights;

/// <summary>Float ↔ FP16/BF16 conversions used when storing weights.</summary>
public static class HalfConversion
{
    /// <summary>Largest finite FP16 value.</summary>
    public const float MaxHalf = 65504f;

    /// <summary>
    /// Rounds to FP16 (nearest even). A value beyond ±65504 is an error naming <paramref name="tensorName"/>, or with
    /// <paramref name="clamp"/> is clamped to ±65504; NaN and infinity are always errors. Returns the number clamped.
    /// <paramref name="firstElement"/> is the index of <c>source[0]</c> in the tensor, for the message.
    /// </summary>
    public static int ToHalf(ReadOnlySpan<float> source, Span<Half> destination, bool clamp, string tensorName, long firstElement = 0)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"destination holds {destination.Length} values, source {source.Length}.", nameof(destination));
        int clamped = 0;
        for (int i = 0; i < source.Length; i++)
        {
            float value = source[i];
            if (!float.IsFinite(value))
                throw new InvalidModelException($"tensor '{tensorName}': element {firstElement + i} is {value}; weights must be finite.");
            if (MathF.Abs(value) > MaxHalf)
            {
                if (!clamp)
                    throw new InvalidModelException(
                        $"tensor '{tensorName}': element {firstElement + i} = {value} is outside the FP16 range ±{MaxHalf}; clamping must be requested explicitly.");
                value = MathF.CopySign(MaxHalf, value);
                clamped++;
            }
            destination[i] = (Half)value;
        }
        return clamped;
    }

    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Rounds to BF16 (nearest even); NaN stays a quiet NaN.</summary>
    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }
}
