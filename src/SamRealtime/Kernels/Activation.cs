namespace SamRealtime.Kernels;

/// <summary>Activations a kernel can fuse into its epilogue; values match ACT_* in shaders/common.glsl.</summary>
internal enum Activation { None = 0, Gelu = 1, Relu = 2 }
