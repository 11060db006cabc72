namespace OpenAutoGlm.Kernels.Cpu;

internal static class Guard
{
    public static void Length(int actual, long expected, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"{name}: expected length {expected}, got {actual}.", name);
    }

    public static void AtLeast(int actual, long expected, string name)
    {
        if (actual < expected)
            throw new ArgumentException($"{name}: expected length at least {expected}, got {actual}.", name);
    }

    public static void Positive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
    }

    public static void NonNegative(int value, string name)
    {
        if (value < 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must not be negative.");
    }
}
