using System.Runtime.InteropServices;

namespace OpenAutoGlm.Kernels.Cuda;

/// <summary>Where buffers live: real device memory or host memory under emulation.</summary>
public interface IDeviceMemory
{
    /// <summary>Allocates <paramref name="bytes"/>; the returned handle owns the allocation.</summary>
    SafeHandle Allocate(long bytes, out DevicePtr pointer);
    unsafe void CopyToDevice(DevicePtr dst, void* src, long bytes);
    unsafe void CopyToHost(void* dst, DevicePtr src, long bytes);
    void Fill(DevicePtr dst, byte value, long bytes);
}

/// <summary>Host memory as "device" memory (emulation); the pointer value is the host address.</summary>
public sealed class HostDeviceMemory : IDeviceMemory
{
    public static HostDeviceMemory Instance { get; } = new();

    public SafeHandle Allocate(long bytes, out DevicePtr pointer)
    {
        var h = new HostMemoryHandle(bytes);
        pointer = h.Pointer;
        return h;
    }

    public unsafe void CopyToDevice(DevicePtr dst, void* src, long bytes) => Buffer.MemoryCopy(src, (void*)dst.Value, bytes, bytes);
    public unsafe void CopyToHost(void* dst, DevicePtr src, long bytes) => Buffer.MemoryCopy((void*)src.Value, dst, bytes, bytes);
    public unsafe void Fill(DevicePtr dst, byte value, long bytes) => NativeMemory.Fill((void*)dst.Value, (nuint)bytes, value);
}

/// <summary>
/// Owns every buffer allocated for one model (weights, KV cache, scratch). Disposing the pool frees all
/// of them deterministically, whether or not each buffer was disposed individually.
/// </summary>
public sealed class DevicePool : IDisposable
{
    private readonly HashSet<DeviceBuffer> _live = [];
    private readonly Lock _gate = new();
    private bool _disposed;

    public DevicePool(IDeviceMemory memory, string name = "pool")
    {
        Memory = memory;
        Name = name;
    }

    public IDeviceMemory Memory { get; }
    public string Name { get; }
    public long AllocatedBytes { get; private set; }
    public int LiveBuffers { get { lock (_gate) return _live.Count; } }

    public DeviceBuffer Allocate(long bytes)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "buffer size must be positive");
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            SafeHandle owner = Memory.Allocate(bytes, out DevicePtr ptr);
            var buffer = new DeviceBuffer(this, owner, ptr, bytes);
            _live.Add(buffer);
            AllocatedBytes += bytes;
            return buffer;
        }
    }

    public DeviceBuffer Allocate<T>(long count) where T : unmanaged => Allocate(checked(count * Marshal.SizeOf<T>()));

    public DeviceBuffer Upload<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        DeviceBuffer b = Allocate<T>(data.Length);
        b.Upload(data);
        return b;
    }

    internal void Release(DeviceBuffer buffer)
    {
        lock (_gate)
        {
            if (_live.Remove(buffer)) AllocatedBytes -= buffer.Bytes;
        }
    }

    public void Dispose()
    {
        DeviceBuffer[] all;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            all = [.. _live];
        }
        foreach (DeviceBuffer b in all) b.Dispose();
    }
}

/// <summary>A device allocation from a <see cref="DevicePool"/>.</summary>
public sealed class DeviceBuffer : IDisposable
{
    private readonly DevicePool _pool;
    private readonly SafeHandle _owner;

    internal DeviceBuffer(DevicePool pool, SafeHandle owner, DevicePtr ptr, long bytes)
    {
        _pool = pool;
        _owner = owner;
        Ptr = ptr;
        Bytes = bytes;
    }

    public DevicePtr Ptr { get; }
    public long Bytes { get; }
    public bool IsDisposed => _owner.IsClosed;

    public static implicit operator DevicePtr(DeviceBuffer b) => b.Ptr;

    public unsafe void Upload<T>(ReadOnlySpan<T> data, long byteOffset = 0) where T : unmanaged
    {
        long n = (long)data.Length * sizeof(T);
        CheckRange(byteOffset, n);
        fixed (T* p = data) _pool.Memory.CopyToDevice(Ptr.Offset(byteOffset), p, n);
    }

    public unsafe void Download<T>(Span<T> data, long byteOffset = 0) where T : unmanaged
    {
        long n = (long)data.Length * sizeof(T);
        CheckRange(byteOffset, n);
        fixed (T* p = data) _pool.Memory.CopyToHost(p, Ptr.Offset(byteOffset), n);
    }

    public T[] Download<T>() where T : unmanaged
    {
        var result = new T[Bytes / Marshal.SizeOf<T>()];
        Download<T>(result);
        return result;
    }

    public void Fill(byte value) => _pool.Memory.Fill(Ptr, value, Bytes);

    /// <summary>Fills a float buffer with NaN (test poisoning).</summary>
    public void PoisonNaN() => _pool.Memory.Fill(Ptr, 0xFF, Bytes);

    private void CheckRange(long offset, long n)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (offset < 0 || n < 0 || offset + n > Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"copy of {n} bytes at offset {offset} exceeds buffer of {Bytes} bytes");
        }
    }

    public void Dispose()
    {
        if (_owner.IsClosed) return;
        _owner.Dispose();
        _pool.Release(this);
    }
}
