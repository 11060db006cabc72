namespace OpenAutoGlm.Weights;

/// <summary>
/// An opened converted model directory: the validated manifest and the weights, memory-mapped (nothing copied) or, on
/// request, read into huge pages (<see cref="WeightResidency"/>). Tensor spans stay valid until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class ModelFile : IDisposable
{
    private readonly IWeightStore _weights;
    private readonly Dictionary<string, TensorInfo> _tensors;

    public ModelManifest Manifest { get; }
    public string Directory { get; }

    private ModelFile(string directory, ModelManifest manifest, IWeightStore weights, Dictionary<string, TensorInfo> tensors)
    {
        Directory = directory;
        Manifest = manifest;
        _weights = weights;
        _tensors = tensors;
    }

    /// <summary>How the weights are held: <see cref="WeightResidency.HugePages"/> only when the platform granted it.</summary>
    public WeightResidency Residency => _weights is HugePageWeights ? WeightResidency.HugePages : WeightResidency.Mapped;

    public static ModelFile Open(string directory, bool verifyChecksums = false, WeightResidency residency = WeightResidency.Mapped)
    {
        string manifestPath = Path.Combine(directory, ModelManifest.FileName);
        if (!File.Exists(manifestPath)) throw new InvalidModelException($"{manifestPath}: not found; is {directory} a converted model directory?");
        ModelManifest manifest;
        try { manifest = ModelManifest.FromJson(File.ReadAllText(manifestPath)); }
        catch (InvalidModelException e) { throw new InvalidModelException($"{manifestPath}: {e.Message}", e); }
        manifest.Validate(manifestPath);
        ValidateFiles(manifestPath, manifest, directory);

        string weightsPath = Path.Combine(directory, manifest.WeightsFile);
        if (!File.Exists(weightsPath)) throw new InvalidModelException($"{weightsPath}: file not found.");
        IWeightStore weights = (residency == WeightResidency.HugePages ? HugePageWeights.TryLoad(weightsPath) : null)
            ?? (IWeightStore)MappedFile.Open(weightsPath);
        try
        {
            var tensors = ValidateTensors(manifestPath, manifest, weights.Length);
            var model = new ModelFile(directory, manifest, weights, tensors);
            if (verifyChecksums) model.VerifyChecksums();
            return model;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo GetTensor(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{Directory}: model has no tensor '{name}'.");

    /// <summary>Address of the tensor's first byte inside the mapping; valid until Dispose.</summary>
    public nint GetPointer(string name) => (nint)(_weights.Pointer + GetTensor(name).Offset);

    public ReadOnlySpan<Half> GetHalf(string name) => new((void*)GetPointer(name), ElementCountAs(name, TensorDTypes.F16));

    public ReadOnlySpan<float> GetSingle(string name) => new((void*)GetPointer(name), ElementCountAs(name, TensorDTypes.F32));

    /// <summary>Recomputes every tensor's checksum; throws <see cref="InvalidModelException"/> listing all that differ.</summary>
    public void VerifyChecksums()
    {
        var mismatches = new List<string>();
        foreach (var t in Manifest.Tensors)
        {
            string actual = TensorChecksum.Compute(_weights.Pointer + t.Offset, t.Length);
            if (actual != t.Checksum) mismatches.Add($"{t.Name} (expected {t.Checksum}, found {actual})");
        }
        if (mismatches.Count > 0)
            throw new InvalidModelException($"{Path.Combine(Directory, Manifest.WeightsFile)}: checksum mismatch in {mismatches.Count} tensor(s): {string.Join(", ", mismatches)}.");
    }

    private int ElementCountAs(string name, string dtype)
    {
        var t = GetTensor(name);
        if (t.DType != dtype) throw new InvalidOperationException($"{Directory}: tensor '{name}' is {t.DType}, not {dtype}.");
        long count = t.Length / TensorDTypes.SizeOf(dtype);
        if (count > int.MaxValue) throw new InvalidOperationException($"{Directory}: tensor '{name}' has {count} elements, too many for one span; use GetPointer.");
        return (int)count;
    }

    private static void ValidateFiles(string path, ModelManifest m, string directory)
    {
        if (!PlainFileName.IsValid(m.WeightsFile))
            throw new InvalidModelException($"{path}: weights file '{m.WeightsFile}' is not a plain file name inside the model directory.");
        if (m.TokenizerFile is null) return;
        if (!PlainFileName.IsValid(m.TokenizerFile))
            throw new InvalidModelException($"{path}: tokenizer file '{m.TokenizerFile}' is not a plain file name inside the model directory.");
        if (!File.Exists(Path.Combine(directory, m.TokenizerFile)))
            throw new InvalidModelException($"{path}: tokenizer file '{m.TokenizerFile}' is missing.");
    }

    private static Dictionary<string, TensorInfo> ValidateTensors(string path, ModelManifest m, long fileLength)
    {
        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        if (m.Tensors is null || m.Tensors.Contains(null!)) throw new InvalidModelException($"{path}: the tensor list is missing or has null entries.");
        foreach (var t in m.Tensors)
        {
            string what = $"{path}: tensor '{t.Name}'";
            if (string.IsNullOrEmpty(t.Name) || !tensors.TryAdd(t.Name, t)) throw new InvalidModelException($"{what} is unnamed or listed twice.");
            int size = TensorDTypes.SizeOf(t.DType);
            if (size == 0) throw new InvalidModelException($"{what}: dtype {t.DType} is not {TensorDTypes.F16} or {TensorDTypes.F32}.");
            long bytes = TensorShape.ByteCount(TensorShape.ElementCount(t.Shape ?? [], what), size, what);
            if (t.Length != bytes) throw new InvalidModelException($"{what}: length {t.Length} but shape {TensorShape.Format(t.Shape)} of {t.DType} needs {bytes} bytes.");
            if (t.Offset < 0 || t.Offset % m.Alignment != 0) throw new InvalidModelException($"{what}: offset {t.Offset} is not a non-negative multiple of {m.Alignment}.");
            if (t.Offset > fileLength - t.Length)
                throw new InvalidModelException($"{what}: bytes [{t.Offset}, {t.Offset + t.Length}) reach beyond the end of {m.WeightsFile} ({fileLength} bytes; truncated?).");
            if (t.Checksum is not { Length: 16 } || !t.Checksum.All(char.IsAsciiHexDigitLower))
                throw new InvalidModelException($"{what}: checksum '{t.Checksum}' is not 16 lower-case hex digits.");
        }

        TensorInfo? previous = null;
        foreach (var t in m.Tensors.Where(t => t.Length > 0).OrderBy(t => t.Offset))
        {
            if (previous is not null && t.Offset < previous.Offset + previous.Length)
                throw new InvalidModelException($"{path}: tensors '{previous.Name}' and '{t.Name}' overlap in {m.WeightsFile}.");
            previous = t;
        }

        var problems = new List<string>();
        foreach (var spec in TensorLayout.Required(m))
        {
            if (!tensors.TryGetValue(spec.Name, out var t))
                problems.Add($"{spec.Name} missing");
            else if (t.DType != spec.DType || !TensorShape.SameShape(t.Shape, spec.Shape))
                problems.Add($"{spec.Name} is {t.DType} {TensorShape.Format(t.Shape)}, expected {spec.DType} {TensorShape.Format(spec.Shape)}");
        }
        if (problems.Count > 0)
            throw new InvalidModelException($"{path}: tensors do not match architecture '{m.Architecture}': {string.Join("; ", problems)}.");
        return tensors;
    }

    public void Dispose() => _weights.Dispose();
}
