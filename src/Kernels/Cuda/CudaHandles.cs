using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Native;

namespace OpenAutoGlm.Kernels.Cuda;

/// <summary>Non-owning CUfunction value.</summary>
public readonly record struct CudaFunction(nint Handle, string Name);

/// <summary>Non-owning device address (a CUdeviceptr, or a host address under emulation).</summary>
public readonly record struct DevicePtr(ulong Value)
{
    public static DevicePtr Null => default;
    public bool IsNull => Value == 0;
    public DevicePtr Offset(long bytes) => new(Value + (ulong)bytes);
}

/// <summary>Retained primary context of one device; released with cuDevicePrimaryCtxRelease_v2.</summary>
public sealed class CudaContextHandle : SafeHandle
{
    public CudaContextHandle() : base(0, ownsHandle: true) { }

    internal CudaContextHandle(nint ctx, int device) : base(0, ownsHandle: true)
    {
        SetHandle(ctx);
        Device = device;
    }

    public int Device { get; private set; } = -1;
    public override bool IsInvalid => handle == 0;

    /// <summary>Retains the primary context of <paramref name="device"/>.</summary>
    public static unsafe CudaContextHandle RetainPrimary(int device)
    {
        nint ctx;
        CudaCheck.Check(CuDriver.cuDevicePrimaryCtxRetain(&ctx, device), device);
        return new CudaContextHandle(ctx, device);
    }

    protected override bool ReleaseHandle()
    {
        try
        {
            return Device < 0 || CuDriver.cuDevicePrimaryCtxRelease_v2(Device) == CUresult.CUDA_SUCCESS;
        }
        catch (Exception)
        {
            return false; // ReleaseHandle must never throw (library missing, process shutting down)
        }
    }
}

/// <summary>Base for handles owned by a context: keeps the context alive (DangerousAddRef) and makes it current while releasing.</summary>
public abstract class CudaChildHandle : SafeHandle
{
    private CudaContextHandle? _context;

    protected CudaChildHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;
    public CudaContextHandle? Context => _context;

    protected void Attach(nint value, CudaContextHandle context)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        _context = added ? context : null;
        SetHandle(value);
    }

    protected sealed override bool ReleaseHandle()
    {
        CudaContextHandle? ctx = _context;
        _context = null;
        bool ok;
        try
        {
            bool pushed = ctx is not null && !ctx.IsClosed &&
                          CuDriver.cuCtxPushCurrent_v2(ctx.DangerousGetHandle()) == CUresult.CUDA_SUCCESS;
            ok = Destroy(handle) == CUresult.CUDA_SUCCESS;
            if (pushed)
            {
                unsafe
                {
                    nint popped;
                    CuDriver.cuCtxPopCurrent_v2(&popped);
                }
            }
        }
        catch (Exception)
        {
            ok = false; // never throw from ReleaseHandle
        }
        finally
        {
            ctx?.DangerousRelease();
        }
        return ok;
    }

    /// <summary>The cu*Destroy/Free call for this handle kind.</summary>
    protected abstract CUresult Destroy(nint value);
}

public sealed class CudaModuleHandle : CudaChildHandle
{
    public CudaModuleHandle() { }
    internal CudaModuleHandle(nint value, CudaContextHandle ctx) => Attach(value, ctx);
    protected override CUresult Destroy(nint value) => CuDriver.cuModuleUnload(value);
}

public sealed class CudaStreamHandle : CudaChildHandle
{
    public CudaStreamHandle() { }
    internal CudaStreamHandle(nint value, CudaContextHandle ctx) => Attach(value, ctx);
    protected override CUresult Destroy(nint value) => CuDriver.cuStreamDestroy_v2(value);
}

public sealed class CudaEventHandle : CudaChildHandle
{
    public CudaEventHandle() { }
    internal CudaEventHandle(nint value, CudaContextHandle ctx) => Attach(value, ctx);
    protected override CUresult Destroy(nint value) => CuDriver.cuEventDestroy_v2(value);
}

public sealed class CudaGraphHandle : CudaChildHandle
{
    public CudaGraphHandle() { }
    internal CudaGraphHandle(nint value, CudaContextHandle ctx) => Attach(value, ctx);
    protected override CUresult Destroy(nint value) => CuDriver.cuGraphDestroy(value);
}

public sealed class CudaGraphExecHandle : CudaChildHandle
{
    public CudaGraphExecHandle() { }
    internal CudaGraphExecHandle(nint value, CudaContextHandle ctx) => Attach(value, ctx);
    protected override CUresult Destroy(nint value) => CuDriver.cuGraphExecDestroy(value);
}

/// <summary>One cuMemAlloc_v2 allocation (the handle value is the CUdeviceptr).</summary>
public sealed class DeviceMemoryHandle : CudaChildHandle
{
    public DeviceMemoryHandle() { }
    internal DeviceMemoryHandle(ulong dptr, CudaContextHandle ctx) => Attach((nint)dptr, ctx);
    public DevicePtr Pointer => new((ulong)handle);
    protected override CUresult Destroy(nint value) => CuDriver.cuMemFree_v2((ulong)value);
}

/// <summary>Aligned native host memory (NativeMemory.AlignedAlloc): device memory under emulation, the CPU kernels' packed weights.</summary>
public sealed class HostMemoryHandle : SafeHandle
{
    public HostMemoryHandle() : base(0, ownsHandle: true) { }

    internal unsafe HostMemoryHandle(long bytes, nuint alignment = 256) : base(0, ownsHandle: true) =>
        SetHandle((nint)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), alignment));

    public override bool IsInvalid => handle == 0;
    public DevicePtr Pointer => new((ulong)handle);

    protected override unsafe bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
