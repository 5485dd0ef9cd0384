using System.Reflection;

namespace Reference.Operators;

/// <summary>
/// The one list of operators: every <c>public static OperatorDescriptor Descriptor</c> property
/// declared by an operator class of this assembly (each operator's file pairs with a
/// <c>X.Descriptor.cs</c> beside it). Adding an operator is its file, its descriptor, its tests and
/// its numpy-backend function; the golden set, the ESS catalog, the CLI, the demo and the
/// registry tests find it here.
/// </summary>
public static class OperatorRegistry
{
    private static readonly Lazy<IReadOnlyList<OperatorDescriptor>> all = new(Discover);

    /// <summary>Every registered operator, ordered by name.</summary>
    public static IReadOnlyList<OperatorDescriptor> All => all.Value;

    /// <summary>The registered names, ordered.</summary>
    public static IReadOnlyList<string> Names => [.. All.Select(d => d.Name)];

    /// <summary>The descriptor called <paramref name="name"/>, or null.</summary>
    public static OperatorDescriptor? Find(string name) => All.FirstOrDefault(d => d.Name == name);

    /// <summary>The descriptor called <paramref name="name"/>; an unknown name is an error listing the known ones.</summary>
    public static OperatorDescriptor Get(string name) =>
        Find(name) ?? throw new ArgumentException($"operator '{name}' is not registered; expected one of {string.Join(", ", Names)}.", nameof(name));

    /// <summary>The class that declares each descriptor (the registry test checks that every operator class has one).</summary>
    public static IReadOnlyDictionary<string, Type> DeclaringTypes => declaringTypes.Value;

    private static readonly Lazy<IReadOnlyDictionary<string, Type>> declaringTypes =
        new(() => DescriptorProperties().ToDictionary(p => ((OperatorDescriptor)p.GetValue(null)!).Name, p => p.DeclaringType!));

    private static IReadOnlyList<OperatorDescriptor> Discover()
    {
        var descriptors = DescriptorProperties().Select(p => (OperatorDescriptor)p.GetValue(null)!).OrderBy(d => d.Name, StringComparer.Ordinal).ToArray();
        var duplicate = descriptors.GroupBy(d => d.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidOperationException($"operator name '{duplicate.Key}' is registered {duplicate.Count()} times; names must be unique.");
        return descriptors;
    }

    private static IEnumerable<PropertyInfo> DescriptorProperties() =>
        typeof(OperatorRegistry).Assembly.GetTypes()
            .SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(p => p.PropertyType == typeof(OperatorDescriptor) && p.Name == "Descriptor");
}
