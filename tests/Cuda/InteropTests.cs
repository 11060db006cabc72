using Xunit;
using System.Reflection;
using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Kernels.Native;

namespace OpenAutoGlm.Tests.Cuda;

public sealed class InteropTests
{
    private static readonly Assembly Kernels = typeof(CuDriver).Assembly;
    private static readonly Type[] NativeClasses = [typeof(CuDriver), typeof(Nvrtc), typeof(Cublas)];

    private static bool IsBlittable(Type t)
    {
        if (t.IsPointer || t.IsFunctionPointer) return true;
        if (t.IsByRef || t.IsArray || t == typeof(bool) || t == typeof(char) || t == typeof(string)) return false;
        if (t.IsEnum) return true;
        if (t.IsPrimitive) return true; // byte..ulong, float, double, nint, nuint
        if (t == typeof(void)) return true;
        if (t.IsValueType)
        {
            return t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).All(f => IsBlittable(f.FieldType));
        }
        return false;
    }

    [Fact]
    public void Every_native_entry_point_is_LibraryImport_with_blittable_signature()
    {
        int count = 0;
        foreach (Type type in NativeClasses)
        {
            Assert.True(type.IsAbstract && type.IsSealed, $"{type.Name} must be a static class");
            foreach (MethodInfo m in type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                var li = m.GetCustomAttribute<LibraryImportAttribute>();
                Assert.True(li is not null, $"{type.Name}.{m.Name} is not [LibraryImport]");
                Assert.Equal(m.Name, li!.EntryPoint);
                Assert.True(IsBlittable(m.ReturnType), $"{type.Name}.{m.Name} returns non-blittable {m.ReturnType}");
                foreach (ParameterInfo p in m.GetParameters())
                {
                    Assert.True(IsBlittable(p.ParameterType), $"{type.Name}.{m.Name}({p.Name}) has non-blittable {p.ParameterType}");
                }
                count++;
            }
        }
        Assert.True(count >= 60, $"only {count} entry points");
    }

    [Fact]
    public void No_hand_written_DllImport_in_the_kernels_assembly()
    {
        foreach (Type type in Kernels.GetTypes())
        {
            foreach (MethodInfo m in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                if (m.GetCustomAttribute<DllImportAttribute>() is null && (m.Attributes & MethodAttributes.PinvokeImpl) == 0) continue;
                // LibraryImport emits either the declared method itself (blittable signature, no marshalling stub)
                // or a compiler-generated local function named "<name>g____PInvoke|...".
                bool fromLibraryImport = m.GetCustomAttribute<LibraryImportAttribute>() is not null ||
                                         m.Name.Contains("__PInvoke", StringComparison.Ordinal);
                Assert.True(fromLibraryImport, $"hand-written P/Invoke {type.Name}.{m.Name}");
            }
        }
    }

    [Fact]
    public void Versioned_driver_symbols_are_bound()
    {
        string[] names = [.. typeof(CuDriver).GetMethods().Select(m => m.Name)];
        foreach (string v2 in new[] { "cuCtxCreate_v2", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2",
                     "cuModuleGetGlobal_v2", "cuStreamDestroy_v2", "cuEventDestroy_v2", "cuDevicePrimaryCtxRelease_v2", "cuStreamBeginCapture_v2" })
        {
            Assert.Contains(v2, names);
        }
        Assert.Equal(2, (int)CUresult.CUDA_ERROR_OUT_OF_MEMORY);
        Assert.Equal(100, (int)CUresult.CUDA_ERROR_NO_DEVICE);
        Assert.Equal(700, (int)CUresult.CUDA_ERROR_ILLEGAL_ADDRESS);
        Assert.Equal(6, (int)nvrtcResult.NVRTC_ERROR_COMPILATION);
        Assert.Equal(13, (int)cublasStatus_t.CUBLAS_STATUS_EXECUTION_FAILED);
    }

    [Fact]
    public void Every_SafeHandle_releases_without_throwing()
    {
        MethodInfo release = typeof(SafeHandle).GetMethod("ReleaseHandle", BindingFlags.Instance | BindingFlags.NonPublic)!;
        MethodInfo setHandle = typeof(SafeHandle).GetMethod("SetHandle", BindingFlags.Instance | BindingFlags.NonPublic)!;
        Type[] handleTypes = [.. Kernels.GetTypes().Where(t => typeof(SafeHandle).IsAssignableFrom(t) && !t.IsAbstract)];
        Assert.True(handleTypes.Length >= 8, string.Join(", ", handleTypes.Select(t => t.Name)));
        foreach (Type t in handleTypes)
        {
            var h = (SafeHandle)Activator.CreateInstance(t)!;
            Assert.True(h.IsInvalid, $"{t.Name}: a default handle must be invalid");
            release.Invoke(h, null); // zero handle
            if (t != typeof(HostMemoryHandle))
            {
                // A fake non-zero CUDA handle: without a driver (or with an invalid handle) release must still not throw.
                setHandle.Invoke(h, [(nint)0x1234]);
                release.Invoke(h, null);
            }
            h.SetHandleAsInvalid();
            h.Dispose();
            h.Dispose(); // idempotent
        }
    }

    [Fact]
    public void Pool_frees_every_buffer_once_and_dispose_is_idempotent()
    {
        var pool = new DevicePool(HostDeviceMemory.Instance, "test");
        DeviceBuffer a = pool.Allocate(100), b = pool.Allocate<float>(33);
        Assert.Equal(2, pool.LiveBuffers);
        Assert.Equal(100 + 132, pool.AllocatedBytes);
        a.Dispose();
        a.Dispose();
        Assert.Equal(1, pool.LiveBuffers);
        b.Upload<float>([1f, 2f, 3f]);
        float[] back = new float[3];
        b.Download<float>(back);
        Assert.Equal([1f, 2f, 3f], back);
        Assert.Throws<ArgumentOutOfRangeException>(() => b.Upload<float>(new float[34]));
        pool.Dispose();
        pool.Dispose();
        Assert.True(b.IsDisposed);
        Assert.Equal(0, pool.LiveBuffers);
        Assert.Throws<ObjectDisposedException>(() => pool.Allocate(8));
    }

    [Fact]
    public void Kernel_args_pack_8_byte_slots()
    {
        unsafe
        {
            var args = new KernelArgs().Ptr(new DevicePtr(0xABCDEF)).Int(-7).Float(1.5f);
            void** p = stackalloc void*[args.Count];
            args.FillPointers(p);
            Assert.Equal(3, args.Count);
            Assert.Equal(0xABCDEFUL, *(ulong*)p[0]);
            Assert.Equal(-7, *(int*)p[1]);
            Assert.Equal(1.5f, *(float*)p[2]);
            Assert.Equal(8, (int)((byte*)p[1] - (byte*)p[0]));
        }
    }
}
