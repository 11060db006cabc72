namespace OpenAutoGlm;
