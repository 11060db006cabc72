using Xunit;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Weights;

public class HalfConversionTests
{
    [Fact]
    public void InRangeValuesRoundToNearestHalf()
    {
        float[] source = [0f, 1f, -1.5f, 65504f, -65504f, 1e-8f, 0.1f];
        var destination = new Half[source.Length];
        Assert.Equal(0, HalfConversion.ToHalf(source, destination, clamp: false, "t"));
        for (int i = 0; i < source.Length; i++) Assert.Equal((Half)source[i], destination[i]);
    }

    [Fact]
    public void OutOfRangeValueIsAnErrorNamingTheTensor()
    {
        var e = Assert.Throws<InvalidModelException>(() => HalfConversion.ToHalf([1f, 70000f], new Half[2], clamp: false, "blk.w", firstElement: 10));
        Assert.Contains("blk.w", e.Message);
        Assert.Contains("element 11", e.Message);
        Assert.Contains("FP16 range", e.Message);
    }

    [Fact]
    public void ClampingCountsClampedValues()
    {
        var destination = new Half[3];
        Assert.Equal(2, HalfConversion.ToHalf([70000f, -1e9f, 3f], destination, clamp: true, "t"));
        Assert.Equal([Half.MaxValue, Half.MinValue, (Half)3f], destination);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void NonFiniteValuesAreErrorsEvenWhenClamping(float value)
    {
        Assert.Contains("finite", Assert.Throws<InvalidModelException>(() => HalfConversion.ToHalf([value], new Half[1], clamp: true, "t")).Message);
    }

    [Fact]
    public void BFloat16IsTheUpperHalfOfSingle()
    {
        Assert.Equal(1f, HalfConversion.BFloat16ToSingle(0x3F80));
        Assert.Equal(-2f, HalfConversion.BFloat16ToSingle(0xC000));
        Assert.Equal((ushort)0x3F80, HalfConversion.SingleToBFloat16(1f));
        // 1 + 2^-8 is halfway between two BF16 values and rounds to the even one (1.0).
        Assert.Equal((ushort)0x3F80, HalfConversion.SingleToBFloat16(1f + 1f / 256));
        Assert.Equal((ushort)0x3F82, HalfConversion.SingleToBFloat16(1f + 3f / 256));
        Assert.True(float.IsNaN(HalfConversion.BFloat16ToSingle(HalfConversion.SingleToBFloat16(float.NaN))));
    }
}
