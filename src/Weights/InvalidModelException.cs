namespace OpenAutoGlm.Weights;

/// <summary>A model directory, weights file or checkpoint that cannot be used: the message names the file and the problem.</summary>
public class InvalidModelException : Exception
{
    public InvalidModelException(string message) : base(message) { }
    public InvalidModelException(string message, Exception inner) : base(message, inner) { }
}
