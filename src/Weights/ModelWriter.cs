using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace OpenAutoGlm.Weights;

/// <summary>
/// Writes a converted model directory: tensors are streamed into <c>weights.bin</c>, each at an aligned offset,
/// and <see cref="Finish"/> writes <c>model.json</c> last, so a directory with a manifest is complete.
/// </summary>
public sealed class ModelWriter : IDisposable
{
    private static readonly byte[] Padding = new byte[ModelManifest.DefaultAlignment];

    private readonly FileStream _weights;
    private readonly List<TensorInfo> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly XxHash64 _hash = new();
    private TensorInfo? _open;
    private bool _finished;

    public string Directory { get; }

    public ModelWriter(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        // A manifest left from an earlier run would describe weights this writer is about to replace.
        File.Delete(Path.Combine(directory, ModelManifest.FileName));
        _weights = new FileStream(Path.Combine(directory, ModelManifest.DefaultWeightsFile), FileMode.Create, FileAccess.Write, FileShare.None);
    }

    public void BeginTensor(string name, string dtype, long[] shape)
    {
        if (_finished) throw new InvalidOperationException("the model is already finished.");
        if (_open is not null) throw new InvalidOperationException($"tensor '{_open.Name}' is still open.");
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' is written twice.", nameof(name));
        int size = TensorDTypes.SizeOf(dtype);
        if (size == 0) throw new ArgumentException($"tensor '{name}': dtype {dtype} is not F16 or F32.", nameof(dtype));
        long length = TensorShape.ByteCount(TensorShape.ElementCount(shape, $"tensor '{name}'"), size, $"tensor '{name}'");

        long misalignment = _weights.Position % ModelManifest.DefaultAlignment;
        if (misalignment != 0) _weights.Write(Padding, 0, (int)(ModelManifest.DefaultAlignment - misalignment));
        _open = new TensorInfo { Name = name, DType = dtype, Shape = shape, Offset = _weights.Position, Length = length };
        _hash.Reset();
    }

    public void Append(ReadOnlySpan<Half> values) => AppendBytes(TensorDTypes.F16, MemoryMarshal.AsBytes(values));

    public void Append(ReadOnlySpan<float> values) => AppendBytes(TensorDTypes.F32, MemoryMarshal.AsBytes(values));

    public void EndTensor()
    {
        var tensor = _open ?? throw new InvalidOperationException("no tensor is open.");
        long written = _weights.Position - tensor.Offset;
        if (written != tensor.Length)
            throw new InvalidOperationException($"tensor '{tensor.Name}': {written} bytes written, shape {TensorShape.Format(tensor.Shape)} needs {tensor.Length}.");
        tensor.Checksum = TensorChecksum.Format(_hash.GetCurrentHashAsUInt64());
        _tensors.Add(tensor);
        _open = null;
    }

    public void Add(string name, long[] shape, ReadOnlySpan<Half> values)
    {
        BeginTensor(name, TensorDTypes.F16, shape);
        Append(values);
        EndTensor();
    }

    public void Add(string name, long[] shape, ReadOnlySpan<float> values)
    {
        BeginTensor(name, TensorDTypes.F32, shape);
        Append(values);
        EndTensor();
    }

    /// <summary>
    /// Completes the directory: fills the manifest's tensor index, weights file and alignment, copies
    /// <paramref name="tokenizerSource"/> (a <c>tokenizer.json</c>) and the chat files (<c>tokenizer_config.json</c>,
    /// <c>chat_template.jinja</c>) when given, and writes <c>model.json</c>.
    /// </summary>
    public ModelManifest Finish(ModelManifest manifest, string? tokenizerSource, string? tokenizerConfigSource = null, string? chatTemplateSource = null)
    {
        if (_open is not null) throw new InvalidOperationException($"tensor '{_open.Name}' is still open.");
        if (_finished) throw new InvalidOperationException("the model is already finished.");
        _weights.Flush(flushToDisk: true);
        _weights.Dispose();
        _finished = true;

        manifest.Tensors = [.. _tensors];
        manifest.WeightsFile = ModelManifest.DefaultWeightsFile;
        manifest.Alignment = ModelManifest.DefaultAlignment;
        manifest.TokenizerFile = CopyBeside(tokenizerSource, ModelManifest.DefaultTokenizerFile);
        manifest.TokenizerConfigFile = CopyBeside(tokenizerConfigSource, ModelManifest.DefaultTokenizerConfigFile);
        manifest.ChatTemplateFile = CopyBeside(chatTemplateSource, ModelManifest.DefaultChatTemplateFile);
        File.WriteAllText(Path.Combine(Directory, ModelManifest.FileName), manifest.ToJson());
        return manifest;
    }

    /// <summary>Copies <paramref name="source"/> into the directory as <paramref name="name"/>; returns the name, or null without a source.</summary>
    private string? CopyBeside(string? source, string name)
    {
        if (source is null) return null;
        // A byte copy rather than File.Copy: the source's read-only mode must not block the next conversion.
        string destination = Path.Combine(Directory, name);
        File.Delete(destination);
        using (var from = File.OpenRead(source))
        using (var to = File.Create(destination))
            from.CopyTo(to);
        return name;
    }

    private void AppendBytes(string dtype, ReadOnlySpan<byte> bytes)
    {
        var tensor = _open ?? throw new InvalidOperationException("no tensor is open.");
        if (tensor.DType != dtype) throw new InvalidOperationException($"tensor '{tensor.Name}' is {tensor.DType}, values given as {dtype}.");
        if (_weights.Position - tensor.Offset + bytes.Length > tensor.Length)
            throw new InvalidOperationException($"tensor '{tensor.Name}': more values than shape {TensorShape.Format(tensor.Shape)} holds.");
        _weights.Write(bytes);
        _hash.Append(bytes);
    }

    public void Dispose() => _weights.Dispose();
}
